//! Deprecated and removed kubelet command-line flags, and where node configuration passes them.
//!
//! The kubelet exits with `unknown flag` when it is started with a flag its release removed, so a
//! node pool whose user data still passes one never joins after the upgrade. Kubelet flags are
//! not visible through the Kubernetes API; they live in node bootstrap configuration. This module
//! finds them, in kubelet context only (so `bootstrap.sh --container-runtime` is not mistaken for
//! the kubelet flag of the same name), in:
//!
//! - EKS user data: `bootstrap.sh --kubelet-extra-args '...'` (AL2), nodeadm `NodeConfig`
//!   `spec.kubelet.flags` (AL2023), MIME multi-part user data, and user data exactly as the EC2 API
//!   returns it (base64), e.g. node groups' launch templates read by `kupgrade-eks`;
//! - Karpenter `EC2NodeClass` user data and Cluster API kubeadm configs in the cluster ([`gather`]);
//! - systemd units and environment files: `KUBELET_EXTRA_ARGS=...`, `ExecStart=/usr/bin/kubelet ...`;
//! - kubeadm and Cluster API: `nodeRegistration.kubeletExtraArgs` (map or `name`/`value` list);
//! - Terraform and eksctl files that embed any of the above (`bootstrap_extra_args`,
//!   `overrideBootstrapCommand`).
//!
//! The embedded table ([`KubeletFlagTable::builtin`]) lists each flag with the release that
//! deprecated it, the release that removed it, what to do instead, and its source.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use base64::Engine;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kupgrade_core::{Error, KubeVersion, NodeConfigSource, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The embedded table, written from the upstream changelogs and kubelet sources.
const BUILTIN: &str = include_str!("data/kubelet_flags.yaml");

/// Cluster objects that carry node bootstrap configuration: group, versions (preferred
/// first), kind, plural.
const LIVE_KINDS: [(&str, &[&str], &str, &str); 3] = [
    (
        "karpenter.k8s.aws",
        &["v1", "v1beta1"],
        "EC2NodeClass",
        "ec2nodeclasses",
    ),
    (
        "bootstrap.cluster.x-k8s.io",
        &["v1beta2", "v1beta1"],
        "KubeadmConfigTemplate",
        "kubeadmconfigtemplates",
    ),
    (
        "controlplane.cluster.x-k8s.io",
        &["v1beta2", "v1beta1"],
        "KubeadmControlPlane",
        "kubeadmcontrolplanes",
    ),
];

/// Files larger than this are not node configuration; they are skipped.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// One kubelet flag that a release deprecated or removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeletFlag {
    /// The flag without its dashes, e.g. `keep-terminated-pod-volumes`.
    pub flag: String,
    /// The release that deprecated it.
    pub deprecated_in: KubeVersion,
    /// The release whose kubelet no longer accepts it; `None` when no removal has happened.
    #[serde(default)]
    pub removed_in: Option<KubeVersion>,
    /// What to do instead.
    pub advice: String,
    /// Where the entry comes from.
    pub source: String,
}

impl KubeletFlag {
    /// Whether a kubelet at `version` no longer accepts it.
    pub fn removed_at(&self, version: &KubeVersion) -> bool {
        self.removed_in
            .as_ref()
            .is_some_and(|r| version.minor_version() >= r.minor_version())
    }

    /// Whether `version` has deprecated it.
    pub fn deprecated_at(&self, version: &KubeVersion) -> bool {
        version.minor_version() >= self.deprecated_in.minor_version()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    covered_through: KubeVersion,
    entries: Vec<KubeletFlag>,
}

/// Deprecated and removed kubelet flags, by name.
#[derive(Debug, Clone)]
pub struct KubeletFlagTable {
    entries: HashMap<String, KubeletFlag>,
    covered_through: KubeVersion,
}

impl KubeletFlagTable {
    /// The embedded table.
    pub fn builtin() -> Self {
        let file: TableFile =
            serde_norway::from_str(BUILTIN).expect("the embedded kubelet flag table parses");
        Self {
            entries: file.entries.into_iter().map(|e| (e.flag.clone(), e)).collect(),
            covered_through: file.covered_through,
        }
    }

    /// The entry for a flag name (with or without its leading dashes).
    pub fn get(&self, flag: &str) -> Option<&KubeletFlag> {
        self.entries.get(flag.trim_start_matches('-'))
    }

    /// Every entry, sorted by flag name.
    pub fn entries(&self) -> Vec<&KubeletFlag> {
        let mut all: Vec<_> = self.entries.values().collect();
        all.sort_by(|a, b| a.flag.cmp(&b.flag));
        all
    }

    /// The newest release whose changes the table covers.
    pub fn covered_through(&self) -> &KubeVersion {
        &self.covered_through
    }
}

/// Reads files, and every file under folders (hidden entries skipped), as node configuration;
/// files that are not UTF-8 text or are larger than 4 MiB are not node configuration and are
/// skipped.
pub fn read_paths(paths: &[PathBuf]) -> Result<Vec<NodeConfigSource>> {
    let mut out = Vec::new();
    for path in paths {
        read_path(path, &mut out)?;
    }
    Ok(out)
}

/// Reads the node configuration a cluster holds: Karpenter `EC2NodeClass` objects (their user
/// data) and Cluster API `KubeadmConfigTemplate` / `KubeadmControlPlane` objects (their
/// `kubeletExtraArgs`). Kinds the cluster does not serve are skipped, as are kinds the caller
/// may not list (with a warning in the log).
pub async fn gather(client: &kube::Client) -> Result<Vec<NodeConfigSource>> {
    let mut out = Vec::new();
    for (group, versions, kind, plural) in LIVE_KINDS {
        for version in versions {
            let gvk = GroupVersionKind::gvk(group, version, kind);
            let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
            match api.list(&ListParams::default()).await {
                Ok(list) => {
                    out.extend(list.items.into_iter().map(|o| from_object(kind, &o)));
                    break;
                }
                Err(kube::Error::Api(status)) if status.code == 404 => continue,
                Err(kube::Error::Api(status)) if status.code == 403 => {
                    tracing::warn!(
                        "cannot list {plural}.{group} ({}); its kubelet flags are not checked",
                        status.message
                    );
                    break;
                }
                Err(e) => return Err(crate::kube_error(e)),
            }
        }
    }
    Ok(out)
}

fn from_object(kind: &str, object: &DynamicObject) -> NodeConfigSource {
    let spec = object.data.get("spec").cloned().unwrap_or(Value::Null);
    NodeConfigSource {
        kind: kind.to_string(),
        namespace: object.metadata.namespace.clone(),
        name: object.metadata.name.clone().unwrap_or_default(),
        text: serde_norway::to_string(&spec).unwrap_or_default(),
    }
}

/// Every kubelet flag `source` passes, with the 1-based line of its first mention.
pub fn flags_in(source: &NodeConfigSource) -> BTreeMap<String, usize> {
    let text = decode_base64_user_data(&source.text).unwrap_or_else(|| source.text.clone());
    let mut flags = Vec::new();
    flags_in_text(&text, &mut flags);
    for doc in crate::manifests::split_documents(&text) {
        if let Ok(value) = serde_norway::from_str::<Value>(doc.1) {
            flags_in_value(&value, &mut flags);
        }
    }
    flags
        .into_iter()
        .map(|flag| {
            let line = line_of(&text, &flag);
            (flag, line)
        })
        .collect()
}

fn read_path(path: &Path, out: &mut Vec<NodeConfigSource>) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        let mut children: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Error::io(path, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        children.sort();
        for child in children {
            read_path(&child, out)?;
        }
        return Ok(());
    }
    if meta.len() > MAX_FILE_BYTES {
        tracing::debug!(path = %path.display(), "skipped: larger than 4 MiB");
        return Ok(());
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    match String::from_utf8(bytes) {
        Ok(text) => out.push(NodeConfigSource {
            kind: "File".into(),
            namespace: None,
            name: path.display().to_string(),
            text,
        }),
        Err(_) => tracing::debug!(path = %path.display(), "skipped: not UTF-8 text"),
    }
    Ok(())
}

/// User data as the EC2 API returns it: one base64 blob that decodes to UTF-8 text.
fn decode_base64_user_data(text: &str) -> Option<String> {
    let compact: String = text.split_whitespace().collect();
    if compact.len() < 16
        || !compact
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(compact).ok()?;
    String::from_utf8(bytes).ok()
}

/// Environment variables whose value is a kubelet command line (systemd units, env files).
const KUBELET_ENV_VARS: [&str; 5] = [
    "KUBELET_EXTRA_ARGS",
    "KUBELET_ARGS",
    "KUBELET_KUBEADM_ARGS",
    "KUBELET_FLAGS",
    "KUBELET_OPTS",
];

/// Kubelet flags in shell scripts, systemd units, env files and YAML written as text.
fn flags_in_text(text: &str, out: &mut Vec<String>) {
    let joined = text.replace("\\\r\n", " ").replace("\\\n", " ");
    let lines: Vec<&str> = joined.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') {
            continue;
        }
        for value in extra_args_values(line) {
            flags_in_command_line(&value, out);
        }
        for var in KUBELET_ENV_VARS {
            if let Some(pos) = line.find(&format!("{var}=")) {
                let value = &line[pos + var.len() + 1..];
                let value = value.trim_end_matches(['"', '\'']);
                flags_in_command_line(value, out);
            }
        }
        let command = trimmed.strip_prefix("ExecStart=").unwrap_or(trimmed);
        let mut words = command.split_whitespace();
        if words
            .next()
            .is_some_and(|w| w.rsplit('/').next() == Some("kubelet"))
        {
            flags_in_command_line(&words.collect::<Vec<_>>().join(" "), out);
        }
        // nodeadm's NodeConfig (`kubelet:` then `flags:`), also inside MIME user data.
        if trimmed.starts_with("flags:") && under_kubelet_key(&lines[..i], indent(line)) {
            let inline = trimmed["flags:".len()..].trim();
            if inline.starts_with('[') {
                flags_in_command_line(&inline.replace([',', '[', ']'], " "), out);
            }
            for item in lines[i + 1..].iter().take_while(|l| {
                l.trim().is_empty() || indent(l) > indent(line) || l.trim_start().starts_with("- ")
            }) {
                if let Some(arg) = item.trim_start().strip_prefix("- ") {
                    flags_in_command_line(arg, out);
                }
            }
        }
    }
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// Whether the nearest less-indented key above is `kubelet:`.
fn under_kubelet_key(above: &[&str], own_indent: usize) -> bool {
    above
        .iter()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .find(|l| indent(l) < own_indent)
        .is_some_and(|l| l.trim() == "kubelet:")
}

/// The values given to `--kubelet-extra-args` on a line (quoted or a single word).
fn extra_args_values(line: &str) -> Vec<String> {
    const OPTION: &str = "--kubelet-extra-args";
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(pos) = rest.find(OPTION) {
        rest = &rest[pos + OPTION.len()..];
        let after = rest.strip_prefix('=').unwrap_or(rest).trim_start();
        let after = after.strip_prefix("\\\"").map_or(after, |s| s);
        let (value, tail) = match after.chars().next() {
            Some(q @ ('\'' | '"')) => {
                let body = &after[1..];
                match body.find(q) {
                    Some(end) => (&body[..end], &body[end + 1..]),
                    None => (body, ""),
                }
            }
            _ => {
                let end = after.find(char::is_whitespace).unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        out.push(value.trim_end_matches('\\').to_string());
        rest = tail;
    }
    out
}

/// The `--flag` names in a kubelet command line.
fn flags_in_command_line(args: &str, out: &mut Vec<String>) {
    for word in args.split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'')) {
        let Some(name) = word.strip_prefix("--") else {
            continue;
        };
        let name = name.split('=').next().unwrap_or_default();
        if !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            push_unique(out, name);
        }
    }
}

/// Kubelet flags in parsed YAML: kubeadm's `kubeletExtraArgs`, nodeadm's `kubelet.flags`, and
/// any text value (user data embedded in an object).
fn flags_in_value(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match (key.as_str(), child) {
                    ("kubeletExtraArgs", Value::Object(args)) => {
                        for name in args.keys() {
                            push_unique(out, name.trim_start_matches('-'));
                        }
                    }
                    ("kubeletExtraArgs", Value::Array(args)) => {
                        for name in args.iter().filter_map(|a| a.get("name")?.as_str()) {
                            push_unique(out, name.trim_start_matches('-'));
                        }
                    }
                    ("kubelet", Value::Object(kubelet)) => {
                        if let Some(Value::Array(flags)) = kubelet.get("flags") {
                            for flag in flags.iter().filter_map(Value::as_str) {
                                flags_in_command_line(flag, out);
                            }
                        }
                        flags_in_value(child, out);
                    }
                    _ => flags_in_value(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| flags_in_value(i, out)),
        Value::String(text) if text.contains('\n') || text.len() >= 16 => {
            let decoded = decode_base64_user_data(text);
            flags_in_text(decoded.as_deref().unwrap_or(text), out);
        }
        _ => {}
    }
}

fn push_unique(out: &mut Vec<String>, name: &str) {
    if !out.iter().any(|n| n == name) {
        out.push(name.to_string());
    }
}

/// The 1-based line that first mentions `flag` (as `--flag` or as a kubeadm key), else 1.
fn line_of(text: &str, flag: &str) -> usize {
    let dashed = format!("--{flag}");
    let key = format!("{flag}:");
    let named = format!("name: {flag}");
    text.lines()
        .position(|l| l.contains(&dashed) || l.trim_start().starts_with(&key) || l.contains(&named))
        .map_or(1, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(text: &str) -> Vec<(String, usize)> {
        flags_in(&NodeConfigSource {
            kind: "File".into(),
            namespace: None,
            name: "t".into(),
            text: text.into(),
        })
        .into_iter()
        .collect()
    }

    fn names(text: &str) -> Vec<String> {
        flags(text).into_iter().map(|(f, _)| f).collect()
    }

    #[test]
    fn bootstrap_sh_extra_args_count_but_bootstrap_options_do_not() {
        let user_data = "#!/bin/bash\nset -ex\n/etc/eks/bootstrap.sh prod --container-runtime containerd \\\n  --kubelet-extra-args '--keep-terminated-pod-volumes --node-labels=team=a'\n";
        assert_eq!(
            flags(user_data),
            vec![
                ("keep-terminated-pod-volumes".to_string(), 4),
                ("node-labels".to_string(), 4)
            ]
        );
    }

    #[test]
    fn terraform_and_env_files_and_systemd_units() {
        assert_eq!(
            names("bootstrap_extra_args = \"--kubelet-extra-args '--max-pods=20 --cni-bin-dir=/opt/cni'\"\n"),
            vec!["cni-bin-dir", "max-pods"]
        );
        assert_eq!(
            names("KUBELET_EXTRA_ARGS=\"--network-plugin=cni --v=2\"\n"),
            vec!["network-plugin", "v"]
        );
        assert_eq!(
            names(
                "[Service]\nEnvironment=\"KUBELET_ARGS=--container-runtime=remote\"\nExecStart=/usr/bin/kubelet --config=/etc/kubelet.yaml \\\n    --dynamic-config-dir=/var/lib/kubelet/dyn\n"
            ),
            vec!["config", "container-runtime", "dynamic-config-dir"]
        );
        assert!(names("# KUBELET_EXTRA_ARGS=--network-plugin=cni\necho --network-plugin\n").is_empty());
    }

    #[test]
    fn nodeadm_node_config_as_yaml_and_inside_mime_user_data() {
        let node_config = "apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  cluster:\n    name: prod\n  kubelet:\n    flags:\n      - --pod-infra-container-image=registry/pause:3.9\n      - \"--node-labels=a=b\"\n";
        assert_eq!(
            flags(node_config),
            vec![
                ("node-labels".to_string(), 9),
                ("pod-infra-container-image".to_string(), 8)
            ]
        );
        let mime = format!(
            "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"BOUNDARY\"\n\n--BOUNDARY\nContent-Type: application/node.eks.aws\n\n{node_config}\n--BOUNDARY--\n"
        );
        assert_eq!(names(&mime), vec!["node-labels", "pod-infra-container-image"]);
    }

    #[test]
    fn kubeadm_extra_args_as_map_and_as_list() {
        let v1beta3 = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: JoinConfiguration\nnodeRegistration:\n  kubeletExtraArgs:\n    keep-terminated-pod-volumes: \"true\"\n    node-labels: a=b\n";
        assert_eq!(
            flags(v1beta3),
            vec![
                ("keep-terminated-pod-volumes".to_string(), 5),
                ("node-labels".to_string(), 6)
            ]
        );
        let v1beta4 = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\nnodeRegistration:\n  kubeletExtraArgs:\n    - name: container-runtime\n      value: remote\n";
        assert_eq!(flags(v1beta4), vec![("container-runtime".to_string(), 5)]);
    }

    #[test]
    fn user_data_as_the_ec2_api_returns_it_is_decoded() {
        let plain =
            "#!/bin/bash\n/etc/eks/bootstrap.sh prod --kubelet-extra-args '--keep-terminated-pod-volumes'\n";
        let encoded = base64::engine::general_purpose::STANDARD.encode(plain);
        assert_eq!(names(&encoded), vec!["keep-terminated-pod-volumes"]);
        let object = format!("userData: {encoded}\n");
        assert_eq!(names(&object), vec!["keep-terminated-pod-volumes"]);
    }

    #[test]
    fn the_table_parses_and_is_consistent() {
        let table = KubeletFlagTable::builtin();
        assert!(table.entries().len() >= 10);
        for e in table.entries() {
            assert!(!e.source.is_empty() && !e.advice.is_empty(), "{}", e.flag);
            assert!(
                e.removed_in.as_ref().is_none_or(|r| *r >= e.deprecated_in),
                "{}",
                e.flag
            );
            assert!(!e.flag.starts_with('-'), "{}", e.flag);
        }
        assert!(table.get("--keep-terminated-pod-volumes").is_some());
    }

    #[test]
    fn unreadable_files_are_skipped_and_folders_are_walked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("user-data.sh"),
            "KUBELET_EXTRA_ARGS=--network-plugin=cni\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("blob.bin"), [0xff_u8, 0xfe, 0x00]).unwrap();
        std::fs::create_dir(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join(".git/config"), "KUBELET_EXTRA_ARGS=--x").unwrap();
        let sources = read_paths(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(sources.len(), 1);
        assert!(sources[0].name.ends_with("user-data.sh"));
        let err = read_paths(&[dir.path().join("missing")]).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
