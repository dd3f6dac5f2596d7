//! What one probe process printed and how it ended.

use std::fmt;
use std::process::ExitStatus;
use std::time::Duration;

/// The separator between an operation's echo and its result on a probe's stdout line.
pub const RESULT_SEPARATOR: &str = " => ";

/// The outcome of one probe run: its stdout (one line per operation, see
/// [`crate::probe`]), its stderr (timings, diagnostics), exit status and wall time.
#[derive(Clone, Debug)]
pub struct ProbeOutput {
    /// The operations the probe was given.
    pub ops: Vec<String>,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
    /// How it exited (after the kill, when it timed out).
    pub status: ExitStatus,
    /// True when it ran past the sandbox's probe timeout and was killed.
    pub timed_out: bool,
    /// Wall time from spawn to exit, as seen by the parent.
    pub elapsed: Duration,
}

impl ProbeOutput {
    /// True when the probe exited 0 in time.
    pub fn success(&self) -> bool {
        !self.timed_out && self.status.success()
    }

    /// Panics with the whole output unless the probe exited 0 in time and printed one
    /// line per operation; returns `self` for chaining.
    #[track_caller]
    pub fn expect_ok(&self) -> &Self {
        assert!(
            self.success() && self.lines().len() == self.ops.len(),
            "probe failed:\n{self}"
        );
        self
    }

    /// The stdout lines, each `OP => RESULT`.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// The result part of each stdout line (after ` => `), in operation order.
    pub fn results(&self) -> Vec<&str> {
        self.lines()
            .into_iter()
            .map(|l| l.split_once(RESULT_SEPARATOR).map_or(l, |(_, r)| r))
            .collect()
    }

    /// The result of operation `i`; panics (with the whole output) when it is missing.
    #[track_caller]
    pub fn result(&self, i: usize) -> &str {
        match self.results().get(i) {
            Some(r) => r,
            None => panic!("probe printed no result for operation {i}:\n{self}"),
        }
    }

    /// The per-operation timings printed on stderr by `time` / `--timed`
    /// (`elapsed_us=N op=OP` lines), in order. `elapsed_ns=N op=OP` lines (the
    /// benchmark's C probe, which times calls of a few microseconds) count too.
    pub fn timings(&self) -> Vec<(String, Duration)> {
        self.stderr
            .lines()
            .filter_map(|l| {
                let (rest, unit) = match l.strip_prefix("elapsed_us=") {
                    Some(rest) => (rest, Duration::from_micros(1)),
                    None => (l.strip_prefix("elapsed_ns=")?, Duration::from_nanos(1)),
                };
                let (n, op) = rest.split_once(" op=")?;
                Some((op.to_string(), unit * n.parse().ok()?))
            })
            .collect()
    }
}

impl fmt::Display for ProbeOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "ops: {:?}", self.ops)?;
        writeln!(
            f,
            "status: {}{} after {:?}",
            self.status,
            if self.timed_out {
                " (timed out, killed)"
            } else {
                ""
            },
            self.elapsed
        )?;
        writeln!(f, "--- stdout ---\n{}", self.stdout.trim_end())?;
        write!(f, "--- stderr ---\n{}", self.stderr.trim_end())
    }
}
