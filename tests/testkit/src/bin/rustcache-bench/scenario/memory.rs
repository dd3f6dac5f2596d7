//! `memory`: the resident memory a system adds to a process that resolves a name.

use std::fs;

use rustcache_testkit::dns::Behaviour;
use rustcache_testkit::ns::{touch_every_page, Sandbox};

use super::catalog::{per_round, rounds_note, LOADING_ROUNDS};
use super::hit::{DUAL_NAME, DUAL_V4, DUAL_V6};
use super::servers::{self, HEALTHY};
use crate::answer::{check_lookups, lookup_limit, progress, zone_of, Expected};
use crate::error::BenchError;
use crate::installed::Installed;
use crate::runner::Runner;
use crate::system::System;
use crate::table::{at_most, fmt_bytes, median_of, Bound, Check, Row};
use crate::Context;
use rustcache_testkit::smaps::Usage;

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
/// rustcache's rows again, measured on a cache file none of whose pages any
/// process had touched yet (this scenario's figures before it measured the
/// file in use).
const NEW_FILE: &str = "new cache file";
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
         glibc-dns. rustcache's file is measured as a host that has used it for a while has \
         it, every page touched once by some process (a pass that maps it read-only and \
         reads a byte a page): a page of a tmpfs file that was allocated but never touched \
         is mapped alone, a touched one with up to 15 touched neighbours (the kernel's \
         fault-around, 64 KiB, for read faults on pages in the page cache), so a new file \
         shows less than hosts do; the rows marked `{NEW_FILE}` are rustcache on a file \
         no process had touched (the first {} runs). Targets: rustcache's private dirty \
         at most {}, its total at most glibc-dns's + {}. {}",
        per_round(RUNS) * LOADING_ROUNDS,
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
    let installed = Installed::for_system(system)?;
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
        let mut rows = Vec::new();
        if system == System::Rustcache {
            let added = measure(&runner, &name, &before, &after, installed.as_ref(), runs)?;
            rows.extend(usage_rows(&added, system, &format!(", {NEW_FILE}")));
            touch_every_cache_file(&sb.run_dir().join("rustcache"))?;
        }
        let added = measure(&runner, &name, &before, &after, installed.as_ref(), runs)?;
        prepared.still_running()?;
        rows.extend(usage_rows(&added, system, ""));
        Ok(rows)
    })
}

/// `runs` fresh probe processes, each looking `name` up twice between two copies of
/// its smaps: what each added.
fn measure(
    runner: &Runner,
    name: &Expected,
    before: &std::path::Path,
    after: &std::path::Path,
    installed: Option<&Installed>,
    runs: usize,
) -> Result<Vec<Usage>, BenchError> {
    let one = std::slice::from_ref(name);
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
            fs::read_to_string(p).map_err(|e| BenchError::io(format!("read {}", p.display()), e))
        };
        let after_text = read(after)?;
        // The row is about the installed file: make sure that is what got mapped.
        if let Some(installed) = installed {
            if !after_text.contains(&*installed.file().to_string_lossy()) {
                return Err(BenchError::Probe {
                    what: format!("{} is not mapped", installed.file().display()),
                    output: out,
                });
            }
        }
        added.push(Usage::parse(&after_text).minus(Usage::parse(&read(before)?)));
        progress(i, runs);
    }
    Ok(added)
}

/// The rows of one measurement, each metric's name followed by `suffix`.
fn usage_rows(added: &[Usage], system: System, suffix: &str) -> Vec<Row> {
    let column = |f: fn(&Usage) -> f64| added.iter().map(f).collect::<Vec<f64>>();
    [
        (TOTAL, column(|u| u.rss)),
        (PRIVATE, column(|u| u.private_dirty)),
        (ANONYMOUS, column(|u| u.anonymous)),
        (FILE_CLEAN, column(|u| u.file_clean)),
        (SHARED, column(|u| u.shared_mappings)),
    ]
    .into_iter()
    .map(|(metric, samples)| Row::bytes(&format!("{metric}{suffix}"), system, samples))
    .collect()
}

/// Puts every cache file in `dir` in the page cache (see [`touch_every_page`]).
fn touch_every_cache_file(dir: &std::path::Path) -> Result<(), BenchError> {
    let entries =
        fs::read_dir(dir).map_err(|e| BenchError::io(format!("list {}", dir.display()), e))?;
    for path in entries.flatten().map(|e| e.path()) {
        if path.to_string_lossy().ends_with(".cache") {
            touch_every_page(&path)
                .map_err(|e| BenchError::io(format!("touch {}", path.display()), e))?;
        }
    }
    Ok(())
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
