//! The names of a scenario, the zone the scripted servers answer them from, and the
//! check of every answer a probe printed.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use rustcache_testkit::dns::Zone;
use rustcache_testkit::ns::ProbeOutput;

use crate::error::BenchError;
use crate::runner::Runner;

/// TTL of every record served (long enough never to expire during a run).
pub const TTL: u32 = 300;
/// glibc's worst case per lookup with default options is timeout x attempts = 10 s;
/// a probe gets this much per lookup, plus [`PROBE_SLACK`], before it is killed.
const PER_LOOKUP_LIMIT: Duration = Duration::from_secs(12);
pub const PROBE_SLACK: Duration = Duration::from_secs(10);

/// A name and the addresses its lookup must return (one IPv4 address and at most one
/// IPv6 address).
#[derive(Clone, Debug)]
pub struct Expected {
    pub name: String,
    pub v4: Ipv4Addr,
    pub v6: Option<Ipv6Addr>,
}

impl Expected {
    pub fn new(name: &str, v4: Ipv4Addr, v6: Option<Ipv6Addr>) -> Self {
        Expected {
            name: name.to_string(),
            v4,
            v6,
        }
    }

    /// Name number `i` of a scenario, with an A and an AAAA record: addresses from the
    /// benchmarking range 198.18.0.0/15 (RFC 2544) and from 2001:db8:5::/48, distinct
    /// per `i`.
    pub fn numbered(name: &str, i: usize) -> Self {
        let i = u16::try_from(i).unwrap_or(u16::MAX);
        let [hi, lo] = i.to_be_bytes();
        Expected::new(
            name,
            Ipv4Addr::new(198, 18, hi, lo),
            Some(Ipv6Addr::new(0x2001, 0xdb8, 5, 0, 0, 0, 0, i)),
        )
    }

    /// The addresses as the probe prints them, sorted.
    fn wanted(&self) -> Vec<String> {
        let mut want = vec![format!("inet:{}", self.v4)];
        if let Some(v6) = self.v6 {
            want.push(format!("inet6:{v6}"));
        }
        want.sort_unstable();
        want
    }

    /// True when a probe's `gai` result (or a `loop` result) holds exactly the
    /// expected addresses, in any order.
    pub fn matches(&self, result: &str) -> bool {
        let Some(addrs) = result.strip_prefix("ok addrs=") else {
            return false;
        };
        let mut got: Vec<&str> = addrs.split(',').collect();
        got.sort_unstable();
        got == self.wanted()
    }

    fn describe(&self) -> String {
        self.wanted().join(" and ")
    }
}

/// A zone with the example.com apex, so unknown names (and missing AAAA records) get
/// a proper NXDOMAIN (NODATA) with the SOA.
pub fn base_zone() -> Zone {
    Zone::new().soa("example.com", 60)
}

/// [`base_zone`] with the records of every name.
pub fn zone_of<'a>(names: impl IntoIterator<Item = &'a Expected>) -> Zone {
    names.into_iter().fold(base_zone(), |z, e| {
        let z = z.a(&e.name, TTL, e.v4);
        match e.v6 {
            Some(v6) => z.aaaa(&e.name, TTL, v6),
            None => z,
        }
    })
}

/// The probe operation that times one `getaddrinfo(name, AF_UNSPEC)`.
pub fn gai_op(name: &str) -> String {
    format!("time gai {name} unspec")
}

/// How long a probe doing `lookups` lookups may run.
pub fn lookup_limit(lookups: usize) -> Duration {
    PER_LOOKUP_LIMIT * u32::try_from(lookups).unwrap_or(u32::MAX) + PROBE_SLACK
}

/// Checks that a probe exited well and that its first results answer `expected` in
/// order; returns the `time`d operations' durations, in order.
pub fn check_results(
    out: &ProbeOutput,
    expected: &[Expected],
) -> Result<Vec<Duration>, BenchError> {
    exited_well(out)?;
    check_answers(out, &out.results(), expected)?;
    Ok(out.timings().into_iter().map(|(_, d)| d).collect())
}

/// Whether the probe exited 0 within its time.
fn exited_well(out: &ProbeOutput) -> Result<(), BenchError> {
    if out.success() {
        return Ok(());
    }
    Err(BenchError::Probe {
        what: "the probe failed or timed out".to_string(),
        output: out.clone(),
    })
}

/// Checks that `results` (some of `out`'s) answer `expected` in order.
fn check_answers(
    out: &ProbeOutput,
    results: &[&str],
    expected: &[Expected],
) -> Result<(), BenchError> {
    let fail = |what: String| BenchError::Probe {
        what,
        output: out.clone(),
    };
    for (i, e) in expected.iter().enumerate() {
        match results.get(i) {
            Some(r) if e.matches(r) => {}
            Some(r) => {
                return Err(fail(format!(
                    "wrong answer for {}: {r:?} (expected {})",
                    e.name,
                    e.describe()
                )))
            }
            None => return Err(fail(format!("no answer for {}", e.name))),
        }
    }
    Ok(())
}

/// [`check_results`] for a probe that timed every lookup: one duration per name.
pub fn check_lookups(
    out: &ProbeOutput,
    expected: &[Expected],
) -> Result<Vec<Duration>, BenchError> {
    let timings = check_results(out, expected)?;
    one_timing_each(out, timings, expected.len())
}

/// `timings`, if there is one per lookup.
fn one_timing_each(
    out: &ProbeOutput,
    timings: Vec<Duration>,
    lookups: usize,
) -> Result<Vec<Duration>, BenchError> {
    if timings.len() != lookups {
        return Err(BenchError::Probe {
            what: format!("{} timings for {lookups} lookups", timings.len()),
            output: out.clone(),
        });
    }
    Ok(timings)
}

/// One probe looking up every name in order (a timed `getaddrinfo(AF_UNSPEC)` each),
/// every answer checked; returns each lookup's duration.
pub fn lookups_in_one_process(
    runner: &Runner<'_>,
    names: &[Expected],
) -> Result<Vec<Duration>, BenchError> {
    let ops: Vec<String> = names.iter().map(|e| gai_op(&e.name)).collect();
    let out = runner.probe(&ops, lookup_limit(ops.len()))?;
    check_lookups(&out, names)
}

/// Like [`lookups_in_one_process`], the process sleeping `idle` before each lookup
/// (the probe's `sleep` operation), so that every lookup meets a machine, and a
/// server, that has been quiet that long; returns each lookup's duration.
pub fn lookups_after_idle(
    runner: &Runner<'_>,
    names: &[Expected],
    idle: Duration,
) -> Result<Vec<Duration>, BenchError> {
    let sleep = format!("sleep {}", idle.as_millis());
    let ops: Vec<String> = names
        .iter()
        .flat_map(|e| [sleep.clone(), gai_op(&e.name)])
        .collect();
    let limit = lookup_limit(names.len()) + idle * u32::try_from(names.len()).unwrap_or(u32::MAX);
    let out = runner.probe(&ops, limit)?;
    exited_well(&out)?;
    // Every other result is a sleep's: the lookups' are at the odd places.
    let lookups: Vec<&str> = out.results().into_iter().skip(1).step_by(2).collect();
    check_answers(&out, &lookups, names)?;
    let timings = out.timings().into_iter().map(|(_, d)| d).collect();
    one_timing_each(&out, timings, names.len())
}

/// A dot on stderr every tenth of the way.
pub fn progress(done: usize, of: usize) {
    if of < 10 || (done + 1) % (of / 10) == 0 {
        eprint!(".");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_must_hold_exactly_the_expected_addresses() {
        let dual = Expected::numbered("a.example.com", 1);
        assert!(dual.matches("ok addrs=inet6:2001:db8:5::1,inet:198.18.0.1"));
        assert!(!dual.matches("ok addrs=inet:198.18.0.1"));
        let v4 = Expected::new("b.example.com", Ipv4Addr::new(192, 0, 2, 9), None);
        assert!(v4.matches("ok addrs=inet:192.0.2.9"));
        assert!(!v4.matches("ok addrs=inet:192.0.2.9,inet6:2001:db8::9"));
        assert!(!v4.matches("err EAI_AGAIN"));
    }
}
