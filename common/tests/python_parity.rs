//! Our uppercasing answers the same bytes as Python's `str.upper()`, the truth for
//! the course's Python servers. The expected bytes come from `python3` at test time.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use common::testkit::{WAIT, run_within, tool_available};
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

/// Python's `str.upper()` of `text`, from `python3` (bounded by testkit's wait).
fn python_upper(text: &str) -> Vec<u8> {
    python(
        "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read().decode('utf-8').upper().encode('utf-8'))",
        text,
    )
}

/// Runs the Python program `program` with `input` on its stdin; returns its stdout.
fn python(program: &str, input: &str) -> Vec<u8> {
    let output = run_within("python3", &["-c", program], input.as_bytes(), WAIT * 3);
    assert!(
        output.status.success(),
        "python3: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[test]
fn uppercase_matches_python_str_upper() {
    if !tool_available("python3") {
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
    if !tool_available("python3") {
        return;
    }
    // Python's tables may be older than Rust's. A character Python's Unicode database
    // does not have yet (category `Cn`, unassigned) it maps to itself, and so a
    // character that was given an uppercase only when that uppercase was added (U+019B
    // ƛ -> U+A7DC in Unicode 16): there ours wins (the newer Unicode). Every other
    // character must come out the same. For each line (one character), Python prints
    // its uppercase, or an empty line for a character it does not know (no character
    // uppercases to nothing).
    let all: Vec<char> = (0x80..0x3_0000).filter_map(char::from_u32).collect();
    let lines: String = all.iter().flat_map(|&c| [c, '\n']).collect();
    let ours = String::from_utf8(uppercase(lines.as_bytes())).expect("valid");
    let theirs = python(
        "import sys, unicodedata\n\
         for c in sys.stdin.buffer.read().decode('utf-8').split('\\n')[:-1]:\n\
         \x20   known = unicodedata.category(c) != 'Cn'\n\
         \x20   sys.stdout.buffer.write(((c.upper() if known else '') + '\\n').encode('utf-8'))",
        &lines,
    );
    let theirs = String::from_utf8(theirs).expect("valid");
    // One line per character on each side: a lost or added line is a failure, not
    // the end of the comparison.
    let ours: Vec<&str> = ours.split_terminator('\n').collect();
    let theirs: Vec<&str> = theirs.split_terminator('\n').collect();
    assert_eq!(
        ours.len(),
        all.len(),
        "our output has the wrong number of lines"
    );
    assert_eq!(
        theirs.len(),
        all.len(),
        "Python's output has the wrong number of lines"
    );
    let unknown_to_python: std::collections::HashSet<char> = all
        .iter()
        .zip(&theirs)
        .filter(|(_, python)| python.is_empty())
        .map(|(&c, _)| c)
        .collect();
    for ((original, mine), python) in all.iter().zip(ours).zip(theirs) {
        let newer_than_python = unknown_to_python.contains(original)
            || (python == original.to_string()
                && mine.chars().any(|c| unknown_to_python.contains(&c)));
        if !newer_than_python {
            assert_eq!(
                mine,
                python,
                "{original:?} (U+{:04X})",
                u32::from(*original)
            );
        }
    }
    // Python's tables know well over 100,000 of these (Unicode 14, Python 3.11:
    // 145,758): far fewer means Python's answer was lost, not that it is old.
    assert!(
        all.len() - unknown_to_python.len() > 100_000,
        "Python knows only {} of {} characters",
        all.len() - unknown_to_python.len(),
        all.len()
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
