//! Where the simulator persists its state after every mutation.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use kupgrade_core::{Error, Result};

use crate::state::SimState;

/// A place to keep the simulator's state between processes (or simulated crashes).
#[derive(Debug, Clone)]
pub enum SimStore {
    /// A JSON state file, rewritten atomically after every mutation.
    File(PathBuf),
    /// An in-memory slot, for tests that simulate a crash and a restart.
    Memory(Arc<Mutex<Option<SimState>>>),
}

impl SimStore {
    /// A fresh in-memory store.
    pub fn memory() -> Self {
        SimStore::Memory(Arc::new(Mutex::new(None)))
    }

    /// Saves `state`.
    pub fn save(&self, state: &SimState) -> Result<()> {
        match self {
            SimStore::File(path) => {
                let bytes = serde_json::to_vec_pretty(state).map_err(|e| Error::provider(e.to_string()))?;
                kupgrade_core::journal::write_atomically(path, &bytes)
            }
            SimStore::Memory(slot) => {
                *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(state.clone());
                Ok(())
            }
        }
    }

    /// Loads the last saved state, if any.
    pub fn load(&self) -> Result<Option<SimState>> {
        match self {
            SimStore::File(path) => match std::fs::read(path) {
                Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                    Error::invalid_input(format!("{} is not a simulator state file: {e}", path.display()))
                }),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::io(path, e)),
            },
            SimStore::Memory(slot) => Ok(slot.lock().unwrap_or_else(|e| e.into_inner()).clone()),
        }
    }
}
