//! Storage checks: in-tree volume plugins whose CSI driver is missing (`KUP-KUBE-012`, from
//! the table in `src/data/in_tree_volumes.yaml`) and the default StorageClass (`KUP-KUBE-013`).

use std::sync::OnceLock;

use k8s_openapi::api::core::v1::PersistentVolume;
use k8s_openapi::api::storage::v1::StorageClass;
use kupgrade_core::checks::{Finding, Severity};
use serde::Deserialize;

use super::{ClusterFacts, FactCheck, Hop, finding};

/// The storage checks.
pub(super) fn checks() -> [FactCheck; 2] {
    [
        FactCheck::per_hop(
            "KUP-KUBE-012",
            "in-tree volume plugins in use have their CSI driver installed",
            in_tree_volumes,
        ),
        FactCheck::once(
            "KUP-KUBE-013",
            "exactly one default StorageClass",
            default_storage_class,
        ),
    ]
}

/// One in-tree volume plugin and the CSI driver that serves it once CSI migration is on.
#[derive(Debug, Deserialize)]
struct InTreePlugin {
    /// The PersistentVolume field that selects it (`awsElasticBlockStore`).
    field: String,
    /// Its StorageClass provisioner (`kubernetes.io/aws-ebs`).
    provisioner: String,
    /// The CSI driver (`ebs.csi.aws.com`).
    driver: String,
    /// The minor from which migration is on by default, so the driver must be installed.
    from: u32,
}

#[derive(Deserialize)]
struct InTreeTable {
    plugins: Vec<InTreePlugin>,
}

/// The embedded table, parsed once.
fn in_tree() -> &'static [InTreePlugin] {
    static TABLE: OnceLock<Vec<InTreePlugin>> = OnceLock::new();
    TABLE.get_or_init(|| {
        serde_norway::from_str::<InTreeTable>(include_str!("../data/in_tree_volumes.yaml"))
            .expect("the embedded in-tree volume table parses")
            .plugins
    })
}

/// The in-tree plugin a PersistentVolume uses, if any.
fn pv_plugin(pv: &PersistentVolume) -> Option<&'static InTreePlugin> {
    let s = pv.spec.as_ref()?;
    let used = [
        ("awsElasticBlockStore", s.aws_elastic_block_store.is_some()),
        ("gcePersistentDisk", s.gce_persistent_disk.is_some()),
        ("azureDisk", s.azure_disk.is_some()),
        ("azureFile", s.azure_file.is_some()),
        ("cinder", s.cinder.is_some()),
        ("vsphereVolume", s.vsphere_volume.is_some()),
        ("portworxVolume", s.portworx_volume.is_some()),
    ];
    let (field, _) = used.into_iter().find(|(_, used)| *used)?;
    in_tree().iter().find(|p| p.field == field)
}

fn in_tree_volumes(facts: &ClusterFacts, hop: &Hop<'_>) -> Vec<Finding> {
    let hop = hop.version;
    let installed = |driver: &str| {
        facts
            .csi_drivers
            .iter()
            .any(|d| d.metadata.name.as_deref() == Some(driver))
    };
    let mut out = Vec::new();
    let mut judge = |kind: &str, name: &str, plugin: &str, driver: &str, from: u32| {
        if installed(driver) {
            out.push(finding("KUP-KUBE-012", Severity::Info, kind, None, name, format!(
                "uses the in-tree {plugin} plugin, served by CSI driver {driver} through CSI migration; consider moving to {driver} directly"
            )));
        } else if hop.minor() >= from {
            out.push(finding("KUP-KUBE-012", Severity::Blocker, kind, None, name, format!(
                "uses the in-tree {plugin} plugin, which from 1.{from} works only through CSI driver {driver}, and that driver is not installed; install it before this hop"
            )));
        }
    };
    for pv in &facts.pvs {
        if let Some(plugin) = pv_plugin(pv) {
            judge(
                "PersistentVolume",
                pv.metadata.name.as_deref().unwrap_or(""),
                &plugin.field,
                &plugin.driver,
                plugin.from,
            );
        }
    }
    for sc in &facts.storage_classes {
        if let Some(plugin) = in_tree().iter().find(|p| p.provisioner == sc.provisioner) {
            judge(
                "StorageClass",
                sc.metadata.name.as_deref().unwrap_or(""),
                &plugin.provisioner,
                &plugin.driver,
                plugin.from,
            );
        }
    }
    out
}

fn is_default(sc: &StorageClass) -> bool {
    sc.metadata.annotations.as_ref().is_some_and(|a| {
        a.get("storageclass.kubernetes.io/is-default-class")
            .map(String::as_str)
            == Some("true")
            || a.get("storageclass.beta.kubernetes.io/is-default-class")
                .map(String::as_str)
                == Some("true")
    })
}

fn default_storage_class(facts: &ClusterFacts, _: &Hop<'_>) -> Vec<Finding> {
    let defaults: Vec<&str> = facts
        .storage_classes
        .iter()
        .filter(|s| is_default(s))
        .filter_map(|s| s.metadata.name.as_deref())
        .collect();
    match defaults.as_slice() {
        [_] => Vec::new(),
        [] => vec![finding("KUP-KUBE-013", Severity::Warning, "Cluster", None, "storage", 
            "no default StorageClass: PVCs without storageClassName stay Pending and the post-upgrade PVC smoke test cannot run; mark one with storageclass.kubernetes.io/is-default-class=true".into())],
        many => vec![finding("KUP-KUBE-013", Severity::Warning, "Cluster", None, "storage", format!(
            "{} default StorageClasses ({}): new PVCs get the newest one; keep exactly one default",
            many.len(),
            many.join(", ")
        ))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_covers_every_in_tree_field_the_check_reads() {
        let fields: Vec<&str> = in_tree().iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "awsElasticBlockStore",
                "gcePersistentDisk",
                "azureDisk",
                "azureFile",
                "cinder",
                "vsphereVolume",
                "portworxVolume"
            ]
        );
        assert!(in_tree().iter().all(|p| p.from >= 21 && p.driver.contains('.')));
    }
}
