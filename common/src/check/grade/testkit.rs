//! Helpers for the labs' end-to-end tests of `grade` (feature `testkit`): a class of
//! submissions in a temporary folder, `grade` run on it, and what `check` alone says
//! of each submission, to compare with.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Is `tool` here? Without it the caller's test is skipped (said on stderr), except
/// under CI (env `CI` set), where it fails: `.ci/run` must install it.
pub fn tool_or_skip(tool: &str) -> bool {
    if crate::testkit::tool_available(tool) {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "CI must have {tool}");
    false
}

/// A fresh folder holding a class: each `(student, file, contents)` is the file
/// `student/file`.
pub fn class(files: &[(&str, &str, &str)]) -> PathBuf {
    let root = crate::testkit::temp_file("unused", "")
        .parent()
        .expect("a temporary folder")
        .join("class");
    for (student, file, contents) in files {
        fs::create_dir_all(root.join(student)).unwrap();
        fs::write(root.join(student).join(file), contents).unwrap();
    }
    root
}

/// Runs `binary grade args...` in `root`, its stdin empty; asserts it did not panic.
pub fn grade(binary: &str, root: &Path, args: &[&str]) -> Output {
    let output = Command::new(binary)
        .arg("grade")
        .args(args)
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("panicked"),
        "{output:?}"
    );
    output
}

/// What `binary check_args... --format format` prints of the submission in `dir`,
/// run alone in that folder (`check_args` starts with `check` or `check-client`).
pub fn check_alone(binary: &str, dir: &Path, check_args: &[&str], format: &str) -> String {
    let output = Command::new(binary)
        .args(check_args)
        .args(["--format", format])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap()
}

/// The `scores.csv` that `check` run alone on each of `students` (in `root`) says
/// they should get, written here by hand, independently of `grade`'s writer.
pub fn scores_check_gives(
    binary: &str,
    root: &Path,
    students: &[&str],
    check_args: &[&str],
) -> String {
    let reports: Vec<serde_json::Value> = students
        .iter()
        .map(|student| {
            let json = check_alone(binary, &root.join(student), check_args, "json");
            serde_json::from_str(&json).unwrap()
        })
        .collect();
    let names: Vec<&str> = reports[0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|check| check["name"].as_str().unwrap())
        .collect();
    let mut csv = format!(
        "submission,passed,failed,score,max_score,{},server_exit,isolation,note\n",
        names
            .iter()
            .map(|name| quoted(name))
            .collect::<Vec<_>>()
            .join(",")
    );
    for (student, report) in students.iter().zip(&reports) {
        let verdicts: Vec<&str> = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|check| if check["result"] == "pass" { "1" } else { "0" })
            .collect();
        let isolation: Vec<&str> = report["isolation"]
            .as_array()
            .map(|kinds| kinds.iter().map(|kind| kind.as_str().unwrap()).collect())
            .unwrap_or_default();
        let isolation = match isolation.join(", ") {
            none if none.is_empty() => "none".to_owned(),
            kinds => kinds,
        };
        csv.push_str(&format!(
            "{student},{},{},{},{},{},{},{},{}\n",
            report["passed"],
            report["failed"],
            report["score"].as_f64().unwrap(),
            report["max_score"].as_f64().unwrap(),
            verdicts.join(","),
            report["server_exit"]
                .as_i64()
                .map(|status| status.to_string())
                .unwrap_or_default(),
            quoted(&isolation),
            quoted(report["error"].as_str().unwrap_or_default()),
        ));
    }
    csv
}

/// Runs `binary grade STUDENTS... --out out` with `check_args` (without their
/// leading `check` / `check-client`) and `extra`, in `root`.
pub fn grade_class(
    binary: &str,
    root: &Path,
    students: &[&str],
    check_args: &[&str],
    extra: &[&str],
) -> Output {
    let mut args = students.to_vec();
    args.extend(&check_args[1..]);
    args.extend(["--out", "out"]);
    args.extend(extra);
    grade(binary, root, &args)
}

/// [`grade_class`], and asserts that it succeeded and that its `scores.csv` is what
/// [`scores_check_gives`]. Returns that file.
pub fn assert_grade_scores_as_check_alone(
    binary: &str,
    root: &Path,
    students: &[&str],
    check_args: &[&str],
    extra: &[&str],
) -> String {
    let output = grade_class(binary, root, students, check_args, extra);
    assert!(output.status.success(), "{output:?}");
    let scores = fs::read_to_string(root.join("out/scores.csv")).unwrap();
    assert_eq!(
        scores,
        scores_check_gives(binary, root, students, check_args)
    );
    scores
}

/// A CSV field as RFC 4180 writes it: quoted when it holds a comma, a quote or a
/// line break, its quotes doubled.
fn quoted(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// The processes whose working folder is inside `root`, as process ids and command
/// lines: the submissions of a class there, and the `check` runs grading them.
pub fn processes_in(root: &Path) -> Vec<(u32, String)> {
    let root = fs::canonicalize(root).unwrap();
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let pid: u32 = path.file_name()?.to_str()?.parse().ok()?;
            let cwd = fs::read_link(path.join("cwd")).ok()?;
            let command = fs::read(path.join("cmdline")).ok()?;
            cwd.starts_with(&root)
                .then(|| (pid, String::from_utf8_lossy(&command).replace('\0', " ")))
        })
        .collect()
}

/// Asserts that `binary grade` gives our own server, run as a submission by the
/// `server` command (`{port}` in it), every check's point: the lab's `grade` is wired
/// to its `check`, and passes `extra` (the lab's own options) on to it.
pub fn assert_grade_passes_our_server(binary: &str, server: &str, extra: &[&str]) {
    let root = class(&[("ours", ".keep", "")]);
    let mut args = vec!["ours", "--server", server, "--out", "out"];
    args.extend(extra);
    let output = grade(binary, &root, &args);
    assert!(output.status.success(), "{output:?}");
    let scores = fs::read_to_string(root.join("out/scores.csv")).unwrap();
    let row: Vec<&str> = scores.lines().nth(1).unwrap().split(',').collect();
    // Name, passed, failed: some passed, none failed.
    assert_eq!((row[0], row[2]), ("ours", "0"), "{scores}");
    assert_ne!(row[1], "0", "{scores}");
    assert!(root.join("out/ours.txt").exists());
}
