//! `rustcache-bench`: rustcache measured side by side with glibc's own `dns` module,
//! nscd, dnsmasq, unbound and a do-nothing "floor" NSS module, in one run, against the
//! same scripted upstream servers.
//!
//! ```text
//! make bench                       # builds the module, then runs every scenario
//! cargo run --release --locked -p rustcache-testkit --bin rustcache-bench -- \
//!     [--scenario NAME]... [--system NAME]... [--runs N] [--slow-runs N] \
//!     [--procs N] [--lookups N] [--slow-lookups N] [--hot-ms MS] [--out PATH]
//! ```
//!
//! Needs root: every measurement runs inside a private network + mount namespace
//! ([`Sandbox`](rustcache_testkit::ns::Sandbox)) where scripted servers listen on
//! 127.0.0.x, daemons run with configuration files from the sandbox directory, and
//! probe processes see a private `/etc/resolv.conf`, `/etc/nsswitch.conf` and `/run`.
//! The host's `/etc` is never touched and no packet leaves loopback. The module is
//! loaded from `$RUSTCACHE_MODULE_DIR` (default `target/release`, where `make build`
//! puts it).
//!
//! # Systems and scenarios
//!
//! A *system* ([`System`]) is one way for a process to resolve names: `glibc-dns`
//! (`hosts: dns`), `rustcache` (`hosts: rustcache`, the module alone), `nscd`,
//! `dnsmasq` and `unbound` (caching daemons started inside the sandbox) and `floor`
//! (`hosts: floor`, a C module built by the bench from `bench/floor/nss_floor.c` that
//! answers two fixed names instantly). A system whose program is not installed is
//! skipped, and the report says which Debian package provides it.
//!
//! A *scenario* ([`Scenario`]) runs once per system it applies to, each time in a fresh
//! sandbox (new servers, new `/run`), one system after the other, and yields one table:
//! `dead-first`, `steady`, `dead-first-warm` (the dead-nameserver and steady-state
//! figures of issue 2), `shared-names`, `stampede`, `hit-latency`, `direct-call` and
//! `dead-first-learned` (the acceptance figures of issue 3), `fresh-process`,
//! `miss-in-process`, `dlopen`, `memory` and `module-facts` (what loading the module
//! costs a process, issue 6; their fresh processes are a C program,
//! [`cprobe`], so that nothing the module needs is loaded before it). bench/README.md
//! describes every one, how each system is set up, and how to read the tables.
//!
//! Every answer is checked (exactly the name's addresses); a wrong or missing answer
//! stops the run with the probe's whole output. Promises are checked under the tables:
//! properties (query counts) as `check ok` / `check FAILED`, performance and size
//! targets as `check ok` / `check missed` ([`table::CheckKind`]).
//!
//! # Output
//!
//! An environment header (date, kernel, glibc, CPUs, commit, module, tool versions,
//! skipped systems, the cost of spawning a probe that does nothing), then per scenario
//! a Markdown table: `n` samples, median, p10, p90 (linear interpolation between order
//! statistics), min, max, and the ratio to the scenario's reference system. The same
//! text goes to `bench/results/latest.md` (or `--out`), and an SVG chart of the
//! fresh-process and hit-latency distributions ([`chart`]) beside it (`latest.svg`).
//! Progress goes to stderr. Exit status: 0; 1 when an answer was wrong, a probe or
//! daemon failed or a property check failed (a missed target does not change it); 2 on
//! bad usage.
//!
//! # Adding a system
//!
//! Add a [`System`] variant: its name, its hosts line, the program it needs, and a
//! [`System::prepare`] arm that writes the sandbox's files and may start a daemon
//! ([`daemon`]). Then list it in the scenarios it applies to ([`Scenario::systems`]).

mod answer;
mod bootstrap;
mod chart;
mod child;
mod compile;
mod cprobe;
mod daemon;
mod environment;
mod error;
mod floor;
mod installed;
mod options;
mod runner;
mod scenario;
mod system;
mod table;
mod tools;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rustcache_testkit::ns::module_path;
use rustcache_testkit::probe::main_if_probe;

use cprobe::CProbe;
use environment::Environment;
use error::BenchError;
use floor::FloorModule;
use options::{Options, USAGE};
use scenario::Scenario;
use system::System;
use table::Check;
use tools::Availability;

fn main() -> ExitCode {
    // The runner re-executes this binary as its probe processes.
    child::main_if_child();
    main_if_probe();
    let opts = match Options::parse(std::env::args().skip(1)) {
        Ok(Some(opts)) => opts,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("rustcache-bench: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("rustcache-bench: a check failed (see the tables)");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("rustcache-bench: {e}");
            ExitCode::from(1)
        }
    }
}

/// What every scenario needs besides its own options: the programs found and the
/// floor module, if built.
pub struct Context<'a> {
    pub opts: &'a Options,
    pub tools: &'a Availability,
    pub floor: Option<&'a FloorModule>,
    /// The C probe, when a C compiler was found.
    pub cprobe: Option<&'a CProbe>,
}

impl Context<'_> {
    /// The systems `scenario` runs, in `--system` order: those it applies to, minus the
    /// ones whose program is missing.
    fn systems_for(&self, scenario: Scenario) -> Vec<System> {
        self.opts
            .systems
            .iter()
            .copied()
            .filter(|s| scenario.systems().contains(s) && self.tools.available(*s))
            .collect()
    }
}

/// Runs every selected scenario, prints and writes the report; returns whether every
/// check held.
fn run(opts: &Options) -> Result<bool, BenchError> {
    let tools = Availability::probe(&opts.systems);
    let runs_any = |system: System| {
        tools.available(system)
            && opts
                .scenarios
                .iter()
                .any(|sc| sc.systems().contains(&system))
    };
    if runs_any(System::Rustcache) {
        let (module, exists) = module_path();
        if !exists {
            return Err(BenchError::ModuleMissing(module));
        }
    }
    let floor = match tools.program(System::Floor) {
        Some(cc) if runs_any(System::Floor) => Some(FloorModule::build(cc)?),
        _ => None,
    };
    let cprobe = match CProbe::compiler() {
        Some(cc) if opts.scenarios.iter().any(|s| s.needs_c_probe()) => Some(CProbe::build(&cc)?),
        _ => None,
    };
    let ctx = Context {
        opts,
        tools: &tools,
        floor: floor.as_ref(),
        cprobe: cprobe.as_ref(),
    };
    let env = Environment::collect(&ctx)?;
    let mut report = env.render();
    print!("{report}");
    let mut all_passed = true;
    let mut sections = Vec::new();
    for &scenario in &opts.scenarios {
        let section = scenario.run(&ctx)?;
        let text = section.render(&opts.systems);
        print!("{text}");
        report.push_str(&text);
        all_passed &= section.checks.iter().all(Check::acceptable);
        sections.push(section);
    }
    let chart_path = opts.out.with_extension("svg");
    let chart = chart::render(&sections, &opts.systems);
    if chart.is_some() {
        let name = chart_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        let text = format!(
            "\n## Chart\n\nLatency distributions of the fresh-process and hit-latency rows \
             (log scale): [{name}]({name})\n\n![latency distributions]({name})\n"
        );
        print!("{text}");
        report.push_str(&text);
    }
    if let Some(dir) = opts.out.parent() {
        fs::create_dir_all(dir)
            .map_err(|e| BenchError::io(format!("create {}", dir.display()), e))?;
    }
    fs::write(&opts.out, &report)
        .map_err(|e| BenchError::io(format!("write {}", opts.out.display()), e))?;
    if let Some(svg) = chart {
        fs::write(&chart_path, svg)
            .map_err(|e| BenchError::io(format!("write {}", chart_path.display()), e))?;
        eprintln!("chart written to {}", chart_path.display());
    }
    eprintln!("report written to {}", opts.out.display());
    Ok(all_passed)
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    let testkit = Path::new(env!("CARGO_MANIFEST_DIR"));
    testkit
        .parent()
        .and_then(Path::parent)
        .unwrap_or(testkit)
        .to_path_buf()
}
