//! The report's header: where and on what the run happened.

use std::fmt::Write as _;
use std::fs;
use std::process::{Command, Stdio};
use std::time::Instant;

use rustcache_testkit::ns::{module_path, Sandbox};

use crate::answer::PROBE_SLACK;
use crate::cprobe::CProbe;
use crate::error::BenchError;
use crate::floor::FloorModule;
use crate::runner::Runner;
use crate::table::{fmt_time, Summary};
use crate::{workspace_root, Context};

/// Probes run to measure the cost of spawning a probe that resolves nothing.
const BASELINE_RUNS: usize = 21;

/// Where and on what the run happened.
pub struct Environment {
    date: String,
    command_line: String,
    kernel: String,
    glibc: String,
    cpus: String,
    load: String,
    commit: String,
    module: String,
    systems: String,
    skipped: Vec<String>,
    tools: Vec<String>,
    floor: Option<String>,
    /// The libcurl-linked C probe: what it links, or why it was not built.
    libcurl_probe: Option<String>,
    spawn_baseline: Option<Summary>,
}

impl Environment {
    pub fn collect(ctx: &Context<'_>) -> Result<Environment, BenchError> {
        let root = workspace_root();
        let git = |args: &[&str]| run_text(Command::new("git").arg("-C").arg(&root).args(args));
        let commit = match git(&["rev-parse", "--short=12", "HEAD"]) {
            Some(hash) => {
                let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                    .is_some_and(|s| !s.is_empty());
                if dirty {
                    format!("{hash} (plus uncommitted changes)")
                } else {
                    hash
                }
            }
            None => "unknown (not a git checkout?)".to_string(),
        };
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        let model = fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, m)| m.trim().to_string())
            })
            .unwrap_or_else(|| "model unknown".to_string());
        let (module, exists) = module_path();
        let module = match fs::metadata(&module) {
            Ok(meta) if exists => format!("{} ({} bytes)", module.display(), meta.len()),
            _ => format!("{} (missing)", module.display()),
        };
        eprint!("[environment] spawn baseline: ");
        let started = Instant::now();
        let spawn_baseline = Sandbox::run(spawn_baseline)?;
        eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
        let opts = ctx.opts;
        Ok(Environment {
            date: run_text(Command::new("date").arg("-u").arg("+%Y-%m-%d %H:%M:%S UTC"))
                .unwrap_or_else(|| "unknown".to_string()),
            command_line: opts.command_line.clone(),
            kernel: format!(
                "{} {}",
                read_trimmed("/proc/sys/kernel/osrelease"),
                std::env::consts::ARCH
            ),
            glibc: glibc_version(),
            cpus: format!("{cpus} ({model})"),
            load: read_trimmed("/proc/loadavg"),
            commit,
            module,
            systems: opts
                .systems
                .iter()
                .filter(|s| ctx.tools.available(**s))
                .map(|s| format!("{} ({})", s.name(), s.setup()))
                .collect::<Vec<_>>()
                .join(", "),
            skipped: ctx
                .tools
                .skipped()
                .into_iter()
                .map(|(s, why)| format!("{}: {why}", s.name()))
                .collect(),
            tools: ctx.tools.versions(),
            floor: ctx.floor.map(|_| {
                format!(
                    "libnss_floor.so.2 compiled from {}",
                    FloorModule::source().display()
                )
            }),
            libcurl_probe: ctx.cprobe.map(|p| match p.libcurl() {
                Ok((_, library)) => format!(
                    "{} linked against {} (the libcurl rows)",
                    CProbe::source().display(),
                    library.display()
                ),
                Err(why) => format!("not built, its rows are left out: {why}"),
            }),
            spawn_baseline,
        })
    }

    pub fn render(&self) -> String {
        let mut out = String::from("# rustcache benchmark\n\n");
        let baseline = self.spawn_baseline.as_ref().map_or_else(
            || "not measured".to_string(),
            |s| {
                format!(
                    "median {} (p10 {}, p90 {}, n {})",
                    fmt_time(s.median),
                    fmt_time(s.p10),
                    fmt_time(s.p90),
                    s.n
                )
            },
        );
        let tools = if self.tools.is_empty() {
            "none needed".to_string()
        } else {
            self.tools.join("; ")
        };
        let skipped = if self.skipped.is_empty() {
            "none".to_string()
        } else {
            self.skipped.join("; ")
        };
        let mut lines = vec![
            ("date", self.date.as_str()),
            ("command", self.command_line.as_str()),
            ("kernel", self.kernel.as_str()),
            ("glibc", self.glibc.as_str()),
            ("CPUs", self.cpus.as_str()),
            ("load average", self.load.as_str()),
            ("commit", self.commit.as_str()),
            ("module", self.module.as_str()),
            ("systems", self.systems.as_str()),
            ("skipped systems", skipped.as_str()),
            ("tools", tools.as_str()),
        ];
        if let Some(floor) = &self.floor {
            lines.push(("floor", floor.as_str()));
        }
        if let Some(probe) = &self.libcurl_probe {
            lines.push(("libcurl probe", probe.as_str()));
        }
        lines.push(("probe spawn, no lookup", baseline.as_str()));
        for (key, value) in lines {
            let _ = writeln!(out, "- {key}: {value}");
        }
        out
    }
}

/// Times [`BASELINE_RUNS`] probes that resolve nothing: the share of a `process` time
/// that is spawning (fork, the sandbox's mounts, exec, exit) rather than resolving.
fn spawn_baseline(sb: &Sandbox) -> Result<Option<Summary>, BenchError> {
    let runner = Runner::new(sb)?;
    let ops = ["sleep 0".to_string()];
    let mut wall = Vec::new();
    for _ in 0..BASELINE_RUNS {
        let out = runner.probe(&ops, PROBE_SLACK)?;
        if !out.success() {
            return Err(BenchError::Probe {
                what: "a probe that does nothing failed".to_string(),
                output: out,
            });
        }
        wall.push(out.elapsed);
    }
    Ok(Summary::of_durations(&wall))
}

/// The stdout of a command, trimmed, if it ran and exited 0.
fn run_text(cmd: &mut Command) -> Option<String> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn read_trimmed(path: &str) -> String {
    fs::read_to_string(path).map_or_else(|_| "unknown".to_string(), |s| s.trim().to_string())
}

/// The version of the glibc this process runs on.
fn glibc_version() -> String {
    // SAFETY: gnu_get_libc_version takes no arguments and returns a pointer to a
    // static NUL-terminated string.
    let version = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
    version.to_string_lossy().into_owned()
}
