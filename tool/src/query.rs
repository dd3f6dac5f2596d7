//! `rustcache query`: one lookup the way the module does it (the same
//! configuration, search list, cache file and servers), and where each
//! part of the answer came from.
//!
//! Provenance is read around the lookup, not inside it: the entries of
//! every candidate name are looked at before and after. An entry stored
//! before and still the same came from the cache (fresh, or stale if it
//! had expired: served because every upstream failed); one stored during
//! the lookup came from upstream, and the server that answered is the one
//! `rustcache::upstream::provenance` noted for that name's exchange; an
//! entry stored meanwhile by another process (this lookup waited for its
//! query) says so. A question the server answered and the cache did not
//! keep (TTL 0, no SOA, `cache no`, refused by `stop-dns-rebind`) is told
//! from the exchange itself: what the server said, and why nothing stayed.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Instant;

use rustcache::cache::policy::{negative_ttl, positive_ttl};
use rustcache::cache::{Key, Kind, Mapping};
use rustcache::clock::now_ms;
use rustcache::config::{CacheSettings, LocalAnswer};
use rustcache::name::{candidates, check_host_name, reverse_name};
use rustcache::upstream::provenance::{self, Said};
use rustcache::upstream::QType;
use rustcache::{Family, HostView, Outcome, Resolver};
use serde::Serialize;

use crate::dump::type_name;
use crate::files;
use crate::resolve::describe;
use crate::TypeArg;

/// What `query --json` prints.
#[derive(Serialize)]
struct Report {
    /// The name (or address) asked.
    query: String,
    /// "found", "nxdomain", "nodata", "tryagain" or "unavailable".
    outcome: &'static str,
    /// The answer's name (the canonical name, or the PTR target).
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    aliases: Vec<String>,
    addresses: Vec<String>,
    /// How many of `addresses` are IPv4 (they come first).
    #[serde(skip)]
    v4_count: usize,
    /// The answer's TTL as a caller gets it.
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<u32>,
    /// Each question asked, in search order, up to the one that answered.
    questions: Vec<Question>,
    /// Wall time of the lookup.
    time_ms: f64,
}

#[derive(Serialize)]
struct Question {
    name: String,
    #[serde(rename = "type")]
    qtype: &'static str,
    /// "data", "nxdomain", "nodata" (the entry, or what the server said
    /// when nothing was cached: see `not_cached`), "refused" (rebinding
    /// protection refused the server's answer: see `refused_address`), or
    /// "none" (no entry, and no answer to tell).
    result: &'static str,
    addresses: Vec<String>,
    /// Remaining TTL of the entry after the lookup.
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<u32>,
    /// "cache", "upstream", "local" (an `address=` answer), "another
    /// process" or "unknown".
    source: &'static str,
    /// The route the name took: "default" (the nameservers), or the
    /// `server=` domain whose servers were asked.
    route: String,
    /// For "cache": "fresh" or "stale".
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'static str>,
    /// For "upstream": the server that answered, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<String>,
    /// For "refused": the address of the answer that `stop-dns-rebind`
    /// refuses (the caller was told the name does not exist).
    #[serde(skip_serializing_if = "Option::is_none")]
    refused_address: Option<String>,
    /// Why a server's answer was not cached: "TTL 0", "negative TTL 0",
    /// "no SOA in the reply" (a negative answer, and no `neg-ttl`), "cache
    /// no", "refused by stop-dns-rebind", or "not stored" (the cache had
    /// no room for it, or its file could not be used).
    #[serde(skip_serializing_if = "Option::is_none")]
    not_cached: Option<&'static str>,
}

/// What one entry looked like at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    kind: Kind,
    stored_ms: u64,
    expires_ms: u64,
    addresses: Vec<String>,
}

pub fn run(query: &str, qtype: Option<TypeArg>, json: bool) -> Result<ExitCode, String> {
    provenance::record();
    let config = files::config();
    let address = query.parse::<IpAddr>().ok();
    let (names, qtypes, family) = match (address, qtype) {
        (Some(addr), None | Some(TypeArg::Ptr)) => {
            (vec![reverse_name(addr)], vec![QType::Ptr], None)
        }
        (Some(_), Some(_)) => return Err(format!("`{query}` is an address: its question is PTR")),
        (None, Some(TypeArg::Ptr)) => {
            return Err("--type PTR needs an address, e.g. `query 192.0.2.1`".into())
        }
        (None, t) => {
            let (name, absolute) = check_host_name(query.as_bytes())
                .map_err(|e| format!("`{query}` is not a host name: {e}"))?;
            let (qtypes, family) = match t {
                Some(TypeArg::A) => (vec![QType::A], Family::V4),
                Some(TypeArg::Aaaa) => (vec![QType::Aaaa], Family::V6),
                _ => (vec![QType::A, QType::Aaaa], Family::Any),
            };
            (candidates(name, absolute, &config), qtypes, Some(family))
        }
    };
    // The files the module reads: ours, and root's for other users. A
    // missing file only means there is no cache to tell about.
    let uid = files::effective_uid();
    let own = files::open(&config, Some(uid), false).ok();
    let root = (uid != 0)
        .then(|| files::open(&config, Some(0), false).ok())
        .flatten();
    let maps: Vec<&Mapping> = [own.as_ref(), root.as_ref()]
        .into_iter()
        .flatten()
        .map(|(_, m)| m)
        .collect();
    let look = |maps: &[&Mapping]| -> Vec<Vec<Option<Seen>>> {
        let now = now_ms();
        names
            .iter()
            .map(|n| {
                let scope = config.route(n).id;
                qtypes
                    .iter()
                    .map(|&q| seen(maps, n, q, scope, now))
                    .collect()
            })
            .collect()
    };
    let before = look(&maps);
    // Whatever was noted before (nothing, today) is dropped, so that the
    // log read after the lookup is this lookup's alone.
    let _ = provenance::take();
    let started_ms = now_ms();
    let started = Instant::now();
    let mut report = match (family, address) {
        (Some(family), _) => {
            let outcome = Resolver::global().lookup_host_owned(query.as_bytes(), family);
            let mut r = empty_report(query, &outcome);
            if let Outcome::Found(a) = &outcome {
                r.name = Some(a.name.clone());
                r.aliases = a.aliases.clone();
                r.addresses = a.v4.iter().map(ToString::to_string).collect();
                r.v4_count = r.addresses.len();
                r.addresses.extend(a.v6.iter().map(ToString::to_string));
                r.ttl = Some(a.ttl);
            }
            r
        }
        (None, Some(addr)) => Resolver::global().lookup_addr(addr, |outcome| {
            let mut r = empty_report(query, &outcome);
            if let Outcome::Found(p) = &outcome {
                r.name = Some(p.name.to_owned());
                r.ttl = Some(p.ttl);
            }
            r
        }),
        (None, None) => return Err("nothing to ask".into()),
    };
    report.time_ms = started.elapsed().as_secs_f64() * 1000.0;
    let exchanges = provenance::take();
    // Reopened: the lookup may have created our file.
    let own = files::open(&config, Some(uid), false).ok();
    let maps: Vec<&Mapping> = [own.as_ref(), root.as_ref()]
        .into_iter()
        .flatten()
        .map(|(_, m)| m)
        .collect();
    let after = look(&maps);
    let now = now_ms();
    // The search stops at the first candidate with data; the last one
    // looked at is the one the last upstream exchange was about.
    let answers = |i: usize, types: &Vec<Option<Seen>>| {
        let local = names.get(i).and_then(|n| config.route(n).local);
        match local {
            Some(LocalAnswer::Addrs { .. }) => true,
            Some(LocalAnswer::NxDomain) => false,
            None => types.iter().flatten().any(|s| s.kind == Kind::Positive),
        }
    };
    let last = after
        .iter()
        .enumerate()
        .position(|(i, types)| answers(i, types))
        .unwrap_or(names.len().saturating_sub(1));
    for (i, name) in names.iter().enumerate().take(last + 1) {
        for (j, &q) in qtypes.iter().enumerate() {
            let was = before.get(i).and_then(|t| t.get(j)).cloned().flatten();
            let is = after.get(i).and_then(|t| t.get(j)).cloned().flatten();
            // This lookup's exchange for the question, if it went upstream.
            let exchange = exchanges
                .iter()
                .rev()
                .find(|e| e.qtype == q && e.name.eq_ignore_ascii_case(name));
            let route = config.route(name);
            let server = exchange.map(|e| e.server);
            let mut asked = question(name, q, was, is, server, started_ms, now);
            if let (Some(e), "none") = (exchange, asked.result) {
                // The server answered and nothing was stored: say what it
                // said, and why the cache kept none of it.
                if let Some(addr) = e.refused {
                    asked.result = "refused";
                    asked.refused_address = Some(addr.to_string());
                    asked.not_cached = Some("refused by stop-dns-rebind");
                } else {
                    let (result, why) = not_cached(e.said, &config.cache);
                    asked.result = result;
                    asked.not_cached = Some(why);
                    if result == "data" && i == last {
                        asked.addresses = answer_addresses(&report, q);
                    }
                }
            }
            asked.route = route.domain.unwrap_or("default").to_owned();
            if let Some(local) = route.local {
                asked.source = "local";
                asked.result = local_result(local, q, &mut asked.addresses);
                // The module gives local answers with TTL 0.
                asked.ttl = (asked.result == "data").then_some(0);
            }
            report.questions.push(asked);
        }
    }
    if json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        println!("{text}");
    } else {
        print!("{}", text(&report));
    }
    Ok(if report.outcome == "found" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn empty_report<T>(query: &str, outcome: &Outcome<T>) -> Report {
    Report {
        query: query.to_owned(),
        outcome: match outcome {
            Outcome::Found(_) => "found",
            Outcome::NotFound => "nxdomain",
            Outcome::NoData => "nodata",
            Outcome::TryAgain => "tryagain",
            Outcome::Unavailable => "unavailable",
        },
        name: None,
        aliases: Vec::new(),
        addresses: Vec::new(),
        v4_count: 0,
        ttl: None,
        questions: Vec::new(),
        time_ms: 0.0,
    }
}

/// The entry for `name`/`qtype`, stored under the name's route `scope`,
/// in the first file that has one.
fn seen(maps: &[&Mapping], name: &str, qtype: QType, scope: u64, now: u64) -> Option<Seen> {
    let key = Key::scoped(name, qtype, scope);
    maps.iter().find_map(|m| {
        let found = m.table().get(&key, now)?;
        let e = found.entry;
        let mut addresses: Vec<String> = e.v4.iter().map(ToString::to_string).collect();
        addresses.extend(e.v6.iter().map(ToString::to_string));
        if qtype == QType::Ptr && e.kind == Kind::Positive {
            addresses.push(e.canonical.clone());
        }
        Some(Seen {
            kind: e.kind,
            stored_ms: e.stored_ms,
            expires_ms: e.expires_ms,
            addresses,
        })
    })
}

/// What an `address=` answer gives for `qtype` (never cached: it is not
/// an entry), its addresses put in `addresses`.
fn local_result(local: &LocalAnswer, qtype: QType, addresses: &mut Vec<String>) -> &'static str {
    let LocalAnswer::Addrs { v4, v6 } = local else {
        return "nxdomain";
    };
    // The packed bytes, read as the module's own answers are.
    let view = HostView::from_parts("", &[], v4, v6, 0);
    *addresses = match qtype {
        QType::A => view.v4().map(|a| a.to_string()).collect(),
        QType::Aaaa => view.v6().map(|a| a.to_string()).collect(),
        QType::Ptr => Vec::new(),
    };
    if addresses.is_empty() {
        "nodata"
    } else {
        "data"
    }
}

fn question(
    name: &str,
    qtype: QType,
    was: Option<Seen>,
    is: Option<Seen>,
    server: Option<std::net::SocketAddr>,
    started_ms: u64,
    now: u64,
) -> Question {
    let from_cache = match (&was, &is) {
        (Some(w), Some(i)) => w.stored_ms == i.stored_ms,
        _ => false,
    };
    let (source, state) = if from_cache {
        let fresh = was.as_ref().is_some_and(|w| w.expires_ms > started_ms);
        ("cache", Some(if fresh { "fresh" } else { "stale" }))
    } else if server.is_some() {
        ("upstream", None)
    } else if is.is_some() {
        ("another process", None)
    } else {
        ("unknown", None)
    };
    Question {
        name: name.to_owned(),
        qtype: type_name(qtype),
        result: match is.as_ref().map(|s| s.kind) {
            Some(Kind::Positive) => "data",
            Some(Kind::NxDomain) => "nxdomain",
            Some(Kind::NoData) => "nodata",
            None => "none",
        },
        ttl: is
            .as_ref()
            .map(|s| rustcache::cache::policy::remaining_ttl(s.expires_ms, now)),
        addresses: is.map(|s| s.addresses).unwrap_or_default(),
        source,
        // Set by the caller, which resolved the route.
        route: String::new(),
        state,
        server: server.map(|s| s.to_string()),
        refused_address: None,
        not_cached: None,
    }
}

/// What a server's answer that left no entry was ("data", "nodata",
/// "nxdomain"), and why the cache kept none of it: the policy the module
/// stored it under, applied again.
fn not_cached(said: Said, settings: &CacheSettings) -> (&'static str, &'static str) {
    let (result, stored_ttl) = match said {
        Said::Data { ttl } => ("data", Some(positive_ttl(settings, ttl))),
        Said::NoData { negative_ttl: soa } => ("nodata", negative_ttl(settings, soa)),
        Said::NxDomain { negative_ttl: soa } => ("nxdomain", negative_ttl(settings, soa)),
    };
    let why = match stored_ttl {
        _ if !settings.enabled => "cache no",
        None => "no SOA in the reply",
        Some(0) if result == "data" => "TTL 0",
        Some(0) => "negative TTL 0",
        Some(_) => "not stored",
    };
    (result, why)
}

/// The addresses of the lookup's answer for `qtype` (the answer the last
/// candidate gave, which is the one an uncached data answer belongs to).
fn answer_addresses(report: &Report, qtype: QType) -> Vec<String> {
    let (v4, v6) = report
        .addresses
        .split_at(report.v4_count.min(report.addresses.len()));
    match qtype {
        QType::A => v4.to_vec(),
        QType::Aaaa => v6.to_vec(),
        QType::Ptr => report.name.iter().cloned().collect(),
    }
}

fn text(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for q in &r.questions {
        let result = match q.result {
            "data" => q.addresses.join(" "),
            "nxdomain" => "NXDOMAIN".to_owned(),
            "nodata" => "NODATA".to_owned(),
            "refused" => format!(
                "refused by stop-dns-rebind ({})",
                q.refused_address.as_deref().unwrap_or("?")
            ),
            _ => "no entry".to_owned(),
        };
        let kept = match (q.not_cached, q.ttl) {
            (Some("refused by stop-dns-rebind"), _) => ", not cached".to_owned(),
            (Some(why), _) => format!(", not cached ({why})"),
            (None, Some(t)) => format!(" ttl {t}"),
            (None, None) => String::new(),
        };
        let source = match (q.source, q.state, &q.server) {
            ("cache", Some(state), _) => format!("the cache ({state})"),
            ("upstream", _, Some(server)) => format!("upstream {server}"),
            ("local", ..) => "a local answer (address=)".to_owned(),
            (other, ..) => other.to_owned(),
        };
        let route = if q.route == "default" {
            "the default servers".to_owned()
        } else {
            format!("route {}", q.route)
        };
        let _ = writeln!(
            out,
            "{} {}: {result}{kept}, from {source}, via {route}",
            q.name, q.qtype
        );
    }
    match (&r.name, r.outcome) {
        (Some(name), "found") => {
            let aliases = if r.aliases.is_empty() {
                String::new()
            } else {
                format!(" (aliases {})", r.aliases.join(" "))
            };
            let _ = writeln!(
                out,
                "answer: {name}{aliases} {} ttl {} in {:.3} ms",
                r.addresses.join(" "),
                r.ttl.unwrap_or(0),
                r.time_ms
            );
        }
        _ => {
            let what = match r.outcome {
                "nxdomain" => describe::<()>(&Outcome::NotFound),
                "nodata" => describe::<()>(&Outcome::NoData),
                "tryagain" => describe::<()>(&Outcome::TryAgain),
                _ => describe::<()>(&Outcome::Unavailable),
            };
            let _ = writeln!(out, "answer: {what}, in {:.3} ms", r.time_ms);
        }
    }
    out
}
