//! # kupgrade-iac
//!
//! Upgrades as code. Most clusters are owned by Terraform or eksctl files; calling the
//! provider's upgrade API behind their back leaves them declaring the old version, and the next
//! `terraform apply` fights the upgrade. This crate finds the versions the files declare, plans
//! them with kupgrade's planner and skew rules, and cuts the plan into a train of reviewable
//! changes, one per control-plane minor, each replacing only version literals.
//!
//! Find the cluster a Terraform directory declares, plan it to 1.31, and see what step 1
//! changes:
//!
//! ```
//! use kupgrade_core::{KubeVersion, PlanOptions, Provider, Strategy};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("main.tf"), r#"
//! variable "k8s" {
//!   default = "1.29" # bump one minor per PR
//! }
//! resource "aws_eks_cluster" "prod" {
//!   name    = "prod"
//!   version = var.k8s
//! }
//! resource "aws_eks_node_group" "general" {
//!   cluster_name    = aws_eks_cluster.prod.name
//!   node_group_name = "general"
//!   version         = "1.29"
//! }
//! "#)?;
//! let found = kupgrade_iac::discover(&[dir.path().to_path_buf()])?;
//! let cluster = found.cluster(None)?;
//! let options = PlanOptions::new(Provider::Eks, Strategy::InPlace);
//! let train = kupgrade_iac::train(cluster, &KubeVersion::new(1, 31), &options)?;
//! assert_eq!(train.steps.len(), 2);
//! assert_eq!(train.steps[0].title(), "control plane 1.29 -> 1.30");
//! let step1 = train.files_after(1)?;
//! assert!(step1[0].after.contains(r#"default = "1.30" # bump one minor per PR"#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod eksctl;
pub mod git;
mod model;
mod terraform;
mod train;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kupgrade_core::{Error, Result};

pub use model::{DeclaredVersion, Discovery, IacCluster, IacPool, Location, VersionRef};
pub use train::{Edit, FileChange, Match, PoolMove, Train, TrainStep, edits_to_match, train};

/// Reads every Terraform directory and eksctl file under `paths` (files or directories,
/// searched recursively; `.terraform` and hidden directories skipped). Each directory's `.tf`
/// files are one Terraform module, read with its `terraform.tfvars` and `*.auto.tfvars`.
/// YAML files that are not eksctl `ClusterConfig`s are ignored. A file that does not parse is
/// a one-line error naming it.
pub fn discover(paths: &[PathBuf]) -> Result<Discovery> {
    let mut files = Vec::new();
    for path in paths {
        collect(path, &mut files, true)?;
    }
    files.sort();
    files.dedup();
    let mut modules: BTreeMap<PathBuf, (Vec<PathBuf>, Vec<PathBuf>)> = BTreeMap::new();
    let mut clusters = Vec::new();
    for file in &files {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        if name.ends_with(".tf") {
            modules.entry(dir).or_default().0.push(file.clone());
        } else if name == "terraform.tfvars" || name.ends_with(".auto.tfvars") {
            modules.entry(dir).or_default().1.push(file.clone());
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            let text = std::fs::read_to_string(file)
                .map_err(|e| Error::invalid_input(format!("cannot read {}: {e}", file.display())))?;
            match eksctl::read(file, &text) {
                Ok(found) => clusters.extend(found),
                // YAML that is no eksctl config may be anything; a broken one is an error.
                Err(e) if text.contains("ClusterConfig") => return Err(e),
                Err(_) => {}
            }
        }
    }
    for (tf, tfvars) in modules.values_mut() {
        // Terraform's order, later wins: terraform.tfvars, then *.auto.tfvars by name.
        tfvars.sort_by_key(|p| (p.file_name().is_none_or(|n| n != "terraform.tfvars"), p.clone()));
        if !tf.is_empty() {
            clusters.extend(terraform::read_dir(tf, tfvars)?);
        }
    }
    Ok(Discovery { clusters, files })
}

fn collect(path: &Path, out: &mut Vec<PathBuf>, given: bool) -> Result<()> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::invalid_input(format!("cannot read {}: {e}", path.display())))?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if !given && (name.starts_with('.') || name == "node_modules") {
        return Ok(());
    }
    let entries = std::fs::read_dir(path)
        .map_err(|e| Error::invalid_input(format!("cannot read {}: {e}", path.display())))?;
    let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    children.sort();
    for child in children {
        let is_dir = child.is_dir();
        let child_name = child.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let wanted = child_name.ends_with(".tf")
            || child_name.ends_with(".tfvars")
            || child_name.ends_with(".yaml")
            || child_name.ends_with(".yml");
        if is_dir {
            collect(&child, out, false)?;
        } else if wanted {
            out.push(child);
        }
    }
    Ok(())
}
