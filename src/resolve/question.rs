//! One name's questions (A and/or AAAA, or PTR) answered from the shared
//! cache or the upstream servers, with the cache policy applied:
//!
//! 1. Fresh entries (own file first, then root's) answer at once. An entry
//!    hit in the last tenth of its TTL is refreshed by the one caller that
//!    wins its refresh lease (still valid, so that caller waits for the
//!    upstream only as long as the entry lives).
//! 2. A stale entry whose upstream failed less than 30 s ago is served
//!    without asking again (RFC 8767).
//! 3. Otherwise one caller per name takes the miss lease and asks; others
//!    wait for its answer to appear in the cache (bounded by the lease and
//!    their own deadline), then ask themselves only for what is still
//!    missing.
//! 4. Answers are stored: positive with their TTL clamped, negative for
//!    the SOA-derived time (RFC 2308); failures are not stored, but with a
//!    stale entry in hand the upstream is waited for at most 1.8 s and the
//!    stale answer served with TTL 30.

use std::time::{Duration, Instant};

use crate::cache::policy::{
    negative_ttl, positive_ttl, remaining_ttl, stale_limit_ms, wants_refresh,
    CLIENT_RESPONSE_TIMER, STALE_RETRY_MS, STALE_TTL,
};
use crate::cache::{Entry, Found, Key, Kind, Lease, Session, Stat, Table};
use crate::clock::now_ms;
use crate::config::Config;
use crate::upstream::{ask, Answer, Chain, Counters, HealthTable, Plan, QType, Reply, Unavailable};

/// What is known about one question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Known {
    /// Records (with the TTL to report).
    Data(Chain),
    /// The name does not exist.
    NxDomain,
    /// The name exists without records of this type.
    NoData,
    /// The servers answered only with failures.
    ServFail,
    /// No server answered in time.
    Timeout,
}

/// Everything one lookup needs to answer questions.
pub struct Asker<'a> {
    pub config: &'a Config,
    pub session: &'a Session<'a>,
    /// Health records when there is no cache file to keep them in.
    pub local_health: HealthTable<'a>,
    pub deadline: Instant,
    pub rotate: usize,
}

/// Polling interval bounds while waiting for another process's answer.
const WAIT_FIRST: Duration = Duration::from_micros(200);
const WAIT_MAX: Duration = Duration::from_millis(5);

impl Asker<'_> {
    /// Answers `qtypes` (one or two) for `name`, in the same order.
    pub fn answer(&self, name: &str, qtypes: &[QType]) -> Result<Vec<Known>, Unavailable> {
        let keys: Vec<Key> = qtypes.iter().map(|&q| Key::new(name, q)).collect();
        self.answer_keys(name, &keys, true)
    }

    fn answer_keys(
        &self,
        name: &str,
        keys: &[Key],
        may_wait: bool,
    ) -> Result<Vec<Known>, Unavailable> {
        let own = self.session.own();
        let now = now_ms();
        let found: Vec<Option<Found>> = keys.iter().map(|k| self.find(k, now)).collect();
        let fresh = |f: &Option<Found>| f.as_ref().is_some_and(|f| now < f.entry.expires_ms);
        let need: Vec<usize> = (0..keys.len()).filter(|&i| !fresh(&found[i])).collect();

        if need.is_empty() {
            return Ok(self.answer_from_cache(name, keys, &found, now));
        }
        let stale_limit = stale_limit_ms(&self.config.cache);
        let stale = |f| usable_stale(f, now, stale_limit);
        // RFC 8767: the upstream failed for this name lately; do not ask
        // again yet, serve what we have.
        if need
            .iter()
            .all(|&i| stale(&found[i]).is_some_and(|f| f.entry.retry_after_ms > now))
        {
            self.count(Stat::StaleAnswers, need.len() as u64);
            return Ok(self.assemble(name, &found, now, |_| None));
        }
        let mut leased = None;
        if let (Some(own), Some(&first)) = (own, need.first()) {
            let lease_key = &keys[first];
            let until = now + self.remaining_ms();
            match own.try_lease(lease_key, now, until) {
                Lease::Acquired => leased = Some(lease_key),
                Lease::HeldByOther if may_wait => {
                    self.wait_for_other(own, lease_key, keys, &need);
                    self.count(Stat::CoalescedWaits, 1);
                    return self.answer_keys(name, keys, false);
                }
                Lease::HeldByOther | Lease::Unavailable => {}
            }
        }
        self.count(Stat::Misses, need.len() as u64);
        let any_stale = need.iter().any(|&i| stale(&found[i]).is_some());
        let deadline = if any_stale {
            self.deadline.min(Instant::now() + CLIENT_RESPONSE_TIMER)
        } else {
            self.deadline
        };
        let qtypes: Vec<QType> = need.iter().map(|&i| keys[i].qtype).collect();
        let fetched = self.fetch(name, &qtypes, deadline);
        let now = now_ms();
        let mut fresh_known: Vec<Option<Known>> = vec![None; keys.len()];
        let mut unavailable = false;
        match fetched {
            Ok(answers) => {
                for (&i, answer) in need.iter().zip(answers) {
                    fresh_known[i] = self.store(name, &keys[i], answer, now, stale(&found[i]));
                }
            }
            Err(Unavailable) => {
                unavailable = true;
                for &i in &need {
                    fresh_known[i] =
                        stale(&found[i]).map(|f| self.serve_stale(name, &keys[i], f, now));
                }
            }
        }
        if let (Some(own), Some(key)) = (own, leased) {
            own.release_lease(key);
        }
        if unavailable
            && fresh_known
                .iter()
                .zip(&found)
                .any(|(k, f)| k.is_none() && !fresh(f))
        {
            return Err(Unavailable);
        }
        Ok(self.assemble(name, &found, now, |i| fresh_known[i].clone()))
    }

    /// Fresh entry from our own file, else from root's; failing both, a
    /// stale one from either.
    fn find(&self, key: &Key, now: u64) -> Option<Found> {
        let own = self.session.own().and_then(|t| t.get(key, now));
        if own.as_ref().is_some_and(|f| now < f.entry.expires_ms) {
            return own;
        }
        let root = self.session.root().and_then(|t| t.get(key, now));
        if root.as_ref().is_some_and(|f| now < f.entry.expires_ms) {
            return root;
        }
        own.or(root)
    }

    /// All questions answered from fresh entries; the one caller that wins
    /// an entry's refresh lease in its last tenth refreshes it first.
    fn answer_from_cache(
        &self,
        name: &str,
        keys: &[Key],
        found: &[Option<Found>],
        now: u64,
    ) -> Vec<Known> {
        let mut refreshed: Vec<Option<Known>> = vec![None; keys.len()];
        if let Some(own) = self.session.own() {
            let due: Vec<usize> = (0..keys.len())
                .filter(|&i| {
                    found[i].as_ref().is_some_and(|f| {
                        f.entry.kind == Kind::Positive
                            && wants_refresh(f.entry.stored_ms, f.entry.expires_ms, now)
                            && own.try_refresh_lease(f.slot, now, f.entry.expires_ms)
                    })
                })
                .collect();
            if !due.is_empty() {
                let expires = due
                    .iter()
                    .filter_map(|&i| found[i].as_ref().map(|f| f.entry.expires_ms))
                    .min()
                    .unwrap_or(now);
                let until = self
                    .deadline
                    .min(Instant::now() + Duration::from_millis(expires.saturating_sub(now)));
                let qtypes: Vec<QType> = due.iter().map(|&i| keys[i].qtype).collect();
                if let Ok(answers) = self.fetch(name, &qtypes, until) {
                    let now = now_ms();
                    for (&i, answer) in due.iter().zip(answers) {
                        if let Answer::Reply(_) = answer {
                            refreshed[i] = self.store(name, &keys[i], answer, now, None);
                        }
                    }
                }
                self.count(Stat::Refreshes, due.len() as u64);
            }
        }
        let hits = found
            .iter()
            .filter(|f| f.as_ref().is_some_and(|f| f.entry.kind == Kind::Positive))
            .count() as u64;
        self.count(Stat::Hits, hits);
        self.count(Stat::NegativeHits, keys.len() as u64 - hits);
        self.assemble(name, found, now, |i| refreshed[i].clone())
    }

    /// What each question comes to: `fresh(i)` if it has something, else
    /// the cached entry (fresh, or stale with the stale TTL).
    fn assemble(
        &self,
        name: &str,
        found: &[Option<Found>],
        now: u64,
        fresh: impl Fn(usize) -> Option<Known>,
    ) -> Vec<Known> {
        (0..found.len())
            .map(|i| {
                fresh(i).unwrap_or_else(|| match &found[i] {
                    Some(f) => known_from_entry(name, &f.entry, now),
                    None => Known::Timeout,
                })
            })
            .collect()
    }

    /// Waits (bounded by the lease and our deadline) until the questions in
    /// `need` are in the cache or the other caller gives up.
    fn wait_for_other(&self, own: Table<'_>, lease_key: &Key, keys: &[Key], need: &[usize]) {
        let mut pause = WAIT_FIRST;
        loop {
            std::thread::sleep(pause);
            pause = (pause * 2).min(WAIT_MAX);
            let now = now_ms();
            let all_fresh = need.iter().all(|&i| {
                self.find(&keys[i], now)
                    .is_some_and(|f| now < f.entry.expires_ms)
            });
            if all_fresh || !own.lease_held(lease_key, now) || Instant::now() >= self.deadline {
                return;
            }
        }
    }

    /// Asks the upstream servers, counting what it cost.
    fn fetch(
        &self,
        name: &str,
        qtypes: &[QType],
        deadline: Instant,
    ) -> Result<Vec<Answer>, Unavailable> {
        let own = self.session.own();
        let plan = Plan {
            servers: &self.config.servers,
            health: own.map_or(self.local_health, |t| t.health()),
            round: self.config.options.timeout,
            attempts: self.config.options.attempts,
            deadline,
            rotate: self.rotate,
        };
        let mut counters = Counters::default();
        let result = ask(&plan, name, qtypes, &mut counters);
        self.count(Stat::UpstreamQueries, u64::from(counters.queries));
        self.count(Stat::Hedges, u64::from(counters.hedges));
        self.count(Stat::TcpRetries, u64::from(counters.tcp));
        if let Ok(answers) = &result {
            let timeouts = answers.iter().filter(|a| **a == Answer::NoResponse).count();
            self.count(Stat::Timeouts, timeouts as u64);
        }
        result
    }

    /// Turns an upstream answer into what is known, storing it; a failure
    /// with a stale entry in hand serves that entry.
    fn store(
        &self,
        name: &str,
        key: &Key,
        answer: Answer,
        now: u64,
        stale: Option<&Found>,
    ) -> Option<Known> {
        let settings = &self.config.cache;
        let (known, entry) = match answer {
            Answer::Reply(Reply::Data(mut chain)) if !chain.is_empty() => {
                chain.ttl = positive_ttl(settings, chain.ttl);
                let entry = entry_from_chain(&chain, key.qtype, now);
                (Known::Data(chain), Some(entry))
            }
            Answer::Reply(Reply::Data(chain)) => (
                Known::NoData,
                negative_ttl(settings, chain.negative_ttl)
                    .map(|t| negative_entry(Kind::NoData, t, now)),
            ),
            Answer::Reply(Reply::NxDomain { negative_ttl: soa }) => (
                Known::NxDomain,
                negative_ttl(settings, soa).map(|t| negative_entry(Kind::NxDomain, t, now)),
            ),
            failure => {
                if let Some(f) = stale {
                    return Some(self.serve_stale(name, key, f, now));
                }
                return Some(match failure {
                    Answer::NoResponse => Known::Timeout,
                    _ => Known::ServFail,
                });
            }
        };
        if let (Some(own), Some(entry)) = (self.session.own(), entry) {
            if entry.ttl > 0 {
                own.put(key, &entry, now, stale_limit_ms(settings));
            }
        }
        Some(known)
    }

    /// Serves an expired entry with the stale TTL and marks it so the
    /// upstream is not asked for it again for a while.
    fn serve_stale(&self, name: &str, key: &Key, found: &Found, now: u64) -> Known {
        self.count(Stat::StaleAnswers, 1);
        if let Some(own) = self.session.own() {
            let mut entry = found.entry.clone();
            entry.retry_after_ms = now + STALE_RETRY_MS;
            own.put(key, &entry, now, stale_limit_ms(&self.config.cache));
        }
        let mut entry = found.entry.clone();
        entry.expires_ms = now + u64::from(STALE_TTL) * 1000;
        known_from_entry(name, &entry, now)
    }

    fn remaining_ms(&self) -> u64 {
        u64::try_from(
            self.deadline
                .saturating_duration_since(Instant::now())
                .as_millis(),
        )
        .unwrap_or(u64::MAX)
    }

    fn count(&self, stat: Stat, n: u64) {
        if let Some(own) = self.session.own() {
            own.count(stat, n);
        }
    }
}

/// An expired positive entry that may still be served stale.
fn usable_stale(found: &Option<Found>, now: u64, stale_limit: u64) -> Option<&Found> {
    found.as_ref().filter(|f| {
        f.entry.kind == Kind::Positive
            && now >= f.entry.expires_ms
            && now < f.entry.expires_ms.saturating_add(stale_limit)
    })
}

fn entry_from_chain(chain: &Chain, qtype: QType, now: u64) -> Entry {
    Entry {
        kind: Kind::Positive,
        ttl: chain.ttl,
        stored_ms: now,
        expires_ms: now + u64::from(chain.ttl) * 1000,
        retry_after_ms: 0,
        canonical: match qtype {
            QType::Ptr => chain.names.first().cloned().unwrap_or_default(),
            _ => chain.canonical.clone(),
        },
        aliases: chain.aliases.clone(),
        v4: chain.v4.clone(),
        v6: chain.v6.clone(),
    }
}

fn negative_entry(kind: Kind, ttl: u32, now: u64) -> Entry {
    Entry {
        kind,
        ttl,
        stored_ms: now,
        expires_ms: now + u64::from(ttl) * 1000,
        retry_after_ms: 0,
        canonical: String::new(),
        aliases: Vec::new(),
        v4: Vec::new(),
        v6: Vec::new(),
    }
}

/// A cached entry as what is known, for a caller who asked for `name`.
/// The upstream echoes the question's spelling in the answer's first owner
/// name; the cache holds whoever asked first, so that name is given back
/// in this caller's spelling, as glibc's `dns` module would.
fn known_from_entry(name: &str, entry: &Entry, now: u64) -> Known {
    let respell = |n: &str| {
        if n.eq_ignore_ascii_case(name) {
            name.to_owned()
        } else {
            n.to_owned()
        }
    };
    match entry.kind {
        Kind::NxDomain => Known::NxDomain,
        Kind::NoData => Known::NoData,
        Kind::Positive => {
            let ptr = entry.v4.is_empty() && entry.v6.is_empty();
            Known::Data(Chain {
                canonical: respell(&entry.canonical),
                aliases: entry
                    .aliases
                    .iter()
                    .enumerate()
                    .map(|(i, a)| if i == 0 { respell(a) } else { a.clone() })
                    .collect(),
                v4: entry.v4.clone(),
                v6: entry.v6.clone(),
                names: if ptr {
                    vec![entry.canonical.clone()]
                } else {
                    Vec::new()
                },
                ttl: remaining_ttl(entry.expires_ms, now),
                negative_ttl: None,
            })
        }
    }
}
