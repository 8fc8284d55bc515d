//! The security check after an upgrade: kube-bench (CIS Kubernetes Benchmark) run as a Job in a
//! temporary namespace, its JSON results summarized as findings (`KUP-SEC-001`). The namespace
//! is deleted even when a step fails.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams};
use kupgrade_core::checks::{Finding, Severity, Subject};
use kupgrade_core::{Error, Result};
use serde::Deserialize;

use crate::kube_error;

/// Settings of the kube-bench run.
#[derive(Debug, Clone)]
pub struct KubeBenchOptions {
    /// The kube-bench image.
    pub image: String,
    /// Extra arguments after `kube-bench run` (e.g. `--benchmark eks-1.5.0`); `--json` is always added.
    pub args: Vec<String>,
    /// How long the Job may take.
    pub timeout: Duration,
}

impl Default for KubeBenchOptions {
    fn default() -> Self {
        Self {
            image: "docker.io/aquasec/kube-bench:latest".into(),
            args: vec!["--targets".into(), "node".into()],
            timeout: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Output {
    Wrapped {
        #[serde(rename = "Controls")]
        controls: Vec<Controls>,
    },
    Bare(Vec<Controls>),
}

#[derive(Debug, Deserialize)]
struct Controls {
    #[serde(default)]
    text: String,
    #[serde(default)]
    tests: Vec<Group>,
}

#[derive(Debug, Deserialize)]
struct Group {
    #[serde(default)]
    results: Vec<Check>,
}

#[derive(Debug, Deserialize)]
struct Check {
    #[serde(default)]
    test_number: String,
    #[serde(default)]
    test_desc: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    remediation: String,
}

/// Summarizes kube-bench `--json` output: one warning per FAIL, one info line with the counts.
pub fn summarize(json: &str) -> Result<Vec<Finding>> {
    let out: Output = serde_json::from_str(json.trim())
        .map_err(|e| Error::provider(format!("kube-bench output is not its JSON report: {e}")))?;
    let controls = match out {
        Output::Wrapped { controls } | Output::Bare(controls) => controls,
    };
    let (mut pass, mut fail, mut warn) = (0, 0, 0);
    let mut findings = Vec::new();
    for c in &controls {
        for check in c.tests.iter().flat_map(|g| &g.results) {
            match check.status.as_str() {
                "PASS" => pass += 1,
                "WARN" => warn += 1,
                "FAIL" => {
                    fail += 1;
                    let fix = check.remediation.lines().next().unwrap_or("").trim();
                    findings.push(Finding {
                        id: "KUP-SEC-001".into(),
                        severity: Severity::Warning,
                        message: format!(
                            "CIS {} failed: {} ({}){}",
                            check.test_number,
                            check.test_desc,
                            c.text,
                            if fix.is_empty() {
                                String::new()
                            } else {
                                format!("; fix: {fix}")
                            }
                        ),
                        subject: Subject::new("Benchmark", &check.test_number),
                        hop: None,
                        api: None,
                        hint: None,
                    });
                }
                _ => {}
            }
        }
    }
    findings.push(Finding {
        id: "KUP-SEC-001".into(),
        severity: Severity::Info,
        message: format!("kube-bench: {pass} passed, {fail} failed, {warn} to review by hand"),
        subject: Subject::new("Benchmark", "kube-bench"),
        hop: None,
        api: None,
        hint: None,
    });
    Ok(findings)
}

/// Runs kube-bench as a Job on one node (host PID and read-only host paths, in a temporary
/// namespace labelled for privileged pods), reads its log and summarizes it; the namespace is
/// deleted afterwards whatever happened.
pub async fn run_kube_bench(client: &Client, options: &KubeBenchOptions) -> Result<Vec<Finding>> {
    let suffix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() % 1_000_000)
        .unwrap_or(0);
    let ns = format!("kupgrade-bench-{suffix}");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let body: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": ns, "labels": {
        "app.kubernetes.io/managed-by": "kupgrade", "pod-security.kubernetes.io/enforce": "privileged"}}}))
    .map_err(|e| Error::provider(e.to_string()))?;
    namespaces
        .create(&PostParams::default(), &body)
        .await
        .map_err(kube_error)?;
    let result = bench_steps(client, &ns, options).await;
    let cleanup = namespaces.delete(&ns, &DeleteParams::background()).await;
    let mut findings = match result {
        Ok(f) => f,
        Err(e) => vec![Finding {
            id: "KUP-SEC-001".into(),
            severity: Severity::Warning,
            message: format!("kube-bench could not run: {e}"),
            subject: Subject::new("Namespace", &ns),
            hop: None,
            api: None,
            hint: None,
        }],
    };
    if let Err(e) = cleanup {
        findings.push(Finding {
            id: "KUP-SEC-001".into(),
            severity: Severity::Warning,
            message: format!(
                "could not delete namespace {ns} ({}); delete it with `kubectl delete namespace {ns}`",
                kube_error(e)
            ),
            subject: Subject::new("Namespace", &ns),
            hop: None,
            api: None,
            hint: None,
        });
    }
    Ok(findings)
}

async fn bench_steps(client: &Client, ns: &str, options: &KubeBenchOptions) -> Result<Vec<Finding>> {
    let mut args = vec!["run".to_string()];
    args.extend(options.args.iter().cloned());
    args.push("--json".into());
    let host = |name: &str, path: &str| serde_json::json!({"name": name, "hostPath": {"path": path}});
    let mount =
        |name: &str, path: &str| serde_json::json!({"name": name, "mountPath": path, "readOnly": true});
    let job: Job = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "kube-bench"},
        "spec": {"backoffLimit": 0, "template": {"metadata": {"labels": {"app": "kupgrade-kube-bench"}}, "spec": {
            "hostPID": true, "restartPolicy": "Never",
            "containers": [{"name": "kube-bench", "image": options.image, "command": ["kube-bench"], "args": args,
                "volumeMounts": [mount("var-lib-kubelet", "/var/lib/kubelet"), mount("etc-systemd", "/etc/systemd"),
                    mount("etc-kubernetes", "/etc/kubernetes"), mount("etc-default", "/etc/default")]}],
            "volumes": [host("var-lib-kubelet", "/var/lib/kubelet"), host("etc-systemd", "/etc/systemd"),
                host("etc-kubernetes", "/etc/kubernetes"), host("etc-default", "/etc/default")]
        }}}
    }))
    .map_err(|e| Error::provider(e.to_string()))?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
    jobs.create(&PostParams::default(), &job)
        .await
        .map_err(kube_error)?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let start = tokio::time::Instant::now();
    let pod = loop {
        let list = pods
            .list(&ListParams::default().labels("app=kupgrade-kube-bench"))
            .await
            .map_err(kube_error)?;
        if let Some(p) = list.items.into_iter().find(|p| {
            matches!(
                p.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            )
        }) {
            break p;
        }
        if start.elapsed() >= options.timeout {
            return Err(Error::Timeout {
                what: "the kube-bench Job".into(),
                after: options.timeout,
            });
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    };
    let name = pod.metadata.name.clone().unwrap_or_default();
    let log = pods
        .logs(&name, &LogParams::default())
        .await
        .map_err(kube_error)?;
    summarize(&log)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fails_become_warnings_and_counts_an_info() {
        let json = r#"{"Controls":[{"id":"4","text":"Worker Node Security Configuration","tests":[{"section":"4.2","results":[
            {"test_number":"4.2.1","test_desc":"Ensure that the --anonymous-auth argument is set to false","status":"FAIL","remediation":"Set authentication: anonymous: enabled: false\nin the kubelet config"},
            {"test_number":"4.2.2","test_desc":"Ensure authorization mode is not AlwaysAllow","status":"PASS"},
            {"test_number":"4.2.6","test_desc":"Ensure protectKernelDefaults is true","status":"WARN"}]}]}],
            "Totals":{"total_pass":1,"total_fail":1,"total_warn":1,"total_info":0}}"#;
        let f = summarize(json).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(
            f[0].message.contains("CIS 4.2.1 failed") && f[0].message.contains("fix: Set authentication"),
            "{}",
            f[0].message
        );
        assert_eq!(
            f[1].message,
            "kube-bench: 1 passed, 1 failed, 1 to review by hand"
        );
        // Older kube-bench prints a bare list of controls.
        assert_eq!(summarize(r#"[{"text":"x","tests":[]}]"#).unwrap().len(), 1);
        assert!(summarize("level=error msg=cannot detect").is_err());
    }
}
