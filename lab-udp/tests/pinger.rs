//! The UDP Pinger end to end: `lab-udp server --loss/--delay/--seed` and `lab-udp ping`,
//! the real binaries on `--port 0` over loopback, and the course-style Python pinger.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::Output;
use std::thread;
use std::time::{Duration, Instant};

use common::testkit::{
    RunningProcess, ServerProcess, Signal, WAIT, assert_ended_by_sigpipe, assert_error_line,
    assert_formats_agree, assert_usage_error, passed, run, run_check_client,
    run_with_stdout_closed, spawn_bounded, stand_in_udp_socket, temp_file, tool_available,
};

const BIN: &str = env!("CARGO_BIN_EXE_lab-udp");

/// `lab-udp server --port 0 --quiet extra...`: the log is not needed, the summary is.
fn server(extra: &[&str]) -> ServerProcess {
    ServerProcess::start_server(BIN, &[&["--quiet"], extra].concat())
}

/// What a server's summary line says: clients served, messages answered, datagrams
/// dropped on purpose.
#[derive(Debug, PartialEq, Eq)]
struct Served {
    clients: usize,
    answered: usize,
    dropped: usize,
}

/// Stops the server; returns what its summary line says, read strictly: a line not
/// in the documented form fails the test (it must not read as "nothing dropped").
fn served_by(server: ServerProcess) -> Served {
    let rest = server.assert_stops_cleanly(Signal::SIGINT);
    let summary = rest
        .iter()
        .find(|line| line.starts_with("shutting down:"))
        .unwrap();
    // `1 client served`, `2 clients served`: the count, then one of the two wordings.
    let number = |field: &str, one: &str, many: &str| -> usize {
        let (count, words) = field.split_once(' ').unwrap();
        let count = count.parse().unwrap_or_else(|_| panic!("{summary:?}"));
        let expected = if count == 1 { one } else { many };
        assert_eq!(words, expected, "{summary:?}");
        count
    };
    let fields: Vec<&str> = summary
        .strip_prefix("shutting down: ")
        .unwrap()
        .split(", ")
        .collect();
    match fields[..] {
        [clients, answered] | [clients, answered, _] => Served {
            clients: number(clients, "client served", "clients served"),
            answered: number(answered, "message answered", "messages answered"),
            dropped: fields
                .get(2)
                .map_or(0, |dropped| number(dropped, "dropped", "dropped")),
        },
        _ => panic!("not a summary: {summary:?}"),
    }
}

fn ping_args(server: SocketAddr, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["ping", "--host", &server.ip().to_string()]
        .map(String::from)
        .into();
    args.extend(["--port".into(), server.port().to_string()]);
    args.extend(extra.iter().map(|arg| arg.to_string()));
    args
}

/// Runs `lab-udp ping` against `server` to its end.
fn ping(server: SocketAddr, extra: &[&str]) -> Pings {
    let args = ping_args(server, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Pings::of(run(BIN, &args, b""))
}

/// What `lab-udp ping` printed, line by line.
#[derive(Debug)]
struct Pings {
    output: Output,
    stdout: String,
    /// (seq, RTT in ms) of each reply.
    replies: Vec<(u32, f64)>,
    timed_out: BTreeSet<u32>,
    late: Vec<u32>,
    /// Unexpected and duplicate replies, port unreachable: anything else.
    other: Vec<String>,
}

impl Pings {
    fn of(output: Output) -> Pings {
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let mut pings = Pings {
            output,
            stdout: stdout.clone(),
            replies: Vec::new(),
            timed_out: BTreeSet::new(),
            late: Vec::new(),
            other: Vec::new(),
        };
        for line in stdout.lines() {
            let seq_in = |line: &str| -> u32 {
                let start = line.find("seq=").unwrap() + 4;
                let digits: String = line[start..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                digits.parse().unwrap()
            };
            if line.starts_with("reply from ") {
                let time = line.split("time=").nth(1).unwrap();
                let ms = time.strip_suffix(" ms").unwrap().parse().unwrap();
                pings.replies.push((seq_in(line), ms));
            } else if line.starts_with("Request timed out (seq=") {
                assert!(pings.timed_out.insert(seq_in(line)), "twice: {line}");
            } else if line.starts_with("late reply (seq=") {
                pings.late.push(seq_in(line));
            } else if !line.starts_with("--- ")
                && !line.contains("packets transmitted")
                && !line.starts_with("rtt ")
            {
                pings.other.push(line.to_string());
            }
        }
        pings
    }

    /// The `rtt min/avg/max/mdev = A/B/C/D ms` line, checked against the replies'
    /// own RTTs (each printed to 3 decimals, as the summary's are): returns min, max.
    fn rtt_summary(&self) -> (f64, f64) {
        let line = self
            .stdout
            .lines()
            .find_map(|line| line.strip_prefix("rtt min/avg/max/mdev = "))
            .unwrap_or_else(|| panic!("no rtt line in {}", self.stdout));
        let values: Vec<f64> = line
            .strip_suffix(" ms")
            .unwrap()
            .split('/')
            .map(|value| value.parse().unwrap())
            .collect();
        let [min, avg, max, mdev] = values[..] else {
            panic!("{line}")
        };
        let rtts: Vec<f64> = self.replies.iter().map(|&(_, rtt)| rtt).collect();
        let close = |a: f64, b: f64| (a - b).abs() < 0.002;
        let mean = rtts.iter().sum::<f64>() / rtts.len() as f64;
        assert!(
            close(min, rtts.iter().copied().fold(f64::MAX, f64::min)),
            "{line}: {rtts:?}"
        );
        assert!(
            close(max, rtts.iter().copied().fold(f64::MIN, f64::max)),
            "{line}: {rtts:?}"
        );
        assert!(close(avg, mean), "{line}: mean {mean}");
        assert!(mdev >= 0.0 && mdev <= max - min + 0.002, "{line}");
        (min, max)
    }

    fn summary_says(&self, text: &str) {
        assert!(self.stdout.contains(text), "{text:?} in {}", self.stdout);
    }

    /// Every ping 1..=count accounted for exactly once: replied to or timed out.
    fn each_ping_once(&self, count: u32) {
        let replied: BTreeSet<u32> = self.replies.iter().map(|&(seq, _)| seq).collect();
        assert_eq!(replied.len(), self.replies.len(), "{}", self.stdout);
        assert!(replied.is_disjoint(&self.timed_out), "{}", self.stdout);
        let all: BTreeSet<u32> = replied.union(&self.timed_out).copied().collect();
        assert_eq!(all, (1..=count).collect(), "{}", self.stdout);
    }
}

#[test]
fn loss_0_answers_every_ping() {
    let server = server(&["--loss", "0", "--seed", "1"]);
    let pings = ping(
        server.address(),
        &["--count", "20", "--interval", "0.01", "--timeout", "5"],
    );
    assert!(pings.output.status.success(), "{pings:?}");
    pings.each_ping_once(20);
    assert_eq!(pings.replies.len(), 20);
    pings.summary_says(
        "20 packets transmitted, 20 received, 0% packet loss\nrtt min/avg/max/mdev = ",
    );
    assert!(pings.other.is_empty(), "{pings:?}");
    pings.rtt_summary();
    let served = Served {
        clients: 1,
        answered: 20,
        dropped: 0,
    };
    assert_eq!(served_by(server), served);
}

#[test]
fn loss_1_answers_none_and_ping_exits_1() {
    let server = ServerProcess::start_server(BIN, &["--loss", "1"]);
    let simulating = server.next_line().unwrap();
    assert!(
        simulating.starts_with("simulating loss 1 and no delay, seed "),
        "{simulating}"
    );
    let pings = ping(
        server.address(),
        &["--count", "3", "--interval", "0.05", "--timeout", "0.2"],
    );
    assert_eq!(pings.output.status.code(), Some(1), "{pings:?}");
    assert_eq!(pings.timed_out, BTreeSet::from([1, 2, 3]));
    pings.summary_says("3 packets transmitted, 0 received, 100% packet loss\n");
    assert!(!pings.stdout.contains("rtt "), "no RTT without a reply");
    for seq in 1..=3 {
        assert!(
            server
                .next_line()
                .unwrap()
                .contains(&format!(": Ping {seq} "))
        );
        assert!(
            server
                .next_line()
                .unwrap()
                .ends_with(": dropped (simulated loss)")
        );
    }
    let served = Served {
        clients: 0,
        answered: 0,
        dropped: 3,
    };
    assert_eq!(served_by(server), served);
}

/// 200 pings lose the same set with the same seed, and the pinger's loss is exactly
/// what the server dropped.
#[test]
fn a_fixed_seed_loses_the_same_pings_every_run() {
    let run_once = || {
        let server = server(&["--loss", "0.3", "--seed", "2026"]);
        let pings = ping(
            server.address(),
            &["--count", "200", "--interval", "0.005", "--timeout", "3"],
        );
        pings.each_ping_once(200);
        let Served {
            answered, dropped, ..
        } = served_by(server);
        assert_eq!(pings.timed_out.len(), dropped, "{}", pings.stdout);
        assert_eq!(answered, 200 - dropped, "{}", pings.stdout);
        pings.summary_says(&format!(
            "200 packets transmitted, {} received, ",
            200 - dropped
        ));
        pings.timed_out
    };
    let first = run_once();
    assert!(
        (30..90).contains(&first.len()),
        "about 30% of 200: {first:?}"
    );
    assert_eq!(first, run_once());
}

#[test]
fn delayed_replies_have_rtts_in_the_delay_band() {
    let server = server(&["--delay", "20..30", "--seed", "4"]);
    let pings = ping(
        server.address(),
        &["--count", "10", "--interval", "0.02", "--timeout", "5"],
    );
    assert!(pings.output.status.success(), "{pings:?}");
    pings.each_ping_once(10);
    assert_eq!(pings.replies.len(), 10, "{pings:?}");
    for &(seq, rtt) in &pings.replies {
        // A reply can never come before its delay; the upper bound is loose, for a
        // loaded machine: this is not a performance test.
        assert!((20.0..1_000.0).contains(&rtt), "seq={seq} time={rtt} ms");
    }
    let (min, _) = pings.rtt_summary();
    assert!(min >= 20.0, "{}", pings.stdout);
}

/// If the server slept before each delayed reply, ping N (sent at 50 (N - 1) ms) would
/// wait for the N replies before it: an RTT of at least 450 N + 50 ms, 500, 950, 1400,
/// 1850, 2300... 3650 ms for ping 8. Held in the delay line, each takes its 500 ms,
/// all at once. The bound, 2000 ms, leaves 1.5 s for a loaded machine and is still
/// below what serial sleeping gives from ping 5 on.
#[test]
fn a_delayed_reply_does_not_delay_the_replies_behind_it() {
    let server = server(&["--delay", "500"]);
    let pings = ping(
        server.address(),
        &["--count", "8", "--interval", "0.05", "--timeout", "5"],
    );
    pings.each_ping_once(8);
    assert_eq!(pings.replies.len(), 8, "{pings:?}");
    for &(seq, rtt) in &pings.replies {
        assert!((500.0..2_000.0).contains(&rtt), "seq={seq} time={rtt} ms");
    }
}

#[test]
fn ping_over_ipv6_and_to_a_dual_stack_server() {
    let v6 = server(&["--host", "::1", "--loss", "0"]);
    let pings = ping(v6.address(), &["--count", "2", "--interval", "0.01"]);
    assert!(pings.output.status.success(), "{pings:?}");
    pings.summary_says(&format!(
        "--- {} ping statistics ---\n2 packets transmitted, 2 received",
        v6.address()
    ));

    let dual = server(&["--host", "::"]);
    let v4: SocketAddr = format!("127.0.0.1:{}", dual.address().port())
        .parse()
        .unwrap();
    let pings = ping(v4, &["--count", "2", "--interval", "0.01"]);
    assert_eq!(pings.replies.len(), 2, "{pings:?}");
    assert!(
        pings
            .stdout
            .starts_with(&format!("reply from {v4}: seq=1 ")),
        "{pings:?}"
    );
}

/// A stand-in server that sits on the reply to ping 1 and sends it, late, just before
/// the reply to ping 2: the pinger must not take it for ping 2's. With `--interval`
/// equal to `--timeout`, ping 1 is timed out before ping 2 goes out, and both replies
/// have ping 2's whole second to arrive in.
#[test]
fn a_late_reply_is_reported_and_not_matched_to_the_next_ping() {
    let (socket, address) = stand_in_udp_socket();
    let server = spawn_bounded(move || {
        let mut buffer = [0; 64];
        let (length, client) = socket.recv_from(&mut buffer).unwrap();
        let first = buffer[..length].to_ascii_uppercase();
        let (length, _) = socket.recv_from(&mut buffer).unwrap();
        socket.send_to(&first, client).unwrap();
        socket
            .send_to(&buffer[..length].to_ascii_uppercase(), client)
            .unwrap();
    });
    let pings = ping(
        address,
        &["--count", "2", "--interval", "1", "--timeout", "1"],
    );
    server.join();
    assert_eq!(pings.timed_out, BTreeSet::from([1]), "{pings:?}");
    assert_eq!(pings.late, [1], "{pings:?}");
    assert_eq!(pings.replies.iter().map(|r| r.0).collect::<Vec<_>>(), [2]);
    pings.summary_says("2 packets transmitted, 1 received, 50% packet loss");
    assert!(pings.output.status.success());
}

/// The same with our server: every reply is held 300 ms, never less, so it always
/// comes after its ping's 100 ms timeout, while later pings wait. The run goes on
/// for 1.9 s (ten pings 0.2 s apart), which leaves reply 1 1.6 s to arrive in.
#[test]
fn replies_past_the_timeout_are_late_never_received() {
    let server = server(&["--delay", "300"]);
    let pings = ping(
        server.address(),
        &["--count", "10", "--interval", "0.2", "--timeout", "0.1"],
    );
    assert_eq!(pings.output.status.code(), Some(1), "{pings:?}");
    assert!(pings.replies.is_empty(), "{pings:?}");
    assert!(pings.late.contains(&1), "{pings:?}");
    pings.summary_says("10 packets transmitted, 0 received, 100% packet loss");
}

#[test]
fn two_clients_pinging_at_once_each_get_their_own_replies() {
    let server = server(&["--delay", "0..20", "--seed", "9"]);
    let address = server.address();
    let pingers: Vec<_> = (0..2)
        .map(|_| {
            spawn_bounded(move || {
                ping(
                    address,
                    &["--count", "30", "--interval", "0.01", "--timeout", "5"],
                )
            })
        })
        .collect();
    for pinger in pingers {
        let pings = pinger.join();
        assert!(pings.output.status.success(), "{pings:?}");
        pings.each_ping_once(30);
        assert_eq!(pings.replies.len(), 30);
        // A reply to the other pinger would show as unexpected (its TIME differs).
        assert!(pings.other.is_empty() && pings.late.is_empty(), "{pings:?}");
    }
    let rest = server.assert_stops_cleanly(Signal::SIGINT);
    assert!(
        rest.iter()
            .any(|line| line == "shutting down: 2 clients served, 60 messages answered"),
        "{rest:?}"
    );
}

/// A reply that is not the uppercase of a ping (an echo server) is reported, not counted.
/// Both pings time out; the timeout is long so that both echoes come before the end.
#[test]
fn replies_that_are_not_uppercase_pings_are_not_counted() {
    let (echo, address) = stand_in_udp_socket();
    thread::spawn(move || {
        let mut buffer = [0; 64];
        while let Ok((length, client)) = echo.recv_from(&mut buffer) {
            let _ = echo.send_to(&buffer[..length], client);
        }
    });
    let pings = ping(
        address,
        &["--count", "2", "--interval", "0.05", "--timeout", "2"],
    );
    assert_eq!(pings.output.status.code(), Some(1), "{pings:?}");
    assert_eq!(pings.other.len(), 2, "{pings:?}");
    assert!(pings.other[0].starts_with(&format!("unexpected reply from {address}: \"Ping 1 ")));
    assert_eq!(pings.timed_out, BTreeSet::from([1, 2]));
}

#[test]
fn no_server_is_one_error_line_at_once() {
    let closed = common::testkit::Refusing::new();
    let address = closed.address();
    let started = Instant::now();
    let pings = ping(address, &["--count", "3"]);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_error_line(&pings.output, "connection refused");
}

/// As ping(8): Ctrl-C prints the summary so far; exit 0 if a reply came, 1 if none.
/// Without loss the timeout is long (a slow reply is still a reply; Ctrl-C comes after
/// three replies, so it costs nothing); with full loss it is short, timeouts being
/// the lines to wait for.
#[test]
fn ctrl_c_prints_the_summary_so_far() {
    for (loss, timeout, line_start, status, received) in [
        ("0", "5", "reply from ", 0, " received, "),
        (
            "1",
            "0.05",
            "Request timed out (seq=",
            1,
            " 0 received, 100% packet loss",
        ),
    ] {
        let server = server(&["--loss", loss]);
        let args = ping_args(
            server.address(),
            &[
                "--count",
                "1000",
                "--interval",
                "0.05",
                "--timeout",
                timeout,
            ],
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let pinger = RunningProcess::start(BIN, &args);
        for _ in 0..3 {
            let line = pinger.next_line().unwrap();
            assert!(line.starts_with(line_start), "{line}");
        }
        let (exit, rest, stderr) = pinger.signal_and_wait(Signal::SIGINT);
        assert_eq!(stderr, "");
        assert_eq!(exit.code(), Some(status), "{rest:?}");
        let rest = rest.join("\n");
        assert!(rest.contains(" ping statistics ---\n"), "{rest}");
        assert!(rest.contains(" packets transmitted, "), "{rest}");
        assert!(rest.contains(received), "{rest}");
        assert_eq!(
            rest.contains("\nrtt min/avg/max/mdev = "),
            status == 0,
            "{rest}"
        );
    }
}

#[test]
fn a_closed_stdout_ends_the_pinger_as_sigpipe_does() {
    let server = server(&[]);
    let args = ping_args(server.address(), &["--count", "3", "--interval", "0.01"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_ended_by_sigpipe(&run_with_stdout_closed(BIN, &args, b""), "ping");
}

#[test]
fn bad_values_are_usage_errors() {
    for args in [
        &["server", "--loss", "1.5"][..],
        &["server", "--loss", "a third"],
        &["server", "--delay", "50..10"],
        &["server", "--delay", "soon"],
        &["server", "--seed", "-1"],
        &["ping", "--count", "0"],
        &["ping", "--timeout", "0"],
        &["ping", "--interval", "never"],
    ] {
        assert_usage_error(BIN, args, "");
    }
}

#[test]
fn negative_values_reach_the_options_own_check() {
    // Not clap's "unexpected argument '-1'", as if the option had been given no value.
    let duration = "is not a duration: give a number of seconds >= 0";
    for (args, message) in [
        (&["ping", "--interval", "-1"][..], duration),
        (&["ping", "--timeout", "-0.5"], duration),
        (&["client", "--timeout", "-1"], duration),
        (&["ping", "--count", "-3"], "-3 is not in 1.."),
    ] {
        assert_usage_error(BIN, args, &format!("for '{} ", args[1]));
        assert_usage_error(BIN, args, message);
    }
}

/// The course's pinger, as a student writes it from the assignment: one socket,
/// `Ping N time`, a one-second timeout, RTT or `Request timed out`.
///
/// For grading tests, two optional arguments: the timeout in seconds, and a way to
/// go further (`summary`: print the loss rate) or wrong (`five-pings`, `wrong-loss`,
/// `silent-timeouts`, `exits-1`; `upper-ping`: `PING N time`, and the loss rate).
const PYTHON_PINGER: &str = r#"
import sys, time
from socket import *
timeout_s = float(sys.argv[2]) if len(sys.argv) > 2 else 1
mode = sys.argv[3] if len(sys.argv) > 3 else 'plain'
client = socket(AF_INET, SOCK_DGRAM)
client.settimeout(timeout_s)
lost = 0
for seq in range(1, 6 if mode == 'five-pings' else 11):
    sent = time.time()
    ping = 'PING %d %f' if mode == 'upper-ping' else 'Ping %d %f'
    client.sendto((ping % (seq, sent)).encode(), ('127.0.0.1', int(sys.argv[1])))
    try:
        reply, server = client.recvfrom(1024)
        print('%s RTT %.3f ms' % (reply.decode(), (time.time() - sent) * 1000))
    except timeout:
        lost += 1
        if mode != 'silent-timeouts':
            print('Request timed out')
if mode in ('summary', 'upper-ping'):
    print('Packet loss rate: %.1f%%' % (lost * 10))
if mode == 'wrong-loss':
    print('Packet loss rate: %.1f%%' % lost)
sys.exit(1 if mode == 'exits-1' else 0)
"#;

#[test]
fn the_course_pinger_works_against_our_lossy_server() {
    if !tool_available("python3") {
        return;
    }
    let server = server(&["--loss", "0.3", "--seed", "1"]);
    let port = server.address().port().to_string();
    let output = run("python3", &["-c", PYTHON_PINGER, &port], b"");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 10, "{stdout}");
    let timed_out = lines.iter().filter(|l| **l == "Request timed out").count();
    for (seq, line) in (1..).zip(&lines) {
        assert!(
            *line == "Request timed out" || line.starts_with(&format!("PING {seq} ")),
            "{stdout}"
        );
    }
    assert!(
        (1..10).contains(&timed_out),
        "some lost, some not: {stdout}"
    );
    let Served {
        answered, dropped, ..
    } = served_by(server);
    assert_eq!((answered, dropped), (10 - timed_out, timed_out), "{stdout}");
}

#[test]
fn demo_shows_the_pinger() {
    let output = run(BIN, &["demo"], b"");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("10 packets transmitted, "), "{stdout}");
    assert!(stdout.contains("Request timed out (seq="), "{stdout}");
}

/// `lab-udp check-client --pinger --client CLIENT --format text`: (passed?, stdout).
fn check_pinger(client: &str) -> (bool, String) {
    run_check_client(BIN, client, &["--pinger"])
}

const TEN_PINGS: &str = "ten pings 'Ping SEQ TIME', SEQ 1 to 10 in order";
const A_LINE_EACH: &str =
    "one line per ping, its RTT or 'Request timed out' for exactly the dropped ones";
const LOSS_FIGURE: &str = "the loss it reports is what was dropped (30%)";
const ENDS: &str = "it ends on its own, with status 0";

#[test]
fn check_client_pinger_passes_our_pinger_in_every_format() {
    // A reply later than --timeout would be a wrong 'Request timed out': the
    // assignment's 1 s is ample on loopback, and it is waited out once per run (the
    // dropped pings wait together), far below the check's 15 s.
    let ours = format!("{BIN} ping --host {{host}} --port {{port}} --interval 0.02 --timeout 1");
    let (ok, stdout) = check_pinger(&ours);
    assert!(ok, "{stdout}");
    assert!(stdout.ends_with("4 passed, 0 failed\n"), "{stdout}");
    assert_formats_agree(
        BIN,
        &["check-client", "--pinger", "--client", &ours],
        WAIT * 3,
    );
}

/// The course's pinger passes what the assignment asks; the loss rate is its optional
/// part, so the plain one fails that check only.
#[test]
fn check_client_pinger_grades_the_course_pinger() {
    if !tool_available("python3") {
        return;
    }
    let script = temp_file("UDPPinger.py", PYTHON_PINGER);
    // A reply later than the timeout would be a wrong 'Request timed out', and taken
    // for the next ping's: the assignment's 1 s, which each of the three dropped pings
    // waits out in turn, well within the check's 15 s.
    let pinger =
        |mode: &str| check_pinger(&format!("python3 {} {{port}} 1 {mode}", script.display()));
    let (ok, stdout) = pinger("summary");
    assert!(ok, "{stdout}");
    let (ok, stdout) = pinger("plain");
    assert!(!ok && stdout.ends_with("3 passed, 1 failed\n"), "{stdout}");
    assert!(!passed(&stdout, LOSS_FIGURE), "{stdout}");
}

#[test]
fn pings_in_a_wrong_form_cost_the_check_of_their_form_only() {
    // Before: our server dropped only pings it could read, so 'PING 1 TIME' lost
    // none, and the pinger failed the checks of the loss too: 'the lines of pings
    // none say ...'.
    if !tool_available("python3") {
        return;
    }
    let script = temp_file("UDPPinger.py", PYTHON_PINGER);
    let (ok, stdout) = check_pinger(&format!(
        "python3 {} {{port}} 1 upper-ping",
        script.display()
    ));
    assert!(!ok && stdout.ends_with("3 passed, 1 failed\n"), "{stdout}");
    assert!(!passed(&stdout, TEN_PINGS), "{stdout}");
}

#[test]
fn check_client_pinger_fails_a_wrong_pinger_for_each_check() {
    if !tool_available("python3") {
        return;
    }
    let script = temp_file("UDPPinger.py", PYTHON_PINGER);
    let pinger = |timeout: &str, mode: &str| {
        check_pinger(&format!(
            "python3 {} {{port}} {timeout} {mode}",
            script.display()
        ))
    };
    // Five pings only; nothing printed for a lost ping; a wrong loss figure; a
    // failure status.
    for ((ok, stdout), fails) in [
        (pinger("0.3", "five-pings"), TEN_PINGS),
        (pinger("0.3", "silent-timeouts"), A_LINE_EACH),
        (pinger("0.3", "wrong-loss"), LOSS_FIGURE),
        (pinger("0.3", "exits-1"), ENDS),
    ] {
        assert!(!ok, "{stdout}");
        assert!(!passed(&stdout, fails), "must fail {fails:?}: {stdout}");
    }
}
