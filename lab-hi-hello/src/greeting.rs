//! The hi-hello protocol, with no I/O: which reply a message gets, and how a TCP byte
//! stream is cut into messages.
//!
//! - `hi` (any case, surrounding white space ignored) is answered `hello`;
//! - `bye` is answered `goodbye`, and ends a TCP session;
//! - anything else is answered `unknown greeting: <the message, trimmed>`.
//!
//! The reply keeps the request's line ending: `hi\n` gets `hello\n`, `hi\r\n` gets
//! `hello\r\n`, and a bare `hi` (no newline, as the course's Python clients send)
//! gets a bare `hello`.

/// The longest message kept; the rest of a longer one is dropped (it cannot be a
/// greeting anyway), so a client cannot make the server's memory grow.
pub const MAX_MESSAGE: usize = 1024;

/// One message and the line ending it came with (empty for a bare message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The message, without its line ending.
    pub text: Vec<u8>,
    /// `b"\n"`, `b"\r\n"`, or empty.
    pub ending: &'static [u8],
}

impl Message {
    /// A whole datagram is one message; a trailing newline is its line ending.
    pub fn from_datagram(datagram: &[u8]) -> Message {
        split_ending(datagram)
    }

    /// The reply's bytes (the answer and the request's line ending), and whether the
    /// session ends after it.
    pub fn reply(&self) -> (Vec<u8>, bool) {
        let word = self.text.trim_ascii();
        let (mut reply, ends) = if word.eq_ignore_ascii_case(b"hi") {
            (b"hello".to_vec(), false)
        } else if word.eq_ignore_ascii_case(b"bye") {
            (b"goodbye".to_vec(), true)
        } else {
            ([b"unknown greeting: ", word].concat(), false)
        };
        reply.extend_from_slice(self.ending);
        (reply, ends)
    }
}

fn split_ending(line: &[u8]) -> Message {
    let (text, ending): (&[u8], &'static [u8]) = if let Some(text) = line.strip_suffix(b"\r\n") {
        (text, b"\r\n")
    } else if let Some(text) = line.strip_suffix(b"\n") {
        (text, b"\n")
    } else {
        (line, b"")
    };
    Message {
        text: text.to_vec(),
        ending,
    }
}

/// Cuts a TCP byte stream into messages. A complete line is a message. Bytes with no
/// newline yet may be the start of a line (the rest is on its way) or a bare message
/// (the course clients send no newline): the server waits a moment, and if nothing
/// more arrives, takes them as a bare message ([`Framer::take_bare`]).
#[derive(Debug, Default)]
pub struct Framer {
    partial: Vec<u8>,
}

impl Framer {
    /// Adds the bytes of one read; returns the complete lines among them.
    pub fn push(&mut self, data: &[u8]) -> Vec<Message> {
        let mut messages = Vec::new();
        for piece in data.split_inclusive(|&b| b == b'\n') {
            let room = MAX_MESSAGE.saturating_sub(self.partial.len());
            let body = piece.strip_suffix(b"\n").unwrap_or(piece);
            self.partial
                .extend_from_slice(&body[..body.len().min(room)]);
            if piece.ends_with(b"\n") {
                self.partial.push(b'\n');
                messages.push(split_ending(&self.partial));
                self.partial.clear();
            }
        }
        messages
    }

    /// Are there bytes waiting for the rest of their line?
    pub fn has_partial(&self) -> bool {
        !self.partial.is_empty()
    }

    /// The waiting bytes, as a bare message (nothing more came for a while).
    pub fn take_bare(&mut self) -> Option<Message> {
        if self.partial.is_empty() {
            return None;
        }
        let text = std::mem::take(&mut self.partial);
        Some(Message { text, ending: b"" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply_to(datagram: &[u8]) -> Vec<u8> {
        Message::from_datagram(datagram).reply().0
    }

    #[test]
    fn hi_in_any_case_and_spacing_gets_hello_with_the_same_ending() {
        assert_eq!(reply_to(b"hi"), b"hello");
        assert_eq!(reply_to(b"  Hi \n"), b"hello\n");
        assert_eq!(reply_to(b"HI\r\n"), b"hello\r\n");
    }

    #[test]
    fn bye_ends_and_anything_else_is_unknown() {
        assert_eq!(
            Message::from_datagram(b"Bye\n").reply(),
            (b"goodbye\n".to_vec(), true)
        );
        assert_eq!(
            reply_to(b"  hello there \n"),
            b"unknown greeting: hello there\n"
        );
        assert_eq!(reply_to(b"\xff"), b"unknown greeting: \xff");
        assert_eq!(reply_to(b""), b"unknown greeting: ");
    }

    #[test]
    fn framer_cuts_lines_however_they_arrive() {
        let mut framer = Framer::default();
        assert!(framer.push(b"h").is_empty());
        assert!(framer.has_partial());
        let lines = framer.push(b"i\nbye\r\nx");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].text, b"hi");
        assert_eq!(
            lines[1],
            Message {
                text: b"bye".to_vec(),
                ending: b"\r\n"
            }
        );
        assert_eq!(
            framer.take_bare(),
            Some(Message {
                text: b"x".to_vec(),
                ending: b""
            })
        );
        assert_eq!(framer.take_bare(), None);
    }

    #[test]
    fn framer_memory_is_bounded() {
        let mut framer = Framer::default();
        for _ in 0..1000 {
            framer.push(&[b'a'; 4096]);
        }
        let lines = framer.push(b"\n");
        assert_eq!(lines[0].text.len(), MAX_MESSAGE);
    }
}
