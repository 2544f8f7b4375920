//! lab-time-server end to end: our binary against the standard `rdate` and `nc`
//! clients, and our client against our server, on `--port 0`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use chrono::{NaiveDateTime, Utc};
use common::testkit::{
    MULTI_HOMED, Refusing, ServerProcess, Signal, WAIT, assert_error_line, at_ip, run, run_check,
    run_client, spawn_tcp_server, tool_available,
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
    let output = Command::new("rdate")
        .args(&args)
        .env("TZ", "UTC")
        .output()
        .unwrap();
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
        let output = run(
            BIN,
            &[
                "client",
                "--port",
                &port,
                "--protocol",
                protocol,
                "--transport",
                transport,
            ],
            b"",
        );
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
    let output = run(
        BIN,
        &["server", "--protocol", "sntp", "--transport", "tcp"],
        b"",
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("error: SNTP runs over UDP only"));
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
    let port = eight_bytes.port().to_string();
    let output = run(BIN, &["client", "--port", &port, "--protocol", "time"], b"");
    assert_error_line(
        &output,
        "the server sent 8 bytes; an RFC 868 time is exactly 4",
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
}

#[test]
fn udp_servers_on_every_address_answer_from_the_address_the_client_wrote_to() {
    for protocol in ["daytime", "time", "sntp"] {
        for (host, client_ip) in MULTI_HOMED {
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
