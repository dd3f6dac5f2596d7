//! A lookup from start to end: the name, its candidates, the cache and the
//! upstream servers (see `question`), and the outcome for nsswitch.
//!
//! The search follows glibc's `res_search`: candidates are tried in order;
//! NXDOMAIN and NODATA move on to the next one (remembering NODATA), and so
//! does SERVFAIL (remembering it); a timeout ends the search, as more
//! candidates would only wait more. Every candidate's answer is cached
//! under that candidate's own name, so a short name that resolves on its
//! second candidate is all hits next time.

mod question;

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crate::answer::{Family, HostAnswer, Outcome, PtrAnswer};
use crate::cache::Store;
use crate::clock::now_ms;
use crate::config::{Config, ConfigCache, Sources, MAX_SERVERS};
use crate::name::{candidates, check_host_name, reverse_name, unmap_v4};
use crate::upstream::{HealthTable, QType, ServerHealth};

use question::{Asker, Known};

/// The resolver of this process: its configuration, its cache files, and
/// what it knows about the servers when it has no cache file to share that
/// in. There is one per process ([`Resolver::global`]); tests may make
/// their own.
pub struct Resolver {
    config: ConfigCache,
    store: Store,
    health: [ServerHealth; 2 * MAX_SERVERS],
}

/// How one candidate name fared.
enum Step<T> {
    Found(T),
    NxDomain,
    NoData,
    ServFail,
    Timeout,
}

impl Resolver {
    /// A resolver reading its configuration from `sources`.
    pub fn new(sources: Sources) -> Resolver {
        Resolver {
            config: ConfigCache::new(sources),
            store: Store::new(),
            health: Default::default(),
        }
    }

    /// The process-wide resolver, reading the standard files.
    pub fn global() -> &'static Resolver {
        static GLOBAL: OnceLock<Resolver> = OnceLock::new();
        GLOBAL.get_or_init(|| Resolver::new(Sources::from_environment()))
    }

    /// The configuration in force now.
    pub fn config(&self) -> Arc<Config> {
        self.config.get()
    }

    /// Forward lookup of `name` as the caller gave it.
    pub fn lookup_host(&self, name: &[u8], family: Family) -> Outcome<HostAnswer> {
        let Ok((name, absolute)) = check_host_name(name) else {
            return Outcome::NotFound;
        };
        let config = self.config.get();
        let session = self.store.session(&config, now_ms());
        let asker = self.asker(&config, &session);
        let qtypes: &[QType] = match family {
            Family::V4 => &[QType::A],
            Family::V6 => &[QType::Aaaa],
            Family::Any => &[QType::A, QType::Aaaa],
        };
        let mut got_nodata = false;
        let mut got_servfail = false;
        for candidate in candidates(name, absolute, &config) {
            let Ok(known) = asker.answer(&candidate, qtypes) else {
                return Outcome::Unavailable;
            };
            match combine_addresses(known) {
                Step::Found(answer) => return Outcome::Found(answer),
                Step::NxDomain => {}
                Step::NoData => got_nodata = true,
                Step::ServFail => got_servfail = true,
                Step::Timeout => return Outcome::TryAgain,
            }
        }
        finish_search(got_nodata, got_servfail)
    }

    /// Reverse lookup of `addr` (IPv4-mapped IPv6 addresses are looked up as
    /// IPv4, like glibc does).
    pub fn lookup_addr(&self, addr: IpAddr) -> Outcome<PtrAnswer> {
        let addr = match addr {
            IpAddr::V6(v6) => unmap_v4(&v6).map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        let config = self.config.get();
        let session = self.store.session(&config, now_ms());
        let asker = self.asker(&config, &session);
        let Ok(known) = asker.answer(&reverse_name(addr), &[QType::Ptr]) else {
            return Outcome::Unavailable;
        };
        match known.into_iter().next() {
            Some(Known::Data(chain)) => match chain.names.into_iter().next() {
                Some(name) => Outcome::Found(PtrAnswer {
                    addr,
                    name,
                    ttl: chain.ttl,
                }),
                None => Outcome::NoData,
            },
            Some(Known::NoData) => Outcome::NoData,
            Some(Known::NxDomain) => Outcome::NotFound,
            _ => Outcome::TryAgain,
        }
    }

    fn asker<'a>(
        &'a self,
        config: &'a Config,
        session: &'a crate::cache::Session<'a>,
    ) -> Asker<'a> {
        Asker {
            config,
            session,
            local_health: HealthTable::new(&self.health),
            deadline: Instant::now() + config.deadline(),
            rotate: if config.options.rotate {
                rotation(config.servers.len())
            } else {
                0
            },
        }
    }
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

/// Merges what is known about A and/or AAAA for one candidate name.
fn combine_addresses(known: Vec<Known>) -> Step<HostAnswer> {
    let total = known.len();
    let mut found: Option<HostAnswer> = None;
    let mut nxdomain = 0;
    let mut nodata = false;
    let mut servfail = false;
    let mut timeout = false;
    for k in known {
        match k {
            Known::Data(chain) => {
                let answer = found.get_or_insert_with(|| HostAnswer {
                    name: chain.canonical.clone(),
                    aliases: chain.aliases.clone(),
                    ttl: chain.ttl,
                    ..HostAnswer::default()
                });
                answer.v4.extend_from_slice(&chain.v4);
                answer.v6.extend_from_slice(&chain.v6);
                answer.ttl = answer.ttl.min(chain.ttl);
            }
            Known::NxDomain => nxdomain += 1,
            Known::NoData => nodata = true,
            Known::ServFail => servfail = true,
            Known::Timeout => timeout = true,
        }
    }
    match found {
        Some(answer) => Step::Found(answer),
        None if nxdomain == total => Step::NxDomain,
        None if nodata || (nxdomain > 0 && !servfail && !timeout) => Step::NoData,
        None if timeout => Step::Timeout,
        None => Step::ServFail,
    }
}

/// A per-process rotating start index for resolv.conf `rotate`.
fn rotation(servers: usize) -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    // SYNC POINT: Relaxed; only spreads load, orders nothing.
    NEXT.fetch_add(1, Ordering::Relaxed) % servers.max(1)
}
