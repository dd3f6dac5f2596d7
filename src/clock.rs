//! Time as every process of this boot sees it.
//!
//! Health records (and, later, cache expiry) are shared between processes,
//! so they need a clock whose zero is the same for all of them and which
//! does not jump with the wall clock: CLOCK_BOOTTIME.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Milliseconds since boot.
pub fn now_ms() -> u64 {
    ns_to_ms(read_ns(libc::CLOCK_BOOTTIME))
}

/// The boot clock, in ms, for the memo's hit path, which makes no system
/// call and should not pay a precise clock read either: glibc's
/// `clock_gettime(CLOCK_BOOTTIME)` costs about 23 ns through the vDSO (a
/// quarter of a hit), and on a host whose clock source the vDSO cannot
/// read (Xen's) it is a system call. `CLOCK_MONOTONIC_COARSE` is always
/// read from the vDSO page (6 ns here) and advances by the tick (1-4 ms);
/// the boot clock is it plus the time spent suspended, measured by
/// [`calibrate`]. None until that first ran: take the full path.
///
/// The result is never ahead of [`now_ms`] and lags it by at most a tick,
/// and after a resume from suspend (an EC2 hibernation) by the time asleep
/// until the next [`calibrate`]. Only checks that may err on the side of
/// "still fresh" for that long use it: whether a memoised answer is still
/// valid, whether the once-a-second looks at the files are due (so within
/// a second of a resume the full path runs and calibrates again). Nothing
/// that is stored uses it.
#[inline]
pub fn quick_now_ms() -> Option<u64> {
    // SYNC POINT: Relaxed; the offset is one value on its own, and a stale
    // one is the lag described above.
    let offset = BOOT_OFFSET_NS.load(Ordering::Relaxed);
    if offset == UNCALIBRATED {
        return None;
    }
    Some(ns_to_ms(
        read_ns(libc::CLOCK_MONOTONIC_COARSE).saturating_add(offset),
    ))
}

/// Measures the time spent suspended (boot clock minus monotonic clock)
/// for [`quick_now_ms`]. Called at most once a second, with the looks at
/// the cache files.
pub fn calibrate() {
    // The boot clock is read first, so the offset errs low (by the few ns
    // between the reads), never high: the quick clock stays behind.
    let boot = read_ns(libc::CLOCK_BOOTTIME);
    let monotonic = read_ns(libc::CLOCK_MONOTONIC);
    let offset = boot.saturating_sub(monotonic).min(UNCALIBRATED - 1);
    // SYNC POINT: Relaxed; see quick_now_ms.
    BOOT_OFFSET_NS.store(offset, Ordering::Relaxed);
}

/// Boot clock minus monotonic clock, ns; [`UNCALIBRATED`] before the first
/// [`calibrate`].
static BOOT_OFFSET_NS: AtomicU64 = AtomicU64::new(UNCALIBRATED);
const UNCALIBRATED: u64 = u64::MAX;

#[inline]
fn read_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the boot, monotonic and
    // coarse monotonic clocks exist on every kernel glibc 2.34 supports,
    // and on failure `ts` stays zero.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

fn ns_to_ms(ns: u64) -> u64 {
    ns / 1_000_000
}

/// A point on the monotonic clock, for the deadlines and round-trip times
/// of one lookup: what `std::time::Instant` is, without std's clock code in
/// the module. std's `Instant::now` unwraps the clock call's `io::Error`
/// and its arithmetic panics on overflow; the panic messages, their
/// locations and the `io::Error` formatting they pull in were about a
/// third of the RELRO data ld.so relocates at every `dlopen` (see
/// nss-module/build.rs). Here a failed clock read gives 0 and the
/// arithmetic saturates: a deadline past the clock's range is never
/// reached, one before its start has passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant {
    ns: u64,
}

impl Instant {
    /// Now.
    pub fn now() -> Instant {
        Instant {
            ns: read_ns(libc::CLOCK_MONOTONIC),
        }
    }

    /// The time from `earlier` to this instant, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.ns.saturating_sub(earlier.ns))
    }

    /// The time since this instant.
    pub fn elapsed(self) -> Duration {
        Instant::now().saturating_duration_since(self)
    }
}

impl std::ops::Add<Duration> for Instant {
    type Output = Instant;

    fn add(self, span: Duration) -> Instant {
        let span = u64::try_from(span.as_nanos()).unwrap_or(u64::MAX);
        Instant {
            ns: self.ns.saturating_add(span),
        }
    }
}

/// The wall clock (CLOCK_REALTIME), ns since the epoch, as file times are
/// given (0 for a clock set before it).
pub fn wall_ns() -> i128 {
    i128::from(read_ns(libc::CLOCK_REALTIME))
}

/// "At most once a second": a boot-clock deadline that one caller at a
/// time moves forward. Used for the looks at the configuration files and
/// at the cache file paths, so a cache hit makes no system call.
#[derive(Debug, Default)]
pub struct Every {
    next_ms: std::sync::atomic::AtomicU64,
}

impl Every {
    /// How often.
    pub const INTERVAL_MS: u64 = 1000;

    /// Due at once.
    pub const fn new() -> Every {
        Every {
            next_ms: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Whether it is time, for exactly one caller per interval (that caller
    /// gets true and moves the deadline).
    pub fn claim(&self, now: u64) -> bool {
        // SYNC POINT: Relaxed; the CAS elects one caller per interval, and
        // a stale view only delays the next look.
        let next = self.next_ms.load(Ordering::Relaxed);
        now >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now + Self::INTERVAL_MS,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    /// Whether a look is due (without claiming it).
    #[inline]
    pub fn is_due(&self, now: u64) -> bool {
        // SYNC POINT: Relaxed; see claim.
        now >= self.next_ms.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Makes the next call due (tests).
    pub fn reset(&self) {
        self.next_ms.store(0, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_follow_the_monotonic_clock_and_saturate() {
        let start = Instant::now();
        let std_start = std::time::Instant::now();
        std::thread::sleep(Duration::from_millis(20));
        let ours = start.elapsed();
        let theirs = std_start.elapsed();
        assert!(ours >= Duration::from_millis(20), "{ours:?}");
        // Read a few µs apart, in either order.
        let apart = ours.abs_diff(theirs);
        assert!(
            apart < Duration::from_millis(5),
            "{ours:?} against {theirs:?}"
        );
        let later = start + Duration::from_millis(5);
        assert!(later > start && later < Instant::now());
        assert_eq!(
            later.saturating_duration_since(start),
            Duration::from_millis(5)
        );
        assert_eq!(start.saturating_duration_since(later), Duration::ZERO);
        // Far past the clock's range (584 years of ns): the end of the
        // range, never reached, and no panic.
        let never = start + Duration::MAX;
        assert_eq!(never, start + Duration::from_secs(1 << 40));
        assert!(never > Instant::now() + Duration::from_secs(100 * 365 * 86_400));
    }

    #[test]
    fn the_wall_clock_is_systemtime() {
        let ours = wall_ns();
        let theirs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i128;
        assert!(
            (theirs - ours).abs() < 1_000_000_000,
            "{ours} against {theirs}"
        );
    }

    #[test]
    fn the_quick_clock_follows_the_boot_clock_behind_it_by_at_most_a_tick() {
        calibrate();
        for _ in 0..1000 {
            let quick = quick_now_ms().unwrap();
            let precise = now_ms();
            assert!(quick <= precise, "quick {quick} ahead of {precise}");
            // A tick is 1-4 ms (CONFIG_HZ); 10 ms leaves room for a
            // preemption between the two reads.
            assert!(precise - quick <= 10, "quick {quick} lags {precise}");
        }
    }
}
