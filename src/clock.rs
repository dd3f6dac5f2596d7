//! Time as every process of this boot sees it.
//!
//! Health records (and, later, cache expiry) are shared between processes,
//! so they need a clock whose zero is the same for all of them and which
//! does not jump with the wall clock: CLOCK_BOOTTIME.

/// Milliseconds since boot.
pub fn now_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_BOOTTIME exists on
    // every kernel glibc 2.34 supports, and on failure `ts` stays zero.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1000).saturating_add(nanos / 1_000_000)
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
        use std::sync::atomic::Ordering;
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
    pub fn is_due(&self, now: u64) -> bool {
        // SYNC POINT: Relaxed; see claim.
        now >= self.next_ms.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Makes the next call due (tests).
    pub fn reset(&self) {
        self.next_ms.store(0, std::sync::atomic::Ordering::Relaxed);
    }
}
