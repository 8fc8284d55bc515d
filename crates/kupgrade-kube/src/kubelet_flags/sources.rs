//! Where node configuration comes from: files and folders the user names ([`read_paths`]) and
//! objects in the cluster ([`gather`]).

use std::path::{Path, PathBuf};

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kupgrade_core::{Error, NodeConfigSource, NodeConfigs, Result};
use serde_json::Value;

use super::parse::{MAX_FILE_BYTES, gunzip};

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
