//! Where a client's messages come from: the `MESSAGE...` arguments (send one, exit),
//! or standard input, a line at a time, with a prompt when a person is typing.

use std::io::{self, BufRead, IsTerminal, StdinLock};

/// The line that ends a client (and, sent to a server, its session).
pub const QUIT: &[u8] = b"quit";

/// A client's source of messages.
#[derive(Debug)]
pub struct Messages {
    one_shot: Option<Vec<u8>>,
    stdin: Option<StdinLock<'static>>,
    prompt: Option<String>,
}

impl Messages {
    /// `words` given on the command line are one message (joined with spaces);
    /// without them, lines come from stdin, and `prompt` is shown if stdin is a terminal.
    pub fn new(words: &[String], prompt: &str) -> Self {
        if words.is_empty() {
            let stdin = io::stdin();
            let prompt = stdin.is_terminal().then(|| prompt.to_owned());
            Messages {
                one_shot: None,
                stdin: Some(stdin.lock()),
                prompt,
            }
        } else {
            Messages {
                one_shot: Some(words.join(" ").into_bytes()),
                stdin: None,
                prompt: None,
            }
        }
    }

    /// `first`, then, if stdin is not a terminal (a pipe, a file, a script), each line
    /// of stdin; no prompt. The hi-hello client's `hi`, then whatever is piped to it.
    pub fn first_then_piped_lines(first: &[u8]) -> Self {
        let stdin = io::stdin();
        Messages {
            one_shot: Some(first.to_vec()),
            stdin: (!stdin.is_terminal()).then(|| stdin.lock()),
            prompt: None,
        }
    }

    /// The next message, without its line ending; `None` at the end of input.
    pub fn next_message(&mut self) -> io::Result<Option<Vec<u8>>> {
        if let Some(message) = self.one_shot.take() {
            return Ok(Some(message));
        }
        let Some(stdin) = self.stdin.as_mut() else {
            return Ok(None);
        };
        if let Some(prompt) = &self.prompt {
            crate::out!("{prompt}");
        }
        let mut line = Vec::new();
        if stdin.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        Ok(Some(strip_line_ending(line)))
    }
}

/// Removes a trailing `\n` or `\r\n`.
pub fn strip_line_ending(mut line: Vec<u8>) -> Vec<u8> {
    let length = without_line_ending(&line).len();
    line.truncate(length);
    line
}

/// The line without its trailing `\n` or `\r\n`.
pub fn without_line_ending(line: &[u8]) -> &[u8] {
    match line.strip_suffix(b"\n") {
        Some(line) => line.strip_suffix(b"\r").unwrap_or(line),
        None => line,
    }
}

/// The prompt of the course's clients: Kurose & Ross's, or CPE 314's `NAME> `.
pub fn prompt_for(name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{name}> "),
        None => "Input lowercase sentence: ".to_owned(),
    }
}
