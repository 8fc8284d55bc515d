//! Commits a train, one branch per step, with the `git` command line (so the user's own
//! configuration, hooks and signing apply).

use std::path::Path;
use std::process::Command;

use kupgrade_core::{Error, Result};

use crate::train::{FileChange, Train};

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| Error::invalid_input(format!("cannot run git: {e}; install git or leave out --git")))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        let why = why.lines().next().unwrap_or("").trim();
        return Err(Error::invalid_input(format!(
            "git {} failed: {why}",
            args.join(" ")
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The branch of step `n`: `kupgrade/CLUSTER-step-N-to-X.Y`.
pub fn branch_name(train: &Train, n: usize) -> String {
    let cluster: String = train
        .cluster
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("kupgrade/{cluster}-step-{n}-to-{}", train.steps[n - 1].hop)
}

/// The commit message of step `n`: the step, the checks to run before applying, the next step.
pub fn message(train: &Train, n: usize) -> String {
    let step = &train.steps[n - 1];
    let total = train.steps.len();
    let mut msg = format!(
        "kupgrade: {} step {n}/{total}: {}\n\nBefore applying: kupgrade check --provider {} --cluster {} --to {}\n",
        train.cluster.name,
        step.title(),
        train.cluster.provider,
        train.cluster.name,
        step.hop
    );
    msg.push_str("After applying: the apply shows no further changes, and kupgrade verify passes.\n");
    match train.steps.get(n) {
        Some(next) => msg.push_str(&format!("Next: step {}/{total}: {}\n", n + 1, next.title())),
        None => msg.push_str(&format!(
            "This is the last step: the cluster reaches {}.\n",
            train.plan.target
        )),
    }
    msg
}

/// Writes and commits steps `1..=upto`, each on its own branch made from the previous one
/// (starting at the current `HEAD`), and returns the branches. Refuses when a file the train
/// changes has uncommitted changes, or a branch already exists. The last branch stays checked
/// out.
pub fn commit_steps(train: &Train, upto: usize) -> Result<Vec<String>> {
    // Every step's files from the files as read now, before anything is written (offsets are
    // those of the text as read).
    let steps: Vec<Vec<FileChange>> = (1..=upto).map(|n| train.files_after(n)).collect::<Result<_>>()?;
    let first = steps.last().cloned().unwrap_or_default();
    let Some(any) = first.first() else {
        return Ok(Vec::new());
    };
    let dir = any
        .path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let root = git(dir, &["rev-parse", "--show-toplevel"])?;
    let root = Path::new(&root);
    for change in &first {
        let path = change.path.canonicalize().unwrap_or_else(|_| change.path.clone());
        let status = git(
            root,
            &["status", "--porcelain", "--", &path.display().to_string()],
        )?;
        if !status.is_empty() {
            return Err(Error::invalid_input(format!(
                "{} has uncommitted changes; commit or stash them before --git",
                change.path.display()
            )));
        }
    }
    let mut branches = Vec::new();
    for (n, changes) in (1..=upto).zip(&steps) {
        let branch = branch_name(train, n);
        git(root, &["checkout", "-q", "-b", &branch])?;
        let mut paths = Vec::new();
        for change in changes {
            write(change)?;
            paths.push(
                change
                    .path
                    .canonicalize()
                    .unwrap_or_else(|_| change.path.clone())
                    .display()
                    .to_string(),
            );
        }
        let mut add = vec!["add", "--"];
        add.extend(paths.iter().map(String::as_str));
        git(root, &add)?;
        git(root, &["commit", "-q", "-m", &message(train, n)])?;
        branches.push(branch);
    }
    Ok(branches)
}

/// Writes a changed file (its text after the edits) and reads it back to confirm it.
pub fn write(change: &FileChange) -> Result<()> {
    let path = change.path.display();
    std::fs::write(&change.path, &change.after)
        .map_err(|e| Error::invalid_input(format!("cannot write {path}: {e}")))?;
    // Reported as written only once read back as written.
    let back = std::fs::read_to_string(&change.path)
        .map_err(|e| Error::invalid_input(format!("cannot read back {path}: {e}")))?;
    if back != change.after {
        return Err(Error::invalid_input(format!(
            "{path} does not hold what was written (another process changed it?); check it and rerun"
        )));
    }
    Ok(())
}
