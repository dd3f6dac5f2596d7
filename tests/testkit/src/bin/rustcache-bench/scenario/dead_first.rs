//! The dead-nameserver scenarios: `dead-first` (fresh processes), `dead-first-warm`
//! (one long-lived process) and `dead-first-learned` (fresh processes after another
//! process met the dead server).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use rustcache_testkit::dns::{Behaviour, ScriptedServer};
use rustcache_testkit::ns::Sandbox;

use super::servers::{self, per_server_queries, DEAD, LIVE};
use crate::answer::{
    check_lookups, gai_op, lookup_limit, lookups_in_one_process, progress, zone_of, Expected,
};
use crate::error::BenchError;
use crate::options::Options;
use crate::runner::Runner;
use crate::system::System;
use crate::table::{find, Check, Row};
use crate::Context;

/// The name of the dead-first scenario and its addresses.
const WWW: &str = "www.example.com";
const WWW_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const WWW_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
/// dead-first-learned: how much slower than with the healthy server alone a fresh
/// process may be once the dead server is known (issue 3).
const LEARNED_BUDGET: Duration = Duration::from_millis(5);
const HEALTHY_METRIC: &str = "getaddrinfo, fresh process, healthy server only";
const LEARNED_METRIC: &str = "getaddrinfo, fresh process, dead first (already met)";

pub fn describe_dead_first(opts: &Options) -> String {
    format!(
        "resolv.conf (or the daemon's upstream list): `nameserver {DEAD}` (blackholed: \
         reads, never answers), `nameserver {LIVE}` (answers), default options (timeout \
         5 s, attempts 2). Each sample is a fresh process doing one \
         `getaddrinfo({WWW}, AF_UNSPEC)`: `getaddrinfo` times the call inside the \
         process, `process` the process from spawn to exit. {} samples per system ({} for \
         systems that wait out the dead server for every name they have not cached: \
         glibc-dns, nscd). The daemons cache the name after the first sample.",
        opts.runs, opts.slow_runs
    )
}

pub fn describe_warm(opts: &Options) -> String {
    format!(
        "The dead-first servers; ONE process looks up {} distinct names one after the \
         other ({} for glibc-dns and nscd, which wait out the dead server for each): the \
         first lookup of the process, then the later ones.",
        opts.lookups, opts.slow_lookups
    )
}

pub fn describe_learned(opts: &Options) -> String {
    format!(
        "Issue 3: a dead first nameserver costs a fresh process nothing once any process \
         on the host has met it. Per system, two sandboxes: one with `nameserver {LIVE}` \
         only (healthy), one with `nameserver {DEAD}` (blackholed) then `nameserver \
         {LIVE}`. In each, one process looks up a first name (in the dead-first sandbox \
         it meets the dead server), then {} fresh processes ({} for glibc-dns and nscd) \
         each look up one new name (cold: it must go upstream). Compare `{LEARNED_METRIC}` \
         with `{HEALTHY_METRIC}` of the same system: the difference is what the dead \
         server still costs. Target: rustcache at most {} ms more.",
        opts.runs,
        opts.slow_runs,
        LEARNED_BUDGET.as_millis()
    )
}

/// One getaddrinfo(AF_UNSPEC) of `www.example.com` per fresh process.
pub fn dead_first(system: System, ctx: &Context<'_>) -> Result<Vec<Row>, BenchError> {
    Sandbox::run(|sb| {
        let expected = [Expected::new(WWW, WWW_V4, Some(WWW_V6))];
        let (dead, live) = servers::dead_and_live(zone_of(&expected))?;
        let mut prepared = system.prepare(sb, ctx, &[DEAD, LIVE])?;
        let runner = Runner::new(sb)?;
        let samples = if system.stalls_on_dead_server() {
            ctx.opts.slow_runs
        } else {
            ctx.opts.runs
        };
        let ops = [gai_op(WWW)];
        let (mut gai, mut wall) = (Vec::new(), Vec::new());
        for i in 0..samples {
            let out = runner.probe(&ops, lookup_limit(1))?;
            gai.extend(check_lookups(&out, &expected)?);
            wall.push(out.elapsed);
            progress(i, samples);
        }
        prepared.still_running()?;
        let questions = 2 * samples;
        Ok(vec![
            Row::time("getaddrinfo", system, &gai),
            Row::time("process (spawn to exit)", system, &wall),
            per_server_queries(system, DEAD, "(dead)", dead.count(), questions),
            per_server_queries(system, LIVE, "", live.count(), questions),
        ])
    })
}

/// `--lookups` distinct names in one process, first nameserver dead.
pub fn dead_first_warm(system: System, ctx: &Context<'_>) -> Result<Vec<Row>, BenchError> {
    Sandbox::run(|sb| {
        let lookups = if system.stalls_on_dead_server() {
            ctx.opts.slow_lookups
        } else {
            ctx.opts.lookups
        };
        let names: Vec<Expected> = (0..lookups)
            .map(|i| Expected::numbered(&format!("w{i}.example.com"), i))
            .collect();
        let (dead, live) = servers::dead_and_live(zone_of(&names))?;
        let mut prepared = system.prepare(sb, ctx, &[DEAD, LIVE])?;
        let runner = Runner::new(sb)?;
        let timings = lookups_in_one_process(&runner, &names)?;
        progress(0, 1);
        prepared.still_running()?;
        let (first, later) = timings.split_at(timings.len().min(1));
        let questions = 2 * lookups;
        Ok(vec![
            Row::time("getaddrinfo, 1st in process", system, first),
            Row::time("getaddrinfo, later in process", system, later),
            per_server_queries(system, DEAD, "(dead)", dead.count(), questions),
            per_server_queries(system, LIVE, "", live.count(), questions),
        ])
    })
}

/// Both phases of dead-first-learned for one system.
pub fn dead_first_learned(system: System, ctx: &Context<'_>) -> Result<Vec<Row>, BenchError> {
    let fresh_dead = if system.stalls_on_dead_server() {
        ctx.opts.slow_runs
    } else {
        ctx.opts.runs
    };
    let healthy = learned_phase(system, ctx, false, ctx.opts.runs)?;
    let dead = learned_phase(system, ctx, true, fresh_dead)?;
    Ok(vec![
        Row::time(HEALTHY_METRIC, system, &healthy.fresh),
        Row::time(LEARNED_METRIC, system, &dead.fresh),
        Row::time(
            "getaddrinfo, the first process (meets the dead server)",
            system,
            &[dead.first],
        ),
        per_server_queries(
            system,
            DEAD,
            "(dead), fresh processes",
            dead.dead_queries,
            2 * fresh_dead,
        ),
    ])
}

/// What one phase of dead-first-learned measured.
struct Phase {
    /// The first process's lookup.
    first: Duration,
    /// One lookup per fresh process after it.
    fresh: Vec<Duration>,
    /// Queries the dead server received during the fresh processes.
    dead_queries: usize,
}

/// A first process, then `fresh` fresh processes each looking up a new name, with the
/// dead server first (`with_dead`) or the live server alone.
fn learned_phase(
    system: System,
    ctx: &Context<'_>,
    with_dead: bool,
    fresh: usize,
) -> Result<Phase, BenchError> {
    Sandbox::run(|sb| {
        let first = Expected::numbered("first.learned.example.com", 0);
        let names: Vec<Expected> = (1..=fresh)
            .map(|i| Expected::numbered(&format!("f{i}.learned.example.com"), i))
            .collect();
        let zone = zone_of(std::iter::once(&first).chain(&names));
        let (dead, _live, upstreams): (Option<ScriptedServer>, ScriptedServer, Vec<_>) =
            if with_dead {
                let (dead, live) = servers::dead_and_live(zone)?;
                (Some(dead), live, vec![DEAD, LIVE])
            } else {
                let live = servers::start(LIVE, zone, Behaviour::Answer, false)?;
                (None, live, vec![LIVE])
            };
        let mut prepared = system.prepare(sb, ctx, &upstreams)?;
        let runner = Runner::new(sb)?;
        let out = runner.probe(&[gai_op(&first.name)], lookup_limit(1))?;
        let first_time = check_lookups(&out, std::slice::from_ref(&first))?;
        let dead_before = dead.as_ref().map_or(0, ScriptedServer::count);
        let mut times = Vec::with_capacity(fresh);
        for (i, name) in names.iter().enumerate() {
            let out = runner.probe(&[gai_op(&name.name)], lookup_limit(1))?;
            times.extend(check_lookups(&out, std::slice::from_ref(name))?);
            progress(i, fresh);
        }
        prepared.still_running()?;
        Ok(Phase {
            first: first_time.into_iter().next().unwrap_or_default(),
            fresh: times,
            dead_queries: dead.as_ref().map_or(0, ScriptedServer::count) - dead_before,
        })
    })
}

/// rustcache: a fresh process pays at most [`LEARNED_BUDGET`] for the dead server.
pub fn checks_learned(rows: &[Row]) -> Vec<Check> {
    let median = |metric| find(rows, metric, System::Rustcache).and_then(|r| r.median());
    let (Some(healthy), Some(learned)) = (median(HEALTHY_METRIC), median(LEARNED_METRIC)) else {
        return Vec::new();
    };
    let budget = LEARNED_BUDGET.as_secs_f64() * 1e9;
    vec![Check::target(
        format!(
            "rustcache: a fresh process after the dead server was met, median {:.2} ms, \
             at most the healthy-only median {:.2} ms + {} ms (issue 3)",
            learned / 1e6,
            healthy / 1e6,
            LEARNED_BUDGET.as_millis()
        ),
        learned <= healthy + budget,
    )]
}
