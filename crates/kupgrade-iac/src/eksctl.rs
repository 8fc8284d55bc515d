//! eksctl `ClusterConfig` files: `metadata.name` and `metadata.version`, read with
//! `saphyr-parser`, whose events carry each scalar's exact span, so an edit replaces the
//! version token and nothing else.
//!
//! eksctl's node groups (`managedNodeGroups`, `nodeGroups`) carry no Kubernetes version in the
//! file: eksctl moves them with `eksctl upgrade nodegroup --kubernetes-version`. They are named
//! as not planned from the file, never guessed.

use std::path::Path;

use kupgrade_core::{Error, Provider, Result};
use saphyr_parser::{Event, Parser};

use crate::model::{DeclaredVersion, IacCluster, IacPool, Location, VersionRef, line_of, parse_version};

/// A YAML node with the byte span of scalars.
#[derive(Debug)]
enum Node {
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
    Scalar { value: String, start: usize, end: usize },
    Other,
}

impl Node {
    fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn str(&self) -> Option<&str> {
        match self {
            Node::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }
}

/// The clusters in `text` (every YAML document whose `kind` is `ClusterConfig`); an empty list
/// for YAML that is no eksctl config.
pub(crate) fn read(path: &Path, text: &str) -> Result<Vec<IacCluster>> {
    // Character index -> byte offset (saphyr's markers count characters).
    let byte_at: Vec<usize> = text
        .char_indices()
        .map(|(b, _)| b)
        .chain(std::iter::once(text.len()))
        .collect();
    let mut parser = Parser::new_from_str(text);
    let mut docs = Vec::new();
    while let Some(next) = parser.next() {
        let (event, _) =
            next.map_err(|e| Error::invalid_input(format!("{} is not valid YAML: {e}", path.display())))?;
        match event {
            Event::DocumentStart(_) => docs.push(node(&mut parser, text, &byte_at, path)?),
            Event::StreamEnd => break,
            _ => {}
        }
    }
    Ok(docs
        .iter()
        .filter(|d| d.get("kind").and_then(Node::str) == Some("ClusterConfig"))
        .map(|doc| cluster(path, text, doc))
        .collect())
}

/// Where the scalar token starting at byte `start` ends: after its closing quote when quoted,
/// else before the first space, comment or line end (the parser's own span may run on over
/// trailing blanks and comments).
fn token_end(text: &str, start: usize) -> usize {
    let rest = &text[start..];
    let mut chars = rest.char_indices();
    match chars.next() {
        Some((_, '"')) => {
            let mut escaped = false;
            for (i, c) in chars {
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => return start + i + 1,
                    _ => escaped = false,
                }
            }
            text.len()
        }
        Some((_, '\'')) => {
            let bytes = rest.as_bytes();
            let mut i = 1;
            while i < bytes.len() {
                if bytes[i] == b'\'' {
                    if bytes.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    return start + i + 1;
                }
                i += 1;
            }
            text.len()
        }
        _ => {
            start
                + rest
                    .find(['\n', '\r', ' ', '\t', ',', '}', ']'])
                    .unwrap_or(rest.len())
        }
    }
}

fn node(
    parser: &mut Parser<'_, saphyr_parser::StrInput<'_>>,
    text: &str,
    byte_at: &[usize],
    path: &Path,
) -> Result<Node> {
    let bad = |e: saphyr_parser::ScanError| {
        Error::invalid_input(format!("{} is not valid YAML: {e}", path.display()))
    };
    let (event, span) = parser
        .next()
        .ok_or_else(|| Error::invalid_input(format!("{} ends in the middle of a document", path.display())))?
        .map_err(bad)?;
    Ok(match event {
        Event::Scalar(value, _, _, _) => {
            let start = byte_at[span.start.index().min(byte_at.len() - 1)];
            let end = token_end(text, start);
            Node::Scalar {
                value: value.into_owned(),
                start,
                end,
            }
        }
        Event::MappingStart(..) => {
            let mut entries = Vec::new();
            loop {
                let key = node(parser, text, byte_at, path)?;
                let Node::Scalar { value: key, .. } = key else {
                    if matches!(key, Node::Other) {
                        break;
                    }
                    node(parser, text, byte_at, path)?;
                    continue;
                };
                let value = node(parser, text, byte_at, path)?;
                entries.push((key, value));
            }
            Node::Map(entries)
        }
        Event::SequenceStart(..) => {
            let mut items = Vec::new();
            loop {
                match node(parser, text, byte_at, path)? {
                    Node::Other => break,
                    item => items.push(item),
                }
            }
            Node::Seq(items)
        }
        // Ends of mappings and sequences, aliases, document ends.
        _ => Node::Other,
    })
}

fn cluster(path: &Path, text: &str, doc: &Node) -> IacCluster {
    let metadata = doc.get("metadata");
    let name = metadata
        .and_then(|m| m.get("name"))
        .and_then(Node::str)
        .unwrap_or("unnamed")
        .to_string();
    let address = format!("eksctl {} ({name})", path.display());
    let control_plane = match metadata.and_then(|m| m.get("version")) {
        Some(Node::Scalar { value, start, end }) => match parse_version(value) {
            Some(v) => VersionRef::Declared(DeclaredVersion {
                value: v,
                location: Location {
                    file: path.to_path_buf(),
                    start: *start,
                    end: *end,
                    line: line_of(text, *start),
                },
                via: Vec::new(),
            }),
            None => VersionRef::Unresolved {
                expression: format!("metadata.version: {value}"),
                why: "not a Kubernetes version".into(),
            },
        },
        _ => VersionRef::Unresolved {
            expression: "metadata.version (not set)".into(),
            why: "eksctl then creates the cluster at its default version".into(),
        },
    };
    let mut pools = Vec::new();
    for list in ["managedNodeGroups", "nodeGroups"] {
        if let Some(Node::Seq(groups)) = doc.get(list) {
            for group in groups {
                let pool = group.get("name").and_then(Node::str).unwrap_or("unnamed");
                let nodes = group
                    .get("desiredCapacity")
                    .and_then(Node::str)
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                pools.push(IacPool {
                    name: pool.to_string(),
                    address: format!("{address}.{list}.{pool}"),
                    version: VersionRef::Unresolved {
                        expression: format!("{list}[{pool}] (no version field)"),
                        why: format!(
                            "eksctl node groups carry no version in the file; move them with `eksctl upgrade nodegroup --cluster {name} --name {pool} --kubernetes-version X.Y` after each control-plane step"
                        ),
                    },
                    nodes,
                });
            }
        }
    }
    IacCluster {
        provider: Provider::Eks,
        name,
        address,
        control_plane,
        pools,
        warnings: Vec::new(),
    }
}
