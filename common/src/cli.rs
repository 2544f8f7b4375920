//! The edges of every lab binary: durations on the command line, what a client,
//! `check`, `demo`, `bench` or `peer` prints, and turning an error into the one
//! `error: ...` line and a non-zero exit.
//!
//! # A closed stdout
//!
//! `lab-tcp check --target ... | head -1`: once `head` has its line it exits, and our
//! next write to the pipe fails with `EPIPE`. A C program (or `cat`, `seq`) is killed
//! by the SIGPIPE that comes with it, silently; the shell shows status 141 (128 + 13).
//! Rust ignores SIGPIPE, so the write returns an error instead, and `println!` panics
//! on it (rust-lang/rust#46016). Programs that print results write through
//! [`out!`](crate::out!) and [`outln!`](crate::outln!) here, which end the program as
//! SIGPIPE would. Servers never do: their log ([`crate::report::Log`]) drops lines
//! nobody reads and goes on serving.

use std::fmt;
use std::io::{self, ErrorKind, Write};
use std::process::ExitCode;
use std::time::Duration;

/// Parses a duration given in seconds, decimals allowed (`0.5`, `10`, `300`); for
/// clap's `value_parser`.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number of seconds (examples: 2, 0.5)"))?;
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("'{text}' is not a duration: give a number of seconds >= 0"))
}

/// Parses a timeout in seconds, as [`parse_seconds`], but more than zero: a wait of
/// 0 s would give up before any reply could come (and sockets refuse it as a timeout).
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    match parse_seconds(text)? {
        Duration::ZERO => Err(format!(
            "a timeout of {text} s would give up before any reply: give more than 0"
        )),
        timeout => Ok(timeout),
    }
}

/// Parses the command line as clap's `Parser::parse` does (usage errors: clap's
/// message, exit status 2), except that `--help` and `--version` on a closed stdout
/// end the program as SIGPIPE would ([`stdout_failed`]) instead of exiting 0.
pub fn parse<Cli: clap::Parser>() -> Cli {
    // A grader that started this executable again, to run a submission or to grade
    // inside namespaces, gives it its part here, before anything else.
    crate::check::isolation::play_role();
    negative_numbers_are_values(Cli::command())
        .try_get_matches()
        .and_then(|mut matches| {
            Cli::from_arg_matches_mut(&mut matches)
                .map_err(|error| error.format(&mut Cli::command()))
        })
        .unwrap_or_else(|error| exit_on(&error))
}

/// Ends the program on clap's `error` as [`parse`] does: the usage error (exit status
/// 2), or the help or version asked for (exit 0).
pub fn exit_on(error: &clap::Error) -> ! {
    if let Err(failure) = error.print() {
        if error.use_stderr() {
            // The usage error could not be shown: its exit status still tells.
            std::process::exit(error.exit_code());
        }
        stdout_failed(&failure);
    }
    std::process::exit(error.exit_code())
}

/// Lets every option's value, and every positional argument, start with `-` and a
/// digit: `ping --interval -1` then reaches the option's own check ("give a number of
/// seconds >= 0") instead of clap's "unexpected argument '-1'", which reads as if the
/// option had no value. Flags take no value and are left as they are.
fn negative_numbers_are_values(command: clap::Command) -> clap::Command {
    command
        .mut_args(|arg| {
            let takes_values = arg.get_action().takes_values();
            arg.allow_negative_numbers(takes_values)
        })
        .mut_subcommands(negative_numbers_are_values)
}

/// Ends the program on a usage error that clap cannot see by itself (one found by
/// looking at several arguments together): `error: MESSAGE` on stderr and exit status
/// 2, as for clap's own usage errors.
pub fn usage_error(message: &str) -> ! {
    clap::Error::raw(
        clap::error::ErrorKind::ArgumentConflict,
        format!("{message}\n"),
    )
    .exit()
}

/// Ends a subcommand: its error becomes one `error: ...` line on stderr and exit
/// status 1.
pub fn finish(outcome: anyhow::Result<ExitCode>) -> ExitCode {
    match outcome {
        Ok(code) => code,
        Err(error) => {
            // Not `eprintln!`: it panics if stderr is a closed pipe (`2>&1 | head`).
            let _ = writeln!(io::stderr(), "error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Like `print!`, for programs that print results (clients, `check`, `demo`,
/// `bench`, `peer`): if nobody reads stdout any more, the program ends at once, as
/// if killed by SIGPIPE ([`stdout_failed`]). Never panics. (In the unit tests of the
/// crate using it, `print!` itself, which the test harness captures: a test's
/// output is shown only if it fails.)
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        if cfg!(test) {
            ::std::print!($($arg)*)
        } else {
            $crate::cli::write_stdout(format_args!($($arg)*))
        }
    };
}

/// Like `println!`, for programs that print results; see [`out!`](crate::out!).
#[macro_export]
macro_rules! outln {
    () => {
        $crate::out!("\n")
    };
    ($($arg:tt)*) => {
        $crate::out!("{}\n", format_args!($($arg)*))
    };
}

/// Writes `text` to stdout and flushes it (what [`out!`](crate::out!) and
/// [`outln!`](crate::outln!) expand to). On failure it does not return: see
/// [`stdout_failed`].
pub fn write_stdout(text: fmt::Arguments<'_>) {
    let mut stdout = io::stdout().lock();
    if let Err(error) = stdout.write_fmt(text).and_then(|()| stdout.flush()) {
        drop(stdout);
        stdout_failed(&error);
    }
}

/// Prints a reply on its own line, bytes as they came (a reply need not be UTF-8);
/// on a closed stdout the program ends as [`stdout_failed`] says.
pub fn print_reply(reply: &[u8]) {
    let mut stdout = io::stdout().lock();
    let written = stdout
        .write_all(reply)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    if let Err(error) = written {
        drop(stdout);
        stdout_failed(&error);
    }
}

/// Ends a program whose write to stdout failed. If the reader went away (`EPIPE`),
/// the program dies of SIGPIPE, silently, exactly as `cat` or `seq` would: the shell
/// shows 141 and a parent sees "killed by signal 13". Any other failure (a full
/// disk) is one `error:` line and exit status 1.
///
/// Dying of the signal rather than `exit(141)` tells a parent (a shell script with
/// `set -o pipefail`, Python's `subprocess`) the same thing it learns from every
/// other Unix tool. SIGPIPE stays ignored until this moment, so a write to a socket
/// or to a child's pipe still fails with an error we report, instead of killing the
/// program. signal-hook restores the default action and raises the signal, without
/// `unsafe` code of ours.
pub fn stdout_failed(error: &io::Error) -> ! {
    if error.kind() == ErrorKind::BrokenPipe {
        let _ = signal_hook::low_level::emulate_default_handler(signal_hook::consts::SIGPIPE);
        // Not reached: the signal ends the process. Should it not, the same status.
        std::process::exit(128 + signal_hook::consts::SIGPIPE);
    }
    let _ = writeln!(
        io::stderr(),
        "error: cannot write to standard output: {error}"
    );
    std::process::exit(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_with_decimals() {
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_seconds("300"), Ok(Duration::from_secs(300)));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("soon").is_err());
    }

    #[test]
    fn timeouts_are_more_than_zero() {
        assert_eq!(parse_timeout("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_timeout("0").unwrap_err().contains("give more than 0"));
        assert!(parse_timeout("0.0").is_err());
    }
}
