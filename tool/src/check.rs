//! `rustcache check`: the configuration in force, and every bad line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use rustcache::cache::{open_existing, Failure, MapError, NoCache, Problem};
use rustcache::config::{Config, Sources, NO_EFFECT};

use crate::files;

pub fn run(resolv_conf: Option<PathBuf>, config: Option<PathBuf>) -> Result<ExitCode, String> {
    let mut sources = Sources::from_environment();
    if let Some(path) = config {
        sources.rustcache_conf = path;
    }
    if let Some(path) = resolv_conf {
        sources.resolv_conf = path;
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
    let inert = no_effect_options(&sources);
    if !inert.is_empty() {
        let _ = writeln!(
            out,
            "no effect      {} (glibc options rustcache accepts and does not act on)",
            inert.join(" ")
        );
    }
    let _ = writeln!(
        out,
        "deadline       {} ms per lookup",
        config.deadline().as_millis()
    );
    for line in config.routing.lines() {
        let _ = writeln!(out, "route          {line}");
    }
    for line in cache_status(&config) {
        let _ = writeln!(out, "{line}");
    }
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

/// The options of resolv.conf's `options` lines and of `RES_OPTIONS` that
/// glibc knows and rustcache accepts without acting on them (`use-vc`,
/// `no-aaaa`, ...), each once, in the order met.
fn no_effect_options(sources: &Sources) -> Vec<String> {
    let text = std::fs::read_to_string(&sources.resolv_conf).unwrap_or_default();
    let lines = text
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("options"))
        .filter(|rest| rest.starts_with(char::is_whitespace));
    let env = sources.res_options.as_ref().and_then(|v| v.to_str());
    let mut found: Vec<String> = Vec::new();
    for word in lines.chain(env).flat_map(str::split_whitespace) {
        if NO_EFFECT.contains(&word) && !found.iter().any(|f| f == word) {
            found.push(word.to_owned());
        }
    }
    found
}

/// The `cache` lines: the file this user's processes use, or why they run
/// without one (found as the module finds it, without creating anything),
/// why root's file is not read when it exists and fails a check, and this
/// user's files of other releases (after an upgrade).
fn cache_status(config: &Config) -> Vec<String> {
    if !config.cache.enabled {
        return vec![format!("cache          none: {}", NoCache::Disabled)];
    }
    let uid = files::effective_uid();
    let mut lines = vec![match files::places(config, uid).open_existing(false) {
        Ok((_, path)) => format!("cache          {}", path.display()),
        Err(why) if not_created_yet(&why) => {
            format!("cache          not created yet (a lookup creates it): {why}")
        }
        Err(why) => format!("cache          none, lookups run uncached: {why}"),
    }];
    if uid != 0 {
        let root = files::places(config, 0).primary();
        match open_existing(&root, 0, false) {
            Err(MapError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => lines.push(format!("root's cache   {}: {e}", root.display())),
            Ok(_) => lines.push(format!("root's cache   {} (read)", root.display())),
        }
    }
    for path in files::other_releases(config, uid) {
        lines.push(format!(
            "other release  {}: used by processes started before an upgrade \
             until the next boot (rustcache flush removes it: they start a new one)",
            path.display()
        ));
    }
    lines
}

/// Whether every place tried merely has no file yet.
fn not_created_yet(why: &NoCache) -> bool {
    let missing = |f: &Failure| f.problem == Problem::Os(libc::ENOENT);
    matches!(why, NoCache::Failed { primary, fallback } if missing(primary) && fallback.as_ref().is_none_or(missing))
}
