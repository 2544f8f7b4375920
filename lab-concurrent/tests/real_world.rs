//! lab-concurrent as a real machine uses it: stdout closed early (every model serves
//! on; demo, check and bench end as SIGPIPE would), and a dual-stack server's IPv4
//! clients shown as plain IPv4 by every model.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::tcp_checks::read_len;
use common::testkit::{
    ServerProcess, Signal, WAIT, assert_ended_by_sigpipe, connect, group_members, run,
    run_with_stdout_closed, wait_for_exit,
};

mod support;
use support::MODELS;

const BIN: &str = env!("CARGO_BIN_EXE_lab-concurrent");

fn exchange(server: SocketAddr, line: &[u8]) {
    let mut conn = connect(server);
    conn.write_all(line).unwrap();
    assert_eq!(
        read_len(&mut conn, line.len()).unwrap(),
        line.to_ascii_uppercase()
    );
}

#[test]
fn every_model_keeps_serving_with_its_stdout_closed_and_stops_cleanly() {
    for model in MODELS {
        let server = ServerProcess::start_then_close_stdout(
            BIN,
            &["server", "--model", model, "--port", "0"],
            1,
        );
        for _ in 0..3 {
            // Each session logs to the closed pipe (the fork model's children too).
            exchange(server.address(), b"still here\n");
        }
        server.assert_stops_in_time(Signal::SIGINT);
    }
}

#[test]
fn a_closed_stdout_ends_demo_check_and_bench_as_sigpipe_does() {
    let server = ServerProcess::start(BIN, &["server", "--port", "0", "--quiet"], 1);
    let target = server.address().to_string();
    for (what, args) in [
        ("demo", vec!["demo"]),
        ("check", vec!["check", "--target", &target]),
        (
            "bench --target",
            vec![
                "bench",
                "--target",
                &target,
                "--clients",
                "2",
                "--duration",
                "0.2",
            ],
        ),
        (
            "bench of a model",
            vec![
                "bench",
                "--models",
                "thread",
                "--clients",
                "2",
                "--duration",
                "0.2",
            ],
        ),
    ] {
        let output = run_with_stdout_closed(BIN, &args, b"");
        assert_ended_by_sigpipe(&output, what);
    }
}

#[test]
fn a_bench_that_exchanged_nothing_has_not_succeeded() {
    let server = ServerProcess::start(BIN, &["server", "--port", "0", "--quiet"], 1);
    let target = server.address().to_string();
    let output = run(
        BIN,
        &[
            "bench",
            "--target",
            &target,
            "--connect-per-message",
            "--duration",
            "0",
        ],
        b"",
    );
    assert!(!output.status.success(), "{output:?}");
}

#[test]
fn every_model_shows_its_ipv4_clients_plain_on_dual_stack() {
    for model in MODELS {
        let server = ServerProcess::start(
            BIN,
            &["server", "--model", model, "--port", "0", "--host", "::"],
            1,
        );
        let ipv4: SocketAddr = format!("127.0.0.1:{}", server.address().port())
            .parse()
            .unwrap();
        exchange(ipv4, b"plain\n");
        let line = server.wait_for_line("New client connected from");
        assert!(
            line.starts_with("New client connected from 127.0.0.1:"),
            "{model}: {line}"
        );
        server.wait_for_line("Client disconnected (127.0.0.1:");
        // Nothing it printed, the lines waited past and stderr included.
        server.assert_stops_cleanly_never_printing(Signal::SIGINT, "::ffff:");
    }
}

#[test]
fn bench_cut_short_by_a_closed_stdout_leaves_no_server_behind() {
    let mut bench = Command::new(BIN)
        .args([
            "bench",
            "--models",
            "fork",
            "--clients",
            "2",
            "--duration",
            "0.3",
        ])
        // A process group of its own, as a shell gives a job: the server it starts,
        // and that server's children, are in it too, whatever their command line.
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // `bench | head -1`: the header is read, then the pipe is closed.
    let stdout = bench.stdout.take().unwrap();
    let (header, closed) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        let _ = reader.read_line(&mut line);
        drop(reader);
        let _ = header.send(line);
    });
    let line = closed.recv_timeout(WAIT).unwrap();
    assert!(line.starts_with("server"), "{line:?}");
    let status = wait_for_exit(&mut bench);
    assert_eq!(status.signal(), Some(Signal::SIGPIPE as i32), "{status:?}");
    assert_group_empties(&bench);
}

/// Asserts that nothing is left, within [`WAIT`], in the process group of `bench`
/// (reaped): whatever is there, it started. Bounded, as a server that was sent
/// SIGTERM but not waited for may take a moment to go.
fn assert_group_empties(bench: &std::process::Child) {
    let group = i32::try_from(bench.id()).unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let left = group_members(group);
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a bench server was left running: {left:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bench_killed_alone_stops_its_server_and_dies_of_the_signal() {
    // `kill -INT` or `kill -TERM` of the bench only (a script, `timeout`), not of the
    // terminal's whole group: the server it started must not be left running.
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        let mut bench = Command::new(BIN)
            .args(["bench", "--models", "thread", "--duration", "60"])
            // A process group of its own, to find the server in; the signal goes to
            // the bench's PID only.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let group = i32::try_from(bench.id()).unwrap();
        let deadline = Instant::now() + WAIT;
        while group_members(group).len() < 2 {
            assert!(Instant::now() < deadline, "the bench started no server");
            thread::sleep(Duration::from_millis(20));
        }
        let pid = nix::unistd::Pid::from_raw(group);
        nix::sys::signal::kill(pid, signal).unwrap();
        let status = wait_for_exit(&mut bench);
        assert_eq!(status.signal(), Some(signal as i32), "{signal}: {status:?}");
        // Not only stopped but waited for: gone by the time the bench is.
        let left = group_members(group);
        assert!(
            left.is_empty(),
            "{signal}: the bench's server outlived it: {left:?}"
        );
    }
}
