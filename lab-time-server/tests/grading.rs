//! lab-time-server grading end to end: `check --server` running a submission (ours,
//! one that never listens, one that crashes on its third client), and `check-client`
//! grading our client for every protocol, the course's client, and wrong clients.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use common::testkit::{
    WAIT, assert_check_mistakes_are_usage_errors, assert_client_without_port_is_a_usage_error,
    assert_formats_agree, assert_refusing_target_fails_every_check,
    assert_unstartable_server_fails_every_check, passed, run_check_client, run_check_server,
    temp_file, text_verdicts, tool_available, with_fixed_port,
};

const BIN: &str = env!("CARGO_BIN_EXE_lab-time-server");

#[test]
fn check_server_passes_our_server_for_every_protocol_and_leaves_no_process() {
    for (protocol, transport, checks) in [
        ("daytime", "tcp", 3),
        ("time", "udp", 2),
        ("sntp", "udp", 4),
    ] {
        let server = format!(
            "{BIN} server --protocol {protocol} --transport {transport} --host {{host}} --port {{port}}"
        );
        let run = run_check_server(
            BIN,
            &server,
            &["--protocol", protocol, "--transport", transport],
        );
        let stdout = run.stdout();
        assert!(
            run.output.status.success(),
            "{protocol}/{transport}: {stdout}"
        );
        assert!(
            stdout.ends_with(&format!("{checks} passed, 0 failed\n")),
            "{stdout}"
        );
        run.assert_group_gone();
    }
}

#[test]
fn a_target_that_refuses_fails_every_check_in_plain_words() {
    assert_refusing_target_fails_every_check(BIN, &["--transport", "udp"], 2);
    assert_refusing_target_fails_every_check(BIN, &["--protocol", "sntp", "--transport", "udp"], 4);
    assert_refusing_target_fails_every_check(BIN, &[], 3);
}

#[test]
fn grading_command_mistakes_are_usage_errors_not_a_score_of_0() {
    assert_check_mistakes_are_usage_errors(BIN);
    assert_client_without_port_is_a_usage_error(BIN, &[]);
}

#[test]
fn a_server_that_never_comes_up_fails_every_check_in_every_format() {
    assert_unstartable_server_fails_every_check(BIN, &["--transport", "udp"], 2);
    assert_unstartable_server_fails_every_check(BIN, &["--protocol", "time"], 3);
}

/// A course-style daytime server with a bug: it crashes on its second client.
const CRASHING_SERVER: &str = r#"
import sys, time
from socket import *
s = socket(AF_INET, SOCK_STREAM)
s.bind(('127.0.0.1', int(sys.argv[1])))
s.listen(5)
served = 0
while True:
    c, addr = s.accept()
    served += 1
    if served == 2:
        raise RuntimeError('the bug')
    c.send((time.ctime() + '\r\n').encode('ascii'))
    c.close()
"#;

#[test]
fn a_server_that_crashes_loses_that_check_only() {
    // Its first client is the first check (no startup probe); the second kills it,
    // and it is started again for the third.
    if !tool_available("python3") {
        return;
    }
    let script = temp_file("time_server.py", CRASHING_SERVER);
    let server = format!("python3 {} {{port}}", script.display());
    let run = run_check_server(BIN, &server, &["--timeout", "3"]);
    let stdout = run.stdout();
    assert!(!run.output.status.success(), "{stdout}");
    assert!(
        stdout.contains("PASS the reply is one printable ASCII line ending CRLF"),
        "{stdout}"
    );
    let crash = stdout
        .lines()
        .find(|line| line.starts_with("FAIL the time is ctime, RFC 3339 or RFC 2822"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        crash.contains("the server exited with status 1 during this check")
            && crash.contains("RuntimeError: the bug"),
        "{crash}"
    );
    assert!(
        stdout.contains("PASS the server closes the connection after the time"),
        "{stdout}"
    );
    run.assert_group_gone();
    let verdicts = assert_formats_agree(
        BIN,
        &["check", "--server", &server, "--timeout", "3"],
        WAIT * 3,
    );
    assert_eq!(verdicts, text_verdicts(&stdout));
}

/// NIT IT-553's time server as a student hands it in (the port from its command
/// line): ctime, then close; no `SO_REUSEADDR`. It closes first, so each
/// connection's TIME_WAIT would be on its own port.
const COURSE_TIME_SERVER: &str = r#"
import sys, time
from socket import *
s = socket(AF_INET, SOCK_STREAM)
s.bind(('127.0.0.1', int(sys.argv[1])))
s.listen(5)
while True:
    c, addr = s.accept()
    c.send((time.ctime() + '\r\n').encode('ascii'))
    c.close()
"#;

#[test]
fn three_copies_of_the_course_time_server_on_a_fixed_port_get_the_same_score() {
    // Before: the first run passed 3 of 3 and left TIME_WAIT on the port: the next
    // copies could not bind it and got 0.
    if !tool_available("python3") {
        return;
    }
    let script = temp_file("time_server.py", COURSE_TIME_SERVER);
    let runs = with_fixed_port(|port| {
        let server = format!("python3 {} {port}", script.display());
        let target = format!("127.0.0.1:{port}");
        let runs: Vec<String> = (0..3)
            .map(|_| run_check_server(BIN, &server, &["--target", &target]).stdout())
            .collect();
        (!runs[0].contains("already in use")).then_some(runs)
    });
    for run in &runs {
        assert!(run.ends_with("3 passed, 0 failed\n"), "{run}");
    }
}

const PLAIN: &str = "the server's time is printed, and it exits 0";
const SPLIT: &str = "a reply in two segments is read whole (until the server closes)";
const LOSS: &str = "a lost request is sent again (the first one is dropped)";
const SNTP_REQUEST: &str = "the request is a 48-byte client (mode 3) packet";

#[test]
fn check_client_passes_our_client_for_every_protocol() {
    for (protocol, transport, checks) in [
        ("daytime", "tcp", 2),
        ("time", "tcp", 2),
        ("daytime", "udp", 2),
        ("time", "udp", 2),
        ("sntp", "udp", 3),
    ] {
        // Over UDP the lost-request check needs the client to give up waiting and
        // send again well within the check's limit: a short timeout. Over TCP no
        // check waits for the client's timeout: the default (2 s per read), as a
        // short one would only race the pause inside the split reply.
        let timeout = if transport == "udp" {
            " --timeout 0.3"
        } else {
            ""
        };
        let client = format!(
            "{BIN} client --host {{host}} --port {{port}} --protocol {protocol} \
             --transport {transport}{timeout}"
        );
        // A bound on a client that passes: generous, it costs nothing.
        let args = [
            "--protocol",
            protocol,
            "--transport",
            transport,
            "--timeout",
            "5",
        ];
        let (ok, stdout) = run_check_client(BIN, &client, &args);
        assert!(ok, "{protocol}/{transport}: {stdout}");
        assert!(
            stdout.ends_with(&format!("{checks} passed, 0 failed\n")),
            "{stdout}"
        );
    }
    let client = format!("{BIN} client --host {{host}} --port {{port}}");
    assert_formats_agree(BIN, &["check-client", "--client", &client], WAIT * 3);
}

/// SNTP runs over UDP only, so `--protocol sntp` alone is enough for check and
/// check-client, as it is for the client (it was a usage error: "SNTP runs over UDP
/// only: use --transport udp", the default transport being tcp).
#[test]
fn check_and_check_client_take_sntp_over_udp_untold() {
    let server = format!("{BIN} server --protocol sntp --host {{host}} --port {{port}}");
    let run = run_check_server(BIN, &server, &["--protocol", "sntp"]);
    assert!(run.output.status.success(), "{}", run.stdout());
    assert!(
        run.stdout().ends_with("4 passed, 0 failed\n"),
        "{}",
        run.stdout()
    );
    let client =
        format!("{BIN} client --host {{host}} --port {{port}} --protocol sntp --timeout 0.3");
    let (ok, stdout) = run_check_client(BIN, &client, &["--protocol", "sntp", "--timeout", "5"]);
    assert!(ok, "{stdout}");
    assert!(stdout.ends_with("3 passed, 0 failed\n"), "{stdout}");
}

/// NIT IT-553's time client: one `recv(1024)`. With `local` as its third
/// argument, a wrong client that prints its own clock instead of the server's; with
/// `slow`, the same client slow to call `recv` (as on a loaded machine).
const COURSE_CLIENT: &str = r#"
import sys, time
from socket import *
s = socket(AF_INET, SOCK_STREAM)
s.connect((sys.argv[1], int(sys.argv[2])))
if sys.argv[3:] == ['slow']:
    time.sleep(0.5)
tm = s.recv(1024)
s.close()
if sys.argv[3:] == ['local']:
    tm = time.ctime().encode()
print("The time got from the server is %s" % tm.decode('ascii'))
"#;

/// A UDP daytime client with a timeout but no retry.
const NO_RETRY_CLIENT: &str = r#"
import sys
from socket import *
s = socket(AF_INET, SOCK_DGRAM)
s.settimeout(2)
s.sendto(b'\n', (sys.argv[1], int(sys.argv[2])))
print(s.recvfrom(1024)[0].decode())
"#;

#[test]
fn check_client_fails_the_course_client_on_a_split_reply_and_wrong_clients() {
    if !tool_available("python3") {
        return;
    }
    let course = temp_file("time_client.py", COURSE_CLIENT);
    let (ok, stdout) = run_check_client(
        BIN,
        &format!("python3 {} {{host}} {{port}}", course.display()),
        &[],
    );
    assert!(!ok);
    assert!(passed(&stdout, PLAIN), "{stdout}");
    assert!(!passed(&stdout, SPLIT), "{stdout}");
    // Slow to call recv, it finds the whole reply there if the stand-in only pauses
    // between the pieces; it waits until the first piece is read.
    let (_, stdout) = run_check_client(
        BIN,
        &format!("python3 {} {{host}} {{port}} slow", course.display()),
        &[],
    );
    assert!(!passed(&stdout, SPLIT), "{stdout}");
    let (_, stdout) = run_check_client(
        BIN,
        &format!("python3 {} {{host}} {{port}} local", course.display()),
        &[],
    );
    assert!(!passed(&stdout, PLAIN), "{stdout}");
    let no_retry = temp_file("udp_client.py", NO_RETRY_CLIENT);
    let (ok, stdout) = run_check_client(
        BIN,
        &format!("python3 {} {{host}} {{port}}", no_retry.display()),
        &["--transport", "udp"],
    );
    assert!(!ok);
    assert!(passed(&stdout, PLAIN), "{stdout}");
    assert!(!passed(&stdout, LOSS), "{stdout}");
}

/// An "SNTP" client that sends text instead of an NTP packet.
const NOT_SNTP_CLIENT: &str = r#"
import sys
from socket import *
s = socket(AF_INET, SOCK_DGRAM)
s.settimeout(0.3)
s.sendto(b'what time is it?', (sys.argv[1], int(sys.argv[2])))
print(s.recvfrom(1024)[0])
"#;

/// A client that fails with an error of its own is shown with it, for time as for
/// daytime: our daytime client asked to speak to a time server says the mix-up on
/// stderr, and the detail quotes it (it said only `got ""`).
#[test]
fn check_client_quotes_the_stderr_of_a_time_client_that_printed_no_time() {
    let client = format!("{BIN} client --host {{host}} --port {{port}}");
    let (ok, stdout) = run_check_client(BIN, &client, &["--protocol", "time", "--timeout", "5"]);
    assert!(!ok, "{stdout}");
    assert!(
        stdout.contains(
            "FAIL the server's time is printed, and it exits 0: expected the server's time \
             (2001-02-03 04:05:06 UTC) in its output, got \"\" (its stderr: error: this looks \
             like an RFC 868 time reply (4 binary bytes), not daytime: try --protocol time)"
        ),
        "{stdout}"
    );
}

#[test]
fn check_client_fails_an_sntp_client_whose_request_is_not_ntp() {
    if !tool_available("python3") {
        return;
    }
    let script = temp_file("sntp_client.py", NOT_SNTP_CLIENT);
    let (ok, stdout) = run_check_client(
        BIN,
        &format!("python3 {} {{host}} {{port}}", script.display()),
        &["--protocol", "sntp", "--transport", "udp"],
    );
    assert!(!ok);
    assert!(!passed(&stdout, SNTP_REQUEST), "{stdout}");
    assert!(stdout.contains("the request is 16 bytes"), "{stdout}");
}
