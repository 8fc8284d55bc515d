//! Helm 3 releases: the `sh.helm.release.v1.NAME.vN` Secrets (and ConfigMaps, for the configmap
//! storage driver) whose `release` key holds base64 of gzip of the release JSON (and, in a
//! Secret's YAML, base64 once more). The release's `manifest` is what Helm applied, so it shows
//! the API versions a chart really uses even when the objects were converted by the server.

use std::collections::BTreeMap;
use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kupgrade_core::{Error, Result};
use serde::Deserialize;

use crate::manifests::RawObject;

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
    /// The rendered manifest Helm applied (multi-document YAML).
    pub manifest: String,
}

impl HelmRelease {
    /// `helm release ns/name revision N`.
    pub fn label(&self) -> String {
        format!(
            "helm release {}/{} revision {}",
            self.namespace, self.name, self.revision
        )
    }
}

#[derive(Deserialize)]
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
struct InfoJson {
    #[serde(default)]
    status: String,
}

#[derive(Deserialize)]
struct ChartJson {
    #[serde(default)]
    metadata: Option<ChartMeta>,
}

#[derive(Deserialize)]
struct ChartMeta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
}

/// Decodes a release payload: any number (up to three) of base64 layers around gzip around JSON,
/// as found in a Secret's YAML (two layers), a Secret read through the API (one) or a ConfigMap.
pub fn decode_release(payload: &[u8]) -> std::result::Result<HelmRelease, String> {
    let mut bytes: Vec<u8> = payload
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    for _ in 0..4 {
        if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut json = Vec::new();
            flate2::read::GzDecoder::new(bytes.as_slice())
                .read_to_end(&mut json)
                .map_err(|e| format!("release is not valid gzip: {e}"))?;
            bytes = json;
            continue;
        }
        if bytes.first() == Some(&b'{') {
            let r: ReleaseJson = serde_json::from_slice(&bytes)
                .map_err(|e| format!("release JSON is not a Helm release: {e}"))?;
            return Ok(HelmRelease {
                name: r.name,
                namespace: r.namespace,
                revision: r.version,
                status: r.info.map(|i| i.status).unwrap_or_default(),
                chart: r
                    .chart
                    .and_then(|c| c.metadata)
                    .map(|m| format!("{}-{}", m.name, m.version)),
                manifest: r.manifest,
            });
        }
        bytes = STANDARD
            .decode(&bytes)
            .map_err(|e| format!("release is neither base64, gzip nor JSON: {e}"))?;
    }
    Err("too many encoding layers for a Helm release".into())
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

/// The release in a Secret or ConfigMap document, if it is one.
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
    let Some(payload) = raw.data.release.as_deref() else {
        return Some(Err("has no data.release".into()));
    };
    Some(decode_release(payload.as_bytes()))
}

/// The latest revision of every Helm release in the cluster (from Secrets labelled
/// `owner=helm`), for scanning what charts really applied.
pub async fn live_releases(client: &kube::Client) -> Result<Vec<HelmRelease>> {
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::{Api, ListParams};
    let api: Api<Secret> = Api::all(client.clone());
    let mut latest: BTreeMap<(String, String), HelmRelease> = BTreeMap::new();
    let mut params = ListParams::default().labels("owner=helm").limit(100);
    loop {
        let list = api.list(&params).await.map_err(crate::kube_error)?;
        for secret in list.items {
            let Some(payload) = secret.data.as_ref().and_then(|d| d.get("release")) else {
                continue;
            };
            let name = secret.metadata.name.clone().unwrap_or_default();
            let release = decode_release(&payload.0)
                .map_err(|e| Error::Provider(format!("Helm release secret {name}: {e}")))?;
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
    Ok(latest.into_values().collect())
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

    #[test]
    fn garbage_says_what_it_is_not() {
        let err = decode_release(b"not base64 !!").unwrap_err();
        assert!(err.contains("neither base64"), "{err}");
        let err = decode_release(STANDARD.encode("{\"x\":1}").as_bytes()).unwrap_err();
        assert!(err.contains("not a Helm release"), "{err}");
    }
}
