//! `LAB grade SUBMISSION_DIR... --server CMD | --client CMD [options]`: a whole class.
//!
//! Each student's folder is graded by this very program's `check` (or `check-client`)
//! run as a child process in that folder, with every option given to `grade` passed
//! on and `--format json`; `--jobs` folders at a time. So each score is exactly the
//! one `check` gives that folder alone, whatever the order and the `--jobs`.
//!
//! Into `--out` (default `grades`) go one report per submission (`NAME.txt`,
//! `.json`, `.xml`: `--format`), `scores.csv` (rewritten as each submission is done,
//! so Ctrl-C keeps what was graded) and, at the end, `summary.svg`. On a terminal a
//! progress bar shows how far it is, else one line per finished submission; then the
//! class summary: the checks the least passed first, and the spread of the scores.
//!
//! # Layout
//!
//! - [`options`]: the command line, made from the lab's own `check` and
//!   `check-client` options.
//! - [`mod@run`]: the child processes, `--jobs` at a time, Ctrl-C, nothing left behind.
//! - [`scores`]: writes `scores.csv`.
//! - [`summary`]: the class summary.
//! - [`chart`]: draws `summary.svg`.
//! - `testkit` (feature `testkit`): classes of submissions for the labs' tests.

pub mod chart;
pub mod options;
pub mod run;
pub mod scores;
pub mod summary;
#[cfg(feature = "testkit")]
pub mod testkit;

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

use self::options::Plan;
use self::summary::{ClassSummary, points};
use crate::check::report::{Format, Report};

/// `grade`'s command line as the lab's parser hands it over: everything after
/// `grade`, parsed by [`run()`] against the lab's own `check` and `check-client`.
#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true)]
pub struct Args {
    /// SUBMISSION_DIR... --server CMD (or --client CMD), any option of check (or
    /// check-client), --jobs N, --out DIR, --format F: see `grade --help`
    #[arg(
        num_args = 0..,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    raw: Vec<OsString>,
}

/// What came of one submission.
#[derive(Debug)]
pub enum Outcome {
    /// Its report, the isolation it ran under, and its run's `warning:` lines.
    Graded {
        /// The report `check --format json` gave.
        report: Box<Report>,
        /// What isolation was in force (`network`, `processes`, ...); empty: none.
        isolation: Vec<String>,
        /// The run's `warning:` lines (said once for the class).
        warnings: Vec<String>,
    },
    /// Why it could not be graded (a folder that does not exist, a grader fault).
    Ungraded(String),
}

/// One student's folder, under the name its report and row go by.
#[derive(Debug)]
pub struct Entry {
    /// The folder's own name (`submissions/alice/` is `alice`).
    pub name: String,
    /// What came of it, once done.
    pub outcome: Option<Outcome>,
}

impl Entry {
    /// Its report, if it was graded.
    pub fn report(&self) -> Option<&Report> {
        match &self.outcome {
            Some(Outcome::Graded { report, .. }) => Some(report),
            _ => None,
        }
    }
}

/// Grades the class `args` names with `lab`'s `check` or `check-client` (`lab` is the
/// lab's whole command line, `Cli::command()`): see the [module](self) doc. Exit
/// status 0 when every submission was graded, 1 naming those that could not be, or
/// when no submission's checks could run (a grading command that names a file no
/// submission has).
pub fn run(args: &Args, lab: &clap::Command) -> Result<ExitCode> {
    let plan = options::parse(lab, &args.raw);
    let mut entries: Vec<Entry> = names(&plan.submissions)
        .into_iter()
        .map(|name| Entry {
            name,
            outcome: None,
        })
        .collect();
    fs::create_dir_all(&plan.out)
        .with_context(|| format!("cannot create the folder {}", plan.out.display()))?;
    let progress = Progress::new(entries.len());
    interrupt_keeps_what_was_graded(&progress, &plan.out);
    let started = Instant::now();
    let mut warned: Vec<String> = Vec::new();
    let warn = |line: &str| progress.warn(line);
    run::grade_all(&plan, &warn, |index, outcome| {
        if let Outcome::Graded { warnings, .. } = &outcome {
            for warning in warnings {
                if !warned.contains(warning) {
                    progress.warn(warning);
                    warned.push(warning.clone());
                }
            }
        }
        let entry = &mut entries[index];
        write_report(&plan, &entry.name, &outcome)?;
        progress.finished(&line(&entry.name, &outcome));
        entry.outcome = Some(outcome);
        scores::write(&plan.out.join("scores.csv"), &entries)
    })?;
    progress.clear();
    let none_ran = none_ran(&entries);
    if none_ran.is_some() {
        // A grading mistake, not a class of zeros: no score in the gradebook to upload
        // by mistake; each report, written already, says what its run met.
        for entry in &mut entries {
            if let Some(Outcome::Graded { .. }) = entry.outcome {
                entry.outcome = Some(Outcome::Ungraded(
                    "no submission's checks could run: see its report".to_owned(),
                ));
            }
        }
        scores::write(&plan.out.join("scores.csv"), &entries)?;
    }
    let reports: Vec<&Report> = entries.iter().filter_map(Entry::report).collect();
    if reports.is_empty() {
        // No check ran: no summary of checks nor chart of scores to give.
        let written = match none_ran {
            Some(_) => "their reports and scores.csv",
            None => "scores.csv",
        };
        say(&format!(
            "0 of {} submissions graded; {written} in {}\n",
            entries.len(),
            plan.out.display()
        ));
    } else {
        let summary = ClassSummary::of(&reports);
        chart::draw(&plan.out.join("summary.svg"), lab.get_name(), &summary)?;
        say(&format!(
            "{} of {} submissions graded in {:.1} s; reports, scores.csv and summary.svg in {}\n{}",
            reports.len(),
            entries.len(),
            started.elapsed().as_secs_f64(),
            plan.out.display(),
            summary.text()
        ));
    }
    let ungraded: Vec<String> = entries
        .iter()
        .filter_map(|entry| match &entry.outcome {
            Some(Outcome::Ungraded(why)) => Some(format!("{} ({why})", entry.name)),
            _ => None,
        })
        .collect();
    if let Some(first) = none_ran {
        bail!(
            "no submission's checks could run: each ended before its first check (the first, \
             {first}). Is the grading command right? Try it by hand in one submission's \
             folder"
        );
    }
    if !ungraded.is_empty() {
        bail!(
            "{} of {} submissions could not be graded: {}",
            ungraded.len(),
            entries.len(),
            ungraded.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// If every submission's run was broken (its server never came up, as when the
/// grading command names a file no submission has), what the first one's said:
/// "NAME: ERROR; its stderr: LAST LINE". Such a class is a grading mistake, not a
/// class of zeros.
fn none_ran(entries: &[Entry]) -> Option<String> {
    let mut reports = entries
        .iter()
        .filter_map(|entry| Some((&entry.name, entry.report()?)));
    let (name, first) = reports.next()?;
    let error = first.error.as_ref()?;
    if !reports.all(|(_, report)| report.error.is_some()) {
        return None;
    }
    let stderr = match first.stderr_tail.last() {
        Some(line) => format!("; its stderr: {line}"),
        None => String::new(),
    };
    Some(format!("{name}: {error}{stderr}"))
}

/// The name each folder's report and row go by: its own name. Two folders of the
/// same name (`a/alice`, `b/alice`) would overwrite each other's report: a usage
/// error.
fn names(submissions: &[PathBuf]) -> Vec<String> {
    let mut seen: HashMap<String, &Path> = HashMap::new();
    let mut names = Vec::new();
    for dir in submissions {
        let name = dir
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .or_else(|| {
                let full = fs::canonicalize(dir).ok()?;
                Some(full.file_name()?.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| dir.display().to_string().replace('/', "_"));
        if let Some(first) = seen.insert(name.clone(), dir) {
            crate::cli::usage_error(&format!(
                "{} and {} have the same name, {name}: their reports would overwrite each \
                 other; give folders whose names differ",
                first.display(),
                dir.display()
            ));
        }
        names.push(name);
    }
    names
}

/// Writes a graded submission's report as `OUT/NAME.EXT`.
fn write_report(plan: &Plan, name: &str, outcome: &Outcome) -> Result<()> {
    let Outcome::Graded { report, .. } = outcome else {
        return Ok(());
    };
    let extension = match plan.format {
        Format::Text => "txt",
        Format::Json | Format::Gradescope => "json",
        Format::Junit => "xml",
    };
    let path = plan.out.join(format!("{name}.{extension}"));
    fs::write(&path, report.render(plan.format))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// A finished submission's line: `alice: 7 passed, 1 failed, score 7/8`.
fn line(name: &str, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Graded { report, .. } => format!(
            "{name}: {} passed, {} failed, score {}/{}",
            report.passed,
            report.failed,
            points(report.score),
            points(report.max_score)
        ),
        Outcome::Ungraded(why) => format!("{name}: not graded: {why}"),
    }
}

/// On Ctrl-C or SIGTERM: every running submission is stopped, nothing is left
/// running, and the reports (and `scores.csv`) written so far stay; exit status 130.
fn interrupt_keeps_what_was_graded(progress: &Progress, out: &Path) {
    let (progress, out) = (progress.clone(), out.to_owned());
    // Without a handler Ctrl-C still ends us, and each child's own handler (it has
    // the terminal's Ctrl-C too) stops its submission.
    let _ = ctrlc::set_handler(move || {
        run::interrupt();
        run::sweep();
        progress.clear();
        let _ = match progress.done() {
            0 => writeln!(
                io::stderr(),
                "interrupted: 0 of {} submissions done; nothing was written",
                progress.total
            ),
            done => writeln!(
                io::stderr(),
                "interrupted: {done} of {} submissions done; their reports and scores.csv \
                 are in {}",
                progress.total,
                out.display()
            ),
        };
        std::process::exit(130);
    });
}

/// Writes to stdout; if its reader went away, stops grading first, then ends as
/// [`crate::cli::stdout_failed`] says.
fn say(text: &str) {
    let mut stdout = io::stdout().lock();
    if let Err(error) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        drop(stdout);
        run::stop_children();
        run::sweep();
        crate::cli::stdout_failed(&error);
    }
}

/// How far grading is: a bar on a terminal, else a line per finished submission.
#[derive(Clone)]
struct Progress {
    bar: Option<ProgressBar>,
    done: Arc<Mutex<usize>>,
    total: usize,
}

impl Progress {
    fn new(total: usize) -> Progress {
        let bar = io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total as u64);
            if let Ok(style) =
                ProgressStyle::with_template("{bar:30} {pos}/{len} graded, {elapsed} {wide_msg}")
            {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            done: Arc::new(Mutex::new(0)),
            total,
        }
    }

    fn finished(&self, line: &str) {
        let mut done = self.done.lock().unwrap_or_else(PoisonError::into_inner);
        *done += 1;
        match &self.bar {
            Some(bar) => {
                bar.set_message(line.to_owned());
                bar.inc(1);
            }
            None => say(&format!("[{}/{}] {line}\n", *done, self.total)),
        }
    }

    fn done(&self) -> usize {
        *self.done.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn warn(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| {
                let _ = writeln!(io::stderr(), "{line}");
            }),
            None => {
                let _ = writeln!(io::stderr(), "{line}");
            }
        }
    }

    fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
