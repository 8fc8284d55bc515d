//! The `kupgrade scan` contract (ARCHITECTURE.md): JSON fields, exit codes 0/2/3, skipped
//! files, malformed documents naming file and index; and `kupgrade check` failing cleanly.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn kupgrade(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kupgrade"))
        .args(args)
        .output()
        .unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

const PDB_V1BETA1: &str = "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  minAvailable: 1\n";
const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n";

#[test]
fn json_findings_have_every_contract_field_and_exit_3_when_removed() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "pdb.yaml", PDB_V1BETA1);
    let out = kupgrade(&["scan", &file, "--target", "1.25", "--output", "json"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let v = json(&out);
    let f = &v["findings"][0];
    let keys = [
        "file",
        "kind",
        "name",
        "namespace",
        "api_version",
        "replacement",
        "deprecated_in",
        "removed_in",
        "deprecated",
        "removed",
    ];
    for key in keys {
        assert!(f.get(key).is_some(), "missing {key}: {f}");
    }
    assert_eq!(f["file"], file.as_str());
    assert_eq!(f["kind"], "PodDisruptionBudget");
    assert_eq!(f["name"], "web");
    assert_eq!(f["namespace"], "shop");
    assert_eq!(f["api_version"], "policy/v1beta1");
    assert_eq!(f["replacement"], "policy/v1");
    assert_eq!(f["deprecated_in"], "1.21");
    assert_eq!(f["removed_in"], "1.25");
    assert_eq!(f["deprecated"], true);
    assert_eq!(f["removed"], true);
}

#[test]
fn exit_2_when_only_deprecated_and_0_when_clean() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "pdb.yaml", PDB_V1BETA1);
    let out = kupgrade(&["scan", &file, "--target", "1.22", "--output", "json"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let v = json(&out);
    assert_eq!(v["findings"][0]["deprecated"], true);
    assert_eq!(v["findings"][0]["removed"], false);
    let clean = write(dir.path(), "deploy.yaml", DEPLOYMENT);
    let out = kupgrade(&["scan", &clean, "--target", "1.36", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json(&out)["findings"].as_array().unwrap().len(), 0);
}

#[test]
fn folders_lists_json_and_helm_template_output() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    write(
        dir.path(),
        "sub/rendered.yaml",
        &format!(
            "---\n# Source: web/templates/pdb.yaml\n{PDB_V1BETA1}---\n# Source: web/templates/deploy.yaml\n{DEPLOYMENT}"
        ),
    );
    write(
        dir.path(),
        "list.json",
        r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"batch/v1beta1","kind":"CronJob","metadata":{"name":"nightly"}}]}"#,
    );
    write(dir.path(), "README.md", "not scanned: not a manifest extension");
    let out = kupgrade(&[
        "scan",
        &dir.path().display().to_string(),
        "--target",
        "1.25",
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let v = json(&out);
    let kinds: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["CronJob", "PodDisruptionBudget"]);
}

#[test]
fn helm_release_secrets_are_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let release = serde_json::json!({
        "name": "web", "namespace": "shop", "version": 4,
        "info": {"status": "deployed"},
        "chart": {"metadata": {"name": "web", "version": "2.0.0"}},
        "manifest": format!("---\n{PDB_V1BETA1}"),
    });
    let data = kupgrade_kube::helm::encode_secret_data(&release.to_string());
    let secret = format!(
        "apiVersion: v1\nkind: Secret\ntype: helm.sh/release.v1\nmetadata:\n  name: sh.helm.release.v1.web.v4\n  namespace: shop\n  labels: {{owner: helm}}\ndata:\n  release: {data}\n"
    );
    let file = write(dir.path(), "release.yaml", &secret);
    let out = kupgrade(&["scan", &file, "--target", "1.25", "--output", "json"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let v = json(&out);
    let f = &v["findings"][0];
    assert_eq!(f["kind"], "PodDisruptionBudget");
    assert!(
        f["file"]
            .as_str()
            .unwrap()
            .contains("helm release shop/web revision 4"),
        "{f}"
    );
}

#[test]
fn non_manifests_are_skipped_and_malformed_documents_named() {
    let dir = tempfile::tempdir().unwrap();
    let values = write(dir.path(), "values.yaml", "replicaCount: 2\n");
    let bad = write(
        dir.path(),
        "bad.yaml",
        &format!("{DEPLOYMENT}---\nkind: [oops\n---\n{PDB_V1BETA1}"),
    );
    let binary = dir.path().join("blob.yaml");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x81]).unwrap();
    let out = kupgrade(&[
        "scan",
        &values,
        &bad,
        &binary.display().to_string(),
        "--target",
        "1.25",
        "--output",
        "json",
    ]);
    // Unreadable inputs make the scan incomplete: exit 1, even with a removed API found.
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v = json(&out);
    let skipped = v["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("not a Kubernetes manifest")
    );
    assert_eq!(skipped[0]["unreadable"], false);
    assert_eq!(skipped[1]["file"], bad.as_str());
    assert_eq!(skipped[1]["document"], 2);
    assert_eq!(skipped[1]["unreadable"], true);
    // The malformed document starts at line 6 of the file; its error counts from there.
    let reason = skipped[1]["reason"].as_str().unwrap();
    assert!(reason.starts_with("malformed YAML"), "{reason}");
    assert!(reason.contains("line 6 column 7"), "{reason}");
    assert!(skipped[2]["reason"].as_str().unwrap().contains("UTF-16"));
    assert_eq!(skipped[2]["unreadable"], true);
    // The malformed document does not hide the good one after it.
    assert_eq!(v["findings"][0]["kind"], "PodDisruptionBudget");
    // Opting out explicitly: the findings decide (3: removed).
    let out = kupgrade(&["scan", &bad, "--target", "1.25", "--allow-unreadable"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    // Text output names file and document on one line, and says why the exit is 1.
    let out = kupgrade(&["scan", &bad, "--target", "1.25"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("unreadable {bad}: document 2: malformed YAML")),
        "{text}"
    );
    assert!(text.contains("--allow-unreadable"), "{text}");
}

/// Runs kupgrade, killing it and failing the test if it has not finished in `secs` seconds.
fn kupgrade_within(secs: u64, args: &[&str]) -> Output {
    use std::time::{Duration, Instant};
    let mut child = Command::new(env!("CARGO_BIN_EXE_kupgrade"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("kupgrade {args:?} still running after {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[cfg(unix)]
#[test]
fn symlink_loops_fifos_sockets_and_hidden_files_end_quickly_and_each_file_is_read_once() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("manifests");
    std::fs::create_dir_all(root.join("apps")).unwrap();
    write(&root, "apps/pdb.yaml", PDB_V1BETA1);
    // A loop (`self -> .`), a loop through the parent, and a second link to the same file.
    symlink(".", root.join("self")).unwrap();
    symlink("..", root.join("apps/up")).unwrap();
    symlink("apps/pdb.yaml", root.join("same-pdb.yaml")).unwrap();
    symlink("missing.yaml", root.join("broken.yaml")).unwrap();
    // A FIFO nobody writes to: opening it would block forever.
    let fifo = root.join("pipe.yaml");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    let _socket = std::os::unix::net::UnixListener::bind(root.join("agent.sock")).unwrap();
    // Hidden entries are listed as skipped, not scanned.
    std::fs::create_dir(root.join(".git")).unwrap();
    write(&root, ".hidden.yaml", PDB_V1BETA1);
    let out = kupgrade_within(
        20,
        &[
            "scan",
            &root.display().to_string(),
            "--target",
            "1.25",
            "--output",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let v = json(&out);
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(
        findings.len(),
        1,
        "one file, however many paths lead to it: {findings:?}"
    );
    let skipped: Vec<(String, String)> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["unreadable"], false, "{s}");
            (
                s["file"].as_str().unwrap().to_string(),
                s["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let reason = |name: &str| -> &str {
        skipped
            .iter()
            .find(|(f, _)| f.ends_with(name))
            .map(|(_, r)| r.as_str())
            .unwrap_or_else(|| panic!("{name} not in skipped: {skipped:?}"))
    };
    assert!(reason("/pipe.yaml").contains("FIFO"), "{skipped:?}");
    assert!(reason("/agent.sock").contains("socket"), "{skipped:?}");
    assert!(reason("/self").contains("not followed again"), "{skipped:?}");
    assert!(reason("/apps/up").contains("not followed again"), "{skipped:?}");
    assert!(
        reason("/broken.yaml").contains("broken symbolic link"),
        "{skipped:?}"
    );
    assert!(reason("/.git").contains("hidden"), "{skipped:?}");
    assert!(reason("/.hidden.yaml").contains("hidden"), "{skipped:?}");
    assert_eq!(skipped.len(), 7, "{skipped:?}");
    // A hidden file named on the command line is scanned.
    let out = kupgrade(&[
        "scan",
        &root.join(".hidden.yaml").display().to_string(),
        "--target",
        "1.25",
    ]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
}

#[test]
fn unreadable_inputs_fail_the_scan_unless_allowed() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let dir = tempfile::tempdir().unwrap();
    let utf16: Vec<u8> = [0xff, 0xfe]
        .into_iter()
        .chain(DEPLOYMENT.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    std::fs::write(dir.path().join("utf16.yaml"), utf16).unwrap();
    std::fs::write(dir.path().join("latin1.yaml"), b"kind: Deployment # caf\xe9\n").unwrap();
    write(dir.path(), "broken.yaml", "apiVersion: v1\nkind: [Service\n");
    // A Helm release secret whose gzip is cut short.
    let release = r#"{"name":"x","namespace":"shop","version":3,"manifest":""}"#;
    let gz = b64
        .decode(
            b64.decode(kupgrade_kube::helm::encode_secret_data(release))
                .unwrap(),
        )
        .unwrap();
    let cut = b64.encode(b64.encode(&gz[..gz.len() / 2]));
    write(
        dir.path(),
        "release.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\ntype: helm.sh/release.v1\nmetadata: {{name: sh.helm.release.v1.x.v3, namespace: shop}}\ndata:\n  release: {cut}\n"
        ),
    );
    write(dir.path(), "ok.yaml", DEPLOYMENT);
    let folder = dir.path().display().to_string();
    let out = kupgrade(&["scan", &folder, "--target", "1.30", "--output", "json"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v = json(&out);
    let skipped = v["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 4, "{skipped:?}");
    assert!(skipped.iter().all(|s| s["unreadable"] == true), "{skipped:?}");
    let reasons: Vec<&str> = skipped.iter().map(|s| s["reason"].as_str().unwrap()).collect();
    assert!(reasons[0].starts_with("malformed YAML"), "{reasons:?}");
    assert!(reasons[1].contains("not UTF-8"), "{reasons:?}");
    assert!(
        reasons[2].starts_with("release secret shop/sh.helm.release.v1.x.v3 is not a Helm 3 release: the gzip data is corrupt or cut short"),
        "{reasons:?}"
    );
    assert!(reasons[3].contains("UTF-16"), "{reasons:?}");
    // The explicit opt-out: listed, exit from the findings (none: 0).
    let out = kupgrade(&[
        "scan",
        &folder,
        "--target",
        "1.30",
        "--allow-unreadable",
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json(&out)["skipped"].as_array().unwrap().len(), 4);
}

#[test]
fn a_helm_decompression_bomb_is_refused_with_bounded_memory() {
    use std::io::Write;
    // 300 MiB of spaces gzip to about 300 KB; Helm's layers make it a release secret.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..300 {
        gz.write_all(&chunk).unwrap();
    }
    let gz = gz.finish().unwrap();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let data = b64.encode(b64.encode(gz));
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "bomb.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\ntype: helm.sh/release.v1\nmetadata: {{name: sh.helm.release.v1.x.v1, namespace: shop}}\ndata:\n  release: {data}\n"
        ),
    );
    let out = kupgrade_within(20, &["scan", &file, "--target", "1.30", "--output", "json"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let reason = json(&out)["skipped"][0]["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("decompresses to more than 64 MiB"), "{reason}");
}

#[test]
fn helm_secrets_with_wrapped_base64_give_the_release_namespace() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let release = serde_json::json!({
        "name": "web", "namespace": "shop", "version": 2, "info": {"status": "deployed"},
        "manifest": "---\napiVersion: batch/v1beta1\nkind: CronJob\nmetadata:\n  name: nightly\n",
    });
    let inner = b64
        .decode(kupgrade_kube::helm::encode_secret_data(&release.to_string()))
        .unwrap();
    // Helm's own layer wrapped at 76 columns (`base64` does this), then Kubernetes' layer.
    let wrapped: Vec<u8> = inner.chunks(76).collect::<Vec<_>>().join(&b'\n');
    let data = b64.encode(wrapped);
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "release.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\ntype: helm.sh/release.v1\nmetadata: {{name: sh.helm.release.v1.web.v2, namespace: shop}}\ndata:\n  release: {data}\n"
        ),
    );
    let out = kupgrade(&["scan", &file, "--target", "1.25", "--output", "json"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let f = &json(&out)["findings"][0];
    assert_eq!(f["kind"], "CronJob");
    assert_eq!(f["namespace"], "shop", "{f}");
}

#[test]
fn user_deprecations_extend_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let extra = write(
        dir.path(),
        "extra.yaml",
        "entries:\n- {api_version: cert-manager.io/v1alpha2, kind: Certificate, deprecated_in: \"1.20\", removed_in: \"1.24\", replacement: cert-manager.io/v1}\n",
    );
    let cert = write(
        dir.path(),
        "cert.yaml",
        "apiVersion: cert-manager.io/v1alpha2\nkind: Certificate\nmetadata: {name: tls}\n",
    );
    let out = kupgrade(&[
        "scan",
        &cert,
        "--target",
        "1.30",
        "--deprecations",
        &extra,
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(json(&out)["findings"][0]["replacement"], "cert-manager.io/v1");
}

#[test]
fn bad_input_is_one_line_and_exit_1() {
    let out = kupgrade(&["scan", "/no/such/dir", "--target", "1.30"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("/no/such/dir"), "{err}");
    let out = kupgrade(&["scan", "x.yaml", "--target", "banana"]);
    assert_eq!(out.status.code(), Some(1));
    let out = kupgrade(&["check", "--kubeconfig", "/no/such/kubeconfig", "--to", "1.30"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("/no/such/kubeconfig"), "{err}");
}

/// `kupgrade check` through a kubeconfig pointing at a local API stub serving a healthy EKS
/// cluster at 1.30 (node group `general` on 1.30 kubelets, a kube-proxy EKS does not manage):
/// it plans the in-place upgrade the nodes call for and judges it, so today's kubelets block no
/// hop the plan moves them past, while the self-managed kube-proxy does (exit 3).
#[tokio::test(flavor = "multi_thread")]
async fn check_exit_codes_and_json_contract_against_an_api_stub() {
    use wiremock::MockServer;
    let server = MockServer::start().await;
    common::mount_kube_api(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = common::write_kubeconfig(dir.path(), &server.uri());
    let run = |to: &'static str, kubeconfig: String| {
        tokio::task::spawn_blocking(move || {
            kupgrade(&[
                "check",
                "--kubeconfig",
                &kubeconfig,
                "--context",
                "stub",
                "--to",
                to,
                "--today",
                "2025-12-01",
                "--output",
                "json",
            ])
        })
    };
    let in_cluster = |out: &Output| -> Vec<serde_json::Value> {
        json(out)["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["id"].as_str().unwrap().starts_with("KUP-KUBE-"))
            .cloned()
            .collect()
    };
    let out = run("1.33", kubeconfig.clone()).await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(in_cluster(&out).is_empty(), "{out:?}");
    // 1.34 is four minors past today's kubelets, but the plan moves `general` before the 1.34
    // hop: no KUP-KUBE-002 (judging a kubelet as if it never moved was wave 1's false alarm).
    // kube-proxy is not an EKS managed add-on, so no plan step moves it: it blocks.
    let out = run("1.34", kubeconfig.clone()).await.unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let found = in_cluster(&out);
    assert_eq!(found.len(), 1, "{found:?}");
    let f = &found[0];
    assert_eq!(f["id"], "KUP-KUBE-003");
    assert_eq!(f["severity"], "blocker");
    assert_eq!(f["hop"], "1.34");
    assert_eq!(f["subject"]["kind"], "DaemonSet");
    assert_eq!(f["subject"]["namespace"], "kube-system");
    assert!(f["message"].as_str().unwrap().contains("1.34"));
    // Node user data that still passes a kubelet flag 1.31 removed blocks the 1.33 target.
    let user_data = write(
        dir.path(),
        "user-data.sh",
        "#!/bin/bash\n/etc/eks/bootstrap.sh prod \\\n  --kubelet-extra-args '--keep-terminated-pod-volumes'\n",
    );
    let with_user_data = {
        let (kubeconfig, user_data) = (kubeconfig.clone(), user_data.clone());
        tokio::task::spawn_blocking(move || {
            kupgrade(&[
                "check",
                "--kubeconfig",
                &kubeconfig,
                "--to",
                "1.33",
                "--today",
                "2025-12-01",
                "--node-config",
                &user_data,
                "--output",
                "json",
            ])
        })
    };
    let out = with_user_data.await.unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let v = json(&out);
    let f = &v["findings"][0];
    assert_eq!(f["id"], "KUP-KUBE-014");
    assert_eq!(f["severity"], "blocker");
    assert!(f["subject"].get("namespace").is_some());
    assert_eq!(f["subject"]["kind"], "File");
    assert_eq!(f["subject"]["name"], user_data.as_str());
    assert!(f["message"].as_str().unwrap().contains("removed in 1.31"), "{f}");
    assert!(f["message"].as_str().unwrap().contains("(line 3)"), "{f}");
    // A node-config path that does not exist: one line, exit 1, before any cluster call.
    let out = kupgrade(&["check", "--to", "1.33", "--node-config", "/no/such/user-data"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("/no/such/user-data"), "{err}");
    // An unknown context fails in one line with exit 1.
    let out = tokio::task::spawn_blocking(move || {
        kupgrade(&[
            "check",
            "--kubeconfig",
            &kubeconfig,
            "--context",
            "nope",
            "--to",
            "1.31",
        ])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
}

/// `kupgrade check --kubeconfig` runs the deprecated-API gate: an API server at 1.30 that
/// reports requests to flowcontrol.apiserver.k8s.io/v1beta3 (removed in 1.32) blocks the 1.32
/// hop (exit 3, KUP-API-001) and only warns for a plan that stops at 1.31 (exit 0, KUP-API-002).
#[tokio::test(flavor = "multi_thread")]
async fn check_blocks_the_hop_that_removes_an_api_the_server_still_serves_requests_for() {
    let server = wiremock::MockServer::start().await;
    common::mount_kube_api_with_metrics(
        &server,
        "# TYPE apiserver_requested_deprecated_apis gauge\napiserver_requested_deprecated_apis{group=\"flowcontrol.apiserver.k8s.io\",removed_release=\"1.32\",resource=\"flowschemas\",subresource=\"\",version=\"v1beta3\"} 1\n",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = common::write_kubeconfig(dir.path(), &server.uri());
    let run = |to: &'static str, output: &'static str| {
        let kubeconfig = kubeconfig.clone();
        tokio::task::spawn_blocking(move || {
            kupgrade(&[
                "check",
                "--kubeconfig",
                &kubeconfig,
                "--to",
                to,
                "--today",
                "2024-12-01",
                "--output",
                output,
            ])
        })
    };
    let out = run("1.32", "json").await.unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let v = json(&out);
    let f = &v["findings"][0];
    assert_eq!(f["id"], "KUP-API-001", "{v}");
    assert_eq!(f["severity"], "blocker");
    assert_eq!(f["hop"], "1.32");
    let message = f["message"].as_str().unwrap();
    assert!(
        message.contains("flowcontrol.apiserver.k8s.io/v1beta3/flowschemas is removed in 1.32"),
        "{message}"
    );
    assert!(
        message.contains("apiserver_requested_deprecated_apis"),
        "{message}"
    );
    assert!(message.contains("flowcontrol.apiserver.k8s.io/v1"), "{message}");
    // The text output names it too.
    let out = run("1.32", "text").await.unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("KUP-API-001") && text.contains("flowcontrol.apiserver.k8s.io/v1beta3"),
        "{text}"
    );
    // A plan that stops before the removal is warned, not blocked.
    let out = run("1.31", "json").await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json(&out);
    let ids: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["KUP-API-002"], "{v}");
}

/// `kupgrade scan --live` against a local API stub: the deprecated-API metric, a writer in
/// managedFields and a deployed Helm release are each reported; exit 3 when removed.
#[tokio::test(flavor = "multi_thread")]
async fn live_scan_reports_metric_managed_fields_and_helm_releases() {
    use serde_json::json;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    let get = |p: &str, body: serde_json::Value| {
        Mock::given(method("GET"))
            .and(path(p.to_string()))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
    };
    Mock::given(method("GET"))
        .and(path("/metrics"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            "# TYPE apiserver_requested_deprecated_apis gauge\napiserver_requested_deprecated_apis{group=\"policy\",removed_release=\"1.25\",resource=\"poddisruptionbudgets\",subresource=\"\",version=\"v1beta1\"} 1\n",
        ))
        .mount(&server)
        .await;
    let resources = |gv: &str, name: &str, kind: &str| {
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": [{"name": name, "singularName": "", "namespaced": true, "kind": kind, "verbs": ["list"]}]})
    };
    get(
        "/apis/policy/v1",
        resources("policy/v1", "poddisruptionbudgets", "PodDisruptionBudget"),
    )
    .mount(&server)
    .await;
    get(
        "/apis/policy/v1beta1",
        resources("policy/v1beta1", "poddisruptionbudgets", "PodDisruptionBudget"),
    )
    .mount(&server)
    .await;
    get(
        "/apis/policy/v1/poddisruptionbudgets",
        json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": {}, "items": [
            {"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": {"name": "web", "namespace": "shop",
                "managedFields": [{"manager": "deploy-bot", "operation": "Update", "apiVersion": "policy/v1beta1"}]}}
        ]}),
    )
    .mount(&server)
    .await;
    let release = json!({"name": "jobs", "namespace": "ops", "version": 2, "info": {"status": "deployed"},
        "manifest": "---\napiVersion: batch/v1beta1\nkind: CronJob\nmetadata:\n  name: nightly\n"});
    get(
        "/api/v1/secrets",
        json!({"apiVersion": "v1", "kind": "SecretList", "metadata": {}, "items": [
            {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
             "metadata": {"name": "sh.helm.release.v1.jobs.v2", "namespace": "ops", "labels": {"owner": "helm"}},
             "data": {"release": kupgrade_kube::helm::encode_secret_data(&release.to_string())}}
        ]}),
    )
    .mount(&server)
    .await;
    // A CRD whose v1beta1 is deprecated, with an object a client still writes at it.
    get(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinitionList", "metadata": {}, "items": [
            {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.com"},
             "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [
                    {"name": "v1beta1", "served": true, "storage": false, "deprecated": true, "deprecationWarning": "use example.com/v1"},
                    {"name": "v1", "served": true, "storage": true}]},
             "status": {"storedVersions": ["v1"]}}
        ]}),
    )
    .mount(&server)
    .await;
    get(
        "/apis/example.com/v1/widgets",
        json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": {}, "items": [
            {"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": {"name": "w", "namespace": "shop",
                "managedFields": [{"manager": "old-bot", "operation": "Update", "apiVersion": "example.com/v1beta1"}]}}
        ]}),
    )
    .mount(&server)
    .await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write(
        dir.path(),
        "kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: stub\n  cluster: {{server: \"{}\"}}\nusers:\n- name: anon\n  user: {{}}\ncontexts:\n- name: stub\n  context: {{cluster: stub, user: anon}}\ncurrent-context: stub\n",
            server.uri()
        ),
    );
    let out = tokio::task::spawn_blocking(move || {
        kupgrade(&[
            "scan",
            "--live",
            "--kubeconfig",
            &kubeconfig,
            "--target",
            "1.25",
            "--output",
            "json",
        ])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let v = json(&out);
    let files: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(
        files[0].contains("apiserver_requested_deprecated_apis"),
        "{files:?}"
    );
    assert!(
        files[1].contains("managedFields (manager deploy-bot"),
        "{files:?}"
    );
    assert!(files[2].contains("helm release ops/jobs revision 2"), "{files:?}");
    assert_eq!(v["findings"][1]["name"], "web");
    assert_eq!(v["findings"][2]["kind"], "CronJob");
    let crd = &v["crds"][0];
    assert_eq!(crd["crd"], "widgets.example.com", "{crd}");
    assert_eq!(crd["problem"], "deprecated");
    assert_eq!(crd["warning"], "use example.com/v1");
    assert_eq!(crd["objects"][0], "shop/w");
    let warnings = v["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("policy/v1beta1")),
        "{warnings:?}"
    );
}
