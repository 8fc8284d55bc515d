//! Fixture repositories for each supported shape: what is found, the plan, and the edits
//! (only version literals change, byte for byte elsewhere).

use std::path::{Path, PathBuf};

use kupgrade_core::{ClusterSnapshot, KubeVersion, NodePool, PlanOptions, Provider, Strategy, plan_with};
use kupgrade_iac::{Discovery, IacCluster, Train, VersionRef, discover, train};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn found(name: &str) -> Discovery {
    discover(&[fixture(name)]).unwrap()
}

fn v(minor: u32) -> KubeVersion {
    KubeVersion::new(1, minor)
}

fn in_place(provider: Provider) -> PlanOptions {
    PlanOptions::new(provider, Strategy::InPlace)
}

fn version_of(r: &VersionRef) -> Option<KubeVersion> {
    r.declared().map(|d| d.value.minor_version())
}

fn pool<'a>(c: &'a IacCluster, name: &str) -> &'a kupgrade_iac::IacPool {
    c.pools
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no pool {name} in {c:#?}"))
}

/// Only version literals change: every changed line differs only inside one literal, and
/// putting the old literals back gives the original bytes.
fn assert_only_versions_change(train: &Train) {
    let last = train.steps.len();
    for change in train.files_after(last).unwrap() {
        let before: Vec<&str> = change.before.split_inclusive('\n').collect();
        let after: Vec<&str> = change.after.split_inclusive('\n').collect();
        assert_eq!(before.len(), after.len(), "{}", change.path.display());
        for (b, a) in before.iter().zip(&after) {
            if b == a {
                continue;
            }
            let (prefix, suffix) = common_affixes(b, a);
            let old = &b[prefix..b.len() - suffix];
            let new = &a[prefix..a.len() - suffix];
            let is_version = |s: &str| {
                s.chars()
                    .all(|c| c.is_ascii_digit() || c == '.' || c == '"' || c == '-' || c.is_ascii_lowercase())
            };
            assert!(
                is_version(old) && is_version(new),
                "{}: {b:?} -> {a:?}",
                change.path.display()
            );
        }
    }
}

fn common_affixes(a: &str, b: &str) -> (usize, usize) {
    let prefix = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .bytes()
        .rev()
        .zip(b[prefix..].bytes().rev())
        .take_while(|(x, y)| x == y)
        .count();
    (prefix, suffix)
}

#[test]
fn eks_resources_with_variables_locals_and_tfvars() {
    let d = found("eks-resources");
    let c = d.cluster(Some("prod")).unwrap();
    assert_eq!(c.address, "aws_eks_cluster.prod");
    // terraform.tfvars wins over the variable's default, and the edit goes there.
    let cp = c.control_plane.declared().unwrap();
    assert_eq!(cp.value, v(29));
    assert!(cp.location.file.ends_with("terraform.tfvars"), "{cp:?}");
    assert_eq!(cp.via, ["var.cluster_version"]);
    assert_eq!(version_of(&pool(c, "general").version), Some(v(29)));
    assert_eq!(pool(c, "general").nodes, 6);
    let legacy = pool(c, "legacy").version.declared().unwrap();
    assert_eq!(
        (legacy.value.clone(), legacy.via.clone()),
        (v(27), vec!["local.legacy_version".to_string()])
    );

    let t = train(c, &v(32), &in_place(Provider::Eks)).unwrap();
    let titles: Vec<String> = t.steps.iter().map(|s| s.title()).collect();
    assert_eq!(
        titles,
        [
            "control plane 1.29 -> 1.30; pool legacy 1.27 -> 1.30",
            "control plane 1.30 -> 1.31",
            "control plane 1.31 -> 1.32; pool general 1.29 -> 1.32; pool legacy 1.30 -> 1.32",
        ]
    );
    let step1 = t.step_changes(1).unwrap();
    let tfvars = step1
        .iter()
        .find(|c| c.path.ends_with("terraform.tfvars"))
        .unwrap();
    assert!(tfvars.after.contains("cluster_version = \"1.30\"\n"));
    let vars = step1.iter().find(|c| c.path.ends_with("variables.tf")).unwrap();
    assert!(
        vars.after
            .contains("legacy_version = \"1.30\" # the batch jobs still need 1.27 images")
    );
    assert!(
        vars.after.contains("default     = \"1.28\""),
        "the overridden default stays"
    );
    assert_only_versions_change(&t);
}

#[test]
fn auto_tfvars_win_over_terraform_tfvars_in_terraforms_order() {
    // Terraform loads terraform.tfvars, then *.auto.tfvars by name; the last value wins. A name
    // that sorts before "terraform.tfvars" must still win over it.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.tf"),
        "variable \"v\" {\n  default = \"1.28\"\n}\nresource \"aws_eks_cluster\" \"c\" {\n  name    = \"c\"\n  version = var.v\n}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("terraform.tfvars"), "v = \"1.29\"\n").unwrap();
    std::fs::write(dir.path().join("a.auto.tfvars"), "v = \"1.30\"\n").unwrap();
    std::fs::write(dir.path().join("b.auto.tfvars"), "v = \"1.31\"\n").unwrap();
    let d = discover(&[dir.path().to_path_buf()]).unwrap();
    let cp = d.cluster(None).unwrap().control_plane.declared().unwrap().clone();
    assert_eq!(cp.value, v(31));
    assert!(cp.location.file.ends_with("b.auto.tfvars"), "{cp:?}");
}

#[test]
fn the_plan_from_files_equals_the_plan_from_a_state_file() {
    let d = found("eks-resources");
    let c = d.cluster(None).unwrap();
    let from_files = train(c, &v(32), &in_place(Provider::Eks)).unwrap().plan;
    // The same cluster as `kupgrade plan --state` reads it.
    let state = ClusterSnapshot {
        provider: Provider::Eks,
        name: "prod".into(),
        control_plane: v(29),
        status: Default::default(),
        node_pools: vec![
            NodePool::new("general", v(29), 6),
            NodePool::new("legacy", v(27), 2),
        ],
        auto_upgrade: None,
        id: None,
    };
    let from_state = plan_with(&state, &v(32), &in_place(Provider::Eks)).unwrap();
    assert_eq!(from_files, from_state);
}

#[test]
fn eks_module_before_and_after_the_kubernetes_version_rename() {
    let d20 = found("eks-module-v20");
    let c = d20.cluster(None).unwrap();
    assert_eq!((c.name.as_str(), c.address.as_str()), ("payments", "module.eks"));
    assert_eq!(version_of(&c.control_plane), Some(v(29)));
    assert_eq!(version_of(&pool(c, "legacy").version), Some(v(28)));
    // A node group without a version follows the module's control-plane version: one literal.
    let general = pool(c, "general").version.declared().unwrap();
    assert_eq!(general.location, c.control_plane.declared().unwrap().location);
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("eks_managed_node_groups.general sets no version"))
    );
    let t = train(c, &v(31), &in_place(Provider::Eks)).unwrap();
    assert_eq!(t.steps.len(), 2);
    let edit = &t.steps[0].edits[0];
    assert_eq!((edit.old.as_str(), edit.new.as_str()), ("\"1.29\"", "\"1.30\""));
    assert!(
        edit.declares.iter().any(|d| d.starts_with("pool general")),
        "{edit:?}"
    );
    assert_only_versions_change(&t);
    // It moves with each control-plane edit, so no step plans it apart.
    assert!(c.follows_control_plane(pool(c, "general")));
    let t = train(c, &v(32), &in_place(Provider::Eks)).unwrap();
    let titles: Vec<String> = t.steps.iter().map(|s| s.title()).collect();
    assert_eq!(
        titles,
        [
            "control plane 1.29 -> 1.30",
            "control plane 1.30 -> 1.31; pool legacy 1.28 -> 1.31",
            "control plane 1.31 -> 1.32; pool legacy 1.31 -> 1.32",
        ]
    );

    let d21 = found("eks-module-v21");
    let c = d21.cluster(Some("search")).unwrap();
    assert_eq!(version_of(&c.control_plane), Some(v(30)));
    assert_eq!(c.control_plane.declared().unwrap().via, ["local.k8s"]);
    assert_eq!(version_of(&pool(c, "gpu-a100").version), Some(v(29)));
    assert_eq!(version_of(&pool(c, "default").version), Some(v(30)));
    let t = train(c, &v(32), &in_place(Provider::Eks)).unwrap();
    assert_eq!(t.steps.len(), 2);
    assert_only_versions_change(&t);
    let last = t.files_after(2).unwrap();
    assert!(last[0].after.contains("k8s = \"1.32\""), "{}", last[0].after);
    assert!(
        last[0].after.contains("kubernetes_version = \"1.32\"\n    }"),
        "{}",
        last[0].after
    );
}

#[test]
fn aks_cluster_default_pool_and_node_pool() {
    let d = found("aks");
    let c = d.cluster(Some("orders")).unwrap();
    assert_eq!(c.provider, Provider::Aks);
    assert_eq!(version_of(&c.control_plane), Some(v(30)));
    assert_eq!(version_of(&pool(c, "system").version), Some(v(30)));
    assert_eq!(pool(c, "user").nodes, 5);
    let t = train(c, &v(32), &in_place(Provider::Aks)).unwrap();
    assert_eq!(t.steps.len(), 2);
    // "1.30.3" becomes "1.31": AKS takes the minor alone.
    let edit = t.steps[0].edits.iter().find(|e| e.old == "\"1.30.3\"").unwrap();
    assert_eq!(edit.new, "\"1.31\"");
    assert_only_versions_change(&t);
}

#[test]
fn gke_warns_that_a_release_channel_overrides_the_versions() {
    let d = found("gke");
    let c = d.cluster(None).unwrap();
    assert_eq!(c.provider, Provider::Gke);
    assert_eq!(version_of(&pool(c, "apps").version), Some(v(30)));
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("release channel REGULAR") && w.contains("min_master_version")),
        "{:?}",
        c.warnings
    );
    let t = train(c, &v(31), &in_place(Provider::Gke)).unwrap();
    assert_eq!(
        t.steps[0].title(),
        "control plane 1.30 -> 1.31; pool apps 1.30 -> 1.31"
    );
    assert_only_versions_change(&t);
}

#[test]
fn unresolvable_expressions_are_named_not_guessed() {
    let d = found("unresolved");
    let c = d.cluster(Some("edge")).unwrap();
    let VersionRef::Unresolved { expression, why } = &c.control_plane else {
        panic!("{:?}", c.control_plane);
    };
    assert_eq!(expression, "module.versions.kubernetes");
    assert!(why.contains("module outputs are not followed"));
    let err = train(c, &v(31), &in_place(Provider::Eks))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("aws_eks_cluster.edge") && err.contains("module.versions.kubernetes"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
    let unplanned = c.unplanned();
    assert_eq!(unplanned.len(), 1);
    assert!(unplanned[0].contains("lookup(var.versions"), "{unplanned:?}");
}

#[test]
fn eksctl_cluster_config_keeps_quotes_and_comments() {
    let d = found("eksctl");
    assert_eq!(d.clusters.len(), 2, "the ConfigMap is not a cluster");
    let c = d.cluster(Some("analytics")).unwrap();
    assert_eq!(version_of(&c.control_plane), Some(v(29)));
    assert!(c.unplanned()[0].contains("eksctl upgrade nodegroup --cluster analytics --name workers"));
    let t = train(c, &v(31), &in_place(Provider::Eks)).unwrap();
    assert_eq!(t.steps.len(), 2);
    let after = &t.files_after(2).unwrap()[0].after;
    assert!(
        after.contains("  version: \"1.31\"   # the control plane\n"),
        "{after}"
    );
    assert!(after.contains("  version: \"9.9\""), "the ConfigMap is untouched");
    assert_only_versions_change(&t);
    // Unquoted, 1.30 would be read as the number 1.3: the edit quotes it.
    let batch = d.cluster(Some("batch")).unwrap();
    let t = train(batch, &v(30), &in_place(Provider::Eks)).unwrap();
    assert!(
        t.files_after(1).unwrap()[0]
            .after
            .ends_with("  version: \"1.30\"\n")
    );
}

#[test]
fn several_clusters_need_a_name_and_unknown_names_list_the_found() {
    let d = discover(&[fixture("eksctl"), fixture("aks")]).unwrap();
    let err = d.cluster(None).unwrap_err().to_string();
    assert!(
        err.contains("declare 3 clusters") && err.contains("--cluster"),
        "{err}"
    );
    let err = d.cluster(Some("nope")).unwrap_err().to_string();
    assert!(err.contains("orders") && err.contains("analytics"), "{err}");
}

#[test]
fn broken_files_are_one_line_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.tf"),
        "resource \"aws_eks_cluster\" \"x\" {\n  version = \n",
    )
    .unwrap();
    let err = discover(&[dir.path().to_path_buf()]).unwrap_err().to_string();
    assert!(err.contains("main.tf is not valid HCL"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let err = discover(&[dir.path().join("missing.tf")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.tf"), "{err}");
}

#[test]
fn blue_green_is_refused_for_files() {
    let d = found("aks");
    let err = train(
        d.cluster(None).unwrap(),
        &v(31),
        &PlanOptions::new(Provider::Aks, Strategy::BlueGreen),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("in place"), "{err}");
}

#[test]
fn the_markdown_train_has_a_diff_checks_and_gates_per_step() {
    let d = found("eks-resources");
    let t = train(d.cluster(None).unwrap(), &v(32), &in_place(Provider::Eks)).unwrap();
    let md = t.render_markdown(&[]).unwrap();
    assert!(
        md.contains("## Step 1 of 3: control plane 1.29 -> 1.30; pool legacy 1.27 -> 1.30"),
        "{md}"
    );
    assert!(
        md.contains("-cluster_version = \"1.29\"\n+cluster_version = \"1.30\""),
        "{md}"
    );
    assert!(md.contains("- [ ] the control plane reports 1.30"), "{md}");
    assert!(
        md.contains("- [ ] every node of pool legacy reports 1.30"),
        "{md}"
    );
}

#[test]
fn git_commits_each_step_on_its_own_branch() {
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    let copy = root.join("infra");
    std::fs::create_dir(&copy).unwrap();
    for file in ["main.tf", "variables.tf", "terraform.tfvars"] {
        std::fs::copy(fixture("eks-resources").join(file), copy.join(file)).unwrap();
    }
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["config", "user.email", "test@example.com"]);
    git(&["config", "user.name", "kupgrade test"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "infra"]);
    let d = discover(std::slice::from_ref(&copy)).unwrap();
    let t = train(d.cluster(None).unwrap(), &v(32), &in_place(Provider::Eks)).unwrap();
    let branches = kupgrade_iac::git::commit_steps(&t, 2).unwrap();
    assert_eq!(
        branches,
        ["kupgrade/prod-step-1-to-1.30", "kupgrade/prod-step-2-to-1.31"]
    );
    let log = git(&["log", "--format=%s", "main..HEAD"]);
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        [
            "kupgrade: prod step 2/3: control plane 1.30 -> 1.31",
            "kupgrade: prod step 1/3: control plane 1.29 -> 1.30; pool legacy 1.27 -> 1.30"
        ]
    );
    let body = git(&["log", "-1", "--format=%B"]);
    assert!(
        body.contains("Before applying: kupgrade check --provider eks --cluster prod --to 1.31"),
        "{body}"
    );
    assert!(body.contains("Next: step 3/3"), "{body}");
    let tfvars = std::fs::read_to_string(copy.join("terraform.tfvars")).unwrap();
    assert!(tfvars.contains("cluster_version = \"1.31\""));
    // A file with uncommitted changes is refused before anything happens.
    std::fs::write(copy.join("terraform.tfvars"), format!("{tfvars}# local edit\n")).unwrap();
    let d = discover(std::slice::from_ref(&copy)).unwrap();
    let t = train(d.cluster(None).unwrap(), &v(32), &in_place(Provider::Eks)).unwrap();
    let err = kupgrade_iac::git::commit_steps(&t, 1).unwrap_err().to_string();
    assert!(err.contains("terraform.tfvars has uncommitted changes"), "{err}");
    assert_eq!(
        git(&["branch", "--show-current"]).trim(),
        "kupgrade/prod-step-2-to-1.31"
    );
}
