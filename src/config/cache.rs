//! The cache's settings, from rustcache.conf.

use std::path::PathBuf;

/// How the shared cache behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheSettings {
    /// `cache no` turns the shared cache off (every lookup goes upstream).
    pub enabled: bool,
    /// Directory of the per-user cache files (`cache-dir`).
    pub dir: PathBuf,
    /// Size of root's cache file when created, in bytes (`cache-size`, in
    /// MiB). Root's file is the one every user reads.
    pub size_bytes: u64,
    /// Size of another user's cache file when created (`user-cache-size`,
    /// MiB): every user id that resolves a name gets a file in RAM-backed
    /// /run, so service accounts get a smaller one.
    pub user_size_bytes: u64,
    /// Positive TTLs are raised to at least this (`min-ttl`, seconds).
    pub min_ttl: u32,
    /// Positive TTLs are cut to at most this (`max-ttl`, seconds).
    pub max_ttl: u32,
    /// Negative answers are kept at most this long (`max-negative-ttl`).
    pub max_negative_ttl: u32,
    /// `neg-ttl`: how long a negative answer without an SOA record is
    /// kept (still capped by `max_negative_ttl`); `None`: not cached.
    pub neg_ttl: Option<u32>,
    /// Expired answers are served, when every upstream fails, up to this
    /// long after expiry (`stale-max-age`, seconds; 0 turns serve-stale off).
    pub stale_max_age: u32,
}

impl CacheSettings {
    /// Size of a new cache file for `uid`.
    pub fn size_for(&self, uid: u32) -> u64 {
        if uid == 0 {
            self.size_bytes
        } else {
            self.user_size_bytes
        }
    }
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            enabled: true,
            dir: PathBuf::from("/run/rustcache"),
            // 32 760 slots of 512 bytes: 8000 dual-stack names (two
            // entries each) at half load.
            size_bytes: 16 << 20,
            // 8184 slots: 2000 dual-stack names at half load.
            user_size_bytes: 4 << 20,
            // The TTL is honoured as given by default.
            min_ttl: 0,
            max_ttl: 86_400,
            // RFC 2308 section 5 suggests one to three hours at most; a
            // quarter of an hour keeps a name that is being created from
            // staying "not found" for long.
            max_negative_ttl: 900,
            // RFC 2308: without an SOA there is no TTL to use.
            neg_ttl: None,
            // RFC 8767's suggested limit: one to three days.
            stale_max_age: 86_400,
        }
    }
}
