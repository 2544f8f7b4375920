//! `lab-tcp grade` end to end, in two languages: a class of C servers (compiled by
//! the grading command itself, as an instructor would) and a class of Python
//! clients; each submission's scores compared with what `check` / `check-client`
//! says of it alone.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::fs;

use common::check::grade::testkit::{
    assert_grade_scores_as_check_alone, class, grade_class, tool_or_skip,
};

const BIN: &str = env!("CARGO_BIN_EXE_lab-tcp");

/// An iterative TCP server in C (Stevens' `tcpserv` shape, one client at a time):
/// uppercases what it reads, unless built with -DECHO, until the client closes.
const C_SERVER: &str = r#"
#include <ctype.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int on = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in address = {0};
    address.sin_family = AF_INET;
    address.sin_port = htons(atoi(argv[1]));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&address, sizeof address) < 0) return 1;
    if (listen(listener, 16) < 0) return 1;
    signal(SIGPIPE, SIG_IGN);
    for (;;) {
        int connection = accept(listener, NULL, NULL);
        if (connection < 0) continue;
        char buffer[4096];
        ssize_t got;
        while ((got = read(connection, buffer, sizeof buffer)) > 0) {
#ifndef ECHO
            for (ssize_t i = 0; i < got; i++) buffer[i] = toupper((unsigned char)buffer[i]);
#endif
            if (write(connection, buffer, got) < 0) break;
        }
        close(connection);
    }
}
"#;

/// Kurose & Ross 2.7's TCPClient.py, the server's address from the command line.
const TCP_CLIENT: &str = r#"
import sys
from socket import *
clientSocket = socket(AF_INET, SOCK_STREAM)
clientSocket.connect((sys.argv[1], int(sys.argv[2])))
sentence = input('Input lowercase sentence:')
clientSocket.send(sentence.encode())
modifiedSentence = clientSocket.recv(1024)
print('From Server: ', modifiedSentence.decode())
clientSocket.close()
"#;

#[test]
fn a_class_of_c_servers_gets_the_scores_check_gives_each_alone() {
    if !tool_or_skip("cc") {
        return;
    }
    let root = class(&[
        ("upper", "server.c", C_SERVER),
        ("echo", "server.c", &format!("#define ECHO\n{C_SERVER}")),
    ]);
    let check = [
        "check",
        "--server",
        "cc -o server server.c && exec ./server {port}",
        "--timeout",
        "1",
        "--startup-timeout",
        "60",
    ];
    let scores = assert_grade_scores_as_check_alone(BIN, &root, &["upper", "echo"], &check, &[]);
    let score = |row: usize| scores.lines().nth(row).unwrap().split(',').nth(3).unwrap();
    assert!(
        score(1).parse::<u32>().unwrap() > score(2).parse::<u32>().unwrap(),
        "{scores}"
    );
}

#[test]
fn a_class_of_python_clients_is_graded_by_check_client() {
    if !tool_or_skip("python3") {
        return;
    }
    let silent = TCP_CLIENT.replace("print(", "len(");
    let root = class(&[
        ("textbook", "TCPClient.py", TCP_CLIENT),
        ("silent", "TCPClient.py", &silent),
    ]);
    let check = [
        "check-client",
        "--client",
        "python3 TCPClient.py {host} {port}",
        "--timeout",
        "5",
    ];
    let students = ["textbook", "silent"];
    let scores =
        assert_grade_scores_as_check_alone(BIN, &root, &students, &check, &["--format", "json"]);
    // The reports in --format json, one per student.
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(root.join("out/silent.json")).unwrap()).unwrap();
    assert_eq!(report["checks"][0]["result"], "fail", "{report:#}");
    assert!(scores.contains("\ntextbook,"), "{scores}");
    // In JUnit, each suite is named after the grader that ran (it was "check").
    let output = grade_class(BIN, &root, &students, &check, &["--format", "junit"]);
    assert!(output.status.success(), "{output:?}");
    let junit = fs::read_to_string(root.join("out/silent.xml")).unwrap();
    assert!(
        junit.contains(r#"<testsuite name="lab-tcp check-client""#),
        "{junit}"
    );
}
