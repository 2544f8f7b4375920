//! The edges of every lab binary: durations on the command line, printing replies,
//! and turning an error into the one `error: ...` line and a non-zero exit.

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

/// Ends a subcommand: its error becomes one `error: ...` line on stderr and exit
/// status 1. A reader that went away (`lab-udp client | head -1`) is a normal end.
pub fn finish(outcome: anyhow::Result<ExitCode>) -> ExitCode {
    match outcome {
        Ok(code) => code,
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<io::Error>())
        .any(|io_error| io_error.kind() == ErrorKind::BrokenPipe)
}

/// Prints a reply on its own line, bytes as they came (a reply need not be UTF-8).
pub fn print_reply(reply: &[u8]) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(reply)?;
    stdout.write_all(b"\n")?;
    stdout.flush()
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
}
