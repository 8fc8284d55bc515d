//! `kupgrade iac plan|apply-step` on the fixture repositories of kupgrade-iac, and the drift
//! warning of `plan` and `upgrade` given `--iac`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_exit, assert_one_line_failure, kupgrade};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../kupgrade-iac/tests/fixtures")
        .join(name)
}

/// A writable copy of a fixture repository.
fn copy_fixture(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    stdout(&out)
}

#[test]
fn plan_text_names_each_step_and_where_each_version_is_declared() {
    let dir = fixture("eks-resources");
    let out = kupgrade(&["iac", "plan", "--to", "1.32", dir.to_str().unwrap()]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains("Amazon EKS cluster 'prod' (aws_eks_cluster.prod)"),
        "{text}"
    );
    // The variable's value comes from terraform.tfvars, which wins over its default.
    assert!(
        text.contains("terraform.tfvars:2 via var.cluster_version"),
        "{text}"
    );
    assert!(
        text.contains("Step 1: control plane 1.29 -> 1.30; pool legacy 1.27 -> 1.30"),
        "{text}"
    );
    assert!(text.contains("Step 2: control plane 1.30 -> 1.31\n"), "{text}");
    assert!(text.contains("Step 3: control plane 1.31 -> 1.32"), "{text}");
    assert!(!text.contains("Step 4"), "{text}");
}

#[test]
fn plan_json_carries_the_cluster_and_the_steps() {
    let dir = fixture("aks");
    let out = kupgrade(&[
        "iac",
        "plan",
        "--to",
        "1.32",
        dir.to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_exit(&out, 0);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["cluster"]["provider"], "aks");
    assert_eq!(v["cluster"]["name"], "orders");
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{v}");
    assert_eq!(v["plan"]["target"], "1.32");
}

#[test]
fn markdown_is_a_pr_train_with_a_diff_and_checks_per_step() {
    let dir = fixture("gke");
    let out = kupgrade(&[
        "iac",
        "plan",
        "--to",
        "1.32",
        dir.to_str().unwrap(),
        "--output",
        "markdown",
    ]);
    assert_exit(&out, 0);
    let md = stdout(&out);
    assert!(md.starts_with("# Upgrade train: Google GKE"), "{md}");
    assert!(md.contains("## Step 1 of 2"), "{md}");
    assert!(md.contains("## Step 2 of 2"), "{md}");
    assert_eq!(md.matches("```diff").count(), 2, "{md}");
    assert!(md.contains("Before you apply (checks for 1.31)"), "{md}");
    assert!(md.contains("Before the next step:"), "{md}");
    // The release channel makes GKE ignore the version fields: the report says so.
    assert!(md.contains("release_channel"), "{md}");
}

#[test]
fn apply_step_rewrites_only_the_version_tokens_and_prints_the_diff() {
    let repo = copy_fixture("eks-resources");
    let path = repo.path().to_str().unwrap();
    let before_main = std::fs::read_to_string(repo.path().join("main.tf")).unwrap();
    let out = kupgrade(&["iac", "apply-step", "1", "--to", "1.32", path]);
    assert_exit(&out, 0);
    let diff = stdout(&out);
    assert!(
        diff.contains("-cluster_version = \"1.29\"\n+cluster_version = \"1.30\""),
        "{diff}"
    );
    assert!(diff.contains("+  legacy_version = \"1.30\""), "{diff}");
    assert!(
        stderr(&out).contains("next: step 2: control plane 1.30 -> 1.31"),
        "{}",
        stderr(&out)
    );
    let tfvars = std::fs::read_to_string(repo.path().join("terraform.tfvars")).unwrap();
    assert_eq!(
        tfvars,
        "# Terraform loads this file by itself: it wins over the default.\ncluster_version = \"1.30\"\nsubnet_ids      = [\"subnet-a\", \"subnet-b\"]\n"
    );
    // main.tf declares no version that moves in step 1.
    assert_eq!(
        std::fs::read_to_string(repo.path().join("main.tf")).unwrap(),
        before_main
    );

    // The files now start at step 1's end: the same request has two steps left.
    let out = kupgrade(&["iac", "plan", "--to", "1.32", path]);
    assert!(stdout(&out).contains("control plane 1.30 (") && stdout(&out).contains(", 2 step(s)"));
}

#[test]
fn apply_step_git_commits_each_step_on_its_own_branch() {
    let repo = copy_fixture("eksctl");
    let dir = repo.path();
    git(dir, &["init", "-q"]);
    // kupgrade commits with the repository's own identity: give it one (CI has none).
    git(dir, &["config", "user.email", "test@example.com"]);
    git(dir, &["config", "user.name", "kupgrade test"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-qm", "initial"]);
    let out = kupgrade(&[
        "iac",
        "apply-step",
        "2",
        "--to",
        "1.31",
        dir.to_str().unwrap(),
        "--cluster",
        "analytics",
        "--git",
    ]);
    assert_exit(&out, 0);
    let branches = git(dir, &["branch", "--format=%(refname:short)"]);
    assert!(
        branches.contains("kupgrade/analytics-step-1-to-1.30"),
        "{branches}"
    );
    assert!(
        branches.contains("kupgrade/analytics-step-2-to-1.31"),
        "{branches}"
    );
    let first = git(dir, &["show", "kupgrade/analytics-step-1-to-1.30:cluster.yaml"]);
    assert!(
        first.contains("version: \"1.30\"   # the control plane"),
        "{first}"
    );
    let message = git(
        dir,
        &["log", "-1", "--format=%B", "kupgrade/analytics-step-2-to-1.31"],
    );
    assert!(
        message.starts_with("kupgrade: analytics step 2/2: control plane 1.30 -> 1.31"),
        "{message}"
    );
    assert!(
        message.contains("kupgrade check --provider eks --cluster analytics --to 1.31"),
        "{message}"
    );
    assert_eq!(
        git(dir, &["log", "--format=%s", "kupgrade/analytics-step-2-to-1.31"])
            .lines()
            .count(),
        3
    );
}

#[test]
fn several_clusters_need_cluster() {
    let dir = fixture("eksctl");
    let out = kupgrade(&["iac", "plan", "--to", "1.31", dir.to_str().unwrap()]);
    assert_one_line_failure(&out, "the files declare 2 clusters");
    assert!(stderr(&out).contains("name one with --cluster"));
}

#[test]
fn an_unresolvable_version_is_named_not_guessed() {
    let dir = fixture("unresolved");
    let out = kupgrade(&["iac", "plan", "--to", "1.31", dir.to_str().unwrap()]);
    assert_one_line_failure(&out, "`module.versions.kubernetes` cannot be read from the files");
}

#[test]
fn a_step_past_the_end_is_refused() {
    let dir = fixture("aks");
    let out = kupgrade(&["iac", "apply-step", "5", "--to", "1.32", dir.to_str().unwrap()]);
    assert_one_line_failure(&out, "step 5 does not exist: the train for orders has 2 step(s)");
}

/// A simulated EKS cluster named like the module fixture's (`payments`), with its pools.
fn simulated_payments(dir: &Path) -> String {
    let state = dir.join("payments.json");
    let out = kupgrade(&[
        "sim",
        "init",
        "--provider",
        "eks",
        "--control-plane",
        "1.29",
        "--pools",
        "2",
        "--name",
        "payments",
        state.to_str().unwrap(),
    ]);
    assert_exit(&out, 0);
    state.to_str().unwrap().to_string()
}

#[test]
fn live_plan_with_iac_warns_of_drift_with_the_edits() {
    let work = tempfile::tempdir().unwrap();
    let state = simulated_payments(work.path());
    let tf = fixture("eks-module-v20");
    let out = kupgrade(&[
        "plan",
        "--provider",
        "sim",
        "--sim-state",
        &state,
        "--to",
        "1.31",
        "--iac",
        tf.to_str().unwrap(),
    ]);
    assert_exit(&out, 0);
    let err = stderr(&out);
    assert!(
        err.contains("warning: module.eks declares 'payments' at other versions than this run leaves it (control plane 1.31)"),
        "{err}"
    );
    assert!(
        err.contains("-  cluster_version = \"1.29\"\n+  cluster_version = \"1.31\""),
        "{err}"
    );
    // The simulator's pools are `system` and `general`; the files declare `general` and `legacy`.
    assert!(err.contains("pool legacy (module.eks.eks_managed_node_groups.legacy) is declared in the files but the cluster has no such pool"), "{err}");
    assert!(
        err.contains("pool system of the cluster is not declared in the files"),
        "{err}"
    );
}

#[test]
fn upgrade_dry_run_with_iac_in_step_prints_no_warning() {
    let work = tempfile::tempdir().unwrap();
    let state = simulated_payments(work.path());
    // Files that already declare what the run leaves: control plane and both pools at 1.30.
    let tf = work.path().join("main.tf");
    std::fs::write(
        &tf,
        r#"resource "aws_eks_cluster" "payments" {
  name    = "payments"
  version = "1.30"
}

resource "aws_eks_node_group" "system" {
  cluster_name    = aws_eks_cluster.payments.name
  node_group_name = "system"
  version         = "1.30"
}

resource "aws_eks_node_group" "general" {
  cluster_name    = aws_eks_cluster.payments.name
  node_group_name = "general"
  version         = "1.30"
}
"#,
    )
    .unwrap();
    let out = kupgrade(&[
        "upgrade",
        "--provider",
        "sim",
        "--sim-state",
        &state,
        "--to",
        "1.30",
        "--dry-run",
        "--iac",
        tf.to_str().unwrap(),
    ]);
    assert_exit(&out, 0);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));

    // One minor further, the same files are behind: the warning names the edits.
    let out = kupgrade(&[
        "upgrade",
        "--provider",
        "sim",
        "--sim-state",
        &state,
        "--to",
        "1.31",
        "--dry-run",
        "--iac",
        tf.to_str().unwrap(),
    ]);
    assert_exit(&out, 0);
    let err = stderr(&out);
    assert!(err.contains("declares 'payments' at other versions"), "{err}");
    assert_eq!(err.matches("+  version = \"1.31\"").count(), 1, "{err}");
    assert!(err.contains("+  version         = \"1.31\""), "{err}");
}
