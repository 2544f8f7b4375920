//! CPE 314's threaded and forked servers in Rust (`examples/`), end to end: served by
//! the lab's own load generator, and graded by the lab's `check` with the report
//! this lab's README states for them.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use common::testkit::{ServerProcess, WAIT, assert_report, example, run, run_check_server};

const BIN: &str = env!("CARGO_BIN_EXE_lab-concurrent");

/// The report of `check` for both examples (README, "Start here"): the slides'
/// `bytes.upper()` is ASCII only, `decode` raises on bytes that are not UTF-8 (which
/// ends that client's thread or process, so its connection closes), and only a bare
/// `quit` ends a session; a thread or a process per client serves clients at once.
const REPORT: &[(&str, Option<&str>)] = &[
    ("a bare message (no newline) gets its reply at once", None),
    ("a line comes back uppercased with its newline", None),
    ("many lines in one segment come back in order", None),
    (
        "full Unicode uppercasing (as Python's str.upper)",
        Some(r#"got "STRAßE ﬁX CAFé\n""#),
    ),
    (
        "bytes that are not UTF-8 pass through",
        Some("the server closed the connection after 0 of 5 bytes"),
    ),
    ("a line split over several segments", None),
    (
        "a character split between segments is one character",
        Some("the server closed the connection after 0 of 3 bytes"),
    ),
    (
        "`quit\\n` ends the session without a reply",
        Some(r#"got "QUIT\n""#),
    ),
    (
        "`quit\\r\\n` ends the session without a reply",
        Some(r#"got "QUIT\r\n""#),
    ),
    ("a bare `quit` (the course client's) ends the session", None),
    ("after a half-close, every reply still arrives", None),
    ("a 1 MiB line with no newline streams through", None),
    ("the server serves a new client afterwards", None),
    (
        "a second client is served while a first one is connected and silent",
        None,
    ),
    (
        "20 clients at once, all held open, each get their reply",
        None,
    ),
];

fn start(name: &str) -> ServerProcess {
    ServerProcess::start(&example("lab-concurrent", name), &["127.0.0.1", "0"], 1)
}

/// `bench --target`: `clients` clients at once, each reply checked byte for byte.
fn bench(server: &ServerProcess, clients: &str, extra: &[&str]) -> serde_json::Value {
    let target = server.address().to_string();
    let mut args = vec!["bench", "--target", &target, "--clients", clients];
    args.extend_from_slice(&["--messages", "20", "--json"]);
    args.extend_from_slice(extra);
    let output = run(BIN, &args, b"");
    assert!(output.status.success(), "{output:?}");
    let row: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(row["errors"], 0, "{row}");
    assert_eq!(row["starved"], 0, "{row}");
    row
}

#[test]
fn threaded_example_answers_every_reply_of_the_load_generator() {
    let server = start("threaded_server");
    let row = bench(&server, "10", &[]);
    assert_eq!(row["messages"], 200, "{row}");
    bench(&server, "4", &["--connect-per-message"]);
}

#[test]
fn forked_example_answers_every_reply_of_the_load_generator() {
    let server = start("forked_server");
    let row = bench(&server, "10", &[]);
    assert_eq!(row["messages"], 200, "{row}");
}

/// The slides' forked server never calls `waitpid`: every child that served a client
/// stays a zombie. The lab's fork model is tested to leave none (tests/models.rs).
#[test]
fn forked_example_leaves_a_zombie_per_client() {
    if !std::path::Path::new("/proc/self/stat").exists() {
        eprintln!("skipped: zombies are counted in /proc (Linux only)");
        return;
    }
    let server = start("forked_server");
    bench(&server, "5", &[]);
    let started = Instant::now();
    while zombie_children(server.pid()) < 5 {
        assert!(started.elapsed() < WAIT, "not 5 zombies after {WAIT:?}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// How many children of `parent` are zombies (state `Z` in /proc/PID/stat).
fn zombie_children(parent: u32) -> usize {
    let entries = std::fs::read_dir("/proc").unwrap();
    entries
        .flatten()
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
        .filter(|stat| {
            // After the command name's `)`: state, then the parent's pid.
            let mut fields = stat
                .rsplit_once(')')
                .map_or("", |(_, rest)| rest)
                .split_whitespace();
            fields.next() == Some("Z") && fields.next() == Some(parent.to_string().as_str())
        })
        .count()
}

#[test]
fn check_grades_the_threaded_example_as_the_readme_says() {
    let server = format!(
        "{} {{host}} {{port}}",
        example("lab-concurrent", "threaded_server")
    );
    let run = run_check_server(BIN, &server, &[]);
    assert_report(&run.stdout(), REPORT);
    run.assert_group_gone();
}

#[test]
fn check_grades_the_forked_example_as_the_readme_says() {
    let server = format!(
        "{} {{host}} {{port}}",
        example("lab-concurrent", "forked_server")
    );
    let run = run_check_server(BIN, &server, &[]);
    assert_report(&run.stdout(), REPORT);
    run.assert_group_gone();
}
