//! What we know about each upstream server: how fast it answers and
//! whether it answers at all.
//!
//! Every field is an atomic so the same record can live in process memory
//! now and in the shared cache file later (one server learned dead by one
//! process is then dead for all). Updates are plain load/compute/store:
//! two threads racing lose one RTT sample, which a smoothed estimate
//! absorbs; nothing here needs a lock.
//!
//! The estimate is the TCP one (RFC 6298): `srtt` and `rttvar` in
//! microseconds, RTO = srtt + 4 x rttvar, here used as the hedge delay: the
//! time after which a server that has not answered is probably not going
//! to, so the next one is asked as well.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// Hedge delay when nothing is known about a server yet. Small enough that
/// a dead first server costs a fresh process little, large enough that a
/// healthy resolver a few ms away is not asked twice.
pub const INITIAL_HEDGE: Duration = Duration::from_millis(40);
/// Lower bound of the hedge delay, so scheduling jitter on a loaded host
/// does not double the queries to a resolver that answers in microseconds.
pub const MIN_HEDGE: Duration = Duration::from_millis(10);
/// Upper bound of the hedge delay.
pub const MAX_HEDGE: Duration = Duration::from_millis(1000);
/// First down interval; doubles with every further consecutive timeout.
const FIRST_DOWN_MS: u64 = 500;
/// Longest down interval.
const MAX_DOWN_MS: u64 = 300_000;
/// How long a probe lease is held before another caller may probe.
const PROBE_LEASE_MS: u64 = 5_000;

/// The health record of one server.
#[derive(Debug, Default)]
#[repr(C)]
pub struct ServerHealth {
    /// Which server this slot describes (see [`server_key`]); 0 = free.
    key: AtomicU64,
    /// Smoothed RTT in microseconds; 0 = no sample yet.
    srtt_us: AtomicU32,
    /// RTT variance in microseconds.
    rttvar_us: AtomicU32,
    /// Timeouts since the last answer.
    timeouts: AtomicU32,
    /// Timeouts ever recorded (a statistic; wraps).
    timeouts_total: AtomicU32,
    /// Boot-clock ms until which the server counts as down.
    down_until_ms: AtomicU64,
    /// Boot-clock ms until which one caller holds the right to probe.
    probe_until_ms: AtomicU64,
    /// Packets per second sent to the server by every process of the
    /// file: the boot-clock second being counted...
    pps_second: AtomicU32,
    /// ...the packets sent in it so far...
    pps_count: AtomicU32,
    /// ...and in the second before it (0 if none were).
    pps_previous: AtomicU32,
    /// The boot-clock minute whose busiest second is `peak_current`.
    peak_minute: AtomicU32,
    /// The most packets sent in one second of `peak_minute`.
    peak_current: AtomicU32,
    /// The same for the minute before it.
    peak_previous: AtomicU32,
}

/// The VPC resolver answers at most this many packets per second per
/// network interface and drops the rest without a trace in Route 53's
/// query logs.
pub const VPC_RESOLVER_PPS: u32 = 1024;
/// `rustcache stats` warns when a server's busiest recent second came this
/// close to [`VPC_RESOLVER_PPS`] (about 90 %).
pub const PPS_WARNING: u32 = 920;

/// How a server currently ranks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    /// Answered its last query.
    Healthy,
    /// Missed its last query and its down interval has passed: asked after
    /// the healthy servers, and re-probed by one caller at a time.
    Suspect,
    /// Missed its last query less than its down interval ago (0.5 s,
    /// doubling with every consecutive miss up to 300 s): asked last.
    Down,
}

/// A copy of a health record, for display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Smoothed RTT in microseconds (0 = never measured).
    pub srtt_us: u32,
    /// RTT variance in microseconds.
    pub rttvar_us: u32,
    /// Consecutive timeouts.
    pub timeouts: u32,
    /// Timeouts ever recorded for this server in this file.
    pub timeouts_total: u32,
    /// Boot-clock ms until which the server is down.
    pub down_until_ms: u64,
    /// Packets sent to it in the last whole second.
    pub pps_now: u32,
    /// Packets sent to it in the busiest second of the last one to two
    /// minutes.
    pub pps_peak: u32,
}

impl Snapshot {
    /// Whether the busiest recent second nears the VPC resolver's limit.
    pub fn nears_pps_limit(&self) -> bool {
        self.pps_peak >= PPS_WARNING
    }
}

impl ServerHealth {
    /// A copy of the record.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot_at(crate::clock::now_ms())
    }

    /// A copy of the record as of boot-clock time `now_ms`.
    pub fn snapshot_at(&self, now_ms: u64) -> Snapshot {
        let (now, peak) = self.rates(now_ms);
        Snapshot {
            pps_now: now,
            pps_peak: peak,
            srtt_us: self.srtt_us.load(Ordering::Relaxed),
            rttvar_us: self.rttvar_us.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            timeouts_total: self.timeouts_total.load(Ordering::Relaxed),
            down_until_ms: self.down_until_ms.load(Ordering::Relaxed),
        }
    }

    /// The hedge delay for this server: its RTO, clamped; the initial delay
    /// when it was never measured.
    pub fn hedge_delay(&self) -> Duration {
        // SYNC POINT: Relaxed; an estimate, no other memory depends on it.
        let srtt = self.srtt_us.load(Ordering::Relaxed);
        if srtt == 0 {
            return INITIAL_HEDGE;
        }
        let rttvar = self.rttvar_us.load(Ordering::Relaxed);
        let rto = u64::from(srtt) + 4 * u64::from(rttvar);
        Duration::from_micros(rto).clamp(MIN_HEDGE, MAX_HEDGE)
    }

    /// Current state at boot-clock time `now`.
    pub fn state(&self, now: u64) -> State {
        // SYNC POINT: Relaxed; each field is meaningful on its own.
        let timeouts = self.timeouts.load(Ordering::Relaxed);
        let down_until = self.down_until_ms.load(Ordering::Relaxed);
        if timeouts == 0 {
            State::Healthy
        } else if down_until > now {
            State::Down
        } else {
            State::Suspect
        }
    }

    /// A suspect server (down interval passed) may be probed by exactly one
    /// caller at a time; returns true for the caller that won the lease.
    pub fn try_take_probe(&self, now: u64) -> bool {
        if self.state(now) != State::Suspect {
            return false;
        }
        let lease = self.probe_until_ms.load(Ordering::Relaxed);
        if lease > now {
            return false;
        }
        // SYNC POINT: AcqRel on success orders this lease against any other
        // caller's compare_exchange on the same field; only one wins.
        self.probe_until_ms
            .compare_exchange(
                lease,
                now + PROBE_LEASE_MS,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Counts `packets` sent to the server at boot-clock time `now_ms`.
    ///
    /// Lock-free and approximate, like the rest of the record: the process
    /// that moves the count to a new second (one compare-and-swap) keeps
    /// the old second's count as the previous one; a packet counted by a
    /// racing process in the old second at that moment may be lost.
    pub fn record_sent(&self, now_ms: u64, packets: u32) {
        let second = u32::try_from(now_ms / 1000).unwrap_or(u32::MAX);
        // SYNC POINT: Relaxed throughout (see roll_over); counters order nothing.
        roll_over(
            &self.pps_second,
            &self.pps_count,
            &self.pps_previous,
            second,
        );
        roll_over(
            &self.peak_minute,
            &self.peak_current,
            &self.peak_previous,
            second / 60,
        );
        let count = self
            .pps_count
            .fetch_add(packets, Ordering::Relaxed)
            .saturating_add(packets);
        self.peak_current.fetch_max(count, Ordering::Relaxed);
    }

    /// Packets in the last whole second, and in the busiest second of the
    /// current and the previous minute, as of `now_ms`.
    fn rates(&self, now_ms: u64) -> (u32, u32) {
        let second = u32::try_from(now_ms / 1000).unwrap_or(u32::MAX);
        let counted = self.pps_second.load(Ordering::Relaxed);
        let now = if counted == second {
            self.pps_previous.load(Ordering::Relaxed)
        } else if counted.wrapping_add(1) == second {
            self.pps_count.load(Ordering::Relaxed)
        } else {
            0
        };
        let minute = second / 60;
        let peak_minute = self.peak_minute.load(Ordering::Relaxed);
        let current = self.peak_current.load(Ordering::Relaxed);
        let previous = self.peak_previous.load(Ordering::Relaxed);
        let peak = if peak_minute == minute {
            current.max(previous)
        } else if peak_minute.wrapping_add(1) == minute {
            current
        } else {
            0
        };
        (now, peak)
    }

    /// Records an answer that took `rtt`: updates the estimate and clears
    /// any timeout record.
    pub fn record_answer(&self, rtt: Duration) {
        let sample = u32::try_from(rtt.as_micros()).unwrap_or(u32::MAX).max(1);
        let srtt = self.srtt_us.load(Ordering::Relaxed);
        if srtt == 0 {
            self.srtt_us.store(sample, Ordering::Relaxed);
            self.rttvar_us.store(sample / 2, Ordering::Relaxed);
        } else {
            let rttvar = self.rttvar_us.load(Ordering::Relaxed);
            let delta = srtt.abs_diff(sample);
            let rttvar = (u64::from(rttvar) * 3 + u64::from(delta)) / 4;
            let srtt = (u64::from(srtt) * 7 + u64::from(sample)) / 8;
            self.rttvar_us
                .store(u32::try_from(rttvar).unwrap_or(u32::MAX), Ordering::Relaxed);
            self.srtt_us.store(
                u32::try_from(srtt).unwrap_or(u32::MAX).max(1),
                Ordering::Relaxed,
            );
        }
        self.timeouts.store(0, Ordering::Relaxed);
        self.down_until_ms.store(0, Ordering::Relaxed);
    }

    /// Records a query the server let go unanswered past its hedge delay.
    pub fn record_timeout(&self, now: u64) {
        self.timeouts_total.fetch_add(1, Ordering::Relaxed);
        let timeouts = self
            .timeouts
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        let doublings = (timeouts - 1).min(16);
        let interval = (FIRST_DOWN_MS << doublings).min(MAX_DOWN_MS);
        self.down_until_ms.store(now + interval, Ordering::Relaxed);
    }
}

/// A stable 64-bit identity of a server address, never 0: FNV-1a over its
/// family, address bytes, port and (IPv6) scope. It is stored in the shared
/// file, so it must not change within a layout version. (Layout 1 hashed
/// the address's text form, which cost a formatted `String` on every
/// lookup.)
pub fn server_key(addr: &SocketAddr) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &byte in bytes {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    match addr {
        SocketAddr::V4(v4) => {
            eat(&[4]);
            eat(&v4.ip().octets());
        }
        SocketAddr::V6(v6) => {
            eat(&[6]);
            eat(&v6.ip().octets());
            eat(&v6.scope_id().to_be_bytes());
        }
    }
    eat(&addr.port().to_be_bytes());
    hash.max(1)
}

/// A fixed set of health records, found by server address.
#[derive(Clone, Copy)]
pub struct HealthTable<'a> {
    slots: &'a [ServerHealth],
}

impl<'a> HealthTable<'a> {
    /// A table over `slots` (process memory, or later the shared file).
    pub fn new(slots: &'a [ServerHealth]) -> Self {
        HealthTable { slots }
    }

    /// The record of `addr` if it has one; never writes (safe on a
    /// read-only mapping).
    pub fn find(&self, addr: &SocketAddr) -> Option<&'a ServerHealth> {
        let key = server_key(addr);
        let len = self.slots.len();
        let start = (key % len.max(1) as u64) as usize;
        (0..len)
            .filter_map(|i| self.slots.get((start + i) % len))
            .find(|slot| slot.key.load(Ordering::Acquire) == key)
    }

    /// The record of `addr`, claiming a free slot if it has none. `None`
    /// when the table is full: the server is then treated as unknown.
    pub fn get(&self, addr: &SocketAddr) -> Option<&'a ServerHealth> {
        let key = server_key(addr);
        let slots = self.slots;
        let len = slots.len();
        if len == 0 {
            return None;
        }
        let start = (key % len as u64) as usize;
        for i in 0..len {
            let slot = slots.get((start + i) % len)?;
            // SYNC POINT: Acquire pairs with the AcqRel claim below, so a
            // slot seen as ours was fully claimed.
            let current = slot.key.load(Ordering::Acquire);
            if current == key {
                return Some(slot);
            }
            if current == 0 {
                match slot
                    .key
                    .compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => return Some(slot),
                    Err(other) if other == key => return Some(slot),
                    Err(_) => continue,
                }
            }
        }
        None
    }
}

/// Moves a windowed counter to window `now` (a second or a minute) if it
/// is still on an older one: the process whose compare-and-swap wins keeps
/// the old window's `count` as `previous` when that window was the one just
/// before, else zero (nothing was counted in between), and restarts `count`.
fn roll_over(window: &AtomicU32, count: &AtomicU32, previous: &AtomicU32, now: u32) {
    // SYNC POINT: Relaxed throughout; counters order nothing, and the
    // compare-and-swap only picks which process rolls the window over.
    let seen = window.load(Ordering::Relaxed);
    if seen != now
        && window
            .compare_exchange(seen, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        let old = count.swap(0, Ordering::Relaxed);
        let kept = if seen.wrapping_add(1) == now { old } else { 0 };
        previous.store(kept, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hedge_delay_follows_the_measured_rtt() {
        let h = ServerHealth::default();
        assert_eq!(h.hedge_delay(), INITIAL_HEDGE);
        for _ in 0..20 {
            h.record_answer(Duration::from_millis(30));
        }
        let d = h.hedge_delay();
        assert!(
            d >= Duration::from_millis(30) && d < Duration::from_millis(60),
            "{d:?}"
        );
        for _ in 0..50 {
            h.record_answer(Duration::from_micros(80));
        }
        assert_eq!(h.hedge_delay(), MIN_HEDGE);
    }

    #[test]
    fn timeouts_make_a_server_down_then_suspect_with_growing_intervals() {
        let h = ServerHealth::default();
        assert_eq!(h.state(1000), State::Healthy);
        h.record_timeout(1000);
        assert_eq!(h.state(1000), State::Down);
        assert_eq!(h.state(1499), State::Down);
        assert_eq!(h.state(1500), State::Suspect);
        h.record_timeout(2000);
        assert_eq!(h.down_until_ms.load(Ordering::Relaxed), 3000);
        h.record_timeout(3000);
        assert_eq!(h.down_until_ms.load(Ordering::Relaxed), 5000);
        for _ in 0..40 {
            h.record_timeout(10_000);
        }
        assert_eq!(
            h.down_until_ms.load(Ordering::Relaxed),
            10_000 + MAX_DOWN_MS
        );
        h.record_answer(Duration::from_millis(1));
        assert_eq!(h.state(10_000), State::Healthy);
        let snapshot = h.snapshot();
        assert_eq!(
            (snapshot.timeouts, snapshot.timeouts_total),
            (0, 43),
            "in a row, in all"
        );
    }

    #[test]
    fn packets_per_second_now_and_the_peak_of_the_last_minute() {
        let h = ServerHealth::default();
        // 10 packets in second 100, 700 in second 101, 3 in second 102.
        h.record_sent(100_000, 10);
        for ms in 0..350 {
            h.record_sent(101_000 + ms, 2);
        }
        h.record_sent(102_500, 3);
        let s = h.snapshot_at(102_600);
        assert_eq!((s.pps_now, s.pps_peak), (700, 700), "{s:?}");
        assert!(!s.nears_pps_limit());
        let s = h.snapshot_at(103_100);
        assert_eq!(s.pps_now, 3, "the last whole second");
        assert_eq!(h.snapshot_at(104_000).pps_now, 0, "nothing since");
        // Second 101 was in minute 1; still the peak in minute 2, gone in 3.
        h.record_sent(125_000, 1);
        assert_eq!(h.snapshot_at(125_500).pps_peak, 700);
        assert_eq!(h.snapshot_at(181_000).pps_peak, 1, "minute 2's own peak");
        assert_eq!(h.snapshot_at(245_000).pps_peak, 0);
        h.record_sent(300_000, PPS_WARNING);
        assert!(h.snapshot_at(300_100).nears_pps_limit());
    }

    #[test]
    fn only_one_caller_wins_the_probe_lease() {
        let h = ServerHealth::default();
        assert!(!h.try_take_probe(0), "a healthy server needs no probe");
        h.record_timeout(0);
        assert!(!h.try_take_probe(400), "still inside the down interval");
        assert!(h.try_take_probe(600));
        assert!(!h.try_take_probe(700));
        assert!(h.try_take_probe(600 + PROBE_LEASE_MS + 1));
    }

    #[test]
    fn server_keys_tell_family_address_port_and_scope_apart() {
        let keys: Vec<u64> = [
            "127.0.0.1:53",
            "127.0.0.1:5353",
            "127.0.0.2:53",
            "[::1]:53",
            "[::ffff:127.0.0.1]:53",
            "[fe80::1%2]:53",
            "[fe80::1%3]:53",
        ]
        .iter()
        .map(|a| server_key(&a.parse().unwrap()))
        .collect();
        for (i, a) in keys.iter().enumerate() {
            assert_ne!(*a, 0);
            assert!(keys[i + 1..].iter().all(|b| a != b), "{keys:?}");
        }
        assert_eq!(keys[0], server_key(&"127.0.0.1:53".parse().unwrap()));
    }

    #[test]
    fn table_finds_the_same_slot_for_the_same_server() {
        let slots: Vec<ServerHealth> = (0..4).map(|_| ServerHealth::default()).collect();
        let table = HealthTable::new(&slots);
        let a: SocketAddr = "127.0.0.2:53".parse().unwrap();
        let b: SocketAddr = "127.0.0.3:53".parse().unwrap();
        let ha = table.get(&a).unwrap() as *const _;
        let hb = table.get(&b).unwrap() as *const _;
        assert_ne!(ha, hb);
        assert_eq!(table.get(&a).unwrap() as *const _, ha);
    }
}
