//! The scripted upstream servers of the scenarios, all on loopback addresses of the
//! sandbox's private network namespace.

use std::net::{IpAddr, Ipv4Addr};

use rustcache_testkit::dns::{Behaviour, ScriptedServer, Zone};

use crate::error::BenchError;
use crate::system::System;
use crate::table::Row;

/// The blackholed first nameserver of the dead-first scenarios.
pub const DEAD: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// The answering second nameserver of the dead-first scenarios.
pub const LIVE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
/// The only nameserver of the other scenarios.
pub const HEALTHY: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// Starts a server on `addr` answering from `zone` under `behaviour`. With `log`
/// false only counts are kept (long runs keep memory flat).
pub fn start(
    addr: IpAddr,
    zone: Zone,
    behaviour: Behaviour,
    log: bool,
) -> Result<ScriptedServer, BenchError> {
    let server = ScriptedServer::start_with(addr, zone, behaviour)
        .map_err(|e| BenchError::io(format!("start the scripted server on {addr}"), e))?;
    server.set_logging(log);
    Ok(server)
}

/// The dead-first servers: [`DEAD`] blackholed, [`LIVE`] answering from `zone`.
pub fn dead_and_live(zone: Zone) -> Result<(ScriptedServer, ScriptedServer), BenchError> {
    let dead = start(DEAD, Zone::new(), Behaviour::Blackhole, false)?;
    let live = start(LIVE, zone, Behaviour::Answer, false)?;
    Ok((dead, live))
}

/// The `queries/question to ADDR` row of one server: `count` queries for `questions`
/// questions (a question is one A or one AAAA need, two per `AF_UNSPEC` lookup).
pub fn per_server_queries(
    system: System,
    addr: IpAddr,
    note: &str,
    count: usize,
    questions: usize,
) -> Row {
    let metric = format!("queries/question to {addr} {note}");
    Row::queries(metric.trim_end(), system, count, questions)
}
