//! Reading Kubernetes objects out of manifest files: multi-document YAML, JSON, `kind: List`
//! (and `kubectl get -o yaml` lists), `helm template` output, and Helm release secrets.
//!
//! Anything that is not a manifest (a `values.yaml`, a `Chart.yaml`, an unrendered chart
//! template, a binary) is reported as [`Skipped`] with the reason, never an error. A document
//! that is not valid YAML is skipped with the file and its 1-based document index.

use std::path::{Path, PathBuf};

use kupgrade_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// One Kubernetes object found in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestObject {
    /// Its `apiVersion`.
    pub api_version: String,
    /// Its `kind`.
    pub kind: String,
    /// `metadata.name` (`generateName` when that is all there is; empty when absent).
    pub name: String,
    /// `metadata.namespace`, when set.
    pub namespace: Option<String>,
    /// The 1-based document of the file it came from.
    pub document: usize,
}

/// An input, or one document of it, that was not scanned, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The file.
    pub file: String,
    /// The 1-based document, when only one document was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<usize>,
    /// Why.
    pub reason: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.document {
            Some(d) => write!(f, "{}: document {d}: {}", self.file, self.reason),
            None => write!(f, "{}: {}", self.file, self.reason),
        }
    }
}

/// What a document holds, decoded just enough to scan it (other fields are skipped unparsed).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawObject {
    #[serde(rename = "apiVersion", default)]
    pub(crate) api_version: Option<String>,
    #[serde(default)]
    pub(crate) kind: Option<String>,
    #[serde(default)]
    pub(crate) metadata: Option<RawMeta>,
    #[serde(default)]
    pub(crate) items: Option<Vec<RawObject>>,
    #[serde(rename = "type", default)]
    pub(crate) type_: LenientString,
    #[serde(default)]
    pub(crate) data: RawData,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawMeta {
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(rename = "generateName", default)]
    pub(crate) generate_name: Option<String>,
    #[serde(default)]
    pub(crate) namespace: Option<String>,
}

/// A string field that other kinds may use with any shape: kept when a string, else ignored.
#[derive(Debug, Default)]
pub(crate) struct LenientString(pub(crate) Option<String>);

impl<'de> Deserialize<'de> for LenientString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = LenientString;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("anything")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
                Ok(LenientString(Some(v.to_string())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> std::result::Result<Self::Value, E> {
                Ok(LenientString(Some(v)))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> std::result::Result<Self::Value, E> {
                Ok(LenientString(None))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> std::result::Result<Self::Value, E> {
                Ok(LenientString(None))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> std::result::Result<Self::Value, E> {
                Ok(LenientString(None))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> std::result::Result<Self::Value, E> {
                Ok(LenientString(None))
            }
            fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Self::Value, E> {
                Ok(LenientString(None))
            }
            fn visit_none<E: serde::de::Error>(self) -> std::result::Result<Self::Value, E> {
                Ok(LenientString(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(LenientString(None))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                while a
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(LenientString(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// The `release` key of a Secret's or ConfigMap's `data`; other keys, and `data` of any other
/// shape, are skipped.
#[derive(Debug, Default)]
pub(crate) struct RawData {
    pub(crate) release: Option<String>,
}

impl<'de> Deserialize<'de> for RawData {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawData;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("anything")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut out = RawData::default();
                while let Some(key) = a.next_key::<LenientString>()? {
                    let value: LenientString = a.next_value()?;
                    if key.0.as_deref() == Some("release") {
                        out.release = value.0;
                    }
                }
                Ok(out)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(RawData::default())
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> std::result::Result<Self::Value, E> {
                Ok(RawData::default())
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> std::result::Result<Self::Value, E> {
                Ok(RawData::default())
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> std::result::Result<Self::Value, E> {
                Ok(RawData::default())
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> std::result::Result<Self::Value, E> {
                Ok(RawData::default())
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> std::result::Result<Self::Value, E> {
                Ok(RawData::default())
            }
            fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Self::Value, E> {
                Ok(RawData::default())
            }
            fn visit_none<E: serde::de::Error>(self) -> std::result::Result<Self::Value, E> {
                Ok(RawData::default())
            }
        }
        d.deserialize_any(V)
    }
}

/// What one document turned out to be.
#[derive(Debug)]
pub enum Document {
    /// Objects (one, or the items of a list).
    Objects(Vec<ManifestObject>),
    /// A Helm release (secret or configmap) with its decoded release.
    HelmRelease(Box<crate::helm::HelmRelease>),
    /// Nothing to scan (empty, comments only).
    Empty,
    /// Not scanned, with the reason.
    Skipped(String),
}

/// Splits YAML text into documents at `---` lines (and `...` end markers), with their 1-based
/// index. Text before a leading `---` that holds nothing does not count as a document.
pub fn split_documents(text: &str) -> Vec<(usize, &str)> {
    fn push<'a>(docs: &mut Vec<(usize, &'a str)>, body: &'a str, first: bool) {
        if first && is_blank(body) {
            return;
        }
        docs.push((docs.len() + 1, body));
    }
    let mut docs = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    let bytes = text.as_bytes();
    let mut first = true;
    let mut after_end = false;
    while pos < text.len() {
        let end = memchr_newline(bytes, pos);
        let line = text[pos..end].trim_end_matches('\r');
        let is_start = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        let is_end = line == "...";
        if is_start || is_end {
            if !(is_start && after_end && is_blank(&text[start..pos])) {
                push(&mut docs, &text[start..pos], first);
            }
            after_end = is_end;
            first = false;
            // `--- {inline: doc}`: the rest of the line belongs to the next document.
            start = if is_start && line.len() > 4 {
                pos + 4
            } else {
                (end + 1).min(text.len())
            };
        }
        pos = end + 1;
    }
    if start < text.len() {
        push(&mut docs, &text[start..], first);
    }
    docs
}

fn memchr_newline(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |i| from + i)
}

fn is_blank(doc: &str) -> bool {
    doc.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t.starts_with('%')
    })
}

/// Decodes one document (YAML or JSON text).
pub fn parse_document(body: &str, document: usize) -> std::result::Result<Document, String> {
    if is_blank(body) {
        return Ok(Document::Empty);
    }
    let raw: RawObject = match serde_norway::from_str(body) {
        Ok(raw) => raw,
        Err(err) => {
            // Valid YAML of another shape (a list, a string) is "not a manifest"; invalid YAML is
            // malformed.
            return match serde_norway::from_str::<serde_norway::Value>(body) {
                Ok(_) => Ok(Document::Skipped(format!(
                    "not a Kubernetes object ({})",
                    one_line(&err)
                ))),
                Err(err) => Err(format!("malformed YAML: {}", one_line(&err))),
            };
        }
    };
    classify(raw, document)
}

pub(crate) fn classify(raw: RawObject, document: usize) -> std::result::Result<Document, String> {
    let (Some(api_version), Some(kind)) = (raw.api_version.as_deref(), raw.kind.as_deref()) else {
        return Ok(Document::Skipped(
            "no apiVersion and kind: not a Kubernetes manifest (e.g. Helm values or Chart.yaml)".into(),
        ));
    };
    if let Some(release) = crate::helm::release_from_raw(&raw) {
        return release
            .map(|r| Document::HelmRelease(Box::new(r)))
            .map_err(|e| format!("Helm release {kind} {}: {e}", raw.name()));
    }
    let mut objects = Vec::new();
    match raw.items {
        Some(items) if kind == "List" || kind.ends_with("List") => {
            for item in items {
                flatten(item, document, &mut objects);
            }
        }
        _ => objects.push(ManifestObject {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            name: raw.name(),
            namespace: raw.metadata.and_then(|m| m.namespace),
            document,
        }),
    }
    Ok(Document::Objects(objects))
}

fn flatten(raw: RawObject, document: usize, out: &mut Vec<ManifestObject>) {
    let name = raw.name();
    match (raw.api_version, raw.kind, raw.items) {
        (_, Some(kind), Some(items)) if kind.ends_with("List") => {
            for item in items {
                flatten(item, document, out);
            }
        }
        (Some(api_version), Some(kind), _) => out.push(ManifestObject {
            api_version,
            kind,
            name,
            namespace: raw.metadata.and_then(|m| m.namespace),
            document,
        }),
        _ => {}
    }
}

impl RawObject {
    pub(crate) fn name(&self) -> String {
        self.metadata
            .as_ref()
            .and_then(|m| m.name.clone().or_else(|| m.generate_name.clone()))
            .unwrap_or_default()
    }
}

fn one_line(err: &dyn std::fmt::Display) -> String {
    err.to_string().replace('\n', " ")
}

/// Everything read from one file.
#[derive(Debug, Default)]
pub struct FileContents {
    /// Objects found, with the Helm releases' objects labelled by their release.
    pub objects: Vec<(String, ManifestObject)>,
    /// Documents or the whole file not scanned.
    pub skipped: Vec<Skipped>,
}

/// Reads the objects of manifest text; `file` labels them (`file (helm release ns/name v3)` for
/// the objects of a Helm release).
pub fn read_text(text: &str, file: &str) -> FileContents {
    let mut out = FileContents::default();
    if text.contains("{{") && text.contains("}}") && looks_like_go_template(text) {
        out.skipped.push(Skipped {
            file: file.into(),
            document: None,
            reason: "an unrendered Helm/Go template; scan the output of `helm template` instead".into(),
        });
        return out;
    }
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        // JSON: one value (an object or a List), parsed with the JSON parser (tabs and all).
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Array(items)) => {
                for (i, item) in items.into_iter().enumerate() {
                    handle(json_doc(item, i + 1), file, i + 1, &mut out);
                }
            }
            Ok(value) => handle(json_doc(value, 1), file, 1, &mut out),
            Err(err) => out.skipped.push(Skipped {
                file: file.into(),
                document: Some(1),
                reason: format!("malformed JSON: {err}"),
            }),
        }
        return out;
    }
    for (index, body) in split_documents(text) {
        let doc = parse_document(body, index).map_err(|reason| {
            // Point at the file's line, not the document's.
            let offset = body.as_ptr() as usize - text.as_ptr() as usize;
            let first_line = text[..offset].matches('\n').count() + 1;
            format!("{reason} (the document starts at line {first_line} of the file)")
        });
        handle(doc, file, index, &mut out);
    }
    out
}

fn json_doc(value: serde_json::Value, document: usize) -> std::result::Result<Document, String> {
    match serde_json::from_value::<RawObject>(value) {
        Ok(raw) => classify(raw, document),
        Err(err) => Ok(Document::Skipped(format!("not a Kubernetes object ({err})"))),
    }
}

fn handle(doc: std::result::Result<Document, String>, file: &str, index: usize, out: &mut FileContents) {
    match doc {
        Ok(Document::Objects(objects)) => out
            .objects
            .extend(objects.into_iter().map(|o| (file.to_string(), o))),
        Ok(Document::HelmRelease(release)) => {
            let label = format!("{file} ({})", release.label());
            let inner = read_text(&release.manifest, &label);
            out.objects.extend(inner.objects);
            out.skipped.extend(inner.skipped);
        }
        Ok(Document::Empty) => {}
        Ok(Document::Skipped(reason)) => out.skipped.push(Skipped {
            file: file.into(),
            document: Some(index),
            reason,
        }),
        Err(reason) => out.skipped.push(Skipped {
            file: file.into(),
            document: Some(index),
            reason,
        }),
    }
}

fn looks_like_go_template(text: &str) -> bool {
    [
        "{{-",
        "{{ .",
        "{{.",
        "{{ include",
        "{{ template",
        "{{- if",
        "{{ if",
        "{{ toYaml",
        "{{- include",
    ]
    .iter()
    .any(|p| text.contains(p))
}

/// Reads a file's objects. Unreadable or non-UTF-8 files are skipped with the reason.
pub fn read_file(path: &Path) -> FileContents {
    let file = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => read_text(&text, &file),
            Err(_) => FileContents {
                objects: Vec::new(),
                skipped: vec![Skipped {
                    file,
                    document: None,
                    reason: "not UTF-8 text (binary file?)".into(),
                }],
            },
        },
        Err(err) => FileContents {
            objects: Vec::new(),
            skipped: vec![Skipped {
                file,
                document: None,
                reason: format!("cannot read: {err}"),
            }],
        },
    }
}

/// The files to scan under `paths`: files as given, and `.yaml`, `.yml` and `.json` files in
/// folders (recursively, sorted, hidden entries skipped). A path that does not exist is an
/// error naming it.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| {
            Error::InvalidInput(format!("{}: {e}; pass manifest files or folders", path.display()))
        })?;
        if meta.is_dir() {
            walk(path, &mut files).map_err(|e| Error::io(path, e))?;
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "yaml" | "yml" | "json"))
        {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_documents_like_helm_template_output() {
        let text = "---\n# Source: web/templates/svc.yaml\napiVersion: v1\nkind: Service\n---\n---\napiVersion: v1\nkind: ConfigMap\n...\n";
        let docs = split_documents(text);
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0].0, 1);
        assert!(docs[0].1.contains("Service"));
        assert!(is_blank(docs[1].1));
        assert!(docs[2].1.contains("ConfigMap"));
        // `...` then `---` is one boundary, not an extra empty document.
        let docs = split_documents("a: 1\n...\n---\nb: 2\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1], (2, "b: 2\n"));
    }

    #[test]
    fn lists_are_flattened() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: policy/v1beta1\n  kind: PodDisruptionBudget\n  metadata: {name: a, namespace: shop}\n- apiVersion: apps/v1\n  kind: DeploymentList\n  items:\n  - {apiVersion: apps/v1, kind: Deployment, metadata: {name: b}}\n";
        let c = read_text(text, "l.yaml");
        let names: Vec<_> = c
            .objects
            .iter()
            .map(|(_, o)| (o.kind.as_str(), o.name.as_str()))
            .collect();
        assert_eq!(names, vec![("PodDisruptionBudget", "a"), ("Deployment", "b")]);
        assert_eq!(c.objects[0].1.namespace.as_deref(), Some("shop"));
    }

    #[test]
    fn non_manifests_are_skipped_with_a_reason() {
        let c = read_text("replicaCount: 3\nimage: {tag: x}\n", "values.yaml");
        assert!(c.objects.is_empty());
        assert!(
            c.skipped[0].reason.contains("not a Kubernetes manifest"),
            "{:?}",
            c.skipped
        );
        let c = read_text("apiVersion: v2\nname: web\nversion: 1.0.0\n", "Chart.yaml");
        assert_eq!(c.skipped.len(), 1);
        let c = read_text(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n",
            "t.yaml",
        );
        assert!(c.skipped[0].reason.contains("helm template"), "{:?}", c.skipped);
        let c = read_text("- a\n- b\n", "list.yaml");
        assert!(
            c.skipped[0].reason.contains("not a Kubernetes object"),
            "{:?}",
            c.skipped
        );
    }

    #[test]
    fn malformed_documents_name_the_index_and_the_rest_is_still_read() {
        let text = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\nkind: [unclosed\n---\napiVersion: batch/v1beta1\nkind: CronJob\nmetadata: {name: c}\n";
        let c = read_text(text, "m.yaml");
        assert_eq!(c.objects.len(), 2);
        assert_eq!(c.skipped.len(), 1);
        assert_eq!(c.skipped[0].document, Some(2));
        assert!(
            c.skipped[0]
                .to_string()
                .starts_with("m.yaml: document 2: malformed YAML"),
            "{}",
            c.skipped[0]
        );
        assert!(
            c.skipped[0].reason.ends_with("starts at line 5 of the file)"),
            "{}",
            c.skipped[0]
        );
        assert_eq!(c.objects[1].1.document, 3);
    }

    #[test]
    fn json_with_tabs_and_lists() {
        let text = "{\n\t\"apiVersion\": \"v1\",\n\t\"kind\": \"List\",\n\t\"items\": [{\"apiVersion\": \"extensions/v1beta1\", \"kind\": \"Ingress\", \"metadata\": {\"name\": \"i\"}}]\n}";
        let c = read_text(text, "x.json");
        assert_eq!(c.objects.len(), 1);
        assert_eq!(c.objects[0].1.kind, "Ingress");
        let c = read_text("{\"apiVersion\": ", "bad.json");
        assert!(c.skipped[0].reason.starts_with("malformed JSON"));
    }
}
