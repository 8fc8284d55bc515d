//! Finding kubelet flags in node configuration text, in kubelet context only.

use std::collections::BTreeMap;

use base64::Engine;
use kupgrade_core::NodeConfigSource;
use serde_json::Value;

/// Files larger than this are not node configuration; they are skipped.
pub(super) const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

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

/// The bytes gzip-decompressed, when they are gzip.
pub(super) fn gunzip(bytes: &[u8]) -> Option<Vec<u8>> {
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
