//! Output formats shared by the commands.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::ValueEnum;

/// Set once stdout's reader went away (`kupgrade demo | head -1`).
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes to stdout for the crate's `print!`/`println!`. A closed pipe ends the output
/// quietly (std's macros panic there): the command still runs to its end and its exit code,
/// and anything after is dropped. Other write errors are reported once on stderr.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: writing to stdout: {e}");
        }
    }
}

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    /// For people.
    #[default]
    Text,
    /// For tools.
    Json,
    /// A playbook for a change ticket.
    Markdown,
}

/// Pretty JSON with a trailing newline.
pub fn json<T: serde::Serialize>(value: &T) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}
