//! `rustcache check`: the configuration in force, and every bad line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use rustcache::config::Sources;

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
