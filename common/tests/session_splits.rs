//! The protocol's answer does not depend on how TCP cuts the input into reads: proven
//! by feeding the same input split at random points (proptest).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use common::session::{Next, Session};
use common::upper::uppercase;
use proptest::prelude::*;

/// Feeds `reads` in order; returns every reply byte and whether a quit ended it.
fn serve(reads: &[&[u8]]) -> (Vec<u8>, Next) {
    let mut session = Session::new();
    let mut reply = Vec::new();
    for data in reads {
        if session.on_read(data, &mut reply) == Next::Close {
            return (reply, Next::Close);
        }
    }
    session.on_eof(&mut reply);
    (reply, Next::KeepOpen)
}

/// Cuts `input` at the given points (taken modulo its length).
fn split_at_points<'a>(input: &'a [u8], points: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = points.iter().map(|p| p % (input.len() + 1)).collect();
    cuts.extend([0, input.len()]);
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2).map(|w| &input[w[0]..w[1]]).collect()
}

/// Input made of pieces that stress the protocol: multi-byte characters, invalid
/// bytes, CR/LF, and fragments of `quit`.
fn protocol_input() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop::sample::select(vec![
        &b"a"[..],
        b"Hello",
        b" ",
        b"\n",
        b"\r\n",
        b"\r",
        "ß".as_bytes(),
        "ﬁ".as_bytes(),
        "é".as_bytes(),
        "🎉".as_bytes(),
        "ŉ".as_bytes(),
        b"\xff",
        b"\xe2\x82",
        b"q",
        b"qu",
        b"it",
        b"quit",
        b"quitter",
        b"\x00",
    ]);
    prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

/// Where the first line that is exactly `quit` (LF or CRLF) starts, if any.
fn quit_line_start(input: &[u8]) -> Option<usize> {
    let mut start = 0;
    for line in input.split_inclusive(|&b| b == b'\n') {
        if line == b"quit\n" || line == b"quit\r\n" {
            return Some(start);
        }
        start += line.len();
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn reply_does_not_depend_on_read_boundaries(
        input in protocol_input(),
        points in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let reads = split_at_points(&input, &points);
        // A read of exactly `quit` is the course clients' bare quit: a different input.
        prop_assume!(reads.iter().all(|read| *read != b"quit"));
        let (reply, next) = serve(&reads);
        match quit_line_start(&input) {
            None => {
                prop_assert_eq!(next, Next::KeepOpen);
                prop_assert_eq!(reply, uppercase(&input));
            }
            Some(start) => {
                // Everything before the quit line is answered; of the quit line itself,
                // at most the bytes that arrived before it was complete.
                prop_assert_eq!(next, Next::Close);
                let before = uppercase(&input[..start]);
                prop_assert!(reply.starts_with(&before), "{:?} vs {:?}", reply, before);
                prop_assert!(b"QUIT\r".starts_with(&reply[before.len()..]));
            }
        }
    }
}

#[test]
fn a_10_mib_line_streams_through_without_buffering() {
    const READ: usize = 16 * 1024;
    let chunk = vec![b'x'; READ];
    let mut session = Session::new();
    let mut reply = Vec::with_capacity(READ);
    let mut total = 0;
    for _ in 0..(10 * 1024 * 1024 / READ) {
        reply.clear();
        assert_eq!(session.on_read(&chunk, &mut reply), Next::KeepOpen);
        // Each read is answered in full at once: nothing accumulates in the session.
        assert_eq!(reply.len(), READ);
        assert!(reply.iter().all(|&b| b == b'X'));
        total += reply.len();
    }
    assert_eq!(total, 10 * 1024 * 1024);
    // The session's own state is a few bytes, whatever the line length.
    assert!(std::mem::size_of::<Session>() <= 64);
}

#[test]
fn one_line_byte_by_byte_equals_whole() {
    let input = "ünïcödé straße\nsecond line\n".as_bytes();
    let reads: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(serve(&reads).0, serve(&[input]).0);
}
