//! Terraform: the clusters and node pools one module directory declares, read with `hcl-edit`
//! (which keeps each token's byte span, so an edit replaces exactly the version literal).
//!
//! Read: `aws_eks_cluster` (`version`), `aws_eks_node_group` (`version`), the
//! terraform-aws-modules EKS module (`kubernetes_version`, called `cluster_version` before v21,
//! and its `eks_managed_node_groups`), `azurerm_kubernetes_cluster` (`kubernetes_version`,
//! `default_node_pool.orchestrator_version`), `azurerm_kubernetes_cluster_node_pool`
//! (`orchestrator_version`), `google_container_cluster` (`min_master_version`, inline
//! `node_pool` blocks) and `google_container_node_pool` (`version`).
//!
//! A version may be a literal, a `var.` with a default (or a value in `terraform.tfvars` or a
//! `*.auto.tfvars` file, which Terraform loads by itself), a `local.`, or another resource's
//! attribute (`aws_eks_cluster.prod.version`), followed to the literal. Anything else (module
//! outputs, data sources, functions, conditionals) is named as unresolved, never guessed.

use std::collections::HashMap;
use std::path::PathBuf;

use hcl_edit::Span;
use hcl_edit::expr::{Expression, ObjectKey, TraversalOperator};
use hcl_edit::structure::{Block, BlockLabel, Body};
use hcl_edit::template::Element;
use kupgrade_core::{Error, Provider, Result};

use crate::model::{DeclaredVersion, IacCluster, IacPool, Location, VersionRef, line_of, parse_version};

/// One parsed file.
struct File {
    path: PathBuf,
    text: String,
    body: Body,
}

/// Where an expression is written: the file (index) and the expression.
type Ref<'a> = (usize, &'a Expression);

/// A module directory's files and the names they define.
struct Module<'a> {
    files: &'a [File],
    vars: HashMap<String, Ref<'a>>,
    locals: HashMap<String, Ref<'a>>,
    resources: HashMap<(String, String), (usize, &'a Block)>,
}

/// Reads the `.tf` files of one directory (with its `terraform.tfvars` and `*.auto.tfvars`).
pub(crate) fn read_dir(tf: &[PathBuf], tfvars: &[PathBuf]) -> Result<Vec<IacCluster>> {
    let mut files = Vec::new();
    for path in tf.iter().chain(tfvars) {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid_input(format!("cannot read {}: {e}", path.display())))?;
        let body = hcl_edit::parser::parse_body(&text).map_err(|e| {
            let first = e.to_string();
            let first = first.lines().next().unwrap_or("").trim().to_string();
            Error::invalid_input(format!("{} is not valid HCL: {first}", path.display()))
        })?;
        files.push(File {
            path: path.clone(),
            text,
            body,
        });
    }
    let module = Module::new(&files, tf.len());
    Ok(module.clusters())
}

impl<'a> Module<'a> {
    fn new(files: &'a [File], tf_count: usize) -> Self {
        let mut module = Module {
            files,
            vars: HashMap::new(),
            locals: HashMap::new(),
            resources: HashMap::new(),
        };
        for (i, file) in files.iter().enumerate().take(tf_count) {
            for block in file.body.blocks() {
                match (block.ident.as_str(), labels(block).as_slice()) {
                    ("variable", [name]) => {
                        if let Some(default) = block.body.get_attribute("default") {
                            module.vars.insert(name.clone(), (i, &default.value));
                        }
                    }
                    ("locals", []) => {
                        for attr in block.body.attributes() {
                            module
                                .locals
                                .insert(attr.key.as_str().to_string(), (i, &attr.value));
                        }
                    }
                    ("resource", [kind, name]) => {
                        module.resources.insert((kind.clone(), name.clone()), (i, block));
                    }
                    _ => {}
                }
            }
        }
        // Values Terraform loads by itself win over defaults.
        for (i, file) in files.iter().enumerate().skip(tf_count) {
            for attr in file.body.attributes() {
                module
                    .vars
                    .insert(attr.key.as_str().to_string(), (i, &attr.value));
            }
        }
        module
    }

    /// Every cluster, with its pools attached.
    fn clusters(&self) -> Vec<IacCluster> {
        let mut clusters = Vec::new();
        let mut pools: Vec<(String, String, IacPool)> = Vec::new();
        for (i, file) in self.files.iter().enumerate() {
            for block in file.body.blocks() {
                let labels = labels(block);
                match (block.ident.as_str(), labels.as_slice()) {
                    ("resource", [kind, name]) => match kind.as_str() {
                        "aws_eks_cluster" => clusters.push(self.plain_cluster(
                            i,
                            block,
                            Provider::Eks,
                            kind,
                            name,
                            "version",
                            "EKS then picks its default version at creation and Terraform never moves it",
                        )),
                        "azurerm_kubernetes_cluster" => {
                            let mut c = self.plain_cluster(
                                i,
                                block,
                                Provider::Aks,
                                kind,
                                name,
                                "kubernetes_version",
                                "AKS then picks its default version at creation and Terraform never moves it",
                            );
                            if let Some(pool) = block.body.get_blocks("default_node_pool").next() {
                                c.pools.push(self.pool_block(
                                    i,
                                    pool,
                                    &format!("{kind}.{name}.default_node_pool"),
                                    "orchestrator_version",
                                    "node_count",
                                    "azurerm then uses the latest recommended version at creation and never upgrades it",
                                ));
                            }
                            clusters.push(c);
                        }
                        "google_container_cluster" => clusters.push(self.gke_cluster(i, block, kind, name)),
                        "aws_eks_node_group"
                        | "azurerm_kubernetes_cluster_node_pool"
                        | "google_container_node_pool" => {
                            let (cluster_attr, version_attr, count_attr, name_attr, why) = match kind.as_str()
                            {
                                "aws_eks_node_group" => (
                                    "cluster_name",
                                    "version",
                                    "",
                                    "node_group_name",
                                    "EKS then gives the node group the cluster's version at creation and Terraform never moves it",
                                ),
                                "azurerm_kubernetes_cluster_node_pool" => (
                                    "kubernetes_cluster_id",
                                    "orchestrator_version",
                                    "node_count",
                                    "name",
                                    "azurerm then uses the latest recommended version at creation and never upgrades it",
                                ),
                                _ => (
                                    "cluster",
                                    "version",
                                    "node_count",
                                    "name",
                                    "GKE then gives the pool the control plane's version and, with auto-upgrade, moves it itself",
                                ),
                            };
                            let address = format!("{kind}.{name}");
                            let mut pool = self.pool_block(i, block, &address, version_attr, count_attr, why);
                            pool.name = self
                                .string_attr(&block.body, name_attr)
                                .unwrap_or_else(|| name.clone());
                            if kind == "aws_eks_node_group" {
                                pool.nodes = block
                                    .body
                                    .get_blocks("scaling_config")
                                    .next()
                                    .and_then(|b| number_attr(&b.body, "desired_size"))
                                    .unwrap_or(1);
                            }
                            let cluster = block
                                .body
                                .get_attribute(cluster_attr)
                                .map(|a| self.cluster_key(&a.value))
                                .unwrap_or_default();
                            pools.push((kind.clone(), cluster, pool));
                        }
                        _ => {}
                    },
                    ("module", [name]) if is_eks_module(&block.body) => {
                        clusters.push(self.eks_module(i, block, name));
                    }
                    _ => {}
                }
            }
        }
        for (kind, key, pool) in pools {
            let provider = match kind.as_str() {
                "aws_eks_node_group" => Provider::Eks,
                "azurerm_kubernetes_cluster_node_pool" => Provider::Aks,
                _ => Provider::Gke,
            };
            if let Some(c) = clusters
                .iter_mut()
                .find(|c| c.provider == provider && (c.address == key || c.name == key))
            {
                c.pools.push(pool);
            }
        }
        clusters
    }

    /// A cluster resource whose version is one attribute.
    #[allow(clippy::too_many_arguments)]
    fn plain_cluster(
        &self,
        file: usize,
        block: &Block,
        provider: Provider,
        kind: &str,
        label: &str,
        version_attr: &str,
        missing: &str,
    ) -> IacCluster {
        IacCluster {
            provider,
            name: self
                .string_attr(&block.body, "name")
                .unwrap_or_else(|| label.to_string()),
            address: format!("{kind}.{label}"),
            control_plane: self.attr_version(file, &block.body, version_attr, missing),
            pools: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn gke_cluster(&self, file: usize, block: &Block, kind: &str, label: &str) -> IacCluster {
        let mut cluster = self.plain_cluster(
            file,
            block,
            Provider::Gke,
            kind,
            label,
            "min_master_version",
            "the release channel or GKE's default decides the version",
        );
        if let Some(channel) = block
            .body
            .get_blocks("release_channel")
            .next()
            .and_then(|b| self.string_attr(&b.body, "channel"))
            && channel != "UNSPECIFIED"
        {
            cluster.warnings.push(format!(
                "{}: release channel {channel}: GKE upgrades the control plane and nodes itself and treats min_master_version as a floor, so these versions and edits do not stop the channel's upgrades",
                cluster.address
            ));
        }
        for pool in block.body.get_blocks("node_pool") {
            let name = self
                .string_attr(&pool.body, "name")
                .unwrap_or_else(|| "node_pool".into());
            let mut p = self.pool_block(
                file,
                pool,
                &format!("{}.node_pool.{name}", cluster.address),
                "version",
                "node_count",
                "GKE then gives the pool the control plane's version and, with auto-upgrade, moves it itself",
            );
            p.name = name;
            cluster.pools.push(p);
        }
        cluster
    }

    /// The terraform-aws-modules EKS module: `kubernetes_version` (v21) or `cluster_version`
    /// (v20 and before), and its `eks_managed_node_groups`.
    fn eks_module(&self, file: usize, block: &Block, label: &str) -> IacCluster {
        let body = &block.body;
        let address = format!("module.{label}");
        let version_attr = if body.get_attribute("kubernetes_version").is_some() {
            "kubernetes_version"
        } else {
            "cluster_version"
        };
        let name = self
            .string_attr(body, "name")
            .or_else(|| self.string_attr(body, "cluster_name"))
            .unwrap_or_else(|| label.to_string());
        let control_plane = self.attr_version(
            file,
            body,
            version_attr,
            "the module then creates the cluster at EKS's default version and never moves it",
        );
        let mut cluster = IacCluster {
            provider: Provider::Eks,
            name,
            address: address.clone(),
            control_plane: control_plane.clone(),
            pools: Vec::new(),
            warnings: Vec::new(),
        };
        let Some(Expression::Object(groups)) =
            body.get_attribute("eks_managed_node_groups").map(|a| &a.value)
        else {
            return cluster;
        };
        for (key, value) in groups.iter() {
            let key = match key {
                ObjectKey::Ident(id) => id.as_str().to_string(),
                ObjectKey::Expression(e) => e.as_str().unwrap_or("group").to_string(),
            };
            let Expression::Object(group) = value.expr() else {
                continue;
            };
            let get = |attr: &str| {
                group.iter().find_map(|(k, v)| match k {
                    ObjectKey::Ident(id) if id.as_str() == attr => Some(v.expr()),
                    _ => None,
                })
            };
            let pool_address = format!("{address}.eks_managed_node_groups.{key}");
            let version = match get("kubernetes_version").or_else(|| get("cluster_version")) {
                Some(expr) => self.resolve(file, expr, 0),
                None => {
                    cluster.warnings.push(format!(
                        "{pool_address} sets no version: the module gives it the control plane's, so it is replaced at every control-plane hop; set kubernetes_version on it to move it only when the plan does"
                    ));
                    match &control_plane {
                        VersionRef::Declared(d) => {
                            let mut d = d.clone();
                            d.via
                                .insert(0, format!("{address}.{version_attr} (the module's default)"));
                            VersionRef::Declared(d)
                        }
                        unresolved => unresolved.clone(),
                    }
                }
            };
            let name = get("name")
                .and_then(|e| self.resolve_string(e, 0))
                .unwrap_or_else(|| key.clone());
            let nodes = get("desired_size")
                .and_then(|e| match e {
                    Expression::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
                    _ => None,
                })
                .unwrap_or(1);
            cluster.pools.push(IacPool {
                name,
                address: pool_address,
                version,
                nodes,
            });
        }
        cluster
    }

    fn pool_block(
        &self,
        file: usize,
        block: &Block,
        address: &str,
        version_attr: &str,
        count_attr: &str,
        missing: &str,
    ) -> IacPool {
        IacPool {
            name: self
                .string_attr(&block.body, "name")
                .unwrap_or_else(|| address.rsplit('.').next().unwrap_or(address).to_string()),
            address: address.to_string(),
            version: self.attr_version(file, &block.body, version_attr, missing),
            nodes: number_attr(&block.body, count_attr).unwrap_or(1),
        }
    }

    fn attr_version(&self, file: usize, body: &Body, attr: &str, missing: &str) -> VersionRef {
        match body.get_attribute(attr) {
            Some(a) => self.resolve(file, &a.value, 0),
            None => VersionRef::Unresolved {
                expression: format!("{attr} (not set)"),
                why: missing.to_string(),
            },
        }
    }

    /// What a pool's cluster attribute points at: `aws_eks_cluster.prod` for a reference to
    /// that resource, else the cluster's name when it resolves to a string.
    fn cluster_key(&self, expr: &Expression) -> String {
        if let Some(path) = traversal_path(expr)
            && path.len() >= 2
            && self.resources.contains_key(&(path[0].clone(), path[1].clone()))
        {
            return format!("{}.{}", path[0], path[1]);
        }
        self.resolve_string(expr, 0).unwrap_or_default()
    }

    fn string_attr(&self, body: &Body, attr: &str) -> Option<String> {
        body.get_attribute(attr)
            .and_then(|a| self.resolve_string(&a.value, 0))
    }

    /// A string value, followed through variables and locals.
    fn resolve_string(&self, expr: &Expression, depth: usize) -> Option<String> {
        if depth > 16 {
            return None;
        }
        match expr {
            Expression::String(s) => Some(s.value().clone()),
            Expression::Parenthesis(p) => self.resolve_string(p.inner(), depth + 1),
            _ => {
                let (_, next) = self.follow(expr)?.ok()?;
                self.resolve_string(next, depth + 1)
            }
        }
    }

    /// Follows `var.x`, `local.x` or `TYPE.NAME.ATTR` one step: `Some(Ok(where it leads))`, or
    /// `Some(Err(why not))` for a reference kupgrade does not follow; `None` when `expr` is
    /// no reference.
    fn follow(&self, expr: &Expression) -> Option<std::result::Result<Ref<'a>, String>> {
        let path = traversal_path(expr)?;
        Some(match path.as_slice() {
            [var, name] if var == "var" => self.vars.get(name).copied().ok_or_else(|| {
                format!("variable {name} has no default and no value in terraform.tfvars or a *.auto.tfvars file (a -var or -var-file value is not visible to kupgrade)")
            }),
            [local, name] if local == "local" => self
                .locals
                .get(name)
                .copied()
                .ok_or_else(|| format!("local.{name} is not defined in this directory")),
            [module, ..] if module == "module" => Err("module outputs are not followed".into()),
            [data, ..] if data == "data" => Err("data sources are read when Terraform runs".into()),
            [kind, name, attr] => match self.resources.get(&(kind.clone(), name.clone())) {
                Some((i, block)) => block
                    .body
                    .get_attribute(attr)
                    .map(|a| (*i, &a.value))
                    .ok_or_else(|| format!("{kind}.{name} sets no {attr}")),
                None => Err(format!("{kind}.{name} is not declared in this directory")),
            },
            _ => Err("this reference is not followed".into()),
        })
    }

    /// A version, followed to its literal.
    fn resolve(&self, file: usize, expr: &Expression, depth: usize) -> VersionRef {
        let shown = expression_text(expr);
        let unresolved = |why: String| VersionRef::Unresolved {
            expression: shown.clone(),
            why,
        };
        if depth > 16 {
            return unresolved("references go round in a circle".into());
        }
        match expr {
            Expression::String(s) => {
                let text = &self.files[file].text;
                let Some(span) = s.span() else {
                    return unresolved("the literal's position is unknown".into());
                };
                match parse_version(s.value()) {
                    Some(value) => VersionRef::Declared(DeclaredVersion {
                        value,
                        location: Location {
                            file: self.files[file].path.clone(),
                            start: span.start,
                            end: span.end,
                            line: line_of(text, span.start),
                        },
                        via: Vec::new(),
                    }),
                    None => unresolved(format!("\"{}\" is not a Kubernetes version", s.value())),
                }
            }
            Expression::StringTemplate(t) => match t.iter().collect::<Vec<_>>().as_slice() {
                [Element::Interpolation(inner)] => self.resolve(file, &inner.expr, depth + 1),
                _ => unresolved("a string template is not a single version".into()),
            },
            Expression::Parenthesis(p) => self.resolve(file, p.inner(), depth + 1),
            _ => match self.follow(expr) {
                Some(Ok((next_file, next))) => match self.resolve(next_file, next, depth + 1) {
                    VersionRef::Declared(mut d) => {
                        d.via.insert(0, shown.clone());
                        VersionRef::Declared(d)
                    }
                    VersionRef::Unresolved { why, .. } => unresolved(why),
                },
                Some(Err(why)) => unresolved(why),
                None => {
                    unresolved("only literals, variables, locals and resource attributes are followed".into())
                }
            },
        }
    }
}

fn labels(block: &Block) -> Vec<String> {
    block
        .labels
        .iter()
        .map(|l| match l {
            BlockLabel::Ident(i) => i.as_str().to_string(),
            BlockLabel::String(s) => s.value().clone(),
        })
        .collect()
}

fn number_attr(body: &Body, attr: &str) -> Option<u32> {
    match body.get_attribute(attr).map(|a| &a.value) {
        Some(Expression::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        _ => None,
    }
}

/// `["var", "k8s_version"]` for `var.k8s_version`.
fn traversal_path(expr: &Expression) -> Option<Vec<String>> {
    let Expression::Traversal(t) = expr else {
        return None;
    };
    let Expression::Variable(root) = &t.expr else {
        return None;
    };
    let mut path = vec![root.as_str().to_string()];
    for op in &t.operators {
        match op.value() {
            TraversalOperator::GetAttr(id) => path.push(id.as_str().to_string()),
            _ => return None,
        }
    }
    Some(path)
}

fn expression_text(expr: &Expression) -> String {
    let text = expr.to_string();
    let text = text.trim();
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 80 {
        format!("{}...", one_line.chars().take(77).collect::<String>())
    } else {
        one_line
    }
}

/// Whether a module block is the terraform-aws-modules EKS module (its root, not a submodule).
fn is_eks_module(body: &Body) -> bool {
    let Some(Expression::String(source)) = body.get_attribute("source").map(|a| &a.value) else {
        return false;
    };
    let source = source.value().as_str();
    (source.contains("terraform-aws-modules/eks/aws")
        || source.contains("terraform-aws-modules/terraform-aws-eks"))
        && !source.contains("//modules/")
}
