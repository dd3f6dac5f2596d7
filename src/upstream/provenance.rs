//! Which server answered each question of this thread's last upstream
//! exchange, so `rustcache query` can say where an answer came from.
//!
//! A thread-local pair written by `hedge::ask` as replies win: two words
//! per question, no allocation, no destructor, nothing shared; a lookup
//! never reads it.
//!
//! Written only in a process that asked for it ([`record`]: the `rustcache`
//! command). In every other process nothing would read it, and the first
//! write would cost the thread the module's whole thread-local block, which
//! ld.so allocates and zeroes on first touch (2.6 KiB, see `resolve::memo`).

use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::cache::QType;

thread_local! {
    static LAST: Cell<[Option<(QType, SocketAddr)>; 2]> = const { Cell::new([None, None]) };
}

/// Whether this process notes who answered ([`record`]).
static RECORDING: AtomicBool = AtomicBool::new(false);

/// From now on, this process notes which server answered each question, for
/// [`last_answer_from`].
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
    }
}

/// Notes that `server` gave the winning reply to the question for `qtype`.
pub(super) fn answered(qtype: QType, server: SocketAddr) {
    if !recording() {
        return;
    }
    let _ = LAST.try_with(|last| {
        let mut pair = last.get();
        if let Some(free) = pair.iter_mut().find(|p| p.is_none()) {
            *free = Some((qtype, server));
        }
        last.set(pair);
    });
}

/// The server whose reply answered `qtype` in this thread's last exchange
/// (`None`: not asked upstream then, or no server answered, or the process
/// did not call [`record`] first).
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
