//! lab-udp grading end to end: `check --server` running a submission (ours, and a
//! course-style Python server that dies on invalid UTF-8), and `check-client` grading
//! our client, the course's, and clients wrong in one way each.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use common::testkit::{
    WAIT, assert_check_mistakes_are_usage_errors, assert_client_without_port_is_a_usage_error,
    assert_ended_by_sigpipe, assert_error_line, assert_formats_agree,
    assert_refusing_target_fails_every_check, assert_unstartable_server_fails_every_check, passed,
    run_check_client, run_check_server, run_check_server_with_stdout_closed, temp_file,
    text_verdicts, tool_available, with_fixed_port,
};

const BIN: &str = env!("CARGO_BIN_EXE_lab-udp");

fn our_server() -> String {
    format!("{BIN} server --host {{host}} --port {{port}}")
}

#[test]
fn check_server_passes_our_server_and_leaves_no_process() {
    let run = run_check_server(BIN, &our_server(), &[]);
    let stdout = run.stdout();
    assert!(run.output.status.success(), "{stdout}");
    assert!(stdout.ends_with("8 passed, 0 failed\n"), "{stdout}");
    run.assert_group_gone();
}

#[test]
fn check_server_on_a_closed_stdout_stops_the_server_and_dies_of_sigpipe() {
    let run = run_check_server_with_stdout_closed(BIN, &our_server(), &[]);
    assert_ended_by_sigpipe(&run.output, "check --server | true");
    run.assert_group_gone();
}

#[test]
fn a_target_that_refuses_fails_every_check_in_plain_words() {
    assert_refusing_target_fails_every_check(BIN, &[], 8);
}

#[test]
fn grading_command_mistakes_are_usage_errors_not_a_score_of_0() {
    assert_check_mistakes_are_usage_errors(BIN);
    assert_client_without_port_is_a_usage_error(BIN, &[]);
    assert_client_without_port_is_a_usage_error(BIN, &["--pinger"]);
}

#[test]
fn a_server_that_never_comes_up_fails_every_check_in_every_format() {
    assert_unstartable_server_fails_every_check(BIN, &[], 8);
}

#[test]
fn check_server_that_exits_at_once_says_so_with_its_stderr() {
    let run = run_check_server(BIN, "ls /no-such-directory # {port}", &[]);
    assert_error_line(
        &run.output,
        "the server never came up: it exited with status 2 before it was ready",
    );
    assert_error_line(&run.output, "no-such-directory");
    run.assert_group_gone();
}

#[test]
fn check_server_left_in_the_background_is_graded_and_told_to_stay_in_the_foreground() {
    // `... &`: sh returns at once with status 0, the server binds later (its start put
    // off, as a slow interpreter's would be): it is graded where it binds, the report
    // says it left the foreground, and it is stopped with the rest of its group.
    let server = format!("sh -c 'sleep 1 && exec {BIN} server --port {{port}}' &");
    let run = run_check_server(BIN, &server, &[]);
    let stdout = run.stdout();
    assert!(stdout.ends_with("8 passed, 0 failed\n"), "{stdout}");
    assert!(
        stdout.contains("the server left the foreground: its command exited with status 0"),
        "{stdout}"
    );
    assert!(stdout.contains("no trailing '&'"), "{stdout}");
    run.assert_group_gone();
}

#[test]
fn check_server_that_exits_0_leaving_nothing_is_told_to_stay_in_the_foreground() {
    let run = run_check_server(BIN, "true {port}", &[]);
    assert_error_line(
        &run.output,
        "it exited with status 0 before it was ready on 127.0.0.1:",
    );
    assert_error_line(&run.output, "no trailing '&'");
    run.assert_group_gone();
}

/// The course's UDPServer.py, as a student hands it in (the port from the command
/// line): `decode()` raises on bytes that are not UTF-8, and the server dies.
const COURSE_SERVER: &str = r#"
import sys
from socket import *
serverSocket = socket(AF_INET, SOCK_DGRAM)
serverSocket.bind(('127.0.0.1', int(sys.argv[1])))
while True:
    message, clientAddress = serverSocket.recvfrom(2048)
    modifiedMessage = message.decode().upper()
    serverSocket.sendto(modifiedMessage.encode(), clientAddress)
"#;

#[test]
fn a_course_server_that_crashes_loses_the_checks_about_bad_input_only() {
    // Kurose & Ross's UDPServer.py dies on bytes that are not UTF-8: that check, and
    // the one that it survives them, fail; it is started again for the rest.
    if !tool_available("python3") {
        return;
    }
    let script = temp_file("UDPServer.py", COURSE_SERVER);
    let server = format!("python3 {} {{port}}", script.display());
    let run = run_check_server(BIN, &server, &[]);
    let stdout = run.stdout();
    assert!(!run.output.status.success(), "{stdout}");
    let crash = stdout
        .lines()
        .find(|line| line.starts_with("FAIL bytes that are not UTF-8 pass through: "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        crash.contains("the server exited with status 1 during this check")
            && crash.contains("UnicodeDecodeError"),
        "{crash}"
    );
    assert!(
        stdout.contains(
            "FAIL the server still answers after bad input: the server did not survive the \
             check before: it exited with status 1 during 'bytes that are not UTF-8 pass \
             through'"
        ),
        "{stdout}"
    );
    // After the crash, on the server started again.
    assert!(
        passed(&stdout, "two clients each get their own reply"),
        "{stdout}"
    );
    // recvfrom(2048): the largest datagram comes back cut.
    assert!(stdout.ends_with("5 passed, 3 failed\n"), "{stdout}");
    run.assert_group_gone();
    let verdicts = assert_formats_agree(BIN, &["check", "--server", &server], WAIT * 3);
    assert_eq!(verdicts, text_verdicts(&stdout));
}

#[test]
fn a_server_not_on_the_port_in_its_code_is_asked_about_its_code() {
    // The port is written in the code, and --target names it: the hint asked about a
    // {port} the command does not have.
    if !tool_available("python3") {
        return;
    }
    let script = temp_file(
        "elsewhere.py",
        "from socket import *\ns = socket(AF_INET, SOCK_DGRAM)\ns.bind(('127.0.0.1', 0))\n\
         while True: s.recvfrom(2048)\n",
    );
    let (port, stderr) = with_fixed_port(|port| {
        let target = format!("127.0.0.1:{port}");
        let server = format!("python3 {}", script.display());
        let args = ["--target", &target, "--startup-timeout", "1"];
        let run = run_check_server(BIN, &server, &args);
        let stderr = String::from_utf8_lossy(&run.output.stderr).into_owned();
        (!stderr.contains("already in use")).then_some((port, stderr))
    });
    assert!(
        stderr.contains(&format!(
            "it was not bound to 127.0.0.1:{port} within 1.0 s: does its code use port \
             {port}, as --target says?"
        )),
        "{stderr}"
    );
}

/// A TCP server given to UDP checks (the wrong lab's program): said at once, not
/// after the whole start-up wait with "is {port} where it takes its port?" about the
/// very port it listens on.
#[test]
fn a_tcp_server_given_to_udp_checks_is_said_to_be_one() {
    if !tool_available("python3") {
        return;
    }
    let script = temp_file(
        "TCPServer.py",
        "import sys\nfrom socket import *\ns = socket(AF_INET, SOCK_STREAM)\n\
         s.bind(('127.0.0.1', int(sys.argv[1])))\ns.listen(1)\nwhile True: s.accept()[0].close()\n",
    );
    let server = format!("python3 {} {{port}}", script.display());
    let run = run_check_server(BIN, &server, &["--startup-timeout", "30"]);
    let stdout = run.stdout();
    assert!(!run.output.status.success(), "{stdout}");
    assert!(
        stdout.contains("not run: the server never came up: it listens on 127.0.0.1:"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            " over TCP, but these checks need a UDP server there: is it the right lab's program?"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("within 30.0 s"), "{stdout}");
    run.assert_group_gone();
}

/// A server that answers each datagram from a new socket: right replies, from the
/// wrong address. Only the check about where replies come from fails; it scored 0/8,
/// told "no reply within 2.0 s" by every check, since a connected socket drops a
/// reply from another address (the textbook's unconnected client takes it).
#[test]
fn a_server_that_replies_from_another_socket_loses_only_that_check() {
    if !tool_available("python3") {
        return;
    }
    let script = temp_file(
        "UDPServer.py",
        "import sys\nfrom socket import *\ns = socket(AF_INET, SOCK_DGRAM)\n\
         s.bind(('127.0.0.1', int(sys.argv[1])))\nwhile True:\n\
         \x20   m, client = s.recvfrom(65535)\n\
         \x20   reply = m.decode('utf-8', 'surrogateescape').upper().encode('utf-8', 'surrogateescape')\n\
         \x20   socket(AF_INET, SOCK_DGRAM).sendto(reply, client)\n",
    );
    let run = run_check_server(BIN, &format!("python3 {} {{port}}", script.display()), &[]);
    let stdout = run.stdout();
    assert!(
        stdout.contains("FAIL the reply comes from the server's own address: reply source: "),
        "{stdout}"
    );
    assert!(stdout.ends_with("7 passed, 1 failed\n"), "{stdout}");
    run.assert_group_gone();
}

/// The course's server, that hangs (`time.sleep`) on an empty datagram.
const HANGS_ON_EMPTY: &str = r#"
import sys, time
from socket import *
serverSocket = socket(AF_INET, SOCK_DGRAM)
serverSocket.bind(('127.0.0.1', int(sys.argv[1])))
while True:
    message, clientAddress = serverSocket.recvfrom(65535)
    if message == b'':
        time.sleep(1000)
    modifiedMessage = message.decode('utf-8', 'surrogateescape').upper()
    serverSocket.sendto(modifiedMessage.encode('utf-8', 'surrogateescape'), clientAddress)
"#;

#[test]
fn a_server_that_hangs_in_one_check_loses_that_check_only() {
    // Before: every check after the hang waited out its timeout and failed (2 of 8,
    // where a crash at the same check cost that check only).
    if !tool_available("python3") {
        return;
    }
    let script = temp_file("UDPServer.py", HANGS_ON_EMPTY);
    let server = format!("python3 {} {{port}}", script.display());
    let run = run_check_server(BIN, &server, &["--timeout", "1"]);
    let stdout = run.stdout();
    assert!(
        stdout.contains("FAIL an empty datagram gets an empty reply: no reply within 1.0 s\n"),
        "{stdout}"
    );
    assert!(stdout.ends_with("7 passed, 1 failed\n"), "{stdout}");
    run.assert_group_gone();
}

#[test]
fn a_fixed_port_held_by_another_program_is_an_error_and_that_program_is_not_graded() {
    // Before: the program holding the port answered the startup probe and the checks,
    // and was graded in the student's name.
    if !tool_available("python3") {
        return;
    }
    let script = temp_file("UDPServer.py", COURSE_SERVER);
    let (holder, output, port) = with_fixed_port(|port| {
        // Another program on the port: it answers every datagram in uppercase.
        let holder = std::net::UdpSocket::bind(("127.0.0.1", port)).ok()?;
        holder
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let server = format!("python3 {} {port}", script.display());
        let target = format!("127.0.0.1:{port}");
        // Without a network of its own, the submission shares the machine's ports.
        let output = common::testkit::run_within(
            BIN,
            &[
                "check",
                "--server",
                &server,
                "--target",
                &target,
                "--no-isolation",
            ],
            b"",
            WAIT * 3,
        );
        Some((holder, output, port))
    });
    assert_error_line(
        &output,
        &format!("port {port} is already in use: another program is bound to it"),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.ends_with("0 passed, 8 failed\n"), "{stdout}");
    let mut datagram = [0; 64];
    assert!(
        holder.recv_from(&mut datagram).is_err(),
        "the grader sent the other program a datagram"
    );
    // Isolated (where this machine allows it), the submission has a network of its
    // own: the port is its own there, it is graded, and the holder hears nothing.
    let server = format!("python3 {} {port}", script.display());
    let target = format!("127.0.0.1:{port}");
    let output = common::testkit::run_within(
        BIN,
        &["check", "--server", &server, "--target", &target],
        b"",
        WAIT * 3,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    // CI runs as root, where the namespaces can always be made: there this part must run.
    assert!(
        std::env::var_os("CI").is_none() || stdout.starts_with("isolation: network"),
        "{stdout}"
    );
    if stdout.starts_with("isolation: network") {
        assert!(stdout.ends_with("5 passed, 3 failed\n"), "{stdout}");
        assert!(
            holder.recv_from(&mut datagram).is_err(),
            "the grader sent the other program a datagram"
        );
    }
}

/// `lab-udp check-client --client CLIENT --timeout 5`: (passed?, stdout).
fn check_client(client: &str) -> (bool, String) {
    run_check_client(BIN, client, &["--timeout", "5"])
}

const PLAIN: &str = "the reply is printed, and it exits 0";
const LOSS: &str = "a lost datagram is sent again (the first one is dropped)";
const LATE: &str = "a late reply is not taken for the next message's reply";
const SILENT: &str = "a silent server ends in an error on stderr and a non-zero exit";

#[test]
fn check_client_passes_our_client_in_every_format() {
    // Each try waits 0.2 s (the loss and late checks need a try to time out), and ten
    // tries give a reply 2 s to come: only the silent server is waited out that long,
    // well within the checks' 5 s.
    let client = format!("{BIN} client --host {{host}} --port {{port}} --timeout 0.2 --retries 9");
    let (ok, stdout) = check_client(&client);
    assert!(ok, "{stdout}");
    assert!(stdout.ends_with("4 passed, 0 failed\n"), "{stdout}");
    assert_formats_agree(
        BIN,
        &["check-client", "--client", &client, "--timeout", "5"],
        WAIT * 3,
    );
}

/// The course's UDPClient.py: one `recvfrom`, no timeout.
const COURSE_CLIENT: &str = r#"
import sys
from socket import *
clientSocket = socket(AF_INET, SOCK_DGRAM)
message = input('Input lowercase sentence:')
clientSocket.sendto(message.encode(), (sys.argv[1], int(sys.argv[2])))
modifiedMessage, serverAddress = clientSocket.recvfrom(2048)
print(modifiedMessage.decode())
clientSocket.close()
"#;

#[test]
fn the_course_client_passes_the_plain_check_and_fails_the_loss_check() {
    if !tool_available("python3") {
        return;
    }
    let script = temp_file("UDPClient.py", COURSE_CLIENT);
    // It hangs in three checks: each costs the time limit, 3 s here.
    let course = format!("python3 {} {{host}} {{port}}", script.display());
    let (ok, stdout) = run_check_client(BIN, &course, &["--timeout", "3"]);
    assert!(!ok);
    assert!(passed(&stdout, PLAIN), "{stdout}");
    assert!(!passed(&stdout, LOSS), "{stdout}");
    assert!(
        stdout.contains("the client was still running after 3.0 s"),
        "{stdout}"
    );
}

/// A client that resends (0.3 s timeout, 10 tries, a fresh socket per message) but is
/// wrong in one way, chosen by its third argument. Ten tries: a loaded machine may be
/// slow to answer a try, and a reply must not be missed where a check expects one;
/// only the silent server waits them all out (3 s, within the check's 5).
const WRONG_CLIENT: &str = r#"
import sys
from socket import *
host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket(AF_INET, SOCK_DGRAM)
def ask(message):
    global s
    if mode != 'one-socket-no-matching':
        s = socket(AF_INET, SOCK_DGRAM)
    s.settimeout(0.3)
    for attempt in range(1 if mode == 'never-retries' else 10):
        s.sendto(message, (host, port))
        try:
            return s.recvfrom(65536)[0]    # any datagram is taken as the reply
        except timeout:
            pass
for line in sys.stdin:
    message = line.rstrip('\n').encode()
    reply = ask(message)
    if reply is None:
        sys.exit(0 if mode == 'exits-0-on-silence' else 'no reply')
    print((message if mode == 'uppercases-nothing' else reply).decode())
"#;

#[test]
fn check_client_fails_a_wrong_client_for_each_check() {
    if !tool_available("python3") {
        return;
    }
    let script = temp_file("wrong_client.py", WRONG_CLIENT);
    let wrong = |mode: &str| {
        check_client(&format!(
            "python3 {} {{host}} {{port}} {mode}",
            script.display()
        ))
    };
    for (mode, fails) in [
        ("uppercases-nothing", PLAIN),
        ("never-retries", LOSS),
        ("one-socket-no-matching", LATE),
        ("exits-0-on-silence", SILENT),
    ] {
        let (ok, stdout) = wrong(mode);
        assert!(!ok, "{mode}: {stdout}");
        assert!(
            !passed(&stdout, fails),
            "{mode} must fail {fails:?}: {stdout}"
        );
        if mode == "one-socket-no-matching" || mode == "exits-0-on-silence" {
            // Wrong in that one way only: every other check passes.
            assert!(stdout.ends_with("3 passed, 1 failed\n"), "{mode}: {stdout}");
        }
    }
}

#[test]
fn check_client_serves_a_client_with_its_port_in_its_code_on_that_port() {
    if !tool_available("python3") {
        return;
    }
    // check-client --port binds the port anew for each check: a fixed one (below the
    // ephemeral range, never handed to another test's socket); if some other program
    // holds it by number, another port.
    let (ok, stdout) = with_fixed_port(|port| {
        // The course's client as handed in: the server's address written in the code.
        let client = COURSE_CLIENT.replace(
            "(sys.argv[1], int(sys.argv[2]))",
            &format!("('127.0.0.1', {port})"),
        );
        let script = temp_file("UDPClient.py", &client);
        let command = format!("python3 {}", script.display());
        let port = port.to_string();
        let run = run_check_client(BIN, &command, &["--port", &port, "--timeout", "2"]);
        (!run.1.contains("cannot bind")).then_some(run)
    });
    assert!(!ok);
    assert!(passed(&stdout, PLAIN), "{stdout}");
    // Every check got its server on that same port, one after the other.
    assert!(!stdout.contains("cannot bind"), "{stdout}");
    assert_eq!(
        stdout.matches("still running after 2.0 s").count(),
        3,
        "{stdout}"
    );
}

#[test]
fn a_silent_server_fails_each_check_with_no_reply_within_the_timeout() {
    // Bound and held, never answering: each read times out (EAGAIN on Linux).
    let (_silent, address) = common::testkit::stand_in_udp_socket();
    let (ok, stdout) = common::testkit::run_check(BIN, address, &["--timeout", "0.3"]);
    assert!(!ok, "{stdout}");
    assert!(stdout.contains("no reply within 0.3 s"), "{stdout}");
    assert!(!stdout.contains("os error"), "{stdout}");
    assert!(stdout.ends_with("0 passed, 8 failed\n"), "{stdout}");
}

#[test]
fn a_server_gone_after_the_first_datagram_is_a_refusal_in_plain_words() {
    // Takes the first check's datagram without answering and closes its socket: that
    // check hears nothing, and every later datagram is refused (an ICMP port
    // unreachable), which is not a timeout.
    let (socket, address) = common::testkit::stand_in_udp_socket();
    let server = common::testkit::spawn_bounded(move || {
        let mut first = [0; 64];
        socket.recv_from(&mut first).unwrap();
    });
    let (ok, stdout) = common::testkit::run_check(BIN, address, &["--timeout", "2"]);
    server.join();
    assert!(!ok, "{stdout}");
    assert!(!stdout.contains("os error"), "{stdout}");
    let first = "FAIL a message is answered with its uppercase: no reply within 2.0 s";
    assert!(stdout.starts_with(first), "{stdout}");
    // Every later check on a connected socket hears the refusal; the one on an
    // unconnected socket (send_to) is told nothing of it (UNP 8.11) and times out.
    let refusal = format!("connection refused: is the server running on {address}?");
    let refused = stdout
        .lines()
        .filter(|line| line.ends_with(&refusal))
        .count();
    assert_eq!(refused, 6, "{stdout}");
    let timed_out = "FAIL the reply comes from the server's own address: no reply within 2.0 s";
    assert!(stdout.contains(timed_out), "{stdout}");
}

/// The README's grading loop ("A folder of submissions"), as written there, with
/// target/release/lab-udp replaced by the binary under test.
const README_LOOP: &str = r#"
echo "submission,passed,failed" > scores.csv
for dir in submissions/*/; do
  score=$(target/release/lab-udp check --server "cd '$dir' && python3 UDPServer.py {port}" | tail -n 1)
  echo "$(basename "$dir"),$(echo "$score" | awk '{print $1 "," $3}')" >> scores.csv
done
"#;

#[test]
fn the_readme_grading_loop_scores_every_submission_even_one_that_never_comes_up() {
    if !tool_available("python3") {
        return;
    }
    let class = temp_file("scores.csv", "").parent().unwrap().to_path_buf();
    let submission = |name: &str, server: Option<String>| {
        let dir = class.join("submissions").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        if let Some(server) = server {
            std::fs::write(dir.join("UDPServer.py"), server).unwrap();
        }
    };
    // Ours, started from the student's file; one that exits at once; one missing.
    submission(
        "alice",
        Some(format!(
            "import os, sys\nos.execv({BIN:?}, [{BIN:?}, 'server', '--port', sys.argv[1]])\n"
        )),
    );
    submission("bob", Some("import sys\nsys.exit(3)\n".to_owned()));
    submission("carol", None);
    let script = README_LOOP.replace("target/release/lab-udp", BIN);
    // In the class's directory, as the README has it run; bounded (three checks).
    let script = format!("cd '{}' && {script}", class.display());
    let output = common::testkit::run_within("sh", &["-c", &script], b"", WAIT * 6);
    assert!(output.status.success(), "{output:?}");
    let csv = std::fs::read_to_string(class.join("scores.csv")).unwrap();
    assert_eq!(
        csv,
        "submission,passed,failed\nalice,8,0\nbob,0,8\ncarol,0,8\n"
    );
}
