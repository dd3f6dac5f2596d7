//! `steady`: a healthy server, many fresh processes, every name distinct.

use rustcache_testkit::dns::Behaviour;
use rustcache_testkit::ns::Sandbox;

use super::servers::{self, HEALTHY};
use crate::answer::{check_lookups, gai_op, lookup_limit, progress, zone_of, Expected};
use crate::error::BenchError;
use crate::options::Options;
use crate::runner::Runner;
use crate::system::System;
use crate::table::{find, Check, Row};
use crate::Context;

const QUERIES_METRIC: &str = "queries/question";
/// docs/ARCHITECTURE.md ("Upstream queries and hedging"): extra queries in a healthy steady state stay under about 5 %.
const RUSTCACHE_BUDGET: f64 = 1.05;

pub fn describe(opts: &Options) -> String {
    format!(
        "resolv.conf (or the daemon's upstream list): `nameserver {HEALTHY}` (healthy). {} \
         fresh processes x {} `getaddrinfo(AF_UNSPEC)` of distinct names each (every name \
         asked once per system, so no system gets a cache hit). A question is one A or \
         one AAAA need (two per lookup); `{QUERIES_METRIC}` counts what reached the \
         server.",
        opts.procs, opts.lookups
    )
}

/// `--procs` fresh processes x `--lookups` distinct names against one healthy server.
pub fn steady(system: System, ctx: &Context<'_>) -> Result<Vec<Row>, BenchError> {
    let opts = ctx.opts;
    Sandbox::run(|sb| {
        let total = opts.procs * opts.lookups;
        let names: Vec<Expected> = (0..total)
            .map(|i| Expected::numbered(&format!("n{i}.steady.example.com"), i))
            .collect();
        let server = servers::start(HEALTHY, zone_of(&names), Behaviour::Answer, false)?;
        let mut prepared = system.prepare(sb, ctx, &[HEALTHY])?;
        let runner = Runner::new(sb)?;
        let (mut first, mut later, mut wall) = (Vec::new(), Vec::new(), Vec::new());
        for (p, batch) in names.chunks(opts.lookups).enumerate() {
            let ops: Vec<String> = batch.iter().map(|e| gai_op(&e.name)).collect();
            let out = runner.probe(&ops, lookup_limit(ops.len()))?;
            let timings = check_lookups(&out, batch)?;
            let (one, rest) = timings.split_at(timings.len().min(1));
            first.extend_from_slice(one);
            later.extend_from_slice(rest);
            wall.push(out.elapsed);
            progress(p, opts.procs);
        }
        prepared.still_running()?;
        Ok(vec![
            Row::time("getaddrinfo, 1st in process", system, &first),
            Row::time("getaddrinfo, later in process", system, &later),
            Row::time(
                &format!("process ({} lookups, spawn to exit)", opts.lookups),
                system,
                &wall,
            ),
            Row::queries(QUERIES_METRIC, system, server.count(), 2 * total),
        ])
    })
}

/// rustcache stays within its budget of extra queries.
pub fn checks(rows: &[Row]) -> Vec<Check> {
    let Some(row) = find(rows, QUERIES_METRIC, System::Rustcache) else {
        return Vec::new();
    };
    let (Some(ratio), Some(count)) = (row.ratio(), row.counted()) else {
        return Vec::new();
    };
    let questions = match row.value {
        crate::table::Value::Fraction { of, .. } => of,
        _ => 0,
    };
    vec![Check::property(
        format!(
            "rustcache: {ratio:.3} upstream queries per question ({count}/{questions}), \
             budget {RUSTCACHE_BUDGET:.2}"
        ),
        ratio <= RUSTCACHE_BUDGET,
    )]
}
