//! `rustcache-demo` (`make demo`): the operator's experiment, in under a minute, in a
//! private network + mount namespace that touches nothing on the host.
//!
//! ```text
//! rustcache-demo [--cli PATH]     (as root; PATH: the `rustcache` command, default
//!                                  next to the module, target/release/rustcache)
//! ```
//!
//! The first nameserver is dead (127.0.0.2 reads queries and never answers), the second
//! (127.0.0.3) answers. The same lookups run twice, each in a fresh process: under
//! `hosts: dns` (glibc alone: it waits out the dead server, 5 s, on every lookup of
//! every process) and under `hosts: files rustcache [!UNAVAIL=return] dns` (one
//! process meets the dead server once, milliseconds; every later one finds the answer
//! in the shared cache, microseconds). Then a short table, then `rustcache stats` of the
//! sandbox's cache. The lookups are `getaddrinfo(AF_UNSPEC)` in the testkit probe (this
//! binary re-executed; the call is timed inside the process) and, when curl is
//! installed, curl's `time_namelookup` for a name that resolves to a loopback address.
//!
//! Everything runs through the testkit's [`Sandbox`]: `lo` up in a new network
//! namespace (nothing can leave the machine), the sandbox's `resolv.conf`,
//! `nsswitch.conf`, `hosts` and an empty `rustcache.conf` mounted over `/etc` for the
//! children only, a tmpfs on `/run`, `LD_LIBRARY_PATH` at the built module.

mod lookups;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rustcache_testkit::dns::{Behaviour, ScriptedServer, Zone};
use rustcache_testkit::ns::{module_dir, module_path, Sandbox};
use rustcache_testkit::probe::main_if_probe;

use lookups::{Lookup, LOOKUPS};

/// The dead first nameserver and the answering second one.
const DEAD: &str = "127.0.0.2";
const LIVE: &str = "127.0.0.3";
const WITH_RUSTCACHE: &str = "files rustcache [!UNAVAIL=return] dns";

fn main() -> ExitCode {
    main_if_probe();
    let cli = match parse_args() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("rustcache-demo: {e}\nusage: rustcache-demo [--cli PATH]");
            return ExitCode::from(2);
        }
    };
    let (module, exists) = module_path();
    if !exists || !cli.is_file() {
        eprintln!(
            "rustcache-demo: {} or {} is missing: run `make build` first",
            module.display(),
            cli.display()
        );
        return ExitCode::FAILURE;
    }
    // SAFETY: geteuid takes no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("rustcache-demo: needs root (it creates private namespaces)");
        return ExitCode::FAILURE;
    }
    match Sandbox::run(|sb| demo(sb, &cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rustcache-demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args() -> Result<PathBuf, String> {
    let mut args = std::env::args().skip(1);
    let mut cli = module_dir().join("rustcache");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--cli" => cli = PathBuf::from(args.next().ok_or("--cli needs a path")?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(cli)
}

fn demo(sb: &Sandbox, cli: &std::path::Path) -> Result<(), String> {
    let started = Instant::now();
    // One A record per name, however often it is looked up.
    let mut zone = Zone::new().soa("example.com", 60);
    for (i, l) in LOOKUPS.iter().enumerate() {
        if !LOOKUPS[..i].iter().any(|earlier| earlier.name == l.name) {
            zone = zone.a(l.name, 300, l.addr);
        }
    }
    let start = |addr: &str, zone: Zone, behaviour| {
        let ip = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
        ScriptedServer::start_with(ip, zone, behaviour)
            .map_err(|e| format!("cannot start the scripted server on {addr}: {e}"))
    };
    let _dead = start(DEAD, Zone::new(), Behaviour::Blackhole)?;
    let _live = start(LIVE, zone, Behaviour::Answer)?;
    sb.write_resolv_conf(&format!("nameserver {DEAD}\nnameserver {LIVE}\n"));
    // The host's /etc/rustcache.conf, if any, stays out of the experiment.
    sb.write_etc_file("rustcache.conf", "# rustcache-demo: defaults\n");
    std::fs::create_dir_all(sb.run_dir().join("rustcache"))
        .map_err(|e| format!("cannot create the sandbox's /run/rustcache: {e}"))?;
    println!(
        "sandbox: nameserver {DEAD} (dead: reads queries, never answers), nameserver \
         {LIVE} (answers); default options (timeout 5 s, attempts 2)\n"
    );
    let lookups: Vec<&Lookup> = LOOKUPS.iter().filter(|l| l.available()).collect();
    let mut columns = Vec::new();
    for hosts in ["dns", WITH_RUSTCACHE] {
        println!("hosts: {hosts}");
        sb.write_nsswitch(hosts);
        let times: Vec<Option<Duration>> = lookups
            .iter()
            .map(|l| {
                let took = l.run(sb);
                println!("  {:<44} {}", l.describe(), lookups::show(&took));
                took.ok()
            })
            .collect();
        columns.push(times);
        println!();
    }
    print_table(&lookups, &columns);
    println!("\n$ rustcache stats   (the sandbox's /run/rustcache/0.v3.cache)");
    let out = sb
        .command(cli)
        .arg("stats")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", cli.display()))?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    println!(
        "\n(demo took {:.1} s; nothing outside the sandbox was touched)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn print_table(lookups: &[&Lookup], columns: &[Vec<Option<Duration>>]) {
    println!("| lookup, each in a fresh process | | glibc `dns` | rustcache |");
    println!("|---|---|--:|--:|");
    for (i, lookup) in lookups.iter().enumerate() {
        let cell = |c: usize| {
            columns
                .get(c)
                .and_then(|col| col.get(i).copied().flatten())
                .map_or_else(|| "failed".to_string(), lookups::fmt)
        };
        println!(
            "| {} | {} | {} | {} |",
            lookup.describe(),
            lookup.note,
            cell(0),
            cell(1)
        );
    }
}

impl Lookup {
    fn describe(&self) -> String {
        format!("{} {}", self.how.describe(), self.name)
    }
}
