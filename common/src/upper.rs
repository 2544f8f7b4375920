//! Uppercasing bytes the way the course's Python servers do (`str.upper()`), without
//! ever failing on bytes that are not UTF-8.
//!
//! Every maximal run of valid UTF-8 gets the full Unicode mapping (`ß` -> `SS`,
//! `ﬁ` -> `FI`); each byte that is not part of valid UTF-8 passes through unchanged.
//! [`Upcaser`] does this for a byte stream read in pieces: a character split between
//! two reads is held back (at most 3 bytes) until it is complete, so TCP's arbitrary
//! segment boundaries never change the answer.

/// Uppercases one whole message, such as a UDP datagram.
///
/// ```
/// assert_eq!(common::upper::uppercase("straße".as_bytes()), "STRASSE".as_bytes());
/// assert_eq!(common::upper::uppercase(b"ok \xff"), b"OK \xff");
/// ```
pub fn uppercase(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len());
    let mut upcaser = Upcaser::default();
    upcaser.feed(message, &mut out);
    upcaser.finish(&mut out);
    out
}

/// Uppercases only the ASCII letters, leaving every other byte as it is: the reply
/// that keeps a message's length (used where the full mapping would not fit).
pub fn ascii_uppercase(message: &[u8]) -> Vec<u8> {
    message.to_ascii_uppercase()
}

/// Streaming uppercaser: feed it the bytes of each read, in order.
#[derive(Debug, Default, Clone)]
pub struct Upcaser {
    /// The start of a character whose remaining bytes have not arrived yet.
    pending: [u8; 4],
    pending_len: usize,
}

impl Upcaser {
    /// Appends the uppercase of `input` to `out`. An incomplete character at the end
    /// of `input` is kept back until the next call (or [`Upcaser::finish`]).
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        if self.pending_len > 0 {
            input = self.complete_pending(input, out);
        }
        out.reserve(input.len());
        while !input.is_empty() {
            // ASCII, the common case on the wire, needs no UTF-8 decoding at all.
            let ascii_len = push_ascii_uppercase(input, out);
            input = &input[ascii_len..];

            // The run up to the next ASCII byte: characters, or bytes that are not UTF-8
            // (an ASCII byte always starts a character, so the run ends on a boundary).
            let run_len = input.iter().position(u8::is_ascii).unwrap_or(input.len());
            let (run, rest) = input.split_at(run_len);
            for chunk in run.utf8_chunks() {
                push_uppercase(chunk.valid(), out);
                let invalid = chunk.invalid();
                let at_end =
                    rest.is_empty() && invalid.as_ptr_range().end == run.as_ptr_range().end;
                if at_end && could_be_completed(invalid) {
                    // Its last bytes are in the next read.
                    self.pending[..invalid.len()].copy_from_slice(invalid);
                    self.pending_len = invalid.len();
                } else {
                    out.extend_from_slice(invalid);
                }
            }
            input = rest;
        }
    }

    /// Ends the stream: bytes of a character that never completed pass through as they are.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.pending[..self.pending_len]);
        self.pending_len = 0;
    }

    /// Adds bytes from `input` to the pending character until it is complete (then
    /// uppercases it) or proves invalid (then passes the pending bytes through).
    /// Returns the part of `input` still to be handled.
    fn complete_pending<'a>(&mut self, input: &'a [u8], out: &mut Vec<u8>) -> &'a [u8] {
        let held = self.pending_len;
        let mut len = held;
        for &byte in input.iter().take(self.pending.len() - held) {
            self.pending[len] = byte;
            len += 1;
            match std::str::from_utf8(&self.pending[..len]) {
                Ok(character) => {
                    push_uppercase(character, out);
                    self.pending_len = 0;
                    return &input[len - held..];
                }
                Err(error) if error.error_len().is_none() => continue,
                Err(_) => {
                    // The held bytes can never start a valid character: they pass
                    // through, and `input` is handled from its start (its first byte
                    // may itself begin a character).
                    out.extend_from_slice(&self.pending[..held]);
                    self.pending_len = 0;
                    return input;
                }
            }
        }
        // `input` ran out before the character was complete: wait for the next read.
        self.pending_len = len;
        &[]
    }
}

/// True if `bytes` is the beginning of a valid UTF-8 character that lacks its last bytes.
fn could_be_completed(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && matches!(std::str::from_utf8(bytes), Err(error) if error.valid_up_to() == 0 && error.error_len().is_none())
}

/// Appends the uppercase of the ASCII bytes at the start of `input`; returns how many
/// there were. A short run goes byte by byte; a long one a block at a time, which the
/// compiler turns into vector code.
fn push_ascii_uppercase(input: &[u8], out: &mut Vec<u8>) -> usize {
    const SHORT: usize = 16;
    const BLOCK: usize = 64;
    let mut done = 0;
    for &byte in input.iter().take(SHORT) {
        if !byte.is_ascii() {
            return done;
        }
        out.push(byte.to_ascii_uppercase());
        done += 1;
    }
    for block in input[done..].chunks(BLOCK) {
        let ascii_len = if block.is_ascii() {
            block.len()
        } else {
            block.iter().position(|b| !b.is_ascii()).unwrap_or(0)
        };
        let start = out.len();
        out.extend_from_slice(&block[..ascii_len]);
        out[start..].make_ascii_uppercase();
        done += ascii_len;
        if ascii_len < block.len() {
            break;
        }
    }
    done
}

/// Appends the uppercase of valid text with the full Unicode mapping (`ß` -> `SS`).
fn push_uppercase(text: &str, out: &mut Vec<u8>) {
    let table = basic_plane_table();
    for character in text.chars() {
        // Most characters are in the basic plane and have a one-character uppercase:
        // a table look-up instead of `to_uppercase`'s search through Unicode's tables.
        let mapped = table
            .get(character as usize)
            .copied()
            .unwrap_or(NOT_IN_TABLE);
        let mut utf8 = [0; 4];
        match char::from_u32(u32::from(mapped)) {
            Some(upper) if mapped != NOT_IN_TABLE => {
                out.extend_from_slice(upper.encode_utf8(&mut utf8).as_bytes());
            }
            _ => {
                for upper in character.to_uppercase() {
                    out.extend_from_slice(upper.encode_utf8(&mut utf8).as_bytes());
                }
            }
        }
    }
}

/// Marks a character the table cannot answer for (its uppercase is several characters,
/// or it is outside the basic plane). U+FFFF is a noncharacter: no uppercase is U+FFFF.
const NOT_IN_TABLE: u16 = 0xFFFF;

/// The uppercase of every basic-plane character whose uppercase is one basic-plane
/// character, built once (64 Ki entries, 128 KiB) from `char::to_uppercase`.
fn basic_plane_table() -> &'static [u16] {
    static TABLE: std::sync::OnceLock<Box<[u16]>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=0xFFFF_u32)
            .map(|code| {
                let Some(character) = char::from_u32(code) else {
                    return NOT_IN_TABLE;
                };
                let mut upper = character.to_uppercase();
                match (upper.next(), upper.next()) {
                    (Some(single), None) => {
                        u16::try_from(u32::from(single)).unwrap_or(NOT_IN_TABLE)
                    }
                    _ => NOT_IN_TABLE,
                }
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upper_str(text: &str) -> String {
        String::from_utf8_lossy(&uppercase(text.as_bytes())).into_owned()
    }

    #[test]
    fn full_unicode_mapping() {
        assert_eq!(upper_str("straße"), "STRASSE");
        assert_eq!(upper_str("ﬁne"), "FINE");
        assert_eq!(upper_str("café"), "CAFÉ");
        assert_eq!(upper_str("ŉ"), "ʼN");
        assert_eq!(upper_str(""), "");
    }

    #[test]
    fn invalid_bytes_pass_through() {
        assert_eq!(uppercase(b"stra\xc3\x9fe \xff"), b"STRASSE \xff");
        assert_eq!(uppercase(b"\xe2\x82a"), b"\xe2\x82A");
        assert_eq!(uppercase(b"a\xc3"), b"A\xc3");
    }

    #[test]
    fn character_split_across_reads_is_one_character() {
        let text = "aß€🎉é".as_bytes();
        for split in 0..=text.len() {
            let mut upcaser = Upcaser::default();
            let mut out = Vec::new();
            upcaser.feed(&text[..split], &mut out);
            upcaser.feed(&text[split..], &mut out);
            upcaser.finish(&mut out);
            assert_eq!(out, "ASS€🎉É".as_bytes(), "split at {split}");
        }
    }

    #[test]
    fn character_split_byte_by_byte() {
        let text = "🎉x\u{10FFFF}".as_bytes();
        let mut upcaser = Upcaser::default();
        let mut out = Vec::new();
        for byte in text {
            upcaser.feed(std::slice::from_ref(byte), &mut out);
        }
        upcaser.finish(&mut out);
        assert_eq!(out, "🎉X\u{10FFFF}".as_bytes());
    }

    #[test]
    fn incomplete_character_followed_by_garbage_passes_through() {
        let mut upcaser = Upcaser::default();
        let mut out = Vec::new();
        upcaser.feed(b"\xf0\x9f", &mut out);
        assert!(out.is_empty(), "held back while it may still complete");
        upcaser.feed(b"a", &mut out);
        assert_eq!(out, b"\xf0\x9fA");
    }

    #[test]
    fn ascii_only_keeps_length() {
        assert_eq!(ascii_uppercase("ŉa".as_bytes()), "ŉA".as_bytes());
    }
}
