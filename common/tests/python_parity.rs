//! Our uppercasing answers the same bytes as Python's `str.upper()`, the truth for
//! the course's Python servers. The expected bytes come from `python3` at test time.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};

use common::upper::uppercase;

/// Strings where naive uppercasing goes wrong.
const TRICKY: &[&str] = &[
    "",
    "hello, world",
    "straße",                    // ß -> SS (one char becomes two)
    "ﬁne ﬂow ﬀ ﬃ ﬄ ﬅ ﬆ",         // ligatures expand
    "ŉ",                         // -> ʼN, longer in bytes
    "ὀδυσσεύς ὀδυσσεὺς ς σ",     // final sigma: both sigmas -> Σ
    "ıi İ ı̇",                    // Turkish dotless and dotted i
    "և ﬓ ﬔ ﬕ ﬖ ﬗ",               // Armenian ligatures
    "e\u{301} a\u{308} \u{345}", // combining marks, iota subscript
    "ΐ ΰ ᾳ ᾀ ῲ ǰ ẖ",             // characters whose uppercase is three code points
    "ǆ ǅ ǲ",                     // titlecase digraphs
    "😀 🎉 𝔞 𐐨",                 // emoji, math letter, Deseret (4-byte UTF-8)
    "中文 日本語 한국어",        // CJK: unchanged
    "ａｂｃ ⓐⓑ ⅰⅱ",              // fullwidth, circled, Roman numerals
    "tab\tnew\nline\r\0nul",
];

fn python_upper(text: &str) -> Vec<u8> {
    let mut python = Command::new("python3")
        .args([
            "-c",
            "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read().decode('utf-8').upper().encode('utf-8'))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    python
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to python3");
    let output = python.wait_with_output().expect("python3 finishes");
    assert!(output.status.success());
    output.stdout
}

#[test]
fn uppercase_matches_python_str_upper() {
    if !common::testkit::tool_available("python3") {
        return;
    }
    for text in TRICKY {
        assert_eq!(
            uppercase(text.as_bytes()),
            python_upper(text),
            "uppercase of {text:?} differs from Python's"
        );
    }
    // The whole corpus as one message, too.
    let all = TRICKY.join(" | ");
    assert_eq!(uppercase(all.as_bytes()), python_upper(&all));
}

#[test]
fn every_basic_plane_character_matches_python() {
    if !common::testkit::tool_available("python3") {
        return;
    }
    // Python's tables may be older than Rust's: where they differ on a character that
    // Python does not know yet (it maps it to itself), ours wins, as the SPEC says.
    let all: String = (0x80..0x3_0000)
        .filter_map(char::from_u32)
        .flat_map(|c| [c, '\n'])
        .collect();
    let ours = uppercase(all.as_bytes());
    let theirs = python_upper(&all);
    let ours = String::from_utf8(ours).expect("valid");
    let theirs = String::from_utf8(theirs).expect("valid");
    let mut differences = 0;
    for ((original, mine), python) in all.lines().zip(ours.lines()).zip(theirs.lines()) {
        if mine != python && python != original {
            panic!("{original:?}: ours {mine:?}, Python's {python:?}");
        }
        differences += usize::from(mine != python);
    }
    assert!(
        differences < 200,
        "{differences} characters differ from Python's older tables"
    );
}

#[test]
fn invalid_utf8_is_passed_through_around_valid_runs() {
    // Python's server would crash on these; ours uppercases the valid runs only.
    assert_eq!(uppercase(b"stra\xc3\x9fe \xff"), b"STRASSE \xff");
    assert_eq!(
        uppercase(b"\xc3\x28 \xed\xa0\x80 a"),
        b"\xc3\x28 \xed\xa0\x80 A"
    );
}
