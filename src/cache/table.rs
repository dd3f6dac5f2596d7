//! Reading and writing entries in a mapped cache file.
//!
//! Readers never wait: they copy a slot's data with atomic loads between
//! two reads of its sequence counter, and keep the copy only if the counter
//! was even and unchanged; then the copy is decoded and checked (see
//! `entry`). Writers never wait either: a writer takes a slot by moving its
//! counter from even to odd with one compare-and-swap, and if that fails
//! the answer is simply not cached this time.
//!
//! A key lives in one of [`PROBE_WINDOW`] consecutive slots from its hash.
//! A new entry replaces the same key's old entry if there is one, else an
//! empty, flushed or long-expired slot, else the least recently hit one:
//! names that are used stay.

use std::sync::atomic::{fence, Ordering};

use super::entry::{
    check_summed, encode, used_len, Checksum, Encoded, Entry, Key, Layout, DATA_BYTES, FIXED_WORDS,
};
use super::health::{HealthTable, ServerHealth};
use super::layout::{Header, Slot, Stat, DATA_WORDS, LEASE_COUNT, PROBE_WINDOW, WEDGE_MS};
use super::map::map_page_alone;

mod inspect;
mod wait;
pub use inspect::Listed;

/// Minimum interval between two updates of a slot's last-hit time, so hot
/// entries do not turn every hit into a shared cache-line write.
const TOUCH_INTERVAL_MS: u64 = 1000;

/// One mapped cache file, as slots and header.
#[derive(Clone, Copy)]
pub struct Table<'m> {
    header: &'m Header,
    slots: &'m [Slot],
    writable: bool,
    seed: u64,
    id: u64,
}

/// A hit, decoded into an owned entry (tools and tests; lookups use
/// [`Table::get_into`], which does not allocate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The decoded entry.
    pub entry: Entry,
    /// Its slot, for the refresh lease.
    pub slot: usize,
}

/// What became of the process holding a miss lease
/// ([`Table::lease_holder`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    /// Alive and not stopped: still asking.
    Asking,
    /// Gone: killed (or exited) without giving the lease back.
    Gone,
    /// Stopped by a signal or a tracer: asks nothing until continued.
    Stopped,
    /// Cannot be told (no lease pid, a pid we may not signal, no /proc).
    Unknown,
}

/// What a miss-coalescing lease attempt found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lease {
    /// This caller asks upstream; others wait for its answer.
    Acquired,
    /// Another caller is asking for this key right now.
    HeldByOther,
    /// The lease word is taken by another key: ask without coalescing.
    Unavailable,
}

impl<'m> Table<'m> {
    /// A table over a validated header and its slots. `writable` is false
    /// for another user's (root's) file mapped read-only: nothing is ever
    /// stored into it, not even a statistic.
    #[inline]
    pub fn new(header: &'m Header, slots: &'m [Slot], writable: bool, id: u64) -> Table<'m> {
        Table {
            header,
            slots,
            writable,
            id,
            // SYNC POINT: Relaxed; the seed never changes after the magic
            // was published (the mapping validated it with Acquire).
            seed: header.seed.load(Ordering::Relaxed),
        }
    }

    /// Whether this process may write here.
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// The current generation (bumped by every flush).
    pub fn generation(&self) -> u64 {
        // SYNC POINT: Relaxed; a flush racing with a lookup may be seen a
        // moment late, which only means one more hit of the old data.
        self.header.generation.load(Ordering::Relaxed)
    }

    /// Flushes the cache: every entry becomes invalid.
    pub fn flush(&self) {
        if self.writable {
            self.header.generation.fetch_add(1, Ordering::Relaxed);
            self.count(Stat::Flushes, 1);
        }
    }

    /// The shared health records of the upstream servers.
    pub fn health(&self) -> HealthTable<'m> {
        HealthTable::new(&self.miss_header().health)
    }

    /// The health slots themselves (for statistics).
    pub fn health_slots(&self) -> &'m [ServerHealth] {
        &self.miss_header().health
    }

    /// The header, for what only a miss uses (the health records and the
    /// leases, which reach into its second page): that page is mapped
    /// first with a write, as `map` maps the first one and `get_into` a
    /// name's window, so that the kernel maps it alone instead of with up
    /// to 15 neighbours of the file. A process that only hits never maps it.
    fn miss_header(&self) -> &'m Header {
        if self.writable {
            if let Some(word) = self.header.leases.first() {
                map_page_alone(word);
            }
        }
        self.header
    }

    /// Adds `n` to a statistics counter.
    pub fn count(&self, stat: Stat, n: u64) {
        if self.writable && n > 0 {
            if let Some(counter) = self.header.stats.get(stat as usize) {
                // SYNC POINT: Relaxed; counters order nothing.
                counter.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// Reads a statistics counter.
    pub fn stat(&self, stat: Stat) -> u64 {
        self.header
            .stats
            .get(stat as usize)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Number of slots.
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// Boot-clock ms when the file was created.
    pub fn created_ms(&self) -> u64 {
        self.header.created_ms.load(Ordering::Relaxed)
    }

    /// Entries of the current generation: (fresh, expired).
    pub fn occupancy(&self, now: u64) -> (usize, usize) {
        let generation = self.generation();
        let mut fresh = 0;
        let mut expired = 0;
        for slot in self.slots {
            let (hash, gen) = peek_slot(slot);
            if hash == 0 || gen != generation {
                continue;
            }
            // SYNC POINT: Relaxed; a statistic.
            if slot.data[3].load(Ordering::Relaxed) > now {
                fresh += 1;
            } else {
                expired += 1;
            }
        }
        (fresh, expired)
    }

    /// Where `key_hash` may live: the [`PROBE_WINDOW`] slots of one group,
    /// a page of the file (the slots start on a page boundary and eight of
    /// them fill one), chosen by the name's part of the hash.
    fn window(&self, key_hash: u64) -> impl Iterator<Item = usize> + '_ {
        let len = self.slots.len();
        let width = PROBE_WINDOW.min(len);
        let start = group_of(key_hash, len) * width;
        (0..width).map(move |i| (start + i) % len.max(1))
    }

    /// The hash seed of this file.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The mapping's id, unique in this process (see `Mapping`).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The sequence counter of slot `index`: unchanged and even means the
    /// slot holds exactly what it held when the counter had this value.
    pub fn slot_seq(&self, index: usize) -> Option<u32> {
        // SYNC POINT: Acquire pairs with the writer's final Release store,
        // as in read_slot.
        self.slots.get(index).map(|s| s.seq.load(Ordering::Acquire))
    }

    /// Notes a hit on slot `index` (for eviction).
    pub fn touch_slot(&self, index: usize, now: u64) {
        if let Some(slot) = self.slots.get(index) {
            self.touch(slot, now);
        }
    }

    /// Looks `key` up, copying the entry into `out`. Expired entries are
    /// returned too (the caller decides about serving stale); entries of
    /// another generation are not. Returns where the parts are and the slot.
    pub fn get_into(
        &self,
        key: &Key<'_>,
        now: u64,
        out: &mut [u8; DATA_BYTES],
    ) -> Option<(Layout, usize, u32)> {
        let key_hash = key.hash(self.seed);
        let generation = self.generation();
        let mut window = self.window(key_hash).peekable();
        if self.writable {
            // The window is one page: its first look is a write, so the
            // kernel maps that page alone.
            if let Some(first) = window.peek().and_then(|&i| self.slots.get(i)) {
                map_page_alone(&first.last_hit_ms);
            }
        }
        for index in window {
            let slot = self.slots.get(index)?;
            // SYNC POINT: Relaxed peek; the real check is the seqlock copy.
            if slot.data[0].load(Ordering::Relaxed) != key_hash {
                continue;
            }
            let Some((sum, seq)) = read_slot(slot, out, self.seed) else {
                continue;
            };
            if let Some(layout) = check_summed(out, key, key_hash, generation, sum) {
                self.touch(slot, now);
                return Some((layout, index, seq));
            }
        }
        None
    }

    /// Looks `key` up into an owned entry (tools and tests).
    pub fn get(&self, key: &Key<'_>, now: u64) -> Option<Found> {
        let mut buf = [0u8; DATA_BYTES];
        let (layout, slot, _) = self.get_into(key, now, &mut buf)?;
        Some(Found {
            entry: layout.view(&buf).to_entry(&layout),
            slot,
        })
    }

    /// Counts a hit on `slot` and, at most once a second, notes when.
    fn touch(&self, slot: &Slot, now: u64) {
        if !self.writable {
            return;
        }
        // SYNC POINT: Relaxed load and store: a statistic; a count lost to
        // a concurrent hit is cheaper than a locked instruction per hit.
        let hits = slot.hits.load(Ordering::Relaxed);
        slot.hits.store(hits.saturating_add(1), Ordering::Relaxed);
        // SYNC POINT: Relaxed; an eviction hint only.
        let last = slot.last_hit_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= TOUCH_INTERVAL_MS {
            slot.last_hit_ms.store(now, Ordering::Relaxed);
        }
    }

    /// Encodes `entry` for this file (its seed and generation).
    pub fn seal(&self, key: &Key<'_>, entry: &Entry) -> Option<Encoded> {
        encode(entry, key, self.seed, self.generation())
    }

    /// Stores an entry sealed by [`seal`](Self::seal). False if it was not
    /// stored (read-only file, too large for a slot, or the chosen slot was
    /// busy).
    pub fn put(&self, encoded: &Encoded, now: u64, stale_limit_ms: u64) -> bool {
        if !self.writable {
            return false;
        }
        let generation = self.generation();
        let stored = encoded.words().is_some_and(|words| {
            let key_hash = words[0];
            words[1] == generation
                && self
                    .victim(key_hash, generation, now, stale_limit_ms)
                    .and_then(|index| self.slots.get(index))
                    .is_some_and(|slot| write_slot(slot, &words, now))
        });
        self.count(
            if stored {
                Stat::Stores
            } else {
                Stat::StoresSkipped
            },
            1,
        );
        stored
    }

    /// Seals and stores `entry` under `key` (tools and tests).
    pub fn put_entry(&self, key: &Key<'_>, entry: &Entry, now: u64, stale_limit_ms: u64) -> bool {
        self.seal(key, entry)
            .is_some_and(|encoded| self.put(&encoded, now, stale_limit_ms))
    }

    /// The slot a new entry for `key_hash` goes to.
    fn victim(
        &self,
        key_hash: u64,
        generation: u64,
        now: u64,
        stale_limit_ms: u64,
    ) -> Option<usize> {
        let mut best: Option<(u64, usize)> = None;
        for index in self.window(key_hash) {
            let slot = self.slots.get(index)?;
            let (hash, gen) = peek_slot(slot);
            if hash == key_hash {
                return Some(index);
            }
            // SYNC POINT: Relaxed peeks; a wrong guess only picks a worse
            // victim.
            let expires = slot.data[3].load(Ordering::Relaxed);
            let useless =
                hash == 0 || gen != generation || expires.saturating_add(stale_limit_ms) <= now;
            let score = if useless {
                0
            } else {
                slot.last_hit_ms.load(Ordering::Relaxed).max(1)
            };
            if best.is_none_or(|(s, _)| score < s) {
                best = Some((score, index));
            }
        }
        best.map(|(_, index)| index)
    }

    /// Tries to become the one caller refreshing the entry in `slot` until
    /// `until`.
    pub fn try_refresh_lease(&self, slot: usize, now: u64, until: u64) -> bool {
        let Some(slot) = self.slots.get(slot).filter(|_| self.writable) else {
            return false;
        };
        let current = slot.refresh_until_ms.load(Ordering::Relaxed);
        // SYNC POINT: AcqRel on success: exactly one caller moves the lease
        // forward from a given expired value.
        current <= now
            && slot
                .refresh_until_ms
                .compare_exchange(current, until, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }

    /// Tries to become the one caller asking upstream for `key` until
    /// `until_ms`. A key may use either of two lease words (so two names
    /// in flight rarely collide); a word held by a live lease of another
    /// key is left alone.
    pub fn try_lease(&self, key: &Key<'_>, now: u64, until_ms: u64) -> Lease {
        if !self.writable {
            return Lease::Unavailable;
        }
        let header = self.miss_header();
        let key_hash = key.hash(self.seed);
        let tag = lease_tag(key_hash);
        if self.held_lease(key_hash, now).is_some() {
            return Lease::HeldByOther;
        }
        for index in lease_indexes(key_hash) {
            let Some(word) = header.leases.get(index) else {
                continue;
            };
            // SYNC POINT: AcqRel on the CAS orders competing lease takers.
            let current = word.load(Ordering::Acquire);
            if lease_live(split_lease(current).1, now) {
                continue;
            }
            let new = (u64::from(tag) << 32) | (until_ms & 0xffff_ffff);
            // The owner is written before the lease word too: a waiter that
            // read the previous owner's pid, most often an exited process,
            // would take the lease for abandoned and ask itself. A taker
            // that then loses the race to the same key leaves its own pid,
            // alive and waiting, until the winner writes its own below. One
            // that loses to another key at that instant (a collision on the
            // word, and a store delayed past the winner's) may leave its pid
            // on the winner's lease; once it exits, that lease's waiters ask
            // for themselves: one extra query each, as before this store.
            let owner = header.lease_owners.get(index);
            let me = crate::sys::pid();
            if let Some(owner) = owner {
                // SYNC POINT: Relaxed; the owner is a hint for waiters
                // (bounded by the lease), not part of the lease itself.
                owner.store(me, Ordering::Relaxed);
            }
            match word.compare_exchange(current, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    if let Some(owner) = owner {
                        // SYNC POINT: Relaxed; as above.
                        owner.store(me, Ordering::Relaxed);
                    }
                    return Lease::Acquired;
                }
                Err(now_held) if split_lease(now_held).0 == tag => return Lease::HeldByOther,
                Err(_) => continue,
            }
        }
        Lease::Unavailable
    }

    /// The index of a live lease of this key, if any.
    fn held_lease(&self, key_hash: u64, now: u64) -> Option<usize> {
        let tag = lease_tag(key_hash);
        lease_indexes(key_hash).into_iter().find(|&index| {
            self.header.leases.get(index).is_some_and(|word| {
                let (held_tag, until) = split_lease(word.load(Ordering::Acquire));
                held_tag == tag && lease_live(until, now)
            })
        })
    }

    /// Whether someone still holds the lease of `key` (it has not expired).
    /// Whether the holder is still asking is [`lease_holder`](Self::lease_holder)'s
    /// question, which costs system calls.
    pub fn lease_held(&self, key: &Key<'_>, now: u64) -> bool {
        self.held_lease(key.hash(self.seed), now).is_some()
    }

    /// What became of the process holding the lease of `key`: a process
    /// killed mid-query, or stopped (a signal, job control, a debugger),
    /// would hold its waiters up until its lease runs out.
    pub fn lease_holder(&self, key: &Key<'_>, now: u64) -> Holder {
        let header = self.miss_header();
        let pid = self
            .held_lease(key.hash(self.seed), now)
            .and_then(|index| header.lease_owners.get(index))
            .and_then(|owner| libc::pid_t::try_from(owner.load(Ordering::Relaxed)).ok())
            .filter(|&pid| pid > 0);
        let Some(pid) = pid else {
            return Holder::Unknown;
        };
        match crate::sys::probe_process(pid) {
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Holder::Gone,
            // EPERM: not ours to signal (a pid of another user, here or in
            // another PID namespace), or a security policy that refuses it.
            Err(_) => Holder::Unknown,
            Ok(()) => match crate::sys::process_stopped(pid) {
                Some(true) => Holder::Stopped,
                Some(false) => Holder::Asking,
                None => Holder::Unknown,
            },
        }
    }

    /// Gives the lease of `key` back (after storing the answer), waking the
    /// callers that wait on it (`wait`).
    pub fn release_lease(&self, key: &Key<'_>) {
        if !self.writable {
            return;
        }
        let header = self.miss_header();
        let key_hash = key.hash(self.seed);
        for index in lease_indexes(key_hash) {
            if let Some(word) = header.leases.get(index) {
                let current = word.load(Ordering::Acquire);
                // SYNC POINT: SeqCst on success: Release pairs with
                // waiters' Acquire loads (the entry was stored before),
                // and the waiters' count is read after it (`wait`).
                if split_lease(current).0 == lease_tag(key_hash)
                    && word
                        .compare_exchange(current, 0, Ordering::SeqCst, Ordering::Relaxed)
                        .is_ok()
                {
                    self.wake_lease_waiters(index, word);
                }
            }
        }
    }
}

/// The group of [`PROBE_WINDOW`] slots, out of a table of `len`, that a
/// key with `key_hash` lives in: by the name's part of the hash (above its
/// low 8 bits, the record type).
fn group_of(key_hash: u64, len: usize) -> usize {
    let groups = (len / PROBE_WINDOW).max(1);
    ((key_hash >> 8) % groups as u64) as usize
}

/// The two lease words a key may use (by the name's part of its hash).
fn lease_indexes(key_hash: u64) -> [usize; 2] {
    let first = ((key_hash >> 8) % LEASE_COUNT as u64) as usize;
    [first, (first + 1) % LEASE_COUNT]
}

fn lease_tag(key_hash: u64) -> u32 {
    ((key_hash >> 32) as u32).max(1)
}

fn split_lease(word: u64) -> (u32, u32) {
    ((word >> 32) as u32, word as u32)
}

/// Whether a lease ending at `until` (low 32 bits of boot-clock ms) is
/// still running at `now`; wrapping arithmetic keeps this right across the
/// 49-day wrap.
fn lease_live(until: u32, now: u64) -> bool {
    (until.wrapping_sub(now as u32) as i32) > 0
}

/// The key hash and generation of a slot, without the seqlock (a hint).
fn peek_slot(slot: &Slot) -> (u64, u64) {
    // SYNC POINT: Relaxed; a hint checked later by the seqlock copy.
    (
        slot.data[0].load(Ordering::Relaxed),
        slot.data[1].load(Ordering::Relaxed),
    )
}

/// Copies a slot's data into `out` if no writer touched it meanwhile: the
/// 64-byte fixed part, then only as many words as its lengths say are in
/// use (a typical entry is a quarter of the slot). Returns the checksum of
/// what was copied, folded in on the way (see `entry::Checksum`), and the
/// sequence counter the copy is consistent with.
fn read_slot(slot: &Slot, out: &mut [u8; DATA_BYTES], seed: u64) -> Option<(u64, u32)> {
    // SYNC POINT: Acquire pairs with the writer's final Release store of
    // the even counter: the data it wrote before is visible to the loads.
    let before = slot.seq.load(Ordering::Acquire);
    if before & 1 == 1 {
        return None;
    }
    let mut sum = Checksum::new(seed);
    let mut copy = |out: &mut [u8; DATA_BYTES], words: std::ops::Range<usize>| {
        for i in words {
            if let (Some(atomic), Some(dst)) = (slot.data.get(i), out.get_mut(i * 8..i * 8 + 8)) {
                let w = atomic.load(Ordering::Relaxed);
                sum.word(i, w);
                dst.copy_from_slice(&w.to_le_bytes());
            }
        }
    };
    copy(out, 0..FIXED_WORDS);
    // A torn or garbage length only makes us copy more; the checksum
    // decides.
    let used = used_len(out).unwrap_or(DATA_BYTES).min(DATA_BYTES);
    copy(out, FIXED_WORDS..used.div_ceil(8));
    // SYNC POINT: this fence pairs with the writer's Release fence after it
    // made the counter odd: if any load above saw a store of a later write,
    // the counter load below sees that write's odd (or later) value.
    fence(Ordering::Acquire);
    let after = slot.seq.load(Ordering::Relaxed);
    (before == after).then(|| (sum.finish(used), before))
}

/// Takes the slot (stealing it from a writer dead for [`WEDGE_MS`]) and
/// writes `words`. False if the slot was busy.
fn write_slot(slot: &Slot, words: &[u64; DATA_WORDS], now: u64) -> bool {
    let seq = slot.seq.load(Ordering::Relaxed);
    let locked = if seq & 1 == 0 {
        seq.wrapping_add(1)
    } else {
        let since = slot.locked_ms.load(Ordering::Relaxed);
        // A lock time in the future is corruption: as dead as an old one.
        if since <= now && now - since < WEDGE_MS {
            return false;
        }
        // Still odd: we own it now; the checksum rejects what the dead
        // writer left half-written.
        seq.wrapping_add(2)
    };
    // SYNC POINT: Acquire on success orders our stores after the CAS; only
    // one writer wins a given counter value.
    if slot
        .seq
        .compare_exchange(seq, locked, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return false;
    }
    slot.locked_ms.store(now, Ordering::Relaxed);
    // SYNC POINT: Relaxed; a new entry has no hits yet (a hit racing
    // this store may leave one: a statistic).
    slot.hits.store(0, Ordering::Relaxed);
    // SYNC POINT: pairs with the reader's Acquire fence (see read_slot).
    fence(Ordering::Release);
    for (atomic, word) in slot.data.iter().zip(words.iter()) {
        atomic.store(*word, Ordering::Relaxed);
    }
    // SYNC POINT: Release publishes the data with the even counter.
    slot.seq.store(locked.wrapping_add(1), Ordering::Release);
    slot.last_hit_ms.store(now, Ordering::Relaxed);
    true
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cache::entry::Kind;
    use crate::cache::layout::{Geometry, HEADER_SIZE, SLOT_SIZE};
    use crate::upstream::QType;
    use std::net::Ipv4Addr;

    /// A header and slots in process memory, laid out like a file.
    /// Atomics, not plain words: the header and slots are mutated through
    /// shared references, which is sound only over interior mutability.
    pub(crate) struct Memory {
        words: Vec<std::sync::atomic::AtomicU64>,
        slots: usize,
    }

    impl Memory {
        pub(crate) fn new(slots: u32) -> Memory {
            let size = Geometry { slot_count: slots }.file_size() as usize;
            let m = Memory {
                words: (0..size / 8)
                    .map(|_| std::sync::atomic::AtomicU64::new(0))
                    .collect(),
                slots: slots as usize,
            };
            m.header().seed.store(0x1234, Ordering::Relaxed);
            m
        }

        pub(crate) fn header(&self) -> &Header {
            // SAFETY: the vector of AtomicU64 is 8-aligned and large enough;
            // Header is made of atomics only, valid for any bits, and
            // shares the vector's interior mutability.
            unsafe { &*self.words.as_ptr().cast::<Header>() }
        }

        pub(crate) fn table(&self) -> Table<'_> {
            // SAFETY: slots start HEADER_SIZE bytes in, within the vector of
            // atomics, aligned for Slot (atomics only, as above).
            let slots = unsafe {
                std::slice::from_raw_parts(
                    self.words.as_ptr().add(HEADER_SIZE / 8).cast::<Slot>(),
                    self.slots,
                )
            };
            assert_eq!(std::mem::size_of_val(slots), self.slots * SLOT_SIZE);
            Table::new(self.header(), slots, true, 0)
        }
    }

    fn entry(ip: u8, expires: u64) -> Entry {
        Entry {
            kind: Kind::Positive,
            ttl: 60,
            stored_ms: 0,
            expires_ms: expires,
            retry_after_ms: 0,
            canonical: "a.example".into(),
            aliases: vec![],
            v4: vec![Ipv4Addr::new(192, 0, 2, ip)],
            v6: vec![],
        }
    }

    #[test]
    fn put_then_get_and_flush() {
        let m = Memory::new(64);
        let t = m.table();
        let key = Key::new("A.example", QType::A);
        assert!(t.get(&key, 0).is_none());
        assert!(t.put_entry(&key, &entry(1, 60_000), 0, 0));
        assert_eq!(t.get(&key, 10).unwrap().entry, entry(1, 60_000));
        assert!(
            t.put_entry(&key, &entry(2, 60_000), 0, 0),
            "same key overwrites"
        );
        assert_eq!(
            t.get(&key, 10).unwrap().entry.v4,
            [Ipv4Addr::new(192, 0, 2, 2)]
        );
        t.flush();
        assert!(t.get(&key, 10).is_none());
        assert_eq!(t.stat(Stat::Stores), 2);
    }

    #[test]
    fn a_wedged_slot_is_skipped_then_stolen() {
        let m = Memory::new(64);
        let t = m.table();
        let key = Key::new("a.example", QType::A);
        assert!(t.put_entry(&key, &entry(1, 60_000), 0, 0));
        let index = t.get(&key, 0).unwrap().slot;
        let slot = &t.slots[index];
        // A writer dies holding the slot at t=100, half-way through.
        slot.seq.fetch_add(1, Ordering::Relaxed);
        slot.locked_ms.store(100, Ordering::Relaxed);
        slot.data[8].store(0xdead, Ordering::Relaxed);
        assert!(t.get(&key, 200).is_none(), "a locked slot is a miss");
        assert!(
            !t.put_entry(&key, &entry(2, 60_000), 200, 0),
            "not stolen yet"
        );
        assert!(t.put_entry(&key, &entry(3, 60_000), 100 + WEDGE_MS, 0));
        assert_eq!(
            t.get(&key, 1200).unwrap().entry.v4,
            [Ipv4Addr::new(192, 0, 2, 3)]
        );
    }

    #[test]
    fn a_names_entries_of_every_type_share_one_group() {
        let seed = 0x5eed;
        for i in 0..200 {
            let name = format!("host{i}.example");
            let group = |q| group_of(Key::new(&name, q).hash(seed), 32_760);
            assert_eq!(group(QType::A), group(QType::Aaaa), "{name}");
            assert_eq!(group(QType::A), group(QType::Ptr), "{name}");
        }
        // ...while names spread over the groups.
        let groups: std::collections::HashSet<usize> = (0..200)
            .map(|i| {
                group_of(
                    Key::new(&format!("host{i}.example"), QType::A).hash(seed),
                    32_760,
                )
            })
            .collect();
        assert!(groups.len() > 190, "{}", groups.len());
    }

    #[test]
    fn eviction_keeps_recently_hit_names() {
        let m = Memory::new(64);
        let t = m.table();
        // Fill one window with names whose hash lands in the same group.
        let group = |n: &str| group_of(Key::new(n, QType::A).hash(t.seed), 64);
        let base = group("n0.example");
        let names: Vec<String> = (0..10_000)
            .map(|i| format!("n{i}.example"))
            .filter(|n| group(n) == base)
            .take(PROBE_WINDOW + 1)
            .collect();
        let mut same: Vec<Key> = names.iter().map(|n| Key::new(n, QType::A)).collect();
        let newcomer = same.pop().unwrap();
        for (i, key) in same.iter().enumerate() {
            assert!(t.put_entry(key, &entry(1, 1_000_000), i as u64 * 2000, 0));
        }
        // Every entry but the oldest is hit again later.
        for key in &same[1..] {
            t.get(key, 100_000).unwrap();
        }
        assert!(t.put_entry(&newcomer, &entry(9, 1_000_000), 100_000, 0));
        assert!(t.get(&same[0], 100_001).is_none(), "the coldest went");
        for key in &same[1..] {
            assert!(t.get(key, 100_001).is_some());
        }
    }

    #[test]
    fn only_one_caller_gets_a_lease() {
        let m = Memory::new(64);
        let t = m.table();
        let key = Key::new("a.example", QType::A);
        assert_eq!(t.try_lease(&key, 1000, 3000), Lease::Acquired);
        assert_eq!(t.try_lease(&key, 1001, 3000), Lease::HeldByOther);
        assert!(t.lease_held(&key, 1500));
        t.release_lease(&key);
        assert!(!t.lease_held(&key, 1500));
        assert_eq!(t.try_lease(&key, 1600, 2000), Lease::Acquired);
        assert!(!t.lease_held(&key, 2001), "expired");
        assert_eq!(t.try_lease(&key, 2001, 4000), Lease::Acquired);
    }

    #[test]
    fn a_lease_holder_is_told_asking_stopped_or_gone() {
        let m = Memory::new(64);
        let t = m.table();
        let key = Key::new("a.example", QType::A);
        assert_eq!(t.lease_holder(&key, 1000), Holder::Unknown, "no lease");
        assert_eq!(t.try_lease(&key, 1000, 3000), Lease::Acquired);
        assert_eq!(t.lease_holder(&key, 1500), Holder::Asking, "this process");
        let owner_is = |pid: u32| {
            for index in lease_indexes(key.hash(t.seed)) {
                t.miss_header().lease_owners[index].store(pid, Ordering::Relaxed);
            }
        };
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        owner_is(child.id());
        let asking = t.lease_holder(&key, 1500);
        let pid = libc::pid_t::try_from(child.id()).unwrap();
        // SAFETY: signalling our own child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
        let stopped = (0..200).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(5));
            t.lease_holder(&key, 1500) == Holder::Stopped
        });
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(asking, Holder::Asking);
        assert!(stopped, "the stop seen");
        assert_eq!(t.lease_holder(&key, 1500), Holder::Gone, "killed");
        owner_is(0);
        assert_eq!(t.lease_holder(&key, 1500), Holder::Unknown, "no pid");
        assert_eq!(t.lease_holder(&key, 3001), Holder::Unknown, "expired");
    }
}
