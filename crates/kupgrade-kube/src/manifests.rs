//! Reading Kubernetes objects out of manifest files: multi-document YAML, JSON, `kind: List`
//! (and `kubectl get -o yaml` lists), `helm template` output, and Helm release secrets.
//!
//! Anything that is not a manifest (a `values.yaml`, a `Chart.yaml`, an unrendered chart
//! template) is reported as [`Skipped`] with the reason. An input that should be a manifest but
//! cannot be read (not UTF-8, UTF-16, malformed YAML or JSON, a Helm release that does not
//! decode, over the size limit) is [`Skipped`] with `unreadable` set: the scan is incomplete, and
//! `kupgrade scan` exits 1 for it. Folders are walked following symbolic links once (a loop is
//! reported, never followed again), each file is read once however many paths lead to it, and
//! FIFOs, sockets and devices found in folders are listed, never opened.

use std::path::{Path, PathBuf};

use kupgrade_core::{Error, Result};
use serde::Serialize;

use crate::object::RawObject;

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
    /// The input looked like a manifest but could not be read, so the scan is incomplete.
    pub unreadable: bool,
}

impl Skipped {
    /// A whole file passed over on purpose (not a manifest, hidden, a FIFO...).
    pub fn file(file: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            document: None,
            reason: reason.into(),
            unreadable: false,
        }
    }

    /// A whole file that should have been read and could not be.
    pub fn unreadable_file(file: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            unreadable: true,
            ..Self::file(file, reason)
        }
    }
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.document {
            Some(d) => write!(f, "{}: document {d}: {}", self.file, self.reason),
            None => write!(f, "{}: {}", self.file, self.reason),
        }
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

/// Decodes one document (YAML or JSON text). Line numbers in its errors count from the
/// document's first line ([`read_text`] turns them into the file's).
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
        return release.map(|r| Document::HelmRelease(Box::new(r)));
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

fn one_line(err: &dyn std::fmt::Display) -> String {
    err.to_string().replace('\n', " ")
}

/// The largest manifest file, or single YAML document, read (256 MiB): a `kubectl get -A -o
/// yaml` List of a large cluster fits; anything larger is refused instead of exhausting memory.
pub const MAX_INPUT_BYTES: u64 = 256 << 20;

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
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.contains("{{") && text.contains("}}") && looks_like_go_template(text) {
        out.skipped.push(Skipped::file(
            file,
            "an unrendered Helm/Go template; scan the output of `helm template` instead",
        ));
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
                document: Some(1),
                ..Skipped::unreadable_file(file, format!("malformed JSON: {err}"))
            }),
        }
        return out;
    }
    for (index, body) in split_documents(text) {
        let doc = if body.len() as u64 > MAX_INPUT_BYTES {
            Err(format!(
                "the document is {} MiB, over the {} MiB limit for one document; split it",
                body.len() >> 20,
                MAX_INPUT_BYTES >> 20
            ))
        } else {
            parse_document(body, index).map_err(|reason| {
                // Point at the file's lines, not the document's.
                let offset = body.as_ptr() as usize - text.as_ptr() as usize;
                let lines_before = text[..offset].matches('\n').count();
                shift_line_numbers(&reason, lines_before)
            })
        };
        handle(doc, file, index, &mut out);
    }
    out
}

/// The objects of a Helm release's manifest, labelled `FILE (helm release NS/NAME revision N)`
/// (line numbers in its errors count within the release's manifest). Objects without a
/// namespace get the release's: Helm installs them there.
pub fn read_release(release: &crate::helm::HelmRelease, file: &str) -> FileContents {
    let label = format!("{file} ({})", release.label());
    let mut inner = read_text(&release.manifest, &label);
    for (_, object) in &mut inner.objects {
        if object.namespace.is_none() && !release.namespace.is_empty() {
            object.namespace = Some(release.namespace.clone());
        }
    }
    inner
}

/// Adds `by` to every "line N" in a parser message, so positions count from the file's start.
fn shift_line_numbers(message: &str, by: usize) -> String {
    let mut out = String::with_capacity(message.len() + 16);
    let mut rest = message;
    while let Some(at) = rest.find("line ") {
        let (head, tail) = rest.split_at(at + "line ".len());
        out.push_str(head);
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        match tail[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&(n + by).to_string()),
            Err(_) => out.push_str(&tail[..digits]),
        }
        rest = &tail[digits..];
    }
    out.push_str(rest);
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
            let inner = read_release(&release, file);
            out.objects.extend(inner.objects);
            out.skipped.extend(inner.skipped);
        }
        Ok(Document::Empty) => {}
        Ok(Document::Skipped(reason)) => out.skipped.push(Skipped {
            document: Some(index),
            ..Skipped::file(file, reason)
        }),
        Err(reason) => out.skipped.push(Skipped {
            document: Some(index),
            ..Skipped::unreadable_file(file, reason)
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

/// Reads a file's objects, at most [`MAX_INPUT_BYTES`] of it. A file that cannot be read as
/// UTF-8 text is listed as unreadable with the reason and what to do.
pub fn read_file(path: &Path) -> FileContents {
    use std::io::Read;
    let file = path.display().to_string();
    let unreadable = |reason: String| FileContents {
        objects: Vec::new(),
        skipped: vec![Skipped::unreadable_file(file.clone(), reason)],
    };
    let mut bytes = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes));
    if let Err(err) = read {
        return unreadable(format!("cannot read it: {err}"));
    }
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return unreadable(format!(
            "larger than the {} MiB limit for one manifest file; split it",
            MAX_INPUT_BYTES >> 20
        ));
    }
    match String::from_utf8(bytes) {
        Ok(text) => read_text(&text, &file),
        Err(err) => {
            let bytes = err.as_bytes();
            unreadable(
                if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
                    "UTF-16 text; manifests are read as UTF-8: convert it with `iconv -f UTF-16 -t UTF-8`"
                        .into()
                } else if bytes.starts_with(&[0x1f, 0x8b]) {
                    "gzip-compressed; decompress it (`gunzip -k`) and scan the result".into()
                } else {
                    format!(
                        "not UTF-8 text (byte {} is not valid UTF-8): a binary file, or another encoding to convert to UTF-8",
                        err.utf8_error().valid_up_to()
                    )
                },
            )
        }
    }
}

/// The files a scan reads, and what it passed over while collecting them.
#[derive(Debug, Default)]
pub struct Inputs {
    /// Each file once, as first reached, in the order given (folders sorted).
    pub files: Vec<PathBuf>,
    /// Hidden entries, special files, symbolic link loops, broken links.
    pub skipped: Vec<Skipped>,
}

/// The files to scan under `paths`: files as given, and `.yaml`, `.yml` and `.json` files in
/// folders, recursively and sorted. Symbolic links are followed, each folder and file once
/// (by canonical path), so a loop such as `self -> .` ends and a file reached twice is read once.
/// In folders, hidden entries (names starting with `.`) and FIFOs, sockets and devices are
/// listed in [`Inputs::skipped`] and never opened. A FIFO or character device named on the
/// command line is read (`kupgrade scan <(helm template ...)` passes a pipe). A path that does
/// not exist is an error naming it.
pub fn collect_inputs(paths: &[PathBuf]) -> Result<Inputs> {
    let mut walk = Walk::default();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| {
            Error::invalid_input(format!("{}: {e}; pass manifest files or folders", path.display()))
        })?;
        let kind = meta.file_type();
        if kind.is_dir() {
            walk.dir(path).map_err(|e| Error::io(path, e))?;
        } else if kind.is_file() || is_pipe_or_char_device(&kind) {
            walk.file(path);
        } else {
            walk.inputs
                .skipped
                .push(Skipped::file(path.display().to_string(), special_reason(&kind)));
        }
    }
    Ok(walk.inputs)
}

#[derive(Default)]
struct Walk {
    inputs: Inputs,
    /// Canonical folder -> the path it was first reached by.
    dirs: std::collections::HashMap<PathBuf, PathBuf>,
    files: std::collections::HashSet<PathBuf>,
}

impl Walk {
    fn file(&mut self, path: &Path) {
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if self.files.insert(key) {
            self.inputs.files.push(path.to_path_buf());
        }
    }

    fn dir(&mut self, dir: &Path) -> std::io::Result<()> {
        let canonical = std::fs::canonicalize(dir)?;
        if let Some(first) = self.dirs.get(&canonical) {
            self.inputs.skipped.push(Skipped::file(
                dir.display().to_string(),
                format!(
                    "a symbolic link to {}, already scanned as {}: not followed again",
                    canonical.display(),
                    first.display()
                ),
            ));
            return Ok(());
        }
        self.dirs.insert(canonical, dir.to_path_buf());
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let manifest_name = has_manifest_extension(&path);
            let meta = match std::fs::metadata(&path) {
                Ok(meta) => meta,
                Err(err) => {
                    let is_link = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
                    if is_link && err.kind() == std::io::ErrorKind::NotFound {
                        if manifest_name {
                            self.inputs.skipped.push(Skipped::file(
                                path.display().to_string(),
                                "a broken symbolic link (its target does not exist)",
                            ));
                        }
                    } else if manifest_name {
                        self.inputs.skipped.push(Skipped::unreadable_file(
                            path.display().to_string(),
                            format!("cannot read it: {err}"),
                        ));
                    }
                    continue;
                }
            };
            let kind = meta.file_type();
            if name.starts_with('.') {
                if kind.is_dir() || manifest_name {
                    self.inputs.skipped.push(Skipped::file(
                        path.display().to_string(),
                        "hidden (its name starts with '.'): not scanned; name it on the command line to scan it",
                    ));
                }
            } else if kind.is_dir() {
                // A folder that cannot be listed is reported; the walk goes on.
                if let Err(err) = self.dir(&path) {
                    self.inputs.skipped.push(Skipped::unreadable_file(
                        path.display().to_string(),
                        format!("cannot list this folder: {err}"),
                    ));
                }
            } else if kind.is_file() {
                if manifest_name {
                    self.file(&path);
                }
            } else {
                self.inputs
                    .skipped
                    .push(Skipped::file(path.display().to_string(), special_reason(&kind)));
            }
        }
        Ok(())
    }
}

fn has_manifest_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "yaml" | "yml" | "json"))
}

#[cfg(unix)]
fn is_pipe_or_char_device(kind: &std::fs::FileType) -> bool {
    use std::os::unix::fs::FileTypeExt;
    kind.is_fifo() || kind.is_char_device()
}

#[cfg(not(unix))]
fn is_pipe_or_char_device(_: &std::fs::FileType) -> bool {
    false
}

/// Why a special file is passed over without being opened.
fn special_reason(kind: &std::fs::FileType) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let what = if kind.is_fifo() {
            "a FIFO (named pipe)"
        } else if kind.is_socket() {
            "a socket"
        } else if kind.is_block_device() {
            "a block device"
        } else if kind.is_char_device() {
            "a character device"
        } else {
            "not a regular file"
        };
        format!("{what}: not opened (reading it could block or never end)")
    }
    #[cfg(not(unix))]
    {
        let _ = kind;
        "not a regular file: not opened".to_string()
    }
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
        // Messages never name internal types.
        assert!(!c.skipped[0].reason.contains("RawObject"), "{:?}", c.skipped);
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
        // Positions are the file's lines (the document starts at line 5), not the document's.
        assert!(
            c.skipped[0].reason.contains("at line 6 column 1")
                && c.skipped[0].reason.contains("at line 5 column 7"),
            "{}",
            c.skipped[0]
        );
        assert!(c.skipped[0].unreadable);
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
