//! The binary layout of a cache file, version 3.
//!
//! ```text
//! offset 0      Header (two pages): identity, geometry, generation,
//!               statistics, upstream health, miss-coalescing leases
//! offset 8192   slot_count slots of SLOT_SIZE bytes
//! ```
//!
//! Everything in the file is a fixed-width atomic (`AtomicU64`/`AtomicU32`;
//! never `usize`, never a pointer): the file is shared by processes that
//! trust each other only as far as the kernel's file owner says, and read
//! by processes of other users (root's file). Every value read from it is
//! checked before use, as bytes from the wire are.
//!
//! A slot is a seqlock: `seq` odd while a writer owns it. The writer records
//! when it took the lock, so a writer killed mid-write wedges the slot for
//! at most [`WEDGE_MS`]: the next writer steals it, and the checksum keeps
//! the half-written data from ever being read as valid.

use std::sync::atomic::{AtomicU32, AtomicU64};

use super::health::ServerHealth;

/// "RUSTCACH" in ASCII, little-endian.
pub const MAGIC: u64 = u64::from_le_bytes(*b"RUSTCACH");
/// The layout described here. Bumped on any incompatible change, with
/// [`FILE_SUFFIX`]; a file of another version is never used. Version 2:
/// server health records keyed by the address's bytes, not its text.
/// Version 3: a two-page header with 64 health records of 64 bytes (room
/// for per-domain server groups), keys scoped by their route's id.
pub const LAYOUT_VERSION: u32 = 3;
/// How a cache file's name ends: `<uid>.v3.cache`. The layout is in the
/// name so that an upgrade that changes it never makes two releases meet
/// in one file: the processes started before the upgrade keep the old
/// release's file, the new ones make theirs beside it, and each refuses
/// nothing. With one name for every layout the new release's processes
/// would find the old file, refuse it and run uncached until the next
/// boot (replacing it would make the old processes, which look at the name
/// again every second, replace it back). Releases before this naming used
/// `<uid>.cache`, layout 3.
pub const FILE_SUFFIX: &str = ".v3.cache";
/// Bytes before the first slot: two pages, so the slots still start on a
/// page boundary (a name's window is one page).
pub const HEADER_SIZE: usize = 8192;
/// Bytes per slot.
pub const SLOT_SIZE: usize = 512;
/// 64-bit words of entry data per slot (after the four control words).
pub const DATA_WORDS: usize = (SLOT_SIZE - 32) / 8;
/// Slots a key may live in, starting at its hash.
pub const PROBE_WINDOW: usize = 8;
/// Statistics counters in the header.
pub const STAT_COUNT: usize = 16;
/// Upstream health records in the header. One page of them: every server
/// of every route an operator writes (the default servers, and a group of
/// a few per `server=/DOMAIN/` line) is learned once per host. A dnsmasq
/// set-up rarely names more than a dozen; 64 leaves room for a large
/// split-horizon one, and a server beyond them is still asked, only
/// without shared health (it ranks as never measured).
pub const HEALTH_COUNT: usize = 64;
/// Miss-coalescing leases in the header.
pub const LEASE_COUNT: usize = 256;
/// Waiter counts of the leases (two leases share one).
pub const LEASE_WAITER_COUNT: usize = LEASE_COUNT / 2;
/// A slot locked for longer than this belongs to a dead writer.
pub const WEDGE_MS: u64 = 1000;
/// Fewest slots a file may have.
pub const MIN_SLOTS: u32 = 64;
/// Most slots a file may have (1 GiB of slots).
pub const MAX_SLOTS: u32 = 1 << 21;

/// The first page of a cache file.
#[repr(C)]
pub struct Header {
    /// [`MAGIC`]; written last when the file is initialised, so a reader
    /// that sees it sees the rest.
    pub magic: AtomicU64,
    /// [`LAYOUT_VERSION`].
    pub layout_version: AtomicU32,
    /// [`HEADER_SIZE`].
    pub header_size: AtomicU32,
    /// Total file size in bytes.
    pub file_size: AtomicU64,
    /// Number of slots.
    pub slot_count: AtomicU32,
    /// [`SLOT_SIZE`].
    pub slot_size: AtomicU32,
    /// Random seed of the key hash, so nobody can aim names at one window.
    pub seed: AtomicU64,
    /// Entries written under another generation are not valid: bumping it
    /// flushes the cache.
    pub generation: AtomicU64,
    /// Boot-clock ms when the file was created.
    pub created_ms: AtomicU64,
    /// Statistics counters, see [`Stat`].
    pub stats: [AtomicU64; STAT_COUNT],
    /// Upstream server health shared by every process of the owner.
    pub health: [ServerHealth; HEALTH_COUNT],
    /// Miss-coalescing leases: `key_tag << 32 | until_ms as u32`.
    pub leases: [AtomicU64; LEASE_COUNT],
    /// The process id holding each lease, so waiters can tell a holder
    /// that was killed mid-query from a slow one.
    pub lease_owners: [AtomicU32; LEASE_COUNT],
    /// Callers waiting on the leases, `lease_waiters[i % LEASE_WAITER_COUNT]`
    /// for lease `i`: a holder that gives a lease back wakes them (a futex
    /// on the lease word's tag half) only when its count is not zero, so a
    /// miss nobody waits for makes no extra system call. A hint, as the
    /// owners are: a count a killed waiter left behind costs one needless
    /// wake call, which finds nobody and resets it; a count reset or torn
    /// down to zero under a waiter leaves it to its pause (at most
    /// `sys::Backoff`'s 5 ms, as every waiter polled before). Added to
    /// version 3 in bytes that were zero and unused: a process of an
    /// earlier release neither counts nor wakes, and its waiters and
    /// those it holds leases for poll as they always did.
    pub lease_waiters: [AtomicU32; LEASE_WAITER_COUNT],
}

/// One cache slot: four control words and the entry data.
#[repr(C)]
pub struct Slot {
    /// Seqlock: even = stable, odd = a writer owns the slot.
    pub seq: AtomicU32,
    /// Hits since the entry was stored, for `rustcache dump`: a relaxed
    /// load and store, not a locked add, so two processes hitting the
    /// entry in the same instant may count one, and a lookup that finds an
    /// entry on its way to a refresh, or whose memo held only one of its two
    /// parts still valid, counts it too (keeping those out would cost every
    /// hit a second pass). Written only through a writable mapping (the
    /// owner's processes), trusted by nothing.
    pub hits: AtomicU32,
    /// Boot-clock ms when the current writer took the lock.
    pub locked_ms: AtomicU64,
    /// Boot-clock ms of the last hit (updated at most once a second), for
    /// eviction: the least recently hit entry of a window goes first.
    pub last_hit_ms: AtomicU64,
    /// Refresh-ahead lease: boot-clock ms until which one caller is
    /// refreshing this entry.
    pub refresh_until_ms: AtomicU64,
    /// The entry (see `entry`), valid only when `seq` is even and unchanged
    /// across the copy and the checksum matches.
    pub data: [AtomicU64; DATA_WORDS],
}

/// The statistics counters, by index into the header's `stats` array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Stat {
    /// Lookups answered from a fresh positive entry.
    Hits = 0,
    /// Lookups answered from a fresh negative entry (NXDOMAIN, NODATA).
    NegativeHits = 1,
    /// Questions that had to go upstream.
    Misses = 2,
    /// Expired answers served because the upstream failed (RFC 8767).
    StaleAnswers = 3,
    /// Queries sent upstream (UDP and TCP).
    UpstreamQueries = 4,
    /// Servers asked because an earlier one was slow or failed.
    Hedges = 5,
    /// Questions no server answered in time.
    Timeouts = 6,
    /// Queries retried over TCP.
    TcpRetries = 7,
    /// Entries refreshed ahead of expiry.
    Refreshes = 8,
    /// Misses that waited for another process's query instead of asking.
    CoalescedWaits = 9,
    /// Entries stored.
    Stores = 10,
    /// Stores skipped because the slot was busy or the entry too large.
    StoresSkipped = 11,
    /// Flushes (generation bumps).
    Flushes = 12,
    /// Upstream answers refused by rebinding protection (`stop-dns-rebind`).
    RebindRefused = 13,
}

impl Stat {
    /// Every counter, in index order.
    pub const ALL: [Stat; 14] = [
        Stat::Hits,
        Stat::NegativeHits,
        Stat::Misses,
        Stat::StaleAnswers,
        Stat::UpstreamQueries,
        Stat::Hedges,
        Stat::Timeouts,
        Stat::TcpRetries,
        Stat::Refreshes,
        Stat::CoalescedWaits,
        Stat::Stores,
        Stat::StoresSkipped,
        Stat::Flushes,
        Stat::RebindRefused,
    ];

    /// The counter's name, as `rustcache stats` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Stat::Hits => "hits",
            Stat::NegativeHits => "negative_hits",
            Stat::Misses => "misses",
            Stat::StaleAnswers => "stale_answers",
            Stat::UpstreamQueries => "upstream_queries",
            Stat::Hedges => "hedges",
            Stat::Timeouts => "timeouts",
            Stat::TcpRetries => "tcp_retries",
            Stat::Refreshes => "refreshes",
            Stat::CoalescedWaits => "coalesced_waits",
            Stat::Stores => "stores",
            Stat::StoresSkipped => "stores_skipped",
            Stat::Flushes => "flushes",
            Stat::RebindRefused => "rebind_refused",
        }
    }
}

/// The shape of a file: how many slots, hence how large.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Number of slots.
    pub slot_count: u32,
}

impl Geometry {
    /// The largest geometry that fits in `bytes` (clamped to the limits).
    pub fn for_size(bytes: u64) -> Geometry {
        let slots = bytes.saturating_sub(HEADER_SIZE as u64) / SLOT_SIZE as u64;
        let slots = u32::try_from(slots).unwrap_or(MAX_SLOTS);
        Geometry {
            slot_count: slots.clamp(MIN_SLOTS, MAX_SLOTS),
        }
    }

    /// File size in bytes.
    pub fn file_size(self) -> u64 {
        HEADER_SIZE as u64 + u64::from(self.slot_count) * SLOT_SIZE as u64
    }
}

// The layout is part of the file format: pin it.
const _: () = assert!(std::mem::size_of::<Slot>() == SLOT_SIZE);
const _: () = assert!(std::mem::size_of::<ServerHealth>() == 64);
const _: () = assert!(
    std::mem::size_of::<Header>()
        == 56
            + 8 * STAT_COUNT
            + 64 * HEALTH_COUNT
            + 8 * LEASE_COUNT
            + 4 * LEASE_COUNT
            + 4 * LEASE_WAITER_COUNT
);
const _: () = assert!(std::mem::size_of::<Header>() == 7864);
const _: () = assert!(std::mem::size_of::<Header>() <= HEADER_SIZE);
const _: () = assert!(HEADER_SIZE % 4096 == 0);
const _: () = assert!(std::mem::align_of::<Header>() == 8);
const _: () = assert!(std::mem::align_of::<Slot>() == 8);
// What a hit reads is in the first page, and the leases (whose first word
// `Table` writes to map the second page) begin in the second: see
// `map::map_header_alone`.
const _: () = assert!(std::mem::offset_of!(Header, health) < 4096);
const _: () = assert!(std::mem::offset_of!(Header, leases) >= 4096);
