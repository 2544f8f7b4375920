//! `scores.csv`: a header, then one row per submission, for a gradebook:
//! `submission,passed,failed,score,max_score`, one column per check (1 passed, 0
//! failed), then `server_exit,isolation,note`. A submission that could not be graded
//! has empty figures and says why in `note`.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use super::summary::{check_names, points};
use super::{Entry, Outcome};

/// Writes the rows of `entries` (those finished so far) to `path`, replacing it
/// whole: a reader never sees half a file.
pub fn write(path: &Path, entries: &[Entry]) -> Result<()> {
    let written = path.with_extension("csv.part");
    let bytes = to_csv(entries).context("cannot write scores.csv")?;
    fs::write(&written, bytes)
        .and_then(|()| fs::rename(&written, path))
        .with_context(|| format!("cannot write {}", path.display()))
}

fn to_csv(entries: &[Entry]) -> Result<Vec<u8>> {
    let checks = check_names(entries.iter().filter_map(Entry::report));
    let mut csv = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["submission", "passed", "failed", "score", "max_score"];
    header.extend(checks.iter().map(String::as_str));
    header.extend(["server_exit", "isolation", "note"]);
    csv.write_record(&header)?;
    for entry in entries {
        let mut row = vec![entry.name.clone()];
        match &entry.outcome {
            None => continue,
            Some(Outcome::Graded {
                report, isolation, ..
            }) => {
                row.extend([
                    report.passed.to_string(),
                    report.failed.to_string(),
                    points(report.score),
                    points(report.max_score),
                ]);
                row.extend(checks.iter().map(|name| {
                    match report.checks.iter().find(|check| &check.name == name) {
                        Some(check) => u8::from(check.passed()).to_string(),
                        None => String::new(),
                    }
                }));
                row.push(
                    report
                        .server_exit
                        .map(|status| status.to_string())
                        .unwrap_or_default(),
                );
                row.push(if isolation.is_empty() {
                    "none".to_owned()
                } else {
                    isolation.join(", ")
                });
                row.push(report.error.clone().unwrap_or_default());
            }
            Some(Outcome::Ungraded(why)) => {
                row.extend(std::iter::repeat_n(String::new(), 4 + checks.len() + 2));
                row.push(format!("not graded: {why}"));
            }
        }
        csv.write_record(&row)?;
    }
    Ok(csv.into_inner()?)
}
