//! Helm 3 releases: the `sh.helm.release.v1.NAME.vN` Secrets (and ConfigMaps, for the configmap
//! storage driver) whose `release` key holds base64 of gzip of the release JSON (and, in a
//! Secret's YAML, base64 once more). The release's `manifest` is what Helm applied, so it shows
//! the API versions a chart really uses even when the objects were converted by the server.

use std::collections::BTreeMap;
use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kupgrade_core::Result;
use serde::Deserialize;

use crate::object::RawObject;

/// A decoded Helm release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelmRelease {
    /// The release name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Its revision.
    pub revision: u64,
    /// Its status (`deployed`, `superseded`, `failed`...).
    pub status: String,
    /// The chart, `name-version`, when known.
    pub chart: Option<String>,
    /// The chart's metadata, when the release carries it.
    pub chart_metadata: Option<ChartMetadata>,
    /// The rendered manifest Helm applied (multi-document YAML).
    pub manifest: String,
}

/// What a release's `chart.metadata` says about the chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartMetadata {
    /// The chart's name.
    pub name: String,
    /// The chart's version.
    pub version: String,
    /// `appVersion`: the version of what the chart installs.
    pub app_version: Option<String>,
    /// `kubeVersion`: the Kubernetes versions Helm installs and upgrades the chart on.
    pub kube_version: Option<String>,
}

impl HelmRelease {
    /// The release as an installed chart, for the add-on checks (`None` without chart
    /// metadata).
    pub fn deployed_chart(&self) -> Option<kupgrade_core::addons::DeployedChart> {
        let meta = self.chart_metadata.as_ref()?;
        Some(kupgrade_core::addons::DeployedChart {
            release: self.name.clone(),
            namespace: self.namespace.clone(),
            chart: meta.name.clone(),
            chart_version: meta.version.clone(),
            app_version: meta.app_version.clone(),
            kube_version: meta.kube_version.clone(),
        })
    }

    /// `helm release ns/name revision N`.
    pub fn label(&self) -> String {
        format!(
            "helm release {}/{} revision {}",
            self.namespace, self.name, self.revision
        )
    }
}

#[derive(Deserialize)]
#[serde(expecting = "a Helm release (a JSON object with name, namespace, version, manifest)")]
struct ReleaseJson {
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    version: u64,
    #[serde(default)]
    info: Option<InfoJson>,
    #[serde(default)]
    chart: Option<ChartJson>,
    #[serde(default)]
    manifest: String,
}

#[derive(Deserialize)]
#[serde(expecting = "the release's info object")]
struct InfoJson {
    #[serde(default)]
    status: String,
}

#[derive(Deserialize)]
#[serde(expecting = "the release's chart object")]
struct ChartJson {
    #[serde(default)]
    metadata: Option<ChartMeta>,
}

#[derive(Deserialize)]
#[serde(expecting = "the chart's metadata object")]
struct ChartMeta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default, rename = "appVersion")]
    app_version: Option<String>,
    #[serde(default, rename = "kubeVersion")]
    kube_version: Option<String>,
}

/// The most a release may decompress to (64 MiB). Helm stores a release in one Secret or
/// ConfigMap, which Kubernetes caps at 1 MiB, and release JSON compresses about tenfold, so a
/// real release stays far below this; anything larger is refused before it fills memory.
pub const MAX_RELEASE_BYTES: u64 = 64 << 20;

const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

/// Decodes a release payload the way Helm's `decodeRelease` does: base64, then gzip when the
/// bytes start with the gzip magic (plain JSON otherwise), then the release JSON.
///
/// One more base64 layer is accepted because a Secret written as YAML (`kubectl get -o yaml`)
/// shows `data` base64-encoded by Kubernetes on top of Helm's own layer; through the API that
/// layer is already gone, and ConfigMaps never have it. Like Go's decoder, line breaks inside
/// base64 are ignored (so are spaces, which YAML line folding leaves in a long value).
/// Decompression streams with a [`MAX_RELEASE_BYTES`] limit. Errors are one phrase for people.
pub fn decode_release(payload: &[u8]) -> std::result::Result<HelmRelease, String> {
    let mut bytes = std::borrow::Cow::Borrowed(payload);
    for layer in 0..=2 {
        let body = bytes.trim_ascii_start();
        if body.starts_with(&GZIP_MAGIC) {
            return parse_release(&gunzip_limited(body)?);
        }
        if body.first() == Some(&b'{') {
            return parse_release(body);
        }
        if layer == 2 {
            break;
        }
        bytes = std::borrow::Cow::Owned(base64_lenient(body)?);
    }
    Err("after two base64 layers the data is neither gzip nor JSON".into())
}

fn base64_lenient(text: &[u8]) -> std::result::Result<Vec<u8>, String> {
    if text.is_empty() {
        return Err("the release data is empty".into());
    }
    let compact: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    STANDARD.decode(&compact).map_err(|e| {
        let what = match e {
            base64::DecodeError::InvalidByte(at, byte) => {
                format!("character {:?} at position {at} is not base64", char::from(byte))
            }
            base64::DecodeError::InvalidLength(_) => "the base64 text is cut short".to_string(),
            base64::DecodeError::InvalidLastSymbol(..) | base64::DecodeError::InvalidPadding => {
                "the base64 text ends in a damaged group".to_string()
            }
        };
        format!("the data is neither gzip, JSON nor base64 ({what})")
    })
}

fn gunzip_limited(gz: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .take(MAX_RELEASE_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(|e| format!("the gzip data is corrupt or cut short ({e})"))?;
    if json.len() as u64 > MAX_RELEASE_BYTES {
        return Err(format!(
            "it decompresses to more than {} MiB, which no Helm release stored in a Secret or ConfigMap (1 MiB at most) can hold; the data is damaged or hostile",
            MAX_RELEASE_BYTES >> 20
        ));
    }
    Ok(json)
}

fn parse_release(json: &[u8]) -> std::result::Result<HelmRelease, String> {
    let r: ReleaseJson =
        serde_json::from_slice(json).map_err(|e| format!("its JSON does not read as a release ({e})"))?;
    Ok(HelmRelease {
        name: r.name,
        namespace: r.namespace,
        revision: r.version,
        status: r.info.map(|i| i.status).unwrap_or_default(),
        chart: r
            .chart
            .as_ref()
            .and_then(|c| c.metadata.as_ref())
            .map(|m| format!("{}-{}", m.name, m.version)),
        chart_metadata: r.chart.and_then(|c| c.metadata).map(|m| ChartMetadata {
            name: m.name,
            version: m.version,
            app_version: m.app_version.filter(|v| !v.is_empty()),
            kube_version: m.kube_version.filter(|v| !v.is_empty()),
        }),
        manifest: r.manifest,
    })
}

/// Encodes release JSON the way Helm stores it in a Secret's `data.release` as seen in YAML
/// (base64 of base64 of gzip). For fixtures and tests.
pub fn encode_secret_data(release_json: &str) -> String {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(release_json.as_bytes()).expect("writing to memory");
    let gzipped = gz.finish().expect("writing to memory");
    STANDARD.encode(STANDARD.encode(gzipped))
}

/// Whether a Secret or ConfigMap name is a Helm 3 release's.
pub fn is_release_name(name: &str) -> bool {
    name.starts_with("sh.helm.release.v1.")
}

/// The release in a Secret or ConfigMap document, if it is one. The release's namespace falls
/// back to the object's own when the release JSON has none. Errors read "release secret
/// NS/NAME is not a Helm 3 release: WHY; WHAT TO DO".
pub(crate) fn release_from_raw(raw: &RawObject) -> Option<std::result::Result<HelmRelease, String>> {
    let kind = raw.kind.as_deref()?;
    let is_release = match kind {
        "Secret" => raw.type_.0.as_deref() == Some("helm.sh/release.v1") || is_release_name(&raw.name()),
        "ConfigMap" => is_release_name(&raw.name()),
        _ => false,
    };
    if !is_release {
        return None;
    }
    let namespace = raw.metadata.as_ref().and_then(|m| m.namespace.clone());
    let decoded = match raw.data.release.as_deref() {
        Some(payload) => decode_release(payload.as_bytes()),
        None => Err("it has no data.release".into()),
    };
    Some(
        decoded
            .map(|mut r| {
                if r.namespace.is_empty() {
                    r.namespace = namespace.clone().unwrap_or_default();
                }
                r
            })
            .map_err(|why| {
                not_a_release(
                    &kind.to_ascii_lowercase(),
                    namespace.as_deref(),
                    &raw.name(),
                    &why,
                )
            }),
    )
}

/// "release secret NS/NAME is not a Helm 3 release: WHY; ..." with what to do about it.
fn not_a_release(kind: &str, namespace: Option<&str>, name: &str, why: &str) -> String {
    let ns = namespace.unwrap_or("default");
    format!(
        "release {kind} {ns}/{name} is not a Helm 3 release: {why}; export it again with `kubectl get {kind} {name} -n {ns} -o yaml`, or leave it out of the scan"
    )
}

/// The Helm releases of a cluster, read from its release Secrets.
#[derive(Debug, Default)]
pub struct LiveReleases {
    /// The latest revision of every release.
    pub releases: Vec<HelmRelease>,
    /// Release Secrets that did not decode, one sentence each.
    pub unreadable: Vec<String>,
}

/// The latest revision of every Helm release in the cluster (from Secrets labelled
/// `owner=helm`), for scanning what charts really applied. A Secret that does not decode is
/// listed in [`LiveReleases::unreadable`] and the others are still read.
pub async fn live_releases(client: &kube::Client) -> Result<LiveReleases> {
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::{Api, ListParams};
    let api: Api<Secret> = Api::all(client.clone());
    let mut latest: BTreeMap<(String, String), HelmRelease> = BTreeMap::new();
    let mut unreadable = Vec::new();
    let mut params = ListParams::default().labels("owner=helm").limit(100);
    loop {
        let list = api.list(&params).await.map_err(crate::kube_error)?;
        for secret in list.items {
            let Some(payload) = secret.data.as_ref().and_then(|d| d.get("release")) else {
                continue;
            };
            let name = secret.metadata.name.clone().unwrap_or_default();
            let namespace = secret.metadata.namespace.clone();
            let mut release = match decode_release(&payload.0) {
                Ok(r) => r,
                Err(why) => {
                    unreadable.push(not_a_release("secret", namespace.as_deref(), &name, &why));
                    continue;
                }
            };
            if release.namespace.is_empty() {
                release.namespace = namespace.unwrap_or_default();
            }
            let key = (release.namespace.clone(), release.name.clone());
            if latest.get(&key).is_none_or(|r| r.revision < release.revision) {
                latest.insert(key, release);
            }
        }
        match list.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    Ok(LiveReleases {
        releases: latest.into_values().collect(),
        unreadable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELEASE: &str = r#"{"name":"web","namespace":"shop","version":3,"info":{"status":"deployed"},"chart":{"metadata":{"name":"web","version":"1.2.0"}},"manifest":"---\n# Source: web/templates/pdb.yaml\napiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: web\n"}"#;

    #[test]
    fn decodes_every_storage_layering() {
        let yaml_value = encode_secret_data(RELEASE);
        let r = decode_release(yaml_value.as_bytes()).unwrap();
        assert_eq!(
            (r.name.as_str(), r.namespace.as_str(), r.revision),
            ("web", "shop", 3)
        );
        assert_eq!(r.chart.as_deref(), Some("web-1.2.0"));
        assert!(r.manifest.contains("policy/v1beta1"));
        // Through the API, Kubernetes has removed one base64 layer already.
        let once = STANDARD.decode(&yaml_value).unwrap();
        assert_eq!(decode_release(&once).unwrap(), r);
    }

    /// Wraps base64 text at `width` columns, as `base64` and Go's encoders for PEM do.
    fn wrap(text: &str, width: usize) -> String {
        text.as_bytes()
            .chunks(width)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn line_breaks_inside_each_base64_layer_and_plain_json_decode_as_helm_does() {
        // Helm's inner layer wrapped at 76 columns, then encoded again and wrapped at 64.
        let inner = wrap(&STANDARD.encode(gzip(RELEASE.as_bytes())), 76);
        let outer = wrap(&STANDARD.encode(&inner), 64);
        assert!(inner.contains('\n') && outer.contains('\n'));
        assert_eq!(decode_release(outer.as_bytes()).unwrap().name, "web");
        // Helm reads an uncompressed release too (no gzip magic: plain JSON).
        let plain = STANDARD.encode(RELEASE);
        assert_eq!(decode_release(plain.as_bytes()).unwrap().revision, 3);
        assert_eq!(
            decode_release(STANDARD.encode(&plain).as_bytes())
                .unwrap()
                .revision,
            3
        );
    }

    #[test]
    fn garbage_says_what_it_is_not_without_internal_names() {
        let err = decode_release(b"not base64 !!").unwrap_err();
        assert!(err.contains("not base64"), "{err}");
        assert!(!err.contains("Invalid symbol"), "{err}");
        let err = decode_release(STANDARD.encode("{\"x\":1}").as_bytes()).unwrap_err();
        assert!(err.contains("does not read as a release"), "{err}");
        let err = decode_release(STANDARD.encode("[1]").as_bytes()).unwrap_err();
        assert!(err.contains("neither gzip, JSON nor base64"), "{err}");
        let err = decode_release(STANDARD.encode("{\"name\": 5}").as_bytes()).unwrap_err();
        assert!(!err.contains("ReleaseJson"), "{err}");
        // A gzip stream cut in half.
        let gz = gzip(RELEASE.as_bytes());
        let err = decode_release(STANDARD.encode(&gz[..gz.len() / 2]).as_bytes()).unwrap_err();
        assert!(err.contains("corrupt or cut short"), "{err}");
    }

    #[test]
    fn a_decompression_bomb_stops_at_the_limit() {
        // 80 MiB of zeros gzip to about 80 KB.
        let zeros = vec![b' '; 80 << 20];
        let bomb = STANDARD.encode(gzip(&zeros));
        assert!(bomb.len() < 1 << 20);
        let err = decode_release(bomb.as_bytes()).unwrap_err();
        assert!(err.contains("more than 64 MiB"), "{err}");
    }

    #[test]
    fn release_objects_name_the_secret_and_fall_back_to_its_namespace() {
        let text = format!(
            "apiVersion: v1\nkind: Secret\ntype: helm.sh/release.v1\nmetadata: {{name: sh.helm.release.v1.x.v3, namespace: shop}}\ndata:\n  release: {}\n",
            STANDARD.encode("garbage!")
        );
        let raw: RawObject = serde_norway::from_str(&text).unwrap();
        let err = release_from_raw(&raw).unwrap().unwrap_err();
        assert!(
            err.starts_with("release secret shop/sh.helm.release.v1.x.v3 is not a Helm 3 release: "),
            "{err}"
        );
        let no_ns = STANDARD.encode(STANDARD.encode(r#"{"name":"x","version":3}"#));
        let text = format!(
            "apiVersion: v1\nkind: Secret\ntype: helm.sh/release.v1\nmetadata: {{name: sh.helm.release.v1.x.v3, namespace: shop}}\ndata:\n  release: {no_ns}\n"
        );
        let raw: RawObject = serde_norway::from_str(&text).unwrap();
        assert_eq!(release_from_raw(&raw).unwrap().unwrap().namespace, "shop");
    }
}
