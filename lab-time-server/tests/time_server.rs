//! lab-time-server end to end: our binary against the standard `rdate` and `nc`
//! clients, and our client against our server, on `--port 0`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{NaiveDateTime, Utc};
use common::testkit::{
    Refusing, ServerProcess, Signal, WAIT, assert_error_line, assert_usage_error, at_ip,
    multi_homed, run, run_check, run_client, spawn_bounded, spawn_tcp_server, stand_in_udp_socket,
    tool_available,
};

const BIN: &str = env!("CARGO_BIN_EXE_lab-time-server");

fn server(protocol: &str, transport: &str) -> ServerProcess {
    let lines = if transport == "both" && protocol != "sntp" {
        2
    } else {
        1
    };
    ServerProcess::start(
        BIN,
        &[
            "server",
            "--port",
            "0",
            "--protocol",
            protocol,
            "--transport",
            transport,
            "--quiet",
        ],
        lines,
    )
}

/// Runs `rdate -p -o PORT [flag] 127.0.0.1` in UTC and returns the time it printed.
fn rdate(port: u16, flag: Option<&str>) -> NaiveDateTime {
    let port = port.to_string();
    let mut args = vec!["-p", "-o", &port];
    args.extend(flag);
    args.push("127.0.0.1");
    // In UTC (`env TZ=UTC`), bounded by testkit's wait.
    let command: Vec<&str> = ["TZ=UTC", "rdate"]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    let output = run("env", &command, b"");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "rdate {args:?}: {stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // "rdate: [127.0.0.1]\tSat Nov 21 09:05:07 UTC 2026" (the prefix varies by version).
    let printed = stdout
        .trim()
        .rsplit('\t')
        .next()
        .unwrap()
        .replace(" UTC", "");
    let printed = printed.trim_start_matches("rdate: ").trim();
    NaiveDateTime::parse_from_str(printed, "%a %b %e %H:%M:%S %Y")
        .unwrap_or_else(|error| panic!("cannot read rdate's {stdout:?}: {error}"))
}

fn assert_within_2_s(time: NaiveDateTime) {
    let off = (time - Utc::now().naive_utc()).num_milliseconds().abs();
    assert!(off <= 2000, "{time} is {off} ms from the local clock");
}

#[test]
fn rdate_reads_our_time_server_over_tcp_and_udp() {
    if !tool_available("rdate") {
        return;
    }
    let server = server("time", "both");
    let port = server.address().port();
    assert_within_2_s(rdate(port, None));
    assert_within_2_s(rdate(port, Some("-u")));
}

#[test]
fn rdate_reads_our_sntp_server() {
    if !tool_available("rdate") {
        return;
    }
    let server = server("sntp", "udp");
    assert_within_2_s(rdate(server.address().port(), Some("-n")));
}

/// A daytime line in Python's `time.ctime()` form with CRLF, e.g. `Sat Nov 21 09:05:07 2026\r\n`.
fn assert_ctime_line(reply: &[u8]) {
    let text = String::from_utf8(reply.to_vec()).unwrap();
    let line = text
        .strip_suffix("\r\n")
        .unwrap_or_else(|| panic!("no CRLF: {text:?}"));
    assert_eq!(line.len(), 24, "{line:?}");
    NaiveDateTime::parse_from_str(line, "%a %b %e %H:%M:%S %Y").unwrap();
}

#[test]
fn nc_reads_daytime_over_tcp_and_udp() {
    if !tool_available("nc") {
        return;
    }
    let server = server("daytime", "both");
    let port = server.address().port().to_string();
    let tcp = run("nc", &["-N", "127.0.0.1", &port], b"");
    assert_ctime_line(&tcp.stdout);
    let udp = run("nc", &["-u", "-w", "1", "127.0.0.1", &port], b"\n");
    assert_ctime_line(&udp.stdout);
}

#[test]
fn daytime_formats() {
    let server = ServerProcess::start(
        BIN,
        &[
            "server",
            "--port",
            "0",
            "--transport",
            "tcp",
            "--format",
            "rfc3339",
        ],
        1,
    );
    let mut reply = String::new();
    TcpStream::connect(server.address())
        .unwrap()
        .read_to_string(&mut reply)
        .unwrap();
    let line = reply.strip_suffix("\r\n").unwrap();
    let time = chrono::DateTime::parse_from_rfc3339(line).unwrap();
    assert!((time.with_timezone(&Utc) - Utc::now()).num_seconds().abs() <= 2);
}

/// Runs our client of `protocol` over `transport` against the server on `port`.
fn client(port: &str, protocol: &str, transport: &str) -> std::process::Output {
    let args = [
        "client",
        "--port",
        port,
        "--protocol",
        protocol,
        "--transport",
        transport,
    ];
    run(BIN, &args, b"")
}

#[test]
fn our_client_against_our_server_for_every_pair() {
    let pairs = [
        ("daytime", "tcp"),
        ("daytime", "udp"),
        ("time", "tcp"),
        ("time", "udp"),
        ("sntp", "udp"),
    ];
    let daytime = server("daytime", "both");
    let time = server("time", "both");
    let sntp = server("sntp", "udp");
    for (protocol, transport) in pairs {
        let port = match protocol {
            "daytime" => daytime.address().port(),
            "time" => time.address().port(),
            _ => sntp.address().port(),
        }
        .to_string();
        let output = client(&port, protocol, transport);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{protocol}/{transport}: {output:?}"
        );
        let mut lines = stdout.lines();
        let first = lines.next().unwrap();
        let shown = first
            .strip_prefix("The time got from the server is ")
            .unwrap();
        let shown = NaiveDateTime::parse_from_str(shown, "%a %b %e %H:%M:%S %Y").unwrap();
        let local_now = chrono::Local::now().naive_local();
        assert!(
            (shown - local_now).num_seconds().abs() <= 2,
            "{protocol}/{transport}: {first}"
        );
        if protocol != "daytime" {
            let second = lines.next().unwrap();
            assert!(
                second.starts_with("delay: ") && second.contains(" ms, offset: "),
                "{second}"
            );
        }
    }
}

#[test]
fn a_client_that_never_reads_and_200_at_once_do_not_stall_the_server() {
    let server = server("daytime", "tcp");
    let _never_reads = TcpStream::connect(server.address()).unwrap();
    let connections: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(server.address()).unwrap())
        .collect();
    for mut connection in connections {
        connection.set_read_timeout(Some(WAIT)).unwrap();
        let mut reply = Vec::new();
        connection.read_to_end(&mut reply).unwrap();
        assert_ctime_line(&reply);
    }
}

#[test]
fn sigint_exits_zero_within_a_second() {
    for (protocol, transport) in [("daytime", "both"), ("sntp", "udp")] {
        let server = server(protocol, transport);
        server.assert_stops_cleanly(Signal::SIGINT);
    }
}

#[test]
fn sntp_over_tcp_is_a_usage_error() {
    let args = ["server", "--protocol", "sntp", "--transport", "tcp"];
    assert_usage_error(BIN, &args, "error: SNTP runs over UDP only");
}

#[test]
fn check_passes_against_our_servers() {
    let cases = [
        ("daytime", "tcp"),
        ("daytime", "udp"),
        ("time", "tcp"),
        ("time", "udp"),
        ("sntp", "udp"),
    ];
    for (protocol, transport) in cases {
        let server = server(protocol, if protocol == "sntp" { "udp" } else { "both" });
        let target = server.address().to_string();
        let output = run(
            BIN,
            &[
                "check",
                "--target",
                &target,
                "--protocol",
                protocol,
                "--transport",
                transport,
            ],
            b"",
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{protocol}/{transport}: {stdout}");
        assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    }
}

#[test]
fn check_and_client_reject_wrong_servers() {
    // Stand-in servers that send a fixed reply to each connection and close.
    let no_crlf = spawn_tcp_server(|mut conn| {
        let _ = conn.write_all(b"Sat Nov 21 09:05:07 2026\n");
    });
    let (passed, stdout) = run_check(BIN, no_crlf, &[]);
    assert!(
        !passed && stdout.contains("FAIL the reply is one printable"),
        "{stdout}"
    );

    let eight_bytes = spawn_tcp_server(|mut conn| {
        let _ = conn.write_all(b"12345678");
    });
    let (passed, stdout) = run_check(BIN, eight_bytes, &["--protocol", "time"]);
    assert!(
        !passed && stdout.contains("FAIL the reply is exactly 4 bytes"),
        "{stdout}"
    );
    // In words, not "could not convert slice to array".
    assert!(
        stdout.contains("FAIL the time is within 5 s of our clock: the reply is 8 bytes, not 4"),
        "{stdout}"
    );
    let port = eight_bytes.port().to_string();
    let output = run(BIN, &["client", "--port", &port, "--protocol", "time"], b"");
    assert_error_line(
        &output,
        "the server sent 8 bytes; an RFC 868 time is exactly 4",
    );
}

/// A client asked for the wrong protocol says which one the reply looks like,
/// instead of printing four bytes of RFC 868 as a daytime (`The time got from the
/// server is g`, exit 0) or counting a daytime line's bytes.
#[test]
fn client_names_the_protocol_a_wrong_reply_looks_like() {
    let time_server =
        ServerProcess::start_server(BIN, &["--protocol", "time", "--transport", "tcp"]);
    assert_error_line(
        &run_client(BIN, time_server.address(), &[], b""),
        "this looks like an RFC 868 time reply (4 binary bytes), not daytime: try --protocol time",
    );
    let daytime_server = ServerProcess::start_server(BIN, &["--transport", "tcp"]);
    assert_error_line(
        &run_client(BIN, daytime_server.address(), &["--protocol", "time"], b""),
        "not time: try --protocol daytime",
    );
    let binary = spawn_tcp_server(|mut conn| {
        let _ = conn.write_all(b"\x00\x01\x02\x03\x04\r\n");
    });
    assert_error_line(
        &run_client(BIN, binary, &[], b""),
        "the server sent 7 bytes that are not text",
    );
}

/// A server that sends part of a line and never closes: the client says what it got
/// and what a time server does, never the system's "Resource temporarily unavailable".
#[test]
fn client_reports_a_server_that_never_closes() {
    let holding = spawn_tcp_server(|mut conn| {
        let _ = conn.write_all(b"Sat Nov 21");
        std::thread::sleep(WAIT);
    });
    let output = run_client(BIN, holding, &["--timeout", "0.5"], b"");
    assert_error_line(
        &output,
        "did not send the time and close the connection within 0.5 s (10 bytes came)",
    );
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("os error"),
        "{output:?}"
    );
}

#[test]
fn client_reports_a_server_that_is_not_running() {
    let closed = Refusing::new();
    let port = closed.address().port().to_string();
    assert_error_line(
        &run(BIN, &["client", "--port", &port], b""),
        "connection refused",
    );
    assert_error_line(
        &run(
            BIN,
            &[
                "client",
                "--port",
                &port,
                "--protocol",
                "sntp",
                "--timeout",
                "0.2",
            ],
            b"",
        ),
        "connection refused",
    );
}

#[test]
fn demo_queries_every_protocol() {
    let output = run(BIN, &["demo"], b"");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert_eq!(
        stdout.matches("The time got from the server is").count(),
        5,
        "{stdout}"
    );
    // Each server's summary closes its part (all three came at the end).
    let lines: Vec<&str> = stdout.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        if line.starts_with("-- ") && index > 0 {
            assert!(lines[index - 1].starts_with("shutting down: "), "{stdout}");
        }
    }
    assert_eq!(stdout.matches("shutting down: ").count(), 3, "{stdout}");
}

#[test]
fn udp_servers_on_every_address_answer_from_the_address_the_client_wrote_to() {
    for protocol in ["daytime", "time", "sntp"] {
        for (host, client_ip) in multi_homed() {
            let server = ServerProcess::start(
                BIN,
                &[
                    "server",
                    "--port",
                    "0",
                    "--protocol",
                    protocol,
                    "--transport",
                    "udp",
                    "--host",
                    host,
                ],
                1,
            );
            let address = at_ip(server.address(), client_ip);
            // Our client's UDP socket is connected: a reply from another address is dropped.
            let output = run_client(
                BIN,
                address,
                &["--protocol", protocol, "--transport", "udp"],
                b"",
            );
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success() && stdout.starts_with("The time got from the server is "),
                "{protocol} {host} <- {client_ip}: {output:?}"
            );
        }
    }
}

#[test]
fn chrony_accepts_our_sntp_server_on_a_second_address() {
    if !tool_available("chronyd") {
        return;
    }
    if common::platform::second_loopback_address().is_none() {
        eprintln!("SKIPPED: 127.0.0.2 is not on this machine's loopback");
        return;
    }
    let server = ServerProcess::start(
        BIN,
        &[
            "server",
            "--port",
            "0",
            "--protocol",
            "sntp",
            "--host",
            "0.0.0.0",
        ],
        1,
    );
    let port = server.address().port();
    // -Q: query the server and print the offset, without touching the clock.
    let directive = format!("server 127.0.0.2 port {port} iburst maxsamples 1");
    // -t 5: chronyd gives up before the test's own wait, so a dropped reply fails on
    // the assertions below rather than on a timeout.
    let output = run(
        "chronyd",
        &["-Q", "-t", "5", "-f", "/dev/null", &directive],
        b"",
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "chronyd: {stderr}");
    assert!(
        stderr.contains("System clock wrong by"),
        "chronyd: {stderr}"
    );
}

#[test]
fn a_symmetric_active_request_is_answered_in_symmetric_passive_mode() {
    // What an NTP daemon configured with `peer` sends: version 4, mode 1. RFC 4330
    // section 5: answered as a client's, in mode 2.
    let server = server("sntp", "udp");
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    socket.connect(server.address()).unwrap();
    let mut request = [0; 48];
    request[0] = (4 << 3) | 1;
    request[40..48].copy_from_slice(&ntp_stamp(SystemTime::now()));
    socket.send(&request).unwrap();
    let mut reply = [0; 100];
    let length = socket.recv(&mut reply).unwrap();
    assert_eq!(length, 48);
    assert_eq!(
        reply[0],
        (4 << 3) | 2,
        "LI 0, version 4, mode 2 (symmetric passive)"
    );
    assert_eq!(
        reply[24..32],
        request[40..48],
        "originate = the request's transmit"
    );
    assert_ne!(reply[40..48], [0; 8], "a transmit timestamp");
}

/// The client's retry timeout in the lost-request tests: the first try must time out.
const RETRY_TIMEOUT: &str = "1";

/// `time`'s NTP timestamp: seconds since 1900 (32 bits), then a 32-bit fraction.
fn ntp_stamp(time: SystemTime) -> [u8; 8] {
    let since_unix = time.duration_since(UNIX_EPOCH).unwrap();
    let seconds = (since_unix.as_secs() + 2_208_988_800) as u32;
    let fraction = ((u64::from(since_unix.subsec_nanos()) << 32) / 1_000_000_000) as u32;
    let mut stamp = [0; 8];
    stamp[..4].copy_from_slice(&seconds.to_be_bytes());
    stamp[4..].copy_from_slice(&fraction.to_be_bytes());
    stamp
}

/// A stand-in server's mode-4 reply to `request`: originate = the request's transmit
/// timestamp, then the given receive (T2) and transmit (T3) times.
fn sntp_reply(request: &[u8], receive: SystemTime, transmit: SystemTime) -> Vec<u8> {
    let mut reply = vec![0; 48];
    reply[0] = (4 << 3) | 4; // version 4, mode 4 (server)
    reply[1] = 10; // stratum
    reply[24..32].copy_from_slice(&request[40..48]);
    reply[32..40].copy_from_slice(&ntp_stamp(receive));
    reply[40..48].copy_from_slice(&ntp_stamp(transmit));
    reply
}

/// One request from the stand-in's socket, and when it came.
fn next_request(stand_in: &UdpSocket) -> (Vec<u8>, SocketAddr, SystemTime) {
    let mut request = vec![0; 100];
    let (length, client) = stand_in.recv_from(&mut request).unwrap();
    let received = SystemTime::now();
    request.truncate(length);
    (request, client, received)
}

/// Runs our SNTP client against `server` with a [`RETRY_TIMEOUT`]; the delay and
/// offset it printed, in ms.
fn sntp_delay_offset_of_our_client(server: SocketAddr) -> (f64, f64) {
    delay_offset_of_our_client(server, &["--protocol", "sntp"])
}

/// Runs our client (`protocol` options) against `server` with a [`RETRY_TIMEOUT`];
/// the delay and offset it printed, in ms.
fn delay_offset_of_our_client(server: SocketAddr, protocol: &[&str]) -> (f64, f64) {
    let mut args = protocol.to_vec();
    args.extend_from_slice(&["--timeout", RETRY_TIMEOUT]);
    let output = run_client(BIN, server, &args, b"");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    // "delay: 0.123 ms, offset: 0.012 ms"
    let numbers: Vec<f64> = stdout
        .lines()
        .find_map(|line| line.strip_prefix("delay: "))
        .unwrap_or_else(|| panic!("no delay in {stdout:?}"))
        .split(" ms")
        .filter_map(|part| part.trim_start_matches(", offset: ").parse().ok())
        .collect();
    assert_eq!(numbers.len(), 2, "{stdout}");
    (numbers[0], numbers[1])
}

/// Over loopback on one clock the delay is a fraction of a millisecond, and the offset
/// at most half of it; a measurement that spans the retry timeout (1000 ms) is wrong.
fn assert_measured_one_round_trip(delay: f64, offset: f64) {
    assert!(
        delay < 500.0 && offset.abs() < 100.0,
        "delay {delay} ms, offset {offset} ms: not the round trip of the request answered"
    );
}

#[test]
fn sntp_client_after_a_lost_request_measures_the_resend() {
    let (stand_in, address) = stand_in_udp_socket();
    let serving = spawn_bounded(move || {
        let (first, _, _) = next_request(&stand_in); // lost
        let (second, client, received) = next_request(&stand_in);
        let reply = sntp_reply(&second, received, SystemTime::now());
        stand_in.send_to(&reply, client).unwrap();
        (first, second)
    });
    let (delay, offset) = sntp_delay_offset_of_our_client(address);
    let (first, second) = serving.join();
    assert_ne!(
        first[40..48],
        second[40..48],
        "each try carries its own transmit timestamp (T1)"
    );
    // Before the fix, T1 was the first try's: delay ~1000 ms, offset ~500 ms.
    assert_measured_one_round_trip(delay, offset);
}

#[test]
fn time_client_over_udp_after_a_lost_request_measures_the_resend() {
    // RFC 868 has no request ID: the round trip is taken from the latest try, the
    // one most likely answered, not from the first (whose timeout it would include).
    let (stand_in, address) = stand_in_udp_socket();
    let serving = spawn_bounded(move || {
        next_request(&stand_in); // lost
        let (_, client, _) = next_request(&stand_in);
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let rfc868 = u32::try_from((unix + 2_208_988_800) % (1 << 32)).unwrap();
        stand_in.send_to(&rfc868.to_be_bytes(), client).unwrap();
    });
    let protocol = ["--protocol", "time", "--transport", "udp"];
    let (delay, _) = delay_offset_of_our_client(address, &protocol);
    serving.join();
    // Before the fix: the first try's timeout and more, over 1000 ms.
    assert!(
        delay < 500.0,
        "delay {delay} ms spans the lost try's timeout"
    );
}

#[test]
fn sntp_client_drops_a_late_reply_to_an_earlier_try() {
    let (stand_in, address) = stand_in_udp_socket();
    let serving = spawn_bounded(move || {
        let (first, client, first_received) = next_request(&stand_in);
        let (second, _, second_received) = next_request(&stand_in);
        // The reply to the first try, answered at once but held up on the way: it
        // arrives after the resend, just before the reply to the resend.
        let late = sntp_reply(&first, first_received, first_received);
        stand_in.send_to(&late, client).unwrap();
        let reply = sntp_reply(&second, second_received, SystemTime::now());
        stand_in.send_to(&reply, client).unwrap();
    });
    let (delay, offset) = sntp_delay_offset_of_our_client(address);
    serving.join();
    // Taken for the answer, the late reply gives a delay of ~1000 ms (against the
    // first T1) or an offset of ~-1000 ms (against the resend's).
    assert_measured_one_round_trip(delay, offset);
}

/// A daytime or time client asking an SNTP server gets no reply at all (the server
/// listens on UDP only, and drops datagrams that are not SNTP requests): instead of
/// "connection refused ... is the server running?" or "no reply after 4 tries", it
/// says that an SNTP server answers there.
#[test]
fn a_client_that_gets_nothing_from_an_sntp_server_says_one_is_there() {
    let sntp = server("sntp", "udp");
    let port = sntp.address().port().to_string();
    let cases = [
        ("daytime", "tcp"),
        ("time", "tcp"),
        ("daytime", "udp"),
        ("time", "udp"),
    ];
    for (protocol, transport) in cases {
        let args = [
            "client",
            "--port",
            &port,
            "--protocol",
            protocol,
            "--transport",
            transport,
            // Over UDP: one try, soon given up (the reply that never comes).
            "--timeout",
            "0.3",
            "--retries",
            "0",
        ];
        let output = run(BIN, &args, b"");
        assert!(
            output.stdout.is_empty(),
            "{protocol}/{transport}: {output:?}"
        );
        assert_error_line(
            &output,
            &format!(
                "no {protocol} reply over {transport} from 127.0.0.1:{port}, but an SNTP \
                 server answers there (over UDP): try --protocol sntp"
            ),
        );
    }
}

/// check's daytime or time checks against an SNTP server: not "connection refused:
/// is the server running?" about a server that is running, but what answers there.
#[test]
fn check_of_daytime_or_time_against_an_sntp_server_says_one_is_there() {
    let sntp = server("sntp", "udp");
    let target = sntp.address();
    for (protocol, transport) in [("daytime", "tcp"), ("time", "udp")] {
        let extra = [
            "--protocol",
            protocol,
            "--transport",
            transport,
            "--timeout",
            "0.3",
        ];
        let (passed, stdout) = run_check(BIN, target, &extra);
        assert!(!passed, "{stdout}");
        let says = format!(
            "no {protocol} reply over {transport}, but an SNTP server answers on {target} \
             (over UDP): check it with --protocol sntp\n"
        );
        let fails: Vec<_> = stdout
            .lines()
            .filter(|line| line.starts_with("FAIL"))
            .collect();
        assert!(!fails.is_empty(), "{stdout}");
        for fail in fails {
            assert!(format!("{fail}\n").ends_with(&says), "{fail}");
        }
    }
    // Where nothing answers, the refusal stands as it was.
    let nothing = Refusing::new();
    let (_, stdout) = run_check(BIN, nothing.address(), &[]);
    assert!(
        stdout.contains("connection refused: is the server running"),
        "{stdout}"
    );
    assert!(!stdout.contains("SNTP"), "{stdout}");
}

/// A client asking with one protocol a server that speaks another: the reply is
/// refused with the likely mix-up named and the option to try, never printed as a
/// time with exit status 0 (a daytime client printed an RFC 868 server's four binary
/// bytes as "the time"). check says the same in each check, not "reply length:
/// expected 48, got 26" or "reply too short".
#[test]
fn each_mix_up_of_protocols_is_named_with_what_to_try() {
    let daytime = server("daytime", "both");
    let time = server("time", "both");
    // (client protocol, transport, server, what the error says)
    let cases = [
        (
            "daytime",
            "tcp",
            &time,
            "this looks like an RFC 868 time reply (4 binary bytes), not daytime: try --protocol time",
        ),
        (
            "daytime",
            "udp",
            &time,
            "this looks like an RFC 868 time reply (4 binary bytes), not daytime: try --protocol time --transport udp",
        ),
        (
            "time",
            "tcp",
            &daytime,
            "this looks like a daytime reply (\"",
        ),
        (
            "time",
            "udp",
            &daytime,
            "), not time: try --protocol daytime --transport udp",
        ),
        (
            "sntp",
            "udp",
            &daytime,
            "), not sntp: try --protocol daytime --transport udp",
        ),
        (
            "sntp",
            "udp",
            &time,
            "this looks like an RFC 868 time reply (4 binary bytes), not sntp: try --protocol time --transport udp",
        ),
    ];
    for (protocol, transport, server, says) in cases {
        let port = server.address().port().to_string();
        let output = client(&port, protocol, transport);
        assert!(
            output.stdout.is_empty(),
            "{protocol}/{transport}: {output:?}"
        );
        assert_error_line(&output, says);
        assert_check_names_the_mix_up(protocol, transport, server.address(), says);
    }
    // The daytime line shown is the server's, as it came.
    let port = daytime.address().port().to_string();
    let output = run(BIN, &["client", "--port", &port, "--protocol", "time"], b"");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let shown = stderr.split('"').nth(1).unwrap();
    chrono::NaiveDateTime::parse_from_str(shown, "%a %b %e %H:%M:%S %Y").unwrap();
}

/// `check --protocol P --transport T` of `target` fails every check with the mix-up
/// (`says`), but SNTP's malformed-request check, which is about a reply it should not
/// get.
fn assert_check_names_the_mix_up(protocol: &str, transport: &str, target: SocketAddr, says: &str) {
    let extra = [
        "--protocol",
        protocol,
        "--transport",
        transport,
        "--timeout",
        "0.5",
    ];
    let (passed, stdout) = run_check(BIN, target, &extra);
    assert!(!passed, "{stdout}");
    let fails: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("FAIL"))
        .collect();
    let named = fails.iter().filter(|fail| fail.contains(says)).count();
    let expected = fails.len() - usize::from(protocol == "sntp");
    assert!(
        named == expected && named > 0,
        "{protocol}/{transport}: {stdout}"
    );
}
