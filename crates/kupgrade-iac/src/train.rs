//! The plan as a train of file changes: one step per control-plane minor (with the pools that
//! must move with it), each step the edits of the version literals that make the files declare
//! the cluster as it stands after that step.

use std::collections::BTreeMap;
use std::path::PathBuf;

use kupgrade_core::checks::Finding;
use kupgrade_core::{Error, KubeVersion, PlanOptions, Result, Step, Strategy, UpgradePlan, plan_with};
use serde::Serialize;

use crate::model::{IacCluster, Location, VersionRef};

/// A pool moving in one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolMove {
    /// The pool.
    pub name: String,
    /// Its version before.
    pub from: KubeVersion,
    /// Its version after.
    pub to: KubeVersion,
}

/// One replaced literal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edit {
    /// The literal replaced.
    pub location: Location,
    /// Its text before (quotes included).
    pub old: String,
    /// Its text after.
    pub new: String,
    /// What it declares (`control plane of prod`, `pool general`), with how the attribute
    /// reaches it (`via var.cluster_version`).
    pub declares: Vec<String>,
}

/// One step of the train: a control-plane minor, then the pools that must move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrainStep {
    /// 1-based.
    pub number: usize,
    /// The control plane's move, if the step has one (a first step may move pools only).
    pub control_plane: Option<PoolMove>,
    /// The pools the step moves.
    pub pools: Vec<PoolMove>,
    /// The control plane's version once the step is applied.
    pub hop: KubeVersion,
    /// The literals it changes.
    pub edits: Vec<Edit>,
}

impl TrainStep {
    /// `control plane 1.29 -> 1.30; pool legacy 1.27 -> 1.30`.
    pub fn title(&self) -> String {
        let mut parts = Vec::new();
        if let Some(cp) = &self.control_plane {
            parts.push(format!("control plane {} -> {}", cp.from, cp.to));
        }
        for p in &self.pools {
            parts.push(format!("pool {} {} -> {}", p.name, p.from, p.to));
        }
        parts.join("; ")
    }
}

/// A whole train for one cluster.
#[derive(Debug, Clone, Serialize)]
pub struct Train {
    /// The cluster as the files declare it.
    pub cluster: IacCluster,
    /// The plan the steps come from (kupgrade's planner, in place).
    pub plan: UpgradePlan,
    /// The steps, in order.
    pub steps: Vec<TrainStep>,
    /// Pools left out because their version cannot be read, one line each.
    pub unplanned: Vec<String>,
}

/// One file before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// The file.
    pub path: PathBuf,
    /// Its text now.
    pub before: String,
    /// Its text with the edits.
    pub after: String,
}

impl FileChange {
    /// A unified diff, with paths as given.
    pub fn diff(&self) -> String {
        // `a/./main.tf` reads badly and `git apply` does not need the `./`.
        let path = self.path.strip_prefix(".").unwrap_or(&self.path);
        let name = path.display().to_string();
        similar::TextDiff::from_lines(&self.before, &self.after)
            .unified_diff()
            .context_radius(2)
            .header(&format!("a/{name}"), &format!("b/{name}"))
            .to_string()
    }
}

/// Plans `cluster` to `target` (in place: the files declare pools, and a blue/green swap
/// would need new pool declarations) and cuts the plan into steps.
pub fn train(cluster: &IacCluster, target: &KubeVersion, options: &PlanOptions) -> Result<Train> {
    if options.strategy != Strategy::InPlace {
        return Err(Error::invalid_input(format!(
            "infrastructure-as-code plans move versions in place; a {} upgrade needs new pool declarations, which kupgrade does not write",
            options.strategy
        )));
    }
    let snapshot = cluster.snapshot()?;
    let plan = plan_with(&snapshot, target, options)?;
    let mut steps: Vec<TrainStep> = Vec::new();
    let mut control_plane = snapshot.control_plane.clone();
    let mut current: Option<TrainStep> = None;
    for step in &plan.steps {
        match step {
            Step::UpgradeControlPlane { from, to } => {
                steps.extend(current.take());
                control_plane = to.clone();
                current = Some(TrainStep {
                    number: 0,
                    control_plane: Some(PoolMove {
                        name: "control plane".into(),
                        from: from.clone(),
                        to: to.clone(),
                    }),
                    pools: Vec::new(),
                    hop: to.clone(),
                    edits: Vec::new(),
                });
            }
            Step::UpgradeNodePool {
                node_pool, from, to, ..
            } => current
                .get_or_insert_with(|| TrainStep {
                    number: 0,
                    control_plane: None,
                    pools: Vec::new(),
                    hop: control_plane.clone(),
                    edits: Vec::new(),
                })
                .pools
                .push(PoolMove {
                    name: node_pool.clone(),
                    from: from.clone(),
                    to: to.clone(),
                }),
            _ => {}
        }
    }
    steps.extend(current);
    // The literals' texts as the steps go, and each declaration's version.
    let mut texts: BTreeMap<Location, String> = BTreeMap::new();
    let mut versions: BTreeMap<String, KubeVersion> = BTreeMap::new();
    versions.insert(CONTROL_PLANE.into(), snapshot.control_plane.clone());
    for pool in &snapshot.node_pools {
        versions.insert(pool.name.clone(), pool.version.clone());
    }
    for (n, step) in steps.iter_mut().enumerate() {
        step.number = n + 1;
        if let Some(cp) = &step.control_plane {
            versions.insert(CONTROL_PLANE.into(), cp.to.clone());
        }
        for p in &step.pools {
            versions.insert(p.name.clone(), p.to.clone());
        }
        step.edits = edits_for(cluster, &versions, &mut texts)?;
    }
    Ok(Train {
        cluster: cluster.clone(),
        plan,
        unplanned: cluster.unplanned(),
        steps,
    })
}

const CONTROL_PLANE: &str = "\u{0}control plane";

/// The edits that make the files declare `versions` (control plane under [`CONTROL_PLANE`],
/// pools by name), given the literals' current texts in `texts` (updated).
fn edits_for(
    cluster: &IacCluster,
    versions: &BTreeMap<String, KubeVersion>,
    texts: &mut BTreeMap<Location, String>,
) -> Result<Vec<Edit>> {
    // Each literal, the newest version any declaration through it must have, and who.
    let mut wanted: BTreeMap<Location, (KubeVersion, Vec<String>)> = BTreeMap::new();
    let declarations = std::iter::once((
        CONTROL_PLANE.to_string(),
        format!("control plane of {}", cluster.name),
        &cluster.control_plane,
    ))
    .chain(cluster.pools.iter().map(|p| {
        // A pool that follows the control plane's literal is not planned apart: it wants
        // what the control plane wants.
        let key = if cluster.follows_control_plane(p) && !versions.contains_key(&p.name) {
            CONTROL_PLANE.to_string()
        } else {
            p.name.clone()
        };
        (key, format!("pool {}", p.name), &p.version)
    }));
    for (key, label, version) in declarations {
        let (VersionRef::Declared(d), Some(want)) = (version, versions.get(&key)) else {
            continue;
        };
        let label = match d.via.as_slice() {
            [] => label,
            via => format!("{label} (via {})", via.join(" -> ")),
        };
        let entry = wanted
            .entry(d.location.clone())
            .or_insert_with(|| (want.clone(), Vec::new()));
        if want > &entry.0 {
            entry.0 = want.clone();
        }
        entry.1.push(label);
    }
    let mut edits = Vec::new();
    for (location, (version, declares)) in wanted {
        let old = match texts.get(&location) {
            Some(t) => t.clone(),
            None => read_token(&location)?,
        };
        let new = token_for(&old, &version);
        if unquote(&old) == unquote(&new) {
            continue;
        }
        texts.insert(location.clone(), new.clone());
        edits.push(Edit {
            location,
            old,
            new,
            declares,
        });
    }
    Ok(edits)
}

fn read_token(location: &Location) -> Result<String> {
    let text = std::fs::read_to_string(&location.file)
        .map_err(|e| Error::invalid_input(format!("cannot read {}: {e}", location.file.display())))?;
    text.get(location.start..location.end)
        .map(str::to_string)
        .ok_or_else(|| {
            Error::invalid_input(format!(
                "{} changed while kupgrade read it",
                location.file.display()
            ))
        })
}

fn unquote(token: &str) -> &str {
    token.trim_matches(|c| c == '"' || c == '\'')
}

/// The literal for `version`, quoted as `old` was: `"1.30"` for `"1.29.7"` (every provider takes
/// the minor alone), `'1.30'` for `'1.29'`. An unquoted YAML `1.29` becomes `"1.30"`: unquoted,
/// `1.30` would be the number 1.3.
fn token_for(old: &str, version: &KubeVersion) -> String {
    let minor = version.minor_version().to_string();
    if old.starts_with('\'') {
        format!("'{minor}'")
    } else {
        format!("\"{minor}\"")
    }
}

impl Train {
    /// The files as they are after steps `1..=upto` (cumulative from the files as read; a
    /// step is meant to be applied after the ones before it). Only version literals change.
    pub fn files_after(&self, upto: usize) -> Result<Vec<FileChange>> {
        if upto == 0 || upto > self.steps.len() {
            return Err(Error::invalid_input(format!(
                "step {upto} does not exist: the train for {} has {} step(s)",
                self.cluster.name,
                self.steps.len()
            )));
        }
        let mut last: BTreeMap<&Location, &str> = BTreeMap::new();
        for step in &self.steps[..upto] {
            for edit in &step.edits {
                last.insert(&edit.location, &edit.new);
            }
        }
        apply(last)
    }

    /// The steps as a Markdown "PR train": per step its diff, the pre-flight findings of its
    /// hop (`findings`, from kupgrade's checks on [`Train::plan`]), and what must be true before
    /// the next step.
    pub fn render_markdown(&self, findings: &[Finding]) -> Result<String> {
        use std::fmt::Write;
        let mut out = String::new();
        let c = &self.cluster;
        let _ = writeln!(
            out,
            "# Upgrade train: {} `{}` {} -> {}\n",
            c.provider.display_name(),
            c.name,
            self.plan.initial.control_plane,
            self.plan.target
        );
        let _ = writeln!(
            out,
            "Declared in `{}`. One pull request per step, merged and applied in order; never a skipped minor.\n",
            c.address
        );
        for w in c.warnings.iter().chain(&self.unplanned) {
            let _ = writeln!(out, "- Note: {w}");
        }
        if !c.warnings.is_empty() || !self.unplanned.is_empty() {
            let _ = writeln!(out);
        }
        for step in &self.steps {
            let _ = writeln!(
                out,
                "## Step {} of {}: {}\n",
                step.number,
                self.steps.len(),
                step.title()
            );
            let _ = writeln!(out, "```diff");
            for change in self.step_changes(step.number)? {
                out.push_str(&change.diff());
            }
            let _ = writeln!(out, "```\n");
            let _ = writeln!(out, "Before you apply (checks for {}):\n", step.hop);
            let hop_findings: Vec<&Finding> = findings
                .iter()
                .filter(|f| f.hop.as_ref().is_none_or(|h| h.same_minor(&step.hop)))
                .collect();
            if hop_findings.is_empty() {
                let _ = writeln!(
                    out,
                    "- [ ] nothing found offline; run `kupgrade check` against the live cluster for {}",
                    step.hop
                );
            }
            for f in hop_findings {
                let _ = writeln!(out, "- [ ] {} {} {}", f.severity, f.id, f.message);
            }
            let _ = writeln!(out, "\nBefore the next step:\n");
            let _ = writeln!(
                out,
                "- [ ] the apply of this step finished without errors and a new plan shows no changes"
            );
            if step.control_plane.is_some() {
                let _ = writeln!(out, "- [ ] the control plane reports {}", step.hop);
            }
            for p in &step.pools {
                let _ = writeln!(out, "- [ ] every node of pool {} reports {}", p.name, p.to);
            }
            let _ = writeln!(out, "- [ ] `kupgrade verify` passes\n");
        }
        Ok(out)
    }

    /// The files changed by step `n` alone (from the state after step `n - 1`).
    pub fn step_changes(&self, n: usize) -> Result<Vec<FileChange>> {
        let after = self.files_after(n)?;
        if n == 1 {
            return Ok(after);
        }
        let before = self.files_after(n - 1)?;
        Ok(after
            .into_iter()
            .map(|mut change| {
                if let Some(b) = before.iter().find(|b| b.path == change.path) {
                    change.before = b.after.clone();
                }
                change
            })
            .filter(|c| c.before != c.after)
            .collect())
    }
}

/// Replaces each literal in `tokens` (by location) and returns the files that change.
fn apply(tokens: BTreeMap<&Location, &str>) -> Result<Vec<FileChange>> {
    let mut by_file: BTreeMap<&PathBuf, Vec<(&Location, &str)>> = BTreeMap::new();
    for (location, token) in tokens {
        by_file.entry(&location.file).or_default().push((location, token));
    }
    let mut changes = Vec::new();
    for (path, mut edits) in by_file {
        let before = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid_input(format!("cannot read {}: {e}", path.display())))?;
        let mut after = before.clone();
        edits.sort_by_key(|edit| std::cmp::Reverse(edit.0.start));
        for (location, token) in edits {
            if after.get(location.start..location.end).is_none() {
                return Err(Error::invalid_input(format!(
                    "{} changed while kupgrade read it; run the command again",
                    path.display()
                )));
            }
            after.replace_range(location.start..location.end, token);
        }
        if after != before {
            changes.push(FileChange {
                path: path.clone(),
                before,
                after,
            });
        }
    }
    Ok(changes)
}

/// What [`edits_to_match`] found: the edits, and the pools the files declare that the given
/// end state does not have.
#[derive(Debug, Clone)]
pub struct Match {
    /// The files as they must be, one per changed file (none when they already agree).
    pub changes: Vec<FileChange>,
    /// Pools the files declare but the end state lacks: `(name, address)`.
    pub absent: Vec<(String, String)>,
}

/// What the files should say for the cluster to be declared as `control_plane` and `pools`
/// (a live run's end state).
pub fn edits_to_match(
    cluster: &IacCluster,
    control_plane: &KubeVersion,
    pools: &[(String, KubeVersion)],
) -> Result<Match> {
    let mut versions = BTreeMap::new();
    versions.insert(CONTROL_PLANE.to_string(), control_plane.clone());
    let mut missing = Vec::new();
    for pool in &cluster.pools {
        match pools.iter().find(|(name, _)| *name == pool.name) {
            Some((_, v)) => {
                versions.insert(pool.name.clone(), v.clone());
            }
            None => missing.push((pool.name.clone(), pool.address.clone())),
        }
    }
    let edits = edits_for(cluster, &versions, &mut BTreeMap::new())?;
    let tokens = edits.iter().map(|e| (&e.location, e.new.as_str())).collect();
    Ok(Match {
        changes: apply(tokens)?,
        absent: missing,
    })
}
