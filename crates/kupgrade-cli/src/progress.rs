//! Progress output for runs: indicatif bars on a terminal, plain lines otherwise.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use kupgrade_core::{Event, EventSink};

/// `1h 02m`, `15m 00s`, `42s`.
pub fn duration(secs: u64) -> String {
    kupgrade_core::estimate::human_duration(secs)
}

struct State {
    multi: MultiProgress,
    bars: HashMap<usize, ProgressBar>,
    total: usize,
}

/// Builds an event sink that shows progress on stderr. `pace` slows the display of
/// simulated runs (real time per progress update) so a human can follow them.
pub fn sink(pace: Duration) -> EventSink {
    let tty = std::io::stderr().is_terminal();
    let target = if tty {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let state = Arc::new(Mutex::new(State {
        multi: MultiProgress::with_draw_target(target),
        bars: HashMap::new(),
        total: 0,
    }));
    let style = ProgressStyle::with_template("{prefix:>7} {spinner} {msg} [{bar:24}] {pos}/{len}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    Arc::new(move |event: &Event| {
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::StepStarted {
                index,
                total,
                description,
            } => {
                s.total = *total;
                let bar = s.multi.add(ProgressBar::new(1));
                bar.set_style(style.clone());
                bar.set_prefix(format!("[{}/{total}]", index + 1));
                bar.set_message(description.clone());
                if tty {
                    bar.enable_steady_tick(Duration::from_millis(120));
                } else {
                    eprintln!("[{}/{total}] {description}", index + 1);
                }
                s.bars.insert(*index, bar);
            }
            Event::Progress { index, done, total } => {
                if let Some(bar) = s.bars.get(index) {
                    bar.set_length(u64::from(*total).max(1));
                    bar.set_position(u64::from(*done));
                }
                if !pace.is_zero() {
                    std::thread::sleep(pace);
                }
            }
            Event::StepFinished { index, seconds } => {
                finish(&mut s, *index, &format!("done in {}", duration(*seconds)), tty)
            }
            Event::StepSkipped { index, reason } => {
                finish(&mut s, *index, &format!("skipped: {reason}"), tty)
            }
            Event::StepFailed { index, error } => finish(&mut s, *index, &format!("FAILED: {error}"), tty),
            Event::OperationStarted { index, operation } | Event::OperationResumed { index, operation } => {
                let resumed = matches!(event, Event::OperationResumed { .. });
                // Steps run side by side: every line names its step.
                let line = format!(
                    "{:>7} {} operation {operation}",
                    format!("[{}/{}]", index + 1, s.total),
                    if resumed { "waiting on running" } else { "started" }
                );
                if tty {
                    s.multi.println(line).ok();
                } else {
                    eprintln!("{line}");
                }
            }
            Event::Retrying {
                what,
                error,
                delay_secs,
            } => {
                let line = format!("        retrying {what} in {delay_secs}s: {error}");
                if tty {
                    s.multi.println(line).ok();
                } else {
                    eprintln!("{line}");
                }
            }
            Event::PodDeletedPastPdb { index, pod, pdb } => {
                let line = format!(
                    "{:>7} deleted pod {pod} past PodDisruptionBudget {pdb} (--force-drain)",
                    format!("[{}/{}]", index + 1, s.total)
                );
                if tty {
                    s.multi.println(line).ok();
                } else {
                    eprintln!("{line}");
                }
            }
            Event::RollingBack { index, action } => {
                let line = format!(
                    "{:>7} rolling back: {action}",
                    format!("[{}/{}]", index + 1, s.total)
                );
                if tty {
                    s.multi.println(line).ok();
                } else {
                    eprintln!("{line}");
                }
            }
            // Findings are printed with the plan; events added later are not shown.
            _ => {}
        }
    })
}

fn finish(s: &mut State, index: usize, message: &str, tty: bool) {
    if let Some(bar) = s.bars.remove(&index) {
        let description = bar.message();
        bar.disable_steady_tick();
        bar.set_style(
            ProgressStyle::with_template("{prefix:>7} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.finish_with_message(format!("{description}: {message}"));
        if !tty {
            eprintln!("{:>7} {message}", format!("[{}/{}]", index + 1, s.total));
        }
    }
}
