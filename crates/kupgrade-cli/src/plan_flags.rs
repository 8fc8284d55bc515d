//! The flags that shape a plan ([`PlanFlags`]), shared by `plan`, `check`, `upgrade` and
//! `demo`, and the parsers of version and strategy flags.

use clap::Args;
use kupgrade_core::{KubeVersion, PlanOptions, Strategy};

/// Parses a version flag.
pub fn parse_version(s: &str) -> Result<KubeVersion, String> {
    KubeVersion::parse(s).map_err(|e| e.to_string())
}

/// Parses a target version flag: a version, and not one older than any provider offers.
pub fn parse_target(s: &str) -> Result<KubeVersion, String> {
    let version = parse_version(s)?;
    kupgrade_core::calendar::check_target_offered_somewhere(&version).map_err(|e| e.to_string())?;
    Ok(version)
}

/// Parses a strategy flag.
pub fn parse_strategy(s: &str) -> Result<Strategy, String> {
    s.parse().map_err(|e: kupgrade_core::Error| e.to_string())
}

/// The flags that shape a plan, shared by `plan` and `upgrade`.
#[derive(Debug, Clone, Args)]
pub struct PlanFlags {
    /// Target minor version, e.g. 1.32.
    #[arg(long = "to", value_parser = parse_target)]
    pub to: KubeVersion,
    /// How node pools are moved: in-place, blue-green or canary.
    #[arg(long, default_value = "in-place", value_parser = parse_strategy)]
    pub strategy: Strategy,
    /// Override how many minors nodes may lag the control plane.
    #[arg(long)]
    pub lag_limit: Option<u32>,
    /// For canary: the pool to move first.
    #[arg(long)]
    pub canary_pool: Option<String>,
    /// For canary: try the new version on a new one-node copy of the canary pool first, and
    /// delete it after its gate (a failed gate is rolled back by deleting it).
    #[arg(long)]
    pub canary_new_pool: bool,
    /// The most node pools moved at the same time (default: every pool a step allows in place
    /// and canary, 2 for blue-green; providers that run one operation per cluster still run
    /// the pools' operations one after another).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub max_parallel_pools: Option<u16>,
}

impl PlanFlags {
    /// The flags with defaults for everything but the target and strategy.
    pub fn new(to: KubeVersion, strategy: Strategy) -> Self {
        Self {
            to,
            strategy,
            lag_limit: None,
            canary_pool: None,
            canary_new_pool: false,
            max_parallel_pools: None,
        }
    }

    /// Refuses options that do not apply to the chosen strategy (they would be ignored).
    pub fn check_applicable(&self) -> anyhow::Result<()> {
        if self.strategy != Strategy::Canary {
            if self.canary_pool.is_some() {
                anyhow::bail!(
                    "--canary-pool applies to --strategy canary only (this run is {})",
                    self.strategy
                );
            }
            if self.canary_new_pool {
                anyhow::bail!(
                    "--canary-new-pool applies to --strategy canary only (this run is {})",
                    self.strategy
                );
            }
        }
        Ok(())
    }

    /// The planner options these flags ask for on `provider`.
    pub fn options(&self, provider: kupgrade_core::Provider) -> PlanOptions {
        self.prepare_options().plan_options(provider)
    }

    /// The session options these flags ask for (target aside).
    pub fn prepare_options(&self) -> kupgrade_core::PrepareOptions {
        kupgrade_core::PrepareOptions::new(self.strategy)
            .with_lag_limit(self.lag_limit)
            .with_canary_pool(self.canary_pool.clone())
            .with_canary_new_pool(self.canary_new_pool)
            .with_max_parallel_pools(self.max_parallel_pools.map(usize::from))
    }
}
