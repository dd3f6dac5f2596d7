//! `miss-in-process`: what a cache miss costs a process that has the module loaded
//! already (a daemon's view), without the first lookup's loading work.

use rustcache_testkit::dns::Behaviour;
use rustcache_testkit::ns::Sandbox;

use super::catalog::{per_round, rounds_note};
use super::servers::{self, HEALTHY};
use crate::answer::{lookups_in_one_process, progress, zone_of, Expected};
use crate::error::BenchError;
use crate::runner::Runner;
use crate::system::System;
use crate::table::{at_most, Bound, Check, Row};
use crate::Context;

/// Lookups after the first in each round's process (the first loads the
/// module and is left out), in all rounds together.
const LOOKUPS: usize = 201;
const METRIC: &str = "getaddrinfo miss, running process";

pub fn describe() -> String {
    format!(
        "Issue 6: one process per system and round looks up {} distinct names one after the other \
         (`getaddrinfo(AF_UNSPEC)`, the testkit probe, µs clock), every name new to every \
         cache, `nameserver {HEALTHY}` answering at once. The first lookup (loading work) \
         is left out; each sample is one later lookup: a miss's own cost, the upstream \
         round trip included. Target: rustcache's median at most glibc-dns's. {}",
        per_round(LOOKUPS) + 1,
        rounds_note()
    )
}

pub fn miss_in_process(system: System, ctx: &Context<'_>) -> Result<Vec<Row>, BenchError> {
    Sandbox::run(|sb| {
        let names: Vec<Expected> = (0..=per_round(LOOKUPS))
            .map(|i| Expected::numbered(&format!("m{i}.miss.example.com"), i))
            .collect();
        let server = servers::start(HEALTHY, zone_of(&names), Behaviour::Answer, false)?;
        let mut prepared = system.prepare(sb, ctx, &[HEALTHY])?;
        let runner = Runner::new(sb)?;
        let timings = lookups_in_one_process(&runner, &names)?;
        progress(0, 1);
        prepared.still_running()?;
        let later = timings.get(1..).unwrap_or_default();
        Ok(vec![
            Row::time(METRIC, system, later),
            Row::queries("queries/question", system, server.count(), 2 * names.len()),
        ])
    })
}

pub fn checks(rows: &[Row]) -> Vec<Check> {
    at_most(
        rows,
        METRIC,
        System::Rustcache,
        System::GlibcDns,
        &Bound::TIME,
        "issue 6",
    )
    .into_iter()
    .collect()
}
