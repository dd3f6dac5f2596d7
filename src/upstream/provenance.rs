//! Which server answered each question of this thread's last upstream
//! exchange, so `rustcache query` can say where an answer came from.
//!
//! A thread-local pair written by `hedge::ask` as replies win: two words
//! per question, no allocation, no destructor, nothing shared; a lookup
//! never reads it.

use std::cell::Cell;
use std::net::SocketAddr;

use crate::cache::QType;

thread_local! {
    static LAST: Cell<[Option<(QType, SocketAddr)>; 2]> = const { Cell::new([None, None]) };
}

/// Forgets the previous exchange (a new one starts).
pub(super) fn start() {
    let _ = LAST.try_with(|last| last.set([None, None]));
}

/// Notes that `server` gave the winning reply to the question for `qtype`.
pub(super) fn answered(qtype: QType, server: SocketAddr) {
    let _ = LAST.try_with(|last| {
        let mut pair = last.get();
        if let Some(free) = pair.iter_mut().find(|p| p.is_none()) {
            *free = Some((qtype, server));
        }
        last.set(pair);
    });
}

/// The server whose reply answered `qtype` in this thread's last exchange
/// (`None`: not asked upstream then, or no server answered).
pub fn last_answer_from(qtype: QType) -> Option<SocketAddr> {
    LAST.try_with(|last| {
        last.get()
            .into_iter()
            .flatten()
            .find(|(q, _)| *q == qtype)
            .map(|(_, server)| server)
    })
    .ok()
    .flatten()
}
