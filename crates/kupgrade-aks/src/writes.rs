//! Write bodies for ARM PUTs, built from what a GET returned (api-version 2026-08-01).
//!
//! `ManagedClusters_CreateOrUpdate` and `AgentPools_CreateOrUpdate` are PUTs: a writable
//! property left out of the body falls back to its default (a pool's `count` to 1, say), so an
//! update must carry the resource's writable state. What it must not carry:
//! - properties the spec marks `readOnly` (`provisioningState`, `currentKubernetesVersion`,
//!   `fqdn`, a pool's `eTag`, ...): the list below follows the spec's `readOnly` flags;
//! - writable properties whose mere presence starts another change:
//!   `properties.nodeImageVersion` of a pool (setting it triggers a node-pool rollback),
//!   `creationData` (a snapshot source, for creation only), a pool's `powerState` (starts or
//!   stops it), the cluster's `upgradeSettings.overrideSettings` (`forceUpgrade` bypasses AKS's
//!   deprecated-API block and PDB drain protection) and its `servicePrincipalProfile`
//!   (credentials change through `resetServicePrincipalProfile`; a PUT carrying the profile
//!   can be refused as a credential change).
//!
//! Each is only sent when the caller asked for that change (the force override through
//! `AksClusterBuilder::with_force_upgrade_until`).

use chrono::{DateTime, SecondsFormat, Utc};
use kupgrade_core::{Error, KubeVersion, NodePoolSpec, Result};
use serde_json::{Map, Value, json};

use crate::convert;

/// Top-level fields of an ARM resource that ARM sets (`ProxyResource`/`TrackedResource`), plus
/// the managed cluster's `eTag` and the lower-case spelling some ARM answers use.
const RESOURCE_READ_ONLY: &[&str] = &["id", "name", "type", "systemData", "eTag", "etag"];

/// Read-only paths inside a managed cluster (`*` is any key or array element), from the spec's
/// `readOnly` flags on `ManagedCluster`, `ManagedClusterProperties` and what they reach.
const CLUSTER_READ_ONLY: &[&str] = &[
    "identity/principalId",
    "identity/tenantId",
    "identity/userAssignedIdentities/*/principalId",
    "identity/userAssignedIdentities/*/clientId",
    "properties/provisioningState",
    "properties/powerState",
    "properties/maxAgentPools",
    "properties/currentKubernetesVersion",
    "properties/fqdn",
    "properties/privateFQDN",
    "properties/azurePortalFQDN",
    "properties/resourceUID",
    "properties/status",
    "properties/networkProfile/loadBalancerProfile/effectiveOutboundIPs",
    "properties/networkProfile/natGatewayProfile/effectiveOutboundIPs",
    "properties/oidcIssuerProfile/issuerURL",
    "properties/addonProfiles/*/identity",
    "properties/ingressProfile/webAppRouting/identity",
    "properties/privateLinkResources/*/privateLinkServiceID",
    "properties/podIdentityProfile/userAssignedIdentities/*/provisioningState",
    "properties/podIdentityProfile/userAssignedIdentities/*/provisioningInfo",
];

/// Writable cluster properties that change something by being sent (see the module docs).
const CLUSTER_NOT_ECHOED: &[&str] = &[
    "properties/servicePrincipalProfile",
    "properties/upgradeSettings/overrideSettings",
];

/// Read-only paths of `ManagedClusterAgentPoolProfileProperties`.
const POOL_READ_ONLY: &[&str] = &[
    "eTag",
    "currentOrchestratorVersion",
    "provisioningState",
    "status",
    "localDNSProfile/state",
];

/// Writable pool properties that change something by being sent (see the module docs).
const POOL_NOT_ECHOED: &[&str] = &["nodeImageVersion", "creationData", "powerState"];

/// Removes the value at `path` (segments split by `/`, `*` for every key or element).
fn remove_path(value: &mut Value, path: &[&str]) {
    let Some((head, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        if let Value::Object(map) = value {
            map.remove(*head);
        }
        return;
    }
    match (value, *head) {
        (Value::Object(map), "*") => map.values_mut().for_each(|v| remove_path(v, rest)),
        (Value::Array(items), "*") => items.iter_mut().for_each(|v| remove_path(v, rest)),
        (Value::Object(map), key) => {
            if let Some(v) = map.get_mut(key) {
                remove_path(v, rest);
            }
        }
        _ => {}
    }
}

fn remove_all(value: &mut Value, paths: &[&str]) {
    for p in paths {
        let segments: Vec<&str> = p.split('/').collect();
        remove_path(value, &segments);
    }
}

/// Drops `key` from `map` when it became an empty object.
fn drop_if_empty(map: &mut Map<String, Value>, key: &str) {
    if map
        .get(key)
        .is_some_and(|v| v.as_object().is_some_and(Map::is_empty))
    {
        map.remove(key);
    }
}

/// A pool's writable properties (the `properties` object of an agent pool, or one entry of a
/// cluster's `agentPoolProfiles` with its `name`).
fn writable_pool_properties(props: &Value) -> Value {
    let mut props = props.clone();
    remove_all(&mut props, POOL_READ_ONLY);
    remove_all(&mut props, POOL_NOT_ECHOED);
    props
}

/// The resource's eTag as the spec places it: top-level `eTag` on a managed cluster.
pub(crate) fn cluster_etag(body: &Value) -> Option<&str> {
    body.get("eTag")
        .or_else(|| body.get("etag"))
        .and_then(Value::as_str)
}

/// The resource's eTag as the spec places it: `properties.eTag` on an agent pool.
pub(crate) fn pool_etag(body: &Value) -> Option<&str> {
    body.pointer("/properties/eTag")
        .or_else(|| body.get("eTag"))
        .or_else(|| body.get("etag"))
        .and_then(Value::as_str)
}

fn properties_of(body: &mut Value) -> Result<&mut Map<String, Value>> {
    body.get_mut("properties")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| Error::provider("ARM resource has no properties"))
}

/// The PUT body that moves the control plane to `to` and changes nothing else: the cluster's
/// writable state without its read-only and side-effecting properties, with
/// `kubernetesVersion` set and, only when `force_until` is given, a fresh
/// `upgradeSettings.overrideSettings`.
pub(crate) fn cluster_upgrade(
    get: &Value,
    to: &KubeVersion,
    force_until: Option<DateTime<Utc>>,
) -> Result<Value> {
    let mut body = get.clone();
    if let Value::Object(map) = &mut body {
        for key in RESOURCE_READ_ONLY {
            map.remove(*key);
        }
    }
    remove_all(&mut body, CLUSTER_READ_ONLY);
    remove_all(&mut body, CLUSTER_NOT_ECHOED);
    let properties = properties_of(&mut body)?;
    if let Some(Value::Array(pools)) = properties.get_mut("agentPoolProfiles") {
        for pool in pools.iter_mut() {
            *pool = writable_pool_properties(pool);
        }
    }
    properties.insert("kubernetesVersion".into(), json!(convert::wire_version(to)));
    if let Some(until) = force_until {
        let settings = properties.entry("upgradeSettings").or_insert_with(|| json!({}));
        if let Some(s) = settings.as_object_mut() {
            s.insert(
                "overrideSettings".into(),
                json!({"forceUpgrade": true, "until": until.to_rfc3339_opts(SecondsFormat::Secs, true)}),
            );
        }
    }
    drop_if_empty(properties, "upgradeSettings");
    Ok(body)
}

/// The PUT body that moves a pool to `to`: its writable properties without the read-only and
/// side-effecting ones, `orchestratorVersion` set, and its own `upgradeSettings` with only the
/// fields in `settings_changes` replaced (none: the pool's settings go back unchanged).
pub(crate) fn pool_upgrade(
    get: &Value,
    to: &KubeVersion,
    settings_changes: Option<&Map<String, Value>>,
) -> Result<Value> {
    let props = get
        .get("properties")
        .ok_or_else(|| Error::provider("ARM agent pool has no properties"))?;
    let mut props = writable_pool_properties(props);
    let map = props
        .as_object_mut()
        .ok_or_else(|| Error::provider("ARM agent pool properties are not an object"))?;
    map.insert("orchestratorVersion".into(), json!(convert::wire_version(to)));
    if let Some(changes) = settings_changes.filter(|c| !c.is_empty()) {
        let settings = map.entry("upgradeSettings").or_insert_with(|| json!({}));
        if let Some(s) = settings.as_object_mut() {
            s.extend(changes.clone());
        }
    }
    Ok(json!({ "properties": props }))
}

/// The PUT body of a new pool cloned from `source` (its writable properties, same exclusions
/// as an update) with the spec's count, version, labels and taints.
pub(crate) fn pool_create(source: &Value, spec: &NodePoolSpec) -> Result<Value> {
    let mut props = source
        .get("properties")
        .map(writable_pool_properties)
        .unwrap_or_else(|| json!({}));
    let map = props
        .as_object_mut()
        .ok_or_else(|| Error::provider("ARM agent pool properties are not an object"))?;
    map.insert("count".into(), json!(spec.nodes));
    map.insert(
        "orchestratorVersion".into(),
        json!(convert::wire_version(&spec.version)),
    );
    if !spec.labels.is_empty() {
        map.insert("nodeLabels".into(), json!(spec.labels));
    }
    if !spec.taints.is_empty() {
        let taints: Vec<String> = spec.taints.iter().map(convert::format_taint).collect();
        map.insert("nodeTaints".into(), json!(taints));
    }
    Ok(json!({ "properties": props }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLUSTER_GET: &str = include_str!("../tests/fixtures/ManagedClustersGet.json");
    const POOL_GET: &str = include_str!("../tests/fixtures/AgentPoolsGet.json");

    fn example(raw: &str) -> Value {
        let v: Value = serde_json::from_str(raw).unwrap();
        v["responses"]["200"]["body"].clone()
    }

    fn v(s: &str) -> KubeVersion {
        KubeVersion::parse(s).unwrap()
    }

    #[test]
    fn etags_are_read_where_the_spec_puts_them() {
        assert_eq!(cluster_etag(&example(CLUSTER_GET)), Some("beywbwei"));
        assert_eq!(pool_etag(&example(POOL_GET)), Some("ebwiyfneowv"));
        assert_eq!(pool_etag(&json!({"properties": {}})), None);
    }

    #[test]
    fn a_cluster_update_sends_no_read_only_credential_or_override_field() {
        let get = example(CLUSTER_GET);
        let body = cluster_upgrade(&get, &v("1.10"), None).unwrap();
        let p = &body["properties"];
        assert_eq!(p["kubernetesVersion"], "1.10");
        for gone in [
            "provisioningState",
            "currentKubernetesVersion",
            "fqdn",
            "azurePortalFQDN",
            "maxAgentPools",
            "servicePrincipalProfile",
            "upgradeSettings",
        ] {
            assert!(p.get(gone).is_none(), "{gone} was echoed: {p}");
        }
        for gone in ["id", "name", "type", "eTag"] {
            assert!(body.get(gone).is_none(), "{gone} was echoed");
        }
        assert!(
            p.pointer("/networkProfile/loadBalancerProfile/effectiveOutboundIPs")
                .is_none()
        );
        let pool = &p["agentPoolProfiles"][0];
        for gone in [
            "eTag",
            "nodeImageVersion",
            "provisioningState",
            "currentOrchestratorVersion",
        ] {
            assert!(pool.get(gone).is_none(), "pool {gone} was echoed: {pool}");
        }
        assert_eq!(pool["orchestratorVersion"], "1.9.6", "pools stay where they are");
        assert_eq!(pool["upgradeSettings"]["maxSurge"], "33%");
        assert_eq!(body["location"], "location1");
        assert_eq!(body["tags"]["tier"], "production");
        assert_eq!(p["dnsPrefix"], "dnsprefix1");
        assert_eq!(p["linuxProfile"]["ssh"]["publicKeys"][0]["keyData"], "keydata");
    }

    #[test]
    fn a_force_override_is_sent_only_when_asked_for_and_fresh() {
        let get = example(CLUSTER_GET);
        let until: DateTime<Utc> = "2026-12-03T10:00:00Z".parse().unwrap();
        let body = cluster_upgrade(&get, &v("1.10"), Some(until)).unwrap();
        assert_eq!(
            body["properties"]["upgradeSettings"]["overrideSettings"],
            json!({"forceUpgrade": true, "until": "2026-12-03T10:00:00Z"})
        );
    }

    #[test]
    fn a_pool_update_keeps_its_upgrade_settings_unless_changes_are_given() {
        let get = example(POOL_GET);
        let body = pool_upgrade(&get, &v("1.10"), None).unwrap();
        let p = &body["properties"];
        assert_eq!(p["orchestratorVersion"], "1.10");
        assert_eq!(p["upgradeSettings"], json!({"maxSurge": "33%"}));
        assert_eq!(p["count"], 3, "a PUT without count would scale the pool to 1");
        for gone in [
            "eTag",
            "nodeImageVersion",
            "provisioningState",
            "currentOrchestratorVersion",
        ] {
            assert!(p.get(gone).is_none(), "{gone} was echoed: {p}");
        }
        assert!(body.get("name").is_none() && body.get("id").is_none());

        let mut changes = Map::new();
        changes.insert("drainTimeoutInMinutes".into(), json!(45));
        let body = pool_upgrade(&get, &v("1.10"), Some(&changes)).unwrap();
        assert_eq!(
            body["properties"]["upgradeSettings"],
            json!({"maxSurge": "33%", "drainTimeoutInMinutes": 45})
        );
    }

    #[test]
    fn a_new_pool_clones_writable_settings_only() {
        let get = example(POOL_GET);
        let spec = NodePoolSpec {
            name: "green".into(),
            clone_of: "agentpool1".into(),
            version: v("1.10"),
            nodes: 5,
            labels: [("role".to_string(), "green".to_string())].into_iter().collect(),
            taints: Vec::new(),
        };
        let body = pool_create(&get, &spec).unwrap();
        let p = &body["properties"];
        assert_eq!(
            (p["count"].as_u64(), p["vmSize"].as_str()),
            (Some(5), Some("Standard_DS1_v2"))
        );
        assert_eq!(p["nodeLabels"]["role"], "green");
        assert!(p.get("nodeImageVersion").is_none() && p.get("eTag").is_none());
    }
}
