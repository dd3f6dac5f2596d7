//! `rustcache dump`: every entry of the shared cache, checked as a lookup
//! checks it (see `rustcache::cache::Listed`).

use std::fmt::Write as _;
use std::process::ExitCode;

use rustcache::cache::policy::remaining_ttl;
use rustcache::cache::{Kind, Listed};
use rustcache::clock::now_ms;
use rustcache::upstream::QType;
use serde::Serialize;

use crate::files;

/// One entry as `dump --json` prints it.
#[derive(Serialize)]
pub struct Row {
    pub name: String,
    /// "A", "AAAA" or "PTR".
    #[serde(rename = "type")]
    pub qtype: &'static str,
    /// "fresh" (an answer, served), "stale" (an expired answer: served
    /// only while every upstream fails, up to stale-max-age), "negative"
    /// (NXDOMAIN or NODATA, served) or "expired" (an expired negative
    /// entry, never served).
    pub state: &'static str,
    /// "data", "nxdomain" or "nodata".
    pub answer: &'static str,
    /// Seconds until it expires (0 once expired).
    pub ttl: u32,
    /// The TTL it was stored with.
    pub stored_ttl: u32,
    /// Seconds since it was stored.
    pub age: u64,
    /// Seconds since it was last hit or stored (eviction's clock: kept
    /// to the second, not per hit).
    pub last_used: u64,
    /// Hits since it was stored, counted by the file owner's processes
    /// (users reading root's file cannot write it); approximate when
    /// processes hit it at the same instant.
    pub hits: u32,
    /// The canonical name (A/AAAA) or the PTR target; absent if none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canonical: Option<String>,
    pub aliases: Vec<String>,
    pub addresses: Vec<String>,
}

pub fn type_name(q: QType) -> &'static str {
    match q {
        QType::A => "A",
        QType::Aaaa => "AAAA",
        QType::Ptr => "PTR",
    }
}

pub fn row(listed: &Listed, now: u64) -> Row {
    let e = &listed.entry;
    let expired = now >= e.expires_ms;
    let (state, answer) = match (e.kind, expired) {
        (Kind::Positive, false) => ("fresh", "data"),
        (Kind::Positive, true) => ("stale", "data"),
        (Kind::NxDomain, false) => ("negative", "nxdomain"),
        (Kind::NxDomain, true) => ("expired", "nxdomain"),
        (Kind::NoData, false) => ("negative", "nodata"),
        (Kind::NoData, true) => ("expired", "nodata"),
    };
    let canonical = match e.kind {
        Kind::Positive if !e.canonical.eq_ignore_ascii_case(&listed.name) => {
            Some(e.canonical.clone())
        }
        _ => None,
    };
    Row {
        name: listed.name.clone(),
        qtype: type_name(listed.qtype),
        state,
        answer,
        ttl: remaining_ttl(e.expires_ms, now),
        stored_ttl: e.ttl,
        age: now.saturating_sub(e.stored_ms) / 1000,
        last_used: now.saturating_sub(listed.last_used_ms) / 1000,
        hits: listed.hits,
        canonical,
        aliases: e.aliases.clone(),
        addresses: e
            .v4
            .iter()
            .map(ToString::to_string)
            .chain(e.v6.iter().map(ToString::to_string))
            .collect(),
    }
}

pub fn run(uid: Option<u32>, json: bool) -> Result<ExitCode, String> {
    let config = files::config();
    let (_, mapping) = files::open(&config, uid, false)?;
    let now = now_ms();
    let table = mapping.table();
    let mut rows: Vec<Row> = table
        .entries(&config.scopes())
        .map(|l| row(&l, now))
        .collect();
    // Entries of other configurations (another RUSTCACHE_CONF, a network
    // namespace's resolv.conf) cannot be checked without their scope: said,
    // not shown.
    let others = table.occupied().saturating_sub(rows.len());
    rows.sort_by(|a, b| (&a.name, a.qtype).cmp(&(&b.name, b.qtype)));
    if json {
        let text = serde_json::to_string_pretty(&rows).map_err(|e| e.to_string())?;
        println!("{text}");
    } else {
        print!("{}", text(&rows, others));
    }
    Ok(ExitCode::SUCCESS)
}

fn text(rows: &[Row], others: usize) -> String {
    let mut out = String::new();
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    let _ = writeln!(
        out,
        "{:<width$}  TYPE  STATE     TTL       HITS   LAST USED  ANSWER",
        "NAME"
    );
    for r in rows {
        let answer = match r.answer {
            "nxdomain" => "NXDOMAIN".to_owned(),
            "nodata" => "NODATA".to_owned(),
            _ => {
                let mut parts = Vec::new();
                if let Some(c) = &r.canonical {
                    parts.push(format!("{c}:"));
                }
                parts.extend(r.addresses.iter().cloned());
                parts.join(" ")
            }
        };
        let _ = writeln!(
            out,
            "{:<width$}  {:<4}  {:<8}  {:<6}  {:>6}  {:>5} s ago  {answer}",
            r.name, r.qtype, r.state, r.ttl, r.hits, r.last_used
        );
    }
    let n = rows.len();
    let _ = write!(out, "{n} {}", if n == 1 { "entry" } else { "entries" });
    let _ = if others > 0 {
        writeln!(
            out,
            " ({others} more of other configurations, or being written, not shown)"
        )
    } else {
        writeln!(out)
    };
    out
}
