//! The uppercase protocol of one TCP connection, as a state machine with no I/O.
//!
//! A server reads bytes, gives them to [`Session::on_read`], sends the reply bytes it
//! gets back and closes when told to. Every server model (the iterative loop of
//! lab-tcp, the threads, processes and event loop of lab-concurrent) drives this one
//! type, so the wire rules live in one place:
//!
//! 1. Bytes are answered as they arrive: a bare message with no newline (what the
//!    course's Python clients send) gets its uppercase at once, and a line of any
//!    length streams through without being buffered (memory stays bounded).
//! 2. Newline-terminated lines come back uppercased with their newline, in order,
//!    however TCP cuts them into segments; a UTF-8 character split between two reads
//!    is uppercased as one character.
//! 3. The session ends without a reply when a complete line is `quit` (`quit\n` or
//!    `quit\r\n`), or when one read is exactly the four bytes `quit` (the course
//!    clients send each message bare, one message per segment). Bytes of a `quit` line
//!    that were answered before the line was complete stay answered.

use crate::upper::Upcaser;

/// What the connection should do once the reply to a read has been sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Keep reading from the client.
    KeepOpen,
    /// The client said `quit`: close the connection.
    Close,
}

/// The word that ends a session, and the longest line that can still turn into it.
const QUIT: &[u8] = b"quit";
const QUIT_CRLF: &[u8] = b"quit\r";

/// State of one client's session: the uppercaser (for characters split across reads)
/// and how much of the current line could still be `quit`.
#[derive(Debug, Default, Clone)]
pub struct Session {
    upcaser: Upcaser,
    /// `Some(n)`: the current line so far is the first `n` bytes of `quit\r`;
    /// `None`: the current line can no longer be `quit`.
    quit_prefix: Option<usize>,
}

impl Session {
    /// A session at the start of a connection.
    pub fn new() -> Self {
        Session {
            upcaser: Upcaser::default(),
            quit_prefix: Some(0),
        }
    }

    /// Handles the bytes of one read: appends the reply to `reply` and says whether
    /// the session goes on. The reply is at most three times as long as `data`.
    pub fn on_read(&mut self, data: &[u8], reply: &mut Vec<u8>) -> Next {
        if data == QUIT {
            return Next::Close;
        }
        let mut line_start = 0;
        while let Some(newline) = data[line_start..].iter().position(|&b| b == b'\n') {
            let rest_of_line = &data[line_start..line_start + newline];
            if self.completes_quit(rest_of_line) {
                // Answer what came before the quit line in this read, then stop.
                self.upcaser.feed(&data[..line_start], reply);
                return Next::Close;
            }
            line_start += newline + 1;
            self.quit_prefix = Some(0);
        }
        self.quit_prefix = self.extend_quit_prefix(&data[line_start..]);
        self.upcaser.feed(data, reply);
        Next::KeepOpen
    }

    /// The client closed its side (EOF): appends what is still held back (the bytes of
    /// a character that never completed, passed through unchanged).
    pub fn on_eof(&mut self, reply: &mut Vec<u8>) {
        self.upcaser.finish(reply);
    }

    /// Would the current line, ended by `rest` and a newline, be `quit` or `quit\r`?
    fn completes_quit(&self, rest: &[u8]) -> bool {
        match self.quit_prefix {
            Some(seen) => [QUIT, QUIT_CRLF]
                .iter()
                .any(|word| word.len() >= seen && &word[seen..] == rest),
            None => false,
        }
    }

    /// The quit prefix after the current line grows by `more` bytes (with no newline).
    fn extend_quit_prefix(&self, more: &[u8]) -> Option<usize> {
        let seen = self.quit_prefix?;
        let grown = seen + more.len();
        (grown <= QUIT_CRLF.len() && &QUIT_CRLF[seen..grown] == more).then_some(grown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `reads` one by one; returns all reply bytes and whether a quit ended it.
    fn run(reads: &[&[u8]]) -> (Vec<u8>, Next) {
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

    #[test]
    fn bare_message_gets_reply_at_once() {
        let mut session = Session::new();
        let mut reply = Vec::new();
        assert_eq!(session.on_read(b"hello", &mut reply), Next::KeepOpen);
        assert_eq!(reply, b"HELLO");
    }

    #[test]
    fn lines_in_one_read_each_answered_in_order() {
        assert_eq!(
            run(&[b"a\nb\r\nc\n"]),
            (b"A\nB\r\nC\n".to_vec(), Next::KeepOpen)
        );
    }

    #[test]
    fn every_quit_form_ends_the_session_without_reply() {
        for reads in [
            &[&b"quit"[..]][..],
            &[b"quit\n"],
            &[b"quit\r\n"],
            &[b"hello", b"quit"],
            &[b"hello\n", b"quit\r\n"],
        ] {
            let (reply, next) = run(reads);
            assert_eq!(next, Next::Close, "{reads:?}");
            assert!(!reply.windows(4).any(|w| w == b"QUIT"), "{reads:?}");
        }
    }

    #[test]
    fn quit_line_ended_in_a_later_read_still_ends_the_session() {
        assert_eq!(run(&[b"quit\r", b"\n"]), (b"QUIT\r".to_vec(), Next::Close));
    }

    #[test]
    fn quit_after_lines_in_same_read_answers_the_lines_first() {
        assert_eq!(
            run(&[b"one\ntwo\nquit\nthree\n"]),
            (b"ONE\nTWO\n".to_vec(), Next::Close)
        );
    }

    #[test]
    fn quit_line_split_over_reads_keeps_what_was_answered() {
        assert_eq!(run(&[b"qu", b"it\n"]), (b"QU".to_vec(), Next::Close));
    }

    #[test]
    fn words_that_only_contain_quit_do_not_end_it() {
        for input in [
            &b"quitter\n"[..],
            b"xquit\n",
            b"quit now\n",
            b"QUIT\n",
            b"quit\r\r\n",
        ] {
            assert_eq!(run(&[input]).1, Next::KeepOpen, "{input:?}");
        }
        assert_eq!(run(&[b"quit\n"[..].as_ref(), b"x"]).1, Next::Close);
        assert_eq!(run(&[b"qui", b"tt\n"]).1, Next::KeepOpen);
    }

    #[test]
    fn quit_on_a_later_line_split_anywhere() {
        let input = b"abc\nquit\r\n";
        for split in 0..=input.len() {
            let (first, second) = input.split_at(split);
            let (reply, next) = run(&[first, second]);
            assert_eq!(next, Next::Close, "split at {split}");
            assert!(reply.starts_with(b"ABC\n"), "split at {split}");
            assert!(
                b"QUIT\r".starts_with(&reply[4..]),
                "split at {split}: {reply:?}"
            );
        }
    }
}
