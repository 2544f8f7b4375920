//! A time client asking with one protocol a server that speaks another: the reply is
//! refused with the likely mix-up named and the option to try, never printed as a
//! time with exit status 0 (a daytime client used to print an RFC 868 server's four
//! binary bytes as "the time").
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use common::testkit::{ServerProcess, assert_error_line, run};

const BIN: &str = env!("CARGO_BIN_EXE_lab-time-server");

/// Our server of `protocol` over TCP and UDP (SNTP: UDP), on a free port.
fn server(protocol: &str) -> ServerProcess {
    let (transport, lines) = if protocol == "sntp" {
        ("udp", 1)
    } else {
        ("both", 2)
    };
    let args = [
        "server",
        "--port",
        "0",
        "--protocol",
        protocol,
        "--transport",
        transport,
    ];
    ServerProcess::start(BIN, &args, lines)
}

#[test]
fn each_mix_up_of_protocols_is_named_with_what_to_try() {
    let daytime = server("daytime");
    let time = server("time");
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
        let args = [
            "client",
            "--port",
            &port,
            "--protocol",
            protocol,
            "--transport",
            transport,
        ];
        let output = run(BIN, &args, b"");
        assert!(
            output.stdout.is_empty(),
            "{protocol}/{transport}: {output:?}"
        );
        assert_error_line(&output, says);
    }
    // The daytime line shown is the server's, as it came.
    let port = daytime.address().port().to_string();
    let output = run(BIN, &["client", "--port", &port, "--protocol", "time"], b"");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let shown = stderr.split('"').nth(1).unwrap();
    chrono::NaiveDateTime::parse_from_str(shown, "%a %b %e %H:%M:%S %Y").unwrap();
}
