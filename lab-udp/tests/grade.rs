//! `lab-udp grade` end to end: a class of Python submissions in a temporary folder,
//! graded at once; every figure compared with what `check` says of each alone.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::check::grade::testkit::{check_alone, processes_in, scores_check_gives, tool_or_skip};
use common::testkit::{send_signal, text_verdicts, wait_for_exit};
use std::os::unix::process::CommandExt;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

const BIN: &str = env!("CARGO_BIN_EXE_lab-udp");

/// How every submission is run: the port as its first argument.
const SERVER: &str = "python3 UDPServer.py {port}";

/// How `check` grades each submission, alone or through `grade`.
const CHECK: [&str; 5] = ["check", "--server", SERVER, "--timeout", "1"];

/// The start of every submission: Kurose & Ross 2.7's UDPServer.py, the port given.
const PROLOGUE: &str = "import sys, time
from socket import *
serverSocket = socket(AF_INET, SOCK_DGRAM)
serverSocket.bind(('127.0.0.1', int(sys.argv[1])))
while True:
    message, clientAddress = serverSocket.recvfrom(65535)
";

/// Uppercases every datagram, invalid UTF-8 included: every check passes.
const CORRECT: &str = "    reply = message.decode('utf-8', 'surrogateescape').upper()
    serverSocket.sendto(reply.encode('utf-8', 'surrogateescape'), clientAddress)
";
/// The textbook's line: dies on the first datagram that is not UTF-8.
const TEXTBOOK: &str = "    serverSocket.sendto(message.decode().upper().encode(), clientAddress)
";
/// Sends each datagram back as it came: a wrong answer, no crash.
const ECHO: &str = "    serverSocket.sendto(message, clientAddress)
";
/// Answers the first two datagrams, then hangs.
const HANGS: &str = "    answered = globals().get('answered', 0) + 1
    if answered > 2:
        time.sleep(1000)
    serverSocket.sendto(message.upper(), clientAddress)
";

/// A class of UDPServer.py files: each `(student, body)` is the textbook's start
/// followed by `body`.
fn class(submissions: &[(&str, &str)]) -> PathBuf {
    let sources: Vec<(&str, String)> = submissions
        .iter()
        .map(|(student, body)| (*student, format!("{PROLOGUE}{body}")))
        .collect();
    let files: Vec<(&str, &str, &str)> = sources
        .iter()
        .map(|(student, source)| (*student, "UDPServer.py", source.as_str()))
        .collect();
    common::check::grade::testkit::class(&files)
}

/// `lab-udp grade STUDENTS... --server ... --timeout 1 --out out EXTRA...` in `root`.
fn grade(root: &Path, students: &[&str], extra: &[&str]) -> Output {
    common::check::grade::testkit::grade_class(BIN, root, students, &CHECK, extra)
}

#[test]
fn a_class_gets_the_scores_check_gives_each_alone_with_reports_chart_and_summary() {
    if !tool_or_skip("python3") {
        return;
    }
    let names = ["correct", "echo", "textbook"];
    let root = class(&[("correct", CORRECT), ("echo", ECHO), ("textbook", TEXTBOOK)]);
    let output = grade(&root, &names, &["--jobs", "3"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");

    let scores = fs::read_to_string(root.join("out/scores.csv")).unwrap();
    assert_eq!(scores, scores_check_gives(BIN, &root, &names, &CHECK));
    let rows: Vec<&str> = scores.lines().collect();
    assert!(
        rows[1].starts_with("correct,8,0,8,8,1,1,1,1,1,1,1,1,"),
        "{scores}"
    );
    assert!(
        rows[2].starts_with("echo,") && rows[3].starts_with("textbook,"),
        "{scores}"
    );

    // One report per submission, in the default format (text), saying what check says.
    for name in names {
        let report = fs::read_to_string(root.join(format!("out/{name}.txt"))).unwrap();
        let alone = check_alone(BIN, &root.join(name), &CHECK, "text");
        assert_eq!(text_verdicts(&report), text_verdicts(&alone), "{name}");
        assert_eq!(report.lines().last(), alone.lines().last(), "{name}");
    }
    let svg = fs::read_to_string(root.join("out/summary.svg")).unwrap();
    let document = roxmltree::Document::parse(&svg).unwrap();
    let texts: Vec<&str> = document
        .descendants()
        .filter_map(|node| node.text())
        .map(str::trim)
        .collect();
    let header: Vec<&str> = rows[0].split(',').collect();
    for check in &header[5..header.len() - 3] {
        assert!(texts.contains(check), "{check} not in the chart");
    }

    // The summary: each check once, the least passed first.
    let summary: Vec<&str> = stdout
        .lines()
        .skip_while(|line| !line.starts_with("checks, the least passed first"))
        .skip(1)
        .take_while(|line| !line.starts_with("scores"))
        .collect();
    assert_eq!(summary.len(), header.len() - 8, "{stdout}");
    let passed: Vec<usize> = summary
        .iter()
        .map(|line| {
            let count = line.split_whitespace().nth(1).unwrap();
            count.split_once('/').unwrap().0.parse().unwrap()
        })
        .collect();
    assert!(passed.is_sorted(), "not the least passed first: {stdout}");
    assert_eq!(passed.first(), Some(&1), "{stdout}");
    assert!(stdout.contains("3 of 3 submissions graded"), "{stdout}");
    assert!(stdout.contains("scores (out of 8):\n  8  "), "{stdout}");
}

#[test]
fn jobs_1_and_jobs_4_give_the_same_scores() {
    if !tool_or_skip("python3") {
        return;
    }
    let kinds = [CORRECT, ECHO, TEXTBOOK];
    let names: Vec<String> = (0..6).map(|index| format!("student{index}")).collect();
    let submissions: Vec<(&str, &str)> = names
        .iter()
        .enumerate()
        .map(|(index, name)| (name.as_str(), kinds[index % 3]))
        .collect();
    let root = class(&submissions);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut csvs = Vec::new();
    for jobs in ["1", "4"] {
        let output = grade(&root, &names, &["--jobs", jobs]);
        assert!(output.status.success(), "{output:?}");
        csvs.push(fs::read_to_string(root.join("out/scores.csv")).unwrap());
        fs::remove_dir_all(root.join("out")).unwrap();
    }
    assert_eq!(csvs[0], csvs[1]);
    assert_eq!(csvs[0].lines().count(), 7);
    assert!(csvs[0].contains("\nstudent3,8,0,8,8,"), "{}", csvs[0]);
}

#[test]
fn a_missing_folder_is_named_in_an_error_and_the_others_are_graded() {
    if !tool_or_skip("python3") {
        return;
    }
    let root = class(&[("correct", CORRECT)]);
    let output = grade(&root, &["correct", "absent"], &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(
        stderr.trim_end(),
        "error: 1 of 2 submissions could not be graded: absent (no such folder)"
    );
    let scores = fs::read_to_string(root.join("out/scores.csv")).unwrap();
    assert!(scores.contains("\ncorrect,8,0,8,8,"), "{scores}");
    assert!(
        scores.ends_with("\nabsent,,,,,,,,,,,,,,,not graded: no such folder\n"),
        "{scores}"
    );
    assert!(root.join("out/correct.txt").exists());

    // No folder at all: no summary of checks or scores that are not there (it printed
    // "scores (out of 0):" and an empty chart), only what was written.
    let output = grade(&root, &["absent", "also-absent"], &[]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.ends_with("0 of 2 submissions graded; scores.csv in out\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("scores (out of"), "{stdout}");
}

#[test]
fn a_command_no_submission_can_run_is_an_error_not_a_class_of_zeros() {
    // Before: a misspelt file name scored every student 0 with exit status 0, and the
    // cause was only in each report, under a path of the grader's copy of the folder.
    if !tool_or_skip("python3") {
        return;
    }
    let root = class(&[("a", CORRECT), ("b", CORRECT)]);
    let check = ["check", "--server", "python3 UDPServr.py {port}"];
    let output = common::check::grade::testkit::grade_class(BIN, &root, &["a", "b"], &check, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let folder = fs::canonicalize(root.join("a")).unwrap();
    assert!(
        stderr.contains(
            "error: no submission's checks could run: each ended before its first check \
             (the first, a: the server never came up: it exited with status 2 before it \
             was ready on 127.0.0.1:"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "can't open file '{}/UDPServr.py'",
            folder.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr
            .trim_end()
            .ends_with("Is the grading command right? Try it by hand in one submission's folder"),
        "{stderr}"
    );
    // No zeros in the gradebook to upload (each student had 0/8 there); the reports
    // are there, to read, and say the status its command ended with before it was
    // ready, as for a crash during a check.
    let scores = fs::read_to_string(root.join("out/scores.csv")).unwrap();
    assert!(
        scores.contains("\na,,,,,,,not graded: no submission's checks could run: see its report\n"),
        "{scores}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.ends_with("0 of 2 submissions graded; their reports and scores.csv in out\n"),
        "{stdout}"
    );
    let report = fs::read_to_string(root.join("out/a.txt")).unwrap();
    assert!(
        report.contains("\nthe server exited with status 2 before it was ready\n"),
        "{report}"
    );
}

#[test]
fn a_mistake_in_the_grading_command_is_a_usage_error_before_any_score() {
    let root = class(&[("someone", ECHO)]);
    // No {port}: check's own usage error, once, for the whole class.
    let output = Command::new(BIN)
        .args([
            "grade",
            "someone",
            "--server",
            "python3 UDPServer.py",
            "--out",
            "out",
        ])
        .current_dir(&root)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("has no {port}"));
    assert!(!root.join("out/someone.txt").exists());
    // An option of check-client with --server.
    let output = Command::new(BIN)
        .args(["grade", "someone", "--server", SERVER, "--port", "12000"])
        .current_dir(&root)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("--port"));
}

/// Who gets the SIGINT.
#[derive(PartialEq)]
enum Interrupted {
    /// `grade` alone (`kill -INT`).
    Grade,
    /// The whole process group, as a terminal's Ctrl-C: `grade` and each `check`.
    Group,
    /// The `check` runs first (they exit 130), then `grade`: a Ctrl-C's order on a
    /// busy machine, which must not leave their submissions "not graded".
    ChecksFirst,
}

#[test]
fn ctrl_c_stops_every_submission_leaves_no_process_and_keeps_the_reports() {
    interrupted_grading_leaves_nothing_but_its_reports(Interrupted::Grade);
}

#[test]
fn ctrl_c_on_a_terminal_reaches_every_process_and_still_leaves_only_the_reports() {
    interrupted_grading_leaves_nothing_but_its_reports(Interrupted::Group);
}

#[test]
fn checks_interrupted_a_moment_before_grade_are_not_called_ungraded() {
    interrupted_grading_leaves_nothing_but_its_reports(Interrupted::ChecksFirst);
}

/// Grades a class of one correct submission and three that hang (`--jobs 2`), sends
/// SIGINT once the correct one is graded and two that hang run (to grade alone, or
/// to its whole process group), and checks what is left.
fn interrupted_grading_leaves_nothing_but_its_reports(who: Interrupted) {
    if !tool_or_skip("python3") {
        return;
    }
    let root = class(&[
        ("a_correct", CORRECT),
        ("b_hangs", HANGS),
        ("c_hangs", HANGS),
        ("d_hangs", HANGS),
    ]);
    let mut grading = Command::new(BIN)
        .args(["grade", "a_correct", "b_hangs", "c_hangs", "d_hangs"])
        .args([
            "--server",
            SERVER,
            "--timeout",
            "5",
            "--jobs",
            "2",
            "--out",
            "out",
            // grade's own handling of Ctrl-C, with the submissions' processes found in
            // this machine's /proc by their folder; an isolated check's own Ctrl-C is
            // tested in lab-tcp/tests/isolation.rs.
            "--no-isolation",
        ])
        .current_dir(&root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    // Wait until the correct one is graded (its row is the last thing written) and
    // two that hang are running.
    let deadline = Instant::now() + Duration::from_secs(60);
    let graded = || {
        fs::read_to_string(root.join("out/scores.csv"))
            .is_ok_and(|scores| scores.contains("\na_correct,"))
    };
    while !(graded()
        && processes_in(&root)
            .iter()
            .filter(|(_, command)| command.contains("python3 UDPServer.py"))
            .count()
            >= 2)
    {
        assert!(Instant::now() < deadline, "{:?}", processes_in(&root));
        thread::sleep(Duration::from_millis(20));
    }
    if who == Interrupted::ChecksFirst {
        let checks: Vec<u32> = processes_in(&root)
            .into_iter()
            .filter(|(_, command)| command.contains("lab-udp check"))
            .map(|(pid, _)| pid)
            .collect();
        for &check in &checks {
            send_signal(check, Signal::SIGINT);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while checks
            .iter()
            .any(|check| Path::new(&format!("/proc/{check}/cwd")).exists())
        {
            assert!(Instant::now() < deadline, "the checks never ended");
            thread::sleep(Duration::from_millis(5));
        }
        // grade goes on with the last submission before its own Ctrl-C comes (it
        // used to wait 1 s for it, then count the interrupted ones as not graded).
        let last_started = || {
            processes_in(&root).iter().any(|(pid, command)| {
                command.contains("python3 UDPServer.py")
                    && fs::read_link(format!("/proc/{pid}/cwd"))
                        .is_ok_and(|cwd| cwd.ends_with("d_hangs"))
            })
        };
        while !last_started() {
            assert!(Instant::now() < deadline, "{:?}", processes_in(&root));
            thread::sleep(Duration::from_millis(5));
        }
    }
    if who == Interrupted::Group {
        let group = Pid::from_raw(i32::try_from(grading.id()).unwrap());
        killpg(group, Signal::SIGINT).unwrap();
    } else {
        send_signal(grading.id(), Signal::SIGINT);
    }
    let status = wait_for_exit(&mut grading);
    assert_eq!(status.code(), Some(130));
    assert_eq!(processes_in(&root), []);
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut grading.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.starts_with("interrupted: 1 of 4 submissions done"),
        "{stderr}"
    );
    assert!(root.join("out/a_correct.txt").exists());
    let scores = fs::read_to_string(root.join("out/scores.csv")).unwrap();
    assert_eq!(scores.lines().count(), 2, "{scores}");
    assert!(scores.contains("\na_correct,8,0,8,8,"), "{scores}");
}

#[test]
fn a_check_interrupted_alone_is_not_graded_and_the_class_goes_on() {
    // A check that ends on a Ctrl-C of its own, while grade goes on: its submission
    // is listed as not graded (grade it again), never scored from a cut-short run.
    if !tool_or_skip("python3") {
        return;
    }
    let root = class(&[("a_hangs", HANGS), ("b_correct", CORRECT)]);
    let mut grading = Command::new(BIN)
        .args([
            "grade",
            "a_hangs",
            "b_correct",
            "--jobs",
            "1",
            "--out",
            "out",
        ])
        .args(&CHECK[1..])
        .arg("--no-isolation")
        .current_dir(&root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let check = loop {
        let running = processes_in(&root);
        let serving = running
            .iter()
            .any(|(_, command)| command.contains("python3 UDPServer.py"));
        let check = running
            .iter()
            .find(|(_, command)| command.contains("lab-udp check"));
        if let (true, Some((check, _))) = (serving, check) {
            break *check;
        }
        assert!(Instant::now() < deadline, "{running:?}");
        thread::sleep(Duration::from_millis(10));
    };
    send_signal(check, Signal::SIGINT);
    let status = wait_for_exit(&mut grading);
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut grading.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    let scores = fs::read_to_string(root.join("out/scores.csv")).unwrap();
    assert!(scores.contains("\nb_correct,8,0,8,8,"), "{scores}");
    assert!(
        scores.contains(
            "\na_hangs,,,,,,,,,,,,,,,not graded: its check was stopped (Ctrl-C or SIGTERM) \
             before it ended: grade it again\n"
        ),
        "{scores}"
    );
    assert_eq!(processes_in(&root), []);
}

#[test]
fn submissions_on_the_same_fixed_port_each_get_their_own_score() {
    if !tool_or_skip("python3") {
        return;
    }
    let names = ["first", "second", "third"];
    let root = class(&[("first", CORRECT), ("second", CORRECT), ("third", CORRECT)]);
    let scores = common::testkit::with_fixed_port(|port| {
        let server = format!("python3 UDPServer.py {port}");
        let target = format!("127.0.0.1:{port}");
        let output = Command::new(BIN)
            .args(["grade", "first", "second", "third", "--server", &server])
            .args([
                "--target",
                &target,
                "--timeout",
                "1",
                "--jobs",
                "3",
                "--out",
                "out",
            ])
            .current_dir(&root)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let scores = fs::read_to_string(root.join("out/scores.csv")).unwrap();
        // Taken by some other program meanwhile: try another port.
        (!scores.contains("in use")).then_some(scores)
    });
    for name in names {
        assert!(scores.contains(&format!("\n{name},8,0,8,8,")), "{scores}");
    }
}
