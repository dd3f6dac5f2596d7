//! What each upstream exchange of this process's lookups said, and which
//! address of an answer rebinding protection refused, so `rustcache query`
//! can say where each part of an answer came from, or why none was cached.
//!
//! A log in a static, written by `hedge::ask` as replies win and by the
//! resolver's rebinding step as it refuses one, and drained by the
//! `rustcache` command around its lookup. One entry per question asked
//! upstream, named, so that every candidate of a search list is told
//! apart, not only the last one asked.
//!
//! Written only in a process that asked for it ([`record`]: the `rustcache`
//! command). In every other process the gate is one relaxed load and
//! nothing else runs: the log stays an empty `Vec` in a static (nothing
//! allocated, and no thread-local, so no thread's TLS block grows for it).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use super::message::Reply;
use crate::cache::QType;

/// What the winning reply to a question said, with the TTLs the cache's
/// policy turns into a stored lifetime (or none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Said {
    /// Records of the asked type; the smallest TTL of those used.
    Data { ttl: u32 },
    /// The name exists without records of the asked type; the SOA's
    /// negative TTL, if the reply held one.
    NoData { negative_ttl: Option<u32> },
    /// No such name; the SOA's negative TTL, if the reply held one.
    NxDomain { negative_ttl: Option<u32> },
}

/// One question answered upstream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// The question name, as asked.
    pub name: String,
    pub qtype: QType,
    /// The server whose reply won.
    pub server: SocketAddr,
    pub said: Said,
    /// The address for which `stop-dns-rebind` refused the answer.
    pub refused: Option<IpAddr>,
}

/// Most exchanges kept between two [`take`]s (the oldest go first): a
/// lookup asks at most two questions for each of its candidates (the name
/// and six search domains).
const MAX_KEPT: usize = 64;

/// The log, and whether it is kept.
struct Log {
    recording: AtomicBool,
    exchanges: Mutex<Vec<Exchange>>,
}

static LOG: Log = Log::new();

/// From now on, this process notes what each upstream exchange said, for
/// [`take`].
pub fn record() {
    LOG.record();
}

/// The exchanges noted since the last call, oldest first (empty unless
/// [`record`] was called).
pub fn take() -> Vec<Exchange> {
    LOG.take()
}

/// Notes that `server` gave the winning reply to the question `name`,
/// `qtype`.
pub(super) fn answered(name: &str, qtype: QType, server: SocketAddr, reply: &Reply) {
    LOG.answered(name, qtype, server, reply);
}

/// Notes that rebinding protection (`stop-dns-rebind`) refused the answer
/// to the question `name`, `qtype` (the last one noted), for holding
/// `addr`.
pub(crate) fn refused(name: &str, qtype: QType, addr: IpAddr) {
    LOG.refused(name, qtype, addr);
}

impl Log {
    const fn new() -> Log {
        Log {
            recording: AtomicBool::new(false),
            exchanges: Mutex::new(Vec::new()),
        }
    }

    fn record(&self) {
        self.recording.store(true, Ordering::Relaxed);
    }

    fn recording(&self) -> bool {
        self.recording.load(Ordering::Relaxed)
    }

    fn exchanges(&self) -> std::sync::MutexGuard<'_, Vec<Exchange>> {
        self.exchanges
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn take(&self) -> Vec<Exchange> {
        std::mem::take(&mut *self.exchanges())
    }

    fn answered(&self, name: &str, qtype: QType, server: SocketAddr, reply: &Reply) {
        if !self.recording() {
            return;
        }
        let said = match reply {
            Reply::Data(chain) if chain.is_empty() => Said::NoData {
                negative_ttl: chain.negative_ttl,
            },
            Reply::Data(chain) => Said::Data { ttl: chain.ttl },
            &Reply::NxDomain { negative_ttl } => Said::NxDomain { negative_ttl },
            // Not an answer: the hedge asks on, and never calls this for them.
            Reply::Failure(_) | Reply::Truncated => return,
        };
        let mut log = self.exchanges();
        if log.len() >= MAX_KEPT {
            log.remove(0);
        }
        log.push(Exchange {
            name: name.to_owned(),
            qtype,
            server,
            said,
            refused: None,
        });
    }

    fn refused(&self, name: &str, qtype: QType, addr: IpAddr) {
        if !self.recording() {
            return;
        }
        if let Some(exchange) = self
            .exchanges()
            .iter_mut()
            .rev()
            .find(|e| e.qtype == qtype && e.name.eq_ignore_ascii_case(name))
        {
            exchange.refused = Some(addr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::Chain;

    #[test]
    fn nothing_is_kept_until_asked_for_then_every_question_by_name() {
        let log = Log::new();
        let server: SocketAddr = "127.0.0.2:53".parse().unwrap();
        let data = Reply::Data(Chain {
            v4: vec!["192.0.2.1".parse().unwrap()],
            ttl: 300,
            ..Chain::default()
        });
        log.answered("a.example", QType::A, server, &data);
        assert_eq!(log.take(), Vec::new(), "not recording yet");
        log.record();
        let nx = Reply::NxDomain { negative_ttl: None };
        log.answered("a.corp.example", QType::A, server, &nx);
        log.answered("a.example", QType::A, server, &data);
        let nodata = Reply::Data(Chain::default());
        log.answered("a.example", QType::Aaaa, server, &nodata);
        log.answered("a.example", QType::A, server, &Reply::Failure(2));
        log.refused("A.Example", QType::A, "10.0.0.1".parse().unwrap());
        let said: Vec<_> = log
            .take()
            .into_iter()
            .map(|e| (e.name, e.qtype, e.said, e.refused))
            .collect();
        let name = |n: &str| n.to_owned();
        assert_eq!(
            said,
            [
                (
                    name("a.corp.example"),
                    QType::A,
                    Said::NxDomain { negative_ttl: None },
                    None
                ),
                (
                    name("a.example"),
                    QType::A,
                    Said::Data { ttl: 300 },
                    Some("10.0.0.1".parse().unwrap())
                ),
                (
                    name("a.example"),
                    QType::Aaaa,
                    Said::NoData { negative_ttl: None },
                    None
                ),
            ]
        );
        assert_eq!(log.take(), Vec::new(), "drained");
    }

    #[test]
    fn the_oldest_exchanges_go_first_when_the_log_is_full() {
        let log = Log::new();
        log.record();
        let server: SocketAddr = "127.0.0.2:53".parse().unwrap();
        let nx = Reply::NxDomain {
            negative_ttl: Some(60),
        };
        for i in 0..MAX_KEPT + 3 {
            log.answered(&format!("n{i}.example"), QType::A, server, &nx);
        }
        let kept = log.take();
        assert_eq!(kept.len(), MAX_KEPT);
        assert_eq!(kept.first().map(|e| e.name.as_str()), Some("n3.example"));
        let last = format!("n{}.example", MAX_KEPT + 2);
        assert_eq!(kept.last().map(|e| e.name.as_str()), Some(last.as_str()));
    }
}
