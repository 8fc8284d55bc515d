//! The CRDs shipped in `deploy/operator/crds.yaml` are the ones the Rust types generate, and
//! they carry what users rely on: printer columns, status subresources, the immutability rules.

use kupgrade_operator::resources::{crds, crds_yaml};

#[test]
fn the_shipped_yaml_is_what_the_types_generate() {
    let shipped = include_str!("../../../deploy/operator/crds.yaml");
    assert!(
        shipped == crds_yaml(),
        "deploy/operator/crds.yaml is stale; regenerate it with `cargo run -p kupgrade-operator -- crds > deploy/operator/crds.yaml`"
    );
}

#[test]
fn the_crds_carry_columns_status_and_immutability() {
    let all = crds();
    let names: Vec<&str> = all.iter().map(|c| c.spec.names.kind.as_str()).collect();
    assert_eq!(
        names,
        [
            "ManagedClusterRef",
            "UpgradeStrategy",
            "UpgradeRun",
            "UpgradeApproval"
        ]
    );
    for crd in &all {
        assert_eq!(crd.spec.group, "kupgrade.io");
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(
            crd.spec.names.categories.as_deref(),
            Some(&["kupgrade".to_string()][..])
        );
    }
    let run = all.iter().find(|c| c.spec.names.kind == "UpgradeRun").unwrap();
    let version = &run.spec.versions[0];
    let columns: Vec<&str> = version
        .additional_printer_columns
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(columns, ["Target", "Stage", "Progress", "Result", "Age"]);
    assert!(version.subresources.as_ref().unwrap().status.is_some());
    let schema = serde_json::to_string(&version.schema).unwrap();
    assert!(schema.contains("targetVersion cannot change"), "{schema}");
    assert!(schema.contains("strategyRef cannot change"));
    assert!(schema.contains(r#""rule":"self == oldSelf""#));
    let strategy = all
        .iter()
        .find(|c| c.spec.names.kind == "UpgradeStrategy")
        .unwrap();
    let schema = serde_json::to_string(&strategy.spec.versions[0].schema).unwrap();
    assert!(schema.contains("a strategy needs at least one stage"));
}
