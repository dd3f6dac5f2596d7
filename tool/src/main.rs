//! The `rustcache` command: check the configuration, enable or disable the
//! module on the hosts line, and resolve a name the way the module does.
//!
//! Exit codes: 0 success, 1 a problem was found (bad configuration line,
//! name not resolved), 2 usage error or the command could not do its job.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rustcache::cache::{file_path, open_existing, Stat};
use rustcache::clock::now_ms;
use rustcache::config::Sources;
use rustcache::upstream::HealthTable;
use rustcache::{nsswitch, Family, Outcome, Resolver};

const USAGE: &str = "\
usage: rustcache <command> [options]

commands:
  check [--resolv-conf PATH] [--config PATH]
        show the configuration the module uses and report every bad line
  enable [--nsswitch PATH]
        put rustcache on the hosts line of nsswitch.conf (idempotent)
  disable [--nsswitch PATH]
        take rustcache off the hosts line
  stats [--uid N]
        show the shared cache of user N (default: yours): counters,
        entries, upstream server health
  flush [--uid N | --all]
        invalidate every entry of user N's cache (default: yours);
        --all (root) flushes every user's cache
  resolve NAME...
        look NAME up the way the module does (cache included), print the answer
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match command.as_str() {
        "check" => check(rest),
        "enable" => edit_nsswitch(rest, true),
        "disable" => edit_nsswitch(rest, false),
        "resolve" => resolve(rest),
        "stats" => stats(rest),
        "flush" => flush(rest),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!("unknown command `{other}`\n{USAGE}")),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("rustcache: {message}");
            ExitCode::from(2)
        }
    }
}

/// Reads `--flag PATH` pairs, allowing only the flags in `allowed`.
fn path_flags(args: &[String], allowed: &[&str]) -> Result<Vec<(String, PathBuf)>, String> {
    let mut out = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if !allowed.contains(&arg.as_str()) {
            return Err(format!("unexpected argument `{arg}`\n{USAGE}"));
        }
        let value = iter.next().ok_or(format!("{arg} needs a path"))?;
        out.push((arg.clone(), PathBuf::from(value)));
    }
    Ok(out)
}

fn check(args: &[String]) -> Result<ExitCode, String> {
    let mut sources = Sources::from_environment();
    for (name, path) in path_flags(args, &["--resolv-conf", "--config"])? {
        if name == "--config" {
            sources.rustcache_conf = path;
        } else {
            sources.resolv_conf = path;
        }
    }
    let (config, errors) = sources.load_with_diagnostics();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "resolv.conf:   {}", sources.resolv_conf.display());
    let _ = writeln!(out, "rustcache.conf: {}", sources.rustcache_conf.display());
    for server in &config.servers {
        let _ = writeln!(out, "nameserver     {server}");
    }
    let _ = writeln!(out, "search         {}", config.search.join(" "));
    let o = &config.options;
    let _ = writeln!(
        out,
        "options        ndots:{} timeout:{} attempts:{}{}{}",
        o.ndots,
        o.timeout.as_secs(),
        o.attempts,
        if o.rotate { " rotate" } else { "" },
        if o.no_tld_query { " no-tld-query" } else { "" }
    );
    let _ = writeln!(
        out,
        "deadline       {} ms per lookup",
        config.deadline().as_millis()
    );
    if errors.is_empty() {
        let _ = writeln!(out, "ok: no problems found");
        return Ok(ExitCode::SUCCESS);
    }
    drop(out);
    for error in &errors {
        eprintln!("{error}");
    }
    eprintln!(
        "{} problem(s); those lines are ignored and the module keeps resolving with the rest",
        errors.len()
    );
    Ok(ExitCode::from(1))
}

fn edit_nsswitch(args: &[String], on: bool) -> Result<ExitCode, String> {
    let given = path_flags(args, &["--nsswitch"])?
        .pop()
        .map_or_else(|| PathBuf::from("/etc/nsswitch.conf"), |(_, path)| path);
    // A symlinked nsswitch.conf is edited where it points, and stays a
    // link; one managed by authselect is not ours to edit.
    let path = std::fs::canonicalize(&given).unwrap_or_else(|_| given.clone());
    if path.starts_with("/etc/authselect") {
        return Err(format!(
            "{} is managed by authselect ({}); add rustcache to the hosts line of your \
             authselect profile instead, see nss-rustcache(8)",
            given.display(),
            path.display()
        ));
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let edited = if on {
        nsswitch::enable(&text)
    } else {
        nsswitch::disable(&text)
    };
    match edited {
        None => println!(
            "{}: already {}",
            path.display(),
            if on { "enabled" } else { "disabled" }
        ),
        Some(new_text) => {
            write_atomically(&path, &new_text).map_err(|e| format!("{}: {e}", path.display()))?;
            let line = new_text
                .lines()
                .find(|l| l.starts_with("hosts:"))
                .unwrap_or("");
            println!("{}: {line}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Replaces a file by renaming a complete copy over it, keeping its mode,
/// so a reader never sees half a file. A file that is a mount point (a
/// bind mount, as containers have for files under /etc) cannot be renamed
/// over; it is rewritten in place instead.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("rustcache-tmp");
    std::fs::write(&tmp, text)?;
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(&tmp, meta.permissions())?;
    }
    match std::fs::rename(&tmp, path) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY) | Some(libc::EXDEV)) => {
            let _ = std::fs::remove_file(&tmp);
            std::fs::write(path, text)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn resolve(names: &[String]) -> Result<ExitCode, String> {
    if names.is_empty() {
        return Err("resolve needs at least one name".into());
    }
    let mut code = ExitCode::SUCCESS;
    for name in names {
        match Resolver::global().lookup_host_owned(name.as_bytes(), Family::Any) {
            Outcome::Found(a) => {
                let addrs: Vec<String> =
                    a.v4.iter()
                        .map(ToString::to_string)
                        .chain(a.v6.iter().map(ToString::to_string))
                        .collect();
                let aliases = if a.aliases.is_empty() {
                    String::new()
                } else {
                    format!(" (aliases {})", a.aliases.join(" "))
                };
                println!(
                    "{name}: {} ttl {}{aliases}: {}",
                    a.name,
                    a.ttl,
                    addrs.join(" ")
                );
            }
            other => {
                println!("{name}: {}", describe(&other));
                code = ExitCode::from(1);
            }
        }
    }
    Ok(code)
}

fn describe<T>(outcome: &Outcome<T>) -> &'static str {
    match outcome {
        Outcome::Found(_) => "found",
        Outcome::NotFound => "no such name (NXDOMAIN or invalid name)",
        Outcome::NoData => "the name has no addresses",
        Outcome::TryAgain => "no answer from the upstream servers in time",
        Outcome::Unavailable => "rustcache cannot resolve here (no usable server)",
    }
}

/// Reads `--uid N` (default: the effective uid) and `--all`.
fn uid_flags(args: &[String], allow_all: bool) -> Result<(Option<u32>, bool), String> {
    let mut uid = None;
    let mut all = false;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--uid" => {
                let value = iter.next().ok_or("--uid needs a number")?;
                uid = Some(
                    value
                        .parse()
                        .map_err(|_| format!("--uid: `{value}` is not a uid"))?,
                );
            }
            "--all" if allow_all => all = true,
            other => return Err(format!("unexpected argument `{other}`\n{USAGE}")),
        }
    }
    Ok((uid, all))
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn stats(args: &[String]) -> Result<ExitCode, String> {
    let (uid, _) = uid_flags(args, false)?;
    let uid = uid.unwrap_or_else(effective_uid);
    let config = Sources::from_environment().load_with_diagnostics().0;
    let path = file_path(&config.cache.dir, uid);
    let mapping =
        open_existing(&path, uid, false).map_err(|e| format!("{}: {e}", path.display()))?;
    let table = mapping.table();
    let now = now_ms();
    let (fresh, expired) = table.occupancy(now);
    println!("file             {}", path.display());
    println!(
        "slots            {} ({} KiB), generation {}, created {} s ago",
        table.slot_count(),
        table.slot_count() / 2,
        table.generation(),
        now.saturating_sub(table.created_ms()) / 1000
    );
    println!("entries          {fresh} fresh, {expired} expired");
    for stat in Stat::ALL {
        println!("{:<17}{}", stat.name(), table.stat(stat));
    }
    let health = HealthTable::new(table.health_slots());
    for server in &config.servers {
        match health.find(server).map(|h| (h.snapshot(), h.state(now))) {
            Some((s, state)) => println!(
                "server {server:<22} {state:?}, srtt {:.1} ms, rttvar {:.1} ms, \
                 {} timeouts in a row, {} in all",
                f64::from(s.srtt_us) / 1000.0,
                f64::from(s.rttvar_us) / 1000.0,
                s.timeouts,
                s.timeouts_total
            ),
            None => println!("server {server:<22} not asked yet"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn flush(args: &[String]) -> Result<ExitCode, String> {
    let (uid, all) = uid_flags(args, true)?;
    let config = Sources::from_environment().load_with_diagnostics().0;
    let uids: Vec<u32> = if all {
        let entries = std::fs::read_dir(&config.cache.dir)
            .map_err(|e| format!("{}: {e}", config.cache.dir.display()))?;
        entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".cache")?.parse().ok())
            .collect()
    } else {
        vec![uid.unwrap_or_else(effective_uid)]
    };
    let mut code = ExitCode::SUCCESS;
    for uid in uids {
        let path = file_path(&config.cache.dir, uid);
        match open_existing(&path, uid, true) {
            Ok(mapping) => {
                mapping.table().flush();
                println!("{}: flushed", path.display());
            }
            Err(e) => {
                eprintln!("rustcache: {}: {e}", path.display());
                code = ExitCode::from(1);
            }
        }
    }
    Ok(code)
}
