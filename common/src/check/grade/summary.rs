//! The class summary: which checks the class passed (the least passed first, the
//! lessons to go over again) and how the scores spread.

use std::fmt::Write;

use crate::check::report::Report;

/// One check across the class.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckShare {
    /// The check's name.
    pub name: String,
    /// How many graded submissions passed it.
    pub passed: usize,
    /// How many graded submissions ran it.
    pub of: usize,
}

impl CheckShare {
    /// The share that passed, from 0 to 1.
    pub fn rate(&self) -> f64 {
        if self.of == 0 {
            0.0
        } else {
            self.passed as f64 / self.of as f64
        }
    }
}

/// What the class did, from the reports of the graded submissions.
#[derive(Debug, Clone)]
pub struct ClassSummary {
    /// How many submissions were graded.
    pub graded: usize,
    /// Every check, in the order the lab runs them.
    pub checks: Vec<CheckShare>,
    /// Each submission's score.
    pub scores: Vec<f64>,
    /// The most points a submission can get.
    pub max_score: f64,
}

/// The names of the checks in `reports`, each once, in the order they ran.
pub fn check_names<'a>(reports: impl IntoIterator<Item = &'a Report>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for report in reports {
        for check in &report.checks {
            if !names.contains(&check.name) {
                names.push(check.name.clone());
            }
        }
    }
    names
}

impl ClassSummary {
    /// The summary of `reports` (one per graded submission).
    pub fn of(reports: &[&Report]) -> ClassSummary {
        let checks = check_names(reports.iter().copied())
            .into_iter()
            .map(|name| {
                let runs = reports
                    .iter()
                    .filter_map(|report| report.checks.iter().find(|check| check.name == name));
                let (passed, of) = runs.fold((0, 0), |(passed, of), check| {
                    (passed + usize::from(check.passed()), of + 1)
                });
                CheckShare { name, passed, of }
            })
            .collect();
        ClassSummary {
            graded: reports.len(),
            checks,
            scores: reports.iter().map(|report| report.score).collect(),
            max_score: reports
                .iter()
                .map(|report| report.max_score)
                .fold(0.0, f64::max),
        }
    }

    /// The checks, the least passed first (in the lab's order among equals).
    pub fn least_passed_first(&self) -> Vec<&CheckShare> {
        let mut checks: Vec<&CheckShare> = self.checks.iter().collect();
        checks.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
        checks
    }

    /// How many submissions got each score, the highest first: every whole score
    /// from `max_score` down to 0 when all are whole, else each score that occurs.
    pub fn distribution(&self) -> Vec<(f64, usize)> {
        let whole = self.max_score <= 100.0
            && std::iter::once(self.max_score)
                .chain(self.scores.iter().copied())
                .all(|score| score.fract() == 0.0);
        let mut values: Vec<f64> = if whole {
            (0..=self.max_score as u32).map(f64::from).collect()
        } else {
            self.scores.clone()
        };
        values.sort_by(|a, b| b.total_cmp(a));
        values.dedup();
        values
            .into_iter()
            .map(|value| {
                let count = self.scores.iter().filter(|&&score| score == value).count();
                (value, count)
            })
            .collect()
    }

    /// The summary as printed at the end of `grade`: the checks, the least passed
    /// first, with the share of the class that passed each; then the scores.
    pub fn text(&self) -> String {
        let mut text =
            String::from("checks, the least passed first (share of the class that passed):\n");
        let width = self.graded.to_string().len();
        for check in self.least_passed_first() {
            let _ = writeln!(
                text,
                "  {:>4.0}%  {:>width$}/{}  {}",
                check.rate() * 100.0,
                check.passed,
                check.of,
                check.name
            );
        }
        let _ = writeln!(text, "scores (out of {}):", points(self.max_score));
        let distribution = self.distribution();
        let most = distribution
            .iter()
            .map(|&(_, count)| count)
            .max()
            .unwrap_or(0);
        let label = distribution
            .iter()
            .map(|&(score, _)| points(score).len())
            .max()
            .unwrap_or(1);
        for (score, count) in distribution {
            // Bars of at most 40 characters; any submission shows as one at least.
            let bar = (count * 40).div_ceil(most.max(1));
            let _ = writeln!(
                text,
                "  {:>label$}  {:<40}  {count}",
                points(score),
                "#".repeat(bar)
            );
        }
        text
    }
}

/// A score as people write it: `7`, `7.5`.
pub fn points(score: f64) -> String {
    if score.fract() == 0.0 {
        format!("{score:.0}")
    } else {
        format!("{score}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::report::{CheckResult, Subject};
    use std::time::Duration;

    /// A report whose checks pass where `passes` says.
    fn report(passes: &[bool]) -> Report {
        let mut report = Report::new("lab-x", Subject::Command("s".into()));
        for (index, &passed) in passes.iter().enumerate() {
            let outcome = if passed { Ok(()) } else { Err("no".to_owned()) };
            report.add(CheckResult::new(
                &format!("check {index}"),
                outcome,
                Duration::ZERO,
            ));
        }
        report
    }

    #[test]
    fn checks_come_least_passed_first_in_the_labs_order_among_equals() {
        let reports = [
            report(&[true, false, true, false]),
            report(&[true, false, false, true]),
        ];
        let summary = ClassSummary::of(&reports.iter().collect::<Vec<_>>());
        let order: Vec<(&str, usize)> = summary
            .least_passed_first()
            .iter()
            .map(|check| (check.name.as_str(), check.passed))
            .collect();
        assert_eq!(
            order,
            [
                ("check 1", 0),
                ("check 2", 1),
                ("check 3", 1),
                ("check 0", 2)
            ]
        );
    }

    #[test]
    fn the_distribution_has_every_whole_score_highest_first() {
        let reports = [
            report(&[true, true]),
            report(&[true, false]),
            report(&[true, true]),
        ];
        let summary = ClassSummary::of(&reports.iter().collect::<Vec<_>>());
        assert_eq!(summary.distribution(), [(2.0, 2), (1.0, 1), (0.0, 0)]);
        let text = summary.text();
        assert!(
            text.contains("\n  2  ########################################  2\n"),
            "{text}"
        );
        assert!(
            text.contains("\n  0                                            0\n"),
            "{text}"
        );
    }
}
