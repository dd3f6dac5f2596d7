//! `rustcache stats`: what the shared cache did, as text, JSON or in
//! Prometheus' text exposition format (for node_exporter's textfile
//! collector; README shows the cron line that writes the file).

use std::fmt::Write as _;
use std::process::ExitCode;

use rustcache::cache::{Stat, Table};
use rustcache::clock::now_ms;
use rustcache::upstream::health::{State, VPC_RESOLVER_PPS};
use rustcache::upstream::HealthTable;
use serde::Serialize;

use crate::files;

/// How to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Prometheus,
}

impl Format {
    pub fn pick(json: bool, prometheus: bool) -> Format {
        match (json, prometheus) {
            (true, _) => Format::Json,
            (_, true) => Format::Prometheus,
            _ => Format::Text,
        }
    }
}

/// Everything `stats` reports, as `--json` prints it.
#[derive(Serialize)]
pub struct Report {
    /// The cache file.
    pub file: String,
    /// Whose it is.
    pub uid: u32,
    pub slots: usize,
    pub generation: u64,
    pub created_seconds_ago: u64,
    /// Entries of the current generation, fresh and expired.
    pub entries_fresh: usize,
    pub entries_expired: usize,
    /// Questions answered from the cache (hits and negative hits) out of
    /// all questions (those and misses); `null` before the first.
    pub hit_rate: Option<f64>,
    /// Every counter, by its name in `rustcache stats`.
    pub counters: std::collections::BTreeMap<&'static str, u64>,
    /// The configured servers, in configuration order.
    pub servers: Vec<Server>,
}

/// One upstream server as the shared health record knows it.
#[derive(Serialize)]
pub struct Server {
    pub address: String,
    /// "healthy", "suspect", "down", or "unknown" (never asked through
    /// this file).
    pub state: &'static str,
    pub srtt_ms: Option<f64>,
    pub rttvar_ms: Option<f64>,
    pub timeouts_in_a_row: u32,
    pub timeouts_total: u32,
    /// Packets every process of the file sent it in the last whole second,
    /// and in the busiest second of the last one to two minutes.
    pub packets_per_second_now: u32,
    pub packets_per_second_peak: u32,
    /// Whether that peak came near the VPC resolver's limit.
    pub near_vpc_limit: bool,
}

pub fn run(uid: Option<u32>, format: Format) -> Result<ExitCode, String> {
    let config = files::config();
    let uid = uid.unwrap_or_else(files::effective_uid);
    let (path, mapping) = files::open(&config, Some(uid), false)?;
    let table = mapping.table();
    // The default servers, then those of the `server=` groups.
    let mut servers: Vec<std::net::SocketAddr> = Vec::new();
    for server in config.servers.iter().chain(config.routing.group_servers()) {
        if !servers.contains(server) {
            servers.push(*server);
        }
    }
    let report = collect(&table, path.display().to_string(), uid, &servers);
    match format {
        Format::Text => print!("{}", text(&report)),
        Format::Json => {
            let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
            println!("{json}");
        }
        Format::Prometheus => print!("{}", prometheus(&report)),
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads the counters and health records of `table`.
pub fn collect(
    table: &Table<'_>,
    file: String,
    uid: u32,
    servers: &[std::net::SocketAddr],
) -> Report {
    let now = now_ms();
    let (fresh, expired) = table.occupancy(now);
    let counters = Stat::ALL
        .iter()
        .map(|&s| (s.name(), table.stat(s)))
        .collect();
    let answered = table.stat(Stat::Hits) + table.stat(Stat::NegativeHits);
    let questions = answered + table.stat(Stat::Misses);
    let health = HealthTable::new(table.health_slots());
    let servers = servers
        .iter()
        .map(|addr| match health.find(addr) {
            Some(h) => {
                let s = h.snapshot();
                let measured = s.srtt_us > 0;
                Server {
                    address: addr.to_string(),
                    state: match h.state(now) {
                        State::Healthy => "healthy",
                        State::Suspect => "suspect",
                        State::Down => "down",
                    },
                    srtt_ms: measured.then(|| f64::from(s.srtt_us) / 1000.0),
                    rttvar_ms: measured.then(|| f64::from(s.rttvar_us) / 1000.0),
                    timeouts_in_a_row: s.timeouts,
                    timeouts_total: s.timeouts_total,
                    packets_per_second_now: s.pps_now,
                    packets_per_second_peak: s.pps_peak,
                    near_vpc_limit: s.nears_pps_limit(),
                }
            }
            None => Server {
                address: addr.to_string(),
                state: "unknown",
                srtt_ms: None,
                rttvar_ms: None,
                timeouts_in_a_row: 0,
                timeouts_total: 0,
                packets_per_second_now: 0,
                packets_per_second_peak: 0,
                near_vpc_limit: false,
            },
        })
        .collect();
    Report {
        file,
        uid,
        slots: table.slot_count(),
        generation: table.generation(),
        created_seconds_ago: now.saturating_sub(table.created_ms()) / 1000,
        entries_fresh: fresh,
        entries_expired: expired,
        hit_rate: (questions > 0).then(|| answered as f64 / questions as f64),
        counters,
        servers,
    }
}

/// The text form (the one `rustcache stats` always printed, plus the hit
/// rate): one `name value` line per counter.
fn text(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "file             {}", r.file);
    let _ = writeln!(
        out,
        "slots            {} ({} KiB), generation {}, created {} s ago",
        r.slots,
        r.slots / 2,
        r.generation,
        r.created_seconds_ago
    );
    let _ = writeln!(
        out,
        "entries          {} fresh, {} expired",
        r.entries_fresh, r.entries_expired
    );
    match r.hit_rate {
        Some(rate) => {
            let answered = r.counters.get("hits").copied().unwrap_or(0)
                + r.counters.get("negative_hits").copied().unwrap_or(0);
            let misses = r.counters.get("misses").copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "hit rate         {:.1} % ({answered} of {} questions answered from the cache)",
                rate * 100.0,
                answered + misses
            );
        }
        None => {
            let _ = writeln!(out, "hit rate         - (no question yet)");
        }
    }
    for stat in Stat::ALL {
        let value = r.counters.get(stat.name()).copied().unwrap_or(0);
        let _ = writeln!(out, "{:<17}{value}", stat.name());
    }
    for s in &r.servers {
        match (s.state, s.srtt_ms, s.rttvar_ms) {
            ("unknown", ..) => {
                let _ = writeln!(out, "server {:<22} not asked yet", s.address);
            }
            (state, srtt, rttvar) => {
                // The text form's words since the first release: Healthy,
                // Suspect, Down; 0.0 ms before the first sample.
                let state = match state {
                    "healthy" => "Healthy",
                    "suspect" => "Suspect",
                    _ => "Down",
                };
                let ms = |v: Option<f64>| format!("{:.1} ms", v.unwrap_or(0.0));
                let _ = writeln!(
                    out,
                    "server {:<22} {state}, srtt {}, rttvar {}, {} timeouts in a row, {} in all, \
                     {} packets/s now, {} peak",
                    s.address,
                    ms(srtt),
                    ms(rttvar),
                    s.timeouts_in_a_row,
                    s.timeouts_total,
                    s.packets_per_second_now,
                    s.packets_per_second_peak
                );
                if s.near_vpc_limit {
                    let _ = writeln!(
                        out,
                        "warning: {} was sent {} packets in one second; the VPC resolver drops \
                         what is past {VPC_RESOLVER_PPS} per second per interface",
                        s.address, s.packets_per_second_peak
                    );
                }
            }
        }
    }
    out
}

/// What each counter counts, for the HELP lines.
fn help(stat: Stat) -> &'static str {
    match stat {
        Stat::Hits => "Questions answered from a fresh positive cache entry.",
        Stat::NegativeHits => "Questions answered from a fresh negative entry (NXDOMAIN, NODATA).",
        Stat::Misses => "Questions that had to go to an upstream server.",
        Stat::StaleAnswers => "Expired answers served because every upstream failed (RFC 8767).",
        Stat::UpstreamQueries => "Queries sent upstream, UDP and TCP.",
        Stat::Hedges => "Servers asked because an earlier one was slow or failed.",
        Stat::Timeouts => "Questions no upstream server answered in time.",
        Stat::TcpRetries => "Truncated answers retried over TCP.",
        Stat::Refreshes => "Entries refreshed ahead of their expiry.",
        Stat::CoalescedWaits => "Misses that waited for another process's query instead of asking.",
        Stat::Stores => "Entries written to the cache.",
        Stat::StoresSkipped => "Entries not written: slot busy or answer too large.",
        Stat::Flushes => "Whole-cache flushes.",
        Stat::RebindRefused => {
            "Upstream answers refused by rebinding protection (stop-dns-rebind)."
        }
    }
}

/// The Prometheus text exposition format, version 0.0.4: counters as
/// `rustcache_<name>_total`, every sample labelled with the file's uid,
/// server samples with `server="ADDR:PORT"` too.
fn prometheus(r: &Report) -> String {
    let mut out = String::new();
    let uid = format!("uid=\"{}\"", r.uid);
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
        let _ = writeln!(out, "# HELP rustcache_{name} {help}");
        let _ = writeln!(out, "# TYPE rustcache_{name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "rustcache_{name}{{{labels}}} {value}");
        }
    };
    for stat in Stat::ALL {
        let value = r.counters.get(stat.name()).copied().unwrap_or(0);
        family(
            &format!("{}_total", stat.name()),
            "counter",
            help(stat),
            &[(uid.clone(), value.to_string())],
        );
    }
    if let Some(rate) = r.hit_rate {
        family(
            "hit_ratio",
            "gauge",
            "Share of questions answered from the cache since the file was created.",
            &[(uid.clone(), format!("{rate}"))],
        );
    }
    family(
        "entries",
        "gauge",
        "Entries in the cache file, by state.",
        &[
            (
                format!("{uid},state=\"fresh\""),
                r.entries_fresh.to_string(),
            ),
            (
                format!("{uid},state=\"expired\""),
                r.entries_expired.to_string(),
            ),
        ],
    );
    family(
        "slots",
        "gauge",
        "Entry slots in the cache file.",
        &[(uid.clone(), r.slots.to_string())],
    );
    let server = |s: &Server| format!("{uid},server=\"{}\"", s.address);
    let per_server = |f: &dyn Fn(&Server) -> Option<String>| -> Vec<(String, String)> {
        r.servers
            .iter()
            .filter_map(|s| Some((server(s), f(s)?)))
            .collect()
    };
    family(
        "server_up",
        "gauge",
        "1 if the upstream server answered its last query (or was never asked), else 0.",
        &per_server(&|s| Some(u8::from(matches!(s.state, "healthy" | "unknown")).to_string())),
    );
    family(
        "server_srtt_seconds",
        "gauge",
        "Smoothed round-trip time of the upstream server.",
        &per_server(&|s| s.srtt_ms.map(|v| format!("{}", v / 1000.0))),
    );
    family(
        "server_rttvar_seconds",
        "gauge",
        "Round-trip time variation of the upstream server.",
        &per_server(&|s| s.rttvar_ms.map(|v| format!("{}", v / 1000.0))),
    );
    family(
        "server_timeouts_in_a_row",
        "gauge",
        "Queries the upstream server missed since its last answer.",
        &per_server(&|s| Some(s.timeouts_in_a_row.to_string())),
    );
    family(
        "server_timeouts_total",
        "counter",
        "Queries the upstream server did not answer in time.",
        &per_server(&|s| Some(s.timeouts_total.to_string())),
    );
    family(
        "server_packets_per_second",
        "gauge",
        "Packets sent to the upstream server by every process of the file in the last whole second.",
        &per_server(&|s| Some(s.packets_per_second_now.to_string())),
    );
    family(
        "server_packets_per_second_peak",
        "gauge",
        "Packets sent to the upstream server in the busiest second of the last one to two minutes (the VPC resolver drops what is past 1024 per interface).",
        &per_server(&|s| Some(s.packets_per_second_peak.to_string())),
    );
    out
}
