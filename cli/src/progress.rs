//! Progress of the long commands (`chain export`, `audit verify`, the mirror's catch-up,
//! `stress`) on standard error: an `indicatif` bar on a terminal, and where standard error
//! is a file or a pipe (a log, CI), a plain line at most every [`LINE_EVERY`], since a bar
//! redrawn into a log is noise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a plain progress line is written when standard error is not a terminal.
pub const LINE_EVERY: Duration = Duration::from_secs(1);

/// The progress of one long piece of work, counted in `unit`s up to a total if known.
pub struct Progress {
    what: &'static str,
    unit: &'static str,
    total: Option<u64>,
    /// The bar on a terminal; `None` writes lines.
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    pub fn new(what: &'static str, unit: &'static str, total: Option<u64>) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
            let template = if total.is_some() {
                "{prefix} [{bar:30}] {pos}/{len} {msg} ({per_sec}, {eta} left)"
            } else {
                "{prefix} {pos} {msg} ({per_sec})"
            };
            bar.set_style(
                ProgressStyle::with_template(template)
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(format!("{what} ({unit})"));
            bar
        });
        let now = Instant::now();
        Progress {
            what,
            unit,
            total,
            bar,
            started: now,
            last_line: now,
        }
    }

    /// `position` units done; `note` says more (transactions so far, say).
    pub fn set(&mut self, position: u64, note: impl FnOnce() -> String) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(position);
                bar.set_message(note());
            }
            None if self.last_line.elapsed() >= LINE_EVERY => {
                self.last_line = Instant::now();
                let of = self.total.map_or(String::new(), |t| format!(" of {t}"));
                let per_second = position as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
                eprintln!(
                    "{} {} {position}{of}, {}, {per_second:.0} {}/s",
                    self.what,
                    self.unit,
                    note(),
                    self.unit
                );
            }
            None => {}
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
