//! Exclusive locks on local files (a journal, a simulator state file) held for a whole run,
//! so two runs on the same journal or state cannot interleave their writes.
//!
//! The lock is an advisory OS lock (`flock`/`LockFileEx` through [`std::fs::File::try_lock`])
//! on a sibling `NAME.lock` file, not on the file itself: the file is replaced by atomic
//! renames, which would leave a lock on the old inode behind. The operating system releases
//! the lock when the holder exits, however it exits, so a crashed run never blocks the next.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// An exclusive lock, released when dropped.
#[derive(Debug)]
pub struct FileLock {
    file: std::fs::File,
    path: PathBuf,
}

impl FileLock {
    /// Takes the lock that guards `path` (on `path` + `.lock`), or fails at once with
    /// [`Error::Locked`] naming the run that holds it.
    pub fn acquire(path: &Path) -> Result<Self> {
        let lock_path = lock_path(path);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(Error::Locked {
                    path: path.to_path_buf(),
                    holder: if holder.is_empty() {
                        "another kupgrade process".into()
                    } else {
                        holder.to_string()
                    },
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&lock_path, e)),
        }
        let holder = holder_description();
        file.set_len(0).map_err(|e| Error::io(&lock_path, e))?;
        file.rewind().map_err(|e| Error::io(&lock_path, e))?;
        file.write_all(holder.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|e| Error::io(&lock_path, e))?;
        Ok(Self {
            file,
            path: lock_path,
        })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// `FILE.lock` beside `FILE`.
fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

/// Who holds a lock: process id, host and start time, for the refusal message.
pub fn holder_description() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "this host".into());
    format!(
        "pid {} on {host} since {}",
        std::process::id(),
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("run.json");
        let first = FileLock::acquire(&journal).unwrap();
        assert_eq!(first.path(), dir.path().join("run.json.lock"));
        let err = FileLock::acquire(&journal).unwrap_err().to_string();
        assert!(
            err.contains("run.json is in use by another kupgrade run"),
            "{err}"
        );
        assert!(err.contains(&format!("pid {}", std::process::id())), "{err}");
        drop(first);
        FileLock::acquire(&journal).unwrap();
    }
}
