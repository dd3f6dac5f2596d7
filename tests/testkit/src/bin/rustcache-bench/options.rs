//! The command line.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::BenchError;
use crate::scenario::Scenario;
use crate::system::System;
use crate::workspace_root;

pub const USAGE: &str = "\
usage: rustcache-bench [OPTIONS]

  --scenario NAME    dead-first, steady, dead-first-warm, shared-names, stampede,
                     hit-latency, direct-call, dead-first-learned, fresh-process,
                     miss-in-process, dlopen, memory, module-facts; repeat for
                     several (default: all, in that order)
  --system NAME      glibc-dns, rustcache, nscd, dnsmasq, unbound, floor; repeat
                     for several (default: all). Each scenario runs the ones it
                     applies to; the ratio column compares with floor in
                     hit-latency, direct-call, dlopen and module-facts, else
                     with the first system
  --runs N           dead-first, dead-first-learned, fresh-process, dlopen:
                     fresh processes per system (default 51)
  --slow-runs N      the same for systems that wait out the dead server on every
                     new name: glibc-dns, nscd (default 5)
  --procs N          steady: fresh processes per system (default 20)
  --lookups N        steady and dead-first-warm: lookups per process (default 50)
  --slow-lookups N   dead-first-warm: lookups for the slow systems (default 3)
  --hot-ms MS        hit-latency, direct-call: time spent measuring each name per
                     system (default 500)
  --out PATH         where to write the Markdown report, the chart beside it
                     with .svg (default bench/results/latest.md in the workspace)
  -h, --help         this text

Needs root (private namespaces). See bench/README.md.";

/// The command line, parsed.
#[derive(Debug)]
pub struct Options {
    pub scenarios: Vec<Scenario>,
    pub systems: Vec<System>,
    pub runs: usize,
    pub slow_runs: usize,
    pub procs: usize,
    pub lookups: usize,
    pub slow_lookups: usize,
    pub hot: Duration,
    pub out: PathBuf,
    /// The arguments as given, quoted in the report.
    pub command_line: String,
}

impl Options {
    /// Parses the arguments (`--opt value` or `--opt=value`); `Ok(None)` for `--help`.
    pub fn parse(args: impl Iterator<Item = String>) -> Result<Option<Options>, BenchError> {
        let args: Vec<String> = args.collect();
        let mut opts = Options {
            scenarios: Vec::new(),
            systems: Vec::new(),
            runs: 51,
            slow_runs: 5,
            procs: 20,
            lookups: 50,
            slow_lookups: 3,
            hot: Duration::from_millis(500),
            out: workspace_root()
                .join("bench")
                .join("results")
                .join("latest.md"),
            command_line: std::iter::once("rustcache-bench".to_string())
                .chain(args.iter().cloned())
                .collect::<Vec<_>>()
                .join(" "),
        };
        let mut rest = args.into_iter();
        while let Some(arg) = rest.next() {
            if arg == "-h" || arg == "--help" {
                return Ok(None);
            }
            let (key, inline) = match arg.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (arg.clone(), None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| rest.next())
                    .ok_or_else(|| BenchError::Usage(format!("{key} needs a value")))
            };
            match key.as_str() {
                "--scenario" => opts.scenarios.push(Scenario::parse(&value()?)?),
                "--system" => opts.systems.push(System::parse(&value()?)?),
                "--runs" => opts.runs = count(&key, &value()?, 1)?,
                "--slow-runs" => opts.slow_runs = count(&key, &value()?, 1)?,
                "--procs" => opts.procs = count(&key, &value()?, 1)?,
                "--lookups" => opts.lookups = count(&key, &value()?, 1)?,
                "--slow-lookups" => opts.slow_lookups = count(&key, &value()?, 1)?,
                "--hot-ms" => {
                    let ms = count(&key, &value()?, 10)?;
                    opts.hot = Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX));
                }
                "--out" => opts.out = PathBuf::from(value()?),
                _ => return Err(BenchError::Usage(format!("unknown argument {arg:?}"))),
            }
        }
        if opts.scenarios.is_empty() {
            opts.scenarios = Scenario::ALL.to_vec();
        }
        if opts.systems.is_empty() {
            opts.systems = System::ALL.to_vec();
        }
        opts.scenarios = first_occurrences(opts.scenarios);
        opts.systems = first_occurrences(opts.systems);
        Ok(Some(opts))
    }
}

/// `items` without repeats, each kept where it first appears.
fn first_occurrences<T: PartialEq>(items: Vec<T>) -> Vec<T> {
    let mut kept = Vec::with_capacity(items.len());
    for item in items {
        if !kept.contains(&item) {
            kept.push(item);
        }
    }
    kept
}

/// Parses a count of at least `min`.
fn count(key: &str, text: &str, min: usize) -> Result<usize, BenchError> {
    text.parse::<usize>()
        .ok()
        .filter(|n| *n >= min)
        .ok_or_else(|| BenchError::Usage(format!("{key} needs a number >= {min}, not {text:?}")))
}
