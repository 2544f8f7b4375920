//! What a run of checks found, and the four ways to print it (`--format`):
//!
//! - `text`: one `PASS name` / `FAIL name: detail` line per check, then `N passed, M failed`;
//! - `json`: one object (`lab`, `target` or `command`, `checks`, `passed`, `failed`,
//!   `score`, `max_score`, `server_exit`, `stderr_tail`, `error`);
//! - `junit`: JUnit XML, one `<testcase>` per check, the detail in `<failure>`, for CI;
//! - `gradescope`: the autograder's `results.json` (`score`, `output`, `tests` with
//!   `name`, `score`, `max_score`, `status`, `output`).
//!
//! Every format says the same thing: the tests compare them with the text run.

use std::time::Duration;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use serde::{Deserialize, Serialize};

/// The output format of `check` and `check-client`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// One line per check, then `N passed, M failed`
    #[default]
    Text,
    /// One JSON object
    Json,
    /// JUnit XML, one testcase per check (for CI)
    Junit,
    /// Gradescope's results.json
    Gradescope,
}

/// What was checked: a server at an address, or a command that `check` or
/// `check-client` ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Subject {
    /// `check --target HOST:PORT`.
    #[serde(rename = "target")]
    Target(String),
    /// `check --server CMD`.
    #[serde(rename = "command")]
    Command(String),
    /// `check-client --client CMD`. (Read back from JSON as `Command`: the two share
    /// their key; see [`Subject::run_by_check_client`].)
    #[serde(rename = "command", skip_deserializing)]
    Client(String),
}

impl Subject {
    /// The subject of a report that `check-client` wrote: its JSON names the client's
    /// command `command`, as `check`'s names the server's, so it is read back as a
    /// [`Subject::Command`]; this makes it the client again (its JUnit suite is then
    /// named after `check-client`).
    pub fn run_by_check_client(self) -> Subject {
        match self {
            Subject::Command(command) => Subject::Client(command),
            other => other,
        }
    }
}

/// One check's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckResult {
    /// What the check proves, as a sentence.
    pub name: String,
    /// `"pass"` or `"fail"`.
    pub result: String,
    /// Why it failed; empty when it passed.
    pub detail: String,
    /// Points earned: `max_score` if it passed, else 0.
    pub score: f64,
    /// Points it is worth (1 unless the lab says otherwise).
    pub max_score: f64,
    /// How long it took, in seconds.
    pub seconds: f64,
}

impl CheckResult {
    /// A check worth one point.
    pub fn new(name: &str, outcome: Result<(), String>, took: Duration) -> Self {
        let (result, detail, score) = match outcome {
            Ok(()) => ("pass", String::new(), 1.0),
            Err(detail) => ("fail", detail, 0.0),
        };
        CheckResult {
            name: name.to_owned(),
            result: result.to_owned(),
            detail,
            score,
            max_score: 1.0,
            seconds: took.as_secs_f64(),
        }
    }

    /// Did it pass?
    pub fn passed(&self) -> bool {
        self.result == "pass"
    }

    /// Its line in the text format.
    pub fn text_line(&self) -> String {
        if self.passed() {
            format!("PASS {}", self.name)
        } else {
            format!("FAIL {}: {}", self.name, self.detail)
        }
    }
}

/// A whole run: what was checked, each check's outcome, and what the command left.
/// `grade` reads it back from each submission's `check --format json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// The lab whose protocol was checked (`lab-udp`, ...).
    pub lab: String,
    /// The server or command checked.
    #[serde(flatten)]
    pub subject: Subject,
    /// Each check, in the order run.
    pub checks: Vec<CheckResult>,
    /// How many passed.
    pub passed: usize,
    /// How many failed.
    pub failed: usize,
    /// Points earned.
    pub score: f64,
    /// Points possible.
    pub max_score: f64,
    /// The exit status of a `--server` command that ended on its own (128 + N for
    /// signal N, as a shell says), else `None`. (`check-client` runs a client per
    /// check: each failed check's detail says how its client ended.)
    pub server_exit: Option<i32>,
    /// When `server_exit` is set: the check during which it ended, if any.
    pub server_exit_during: Option<String>,
    /// The last lines the command wrote on its stderr.
    pub stderr_tail: Vec<String>,
    /// Why the run could not take place at all (a server that never came up).
    pub error: Option<String>,
    /// What isolated a `--server` or `--client` command (`network`, `processes`,
    /// `files`, `limits`); `None` with `--target`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation: Option<Vec<String>>,
    /// Why some isolation was not in force, if so.
    #[serde(skip)]
    pub isolation_missing: Option<String>,
    /// What the grader saw of the command beyond its checks (it left the foreground).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Report {
    /// An empty report of `lab` on `subject`.
    pub fn new(lab: &str, subject: Subject) -> Self {
        Report {
            lab: lab.to_owned(),
            subject,
            checks: Vec::new(),
            passed: 0,
            failed: 0,
            score: 0.0,
            max_score: 0.0,
            server_exit: None,
            server_exit_during: None,
            stderr_tail: Vec::new(),
            error: None,
            isolation: None,
            isolation_missing: None,
            note: None,
        }
    }

    /// Adds one check's outcome.
    pub fn add(&mut self, result: CheckResult) {
        if result.passed() {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
        self.score += result.score;
        self.max_score += result.max_score;
        self.checks.push(result);
    }

    /// Success only if the run took place, some check passed and none failed.
    pub fn success(&self) -> bool {
        self.error.is_none() && self.failed == 0 && self.passed > 0
    }

    /// The sentence about a command that ended on its own, if it did.
    pub fn exit_sentence(&self) -> Option<String> {
        if let Some(note) = &self.note {
            return Some(note.clone());
        }
        let status = self.server_exit?;
        Some(match &self.server_exit_during {
            Some(check) => format!("the server exited with status {status} during '{check}'"),
            // The run broke off before any check: it ended as it started.
            None if self.error.is_some() => {
                format!("the server exited with status {status} before it was ready")
            }
            None => format!("the server exited with status {status} after the checks"),
        })
    }

    /// The first line of a `--server`/`--client` report: `isolation: network, ...`, or
    /// `isolation: none (WHY)`; `None` with `--target`.
    pub fn isolation_line(&self) -> Option<String> {
        let isolation = super::isolation::Isolation {
            in_force: self.isolation.clone()?,
            missing: self.isolation_missing.clone(),
        };
        Some(isolation.text_line())
    }

    /// The lines that close a text report: the server's exit, its stderr, the score.
    pub fn text_footer(&self) -> String {
        let mut footer = String::new();
        if let Some(sentence) = self.exit_sentence() {
            footer.push_str(&sentence);
            footer.push('\n');
        }
        if !self.stderr_tail.is_empty() {
            footer.push_str("the last lines of its stderr:\n");
            for line in &self.stderr_tail {
                footer.push_str(&format!("  | {line}\n"));
            }
        }
        footer.push_str(&format!("{} passed, {} failed\n", self.passed, self.failed));
        footer
    }

    /// The whole report in `format` (text: every line, as printed while running).
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Text => {
                let mut text: String = self
                    .isolation_line()
                    .map(|line| line + "\n")
                    .unwrap_or_default();
                text += &self
                    .checks
                    .iter()
                    .map(|check| check.text_line() + "\n")
                    .collect::<String>();
                text.push_str(&self.text_footer());
                text
            }
            Format::Json => to_json(self),
            Format::Gradescope => to_json(&self.gradescope()),
            Format::Junit => self.junit(),
        }
    }

    /// Gradescope's `results.json`.
    fn gradescope(&self) -> Gradescope<'_> {
        let mut output = Vec::new();
        output.extend(self.isolation_line());
        output.extend(self.error.clone());
        output.extend(self.exit_sentence());
        if !self.stderr_tail.is_empty() {
            output.push(format!(
                "the last lines of its stderr:\n{}",
                self.stderr_tail.join("\n")
            ));
        }
        Gradescope {
            score: self.score,
            output: output.join("\n"),
            tests: self
                .checks
                .iter()
                .map(|check| GradescopeTest {
                    name: &check.name,
                    score: check.score,
                    max_score: check.max_score,
                    status: if check.passed() { "passed" } else { "failed" },
                    output: &check.detail,
                })
                .collect(),
        }
    }

    /// JUnit XML: one suite named after the lab and the grader (`check` or
    /// `check-client`), one testcase per check.
    fn junit(&self) -> String {
        let grader = match self.subject {
            Subject::Client(_) => "check-client",
            Subject::Target(_) | Subject::Command(_) => "check",
        };
        let mut suite = TestSuite::new(format!("{} {grader}", self.lab));
        if let Some(isolation) = &self.isolation {
            suite.add_property(("isolation", isolation.join(",").as_str()));
        }
        for check in &self.checks {
            let status = if check.passed() {
                TestCaseStatus::success()
            } else {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_message(check.detail.as_str());
                status.set_description(check.detail.as_str());
                status
            };
            let mut case = TestCase::new(check.name.as_str(), status);
            case.set_classname(self.lab.as_str());
            case.set_time(Duration::from_secs_f64(check.seconds));
            suite.add_test_case(case);
        }
        // Why no check ran (each check's failure says "not run: ..." too).
        let mut system_err: String = self.error.iter().map(|e| format!("error: {e}\n")).collect();
        system_err.extend(self.exit_sentence().map(|s| s + "\n"));
        system_err.push_str(&self.stderr_tail.join("\n"));
        if !system_err.is_empty() {
            suite.set_system_err(system_err);
        }
        let mut report = quick_junit::Report::new(&self.lab);
        report.add_test_suite(suite);
        report.to_string().unwrap_or_else(|error| {
            // Writing XML to a String fails only on a bug in the writer.
            format!("<!-- cannot write JUnit XML: {error} -->\n")
        })
    }
}

/// Gradescope's autograder schema (its `results.json`).
#[derive(Serialize)]
struct Gradescope<'a> {
    score: f64,
    output: String,
    tests: Vec<GradescopeTest<'a>>,
}

#[derive(Serialize)]
struct GradescopeTest<'a> {
    name: &'a str,
    score: f64,
    max_score: f64,
    status: &'static str,
    output: &'a str,
}

fn to_json<T: Serialize>(value: &T) -> String {
    // Serializing these plain structs cannot fail; an empty object would say so if it did.
    let mut json = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".to_owned());
    json.push('\n');
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let mut report = Report::new("lab-x", Subject::Command("python3 s.py {port}".into()));
        report.add(CheckResult::new("works", Ok(()), Duration::ZERO));
        report.add(CheckResult::new(
            "survives <bad> & \"quoted\" input",
            Err("the server exited with status 1 during this check".into()),
            Duration::from_millis(5),
        ));
        report.server_exit = Some(1);
        report.server_exit_during = Some("survives <bad> & \"quoted\" input".into());
        report.stderr_tail = vec!["UnicodeDecodeError: 'utf-8' codec".into()];
        report
    }

    #[test]
    fn json_has_the_specified_fields() {
        let json: serde_json::Value = serde_json::from_str(&sample().render(Format::Json)).unwrap();
        assert_eq!(json["lab"], "lab-x");
        assert_eq!(json["command"], "python3 s.py {port}");
        assert_eq!(json["passed"], 1);
        assert_eq!(json["failed"], 1);
        assert_eq!(json["score"], 1.0);
        assert_eq!(json["max_score"], 2.0);
        assert_eq!(json["server_exit"], 1);
        assert_eq!(json["checks"][1]["result"], "fail");
        assert_eq!(json["checks"][1]["score"], 0.0);
        assert_eq!(json["checks"][0]["max_score"], 1.0);
    }

    #[test]
    fn json_reads_back_as_the_same_report() {
        let read: Report = serde_json::from_str(&sample().render(Format::Json)).unwrap();
        assert_eq!(read.render(Format::Text), sample().render(Format::Text));
        assert!(matches!(read.subject, Subject::Command(_)));
    }

    #[test]
    fn gradescope_score_is_the_sum_of_the_tests() {
        let json: serde_json::Value =
            serde_json::from_str(&sample().render(Format::Gradescope)).unwrap();
        assert_eq!(json["score"], 1.0);
        assert_eq!(json["tests"].as_array().unwrap().len(), 2);
        assert_eq!(json["tests"][1]["max_score"], 1.0);
        assert!(json["output"].as_str().unwrap().contains("status 1"));
    }

    #[test]
    fn junit_escapes_names_and_puts_the_detail_in_failure() {
        let xml = sample().render(Format::Junit);
        let document = roxmltree::Document::parse(&xml).unwrap();
        let cases: Vec<_> = document
            .descendants()
            .filter(|node| node.has_tag_name("testcase"))
            .collect();
        assert_eq!(cases.len(), 2);
        assert_eq!(
            cases[1].attribute("name"),
            Some("survives <bad> & \"quoted\" input")
        );
        let failure = cases[1]
            .children()
            .find(|node| node.has_tag_name("failure"))
            .unwrap();
        assert!(failure.attribute("message").unwrap().contains("status 1"));
    }

    #[test]
    fn every_format_says_what_isolated_a_command_and_none_for_a_target() {
        let mut report = sample();
        report.isolation = Some(vec!["files".into(), "limits".into()]);
        report.isolation_missing = Some("unshare(2) refused".into());
        let json: serde_json::Value = serde_json::from_str(&report.render(Format::Json)).unwrap();
        assert_eq!(json["isolation"], serde_json::json!(["files", "limits"]));
        let line = "isolation: files, limits (unshare(2) refused)";
        assert!(
            report
                .render(Format::Text)
                .starts_with(&format!("{line}\n"))
        );
        let gradescope: serde_json::Value =
            serde_json::from_str(&report.render(Format::Gradescope)).unwrap();
        assert!(gradescope["output"].as_str().unwrap().starts_with(line));
        let xml = report.render(Format::Junit);
        let document = roxmltree::Document::parse(&xml).unwrap();
        assert!(document.descendants().any(|node| {
            node.attribute("name") == Some("isolation")
                && node.attribute("value") == Some("files,limits")
        }));
        let target = Report::new("lab-x", Subject::Target("127.0.0.1:1".into()));
        let json: serde_json::Value = serde_json::from_str(&target.render(Format::Json)).unwrap();
        assert!(json.get("isolation").is_none());
    }

    #[test]
    fn junit_names_its_suite_after_the_grader() {
        let suite_name = |subject| {
            let xml = Report::new("lab-x", subject).render(Format::Junit);
            let document = roxmltree::Document::parse(&xml).unwrap();
            let suite = document
                .descendants()
                .find(|node| node.has_tag_name("testsuite"))
                .unwrap();
            suite.attribute("name").unwrap().to_owned()
        };
        assert_eq!(
            suite_name(Subject::Client("python3 c.py".into())),
            "lab-x check-client"
        );
        assert_eq!(suite_name(Subject::Command("s".into())), "lab-x check");
        assert_eq!(suite_name(Subject::Target("h:1".into())), "lab-x check");
    }

    #[test]
    fn text_ends_with_the_score_line() {
        let text = sample().render(Format::Text);
        assert!(text.starts_with("PASS works\nFAIL survives"));
        assert!(text.contains("the server exited with status 1 during 'survives"));
        assert!(text.ends_with("1 passed, 1 failed\n"));
    }
}
