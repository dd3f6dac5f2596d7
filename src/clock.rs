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
