//! [`SimFleetConnector`]: the simulated clusters of a fleet file (`provider: sim`,
//! `sim_state: FILE`), one live [`SimCluster`] per cluster for the whole run.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use kupgrade_core::fleet::{FleetCluster, FleetConnector};
use kupgrade_core::{ClusterWorkloads, Error, ManagedCluster, Result};

use crate::cluster::{CrashPlan, SimCluster};
use crate::store::SimStore;

/// Connects fleet entries with `provider: sim` to simulators.
pub struct SimFleetConnector {
    base_dir: PathBuf,
    stores: HashMap<String, SimStore>,
    open: Mutex<HashMap<String, SimCluster>>,
    crash: Option<CrashPlan>,
}

impl std::fmt::Debug for SimFleetConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimFleetConnector")
            .field("base_dir", &self.base_dir)
            .finish_non_exhaustive()
    }
}

impl SimFleetConnector {
    /// State files named by `sim_state` are resolved against `base_dir` (the fleet file's folder).
    pub fn new(base_dir: impl Into<PathBuf>) -> Self {
        Self {
            base_dir: base_dir.into(),
            stores: HashMap::new(),
            open: Mutex::new(HashMap::new()),
            crash: None,
        }
    }

    /// Uses `store` for the cluster called `name` instead of a state file.
    pub fn with_store(mut self, name: impl Into<String>, store: SimStore) -> Self {
        self.stores.insert(name.into(), store);
        self
    }

    /// Every simulated cluster shares this crash plan.
    pub fn with_crash_plan(mut self, plan: CrashPlan) -> Self {
        self.crash = Some(plan);
        self
    }

    /// The simulator of `name`, once connected.
    pub fn cluster(&self, name: &str) -> Option<SimCluster> {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    fn store_of(&self, c: &FleetCluster) -> Result<SimStore> {
        if let Some(store) = self.stores.get(&c.name) {
            return Ok(store.clone());
        }
        let path = c
            .settings
            .get("sim_state")
            .and_then(|v| v.as_str())
            .ok_or_else(|| {
                Error::invalid_input(format!(
                    "cluster '{}': a simulated cluster needs `sim_state: FILE`",
                    c.name
                ))
            })?;
        Ok(SimStore::File(self.base_dir.join(path)))
    }
}

#[async_trait]
impl FleetConnector for SimFleetConnector {
    async fn connect(
        &self,
        c: &FleetCluster,
    ) -> Result<(Arc<dyn ManagedCluster>, Arc<dyn ClusterWorkloads>)> {
        if c.provider != "sim" {
            return Err(Error::invalid_input(format!(
                "cluster '{}': provider '{}' is not simulated",
                c.name, c.provider
            )));
        }
        if let Some(sim) = self.cluster(&c.name) {
            return Ok((Arc::new(sim.clone()), Arc::new(sim)));
        }
        let store = self.store_of(c)?;
        let state = store.load()?.ok_or_else(|| {
            Error::invalid_input(format!(
                "cluster '{}': no simulator state found; create it with `kupgrade sim init`",
                c.name
            ))
        })?;
        let sim = match &self.crash {
            Some(plan) => SimCluster::with_crash_plan(state, store, plan.clone()),
            None => SimCluster::with_store(state, store),
        };
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(c.name.clone(), sim.clone());
        Ok((Arc::new(sim.clone()), Arc::new(sim)))
    }
}
