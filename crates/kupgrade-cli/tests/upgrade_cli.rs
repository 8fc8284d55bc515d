//! `kupgrade demo`, `kupgrade sim init` and `kupgrade upgrade --provider sim`, through the real
//! binary: results, dry runs, confirmation, blockers, and crash-and-resume at every mutation.

use std::collections::BTreeSet;
use std::path::Path;

mod common;
use common::{kupgrade_crashing as kupgrade, read_json};

fn init(dir: &Path, provider: &str, pools: &str) -> String {
    let state = dir.join("state.json").display().to_string();
    let out = kupgrade(
        &[
            "sim",
            "init",
            &state,
            "--provider",
            provider,
            "--control-plane",
            "1.29",
            "--pools",
            pools,
            "--pods",
            "9",
        ],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    state
}

#[test]
fn the_demo_upgrades_end_to_end() {
    let out = kupgrade(&["demo"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Result: succeeded"), "{text}");
    assert!(text.contains("Cluster now: control plane 1.32 | system 1.32 (2 nodes), general 1.32 (4 nodes), batch 1.32 (3 nodes)"), "{text}");
    let json = kupgrade(&["demo", "--strategy", "blue-green", "--output", "json"], None);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["result"], "succeeded");
    assert_eq!(json["control_plane"], "1.32");
    assert!(json["simulated_seconds"].as_u64().unwrap() > 3 * 900);
}

/// Steps run side by side: on a non-terminal, every progress line names its step, and a step's
/// lines come after the line that starts it.
#[test]
fn progress_lines_of_steps_running_at_once_each_name_their_step() {
    let out = kupgrade(&["demo"], None);
    assert!(out.status.success());
    let progress = String::from_utf8(out.stderr).unwrap();
    let mut started = BTreeSet::new();
    let mut overlapping = 0;
    let mut running = BTreeSet::new();
    for line in progress.lines() {
        let trimmed = line.trim_start();
        let Some(rest) = trimmed.strip_prefix('[') else {
            continue;
        };
        let step: usize = rest.split('/').next().unwrap().parse().unwrap();
        if line.starts_with('[') {
            assert!(started.insert(step), "step {step} started twice: {line}");
            running.insert(step);
            overlapping = overlapping.max(running.len());
        } else {
            assert!(
                started.contains(&step),
                "a line for step {step} before it started: {line}"
            );
            if trimmed.contains("] done in") {
                running.remove(&step);
            }
        }
    }
    assert_eq!(started.len(), 6, "{progress}");
    assert_eq!(overlapping, 3, "the three node pools run at once: {progress}");
}

#[test]
fn sim_init_writes_the_documented_fields_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let state = init(dir.path(), "aks", "2");
    let json = read_json(Path::new(&state));
    assert_eq!(json["control_plane"], "1.29");
    assert_eq!(json["node_pools"][0]["name"], "system");
    assert_eq!(json["node_pools"][1]["nodes"], 3);
    assert_eq!(json["operations"].as_array().unwrap().len(), 0);
    let again = kupgrade(
        &[
            "sim",
            "init",
            &state,
            "--provider",
            "aks",
            "--control-plane",
            "1.29",
        ],
        None,
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists; pass --force"));
}

#[test]
fn dry_run_and_missing_confirmation_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = init(dir.path(), "eks", "2");
    let before = std::fs::read(&state).unwrap();
    let out = kupgrade(
        &[
            "upgrade",
            "--provider",
            "sim",
            "--sim-state",
            &state,
            "--to",
            "1.32",
            "--dry-run",
        ],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Dry run: nothing was changed."));
    let out = kupgrade(
        &[
            "upgrade",
            "--provider",
            "sim",
            "--sim-state",
            &state,
            "--to",
            "1.32",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --yes"));
    assert_eq!(std::fs::read(&state).unwrap(), before);
}

#[test]
fn a_blocker_stops_the_run_before_any_change() {
    let dir = tempfile::tempdir().unwrap();
    let state = init(dir.path(), "eks", "1");
    let mut json = read_json(Path::new(&state));
    json["pdbs"][0]["min_available"] = serde_json::json!(3);
    json["pdbs"][0].as_object_mut().unwrap().remove("max_unavailable");
    std::fs::write(&state, serde_json::to_vec(&json).unwrap()).unwrap();
    let args = [
        "upgrade",
        "--provider",
        "sim",
        "--sim-state",
        &state,
        "--to",
        "1.30",
        "--yes",
        "--output",
        "json",
    ];
    let out = kupgrade(&args, None);
    common::assert_exit(&out, 3);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["result"], "blocked");
    let ids = common::finding_ids(&out);
    assert!(ids.iter().any(|id| id == "KUP-PDB-001"), "{ids:?}");
    assert_eq!(
        read_json(Path::new(&state))["operations"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let forced = kupgrade(&[&args[..], &["--force-drain"]].concat(), None);
    assert!(
        forced.status.success(),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
}

fn operation_keys(state: &Path) -> Vec<(String, String, String)> {
    read_json(state)["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["kind"].to_string(),
                o["node_pool"].to_string(),
                o["to"].to_string(),
            )
        })
        .collect()
}

#[test]
fn a_crash_after_any_mutation_resumes_without_repeating_an_operation() {
    for strategy in ["in-place", "blue-green"] {
        let mut crashed_at = 0;
        for n in 1.. {
            let dir = tempfile::tempdir().unwrap();
            let state = init(dir.path(), "eks", "2");
            let journal = dir.path().join("journal.json").display().to_string();
            let args = [
                "upgrade",
                "--provider",
                "sim",
                "--sim-state",
                &state,
                "--to",
                "1.32",
                "--strategy",
                strategy,
                "--journal",
                &journal,
                "--yes",
                "--output",
                "json",
            ];
            let first = kupgrade(&args, Some(n));
            if first.status.success() {
                break; // n is past the last mutation of the run
            }
            crashed_at = n;
            assert!(
                String::from_utf8_lossy(&first.stderr)
                    .contains(&format!("simulated crash after persisted mutation {n}"))
            );
            let second = kupgrade(&args, None);
            assert!(
                second.status.success(),
                "resume after crash {n}: {}",
                String::from_utf8_lossy(&second.stderr)
            );
            let report: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
            assert_eq!(report["result"], "succeeded");
            assert_eq!(report["control_plane"], "1.32");
            let ops = operation_keys(Path::new(&state));
            let unique: BTreeSet<_> = ops.iter().cloned().collect();
            assert_eq!(
                ops.len(),
                unique.len(),
                "{strategy}, crash at {n}: an operation was started twice: {ops:?}"
            );
            let expected = if strategy == "in-place" { 5 } else { 7 };
            assert_eq!(ops.len(), expected, "{strategy}, crash at {n}");
        }
        assert!(crashed_at >= 10, "{strategy}: crashed at {crashed_at} points");
    }
}

/// `kupgrade check --provider sim`: the same pre-flight checks as `upgrade`, the check JSON
/// shape, exit 3 on a blocker, a JUnit report, and the state file left untouched.
#[test]
fn check_on_the_simulator_reports_blockers_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = init(dir.path(), "eks", "1");
    let check = |extra: &[&str]| {
        let args = [
            &[
                "check",
                "--provider",
                "sim",
                "--sim-state",
                &state,
                "--to",
                "1.30",
                "--output",
                "json",
            ][..],
            extra,
        ]
        .concat();
        kupgrade(&args, None)
    };
    let out = check(&[]);
    common::assert_exit(&out, 0);
    let before = std::fs::read(&state).unwrap();
    let mut json = read_json(Path::new(&state));
    json["pdbs"][0]["min_available"] = serde_json::json!(3);
    json["pdbs"][0].as_object_mut().unwrap().remove("max_unavailable");
    std::fs::write(&state, serde_json::to_vec(&json).unwrap()).unwrap();
    let junit = dir.path().join("checks.xml").display().to_string();
    let out = check(&["--report", &junit]);
    common::assert_exit(&out, 3);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &report["findings"][0];
    assert_eq!(first["id"], "KUP-PDB-001");
    assert_eq!(first["severity"], "blocker");
    assert!(first["subject"]["kind"].is_string() && first["message"].is_string());
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<failure") && xml.contains("KUP-PDB-001"), "{xml}");
    // Nothing was changed: no operation recorded, and the file is only what the test wrote.
    assert_eq!(read_json(Path::new(&state))["operations"], serde_json::json!([]));
    assert_ne!(
        std::fs::read(&state).unwrap(),
        before,
        "the test's own edit is there"
    );
    assert_eq!(read_json(Path::new(&state)), json);
}
