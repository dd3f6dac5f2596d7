//! Which server answered each question of this thread's last upstream
//! exchange and what it said, and which address of an answer rebinding
//! protection refused, so `rustcache query` can say where an answer came
//! from, or why none was cached.
//!
//! Thread-local pairs, written by `hedge::ask` as replies win and by the
//! resolver's rebinding step as it refuses one: a few words per question,
//! no allocation, no destructor, nothing shared; a lookup never reads them.
//!
//! Written only in a process that asked for it ([`record`]: the `rustcache`
//! command). In every other process nothing would read it, and the first
//! write would cost the thread the module's whole thread-local block, which
//! ld.so allocates and zeroes on first touch (2.6 KiB, see `resolve::memo`).

use std::cell::Cell;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::LocalKey;

use super::message::Reply;
use crate::cache::QType;

/// A value for each question of one exchange (A and AAAA, or PTR alone).
type Pair<T> = Cell<[Option<(QType, T)>; 2]>;

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

/// Who answered a question, and what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answered {
    pub server: SocketAddr,
    pub said: Said,
}

thread_local! {
    static LAST: Pair<Answered> = const { Cell::new([None, None]) };
    static REFUSED: Pair<IpAddr> = const { Cell::new([None, None]) };
}

/// Whether this process notes who answered ([`record`]).
static RECORDING: AtomicBool = AtomicBool::new(false);

/// From now on, this process notes which server answered each question, for
/// [`last_answer`].
pub fn record() {
    RECORDING.store(true, Ordering::Relaxed);
}

fn recording() -> bool {
    RECORDING.load(Ordering::Relaxed)
}

/// Forgets the previous exchange (a new one starts).
pub(super) fn start() {
    if recording() {
        let _ = LAST.try_with(|last| last.set([None, None]));
        let _ = REFUSED.try_with(|refused| refused.set([None, None]));
    }
}

/// Notes that `server` gave the winning reply to the question for `qtype`,
/// and what it said.
pub(super) fn answered(qtype: QType, server: SocketAddr, reply: &Reply) {
    if !recording() {
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
    note(&LAST, qtype, Answered { server, said });
}

/// Notes that rebinding protection (`stop-dns-rebind`) refused the answer
/// to the question for `qtype` of the last exchange, for holding `addr`.
pub(crate) fn refused(qtype: QType, addr: IpAddr) {
    if recording() {
        note(&REFUSED, qtype, addr);
    }
}

/// Puts `(qtype, value)` in the first free place of a pair (a third
/// question of one exchange is never asked: A and AAAA, or PTR alone).
fn note<T: Copy + 'static>(pair: &'static LocalKey<Pair<T>>, qtype: QType, value: T) {
    let _ = pair.try_with(|cell| {
        let mut both = cell.get();
        if let Some(free) = both.iter_mut().find(|p| p.is_none()) {
            *free = Some((qtype, value));
        }
        cell.set(both);
    });
}

/// What the pair holds for `qtype`.
fn noted<T: Copy + 'static>(pair: &'static LocalKey<Pair<T>>, qtype: QType) -> Option<T> {
    pair.try_with(|cell| {
        cell.get()
            .into_iter()
            .flatten()
            .find(|(q, _)| *q == qtype)
            .map(|(_, value)| value)
    })
    .ok()
    .flatten()
}

/// The server whose reply answered `qtype` in this thread's last exchange,
/// and what it said (`None`: not asked upstream then, or no server
/// answered, or the process did not call [`record`] first).
pub fn last_answer(qtype: QType) -> Option<Answered> {
    noted(&LAST, qtype)
}

/// The address for which rebinding protection refused the answer to
/// `qtype` in this thread's last exchange (`None`: nothing refused, or the
/// process did not call [`record`] first).
pub fn last_refused(qtype: QType) -> Option<IpAddr> {
    noted(&REFUSED, qtype)
}
