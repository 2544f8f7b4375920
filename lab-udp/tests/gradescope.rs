//! The Gradescope autograder in `grading/gradescope/`, run as Gradescope runs it: a
//! folder laid out as its `/autograder` (the zip's files in `source/`, the lab's
//! binary in `source/bin/`, `run_autograder` copied to the root, the student's files
//! in `submission/`), with the shipped `autograder.conf` as it is.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::testkit::tool_available;

const BIN: &str = env!("CARGO_BIN_EXE_lab-udp");

/// Kurose & Ross 2.7's UDPServer.py, its port taken from the command line: it dies
/// on the first datagram that is not UTF-8.
const UDP_SERVER: &str = "import sys
from socket import *
serverPort = int(sys.argv[1])
serverSocket = socket(AF_INET, SOCK_DGRAM)
serverSocket.bind(('127.0.0.1', serverPort))
print('The server is ready to receive')
while True:
    message, clientAddress = serverSocket.recvfrom(2048)
    modifiedMessage = message.decode().upper()
    serverSocket.sendto(modifiedMessage.encode(), clientAddress)
";

fn gradescope_files() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../grading/gradescope")
}

/// A folder laid out as Gradescope's `/autograder` for `submission`'s files.
fn autograder(submission: &[(&str, &str)]) -> PathBuf {
    let root = common::testkit::temp_file("unused", "")
        .parent()
        .unwrap()
        .join("autograder");
    fs::create_dir_all(root.join("source/bin")).unwrap();
    fs::create_dir_all(root.join("submission")).unwrap();
    for file in ["setup.sh", "run_autograder", "autograder.conf"] {
        fs::copy(
            gradescope_files().join(file),
            root.join("source").join(file),
        )
        .unwrap();
    }
    fs::copy(
        gradescope_files().join("run_autograder"),
        root.join("run_autograder"),
    )
    .unwrap();
    fs::copy(BIN, root.join("source/bin/lab-udp")).unwrap();
    for (name, contents) in submission {
        fs::write(root.join("submission").join(name), contents).unwrap();
    }
    root
}

#[test]
fn run_autograder_writes_results_json_with_each_check_scored() {
    if !tool_available("python3") {
        assert!(std::env::var_os("CI").is_none(), "CI must have python3");
        return;
    }
    let root = autograder(&[("UDPServer.py", UDP_SERVER)]);
    let output = Command::new(root.join("run_autograder"))
        .env("AUTOGRADER_ROOT", &root)
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let results = fs::read_to_string(root.join("results/results.json")).unwrap();
    let results: serde_json::Value = serde_json::from_str(&results).unwrap();
    let tests = results["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 8, "{results:#}");
    let score = |name: &str| {
        tests
            .iter()
            .find(|test| test["name"] == name)
            .unwrap_or_else(|| panic!("no test {name:?} in {results:#}"))["score"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(score("a message is answered with its uppercase"), 1.0);
    assert_eq!(score("bytes that are not UTF-8 pass through"), 0.0);
    let sum: f64 = tests
        .iter()
        .map(|test| test["score"].as_f64().unwrap())
        .sum();
    assert_eq!(results["score"].as_f64(), Some(sum));
    assert!(tests.iter().all(|test| test["max_score"] == 1.0));
    let crash = tests
        .iter()
        .find(|test| test["name"] == "bytes that are not UTF-8 pass through")
        .unwrap();
    assert!(
        crash["output"].as_str().unwrap().contains("status 1"),
        "{crash}"
    );
}

#[test]
fn a_mistake_in_autograder_conf_fails_run_autograder() {
    let root = autograder(&[("UDPServer.py", UDP_SERVER)]);
    // The instructor's edit lost {port}: a usage error, not a score of 0.
    let conf = fs::read_to_string(root.join("source/autograder.conf")).unwrap();
    let conf = conf.replace("UDPServer.py {port}'", "UDPServer.py'");
    fs::write(root.join("source/autograder.conf"), conf).unwrap();
    let output = Command::new(root.join("run_autograder"))
        .env("AUTOGRADER_ROOT", &root)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("{port}"));
}

#[test]
fn the_gradescope_scripts_are_valid_bash() {
    for script in ["setup.sh", "run_autograder", "make_autograder.sh"] {
        let status = Command::new("bash")
            .arg("-n")
            .arg(gradescope_files().join(script))
            .status()
            .unwrap();
        assert!(status.success(), "{script}");
    }
}

#[test]
fn make_autograder_zips_the_scripts_at_the_root_and_the_repository_beside_them() {
    if !tool_available("python3") || !tool_available("git") {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have python3 and git"
        );
        return;
    }
    let zip = common::testkit::temp_file("unused", "")
        .parent()
        .unwrap()
        .join("autograder.zip");
    let output = Command::new(gradescope_files().join("make_autograder.sh"))
        .arg(&zip)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    // Each entry's name and Unix mode, as Gradescope will unpack them.
    let listing = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile\n\
             for i in zipfile.ZipFile(sys.argv[1]).infolist():\n\
             \x20   print(i.filename, oct(i.external_attr >> 16 & 0o777))",
        ])
        .arg(&zip)
        .output()
        .unwrap();
    let listing = String::from_utf8(listing.stdout).unwrap();
    for entry in [
        "setup.sh 0o755",
        "run_autograder 0o755",
        "autograder.conf ",
        "socket-labs/Cargo.toml ",
        "socket-labs/lab-udp/src/main.rs ",
    ] {
        assert!(
            listing.lines().any(|line| line.starts_with(entry)),
            "{entry:?} not in {listing}"
        );
    }
}
