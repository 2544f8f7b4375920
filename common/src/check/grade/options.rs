//! `grade`'s command line, made from the lab's own `check` and `check-client`: every
//! option either has is an option of `grade` (a check-only one such as `--target`
//! conflicts with `--client`, a client-only one such as `--port` with `--server`),
//! checked with the same parser, and passed on as typed to each submission's run.
//! An option added to `check` tomorrow is in `grade` with no change here.

use std::ffi::OsString;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgGroup, ArgMatches, Command};

use crate::check::report::Format;

/// What one `grade` run was asked to do.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The students' folders, in the order given.
    pub submissions: Vec<PathBuf>,
    /// `check` (with `--server`) or `check-client` (with `--client`).
    pub subcommand: &'static str,
    /// The options passed on to each run, as typed (`--format` apart).
    pub forwarded: Vec<OsString>,
    /// How many submissions are graded at a time.
    pub jobs: usize,
    /// Where the reports, `scores.csv` and `summary.svg` go.
    pub out: PathBuf,
    /// The format of each submission's report.
    pub format: Format,
    /// The port every submission listens on (or, for clients, where our scripted
    /// servers do), when it is fixed: `--target` with `--server`, `--port` with
    /// `--client`. Such runs may go in parallel only in private networks.
    pub fixed_port: Option<String>,
}

/// `grade`'s own options: the rest goes to `check` / `check-client`.
const OWN: [&str; 4] = ["submissions", "jobs", "out", "format"];

/// Parses `raw` (what follows `grade`) as `lab`'s `grade`; on a usage error, or
/// `--help`, ends the program as clap does.
pub fn parse(lab: &Command, raw: &[OsString]) -> Plan {
    let mut grade = command(lab);
    let bin = grade.get_bin_name().unwrap_or("grade").to_owned();
    let matches = grade
        .try_get_matches_from_mut(std::iter::once(OsString::from(bin)).chain(raw.iter().cloned()))
        .unwrap_or_else(|error| crate::cli::exit_on(&error));
    plan(&grade, &matches)
}

/// The `grade` subcommand of `lab`: its own options, then those of `check` and
/// `check-client`.
pub fn command(lab: &Command) -> Command {
    let name = lab.get_name().to_owned();
    let jobs = cpus();
    let check = lab.find_subcommand("check");
    let client = lab.find_subcommand("check-client");
    let graders = match client {
        Some(_) => "check --server CMD (or check-client --client CMD)",
        None => "check --server CMD",
    };
    let mut grade = Command::new("grade")
        .bin_name(format!("{name} grade"))
        .about(format!("Grade a class: each SUBMISSION_DIR with {graders}"))
        .long_about(format!(
            "Grade a class: each SUBMISSION_DIR (one student's folder) is graded by \
             {graders} run in that folder, with every other option given here; --jobs at \
             a time. Writes OUT/NAME.EXT (one report per submission, in --format), \
             OUT/scores.csv and OUT/summary.svg, then prints the class summary. Exit \
             status 0 when every submission was graded, whatever its score."
        ))
        .arg(
            Arg::new("submissions")
                .value_name("SUBMISSION_DIR")
                .help("One student's folder each (submissions/*/ gives them all)")
                .value_parser(clap::value_parser!(PathBuf))
                .num_args(1..)
                .required(true),
        )
        .arg(
            Arg::new("jobs")
                .long("jobs")
                .short('j')
                .value_name("N")
                .help(format!(
                    "How many submissions to grade at a time [default: the number of CPUs, \
                     {jobs} here]"
                ))
                .value_parser(clap::value_parser!(NonZeroUsize)),
        )
        .arg(
            Arg::new("out")
                .long("out")
                .value_name("DIR")
                .help("Where the reports, scores.csv and summary.svg go")
                .value_parser(clap::value_parser!(PathBuf))
                .default_value("grades"),
        );
    let ids = |command: Option<&Command>| -> Vec<String> {
        command
            .map(|command| command.get_arguments().map(|arg| arg.get_id().to_string()))
            .into_iter()
            .flatten()
            .collect()
    };
    let (check_ids, client_ids) = (ids(check), ids(client));
    let mut seen: Vec<String> = Vec::new();
    let arguments = check
        .into_iter()
        .chain(client)
        .flat_map(Command::get_arguments);
    for arg in arguments {
        let id = arg.get_id().to_string();
        if seen.contains(&id) || (OWN.contains(&id.as_str()) && id != "format") {
            continue;
        }
        let mut arg = arg.clone().required(false);
        if id == "format" {
            arg = arg.help("The format of each submission's report (NAME.txt, .json, .xml)");
        } else if check_ids.contains(&id)
            && client_ids.contains(&id)
            && arg.get_action().takes_values()
        {
            // check's default and check-client's may differ (--timeout): each applies its own.
            arg = arg.hide_default_value(true);
        }
        if !client_ids.contains(&id) && client.is_some() {
            arg = arg.conflicts_with("client");
        }
        if !check_ids.contains(&id) {
            arg = arg.conflicts_with("server");
        }
        grade = grade.arg(arg);
        seen.push(id);
    }
    let graded: Vec<&str> = ["server", "client"]
        .into_iter()
        .filter(|id| seen.iter().any(|seen| seen == id))
        .collect();
    grade.group(ArgGroup::new("graded").args(graded).required(true))
}

/// How many CPUs we may use: `--jobs`'s default.
fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// The plan from the parsed command line.
fn plan(grade: &Command, matches: &ArgMatches) -> Plan {
    let mut forwarded = Vec::new();
    for arg in grade.get_arguments() {
        let id = arg.get_id().as_str();
        if OWN.contains(&id) || matches.value_source(id) != Some(ValueSource::CommandLine) {
            continue;
        }
        let Some(long) = arg.get_long() else { continue };
        match arg.get_action() {
            ArgAction::Set | ArgAction::Append => {
                for value in matches.get_raw(id).into_iter().flatten() {
                    // One word, `--name=value`: a value may start with '-'.
                    let mut word = OsString::from(format!("--{long}="));
                    word.push(value);
                    forwarded.push(word);
                }
            }
            ArgAction::Count => {
                let times = usize::from(matches.get_count(id));
                forwarded.extend(std::iter::repeat_n(
                    OsString::from(format!("--{long}")),
                    times,
                ));
            }
            _ => forwarded.push(OsString::from(format!("--{long}"))),
        }
    }
    // A lab without check-client has no --client nor --port: asking clap about an
    // argument it does not have is a bug it reports.
    let given = |id: &str| {
        grade.get_arguments().any(|arg| arg.get_id() == id)
            && matches.value_source(id) == Some(ValueSource::CommandLine)
    };
    let raw = |id: &str| {
        matches
            .try_get_raw(id)
            .ok()
            .flatten()
            .and_then(|mut values| values.next())
            .map(|value| value.to_string_lossy().into_owned())
    };
    let (subcommand, fixed_port) = if given("client") {
        ("check-client", raw("port").filter(|_| given("port")))
    } else {
        ("check", raw("target").filter(|_| given("target")))
    };
    Plan {
        submissions: matches
            .get_many::<PathBuf>("submissions")
            .map(|dirs| dirs.cloned().collect())
            .unwrap_or_default(),
        subcommand,
        forwarded,
        jobs: matches
            .get_one::<NonZeroUsize>("jobs")
            .map_or_else(cpus, |jobs| jobs.get()),
        out: matches
            .get_one::<PathBuf>("out")
            .cloned()
            .unwrap_or_else(|| PathBuf::from("grades")),
        format: matches
            .get_one::<Format>("format")
            .copied()
            .unwrap_or_default(),
        fixed_port,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::TargetOptions;
    use crate::check::client::ClientOptions;

    /// A lab with `check` and `check-client`, as a lab's `main.rs` declares them.
    #[derive(clap::Parser)]
    #[command(name = "lab-x")]
    enum Lab {
        Check {
            #[command(flatten)]
            target: TargetOptions,
            #[arg(long, default_value = "tcp")]
            transport: String,
        },
        CheckClient {
            #[command(flatten)]
            client: ClientOptions,
            #[arg(long, default_value = "tcp")]
            transport: String,
        },
    }

    fn plan_of(args: &[&str]) -> Result<Plan, clap::Error> {
        let lab = <Lab as clap::CommandFactory>::command();
        let mut grade = command(&lab);
        let matches =
            grade.try_get_matches_from_mut(std::iter::once("grade").chain(args.iter().copied()))?;
        Ok(plan(&grade, &matches))
    }

    #[test]
    fn check_options_are_passed_on_as_typed() {
        let plan = plan_of(&[
            "a/",
            "b",
            "--server",
            "python3 s.py {port}",
            "--timeout",
            "0.5",
            "--transport",
            "udp",
            "--jobs",
            "3",
            "--format",
            "junit",
            "--out",
            "o",
        ])
        .unwrap();
        assert_eq!(plan.submissions, [PathBuf::from("a/"), PathBuf::from("b")]);
        assert_eq!(plan.subcommand, "check");
        assert_eq!(
            plan.forwarded,
            [
                "--server=python3 s.py {port}",
                "--timeout=0.5",
                "--transport=udp"
            ]
        );
        assert_eq!((plan.jobs, plan.format), (3, Format::Junit));
        assert_eq!(plan.out, PathBuf::from("o"));
        assert_eq!(plan.fixed_port, None);
    }

    #[test]
    fn clients_go_to_check_client_and_a_fixed_port_is_seen() {
        let plan = plan_of(&["a", "--client", "python3 c.py", "--port", "12000"]).unwrap();
        assert_eq!(plan.subcommand, "check-client");
        assert_eq!(plan.forwarded, ["--client=python3 c.py", "--port=12000"]);
        assert_eq!(plan.fixed_port.as_deref(), Some("12000"));
        let plan = plan_of(&["a", "--server", "x", "--target", "127.0.0.1:12000"]).unwrap();
        assert_eq!(plan.fixed_port.as_deref(), Some("127.0.0.1:12000"));
    }

    /// A lab with `check` only (lab-concurrent).
    #[derive(clap::Parser)]
    #[command(name = "lab-y")]
    enum ServersOnly {
        Check {
            #[command(flatten)]
            target: TargetOptions,
        },
    }

    #[test]
    fn a_lab_with_check_only_grades_servers_and_has_no_client_option() {
        let lab = <ServersOnly as clap::CommandFactory>::command();
        let mut grade = command(&lab);
        let matches = grade
            .try_get_matches_from_mut(["grade", "a", "--server", "s {port}"])
            .unwrap();
        let plan = plan(&grade, &matches);
        assert_eq!((plan.subcommand, plan.fixed_port), ("check", None));
        let error = command(&lab)
            .try_get_matches_from(["grade", "a", "--client", "c"])
            .unwrap_err();
        assert_eq!(error.exit_code(), 2);
    }

    #[test]
    fn mistakes_are_usage_errors() {
        for args in [
            &["a"][..],                                         // neither --server nor --client
            &["--server", "x"],                                 // no folder
            &["a", "--server", "x", "--client", "y"],           // both
            &["a", "--client", "y", "--target", "127.0.0.1:1"], // check's option
            &["a", "--server", "x {port}", "--port", "1"],      // check-client's option
            &["a", "--server", "x {port}", "--timeout", "0"],   // check's own parser
            &["a", "--server", "x {port}", "--jobs", "0"],
        ] {
            let error = plan_of(args)
                .err()
                .unwrap_or_else(|| panic!("{args:?} was accepted"));
            assert_eq!(error.exit_code(), 2, "{args:?}");
        }
    }
}
