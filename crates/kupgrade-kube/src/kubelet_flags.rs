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
use kupgrade_core::{Error, KubeVersion, NodeConfigSource, NodeConfigs, Result};
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

/// Reads files, and every file under folders (hidden entries skipped), as node configuration
/// (gzip is decompressed). A file named here that is not UTF-8 text or is larger than 4 MiB is
/// an error; such files found in folders are skipped.
pub fn read_paths(paths: &[PathBuf]) -> Result<Vec<NodeConfigSource>> {
    let mut out = Vec::new();
    for path in paths {
        read_path(path, &mut out, true)?;
    }
    Ok(out)
}

/// Reads the node configuration a cluster holds: Karpenter `EC2NodeClass` objects (their user
/// data) and Cluster API `KubeadmConfigTemplate` / `KubeadmControlPlane` objects (their
/// `kubeletExtraArgs`). Kinds the cluster does not serve are skipped; kinds it serves but that
/// cannot be listed (forbidden, a failing conversion webhook, ...) are reported as unread.
pub async fn gather(client: &kube::Client) -> NodeConfigs {
    let mut out = NodeConfigs::default();
    for (group, versions, kind, plural) in LIVE_KINDS {
        for version in versions {
            let gvk = GroupVersionKind::gvk(group, version, kind);
            let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
            match api.list(&ListParams::default()).await {
                Ok(list) => {
                    out.sources
                        .extend(list.items.into_iter().map(|o| from_object(kind, &o)));
                    break;
                }
                Err(kube::Error::Api(status)) if status.code == 404 => continue,
                Err(e) => {
                    out.unread
                        .push(format!("{plural}.{group}: {}", crate::kube_error(e)));
                    break;
                }
            }
        }
    }
    out
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
    let text = decode_user_data(&source.text).unwrap_or_else(|| source.text.clone());
    let mut flags = Vec::new();
    flags_in_text(&text, &mut flags);
    for doc in crate::manifests::split_documents(&text) {
        if let Ok(value) = serde_norway::from_str::<Value>(doc.1) {
            flags_in_value(&value, &mut flags);
        }
    }
    for part in mime_base64_parts(&text) {
        flags_in_text(&part, &mut flags);
    }
    flags
        .into_iter()
        .map(|flag| {
            let line = line_of(&text, &flag);
            (flag, line)
        })
        .collect()
}

/// Reads one path; a file named on the command line must be readable text (or gzip of it),
/// files found in folders that are not are skipped.
fn read_path(path: &Path, out: &mut Vec<NodeConfigSource>, named: bool) -> Result<()> {
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
            read_path(&child, out, false)?;
        }
        return Ok(());
    }
    let unreadable = |why: &str| -> Result<()> {
        if named {
            Err(Error::invalid_input(format!(
                "{}: {why}; a node configuration is user data, a kubeadm or nodeadm config, a systemd unit or a folder of them",
                path.display()
            ))
            .with_hint(kupgrade_core::Hint::Settings(vec![kupgrade_core::Setting::NodeConfigFile])))
        } else {
            tracing::debug!(path = %path.display(), "skipped: {why}");
            Ok(())
        }
    };
    if meta.len() > MAX_FILE_BYTES {
        return unreadable("larger than 4 MiB, not node configuration");
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bytes = gunzip(&bytes).unwrap_or(bytes);
    match String::from_utf8(bytes) {
        Ok(text) => out.push(NodeConfigSource {
            kind: "File".into(),
            namespace: None,
            name: path.display().to_string(),
            text,
        }),
        Err(_) => return unreadable("not UTF-8 text"),
    }
    Ok(())
}

/// The bytes gzip-decompressed, when they are gzip.
fn gunzip(bytes: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read;
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return None;
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_FILE_BYTES)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

/// User data as the EC2 API returns it: one base64 blob that decodes to UTF-8 text, or to gzip
/// of it (Terraform's `cloudinit_config` gzips by default).
fn decode_user_data(text: &str) -> Option<String> {
    let compact: String = text.split_whitespace().collect();
    if compact.len() < 16
        || !compact
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(compact).ok()?;
    let bytes = gunzip(&bytes).unwrap_or(bytes);
    String::from_utf8(bytes).ok()
}

/// The decoded bodies of MIME parts sent with `Content-Transfer-Encoding: base64`.
fn mime_base64_parts(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if !line
            .to_ascii_lowercase()
            .starts_with("content-transfer-encoding: base64")
        {
            continue;
        }
        // The rest of the part's headers, then its body up to the next boundary.
        for header in lines.by_ref() {
            if header.trim().is_empty() {
                break;
            }
        }
        let body: String = lines
            .by_ref()
            .take_while(|l| !l.starts_with("--"))
            .collect::<Vec<_>>()
            .concat();
        if let Some(decoded) = decode_user_data(&body) {
            parts.push(decoded);
        }
    }
    parts
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
            if let Some(value) = env_var_value(line, var) {
                flags_in_command_line(value, out);
            }
        }
        if let Some(args) = kubelet_command_args(trimmed) {
            flags_in_command_line(args, out);
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

/// Whether the nearest less-indented key above is `kubelet:` (a comment after it allowed).
fn under_kubelet_key(above: &[&str], own_indent: usize) -> bool {
    above
        .iter()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .find(|l| indent(l) < own_indent)
        .is_some_and(|l| l.split('#').next().unwrap_or_default().trim() == "kubelet:")
}

/// The value of `var=` on a line, as the shell or systemd would see it: a whole env-file line
/// (`KUBELET_EXTRA_ARGS=--a --b`), the inside of the quotes around the assignment
/// (`Environment="KUBELET_ARGS=--a --b"`, `echo 'KUBELET_EXTRA_ARGS=--a' >> file`), or one
/// shell word elsewhere (`KUBELET_EXTRA_ARGS="--a --b" cmd`).
fn env_var_value<'a>(line: &'a str, var: &str) -> Option<&'a str> {
    let needle = format!("{var}=");
    let pos = line.match_indices(&needle).map(|(p, _)| p).find(|&p| {
        !line[..p]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    })?;
    let before = line[..pos].trim();
    let after = &line[pos + needle.len()..];
    match before.chars().next_back() {
        // Inside quotes that open before the variable: up to the matching quote.
        Some(q @ ('"' | '\'')) => Some(after.split(q).next().unwrap_or_default()),
        // An env file or `export` line: the rest of the line, up to a shell operator.
        _ if before.is_empty() || before == "export" => {
            if after.starts_with(['"', '\'']) {
                Some(shell_word(after).0)
            } else {
                Some(up_to_operator(after))
            }
        }
        _ => Some(shell_word(after).0),
    }
}

/// `text` up to the first shell operator or comment outside quotes.
fn up_to_operator(text: &str) -> &str {
    let mut quote = None;
    let mut prev = ' ';
    for (i, c) in text.char_indices() {
        match quote {
            Some(q) if c == q && prev != '\\' => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if matches!(c, ';' | '&' | '|' | '>' | '<') => return &text[..i],
            None if c == '#' && prev.is_whitespace() => return &text[..i],
            None => {}
        }
        prev = c;
    }
    text
}

/// The first shell word of `text` without its quotes (`"..."`, `'...'` or `\"...\"` as
/// written inside another double-quoted string), and what follows it.
fn shell_word(text: &str) -> (&str, &str) {
    if let Some(body) = text.strip_prefix("\\\"") {
        return match body.find("\\\"") {
            Some(end) => (&body[..end], &body[end + 2..]),
            None => (body, ""),
        };
    }
    if let Some(q @ ('"' | '\'')) = text.chars().next() {
        let body = &text[1..];
        let mut prev = ' ';
        for (i, c) in body.char_indices() {
            if c == q && !(q == '"' && prev == '\\') {
                return (&body[..i], &body[i + 1..]);
            }
            prev = c;
        }
        return (body, "");
    }
    let end = text
        .find(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | '|' | '>' | '<' | ',' | ']'))
        .unwrap_or(text.len());
    (&text[..end], &text[end..])
}

/// The arguments of a kubelet command line: `kubelet ...`, `/usr/bin/kubelet ...`,
/// `exec kubelet ...`, or a systemd `ExecStart=` line (with its `-@+!` prefixes).
fn kubelet_command_args(line: &str) -> Option<&str> {
    let mut command = line.strip_prefix("ExecStart=").unwrap_or(line);
    command = command.trim_start_matches(['-', '@', '+', '!', ':']);
    if let Some(rest) = command.strip_prefix("exec ") {
        command = rest.trim_start();
    }
    let program_end = command.find(char::is_whitespace).unwrap_or(command.len());
    (command[..program_end].rsplit('/').next() == Some("kubelet"))
        .then(|| up_to_operator(&command[program_end..]))
}

/// The values given to `--kubelet-extra-args` on a line (quoted or a single word).
fn extra_args_values(line: &str) -> Vec<String> {
    const OPTION: &str = "--kubelet-extra-args";
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(pos) = rest.find(OPTION) {
        rest = &rest[pos + OPTION.len()..];
        let mut after = rest.strip_prefix('=').unwrap_or(rest);
        // In a YAML or JSON list (`[bootstrap.sh, --kubelet-extra-args, '--a']`,
        // `["--kubelet-extra-args", "--a"]`) the value is the next item.
        if let Some(next) = after
            .strip_prefix(['"', '\''])
            .filter(|a| a.trim_start().starts_with(','))
        {
            after = next;
        }
        let after = after.trim_start().trim_start_matches(',').trim_start();
        let (value, tail) = shell_word(after);
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
            let decoded = decode_user_data(text);
            let text = decoded.as_deref().unwrap_or(text);
            flags_in_text(text, out);
            // YAML held as text (kubeadm or nodeadm config in cloud-init `write_files`).
            if text.contains('\n')
                && let Ok(inner @ Value::Object(_)) = serde_norway::from_str::<Value>(text)
            {
                flags_in_value(&inner, out);
            }
        }
        _ => {}
    }
}

fn push_unique(out: &mut Vec<String>, name: &str) {
    if !out.iter().any(|n| n == name) {
        out.push(name.to_string());
    }
}

/// The 1-based line that first mentions `flag` as a whole word (as `--flag` or as a kubeadm
/// key), comments skipped; else 1.
fn line_of(text: &str, flag: &str) -> usize {
    let dashed = format!("--{flag}");
    let key = format!("{flag}:");
    let named = format!("name: {flag}");
    let whole_word = |line: &str, word: &str| {
        line.match_indices(word).any(|(p, _)| {
            !line[p + word.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
    };
    text.lines()
        .position(|l| {
            !l.trim_start().starts_with('#')
                && (whole_word(l, &dashed) || l.trim_start().starts_with(&key) || whole_word(l, &named))
        })
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
    fn only_the_kubelet_part_of_a_shell_line_counts() {
        // The assignment is one quoted word; bootstrap.sh's own option after `&&` is not the
        // kubelet flag.
        assert_eq!(
            names(
                "echo 'KUBELET_EXTRA_ARGS=--node-labels=a' >> /etc/sysconfig/kubelet && /etc/eks/bootstrap.sh prod --container-runtime containerd\n"
            ),
            vec!["node-labels"]
        );
        assert_eq!(
            names(
                "KUBELET_EXTRA_ARGS=\"--max-pods=20\" /etc/eks/bootstrap.sh prod --container-runtime containerd\n"
            ),
            vec!["max-pods"]
        );
        assert_eq!(
            names(
                "export KUBELET_EXTRA_ARGS=--register-schedulable=false; bootstrap --container-runtime x\n"
            ),
            vec!["register-schedulable"]
        );
        assert!(names("MY_KUBELET_ARGS=--network-plugin=cni\n").is_empty());
        assert_eq!(
            names("ExecStart=-/usr/bin/kubelet --cni-bin-dir=/opt/cni/bin\nexec kubelet --runonce\n"),
            vec!["cni-bin-dir", "runonce"]
        );
    }

    #[test]
    fn escaped_quotes_and_list_forms_of_extra_args() {
        assert_eq!(
            names(
                "bootstrap_extra_args = \"--kubelet-extra-args \\\"--max-pods=20 --cni-bin-dir=/opt\\\"\"\n"
            ),
            vec!["cni-bin-dir", "max-pods"]
        );
        assert_eq!(
            names(
                "/etc/eks/bootstrap.sh c --kubelet-extra-args \"--node-labels=\\\"a\\\" --network-plugin=cni\"\n"
            ),
            vec!["network-plugin", "node-labels"]
        );
        assert_eq!(
            names(
                "runcmd:\n  - [/etc/eks/bootstrap.sh, prod, --kubelet-extra-args, '--max-pods=20 --log-dir=/x']\n"
            ),
            vec!["log-dir", "max-pods"]
        );
        assert_eq!(
            names("{\"args\": [\"--kubelet-extra-args\", \"--seccomp-profile-root=/x\"]}\n"),
            vec!["seccomp-profile-root"]
        );
    }

    #[test]
    fn gzip_user_data_base64_mime_parts_and_yaml_inside_cloud_init() {
        use std::io::Write;
        let script =
            "#!/bin/bash\n/etc/eks/bootstrap.sh prod --kubelet-extra-args '--keep-terminated-pod-volumes'\n";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(script.as_bytes()).unwrap();
        let gzipped = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
        assert_eq!(names(&gzipped), vec!["keep-terminated-pod-volumes"]);
        let mime = format!(
            "Content-Type: multipart/mixed; boundary=\"B\"\nMIME-Version: 1.0\n\n--B\nContent-Type: text/x-shellscript\nContent-Transfer-Encoding: base64\n\n{}\n--B--\n",
            base64::engine::general_purpose::STANDARD.encode(script)
        );
        assert_eq!(names(&mime), vec!["keep-terminated-pod-volumes"]);
        let cloud_config = "#cloud-config\nwrite_files:\n  - path: /etc/kubeadm/join.yaml\n    content: |\n      apiVersion: kubeadm.k8s.io/v1beta3\n      kind: JoinConfiguration\n      nodeRegistration:\n        kubeletExtraArgs:\n          container-runtime: remote\n";
        assert_eq!(names(cloud_config), vec!["container-runtime"]);
    }

    #[test]
    fn lines_match_whole_flags_outside_comments() {
        let text =
            "# --log-file is gone\nKUBELET_EXTRA_ARGS=--log-file-max-size=1 \nKUBELET_ARGS=--log-file=/x\n";
        assert_eq!(
            flags(text),
            vec![("log-file".to_string(), 3), ("log-file-max-size".to_string(), 2)]
        );
        let nodeadm = "spec:\n  kubelet:   # kubelet settings\n    flags:\n      - --runonce\n";
        assert_eq!(names(nodeadm), vec!["runonce"]);
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
        // A file named on the command line must be text.
        let err = read_paths(&[dir.path().join("blob.bin")]).unwrap_err();
        assert!(err.to_string().contains("blob.bin: not UTF-8 text"), "{err}");
        std::fs::create_dir(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join(".git/config"), "KUBELET_EXTRA_ARGS=--x").unwrap();
        let sources = read_paths(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(sources.len(), 1);
        assert!(sources[0].name.ends_with("user-data.sh"));
        let err = read_paths(&[dir.path().join("missing")]).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
