//! Throughput of the uppercase core: `cargo bench -p common`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use common::upper::Upcaser;
use divan::counter::BytesCount;
use divan::{Bencher, black_box};

const SIZE: usize = 1 << 20;

fn main() {
    divan::main();
}

/// Lowercase ASCII text, the common case on the wire.
fn ascii_text() -> Vec<u8> {
    b"the quick brown fox jumps over the lazy dog 0123456789\n"
        .iter()
        .copied()
        .cycle()
        .take(SIZE)
        .collect()
}

/// Text mixing ASCII with 2-, 3- and 4-byte characters and expanding mappings.
fn mixed_text() -> Vec<u8> {
    "Grüße aus Köln, straße, ﬁn, ὀδυσσεύς, привет мир, 中文字符, 🎉 emoji; "
        .as_bytes()
        .iter()
        .copied()
        .cycle()
        .take(SIZE)
        .collect()
}

fn run(bencher: Bencher, input: Vec<u8>) {
    let mut out = Vec::with_capacity(SIZE * 3);
    bencher
        .counter(BytesCount::new(input.len()))
        .bench_local(|| {
            out.clear();
            let mut upcaser = Upcaser::default();
            upcaser.feed(black_box(&input), &mut out);
            upcaser.finish(&mut out);
            black_box(out.len())
        });
}

#[divan::bench]
fn ascii(bencher: Bencher) {
    run(bencher, ascii_text());
}

#[divan::bench]
fn mixed_unicode(bencher: Bencher) {
    run(bencher, mixed_text());
}
