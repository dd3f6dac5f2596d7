//! How long answers are kept and served: TTL clamping, RFC 2308 negative
//! caching, RFC 8767 serve-stale, and refresh-ahead.

use std::time::Duration;

use crate::config::CacheSettings;

/// TTL of an answer served stale (RFC 8767 section 4 suggests 30 s).
pub const STALE_TTL: u32 = 30;
/// While the upstream fails for a name, it is not asked again for that name
/// more often than this (RFC 8767's "failure recheck timer").
pub const STALE_RETRY_MS: u64 = 30_000;
/// With a stale answer in hand, wait at most this for a fresh one before
/// serving the stale one (RFC 8767's client response timer).
pub const CLIENT_RESPONSE_TIMER: Duration = Duration::from_millis(1800);
/// A caller waiting for another's answer (miss coalescing) looks, from
/// this long on and as often, at what became of the holder of the lease:
/// one killed or stopped (a signal, job control, a debugger) would hold it
/// up until the lease ends, as long as the holder's whole deadline, and
/// then leave it no time to ask. Most answers come well before, so the
/// usual wait makes no such look: a look is a `kill(pid, 0)` and a read of
/// `/proc/PID/stat`, and where a security policy refuses either to a
/// confined process, each is also an audit record.
pub const HOLDER_LOOK_EVERY: Duration = Duration::from_millis(100);
/// An entry hit in the last 1/REFRESH_FRACTION of its TTL is refreshed.
pub const REFRESH_FRACTION: u64 = 10;
/// The caller refreshing a still valid entry waits at most this for the
/// upstream before answering from the cache: a hit must not turn into a
/// wait on a dead server.
pub const REFRESH_WAIT: Duration = Duration::from_millis(100);

/// The stored TTL of a positive answer.
pub fn positive_ttl(settings: &CacheSettings, ttl: u32) -> u32 {
    ttl.clamp(settings.min_ttl, settings.max_ttl.max(settings.min_ttl))
}

/// The stored TTL of a negative answer: RFC 2308's SOA-derived value,
/// capped; without an SOA, `neg-ttl` if set, else `None` (not cached).
pub fn negative_ttl(settings: &CacheSettings, soa_ttl: Option<u32>) -> Option<u32> {
    soa_ttl
        .or(settings.neg_ttl)
        .map(|ttl| ttl.min(settings.max_negative_ttl))
}

/// How long after expiry an answer may still be served stale, in ms.
pub fn stale_limit_ms(settings: &CacheSettings) -> u64 {
    u64::from(settings.stale_max_age) * 1000
}

/// Whether an entry stored at `stored_ms` and expiring at `expires_ms` is
/// in the refresh window at `now`.
pub fn wants_refresh(stored_ms: u64, expires_ms: u64, now: u64) -> bool {
    let lifetime = expires_ms.saturating_sub(stored_ms);
    now < expires_ms && lifetime > 0 && expires_ms - now <= lifetime / REFRESH_FRACTION
}

/// Seconds left until `expires_ms`, rounded up.
pub fn remaining_ttl(expires_ms: u64, now: u64) -> u32 {
    u32::try_from(expires_ms.saturating_sub(now).div_ceil(1000)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_are_clamped() {
        let mut s = CacheSettings::default();
        assert_eq!(positive_ttl(&s, 0), 0, "TTL honoured as given by default");
        assert_eq!(positive_ttl(&s, 1_000_000), 86_400);
        s.min_ttl = 60;
        assert_eq!(positive_ttl(&s, 5), 60);
        assert_eq!(negative_ttl(&s, Some(3600)), Some(900));
        assert_eq!(negative_ttl(&s, Some(30)), Some(30));
        assert_eq!(negative_ttl(&s, None), None);
        s.neg_ttl = Some(120);
        assert_eq!(negative_ttl(&s, None), Some(120));
        assert_eq!(negative_ttl(&s, Some(30)), Some(30), "the SOA's wins");
    }

    #[test]
    fn refresh_window_is_the_last_tenth() {
        assert!(!wants_refresh(0, 100_000, 89_999));
        assert!(wants_refresh(0, 100_000, 90_000));
        assert!(wants_refresh(0, 100_000, 99_999));
        assert!(
            !wants_refresh(0, 100_000, 100_000),
            "expired is not refresh"
        );
        assert_eq!(remaining_ttl(100_000, 98_500), 2);
    }
}
