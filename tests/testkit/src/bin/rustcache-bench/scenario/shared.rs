//! Many processes asking the same names: `shared-names` (8 processes x the same 50
//! names x 5 rounds) and `stampede` (64 processes released together on one cold name).
//! What counts is the upstream queries: a cache shared across processes asks each name
//! once; a per-process resolver asks every time.

use std::time::Duration;

use rustcache_testkit::dns::{qtype, Behaviour};
use rustcache_testkit::ns::Sandbox;

use super::servers::{self, HEALTHY};
use crate::answer::{check_lookups, gai_op, lookup_limit, zone_of, Expected};
use crate::error::BenchError;
use crate::runner::Runner;
use crate::system::System;
use crate::table::{find, Check, Row};
use crate::Context;

/// shared-names: processes, names, rounds over the names in each process.
const PROCS: usize = 8;
const NAMES: usize = 50;
const ROUNDS: usize = 5;
const LOOKUPS: usize = PROCS * NAMES * ROUNDS;
/// Issue 3: at most this many upstream queries for the 2000 lookups.
const SHARED_BUDGET: usize = 100;
const SHARED_METRIC: &str = "upstream queries";

/// stampede: processes released together, the upstream's answer delay (a cold name
/// takes the upstream resolver some time; this keeps every process's miss in flight
/// at once), and the most queries per record type issue 3 allows.
const BURST: usize = 64;
const UPSTREAM_DELAY: Duration = Duration::from_millis(5);
const BURST_BUDGET: usize = 4;
const BURST_NAME: &str = "cold.stampede.example.com";
const A_METRIC: &str = "upstream A queries";
/// stampede, second part: a few processes on a name the upstream is slow to answer,
/// once the cache file is made: what waiting for another process's answer costs
/// beyond the answer's own delay.
const SLOW_BURST: usize = 8;
const SLOW_DELAY: Duration = Duration::from_millis(50);
const SLOW_NAME: &str = "slow.stampede.example.com";
const AAAA_METRIC: &str = "upstream AAAA queries";

pub fn describe_shared_names() -> String {
    format!(
        "Issue 3: {PROCS} processes released together, each looking up the same {NAMES} \
         names (A and AAAA each) {ROUNDS} times over, `getaddrinfo(AF_UNSPEC)` one after \
         the other: {LOOKUPS} lookups. `nameserver {HEALTHY}` (healthy, answers at once). \
         `{SHARED_METRIC}` counts every query that reached it (n = lookups): glibc-dns \
         asks 2 per lookup ({}); a cache shared by all processes asks each name once \
         (2 x {NAMES} = {}). Target: rustcache at most {SHARED_BUDGET}.",
        2 * LOOKUPS,
        2 * NAMES
    )
}

pub fn describe_stampede() -> String {
    format!(
        "Issue 3: {BURST} processes, held at a start gate until all are spawned, then \
         released at once, each doing one `getaddrinfo({BURST_NAME}, AF_UNSPEC)` of the \
         same cold name. `nameserver {HEALTHY}` answers after {} ms, so all the misses \
         are in flight together. Counted: the queries of each type that reached the \
         server (n = processes); glibc-dns asks once per process and type. Target: \
         rustcache at most {BURST_BUDGET} per type (concurrent misses coalesced across \
         processes). Then, in the same sandbox (rustcache's cache file made by now), \
         {SLOW_BURST} processes released together on `{SLOW_NAME}`, which the server \
         answers after {} ms: `getaddrinfo, {SLOW_BURST} together, answer in {} ms` is \
         each one's lookup, the answer's delay included; what a system adds to that \
         delay is what waiting for another process's answer (or asking alone) costs \
         (no target).",
        UPSTREAM_DELAY.as_millis(),
        SLOW_DELAY.as_millis(),
        SLOW_DELAY.as_millis()
    )
}

/// 8 processes x 50 names x 5 rounds, released together.
pub fn shared_names(system: System, ctx: &Context<'_>) -> Result<Vec<Row>, BenchError> {
    Sandbox::run(|sb| {
        let names: Vec<Expected> = (0..NAMES)
            .map(|i| Expected::numbered(&format!("s{i}.shared.example.com"), i))
            .collect();
        let server = servers::start(HEALTHY, zone_of(&names), Behaviour::Answer, false)?;
        let mut prepared = system.prepare(sb, ctx, &[HEALTHY])?;
        let runner = Runner::new(sb)?;
        let expected: Vec<Expected> = (0..ROUNDS).flat_map(|_| names.iter().cloned()).collect();
        let ops: Vec<String> = expected.iter().map(|e| gai_op(&e.name)).collect();
        let outs = runner.probe_together(PROCS, &ops, lookup_limit(ops.len()))?;
        eprint!(".");
        let (mut first_round, mut later, mut wall) = (Vec::new(), Vec::new(), Vec::new());
        for out in &outs {
            let timings = check_lookups(out, &expected)?;
            let (round1, rest) = timings.split_at(NAMES.min(timings.len()));
            first_round.extend_from_slice(round1);
            later.extend_from_slice(rest);
            wall.push(out.elapsed);
        }
        prepared.still_running()?;
        Ok(vec![
            Row::count(SHARED_METRIC, system, server.count(), LOOKUPS),
            Row::time("getaddrinfo, round 1", system, &first_round),
            Row::time(&format!("getaddrinfo, rounds 2-{ROUNDS}"), system, &later),
            Row::time(
                &format!("process ({} lookups, release to exit)", NAMES * ROUNDS),
                system,
                &wall,
            ),
        ])
    })
}

/// 64 processes released together on one cold name.
pub fn stampede(system: System, ctx: &Context<'_>) -> Result<Vec<Row>, BenchError> {
    Sandbox::run(|sb| {
        let expected = [Expected::numbered(BURST_NAME, 1)];
        let slow = [Expected::numbered(SLOW_NAME, 2)];
        let both: Vec<Expected> = expected.iter().chain(&slow).cloned().collect();
        let server = servers::start(
            HEALTHY,
            zone_of(&both),
            Behaviour::Delay(UPSTREAM_DELAY),
            true,
        )?;
        server.set_name_behaviour(SLOW_NAME, Behaviour::Delay(SLOW_DELAY));
        let mut prepared = system.prepare(sb, ctx, &[HEALTHY])?;
        let runner = Runner::new(sb)?;
        let gai = burst(&runner, BURST, &expected[0])?;
        eprint!(".");
        let slow_gai = burst(&runner, SLOW_BURST, &slow[0])?;
        prepared.still_running()?;
        let a = server.count_for(BURST_NAME, qtype::A);
        let aaaa = server.count_for(BURST_NAME, qtype::AAAA);
        let mut rows = vec![
            Row::count(A_METRIC, system, a, BURST),
            Row::count(AAAA_METRIC, system, aaaa, BURST),
        ];
        let slow_queries =
            server.count_for(SLOW_NAME, qtype::A) + server.count_for(SLOW_NAME, qtype::AAAA);
        let other = server.count().saturating_sub(a + aaaa + slow_queries);
        if other > 0 {
            rows.push(Row::count("upstream queries, other", system, other, BURST));
        }
        rows.push(Row::time("getaddrinfo", system, &gai));
        rows.push(Row::count(
            &format!("upstream queries, {SLOW_BURST} together on a slow name"),
            system,
            slow_queries,
            SLOW_BURST,
        ));
        rows.push(Row::time(
            &format!(
                "getaddrinfo, {SLOW_BURST} together, answer in {} ms",
                SLOW_DELAY.as_millis()
            ),
            system,
            &slow_gai,
        ));
        Ok(rows)
    })
}

/// `n` processes released together, each looking `name` up once: every
/// lookup's time, each answer checked.
fn burst(runner: &Runner, n: usize, name: &Expected) -> Result<Vec<Duration>, BenchError> {
    let outs = runner.probe_together(n, &[gai_op(&name.name)], lookup_limit(1))?;
    let mut timings = Vec::with_capacity(n);
    for out in &outs {
        timings.extend(check_lookups(out, std::slice::from_ref(name))?);
    }
    Ok(timings)
}

/// rustcache within its budget; glibc-dns exactly 2 per lookup (else the harness is
/// not measuring what it claims).
pub fn checks_shared_names(rows: &[Row]) -> Vec<Check> {
    let count = |system| find(rows, SHARED_METRIC, system).and_then(|r| r.counted());
    let mut checks = Vec::new();
    if let Some(n) = count(System::GlibcDns) {
        checks.push(Check::property(
            format!(
                "glibc-dns: {n} upstream queries for {LOOKUPS} lookups (expected exactly {}: \
                 the harness counts what it claims)",
                2 * LOOKUPS
            ),
            n == 2 * LOOKUPS,
        ));
    }
    if let Some(n) = count(System::Rustcache) {
        checks.push(Check::property(
            format!(
                "rustcache: {n} upstream queries for {LOOKUPS} lookups, at most \
                 {SHARED_BUDGET} (issue 3)"
            ),
            n <= SHARED_BUDGET,
        ));
    }
    checks
}

/// rustcache coalesces the burst to at most [`BURST_BUDGET`] queries per type.
pub fn checks_stampede(rows: &[Row]) -> Vec<Check> {
    let count = |metric| find(rows, metric, System::Rustcache).and_then(|r| r.counted());
    let (Some(a), Some(aaaa)) = (count(A_METRIC), count(AAAA_METRIC)) else {
        return Vec::new();
    };
    vec![Check::property(
        format!(
            "rustcache: {a} A and {aaaa} AAAA queries for {BURST} processes, at most \
             {BURST_BUDGET} per type (issue 3)"
        ),
        a <= BURST_BUDGET && aaaa <= BURST_BUDGET,
    )]
}
