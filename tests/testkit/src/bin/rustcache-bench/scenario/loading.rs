//! `dlopen`: what loading the module costs a fresh process, measured apart from the
//! lookup: glibc's NSS loader `dlopen`s the module (RTLD_LAZY, local scope) inside the
//! first lookup, then calls it; the first call does the module's own set-up
//! (configuration files, the cache file's mapping), the second is a plain hit.

use rustcache_testkit::dns::Behaviour;
use rustcache_testkit::ns::{ProbeOutput, Sandbox};

use super::catalog::{per_round, rounds_note, LOADING_ROUNDS};
use super::hit::{DUAL_NAME, DUAL_V4, DUAL_V6};
use super::servers::{self, HEALTHY};
use crate::answer::{check_lookups, check_results, lookup_limit, progress, zone_of, Expected};
use crate::error::BenchError;
use crate::installed::Installed;
use crate::options::Options;
use crate::runner::Runner;
use crate::system::System;
use crate::table::{find, Check, Row};
use crate::Context;

const DLOPEN: &str = "dlopen (RTLD_LAZY), fresh process";
const FIRST: &str = "gethostbyname4_r, first call after dlopen (cached name)";
const SECOND: &str = "gethostbyname4_r, second call";
const LIBGCC: &str = "processes where dlopen loaded libgcc_s.so.1";

pub fn describe(opts: &Options) -> String {
    format!(
        "Issue 6: per module, {} fresh runs of the C probe (linking only libc, so nothing \
         the module needs is loaded before) each `dlopen`s `libnss_MODULE.so.2` with \
         RTLD_LAZY as glibc's NSS loader does (rustcache, linked with `-z now`, binds \
         every symbol at load all the same; rustcache: the stripped copy \
         `make install` would install), looks for `libgcc_s.so.1` in /proc/self/maps, \
         then calls `_nss_MODULE_gethostbyname4_r({DUAL_NAME})` twice (a 64 KiB buffer, \
         ttlp set). One earlier process put the name in rustcache's shared cache, so the \
         first call is the module's first-call work plus a hit. Target: dlopen of \
         rustcache loads no libgcc_s.so.1. {}",
        per_round(opts.runs) * LOADING_ROUNDS,
        rounds_note()
    )
}

/// The timings one probe printed: dlopen, first and second call, libgcc_s loaded.
struct Loaded {
    dlopen: f64,
    first: f64,
    second: f64,
    libgcc_s: bool,
}

fn parse(out: &ProbeOutput) -> Result<Loaded, BenchError> {
    let line = out.stderr.lines().find(|l| l.starts_with("dlopen_ns="));
    let field = |key: &str| -> Option<&str> {
        line?
            .split(' ')
            .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
    };
    let ns = |key| field(key).and_then(|v| v.parse::<f64>().ok());
    match (
        ns("dlopen_ns"),
        ns("first_ns"),
        ns("second_ns"),
        field("libgcc_s"),
    ) {
        (Some(dlopen), Some(first), Some(second), Some(gcc)) => Ok(Loaded {
            dlopen,
            first,
            second,
            libgcc_s: gcc == "yes",
        }),
        _ => Err(BenchError::Probe {
            what: "no readable dlopen_ns line".to_string(),
            output: out.clone(),
        }),
    }
}

pub fn dlopen(system: System, ctx: &Context<'_>) -> Result<Vec<Row>, BenchError> {
    let (Some(cprobe), Some(module)) = (ctx.cprobe, system.module()) else {
        return Ok(Vec::new());
    };
    let installed = Installed::for_system(system)?;
    let runs = per_round(ctx.opts.runs);
    Sandbox::run(|sb| {
        let name = Expected::new(DUAL_NAME, DUAL_V4, Some(DUAL_V6));
        let _server = servers::start(
            HEALTHY,
            zone_of(std::slice::from_ref(&name)),
            Behaviour::Answer,
            false,
        )?;
        let _prepared = system.prepare(sb, ctx, &[HEALTHY])?;
        if let Some(installed) = &installed {
            sb.set_module_dir(installed.dir());
        }
        let runner = Runner::with_program(sb, &cprobe.path());
        let fill = runner.probe(&["gai".to_string(), name.name.clone()], lookup_limit(1))?;
        check_lookups(&fill, std::slice::from_ref(&name))?;
        let ops = ["dlopen".to_string(), module.to_string(), name.name.clone()];
        let mut loaded = Vec::with_capacity(runs);
        for i in 0..runs {
            let out = runner.probe(&ops, lookup_limit(1))?;
            check_results(&out, std::slice::from_ref(&name))?;
            loaded.push(parse(&out)?);
            progress(i, runs);
        }
        let times = |f: fn(&Loaded) -> f64| loaded.iter().map(f).collect::<Vec<f64>>();
        Ok(vec![
            Row::nanos(DLOPEN, system, times(|l| l.dlopen)),
            Row::nanos(FIRST, system, times(|l| l.first)),
            Row::nanos(SECOND, system, times(|l| l.second)),
            Row::count(
                LIBGCC,
                system,
                loaded.iter().filter(|l| l.libgcc_s).count(),
                runs,
            ),
        ])
    })
}

pub fn checks(rows: &[Row]) -> Vec<Check> {
    let Some(loaded) = find(rows, LIBGCC, System::Rustcache).and_then(Row::counted) else {
        return Vec::new();
    };
    vec![Check::target(
        format!(
            "rustcache: dlopen loaded libgcc_s.so.1 in {loaded} fresh processes, target none \
             (issue 6)"
        ),
        loaded == 0,
    )]
}
