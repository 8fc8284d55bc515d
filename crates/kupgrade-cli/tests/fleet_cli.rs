//! `kupgrade fleet`, the blue/green cluster demo and `--report`, through the real binary.

use std::collections::BTreeSet;
use std::path::Path;

mod common;
use common::{kupgrade_crashing as kupgrade, read_json};

const CLUSTERS: [&str; 5] = ["dev-a", "dev-b", "stg", "prod-a", "prod-b"];

/// Writes five simulated clusters and a three-wave fleet file; returns the fleet file.
fn fleet(dir: &Path) -> String {
    for c in CLUSTERS {
        let state = dir.join(format!("{c}.json")).display().to_string();
        let out = kupgrade(
            &[
                "sim",
                "init",
                &state,
                "--provider",
                "gke",
                "--control-plane",
                "1.30",
                "--pools",
                "2",
                "--pods",
                "6",
                "--name",
                c,
            ],
            None,
        );
        assert!(out.status.success());
    }
    let file = dir.join("fleet.yaml");
    std::fs::write(
        &file,
        r#"name: platform
to: "1.32"
waves:
  - name: dev
    concurrency: 2
    soak_minutes: 30
    clusters:
      - {name: dev-a, provider: sim, sim_state: dev-a.json}
      - {name: dev-b, provider: sim, sim_state: dev-b.json, strategy: blue-green}
  - name: staging
    clusters:
      - {name: stg, provider: sim, sim_state: stg.json}
  - name: prod
    clusters:
      - {name: prod-a, provider: sim, sim_state: prod-a.json}
      - {name: prod-b, provider: sim, sim_state: prod-b.json}
"#,
    )
    .unwrap();
    file.display().to_string()
}

#[test]
fn a_fleet_halts_at_the_failing_production_cluster_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = fleet(dir.path());
    let prod_a = dir.path().join("prod-a.json");
    let mut state = read_json(&prod_a);
    state["faults"]["fail_operations"] = serde_json::json!([{"kind": "upgrade-control-plane", "node_pool": null, "message": "INTERNAL: master upgrade failed"}]);
    std::fs::write(&prod_a, serde_json::to_vec(&state).unwrap()).unwrap();
    let md = dir.path().join("fleet.md").display().to_string();
    let out = kupgrade(
        &[
            "fleet", "upgrade", "--file", &file, "--yes", "--output", "json", "--report", &md,
        ],
        None,
    );
    common::assert_exit(&out, 1);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["succeeded"], false);
    assert_eq!(report["waves"][2]["status"], "failed");
    assert_eq!(read_json(&dir.path().join("stg.json"))["control_plane"], "1.32");
    assert_eq!(
        read_json(&dir.path().join("prod-b.json"))["operations"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "prod-b untouched"
    );
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(
        md.contains("| prod-a | **failed** |") && md.contains("INTERNAL: master upgrade failed"),
        "{md}"
    );
    let xml = dir.path().join("fleet.xml").display().to_string();
    let again = kupgrade(
        &["fleet", "upgrade", "--file", &file, "--yes", "--report", &xml],
        None,
    );
    assert_eq!(
        again.status.code(),
        Some(0),
        "the planned failure was used up: {}",
        String::from_utf8_lossy(&again.stderr)
    );
    let xml = std::fs::read_to_string(&xml).unwrap();
    assert!(
        xml.contains("<testsuite name=\"prod\" tests=\"2\" failures=\"0\">"),
        "{xml}"
    );
}

#[test]
fn a_crashed_fleet_run_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let file = fleet(dir.path());
    let first = kupgrade(&["fleet", "upgrade", "--file", &file, "--yes"], Some(25));
    assert!(!first.status.success());
    assert!(String::from_utf8_lossy(&first.stderr).contains("simulated crash after persisted mutation 25"));
    let second = kupgrade(&["fleet", "upgrade", "--file", &file, "--yes"], None);
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    for c in CLUSTERS {
        let state = read_json(&dir.path().join(format!("{c}.json")));
        assert_eq!(state["control_plane"], "1.32", "{c}");
        let ops: Vec<String> = state["operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| format!("{} {} {}", o["kind"], o["node_pool"], o["to"]))
            .collect();
        let unique: BTreeSet<&String> = ops.iter().collect();
        assert_eq!(
            unique.len(),
            ops.len(),
            "{c}: an operation was started twice: {ops:?}"
        );
    }
}

#[test]
fn fleet_plan_changes_nothing_and_rejects_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = fleet(dir.path());
    let before = std::fs::read(dir.path().join("dev-a.json")).unwrap();
    let out = kupgrade(&["fleet", "plan", "--file", &file], None);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("[prod] prod-b: 1.30 -> 1.32"), "{text}");
    assert_eq!(std::fs::read(dir.path().join("dev-a.json")).unwrap(), before);
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "name: x\nwaves:\n  - name: a\n    clusters:\n      - {name: a, provider: sim, sim_state: a.json}\n",
    )
    .unwrap();
    let out = kupgrade(&["fleet", "plan", "--file", bad.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cluster 'a' has no target"), "{err}");
}

#[test]
fn the_blue_green_cluster_demo_shifts_all_traffic() {
    let out = kupgrade(
        &["demo", "--strategy", "blue-green-cluster", "--output", "json"],
        None,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["result"], "succeeded");
    assert_eq!(report["green_percent"], 100);
    assert_eq!(report["green"], "demo-eks-v1-32");
}

#[test]
fn upgrade_and_plan_write_markdown_and_junit_reports() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.json").display().to_string();
    assert!(
        kupgrade(
            &[
                "sim",
                "init",
                &state,
                "--provider",
                "eks",
                "--control-plane",
                "1.30",
                "--pools",
                "1"
            ],
            None
        )
        .status
        .success()
    );
    let md = dir.path().join("up.md").display().to_string();
    let out = kupgrade(
        &[
            "upgrade",
            "--provider",
            "sim",
            "--sim-state",
            &state,
            "--to",
            "1.31",
            "--yes",
            "--report",
            &md,
        ],
        None,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let md = std::fs::read_to_string(&md).unwrap();
    for section in [
        "## Plan",
        "## Checks",
        "## Timeline",
        "## Result",
        "## What to do next",
        "**succeeded**",
    ] {
        assert!(md.contains(section), "{section} missing in {md}");
    }
    let xml = dir.path().join("plan.xml").display().to_string();
    let out = kupgrade(
        &[
            "plan",
            "--provider",
            "sim",
            "--sim-state",
            &state,
            "--to",
            "1.32",
            "--report",
            &xml,
        ],
        None,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let xml = std::fs::read_to_string(&xml).unwrap();
    assert!(
        xml.starts_with("<?xml") && xml.contains("classname=\"KUP-SKEW-001\""),
        "{xml}"
    );
}

/// `kupgrade swap` on the simulator with shell commands as hooks: the provision command
/// creates the green cluster's state, the traffic command records each weight.
fn swap(dir: &Path, check: Option<&str>) -> (std::process::Output, String) {
    let blue = dir.join("blue.json").display().to_string();
    let green = dir.join("green.json").display().to_string();
    let weights = dir.join("weights.txt").display().to_string();
    let exe = env!("CARGO_BIN_EXE_kupgrade");
    assert!(
        kupgrade(
            &[
                "sim",
                "init",
                &blue,
                "--provider",
                "aks",
                "--control-plane",
                "1.30",
                "--name",
                "shop"
            ],
            None
        )
        .status
        .success()
    );
    let provision =
        format!("{exe} sim init {green} --provider aks --control-plane $KUPGRADE_TO --name $KUPGRADE_GREEN");
    let traffic = format!("echo $KUPGRADE_GREEN_PERCENT >> {weights}");
    let mut args = vec![
        "swap",
        "--provider",
        "sim",
        "--sim-state",
        &blue,
        "--to",
        "1.31",
        "--green-sim-state",
        &green,
        "--provision-cmd",
        &provision,
        "--deploy-cmd",
        "true",
        "--traffic-cmd",
        &traffic,
        "--yes",
        "--output",
        "json",
    ];
    if let Some(check) = check {
        args.extend(["--traffic-check-cmd", check]);
    }
    let out = kupgrade(&args, None);
    (out, std::fs::read_to_string(&weights).unwrap_or_default())
}

#[test]
fn swap_runs_the_users_commands_and_moves_all_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let (out, weights) = swap(dir.path(), None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["result"], "succeeded");
    assert_eq!(report["green"], "shop-v1-31");
    assert_eq!(
        weights.split_whitespace().collect::<Vec<_>>(),
        ["10", "50", "100"]
    );
    assert_eq!(read_json(&dir.path().join("green.json"))["control_plane"], "1.31");
}

#[test]
fn a_failing_traffic_check_shifts_everything_back_to_blue() {
    let dir = tempfile::tempdir().unwrap();
    let (out, weights) = swap(
        dir.path(),
        Some("test $KUPGRADE_GREEN_PERCENT -lt 50 || { echo 5xx rate 7%; exit 1; }"),
    );
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["result"], "rolled-back");
    assert_eq!(report["green_percent"], 0);
    assert!(
        report["error"].as_str().unwrap().contains("5xx rate 7%"),
        "{report}"
    );
    assert_eq!(weights.split_whitespace().collect::<Vec<_>>(), ["10", "50", "0"]);
    assert_eq!(
        read_json(&dir.path().join("blue.json"))["operations"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "blue untouched"
    );
}

/// A fleet file is checked whole before anything runs: duplicate waves, path-like names and
/// typos are one-line errors naming the key, and nothing is written.
#[test]
fn a_wrong_fleet_file_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "name: shop\nto: \"1.32\"\nwaves:\n  - {name: dev, clusters: [{name: a, provider: sim, sim_state: a.json}]}\n  - {name: dev, clusters: [{name: b, provider: sim, sim_state: b.json}]}\n",
            "wave 'dev' is listed twice",
        ),
        (
            "name: ../escape\nto: \"1.32\"\nwaves:\n  - {name: dev, clusters: [{name: a, provider: sim, sim_state: a.json}]}\n",
            "fleet name '../escape' cannot name a journal folder",
        ),
        (
            "name: shop\nto: \"1.32\"\nwaves:\n  - {name: dev, clusters: [{name: a, provider: eks, regoin: eu-west-1}]}\n",
            "unknown key 'regoin' for provider eks; did you mean 'region'?",
        ),
        (
            "name: shop\nto: \"1.3\"\nwaves:\n  - {name: dev, clusters: [{name: a, provider: sim, sim_state: a.json}]}\n",
            "did you mean 1.30?",
        ),
    ];
    for (text, needle) in cases {
        let file = dir.path().join("fleet.yaml");
        std::fs::write(&file, text).unwrap();
        let out = kupgrade(
            &["fleet", "upgrade", "--file", &file.display().to_string(), "--yes"],
            None,
        );
        assert_eq!(out.status.code(), Some(1), "{needle}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{needle}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(!dir.path().join(".kupgrade").exists(), "nothing written");
        assert!(!dir.path().parent().unwrap().join("escape").exists());
    }
}
