//! `miss-in-process`: what a cache miss costs a process that has the module loaded
//! already (a daemon's view), without the first lookup's loading work; and what the
//! same miss costs after the process (and the server) have been quiet for a while, as
//! every fresh process finds them.

use std::time::Duration;

use rustcache_testkit::dns::Behaviour;
use rustcache_testkit::ns::Sandbox;

use super::catalog::{per_round, rounds_note};
use super::servers::{self, HEALTHY};
use crate::answer::{lookups_after_idle, lookups_in_one_process, progress, zone_of, Expected};
use crate::error::BenchError;
use crate::runner::Runner;
use crate::system::System;
use crate::table::{at_most, Bound, Check, Row};
use crate::Context;

/// Lookups after the first in each round's process (the first loads the
/// module and is left out), in all rounds together.
const LOOKUPS: usize = 201;
const METRIC: &str = "getaddrinfo miss, running process";
/// Lookups after a quiet spell, in all rounds together (one more process per round).
const IDLE_LOOKUPS: usize = 90;
/// How long the process sleeps before each of those.
const IDLE: Duration = Duration::from_millis(5);

pub fn describe() -> String {
    format!(
        "Issue 6: one process per system and round looks up {} distinct names one after the other \
         (`getaddrinfo(AF_UNSPEC)`, the testkit probe, µs clock), every name new to every \
         cache, `nameserver {HEALTHY}` answering at once. The first lookup (loading work) \
         is left out; each sample is one later lookup: a miss's own cost, the upstream \
         round trip included. Target: rustcache's median at most glibc-dns's. \
         `after {} ms idle`: a second process per round sleeps that long before each of \
         {} more new names, as a fresh process meets a machine and a server that have \
         been quiet (no target: it shows what waking them costs every system). {}",
        per_round(LOOKUPS) + 1,
        IDLE.as_millis(),
        per_round(IDLE_LOOKUPS),
        rounds_note()
    )
}

pub fn miss_in_process(system: System, ctx: &Context<'_>) -> Result<Vec<Row>, BenchError> {
    Sandbox::run(|sb| {
        let names: Vec<Expected> = (0..=per_round(LOOKUPS))
            .map(|i| Expected::numbered(&format!("m{i}.miss.example.com"), i))
            .collect();
        // The first of these loads the module again (a second process) and is left out.
        let after_idle: Vec<Expected> = (0..=per_round(IDLE_LOOKUPS))
            .map(|i| Expected::numbered(&format!("i{i}.miss.example.com"), names.len() + i))
            .collect();
        let all: Vec<Expected> = names.iter().chain(&after_idle).cloned().collect();
        let server = servers::start(HEALTHY, zone_of(&all), Behaviour::Answer, false)?;
        let mut prepared = system.prepare(sb, ctx, &[HEALTHY])?;
        let runner = Runner::new(sb)?;
        let timings = lookups_in_one_process(&runner, &names)?;
        let idle_timings = lookups_after_idle(&runner, &after_idle, IDLE)?;
        progress(0, 1);
        prepared.still_running()?;
        let later = timings.get(1..).unwrap_or_default();
        Ok(vec![
            Row::time(METRIC, system, later),
            Row::time(
                &format!("{METRIC}, after {} ms idle", IDLE.as_millis()),
                system,
                idle_timings.get(1..).unwrap_or_default(),
            ),
            Row::queries("queries/question", system, server.count(), 2 * all.len()),
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
