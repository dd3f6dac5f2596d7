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
//!
//! Data flows one way: an upstream answer is encoded into the cache's entry
//! format, stored, and the caller is served from that same encoding, as a
//! later caller will be from the cache. A hit copies the slot to the stack
//! and is served from there: no allocation.

use std::cell::{Cell, OnceCell};
use std::time::Duration;

use crate::clock::Instant;
use crate::race_cell::RaceCell;

use crate::cache::policy::{
    negative_ttl, positive_ttl, remaining_ttl, stale_limit_ms, wants_refresh,
    CLIENT_RESPONSE_TIMER, HOLDER_LOOK_EVERY, REFRESH_WAIT, STALE_RETRY_MS, STALE_TTL,
};
use crate::cache::{
    Encoded, Entry, Holder, Key, Kind, Layout, Lease, Session, Stat, Table, DATA_BYTES,
    HEALTH_COUNT,
};
use crate::config::{Config, Route};
use crate::name::Candidates;
use crate::upstream::{
    ask, provenance, Answer, Chain, Counters, HealthTable, Plan, QType, Reply, ServerHealth,
    Unavailable,
};

/// Where the entries of one lookup live: question `i`'s entry is in
/// `slots[i]` (a copy of a cache slot, on the stack) or, for an answer too
/// large for a slot, in `large[i]`.
pub struct Scratch {
    slots: [[u8; DATA_BYTES]; 2],
    large: [Option<Vec<u8>>; 2],
}

impl Scratch {
    /// Empty buffers.
    pub fn new() -> Scratch {
        Scratch {
            slots: [[0; DATA_BYTES]; 2],
            large: [None, None],
        }
    }

    /// The bytes of question `i`'s entry.
    pub fn bytes(&self, i: usize) -> &[u8] {
        match self.large.get(i) {
            Some(Some(v)) => v,
            _ => self.slots.get(i).map_or(&[][..], |s| &s[..]),
        }
    }

    /// Puts an encoded entry in place for question `i`.
    fn set(&mut self, i: usize, encoded: Encoded) {
        match encoded {
            Encoded::Slot(b) => {
                if let Some(s) = self.slots.get_mut(i) {
                    *s = b;
                }
                if let Some(l) = self.large.get_mut(i) {
                    *l = None;
                }
            }
            Encoded::Large(v) => {
                if let Some(l) = self.large.get_mut(i) {
                    *l = Some(v);
                }
            }
        }
    }
}

/// Proof of where a cached entry was read: while that slot's counter and
/// the file's generation are unchanged, the slot holds the same bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    /// The mapping (see `cache::Table::id`).
    pub mapping: u64,
    /// The slot.
    pub slot: usize,
    /// Its sequence counter when copied.
    pub seq: u32,
    /// The file's generation when copied.
    pub generation: u64,
}

/// An entry in hand, its bytes in the lookup's [`Scratch`]: copied out of
/// a cache file, or encoded from an upstream answer.
#[derive(Clone, Debug)]
pub struct Held {
    layout: Layout,
    /// Where it was read, if it came from a cache file.
    token: Option<Token>,
    /// TTL to report.
    ttl: u32,
}

impl Held {
    /// Where the parts are.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// TTL to report.
    pub fn ttl(&self) -> u32 {
        self.ttl
    }

    /// Where it was read, if from a cache file.
    pub fn token(&self) -> Option<Token> {
        self.token
    }

    fn fresh(&self, now: u64) -> bool {
        now < self.layout.expires_ms
    }
}

/// What is known about one question.
#[derive(Clone, Debug)]
pub enum Known {
    /// Records (bytes in the lookup's [`Scratch`]).
    Data(Held),
    /// The name does not exist (with the cache entry that says so, if any).
    NxDomain(Option<Held>),
    /// The name exists without records of this type (likewise).
    NoData(Option<Held>),
    /// The servers answered only with failures.
    ServFail,
    /// No server answered in time.
    Timeout,
}

impl Known {
    /// The entry behind this answer, if it is one.
    pub fn held(&self) -> Option<&Held> {
        match self {
            Known::Data(h) | Known::NxDomain(Some(h)) | Known::NoData(Some(h)) => Some(h),
            _ => None,
        }
    }
}

/// What is known about one or two questions, in question order.
pub type Pair = [Option<Known>; 2];

/// Everything one lookup needs to answer questions.
pub struct Asker<'a> {
    pub config: &'a Config,
    pub session: &'a Session<'a>,
    /// Health records when there is no cache file to keep them in (made
    /// on first use, see `local_health`).
    pub local_health: &'a RaceCell<Box<[ServerHealth]>>,
    /// Boot-clock ms at the start of the lookup.
    pub now: u64,
    pub rotate: usize,
    /// The lookup's deadline, fixed the first time the upstream is needed
    /// (a hit never reads the monotonic clock).
    pub deadline: OnceCell<Instant>,
    /// The route of the name being answered (set by [`Asker::answer`]).
    pub route: Cell<Option<Route<'a>>>,
    /// The search list and the position of the name being answered: its
    /// share of the time left is 1/n, n the routes of it and the names
    /// after it (see `resolve::routes_ahead`), worked out only when the
    /// name needs the upstream.
    pub ahead: Cell<Option<(&'a Candidates<'a>, usize)>>,
    /// The end of this name's share, fixed when it first needs the
    /// upstream.
    pub share_end: Cell<Option<Instant>>,
}

/// What the cache holds for one name's questions (phase 1).
struct Look {
    /// The entry found for each question, fresh or not.
    found: [Option<Held>; 2],
    /// The questions without a fresh entry.
    need: [bool; 2],
    /// The needed questions whose expired entry may be served stale.
    stale: [bool; 2],
}

impl Look {
    /// Whether every needed question has a stale entry whose upstream
    /// failed less than the recheck timer ago.
    fn upstream_suppressed(&self, now: u64) -> bool {
        (0..2).all(|i| {
            !self.need[i]
                || (self.stale[i]
                    && self.found[i]
                        .as_ref()
                        .is_some_and(|h| h.layout.retry_after_ms > now))
        })
    }

    /// The first question that needs the upstream: the miss lease's key.
    fn first_needed<'k>(&self, keys: &[Option<Key<'k>>; 2]) -> Option<Key<'k>> {
        (0..2).find(|&i| self.need[i]).and_then(|i| keys[i])
    }
}

/// What the miss lease said (phase 3).
enum Coalesced<'k> {
    /// Ask the upstream, holding this lease if one was taken.
    Ask(Option<Key<'k>>),
    /// Look in the cache again, without waiting a second time.
    LookAgain,
}

impl<'a> Asker<'a> {
    fn deadline(&self) -> Instant {
        let lookup = *self
            .deadline
            .get_or_init(|| Instant::now() + self.config.deadline());
        let end = self.share_end.get().unwrap_or_else(|| {
            let share = self
                .ahead
                .get()
                .map_or(1, |(list, i)| super::routes_ahead(list, i, self.config));
            let now = Instant::now();
            let end = now + lookup.saturating_duration_since(now) / share.max(1);
            self.share_end.set(Some(end));
            end
        });
        end.min(lookup)
    }

    /// The next name answered is candidate `i` of `list`.
    pub fn set_candidate(&self, list: &'a Candidates<'a>, i: usize) {
        self.ahead.set(Some((list, i)));
        self.share_end.set(None);
    }

    /// Answers `qtypes` (one or two) for `name` over `route`; the entries
    /// are left in `scratch`, question `i`'s in place `i`.
    pub fn answer(
        &self,
        name: &str,
        route: Route<'a>,
        qtypes: &[QType],
        scratch: &mut Scratch,
    ) -> Result<Pair, Unavailable> {
        self.route.set(Some(route));
        let mut keys: [Option<Key<'_>>; 2] = [None, None];
        for (k, &q) in keys.iter_mut().zip(qtypes) {
            *k = Some(Key::scoped(name, q, route.id));
        }
        self.answer_keys(&keys, scratch, true)
    }

    /// The questions of one name through the phases of the module doc:
    /// read the cache, answer from it, serve stale while the upstream is
    /// known to fail, coalesce with another caller, else ask and store.
    fn answer_keys(
        &self,
        keys: &[Option<Key<'_>>; 2],
        scratch: &mut Scratch,
        may_wait: bool,
    ) -> Result<Pair, Unavailable> {
        let now = if may_wait {
            self.now
        } else {
            crate::clock::now_ms()
        };
        let mut look = self.look_up(keys, scratch, now);
        if look.need == [false, false] {
            return Ok(self.answer_from_cache(keys, look.found, scratch, now));
        }
        if look.upstream_suppressed(now) {
            return Ok(self.serve_suppressed(look));
        }
        let leased = match self.coalesce(keys, &look, now, may_wait) {
            Coalesced::Ask(leased) => leased,
            Coalesced::LookAgain => return self.answer_keys(keys, scratch, false),
        };
        let out = self.ask_and_store(keys, &mut look, scratch);
        if let (Some(own), Some(key)) = (self.session.own(), leased) {
            own.release_lease(&key);
        }
        let mut out = out?;
        for (slot, found) in out.iter_mut().zip(look.found) {
            if slot.is_none() {
                *slot = found.map(known_from_held);
            }
        }
        Ok(out)
    }

    /// Phase 1: what the cache holds for each question (copied into
    /// `scratch`), and which questions need the upstream.
    fn look_up(&self, keys: &[Option<Key<'_>>; 2], scratch: &mut Scratch, now: u64) -> Look {
        let mut found: [Option<Held>; 2] = [None, None];
        for (i, key) in keys.iter().enumerate() {
            if let (Some(key), Some(buf)) = (key, scratch.slots.get_mut(i)) {
                found[i] = self.find(key, now, buf);
                if let Some(l) = scratch.large.get_mut(i) {
                    *l = None;
                }
            }
        }
        let stale_limit = stale_limit_ms(&self.config.cache);
        let mut need = [false; 2];
        let mut stale = [false; 2];
        for i in 0..2 {
            let held = found[i].as_ref();
            need[i] = keys[i].is_some() && !held.is_some_and(|h| h.fresh(now));
            stale[i] =
                need[i] && held.is_some_and(|h| is_usable_stale(&h.layout, now, stale_limit));
        }
        Look { found, need, stale }
    }

    /// Phase 2 (RFC 8767): the upstream failed for this name lately; do
    /// not ask again yet, serve what we have.
    fn serve_suppressed(&self, look: Look) -> Pair {
        let Look { found, need, .. } = look;
        let mut out: Pair = [None, None];
        for ((slot, held), need) in out.iter_mut().zip(found).zip(need) {
            *slot = held.map(|held| {
                if need {
                    self.count(Stat::StaleAnswers, 1);
                    Known::Data(Held {
                        ttl: STALE_TTL,
                        ..held
                    })
                } else {
                    known_from_held(held)
                }
            });
        }
        out
    }

    /// Phase 3: one caller per name asks. Returns the lease to give back
    /// after asking, or says to look in the cache again (another caller
    /// stored the answer meanwhile, or we waited for one that did).
    fn coalesce<'k>(
        &self,
        keys: &[Option<Key<'k>>; 2],
        look: &Look,
        now: u64,
        may_wait: bool,
    ) -> Coalesced<'k> {
        let (Some(own), Some(lease_key)) = (self.session.own(), look.first_needed(keys)) else {
            return Coalesced::Ask(None);
        };
        let until = now + self.remaining_ms();
        match own.try_lease(&lease_key, now, until) {
            Lease::Acquired if may_wait && self.all_fresh_now(keys, look.need) => {
                // Another caller stored the answer between our miss and
                // our lease (and gave its lease back): use it.
                own.release_lease(&lease_key);
                Coalesced::LookAgain
            }
            Lease::Acquired => Coalesced::Ask(Some(lease_key)),
            Lease::HeldByOther if may_wait => {
                self.wait_for_other(own, &lease_key, keys, look.need);
                self.count(Stat::CoalescedWaits, 1);
                Coalesced::LookAgain
            }
            Lease::HeldByOther | Lease::Unavailable => Coalesced::Ask(None),
        }
    }

    /// Phase 4: asks the upstream for the needed questions and stores the
    /// answers; a failure with a stale entry in hand serves that entry.
    /// Entries used up here are taken out of `look.found`.
    fn ask_and_store(
        &self,
        keys: &[Option<Key<'_>>; 2],
        look: &mut Look,
        scratch: &mut Scratch,
    ) -> Result<Pair, Unavailable> {
        // At most two questions: listed again where needed rather than
        // collected, so a miss allocates nothing for its bookkeeping.
        let need = look.need;
        let asked = || {
            (0..2)
                .filter(move |&i| need[i])
                .filter_map(|i| keys[i].map(|k| (i, k)))
        };
        let mut qtypes = [QType::A; 2];
        let mut count = 0;
        for (qtype, (_, key)) in qtypes.iter_mut().zip(asked()) {
            *qtype = key.qtype();
            count += 1;
        }
        self.count(Stat::Misses, count as u64);
        let deadline = if asked().any(|(i, _)| look.stale[i]) {
            self.deadline().min(Instant::now() + CLIENT_RESPONSE_TIMER)
        } else {
            self.deadline()
        };
        let name = asked().next().map_or("", |(_, k)| k.name());
        let fetched = self.fetch(name, &qtypes[..count], deadline);
        let now = crate::clock::now_ms();
        let mut out: Pair = [None, None];
        match fetched {
            Ok(answers) => {
                for ((i, key), answer) in asked().zip(answers) {
                    let stale_held = if look.stale[i] {
                        look.found[i].take()
                    } else {
                        None
                    };
                    out[i] = Some(self.store(i, &key, answer, now, stale_held, scratch));
                }
            }
            Err(Unavailable) => {
                for (i, key) in asked() {
                    match look.found[i].take() {
                        Some(held) if look.stale[i] => {
                            out[i] = Some(self.serve_stale(i, &key, held, now, scratch));
                        }
                        _ => return Err(Unavailable),
                    }
                }
            }
        }
        Ok(out)
    }

    /// A fresh entry from our own file, else from root's; failing both, an
    /// expired one from either. The entry is copied into `buf`.
    fn find(&self, key: &Key<'_>, now: u64, buf: &mut [u8; DATA_BYTES]) -> Option<Held> {
        let own = self.session.own().and_then(|t| read(&t, key, now, buf));
        if own.as_ref().is_some_and(|h| h.fresh(now)) {
            return own;
        }
        let Some(root_table) = self.session.root() else {
            return own;
        };
        if own.is_none() {
            return read(&root_table, key, now, buf);
        }
        // Keep our own expired copy unless root has a fresh one.
        let mut other = [0u8; DATA_BYTES];
        match read(&root_table, key, now, &mut other) {
            Some(root) if root.fresh(now) => {
                *buf = other;
                Some(root)
            }
            _ => own,
        }
    }

    /// All questions answered from fresh entries; the one caller that wins
    /// an entry's refresh lease in its last tenth refreshes it first.
    fn answer_from_cache(
        &self,
        keys: &[Option<Key<'_>>; 2],
        mut found: [Option<Held>; 2],
        scratch: &mut Scratch,
        now: u64,
    ) -> Pair {
        let mut out: Pair = [None, None];
        if let Some(own) = self.session.own() {
            // The questions this caller won the refresh lease for, asked
            // together in one bounded exchange.
            let mut due = [false; 2];
            let mut left = REFRESH_WAIT;
            for i in 0..2 {
                let Some(held) = &found[i] else { continue };
                due[i] = held.layout.kind == Kind::Positive
                    && wants_refresh(held.layout.stored_ms, held.layout.expires_ms, now)
                    && held
                        .token
                        .filter(|t| t.mapping == own.id())
                        .is_some_and(|t| {
                            own.try_refresh_lease(t.slot, now, held.layout.expires_ms)
                        });
                if due[i] {
                    left = left.min(Duration::from_millis(
                        held.layout.expires_ms.saturating_sub(now),
                    ));
                }
            }
            // Each question due, with its key: iterated, not indexed, so
            // that no bounds check (and no panic location, see
            // linkage.rs) is left in the module.
            let asked: Vec<(usize, Key<'_>)> = due
                .iter()
                .zip(keys)
                .enumerate()
                .filter_map(|(i, (&due, key))| key.filter(|_| due).map(|k| (i, k)))
                .collect();
            if let Some(name) = asked.first().map(|(_, k)| k.name()) {
                self.count(Stat::Refreshes, asked.len() as u64);
                let qtypes: Vec<QType> = asked.iter().map(|(_, k)| k.qtype()).collect();
                let until = self.deadline().min(Instant::now() + left);
                if let Ok(answers) = self.fetch(name, &qtypes, until) {
                    let now = crate::clock::now_ms();
                    for (&(i, key), answer) in asked.iter().zip(answers) {
                        if let (Some(slot), Answer::Reply(_)) = (out.get_mut(i), &answer) {
                            *slot = Some(self.store(i, &key, answer, now, None, scratch));
                        }
                    }
                }
            }
        }
        let mut hits = 0;
        let mut negative = 0;
        for i in 0..2 {
            if out[i].is_none() {
                if let Some(held) = found[i].take() {
                    if held.layout.kind == Kind::Positive {
                        hits += 1;
                    } else {
                        negative += 1;
                    }
                    out[i] = Some(known_from_held(held));
                }
            }
        }
        self.count(Stat::Hits, hits);
        self.count(Stat::NegativeHits, negative);
        out
    }

    /// Whether every needed question has a fresh entry now.
    fn all_fresh_now(&self, keys: &[Option<Key<'_>>; 2], need: [bool; 2]) -> bool {
        let now = crate::clock::now_ms();
        let mut buf = [0u8; DATA_BYTES];
        (0..2).all(|i| {
            !need[i]
                || keys[i]
                    .as_ref()
                    .is_some_and(|k| self.find(k, now, &mut buf).is_some_and(|h| h.fresh(now)))
        })
    }

    /// Waits (bounded by the lease and our deadline) until the needed
    /// questions are in the cache or the other caller gives up: asleep on
    /// the lease, woken when the holder gives it back, and looking again
    /// after each of `Backoff`'s pauses at the latest (a holder that was
    /// killed, or one of an earlier release, wakes nobody). A holder found
    /// killed or stopped (looked at from `HOLDER_LOOK_EVERY` on) ends the
    /// wait, and so does half of our deadline spent: the caller then asks
    /// for itself.
    fn wait_for_other(
        &self,
        own: Table<'_>,
        lease_key: &Key<'_>,
        keys: &[Option<Key<'_>>; 2],
        need: [bool; 2],
    ) {
        let Some(wait) = own.wait_on_lease(lease_key, crate::clock::now_ms()) else {
            return;
        };
        let started = Instant::now();
        // Half of the time left stays ours, however the holder fares
        // (stopped where /proc cannot tell, frozen, starved of CPU, or a
        // pid that is not the holder's): the wait ends with time to ask.
        let wait_end = started + self.deadline().saturating_duration_since(started) / 2;
        let mut backoff = crate::sys::Backoff::new();
        // Past the usual answer's time, and as often, a look at what became
        // of the holder; none once it cannot be told (so no more audit
        // records of a refused look in this wait, which `wait_end` bounds).
        let mut next_look = Some(started + HOLDER_LOOK_EVERY);
        loop {
            let observed = wait.observe();
            let now = Instant::now();
            let left = wait_end.saturating_duration_since(now);
            let now_ms = crate::clock::now_ms();
            if self.all_fresh_now(keys, need)
                || !own.lease_held(lease_key, now_ms)
                || left.is_zero()
            {
                return;
            }
            if next_look.is_some_and(|at| now >= at) {
                match own.lease_holder(lease_key, now_ms) {
                    Holder::Gone | Holder::Stopped => return,
                    Holder::Asking => next_look = Some(now + HOLDER_LOOK_EVERY),
                    Holder::Unknown => next_look = None,
                }
            }
            wait.sleep(observed, backoff.next().min(left));
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
        let servers = self
            .route
            .get()
            .map_or(&self.config.servers[..], |r| r.servers);
        let plan = Plan {
            servers,
            health: own.map_or_else(|| local_health(self.local_health), |t| t.health()),
            round: self.config.options.timeout,
            attempts: self.config.options.attempts,
            deadline,
            rotate: self.rotate % servers.len().max(1),
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

    /// Turns the upstream answer to question `i` into what is known,
    /// storing it and leaving its encoding in `scratch`; a failure with a
    /// stale entry in hand serves that entry.
    fn store(
        &self,
        i: usize,
        key: &Key<'_>,
        answer: Answer,
        now: u64,
        stale: Option<Held>,
        scratch: &mut Scratch,
    ) -> Known {
        let settings = &self.config.cache;
        let entry = match answer {
            Answer::Reply(Reply::Data(chain)) if self.rebind_refuses(key, &chain) => {
                // Not an answer: not cached, and a clear not-found.
                self.count(Stat::RebindRefused, 1);
                return Known::NxDomain(None);
            }
            Answer::Reply(Reply::Data(chain)) if !chain.is_empty() => {
                let ttl = positive_ttl(settings, chain.ttl);
                positive_entry(chain, key.qtype(), ttl, now)
            }
            Answer::Reply(Reply::Data(chain)) => match negative_ttl(settings, chain.negative_ttl) {
                Some(ttl) => negative_entry(Kind::NoData, ttl, now),
                None => return Known::NoData(None),
            },
            Answer::Reply(Reply::NxDomain { negative_ttl: soa }) => {
                match negative_ttl(settings, soa) {
                    Some(ttl) => negative_entry(Kind::NxDomain, ttl, now),
                    None => return Known::NxDomain(None),
                }
            }
            failure => {
                if let Some(held) = stale {
                    return self.serve_stale(i, key, held, now, scratch);
                }
                return match failure {
                    Answer::NoResponse => Known::Timeout,
                    _ => Known::ServFail,
                };
            }
        };
        let own = self.session.own();
        let sealed = match own {
            Some(t) => t.seal(key, &entry),
            None => crate::cache::encode_transient(key, &entry),
        };
        let Some(sealed) = sealed else {
            return Known::ServFail;
        };
        if let Some(t) = own {
            if entry.ttl > 0 {
                t.put(&sealed, now, stale_limit_ms(settings));
            }
        }
        let generation = own.map_or(0, |t| t.generation());
        let layout = crate::cache::check_sealed(&sealed, key, generation);
        scratch.set(i, sealed);
        match layout {
            Some(layout) => known_from_held(Held {
                ttl: entry.ttl,
                layout,
                token: None,
            }),
            None => Known::ServFail,
        }
    }

    /// Serves question `i`'s expired entry (in `scratch`) with the stale
    /// TTL, and marks it so the upstream is not asked for it again for a
    /// while.
    fn serve_stale(
        &self,
        i: usize,
        key: &Key<'_>,
        held: Held,
        now: u64,
        scratch: &Scratch,
    ) -> Known {
        self.count(Stat::StaleAnswers, 1);
        if let Some(own) = self.session.own() {
            let mut entry = held.layout.view(scratch.bytes(i)).to_entry(&held.layout);
            entry.retry_after_ms = now + STALE_RETRY_MS;
            if let Some(sealed) = own.seal(key, &entry) {
                own.put(&sealed, now, stale_limit_ms(&self.config.cache));
            }
        }
        Known::Data(Held {
            ttl: STALE_TTL,
            ..held
        })
    }

    /// Whether the route's rebinding protection refuses `chain`, the answer
    /// to the question `key`; the address that refused it is noted for
    /// `rustcache query` (nothing is noted in any other process).
    fn rebind_refuses(&self, key: &Key<'_>, chain: &Chain) -> bool {
        let refused = self
            .route
            .get()
            .and_then(|r| r.rebind)
            .and_then(|policy| super::rebind::refused_address(policy, chain));
        if let Some(addr) = refused {
            provenance::refused(key.name(), key.qtype(), addr);
        }
        refused.is_some()
    }

    fn remaining_ms(&self) -> u64 {
        u64::try_from(
            self.deadline()
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

/// Copies `key`'s entry out of `table` into `buf`.
fn read(table: &Table<'_>, key: &Key<'_>, now: u64, buf: &mut [u8; DATA_BYTES]) -> Option<Held> {
    let (layout, slot, seq) = table.get_into(key, now, buf)?;
    Some(Held {
        ttl: remaining_ttl(layout.expires_ms, now),
        layout,
        token: Some(Token {
            mapping: table.id(),
            slot,
            seq,
            generation: table.generation(),
        }),
    })
}

/// An expired positive entry that may still be served stale.
fn is_usable_stale(layout: &Layout, now: u64, stale_limit: u64) -> bool {
    layout.kind == Kind::Positive
        && now >= layout.expires_ms
        && now < layout.expires_ms.saturating_add(stale_limit)
}

fn known_from_held(held: Held) -> Known {
    match held.layout.kind {
        Kind::Positive => Known::Data(held),
        Kind::NxDomain => Known::NxDomain(Some(held)),
        Kind::NoData => Known::NoData(Some(held)),
    }
}

/// The entry for a reply's data, taking the chain's names and addresses
/// over rather than copying them.
fn positive_entry(chain: Chain, qtype: QType, ttl: u32, now: u64) -> Entry {
    Entry {
        kind: Kind::Positive,
        ttl,
        stored_ms: now,
        expires_ms: now + u64::from(ttl) * 1000,
        retry_after_ms: 0,
        canonical: match qtype {
            QType::Ptr => chain.names.into_iter().next().unwrap_or_default(),
            _ => chain.canonical,
        },
        aliases: chain.aliases,
        v4: chain.v4,
        v6: chain.v6,
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

/// The health records of this process, for a lookup without a cache file
/// to keep them in; made on first use.
fn local_health(cell: &RaceCell<Box<[ServerHealth]>>) -> HealthTable<'_> {
    HealthTable::new(
        cell.get_or_make(|| (0..HEALTH_COUNT).map(|_| ServerHealth::default()).collect()),
    )
}
