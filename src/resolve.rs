//! A lookup from start to end: the name, its candidates, the upstream
//! servers, and the outcome for nsswitch.
//!
//! The search follows glibc's `res_search`: candidates are tried in order;
//! NXDOMAIN and NODATA move on to the next one (remembering NODATA), and so
//! does SERVFAIL (remembering it); a timeout ends the search, as more
//! candidates would only wait more.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crate::answer::{Family, HostAnswer, Outcome, PtrAnswer};
use crate::config::{Config, ConfigCache, Sources, MAX_SERVERS};
use crate::name::{candidates, check_host_name, reverse_name, unmap_v4};
use crate::upstream::{
    ask, Answer, Chain, Counters, HealthTable, Plan, QType, Reply, ServerHealth,
};

/// The resolver of this process: its configuration and what it knows about
/// the servers. There is one per process ([`Resolver::global`]); tests may
/// make their own.
pub struct Resolver {
    config: ConfigCache,
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
        let qtypes: &[QType] = match family {
            Family::V4 => &[QType::A],
            Family::V6 => &[QType::Aaaa],
            Family::Any => &[QType::A, QType::Aaaa],
        };
        let deadline = Instant::now() + config.deadline();
        let mut counters = Counters::default();
        let mut got_nodata = false;
        let mut got_servfail = false;
        for candidate in candidates(name, absolute, &config) {
            let plan = self.plan(&config, deadline);
            let answers = match ask(&plan, &candidate, qtypes, &mut counters) {
                Ok(answers) => answers,
                Err(_) => return Outcome::Unavailable,
            };
            match combine_addresses(answers) {
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
        let deadline = Instant::now() + config.deadline();
        let plan = self.plan(&config, deadline);
        let mut counters = Counters::default();
        let answers = match ask(&plan, &reverse_name(addr), &[QType::Ptr], &mut counters) {
            Ok(answers) => answers,
            Err(_) => return Outcome::Unavailable,
        };
        match answers.into_iter().next() {
            Some(Answer::Reply(Reply::Data(chain))) => match chain.names.into_iter().next() {
                Some(name) => Outcome::Found(PtrAnswer {
                    addr,
                    name,
                    ttl: chain.ttl,
                }),
                None => Outcome::NoData,
            },
            Some(Answer::Reply(Reply::NxDomain { .. })) => Outcome::NotFound,
            _ => Outcome::TryAgain,
        }
    }

    fn plan<'a>(&'a self, config: &'a Config, deadline: Instant) -> Plan<'a> {
        Plan {
            servers: &config.servers,
            health: HealthTable::new(&self.health),
            round: config.options.timeout,
            attempts: config.options.attempts,
            deadline,
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

/// Merges the A and/or AAAA answers for one candidate name.
fn combine_addresses(answers: Vec<Answer>) -> Step<HostAnswer> {
    let mut chains: Vec<Chain> = Vec::with_capacity(2);
    let mut nxdomain = 0;
    let mut servfail = false;
    let mut timeout = false;
    let total = answers.len();
    for answer in answers {
        match answer {
            Answer::Reply(Reply::Data(chain)) => chains.push(chain),
            Answer::Reply(Reply::NxDomain { .. }) => nxdomain += 1,
            Answer::Reply(_) | Answer::ServerFailure => servfail = true,
            Answer::NoResponse => timeout = true,
        }
    }
    let mut found: Option<HostAnswer> = None;
    for chain in chains.iter().filter(|c| !c.is_empty()) {
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
    match found {
        Some(answer) => Step::Found(answer),
        None if nxdomain == total => Step::NxDomain,
        None if !chains.is_empty() || nxdomain > 0 && !servfail && !timeout => Step::NoData,
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
