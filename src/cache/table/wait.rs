//! Waiting for another caller's answer: the waiter sleeps on its key's lease
//! word and the holder wakes it when it gives the lease back, so that the
//! answer is used as soon as it is stored, not at the waiter's next look.
//!
//! Until this, waiters only polled (0.2 ms doubling to 5 ms) and saw the
//! answer up to 5 ms after it was stored: in the bench's `stampede`, 8
//! processes on a name the server answers in 50 ms took 53.7 ms against
//! glibc's 51.4, each of its processes asking for itself; woken, 51.2. The
//! pauses stay, as the longest a wait on the word lasts: a holder of an
//! earlier release never wakes anyone, a killed one never gives its lease
//! back, and both are still found by looking.
//!
//! The protocol, every access `SeqCst`:
//!
//! ```text
//! waiter                                 holder
//! count += 1                             store the entry
//! observed = lease word                  lease word = 0  (release_lease)
//! entry stored? lease gone? -> return    count != 0 -> FUTEX_WAKE(word)
//! FUTEX_WAIT(word, observed, pause)      (woke nobody -> count = 0)
//! count -= 1 (when done)
//! ```
//!
//! If the holder's look at the count missed the waiter's increment, the
//! increment came after the release in the single order of `SeqCst`
//! accesses, so the waiter's look at the word or the entry sees the release
//! and the entry stored before it. Otherwise the holder wakes the word: a
//! waiter already asleep wakes; one on its way to sleep finds the word
//! changed from `observed` (the kernel checks it as it queues the waiter)
//! and returns at once.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use super::{split_lease, Table};
use crate::cache::entry::Key;
use crate::cache::layout::LEASE_WAITER_COUNT;

/// A caller counted as waiting on one lease; the count is given back when
/// this is dropped.
pub struct LeaseWait<'m> {
    word: &'m AtomicU64,
    waiters: &'m AtomicU32,
}

impl<'m> Table<'m> {
    /// Counts this caller as waiting for the holder of `key`'s lease, if a
    /// live lease of `key` is there to wait on.
    pub fn wait_on_lease(&self, key: &Key<'_>, now: u64) -> Option<LeaseWait<'m>> {
        if !self.writable {
            return None;
        }
        let header = self.miss_header();
        let index = self.held_lease(key.hash(self.seed), now)?;
        let word = header.leases.get(index)?;
        let waiters = self.waiters_of(index)?;
        // SYNC POINT: SeqCst, before the waiter's looks (module doc).
        waiters.fetch_add(1, Ordering::SeqCst);
        Some(LeaseWait { word, waiters })
    }

    /// The count of the callers waiting on lease `index` (and on the lease
    /// that shares it).
    fn waiters_of(&self, index: usize) -> Option<&'m AtomicU32> {
        self.header.lease_waiters.get(index % LEASE_WAITER_COUNT)
    }

    /// Wakes the waiters of lease `index` (`word`), just given back, if any
    /// are counted.
    ///
    /// A count that the wake finds nobody behind is reset: a waiter killed
    /// while it waited (a `timeout(1)` during an outage) leaves its count
    /// behind for good, and without the reset every miss on its two leases
    /// would make the wake call for ever. The reset is a compare-and-swap
    /// from the count seen, so a waiter that came meanwhile keeps its
    /// count. A waiter of this lease is never missed by it (one not asleep
    /// yet finds the word moved); a waiter of the other lease sharing the
    /// count may be: it then wakes at its pause, as every waiter did before.
    pub(super) fn wake_lease_waiters(&self, index: usize, word: &AtomicU64) {
        let Some(waiters) = self.waiters_of(index) else {
            return;
        };
        // SYNC POINT: SeqCst, after the release (module doc).
        let counted = waiters.load(Ordering::SeqCst);
        if counted != 0 && crate::sys::futex_wake(tag_half(word)) == 0 {
            // SYNC POINT: Relaxed; the count is a hint (see above).
            let _ = waiters.compare_exchange(counted, 0, Ordering::Relaxed, Ordering::Relaxed);
        }
    }
}

impl LeaseWait<'_> {
    /// The lease word now: what [`LeaseWait::sleep`] is given after the
    /// caller has looked for the answer.
    pub fn observe(&self) -> u64 {
        // SYNC POINT: SeqCst, after the count and before the looks at the
        // entry (module doc).
        self.word.load(Ordering::SeqCst)
    }

    /// Sleeps at most `pause`, or until the holder gives the lease back
    /// (or anything else changes the word from `observed`).
    pub fn sleep(&self, observed: u64, pause: Duration) {
        crate::sys::futex_wait(tag_half(self.word), split_lease(observed).0, pause);
    }
}

impl Drop for LeaseWait<'_> {
    fn drop(&mut self) {
        // SYNC POINT: Relaxed; a count only decides whether a holder makes
        // the wake call. Never below zero: a holder may have reset the
        // count under us (`wake_lease_waiters`).
        let _ = self
            .waiters
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }
}

/// The 32-bit half of a lease word that holds its key's tag: never zero
/// while the lease is held (`lease_tag`), zero once it is given back, and
/// another key's tag if another key takes the word. The futex word: a
/// futex is 32 bits, a lease 64. The kernel reads it; nothing here does.
fn tag_half(word: &AtomicU64) -> *const u32 {
    let base = word.as_ptr().cast::<u32>().cast_const();
    // The tag is the high half: at the higher address on a little-endian
    // machine (x86_64, aarch64).
    if cfg!(target_endian = "little") {
        base.wrapping_add(1)
    } else {
        base
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Instant;

    use super::super::lease_indexes;
    use super::*;
    use crate::cache::layout::Geometry;
    use crate::cache::map::{open_existing, open_or_create, Mapping};
    use crate::cache::table::Lease;
    use crate::sys::euid as uid;
    use crate::upstream::QType;

    const LONG: Duration = Duration::from_secs(30);

    /// A cache file of its own in a test directory, with `key`'s lease
    /// taken through it.
    fn leased(test: &str, key: &Key<'_>) -> (std::path::PathBuf, Mapping) {
        let dir = crate::cache::test_dir("wait", test);
        let mapping = open_or_create(&dir, uid(), Geometry::for_size(1 << 20)).unwrap();
        assert_eq!(
            mapping.table().try_lease(key, 1000, 60_000),
            Lease::Acquired
        );
        (dir, mapping)
    }

    /// Two mappings of one file at two addresses, as two processes have it:
    /// the waiter sleeps on its own mapping's word and is woken by the
    /// holder's release through the other, long before its pause is over.
    #[test]
    fn a_release_through_another_mapping_wakes_the_waiter() {
        let key = Key::new("cold.example", QType::A);
        let (dir, holder) = leased("wake", &key);
        let path = crate::cache::map::file_path(&dir, uid());
        let (registered, on_registered) = mpsc::channel();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let own = open_existing(&path, uid(), true).unwrap();
                assert_ne!(
                    std::ptr::from_ref(own.table().header),
                    std::ptr::from_ref(holder.table().header),
                    "one mapping"
                );
                let wait = own.table().wait_on_lease(&key, 1001).expect("a live lease");
                let observed = wait.observe();
                registered.send(()).unwrap();
                let start = Instant::now();
                wait.sleep(observed, LONG);
                (start.elapsed(), split_lease(wait.observe()).0)
            });
            on_registered.recv().unwrap();
            std::thread::sleep(Duration::from_millis(50));
            holder.table().release_lease(&key);
            let (slept, tag_after) = waiter.join().unwrap();
            assert!(slept < LONG / 3, "not woken: slept {slept:?}");
            assert_eq!(tag_after, 0, "returned before the release");
        });
        assert_eq!(waiter_count(&holder, &key), 0, "the count given back");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// The count the holder looks at: one per waiter while it waits.
    fn waiter_count(mapping: &Mapping, key: &Key<'_>) -> u32 {
        let table = mapping.table();
        // A file of its own: the key has the first of its two lease words.
        let [first, _] = lease_indexes(key.hash(table.seed));
        table.waiters_of(first).unwrap().load(Ordering::SeqCst)
    }

    /// A count left by a waiter that never gave it back (killed while it
    /// waited) costs the next release one wake call, which finds nobody
    /// and resets it; a waiter that gives its count back after such a reset
    /// leaves it at zero, not wrapped round.
    #[test]
    fn a_count_nobody_is_behind_is_reset_by_the_next_release() {
        let key = Key::new("killed.example", QType::A);
        let (dir, mapping) = leased("leak", &key);
        let table = mapping.table();
        std::mem::forget(table.wait_on_lease(&key, 1001).expect("a live lease"));
        let late = table.wait_on_lease(&key, 1001).expect("a live lease");
        assert_eq!(waiter_count(&mapping, &key), 2);
        table.release_lease(&key);
        assert_eq!(waiter_count(&mapping, &key), 0, "not reset");
        drop(late);
        assert_eq!(waiter_count(&mapping, &key), 0, "wrapped round");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Unwoken, the sleep lasts its pause; a word that moved since it was
    /// observed (a release between the waiter's look and its sleep) does
    /// not put it to sleep at all; no lease, nothing to wait on.
    #[test]
    fn a_sleep_lasts_its_pause_unless_the_word_moved() {
        let key = Key::new("slow.example", QType::Aaaa);
        let (dir, mapping) = leased("pause", &key);
        let table = mapping.table();
        let unleased = Key::new("other.example", QType::Aaaa);
        assert!(
            table.wait_on_lease(&unleased, 1000).is_none(),
            "no lease yet"
        );
        let wait = table.wait_on_lease(&key, 1001).expect("a live lease");
        let second = table.wait_on_lease(&key, 1001).expect("a live lease");
        assert_eq!(waiter_count(&mapping, &key), 2);
        drop(second);
        assert_eq!(waiter_count(&mapping, &key), 1);

        let observed = wait.observe();
        let start = Instant::now();
        wait.sleep(observed, Duration::from_millis(100));
        assert!(start.elapsed() >= Duration::from_millis(100), "woke early");

        table.release_lease(&key);
        let start = Instant::now();
        wait.sleep(observed, LONG);
        assert!(start.elapsed() < LONG / 3, "slept on a word that moved");
        drop(wait);
        assert_eq!(waiter_count(&mapping, &key), 0);
        assert!(table.wait_on_lease(&key, 1002).is_none(), "given back");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
