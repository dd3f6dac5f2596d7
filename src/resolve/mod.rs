//! A lookup from start to end: the name, its candidates, the cache and the
//! upstream servers (see `question`), and the outcome for nsswitch.
//!
//! The search follows glibc's `res_search`: candidates are tried in order;
//! NXDOMAIN and NODATA move on to the next one (remembering NODATA), and so
//! does SERVFAIL (remembering it); a timeout ends the search, as more
//! candidates would only wait more. Every candidate's answer is cached
//! under that candidate's own name, so a short name that resolves on its
//! second candidate is all hits next time.
//!
//! Answers are handed to a closure as views borrowed from the entries they
//! were read from; they live on the stack for the duration of the call.

mod cancel;
mod memo;
mod question;
mod rebind;

use std::cell::{Cell, OnceCell};
use std::net::IpAddr;
use std::sync::Arc;

use crate::answer::{Family, HostAnswer, HostView, Outcome, PtrView};
use crate::cache::policy::wants_refresh;
use crate::cache::{Session, Store};
use crate::clock::now_ms;
use crate::config::{Config, ConfigCache, LocalAnswer, Sources, MAX_SEARCH};
use crate::name::{check_host_name, reverse_name, unmap_v4, Candidate, Candidates};
use crate::race_cell::RaceCell;
use crate::upstream::{QType, ServerHealth};

use question::{Asker, Known, Pair, Scratch};

/// The resolver of this process: its configuration, its cache files, and
/// what it knows about the servers when it has no cache file to share that
/// in. There is one per process ([`Resolver::global`]); tests may make
/// their own.
pub struct Resolver {
    config: ConfigCache,
    store: Store,
    /// Health records kept in process memory, made the first time a lookup
    /// goes upstream without a cache file to keep them in: a process with a
    /// cache file (nearly all) never pays for building them.
    health: RaceCell<Box<[ServerHealth]>>,
}

/// How one candidate name fared.
enum Step {
    Found,
    NxDomain,
    NoData,
    ServFail,
    Timeout,
}

/// Test builds only: panics on one name, with the configuration and a
/// cache session held, as a bug deep in a lookup would; on another, asks
/// the allocator for more memory than any machine has, as a lookup in a
/// process out of memory would fail.
#[cfg(feature = "panic-probe")]
#[allow(clippy::panic)]
fn panic_probe(name: &str) {
    if name.eq_ignore_ascii_case("panic-probe.rustcache.test") {
        panic!("panic probe");
    }
    if name.eq_ignore_ascii_case("oom-probe.rustcache.test") {
        // isize::MAX bytes: a valid layout that no mmap can satisfy, so the
        // real allocator fails and alloc calls its error handler.
        let size = std::hint::black_box(isize::MAX as usize);
        let bytes: Vec<u8> = Vec::with_capacity(size);
        std::hint::black_box(&bytes);
    }
}

impl Resolver {
    /// A resolver reading its configuration from `sources`.
    pub fn new(sources: Sources) -> Resolver {
        Resolver {
            config: ConfigCache::new(sources),
            store: Store::new(),
            health: RaceCell::new(),
        }
    }

    /// The process-wide resolver, reading the standard files. In a
    /// `RaceCell`, not a `OnceLock`: no thread ever waits for another one
    /// making it (in a child forked meanwhile, it would wait for ever).
    pub fn global() -> &'static Resolver {
        static GLOBAL: RaceCell<Resolver> = RaceCell::new();
        GLOBAL.get_or_make(|| Resolver::new(Sources::from_environment()))
    }

    /// The configuration in force now.
    pub fn config(&self) -> Arc<Config> {
        self.config.get()
    }

    /// Forward lookup of `name` as the caller gave it; `f` sees the outcome
    /// (it is called once; `FnMut` only so that the memo's hit path can
    /// borrow it and hand it back on a miss).
    pub fn lookup_host<R>(
        &self,
        name: &[u8],
        family: Family,
        mut f: impl FnMut(Outcome<HostView<'_>>) -> R,
    ) -> R {
        let raw = name;
        // The common case first: this thread answered the same name a
        // moment ago and nothing it depends on has changed (see `memo`).
        // It reads the quick clock, which may lag by a tick; everything
        // after it, and all that is stored, the precise one.
        if let Some(quick) = crate::clock::quick_now_ms() {
            if let (Some(load_id), Some(session)) = (
                self.config.quick_load_id(quick),
                self.store.quick_session(quick),
            ) {
                let hit = memo::lookup(raw, family, load_id, &session, quick, |view, parts| {
                    memo::count_hits(session.own(), parts, quick);
                    f(Outcome::Found(view))
                });
                if let Some(result) = hit {
                    return result;
                }
            }
        }
        // From here on a lookup may read files and ask servers: a cancel
        // waits until it returns (see `cancel`).
        let _deferred = cancel::Deferred::new();
        let now = now_ms();
        let config = self.config.get();
        let session = self.store.session(&config, now);
        let Ok((name, absolute)) = check_host_name(name) else {
            return f(Outcome::NotFound);
        };
        let asker = self.asker(&config, &session, now);
        #[cfg(feature = "panic-probe")]
        panic_probe(name);
        let mut scratch = Scratch::new();
        let qtypes: &[QType] = match family {
            Family::V4 => &[QType::A],
            Family::V6 => &[QType::Aaaa],
            Family::Any => &[QType::A, QType::Aaaa],
        };
        let mut got_nodata = false;
        let mut got_servfail = false;
        let mut timed_out = Routes::new();
        let list = Candidates::new(name, absolute, &config);
        let mut buf = None;
        let mut first = true;
        for i in 0.. {
            let candidate = match list.get(i, &mut buf) {
                Candidate::Name(n) => n,
                Candidate::Skip => {
                    first = false;
                    continue;
                }
                Candidate::End => break,
            };
            // Each candidate goes its own route: the local answers, the
            // servers and the cache scope of its own full name.
            let route = config.route(candidate);
            let step = match route.local {
                Some(LocalAnswer::Addrs { v4, v6 }) => {
                    let (v4, v6) = match family {
                        Family::V4 => (&v4[..], &[][..]),
                        Family::V6 => (&[][..], &v6[..]),
                        Family::Any => (&v4[..], &v6[..]),
                    };
                    if v4.is_empty() && v6.is_empty() {
                        Step::NoData
                    } else {
                        let view = HostView::from_parts(candidate, &[], v4, v6, LOCAL_TTL);
                        return f(Outcome::Found(view));
                    }
                }
                Some(LocalAnswer::NxDomain) => Step::NxDomain,
                // `domain-needed`: a bare label is not sent as it is.
                None if config.routing.domain_needed && !candidate.contains('.') => Step::NxDomain,
                // That route's servers did not answer in this lookup.
                None if timed_out.contains(route.id) => Step::Timeout,
                None => {
                    asker.set_candidate(&list, i);
                    let Ok(known) = asker.answer(candidate, route, qtypes, &mut scratch) else {
                        return f(Outcome::Unavailable);
                    };
                    let step = step(&known);
                    if let Step::Found = step {
                        // Only an answer from the first candidate: a memo
                        // of a later one would miss a change in the earlier
                        // ones' negative entries.
                        let view = host_view(candidate, &known, &scratch);
                        if first {
                            if let Some(checks) = memo_checks(&known, now) {
                                memo::remember(raw, family, config.load_id, checks, &view);
                            }
                        }
                        return f(Outcome::Found(view));
                    }
                    step
                }
            };
            match step {
                Step::Found | Step::NxDomain => {}
                Step::NoData => got_nodata = true,
                Step::ServFail => got_servfail = true,
                // A timeout ends the search for this route's names only:
                // the names after it over other routes are still asked.
                Step::Timeout => timed_out.insert(route.id),
            }
            first = false;
        }
        if !timed_out.is_empty() {
            return f(Outcome::TryAgain);
        }
        f(finish_search(got_nodata, got_servfail))
    }

    /// Forward lookup into an owned answer (tools and tests).
    pub fn lookup_host_owned(&self, name: &[u8], family: Family) -> Outcome<HostAnswer> {
        self.lookup_host(name, family, |outcome| outcome.map(|v| v.to_owned()))
    }

    /// Reverse lookup of `addr` (IPv4-mapped IPv6 addresses are looked up as
    /// IPv4, like glibc does); `f` sees the outcome.
    pub fn lookup_addr<R>(&self, addr: IpAddr, f: impl FnOnce(Outcome<PtrView<'_>>) -> R) -> R {
        let addr = match addr {
            IpAddr::V6(v6) => unmap_v4(&v6).map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        let _deferred = cancel::Deferred::new();
        let config = self.config.get();
        let now = now_ms();
        let session = self.store.session(&config, now);
        let asker = self.asker(&config, &session, now);
        let mut scratch = Scratch::new();
        let name = reverse_name(addr);
        let route = config.route(&name);
        // `bogus-priv`: private addresses have no public reverse zone;
        // only a `server=` for their zone is asked.
        if config.routing.bogus_priv && rebind::is_private(addr) && !route.routed {
            return f(Outcome::NotFound);
        }
        let Ok([known, _]) = asker.answer(&name, route, &[QType::Ptr], &mut scratch) else {
            return f(Outcome::Unavailable);
        };
        match known {
            Some(Known::Data(held)) => {
                let view = held.layout().view(scratch.bytes(0));
                f(Outcome::Found(PtrView {
                    addr,
                    name: view.canonical,
                    ttl: held.ttl(),
                }))
            }
            Some(Known::NoData(_)) => f(Outcome::NoData),
            Some(Known::NxDomain(_)) => f(Outcome::NotFound),
            _ => f(Outcome::TryAgain),
        }
    }

    fn asker<'a>(&'a self, config: &'a Config, session: &'a Session<'a>, now: u64) -> Asker<'a> {
        Asker {
            config,
            session,
            local_health: &self.health,
            now,
            // Taken modulo each route's server count when it is used.
            rotate: if config.options.rotate {
                rotation(ROTATION_CYCLE)
            } else {
                0
            },
            deadline: OnceCell::new(),
            route: Cell::new(None),
            ahead: Cell::new(None),
            share_end: Cell::new(None),
        }
    }
}

/// What the memo must watch for an answer, if every part of it came fresh
/// from a cache file (see `memo`).
fn memo_checks(known: &Pair, now: u64) -> Option<[Option<memo::Check>; 2]> {
    let mut checks = [None, None];
    for (check, k) in checks.iter_mut().zip(known) {
        let Some(k) = k else { continue };
        let held = k.held()?;
        let layout = held.layout();
        if now >= layout.expires_ms || wants_refresh(layout.stored_ms, layout.expires_ms, now) {
            return None;
        }
        *check = Some(memo::Check {
            token: held.token()?,
            stored_ms: layout.stored_ms,
            expires_ms: layout.expires_ms,
        });
    }
    Some(checks)
}

/// glibc's end of search: NODATA if any candidate had the name, else
/// TRY_AGAIN if any server failed, else the name does not exist.
fn finish_search<T>(got_nodata: bool, got_servfail: bool) -> Outcome<T> {
    if got_nodata {
        Outcome::NoData
    } else if got_servfail {
        Outcome::TryAgain
    } else {
        Outcome::NotFound
    }
}

/// What the A and/or AAAA answers for one candidate come to.
fn step(known: &Pair) -> Step {
    let mut total = 0;
    let mut nxdomain = 0;
    let (mut nodata, mut servfail, mut timeout) = (false, false, false);
    for k in known.iter().flatten() {
        total += 1;
        match k {
            Known::Data(_) => return Step::Found,
            Known::NxDomain(_) => nxdomain += 1,
            Known::NoData(_) => nodata = true,
            Known::ServFail => servfail = true,
            Known::Timeout => timeout = true,
        }
    }
    if nxdomain == total {
        Step::NxDomain
    } else if nodata || (nxdomain > 0 && !servfail && !timeout) {
        Step::NoData
    } else if timeout {
        Step::Timeout
    } else {
        Step::ServFail
    }
}

/// The answer for a candidate that has data: names from the A answer (or
/// the AAAA one), addresses from both. The name asked for is given back in
/// the caller's spelling (the upstream echoes the question's case; the
/// cache holds whoever asked first), as glibc's `dns` module would.
fn host_view<'a>(query: &'a str, known: &'a Pair, scratch: &'a Scratch) -> HostView<'a> {
    let part = |i: usize| match known.get(i) {
        Some(Some(Known::Data(h))) => Some((h, scratch.bytes(i))),
        _ => None,
    };
    let (p1, p2) = (part(0), part(1));
    let same = |n: &str| crate::cache::eq_folded(n.as_bytes(), query.as_bytes());
    let (name, aliases) = match p1.or(p2) {
        // An empty canonical name means the name asked for.
        Some((h, bytes)) if h.layout().canonical_is_key() => (query, h.layout().aliases(bytes)),
        Some((h, bytes)) => {
            let view = h.layout().view(bytes);
            let name = if same(view.canonical) {
                query
            } else {
                view.canonical
            };
            (name, view.aliases)
        }
        None => (query, &[][..]),
    };
    let first_alias = if aliases.is_empty() {
        None
    } else {
        crate::cache::aliases(aliases)
            .next()
            .filter(|a| same(a))
            .map(|_| query)
    };
    let addrs = |q: QType| match (p1, p2) {
        (Some((h, b)), _) if h.layout().qtype == q => h.layout().addrs(b),
        (_, Some((h, b))) if h.layout().qtype == q => h.layout().addrs(b),
        _ => &[][..],
    };
    let ttl = match (p1, p2) {
        (Some((a, _)), Some((b, _))) => a.ttl().min(b.ttl()),
        (Some((a, _)), None) | (None, Some((a, _))) => a.ttl(),
        (None, None) => 0,
    };
    HostView {
        name,
        aliases,
        first_alias,
        v4: addrs(QType::A),
        v6: addrs(QType::Aaaa),
        ttl,
    }
}

/// TTL reported for a local answer (`address=`), as dnsmasq's default
/// `local-ttl`: the answer is given afresh every time.
const LOCAL_TTL: u32 = 0;

/// A multiple of every server count up to 16, so a rotation counter taken
/// modulo a route's server count spreads evenly.
const ROTATION_CYCLE: usize = 720_720;

/// The routes whose servers timed out in one lookup (a few at most: one
/// per candidate).
struct Routes {
    ids: [u64; MAX_SEARCH + 1],
    len: usize,
}

impl Routes {
    fn new() -> Routes {
        Routes {
            ids: [0; MAX_SEARCH + 1],
            len: 0,
        }
    }

    fn contains(&self, id: u64) -> bool {
        self.ids.iter().take(self.len).any(|&i| i == id)
    }

    fn insert(&mut self, id: u64) {
        if !self.contains(id) {
            if let Some(slot) = self.ids.get_mut(self.len) {
                *slot = id;
                self.len += 1;
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// How many distinct routes candidate `i` and the candidates after it go
/// upstream over: candidate `i` may use 1/that of the time left, so a dead
/// group of servers for one domain cannot use up the lookup's deadline
/// before the candidates of other routes are asked. 1 (the whole time
/// left) when the configuration has no `server=` lines.
fn routes_ahead(list: &Candidates<'_>, i: usize, config: &Config) -> u32 {
    if config.routing.groups.is_empty() {
        return 1;
    }
    let mut seen = Routes::new();
    for j in i.. {
        let mut buf = None;
        match list.get(j, &mut buf) {
            Candidate::Name(n) => {
                let route = config.route(n);
                let bare = config.routing.domain_needed && !n.contains('.');
                if route.local.is_none() && !bare {
                    seen.insert(route.id);
                }
            }
            Candidate::Skip => {}
            Candidate::End => break,
        }
    }
    u32::try_from(seen.len).unwrap_or(1).max(1)
}

/// A per-process rotating start index for resolv.conf `rotate`.
fn rotation(servers: usize) -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    // SYNC POINT: Relaxed; only spreads load, orders nothing.
    NEXT.fetch_add(1, Ordering::Relaxed) % servers.max(1)
}
