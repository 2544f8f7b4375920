//! `lab-concurrent grade`: wired to this lab's `check`; our own server graded as a
//! class of one gets every point.
#![allow(missing_docs)]

use common::check::grade::testkit::assert_grade_passes_our_server;

const BIN: &str = env!("CARGO_BIN_EXE_lab-concurrent");

#[test]
fn grade_gives_our_thread_server_every_point() {
    let server = format!("{BIN} server --model thread --host {{host}} --port {{port}}");
    assert_grade_passes_our_server(BIN, &server, &[]);
}
