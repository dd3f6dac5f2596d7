//! `rustcache-bench`: rustcache and glibc's own `dns` module measured side by side, in
//! one run, against the same scripted upstream servers.
//!
//! ```text
//! make bench                       # builds the module, then runs every scenario
//! cargo run --release --locked -p rustcache-testkit --bin rustcache-bench -- \
//!     [--scenario NAME]... [--system NAME]... [--runs N] [--slow-runs N] \
//!     [--procs N] [--lookups N] [--slow-lookups N] [--out PATH]
//! ```
//!
//! Needs root: every measurement runs inside a private network + mount namespace
//! ([`Sandbox`]) where scripted servers listen on 127.0.0.x and probe processes see a
//! private `/etc/resolv.conf` and `/etc/nsswitch.conf`. The host's `/etc` is never
//! touched and no packet leaves loopback. The module is loaded from
//! `$RUSTCACHE_MODULE_DIR` (default `target/release`, where `make build` puts it).
//!
//! # Systems and scenarios
//!
//! A *system* is one way for a process to resolve names ([`System`]): `glibc-dns`
//! (`hosts: dns`, glibc's stub resolver) and `rustcache` (`hosts: rustcache`, the
//! module alone, so every answer provably came from it). Every scenario runs once per
//! system, each in a fresh sandbox of its own (new servers, new `/run`), one system
//! after the other, and the results land in one table per scenario:
//!
//! - `dead-first`: `nameserver 127.0.0.2` (blackholed: reads, never answers) then
//!   `nameserver 127.0.0.3` (answers), default options (timeout 5 s, attempts 2). Each
//!   sample is a fresh probe process doing one `getaddrinfo(www.example.com,
//!   AF_UNSPEC)`; measured: the call itself (the probe's `time` prefix) and the process
//!   from spawn to exit. `--runs` samples per system, `--slow-runs` for systems that
//!   wait out the dead server's timeout on every lookup.
//! - `steady`: one healthy server. `--procs` fresh processes, each looking up
//!   `--lookups` names, every name distinct; measured: per-lookup latency and upstream
//!   queries per question (a question is one A or one AAAA need, so two per
//!   `AF_UNSPEC` lookup). rustcache must stay at or under 1.05 (DESIGN.md: extra
//!   queries in a healthy steady state stay under about 5 %).
//! - `dead-first-warm`: the `dead-first` servers, with `--lookups` distinct names in
//!   ONE process (`--slow-lookups` for systems that stall on every lookup): the first
//!   lookup of the process against the later ones, which shows whether the dead server
//!   was learned within the process.
//!
//! Every answer is checked (both addresses, nothing else); a wrong or missing answer
//! stops the run with the probe's whole output.
//!
//! # Output
//!
//! An environment header (date, kernel, glibc, CPUs, commit, module, the cost of
//! spawning a probe that does nothing), then per scenario a Markdown table: `n`
//! samples, median, p10, p90 (linear interpolation between order statistics), min, max,
//! and the ratio to the first system of the run (`--system` order, `glibc-dns` by
//! default): `Nx faster`/`Nx slower` for times (ratio of medians), `xN` (this / first)
//! for query counts. The same text goes to `bench/results/latest.md` (or `--out`).
//! Progress goes to stderr. Exit status: 0; 1 when an answer was wrong, a probe failed
//! or a check did not hold; 2 on bad usage.
//!
//! # Adding a system
//!
//! Add a [`System`] variant: its name, and a [`System::prepare`] arm that writes the
//! sandbox's files and may start a daemon (dnsmasq, unbound, nscd; spawn it with
//! [`Sandbox::spawn_in_mount_ns`] or [`Sandbox::command`] so it sees the sandbox's
//! `/etc` and `/run`, point it at the scenario's upstreams, point the probes'
//! `resolv.conf` at it) and hands it back in [`Prepared`], which stops it when the
//! scenario is over. The scenarios, checks and tables need no change.

use std::fmt::{self, Write as _};
use std::fs::{self, File};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use rustcache_testkit::dns::{Behaviour, ScriptedServer, Zone};
use rustcache_testkit::ns::{module_path, ProbeOutput, Sandbox};
use rustcache_testkit::probe::{main_if_probe, PROBE_FLAG};

const USAGE: &str = "\
usage: rustcache-bench [OPTIONS]

  --scenario NAME    dead-first, steady or dead-first-warm; repeat for several
                     (default: all three, in that order)
  --system NAME      glibc-dns or rustcache; repeat for several; the first one is
                     the reference of the ratio column (default: glibc-dns rustcache)
  --runs N           dead-first: fresh processes per system (default 51)
  --slow-runs N      dead-first: the same for systems that wait out the dead
                     server on every lookup, i.e. glibc-dns (default 5)
  --procs N          steady: fresh processes per system (default 20)
  --lookups N        steady and dead-first-warm: lookups per process (default 50)
  --slow-lookups N   dead-first-warm: lookups for the slow systems (default 3)
  --out PATH         where to write the Markdown report
                     (default bench/results/latest.md in the workspace)
  -h, --help         this text

Needs root (private namespaces). See bench/README.md.";

/// The blackholed first nameserver of the dead-first scenarios.
const DEAD: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// The answering second nameserver of the dead-first scenarios.
const LIVE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
/// The only nameserver of the steady scenario.
const STEADY: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// The name of the dead-first scenario and its addresses.
const WWW: &str = "www.example.com";
const WWW_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const WWW_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
/// TTL of every record served (long enough never to expire during a run).
const TTL: u32 = 300;
/// glibc's worst case per lookup with default options is timeout x attempts = 10 s;
/// a probe gets this much per lookup, plus [`PROBE_SLACK`], before it is killed.
const PER_LOOKUP_LIMIT: Duration = Duration::from_secs(12);
const PROBE_SLACK: Duration = Duration::from_secs(10);
/// Probes run to measure the cost of spawning a probe that resolves nothing.
const BASELINE_RUNS: usize = 21;

fn main() -> ExitCode {
    // The sandbox re-executes this binary as the probe process.
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
            eprintln!("rustcache-bench: a check failed (see the table)");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("rustcache-bench: {e}");
            ExitCode::from(1)
        }
    }
}

/// Runs every selected scenario, prints and writes the report; returns whether every
/// check held.
fn run(opts: &Options) -> Result<bool, BenchError> {
    if opts.systems.contains(&System::Rustcache) {
        let (module, exists) = module_path();
        if !exists {
            return Err(BenchError::ModuleMissing(module));
        }
    }
    let env = Environment::collect(opts)?;
    let mut report = env.render();
    print!("{report}");
    let mut all_passed = true;
    for &scenario in &opts.scenarios {
        let section = scenario.run(opts)?;
        let text = section.render(&opts.systems);
        print!("{text}");
        report.push_str(&text);
        all_passed &= section.checks.iter().all(|c| c.passed);
    }
    if let Some(dir) = opts.out.parent() {
        fs::create_dir_all(dir)
            .map_err(|e| BenchError::io(format!("create {}", dir.display()), e))?;
    }
    fs::write(&opts.out, &report)
        .map_err(|e| BenchError::io(format!("write {}", opts.out.display()), e))?;
    eprintln!("report written to {}", opts.out.display());
    Ok(all_passed)
}

// ---------------------------------------------------------------------------------
// Options

/// The command line.
#[derive(Debug)]
struct Options {
    scenarios: Vec<Scenario>,
    systems: Vec<System>,
    runs: usize,
    slow_runs: usize,
    procs: usize,
    lookups: usize,
    slow_lookups: usize,
    out: PathBuf,
    /// The arguments as given, quoted in the report.
    command_line: String,
}

impl Options {
    /// Parses the arguments (`--opt value` or `--opt=value`); `Ok(None)` for `--help`.
    fn parse(args: impl Iterator<Item = String>) -> Result<Option<Options>, BenchError> {
        let args: Vec<String> = args.collect();
        let mut opts = Options {
            scenarios: Vec::new(),
            systems: Vec::new(),
            runs: 51,
            slow_runs: 5,
            procs: 20,
            lookups: 50,
            slow_lookups: 3,
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

/// The workspace root (two levels above this crate).
fn workspace_root() -> PathBuf {
    let testkit = Path::new(env!("CARGO_MANIFEST_DIR"));
    testkit
        .parent()
        .and_then(Path::parent)
        .unwrap_or(testkit)
        .to_path_buf()
}

// ---------------------------------------------------------------------------------
// Systems

/// One way for a process to resolve names: what the hosts line says, and whatever
/// must run next to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum System {
    /// `hosts: dns`: glibc's stub resolver, no state kept between lookups.
    GlibcDns,
    /// `hosts: rustcache`: the module alone (no `dns` fallback), so every answer
    /// checked is one the module gave.
    Rustcache,
}

impl System {
    const ALL: [System; 2] = [System::GlibcDns, System::Rustcache];

    fn name(self) -> &'static str {
        match self {
            System::GlibcDns => "glibc-dns",
            System::Rustcache => "rustcache",
        }
    }

    fn parse(text: &str) -> Result<System, BenchError> {
        System::ALL
            .into_iter()
            .find(|s| s.name() == text)
            .ok_or_else(|| BenchError::Usage(format!("unknown system {text:?}")))
    }

    /// The hosts line, for the report.
    fn hosts_line(self) -> &'static str {
        match self {
            System::GlibcDns => "dns",
            System::Rustcache => "rustcache",
        }
    }

    /// True for systems that wait out a dead first server on every lookup, which get
    /// the `--slow-*` sample counts in the dead-first scenarios.
    fn stalls_on_dead_server(self) -> bool {
        match self {
            System::GlibcDns => true,
            System::Rustcache => false,
        }
    }

    /// The most upstream queries per question the system may send in the steady
    /// scenario, if it promises a bound.
    fn query_budget(self) -> Option<f64> {
        match self {
            System::GlibcDns => None,
            System::Rustcache => Some(1.05),
        }
    }

    /// Makes the sandbox resolve through this system, the upstream servers being the
    /// ones `resolv_conf` lists.
    fn prepare(self, sb: &Sandbox, resolv_conf: &str) -> Prepared {
        sb.write_resolv_conf(resolv_conf);
        sb.write_nsswitch(self.hosts_line());
        Prepared { daemon: None }
    }
}

/// What a system keeps running during a scenario (a caching daemon, for the systems
/// to come); stopped when dropped.
struct Prepared {
    daemon: Option<Child>,
}

impl Drop for Prepared {
    fn drop(&mut self) {
        if let Some(daemon) = self.daemon.as_mut() {
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
    }
}

// ---------------------------------------------------------------------------------
// Scenarios

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    DeadFirst,
    Steady,
    DeadFirstWarm,
}

impl Scenario {
    const ALL: [Scenario; 3] = [
        Scenario::DeadFirst,
        Scenario::Steady,
        Scenario::DeadFirstWarm,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::DeadFirst => "dead-first",
            Scenario::Steady => "steady",
            Scenario::DeadFirstWarm => "dead-first-warm",
        }
    }

    fn parse(text: &str) -> Result<Scenario, BenchError> {
        Scenario::ALL
            .into_iter()
            .find(|s| s.name() == text)
            .ok_or_else(|| BenchError::Usage(format!("unknown scenario {text:?}")))
    }

    /// The paragraph under the scenario's heading.
    fn describe(self, opts: &Options) -> String {
        match self {
            Scenario::DeadFirst => format!(
                "resolv.conf: `nameserver {DEAD}` (blackholed: reads, never answers), \
                 `nameserver {LIVE}` (answers), default options (timeout 5 s, attempts 2). \
                 Each sample is a fresh process doing one `getaddrinfo({WWW}, AF_UNSPEC)`: \
                 `getaddrinfo` times the call inside the process, `process` the process \
                 from spawn to exit. {} samples per system ({} for systems that wait out \
                 the dead server every time).",
                opts.runs, opts.slow_runs
            ),
            Scenario::Steady => format!(
                "resolv.conf: `nameserver {STEADY}` (healthy). {} fresh processes x {} \
                 `getaddrinfo(AF_UNSPEC)` of distinct names each (every name asked once \
                 per system). A question is one A or one AAAA need (two per lookup); \
                 `queries/question` counts what reached the server.",
                opts.procs, opts.lookups
            ),
            Scenario::DeadFirstWarm => format!(
                "The dead-first servers; ONE process looks up {} distinct names one after \
                 the other ({} for systems that wait out the dead server every time): the \
                 first lookup of the process, then the later ones.",
                opts.lookups, opts.slow_lookups
            ),
        }
    }

    /// Runs the scenario for every system, each in a sandbox of its own.
    fn run(self, opts: &Options) -> Result<Section, BenchError> {
        let mut section = Section {
            scenario: self,
            description: self.describe(opts),
            rows: Vec::new(),
            checks: Vec::new(),
        };
        for &system in &opts.systems {
            eprint!("[{}] {}: ", self.name(), system.name());
            let started = Instant::now();
            let measured = Sandbox::run(|sb| match self {
                Scenario::DeadFirst => dead_first(sb, system, opts),
                Scenario::Steady => steady(sb, system, opts),
                Scenario::DeadFirstWarm => dead_first_warm(sb, system, opts),
            });
            match measured {
                Ok(m) => {
                    eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
                    section.rows.extend(m.rows);
                    section.checks.extend(m.checks);
                }
                Err(e) => {
                    eprintln!("FAILED");
                    return Err(e);
                }
            }
        }
        Ok(section)
    }
}

/// What one system produced in one scenario.
#[derive(Default)]
struct Measured {
    rows: Vec<Row>,
    checks: Vec<Check>,
}

/// The dead-first servers: 127.0.0.2 blackholed, 127.0.0.3 answering from `zone`.
fn dead_first_servers(zone: Zone) -> Result<(ScriptedServer, ScriptedServer), BenchError> {
    let dead = ScriptedServer::start_with(DEAD, Zone::new(), Behaviour::Blackhole)
        .map_err(|e| BenchError::io(format!("start the blackholed server on {DEAD}"), e))?;
    let live = ScriptedServer::start(LIVE, zone)
        .map_err(|e| BenchError::io(format!("start the server on {LIVE}"), e))?;
    dead.set_logging(false);
    live.set_logging(false);
    Ok((dead, live))
}

fn dead_first_resolv_conf() -> String {
    format!("nameserver {DEAD}\nnameserver {LIVE}\n")
}

/// One getaddrinfo(AF_UNSPEC) of `www.example.com` per fresh process.
fn dead_first(sb: &Sandbox, system: System, opts: &Options) -> Result<Measured, BenchError> {
    let expected = Expected::new(WWW, WWW_V4, WWW_V6);
    let (dead, live) = dead_first_servers(zone_of(std::slice::from_ref(&expected)))?;
    let _prepared = system.prepare(sb, &dead_first_resolv_conf());
    let runner = Runner::new(sb)?;
    let samples = if system.stalls_on_dead_server() {
        opts.slow_runs
    } else {
        opts.runs
    };
    let ops = [gai_op(WWW)];
    let (mut gai, mut wall) = (Vec::new(), Vec::new());
    for i in 0..samples {
        let out = runner.probe(&ops, lookup_limit(1))?;
        let timings = check_lookups(&out, std::slice::from_ref(&expected))?;
        gai.extend(timings);
        wall.push(out.elapsed);
        progress(i, samples);
    }
    let questions = 2 * samples;
    Ok(Measured {
        rows: vec![
            Row::time("getaddrinfo", system, gai),
            Row::time("process (spawn to exit)", system, wall),
            per_server_queries(system, &dead, DEAD, "(dead)", questions),
            per_server_queries(system, &live, LIVE, "", questions),
        ],
        checks: Vec::new(),
    })
}

/// `--procs` fresh processes x `--lookups` distinct names against one healthy server.
fn steady(sb: &Sandbox, system: System, opts: &Options) -> Result<Measured, BenchError> {
    let total = opts.procs * opts.lookups;
    let names: Vec<Expected> = (0..total)
        .map(|i| Expected::numbered(&format!("n{i}.steady.example.com"), i))
        .collect();
    let server = ScriptedServer::start(STEADY, zone_of(&names))
        .map_err(|e| BenchError::io(format!("start the server on {STEADY}"), e))?;
    server.set_logging(false);
    let _prepared = system.prepare(sb, &format!("nameserver {STEADY}\n"));
    let runner = Runner::new(sb)?;
    let (mut first, mut later, mut wall) = (Vec::new(), Vec::new(), Vec::new());
    for (p, batch) in names.chunks(opts.lookups).enumerate() {
        let ops: Vec<String> = batch.iter().map(|e| gai_op(&e.name)).collect();
        let out = runner.probe(&ops, lookup_limit(ops.len()))?;
        let mut timings = check_lookups(&out, batch)?.into_iter();
        first.extend(timings.next());
        later.extend(timings);
        wall.push(out.elapsed);
        progress(p, opts.procs);
    }
    let questions = 2 * total;
    let queries = server.count();
    let mut checks = Vec::new();
    if let Some(budget) = system.query_budget() {
        let ratio = queries as f64 / questions as f64;
        checks.push(Check {
            text: format!(
                "{}: {ratio:.3} upstream queries per question ({queries}/{questions}), \
                 budget {budget:.2}",
                system.name()
            ),
            passed: ratio <= budget,
        });
    }
    Ok(Measured {
        rows: vec![
            Row::time("getaddrinfo, 1st in process", system, first),
            Row::time("getaddrinfo, later in process", system, later),
            Row::time(
                &format!("process ({} lookups, spawn to exit)", opts.lookups),
                system,
                wall,
            ),
            Row::queries("queries/question", system, queries, questions),
        ],
        checks,
    })
}

/// `--lookups` distinct names in one process, first nameserver dead.
fn dead_first_warm(sb: &Sandbox, system: System, opts: &Options) -> Result<Measured, BenchError> {
    let lookups = if system.stalls_on_dead_server() {
        opts.slow_lookups
    } else {
        opts.lookups
    };
    let names: Vec<Expected> = (0..lookups)
        .map(|i| Expected::numbered(&format!("w{i}.example.com"), i))
        .collect();
    let (dead, live) = dead_first_servers(zone_of(&names))?;
    let _prepared = system.prepare(sb, &dead_first_resolv_conf());
    let runner = Runner::new(sb)?;
    let ops: Vec<String> = names.iter().map(|e| gai_op(&e.name)).collect();
    let out = runner.probe(&ops, lookup_limit(ops.len()))?;
    let mut timings = check_lookups(&out, &names)?.into_iter();
    let first: Vec<Duration> = timings.next().into_iter().collect();
    let later: Vec<Duration> = timings.collect();
    progress(0, 1);
    let questions = 2 * lookups;
    Ok(Measured {
        rows: vec![
            Row::time("getaddrinfo, 1st in process", system, first),
            Row::time("getaddrinfo, later in process", system, later),
            per_server_queries(system, &dead, DEAD, "(dead)", questions),
            per_server_queries(system, &live, LIVE, "", questions),
        ],
        checks: Vec::new(),
    })
}

/// A zone with the example.com apex, so unknown names get a proper NXDOMAIN.
fn base_zone() -> Zone {
    Zone::new().soa("example.com", 60)
}

/// [`base_zone`] with the A and AAAA records of every name.
fn zone_of(names: &[Expected]) -> Zone {
    names.iter().fold(base_zone(), |z, e| {
        z.a(&e.name, TTL, e.v4).aaaa(&e.name, TTL, e.v6)
    })
}

/// The `queries/question` row of one of the dead-first servers.
fn per_server_queries(
    system: System,
    server: &ScriptedServer,
    addr: IpAddr,
    note: &str,
    questions: usize,
) -> Row {
    let metric = format!("queries/question to {addr} {note}");
    Row::queries(metric.trim_end(), system, server.count(), questions)
}

/// The probe operation that times one `getaddrinfo(name, AF_UNSPEC)`.
fn gai_op(name: &str) -> String {
    format!("time gai {name} unspec")
}

/// How long a probe doing `lookups` lookups may run.
fn lookup_limit(lookups: usize) -> Duration {
    PER_LOOKUP_LIMIT * u32::try_from(lookups).unwrap_or(u32::MAX) + PROBE_SLACK
}

/// A dot on stderr every tenth of the way.
fn progress(done: usize, of: usize) {
    if of < 10 || (done + 1) % (of / 10) == 0 {
        eprint!(".");
    }
}

// ---------------------------------------------------------------------------------
// Probes and answers

/// A name and the two addresses its lookup must return.
struct Expected {
    name: String,
    v4: Ipv4Addr,
    v6: Ipv6Addr,
}

impl Expected {
    fn new(name: &str, v4: Ipv4Addr, v6: Ipv6Addr) -> Self {
        Expected {
            name: name.to_string(),
            v4,
            v6,
        }
    }

    /// Name number `i` of a scenario: addresses from the benchmarking range
    /// 198.18.0.0/15 (RFC 2544) and from 2001:db8:5::/48, distinct per `i`.
    fn numbered(name: &str, i: usize) -> Self {
        let i = u16::try_from(i).unwrap_or(u16::MAX);
        let [hi, lo] = i.to_be_bytes();
        Expected::new(
            name,
            Ipv4Addr::new(198, 18, hi, lo),
            Ipv6Addr::new(0x2001, 0xdb8, 5, 0, 0, 0, 0, i),
        )
    }

    /// True when a probe's `gai` result holds exactly the two addresses, in any order.
    fn matches(&self, result: &str) -> bool {
        let Some(addrs) = result.strip_prefix("ok addrs=") else {
            return false;
        };
        let mut got: Vec<&str> = addrs.split(',').collect();
        got.sort_unstable();
        let mut want = [format!("inet:{}", self.v4), format!("inet6:{}", self.v6)];
        want.sort_unstable();
        got == want
    }
}

/// Checks that a probe exited well and answered every lookup right; returns the
/// per-lookup times, in order.
fn check_lookups(out: &ProbeOutput, expected: &[Expected]) -> Result<Vec<Duration>, BenchError> {
    let fail = |what: String| BenchError::Probe {
        what,
        output: out.clone(),
    };
    if !out.success() {
        return Err(fail("the probe failed or timed out".to_string()));
    }
    let results = out.results();
    for (i, e) in expected.iter().enumerate() {
        match results.get(i) {
            Some(r) if e.matches(r) => {}
            Some(r) => {
                return Err(fail(format!(
                    "wrong answer for {}: {r:?} (expected inet:{} and inet6:{})",
                    e.name, e.v4, e.v6
                )))
            }
            None => return Err(fail(format!("no answer for {}", e.name))),
        }
    }
    let timings: Vec<Duration> = out.timings().into_iter().map(|(_, d)| d).collect();
    if timings.len() != expected.len() {
        return Err(fail(format!(
            "{} timings for {} lookups",
            timings.len(),
            expected.len()
        )));
    }
    Ok(timings)
}

/// Spawns probe processes (this very binary) in a sandbox and times them exactly.
///
/// [`Sandbox::probe`] polls for the child's exit with naps of up to 5 ms, too coarse
/// for process times of a few ms; this runner sleeps on a pidfd instead, which wakes
/// the moment the process exits.
struct Runner<'a> {
    sb: &'a Sandbox,
    exe: PathBuf,
    seq: std::cell::Cell<usize>,
}

impl<'a> Runner<'a> {
    fn new(sb: &'a Sandbox) -> Result<Self, BenchError> {
        let exe = std::env::current_exe()
            .map_err(|e| BenchError::io("find this executable".to_string(), e))?;
        Ok(Runner {
            sb,
            exe,
            seq: std::cell::Cell::new(0),
        })
    }

    /// Runs one probe with `ops`, killing it after `limit`.
    fn probe(&self, ops: &[String], limit: Duration) -> Result<ProbeOutput, BenchError> {
        let seq = self.seq.get();
        self.seq.set(seq + 1);
        let out_path = self.sb.dir().join(format!("bench-{seq}.out"));
        let err_path = self.sb.dir().join(format!("bench-{seq}.err"));
        let io_err = |what: &str| {
            let what = what.to_string();
            move |e| BenchError::io(what, e)
        };
        let stdout = File::create(&out_path).map_err(io_err("create a probe output file"))?;
        let stderr = File::create(&err_path).map_err(io_err("create a probe output file"))?;
        let mut cmd = self.sb.command(&self.exe);
        cmd.arg(PROBE_FLAG)
            .args(ops)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(io_err("spawn a probe"))?;
        let exited = wait_for_exit(&child, limit).map_err(io_err("wait for a probe"));
        let elapsed = started.elapsed();
        let exited = match exited {
            Ok(exited) => exited,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        if !exited {
            let _ = child.kill();
        }
        let status = child.wait().map_err(io_err("reap a probe"))?;
        let read = |p: &Path| {
            let text = fs::read(p).map(|b| String::from_utf8_lossy(&b).into_owned());
            let _ = fs::remove_file(p);
            text
        };
        Ok(ProbeOutput {
            ops: ops.to_vec(),
            stdout: read(&out_path).map_err(io_err("read a probe's stdout"))?,
            stderr: read(&err_path).map_err(io_err("read a probe's stderr"))?,
            status,
            timed_out: !exited,
            elapsed,
        })
    }
}

/// Sleeps until `child` exits (true) or `limit` passes (false), on a pidfd.
fn wait_for_exit(child: &Child, limit: Duration) -> io::Result<bool> {
    let pid = libc::pid_t::try_from(child.id())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    // SAFETY: pidfd_open takes a pid and flags, no pointers. The child is not reaped
    // yet (we hold it), so the pid cannot name another process.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let raw = i32::try_from(raw).map_err(|_| io::Error::other("pidfd out of range"))?;
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor (close-on-exec by default) owned by nobody else.
    let pidfd = unsafe { OwnedFd::from_raw_fd(raw) };
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut pfd = libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `pfd` is one initialised pollfd and we pass a count of one.
        match unsafe { libc::poll(&mut pfd, 1, ms) } {
            n if n > 0 => return Ok(true),
            0 => return Ok(false),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Statistics and the table

/// One line of a scenario's table.
struct Row {
    metric: String,
    system: System,
    value: Value,
}

enum Value {
    /// Times, one per sample.
    Times(Vec<Duration>),
    /// A count over a total (queries over questions).
    Fraction { count: usize, of: usize },
}

impl Row {
    fn time(metric: &str, system: System, samples: Vec<Duration>) -> Row {
        Row {
            metric: metric.to_string(),
            system,
            value: Value::Times(samples),
        }
    }

    fn queries(metric: &str, system: System, count: usize, of: usize) -> Row {
        Row {
            metric: metric.to_string(),
            system,
            value: Value::Fraction { count, of },
        }
    }
}

/// Order statistics of a set of times.
struct Summary {
    n: usize,
    median: f64,
    p10: f64,
    p90: f64,
    min: f64,
    max: f64,
}

impl Summary {
    /// `None` for no samples. Values in milliseconds.
    fn of(samples: &[Duration]) -> Option<Summary> {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        Some(Summary {
            n: ms.len(),
            median: quantile(&ms, 0.5)?,
            p10: quantile(&ms, 0.1)?,
            p90: quantile(&ms, 0.9)?,
            min: *ms.first()?,
            max: *ms.last()?,
        })
    }
}

/// The `q` quantile of sorted values, interpolating linearly between the two nearest
/// order statistics (numpy's default, R's type 7).
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let h = q * last as f64;
    let lo = h.floor() as usize;
    let a = *sorted.get(lo)?;
    let b = *sorted.get(lo + 1).unwrap_or(&a);
    Some(a + (h - lo as f64) * (b - a))
}

/// Milliseconds with three significant digits or so.
fn fmt_ms(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else if ms >= 1.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.3} ms")
    }
}

fn fmt_ratio(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}")
    } else if r >= 10.0 {
        format!("{r:.1}")
    } else {
        format!("{r:.2}")
    }
}

/// A property a scenario promises, with whether it held.
struct Check {
    text: String,
    passed: bool,
}

/// One scenario's results for every system.
struct Section {
    scenario: Scenario,
    description: String,
    rows: Vec<Row>,
    checks: Vec<Check>,
}

impl Section {
    /// The section as Markdown: heading, description, table (rows grouped by metric,
    /// systems in run order), checks.
    fn render(&self, systems: &[System]) -> String {
        let mut metrics: Vec<&str> = Vec::new();
        for row in &self.rows {
            if !metrics.contains(&row.metric.as_str()) {
                metrics.push(&row.metric);
            }
        }
        let versus = format!("vs {}", systems.first().map_or("ref", |s| s.name()));
        let header = [
            "metric", "system", "n", "median", "p10", "p90", "min", "max", &versus,
        ];
        let mut table: Vec<[String; 9]> = Vec::new();
        for metric in metrics {
            let of_metric: Vec<&Row> = systems
                .iter()
                .filter_map(|s| {
                    self.rows
                        .iter()
                        .find(|r| r.metric == metric && r.system == *s)
                })
                .collect();
            let reference = of_metric.first().copied();
            for row in &of_metric {
                if let Some(cells) = cells(row, reference, of_metric.len() > 1) {
                    table.push(cells);
                }
            }
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n## {}\n\n{}\n",
            self.scenario.name(),
            self.description
        );
        out.push_str(&markdown_table(&header, &table));
        for check in &self.checks {
            let verdict = if check.passed { "ok" } else { "FAILED" };
            let _ = writeln!(out, "\ncheck {verdict}: {}", check.text);
        }
        out
    }
}

/// The cells of one row; `None` for a row without samples.
fn cells(row: &Row, reference: Option<&Row>, compared: bool) -> Option<[String; 9]> {
    let dash = || "–".to_string();
    let is_ref = reference.is_some_and(|r| std::ptr::eq(r, row));
    let versus = |text: Option<String>| {
        if !compared {
            dash()
        } else if is_ref {
            "ref".to_string()
        } else {
            text.unwrap_or_else(dash)
        }
    };
    match &row.value {
        Value::Times(samples) => {
            let s = Summary::of(samples)?;
            let ref_median = match reference.map(|r| &r.value) {
                Some(Value::Times(r)) => Summary::of(r).map(|r| r.median),
                _ => None,
            };
            let ratio = ref_median.filter(|_| s.median > 0.0).map(|r| {
                let speedup = r / s.median;
                if speedup >= 1.0 {
                    format!("{}x faster", fmt_ratio(speedup))
                } else {
                    format!("{}x slower", fmt_ratio(1.0 / speedup))
                }
            });
            Some([
                row.metric.clone(),
                row.system.name().to_string(),
                s.n.to_string(),
                fmt_ms(s.median),
                fmt_ms(s.p10),
                fmt_ms(s.p90),
                fmt_ms(s.min),
                fmt_ms(s.max),
                versus(ratio),
            ])
        }
        Value::Fraction { count, of } => {
            let value = *count as f64 / (*of).max(1) as f64;
            let ref_value = match reference.map(|r| &r.value) {
                Some(Value::Fraction { count, of }) => Some(*count as f64 / (*of).max(1) as f64),
                _ => None,
            };
            let ratio = ref_value
                .filter(|r| *r > 0.0)
                .map(|r| format!("x{}", fmt_ratio(value / r)));
            Some([
                row.metric.clone(),
                row.system.name().to_string(),
                of.to_string(),
                format!("{value:.3} ({count}/{of})"),
                dash(),
                dash(),
                dash(),
                dash(),
                versus(ratio),
            ])
        }
    }
}

/// A Markdown table with padded columns (readable as plain text too); the first two
/// columns are left-aligned, the others right-aligned.
fn markdown_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count().max(3));
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; N]| {
        let mut s = String::from("|");
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i < 2 {
                let _ = write!(s, " {cell:<w$} |");
            } else {
                let _ = write!(s, " {cell:>w$} |");
            }
        }
        s.push('\n');
        s
    };
    let rules: [String; N] = std::array::from_fn(|i| {
        let w = widths.get(i).copied().unwrap_or(3);
        if i < 2 {
            "-".repeat(w)
        } else {
            format!("{}:", "-".repeat(w - 1))
        }
    });
    let mut out = line(*header);
    out.push_str(&line(rules.each_ref().map(String::as_str)));
    for row in rows {
        out.push_str(&line(row.each_ref().map(String::as_str)));
    }
    out
}

// ---------------------------------------------------------------------------------
// Environment

/// Where and on what the run happened.
struct Environment {
    date: String,
    command_line: String,
    kernel: String,
    glibc: String,
    cpus: String,
    load: String,
    commit: String,
    module: String,
    systems: String,
    spawn_baseline: Option<Summary>,
}

impl Environment {
    fn collect(opts: &Options) -> Result<Environment, BenchError> {
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
                .map(|s| format!("{} (`hosts: {}`)", s.name(), s.hosts_line()))
                .collect::<Vec<_>>()
                .join(", "),
            spawn_baseline,
        })
    }

    fn render(&self) -> String {
        let mut out = String::from("# rustcache benchmark\n\n");
        let baseline = self.spawn_baseline.as_ref().map_or_else(
            || "not measured".to_string(),
            |s| {
                format!(
                    "median {} (p10 {}, p90 {}, n {})",
                    fmt_ms(s.median),
                    fmt_ms(s.p10),
                    fmt_ms(s.p90),
                    s.n
                )
            },
        );
        for (key, value) in [
            ("date", self.date.as_str()),
            ("command", self.command_line.as_str()),
            ("kernel", self.kernel.as_str()),
            ("glibc", self.glibc.as_str()),
            ("CPUs", self.cpus.as_str()),
            ("load average", self.load.as_str()),
            ("commit", self.commit.as_str()),
            ("module", self.module.as_str()),
            ("systems", self.systems.as_str()),
            ("probe spawn, no lookup", baseline.as_str()),
        ] {
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
    Ok(Summary::of(&wall))
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

// ---------------------------------------------------------------------------------
// Errors

/// Why a run stopped.
#[derive(Debug)]
enum BenchError {
    /// The command line is wrong.
    Usage(String),
    /// `libnss_rustcache.so.2` is not where probes would load it from.
    ModuleMissing(PathBuf),
    /// A system call or file operation failed.
    Io { what: String, source: io::Error },
    /// A probe failed, timed out or answered wrong.
    Probe { what: String, output: ProbeOutput },
}

impl BenchError {
    fn io(what: String, source: io::Error) -> BenchError {
        BenchError::Io { what, source }
    }
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Usage(msg) => f.write_str(msg),
            BenchError::ModuleMissing(path) => write!(
                f,
                "{} does not exist: run `make build` first (or set RUSTCACHE_MODULE_DIR)",
                path.display()
            ),
            BenchError::Io { what, source } => write!(f, "cannot {what}: {source}"),
            BenchError::Probe { what, output } => write!(f, "{what}\n{output}"),
        }
    }
}

impl std::error::Error for BenchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BenchError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
