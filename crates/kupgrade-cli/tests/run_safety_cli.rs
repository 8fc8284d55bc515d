//! Nothing lost, nothing falsely green, through the real binary: journals bound to the cluster,
//! the default journal, locks between processes, Ctrl-C, closed pipes, output paths checked first,
//! symlinked state files, and bad input refused with a hint.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{kupgrade, kupgrade_crashing, read_json};

fn init(dir: &Path, provider: &str, pools: &str) -> String {
    let state = dir.join("state.json").display().to_string();
    let out = kupgrade(&[
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
    ]);
    assert!(out.status.success(), "{out:?}");
    state
}

fn upgrade_args<'a>(state: &'a str, strategy: &'a str) -> Vec<&'a str> {
    vec![
        "upgrade",
        "--provider",
        "sim",
        "--sim-state",
        state,
        "--to",
        "1.32",
        "--strategy",
        strategy,
        "--yes",
    ]
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn operations(state: &str) -> usize {
    read_json(Path::new(state))["operations"]
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn a_journal_is_refused_when_the_cluster_was_restored_since() {
    let dir = tempfile::tempdir().unwrap();
    let state = init(dir.path(), "eks", "2");
    let before = std::fs::read(&state).unwrap();
    let journal = dir.path().join("kept.journal.json").display().to_string();
    let mut args = upgrade_args(&state, "in-place");
    args.extend(["--journal", &journal]);
    let first = kupgrade(&args);
    assert!(first.status.success(), "{}", stderr(&first));
    // The state is restored from a backup; the journal still says every step is done.
    std::fs::write(&state, &before).unwrap();
    let second = kupgrade(&args);
    assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
    let err = stderr(&second);
    assert!(err.contains("cannot be resumed"), "{err}");
    assert!(err.contains("control plane at 1.29"), "{err}");
    assert!(err.contains("--replan"), "{err}");
    assert!(second.stdout.is_empty(), "nothing printed as if it ran");
    // --replan plans again from the restored cluster and finishes, verified.
    args.push("--replan");
    let third = kupgrade(&args);
    assert!(third.status.success(), "{}", stderr(&third));
    assert!(String::from_utf8_lossy(&third.stdout).contains("Result: succeeded"));
    assert_eq!(read_json(Path::new(&state))["control_plane"], "1.32");
}

#[test]
fn a_journal_of_a_recreated_cluster_of_the_same_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = init(dir.path(), "eks", "2");
    let journal = dir.path().join("j.json").display().to_string();
    let mut args = upgrade_args(&state, "in-place");
    args.extend(["--journal", &journal]);
    assert!(!kupgrade_crashing(&args, Some(2)).status.success());
    // Same name, new cluster (a new uid).
    let out = kupgrade(&[
        "sim",
        "init",
        &state,
        "--provider",
        "eks",
        "--control-plane",
        "1.29",
        "--pools",
        "2",
        "--force",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rerun = kupgrade(&args);
    assert_eq!(rerun.status.code(), Some(1));
    assert!(
        stderr(&rerun).contains("recreated, or another cluster"),
        "{}",
        stderr(&rerun)
    );
}

#[test]
fn without_journal_a_crash_resumes_from_the_default_journal() {
    for (strategy, expected) in [("in-place", 5), ("blue-green", 7)] {
        let dir = tempfile::tempdir().unwrap();
        let state = init(dir.path(), "eks", "2");
        let args = upgrade_args(&state, strategy);
        let first = kupgrade_crashing(&args, Some(3));
        assert!(!first.status.success());
        let journal = format!("{state}.journal.json");
        assert!(
            Path::new(&journal).exists(),
            "the default journal is beside the state"
        );
        let second = kupgrade(&args);
        assert!(second.status.success(), "{strategy}: {}", stderr(&second));
        assert!(stderr(&second).contains("Resuming the run recorded in"));
        assert_eq!(
            operations(&state),
            expected,
            "{strategy}: no operation twice, no extra pool"
        );
        assert!(
            !Path::new(&journal).exists(),
            "removed once verified at the target"
        );
    }
}

/// Starts `kupgrade upgrade` on the simulator paced so it runs for a while, and waits until it
/// has printed its journal line (it holds its locks by then).
fn start_paced(state: &str) -> (std::process::Child, BufReader<std::process::ChildStderr>) {
    let mut args = upgrade_args(state, "in-place");
    args.extend(["--pace-ms", "100"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_kupgrade"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        line.clear();
        if err.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if line.starts_with("Journal:") {
            return (child, err);
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    panic!("the paced run never printed its journal line");
}

#[test]
fn a_second_run_on_the_same_cluster_is_refused_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let state = init(dir.path(), "eks", "3");
    let (mut first, _err) = start_paced(&state);
    let second = kupgrade(&upgrade_args(&state, "in-place"));
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
    let err = stderr(&second);
    assert!(err.contains("in use by another kupgrade run"), "{err}");
    assert!(
        err.contains(&format!("pid {}", first.id())),
        "names the holder: {err}"
    );
}

/// Sends `signal` to a paced run once it holds its journal; returns its exit code and the rest
/// of its stderr, after checking that the same command then resumes and finishes.
fn interrupt_and_resume(signal: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let state = init(dir.path(), "eks", "3");
    let (mut child, mut err) = start_paced(&state);
    // The shell's own `kill`, so no procps is needed.
    let sent = Command::new("sh")
        .args(["-c", &format!("kill -{signal} {}", child.id())])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    let resumed = kupgrade(&upgrade_args(&state, "in-place"));
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    (status.code(), rest)
}

#[test]
fn ctrl_c_keeps_the_journal_says_how_to_resume_and_exits_130() {
    let (code, rest) = interrupt_and_resume("INT");
    assert_eq!(code, Some(130), "{rest}");
    assert!(
        rest.contains("interrupted: progress is saved in the journal"),
        "{rest}"
    );
    assert!(rest.contains("Rerun the same command"), "{rest}");
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kupgrade"))
        .arg("demo")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is dropped here: `kupgrade demo | head -1`.
    let out = child.wait_with_output().unwrap();
    assert!(!first.is_empty());
    assert_ne!(out.status.code(), Some(101), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

#[test]
fn errors_come_before_any_output_or_change() {
    let out = kupgrade(&["demo", "--to", "1.36"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));

    let dir = tempfile::tempdir().unwrap();
    let state = init(dir.path(), "eks", "2");
    let report = dir.path().join("nodir").join("r.md").display().to_string();
    let mut args = upgrade_args(&state, "in-place");
    args.extend(["--report", &report]);
    let out = kupgrade(&args);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nodir"), "{}", stderr(&out));
    assert_eq!(
        operations(&state),
        0,
        "nothing changed before the report path was refused"
    );

    let mut args = upgrade_args(&state, "canary");
    args.extend(["--canary-pool", "nope"]);
    let out = kupgrade(&args);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("canary pool 'nope' not found"), "{err}");
    assert!(
        err.contains("pool-1") || err.contains("system"),
        "lists the pools: {err}"
    );
    assert_eq!(operations(&state), 0);
}

#[test]
fn a_version_older_than_any_provider_offers_gets_a_hint() {
    let out = kupgrade(&[
        "plan",
        "--provider",
        "sim",
        "--sim-state",
        "x.json",
        "--to",
        "1.3",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("did you mean 1.30?"), "{}", stderr(&out));
}

#[test]
fn absurd_simulator_sizes_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.json").display().to_string();
    let started = Instant::now();
    let out = kupgrade(&[
        "sim",
        "init",
        &state,
        "--provider",
        "eks",
        "--control-plane",
        "1.29",
        "--pools",
        "4294967295",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--pools"), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(!Path::new(&state).exists());
}

#[cfg(unix)]
#[test]
fn a_symlinked_state_file_stays_a_symlink_with_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let real = init(dir.path(), "eks", "2");
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let link_text = link.display().to_string();
    let out = kupgrade(&upgrade_args(&link_text, "in-place"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(read_json(Path::new(&real))["control_plane"], "1.32");
}

#[test]
fn force_drain_names_every_pod_deleted_past_its_budget() {
    let dir = tempfile::tempdir().unwrap();
    let state = init(dir.path(), "eks", "2");
    // Every budget allows no disruption at all.
    let mut json = read_json(Path::new(&state));
    let replicas: std::collections::BTreeMap<String, u64> = json["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["name"].as_str().unwrap().to_string(),
                w["replicas"].as_u64().unwrap(),
            )
        })
        .collect();
    for pdb in json["pdbs"].as_array_mut().unwrap() {
        let n = replicas[pdb["workload"].as_str().unwrap()];
        pdb["min_available"] = n.into();
        pdb["max_unavailable"] = serde_json::Value::Null;
    }
    std::fs::write(&state, serde_json::to_vec(&json).unwrap()).unwrap();
    let mut args = upgrade_args(&state, "blue-green");
    args.push("--force-drain");
    let out = kupgrade(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(err.contains("past PodDisruptionBudget"), "{err}");
    assert!(stdout.contains("the forced drain deleted"), "{stdout}");
    assert!(!stdout.contains("evictions honour"), "{stdout}");
}

#[test]
fn sigterm_keeps_the_journal_and_exits_143() {
    let (code, rest) = interrupt_and_resume("TERM");
    assert_eq!(code, Some(143), "{rest}");
    assert!(rest.contains("Rerun the same command"), "{rest}");
}
