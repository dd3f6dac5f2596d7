//! `memory`: the resident memory a system adds to a process that resolves a name.

use std::fs;

use rustcache_testkit::dns::Behaviour;
use rustcache_testkit::ns::{module_path, Sandbox};

use super::catalog::{per_round, rounds_note, LOADING_ROUNDS};
use super::hit::{DUAL_NAME, DUAL_V4, DUAL_V6};
use super::servers::{self, HEALTHY};
use crate::answer::{check_lookups, lookup_limit, progress, zone_of, Expected};
use crate::error::BenchError;
use crate::installed::Installed;
use crate::runner::Runner;
use crate::smaps::Usage;
use crate::system::System;
use crate::table::{at_most, fmt_bytes, median_of, Bound, Check, Row};
use crate::Context;

/// Fresh processes per system. The kernel maps a library's code 64 KiB
/// around each page touched, in windows aligned on the virtual address,
/// which ASLR moves from process to process: a module's resident code
/// varies by up to 64 KiB a window from run to run, so the median needs
/// more than a handful of runs.
const RUNS: usize = 21;
const TOTAL: &str = "RSS added, total";
const PRIVATE: &str = "RSS added, private dirty (not shareable)";
const ANONYMOUS: &str = "RSS added, anonymous (part of private dirty)";
const FILE_CLEAN: &str = "RSS added, clean file pages (shareable)";
const SHARED: &str = "RSS added, shared mappings (cache file, nscd database)";
/// Issue 6: what rustcache may add that no other process can share.
const PRIVATE_BUDGET: f64 = 128.0 * 1024.0;
/// Issue 6: how much more than glibc-dns rustcache may add in all.
const TOTAL_MARGIN: f64 = 256.0 * 1024.0;

pub fn describe() -> String {
    format!(
        "Issue 6: per system, {} fresh runs of the C probe each copy /proc/self/smaps, \
         look `{DUAL_NAME}` up twice with `getaddrinfo(AF_UNSPEC)` (a name one earlier \
         process put in the cache), and copy smaps again; each sample is the difference. \
         rustcache loads the stripped copy `make install` would install. private dirty: \
         `Private_Dirty` of private mappings (heap, written data, relocated pages: what \
         each process pays for itself; written anonymous memory is part of it). clean file \
         pages: code and read-only data, shared by every process mapping the library. \
         shared mappings: `Rss` of `MAP_SHARED` mappings, pages of the host's page cache \
         however many processes map them (smaps_rollup would count them as private in a \
         process that maps them alone). The column on the right is the difference from \
         glibc-dns. Targets: rustcache's private dirty at most {}, its total at most \
         glibc-dns's + {}. {}",
        per_round(RUNS) * LOADING_ROUNDS,
        fmt_bytes(PRIVATE_BUDGET),
        fmt_bytes(TOTAL_MARGIN),
        rounds_note()
    )
}

pub fn memory(system: System, ctx: &Context<'_>) -> Result<Vec<Row>, BenchError> {
    let Some(cprobe) = ctx.cprobe else {
        return Ok(Vec::new());
    };
    let installed = match system {
        System::Rustcache => Some(Installed::strip(&module_path().0)?),
        _ => None,
    };
    Sandbox::run(|sb| {
        let name = Expected::new(DUAL_NAME, DUAL_V4, Some(DUAL_V6));
        let one = std::slice::from_ref(&name);
        let _server = servers::start(HEALTHY, zone_of(one), Behaviour::Answer, false)?;
        let mut prepared = system.prepare(sb, ctx, &[HEALTHY])?;
        if let Some(installed) = &installed {
            sb.set_module_dir(installed.dir());
        }
        let runner = Runner::with_program(sb, &cprobe.path());
        check_lookups(
            &runner.probe(&["gai".to_string(), name.name.clone()], lookup_limit(1))?,
            one,
        )?;
        let (before, after) = (sb.dir().join("smaps.before"), sb.dir().join("smaps.after"));
        let runs = per_round(RUNS);
        let mut added = Vec::with_capacity(runs);
        for i in 0..runs {
            let ops = [
                "mem".to_string(),
                name.name.clone(),
                before.display().to_string(),
                after.display().to_string(),
            ];
            let out = runner.probe(&ops, lookup_limit(2))?;
            check_lookups(&out, one)?;
            let read = |p: &std::path::Path| {
                fs::read_to_string(p)
                    .map_err(|e| BenchError::io(format!("read {}", p.display()), e))
            };
            let after_text = read(&after)?;
            // The row is about the installed file: make sure that is what got mapped.
            if let Some(installed) = &installed {
                if !after_text.contains(&*installed.file().to_string_lossy()) {
                    return Err(BenchError::Probe {
                        what: format!("{} is not mapped", installed.file().display()),
                        output: out,
                    });
                }
            }
            added.push(Usage::parse(&after_text).minus(Usage::parse(&read(&before)?)));
            progress(i, runs);
        }
        prepared.still_running()?;
        let column = |f: fn(&Usage) -> f64| added.iter().map(f).collect::<Vec<f64>>();
        Ok(vec![
            Row::bytes(TOTAL, system, column(|u| u.rss)),
            Row::bytes(PRIVATE, system, column(|u| u.private_dirty)),
            Row::bytes(ANONYMOUS, system, column(|u| u.anonymous)),
            Row::bytes(FILE_CLEAN, system, column(|u| u.file_clean)),
            Row::bytes(SHARED, system, column(|u| u.shared_mappings)),
        ])
    })
}

pub fn checks(rows: &[Row]) -> Vec<Check> {
    let mut checks = Vec::new();
    if let Some(private) = median_of(rows, PRIVATE, System::Rustcache) {
        checks.push(Check::target(
            format!(
                "rustcache: {PRIVATE}, median {}, at most {} (issue 6)",
                fmt_bytes(private),
                fmt_bytes(PRIVATE_BUDGET)
            ),
            private <= PRIVATE_BUDGET,
        ));
    }
    let total = Bound {
        factor: 1.0,
        plus: TOTAL_MARGIN,
        fmt: fmt_bytes,
    };
    checks.extend(at_most(
        rows,
        TOTAL,
        System::Rustcache,
        System::GlibcDns,
        &total,
        "issue 6",
    ));
    checks
}
