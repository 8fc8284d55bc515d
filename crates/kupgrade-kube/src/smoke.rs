//! Post-upgrade checks (`KUP-POST-*`): an API smoke test in a temporary namespace (a pod, a
//! service that finds it, a PVC on the default StorageClass that binds), removed even when a
//! step fails; workload health compared with the pre-upgrade snapshot; every node at the
//! target; and the user's own check commands (e.g. `k6 run smoke-test.js`), whose exit code is
//! the verdict.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kupgrade_core::checks::{Finding, Severity, Subject};
use kupgrade_core::{Error, HealthSnapshot, KubeVersion, Node, Result};

use crate::kube_error;

fn finding(id: &str, severity: Severity, kind: &str, name: &str, message: String) -> Finding {
    Finding {
        id: id.into(),
        severity,
        message,
        subject: Subject::new(kind, name),
        hop: None,
        api: None,
        hint: None,
    }
}

/// KUP-POST-001: what was healthy before the upgrade and is not now (nodes, pods, workloads).
/// Problems that existed before are not blamed on the upgrade.
pub fn compare_health(before: &HealthSnapshot, after: &HealthSnapshot) -> Vec<Finding> {
    let mut out = Vec::new();
    for node in after
        .nodes_not_ready
        .iter()
        .filter(|n| !before.nodes_not_ready.contains(n))
    {
        out.push(finding(
            "KUP-POST-001",
            Severity::Blocker,
            "Node",
            node,
            format!("node {node} was Ready before the upgrade and is NotReady now"),
        ));
    }
    for pod in after
        .pods_failing
        .iter()
        .filter(|p| !before.pods_failing.contains(p))
    {
        out.push(Finding {
            subject: Subject {
                kind: "Pod".into(),
                namespace: Some(pod.namespace.clone()),
                name: pod.name.clone(),
            },
            ..finding(
                "KUP-POST-001",
                Severity::Warning,
                "Pod",
                "",
                format!("pod {pod} is failing after the upgrade and was not before"),
            )
        });
    }
    for w in after
        .workloads_unavailable
        .iter()
        .filter(|w| !before.workloads_unavailable.contains(w))
    {
        out.push(finding(
            "KUP-POST-001",
            Severity::Blocker,
            "Workload",
            w,
            format!("{w} was available before the upgrade and is not now"),
        ));
    }
    out
}

/// KUP-POST-002: nodes whose kubelet is not at the target minor.
pub fn nodes_at_target(nodes: &[Node], target: &KubeVersion) -> Vec<Finding> {
    nodes
        .iter()
        .filter(|n| !n.kubelet.same_minor(target))
        .map(|n| {
            finding(
                "KUP-POST-002",
                Severity::Blocker,
                "Node",
                &n.name,
                format!(
                    "node {} (pool {}) runs kubelet {}, not {}",
                    n.name,
                    if n.pool.is_empty() { "-" } else { &n.pool },
                    n.kubelet,
                    target.minor_version()
                ),
            )
        })
        .collect()
}

/// The result of a user check command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookOutcome {
    /// The command.
    pub command: String,
    /// Its exit code (`None`: killed by a signal or the timeout).
    pub exit_code: Option<i32>,
    /// The last lines of its output (stdout then stderr), for the report.
    pub tail: String,
}

impl HookOutcome {
    /// Whether it passed (exit code 0).
    pub fn passed(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// KUP-POST-003 when it failed.
    pub fn finding(&self) -> Option<Finding> {
        (!self.passed()).then(|| {
            finding(
                "KUP-POST-003",
                Severity::Blocker,
                "Command",
                &self.command,
                format!(
                    "check command `{}` {}; last output: {}",
                    self.command,
                    match self.exit_code {
                        Some(c) => format!("exited with {c}"),
                        None => "was killed or timed out".into(),
                    },
                    self.tail.trim()
                ),
            )
        })
    }
}

/// Runs a user check command through `sh -c` (e.g. `k6 run smoke-test.js`) with a timeout.
pub async fn run_hook(command: &str, timeout: Duration) -> Result<HookOutcome> {
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Error::invalid_input(format!("cannot run check command `{command}`: {e}")))?;
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
            Ok(HookOutcome {
                command: command.into(),
                exit_code: out.status.code(),
                tail,
            })
        }
        Ok(Err(e)) => Err(Error::invalid_input(format!(
            "check command `{command}` failed to run: {e}"
        ))),
        Err(_) => Ok(HookOutcome {
            command: command.into(),
            exit_code: None,
            tail: format!("timed out after {}s", timeout.as_secs()),
        }),
    }
}

/// Settings of the API smoke test.
#[derive(Debug, Clone)]
pub struct SmokeOptions {
    /// The image of the test pod (must serve nothing; it only has to start).
    pub image: String,
    /// How long each wait may take.
    pub timeout: Duration,
    /// Also create a PVC on the default StorageClass and wait for it to bind.
    pub pvc: bool,
}

impl Default for SmokeOptions {
    fn default() -> Self {
        Self {
            image: "registry.k8s.io/pause:3.10".into(),
            timeout: Duration::from_secs(180),
            pvc: true,
        }
    }
}

/// KUP-POST-004: creates a temporary namespace with a pod (mounting a PVC on the default
/// StorageClass when `options.pvc`) and a service selecting it, waits for the pod to run, the
/// claim to bind and the service to get an endpoint, then deletes the namespace, also when a
/// step failed. Returns the failures as findings (empty: the API works).
pub async fn api_smoke(client: &Client, options: &SmokeOptions) -> Result<Vec<Finding>> {
    let suffix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() % 1_000_000)
        .unwrap_or(0);
    let ns = format!("kupgrade-smoke-{suffix}");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let body: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {"name": ns, "labels": {"app.kubernetes.io/managed-by": "kupgrade"}}
    }))
    .map_err(|e| Error::provider(e.to_string()))?;
    namespaces
        .create(&PostParams::default(), &body)
        .await
        .map_err(kube_error)?;
    let result = smoke_steps(client, &ns, options).await;
    // Clean up whatever happened.
    let cleanup = namespaces.delete(&ns, &DeleteParams::background()).await;
    let mut findings = match result {
        Ok(()) => Vec::new(),
        Err(e) => vec![finding(
            "KUP-POST-004",
            Severity::Blocker,
            "Namespace",
            &ns,
            format!("API smoke test failed: {e}"),
        )],
    };
    if let Err(e) = cleanup {
        findings.push(finding("KUP-POST-004", Severity::Warning, "Namespace", &ns, format!(
            "could not delete the smoke-test namespace ({}); delete it with `kubectl delete namespace {ns}`",
            kube_error(e)
        )));
    }
    Ok(findings)
}

async fn smoke_steps(client: &Client, ns: &str, options: &SmokeOptions) -> Result<()> {
    let pp = PostParams::default();
    if options.pvc {
        let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
        let claim: PersistentVolumeClaim = parse(serde_json::json!({
            "metadata": {"name": "smoke"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
        }))?;
        pvcs.create(&pp, &claim).await.map_err(kube_error)?;
    }
    let mut pod = serde_json::json!({
        "metadata": {"name": "smoke", "labels": {"app": "kupgrade-smoke"}},
        "spec": {"containers": [{"name": "smoke", "image": options.image}], "terminationGracePeriodSeconds": 0}
    });
    if options.pvc {
        pod["spec"]["volumes"] =
            serde_json::json!([{"name": "data", "persistentVolumeClaim": {"claimName": "smoke"}}]);
        pod["spec"]["containers"][0]["volumeMounts"] =
            serde_json::json!([{"name": "data", "mountPath": "/data"}]);
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    pods.create(&pp, &parse(pod)?).await.map_err(kube_error)?;
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let svc: Service = parse(serde_json::json!({
        "metadata": {"name": "smoke"},
        "spec": {"selector": {"app": "kupgrade-smoke"}, "ports": [{"port": 80, "targetPort": 80}]}
    }))?;
    services.create(&pp, &svc).await.map_err(kube_error)?;
    wait_for(options.timeout, "the smoke pod to run", || async {
        let p = pods.get("smoke").await.map_err(kube_error)?;
        Ok(p.status.and_then(|s| s.phase).as_deref() == Some("Running"))
    })
    .await?;
    if options.pvc {
        let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
        wait_for(
            options.timeout,
            "the smoke PVC to bind on the default StorageClass",
            || async {
                let c = pvcs.get("smoke").await.map_err(kube_error)?;
                Ok(c.status.and_then(|s| s.phase).as_deref() == Some("Bound"))
            },
        )
        .await?;
    }
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
    wait_for(
        options.timeout,
        "the smoke service to get an endpoint",
        || async {
            let list = slices
                .list(&ListParams::default().labels("kubernetes.io/service-name=smoke"))
                .await
                .map_err(kube_error)?;
            Ok(list
                .items
                .iter()
                .any(|s| s.endpoints.as_ref().is_some_and(|e| !e.is_empty())))
        },
    )
    .await
}

fn parse<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| Error::provider(e.to_string()))
}

async fn wait_for<F, Fut>(timeout: Duration, what: &str, mut probe: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let start = tokio::time::Instant::now();
    loop {
        if probe().await? {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            return Err(Error::Timeout {
                what: what.into(),
                after: timeout,
            });
        }
        tokio::time::sleep(Duration::from_secs(2).min(timeout)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kupgrade_core::PodRef;

    #[test]
    fn only_new_problems_are_blamed_on_the_upgrade() {
        let pod = |n: &str| PodRef {
            namespace: "shop".into(),
            name: n.into(),
        };
        let before = HealthSnapshot {
            nodes: 2,
            nodes_not_ready: vec![],
            pods: 3,
            pods_failing: vec![pod("old-crash")],
            workloads_unavailable: vec!["Deployment shop/legacy".into()],
        };
        let after = HealthSnapshot {
            nodes_not_ready: vec!["n2".into()],
            pods_failing: vec![pod("old-crash"), pod("web-1")],
            workloads_unavailable: vec!["Deployment shop/legacy".into(), "Deployment shop/web".into()],
            ..before.clone()
        };
        let f = compare_health(&before, &after);
        let subjects: Vec<&str> = f.iter().map(|f| f.subject.name.as_str()).collect();
        assert_eq!(subjects, vec!["n2", "web-1", "Deployment shop/web"]);
        assert_eq!(f[1].subject.namespace.as_deref(), Some("shop"));
    }

    #[test]
    fn nodes_off_target_are_named() {
        let node = |name: &str, v: &str| Node {
            name: name.into(),
            pool: "general".into(),
            kubelet: KubeVersion::parse(v).unwrap(),
            ready: true,
            unschedulable: false,
        };
        let f = nodes_at_target(
            &[node("a", "1.31.2"), node("b", "1.30.9")],
            &KubeVersion::parse("1.31").unwrap(),
        );
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message
                .contains("node b (pool general) runs kubelet 1.30.9, not 1.31"),
            "{}",
            f[0].message
        );
    }

    #[tokio::test]
    async fn hook_exit_code_is_the_verdict() {
        let ok = run_hook("echo all good", Duration::from_secs(10)).await.unwrap();
        assert!(ok.passed() && ok.finding().is_none());
        let bad = run_hook("echo 3 checks failed >&2; exit 4", Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(bad.exit_code, Some(4));
        let f = bad.finding().unwrap();
        assert!(
            f.message.contains("exited with 4") && f.message.contains("3 checks failed"),
            "{}",
            f.message
        );
        let slow = run_hook("sleep 5", Duration::from_millis(200)).await.unwrap();
        assert!(!slow.passed() && slow.tail.contains("timed out"));
    }
}
