//! Resolver configuration: where the upstream servers are and how names are
//! searched.
//!
//! Two files feed it, read in this order:
//!
//! * `/etc/resolv.conf`, parsed the way glibc's `res_init` reads it, so that
//!   rustcache asks the same servers with the same search list as the `dns`
//!   module it sits in front of;
//! * `/etc/rustcache.conf`, rustcache's own file, whose keys override what
//!   resolv.conf said.
//!
//! Then the `LOCALDOMAIN` and `RES_OPTIONS` environment variables apply, as
//! they do for glibc, except in AT_SECURE (setuid) processes.
//!
//! A line that cannot be understood is reported (with its file and line
//! number) by [`Sources::load_with_diagnostics`], which `rustcache check`
//! prints, and is otherwise ignored: the module keeps resolving with the
//! values it could read.

mod cache;
mod error;
mod loader;
mod options;
mod overrides;
mod resolv;

pub use cache::CacheSettings;
pub use error::{ConfigError, ConfigErrorKind};
pub use loader::{ConfigCache, Sources};
pub use options::Options;
pub use overrides::parse_overrides;
pub use resolv::parse_resolv_conf;

use std::net::SocketAddr;
use std::time::Duration;

/// glibc reads at most three `nameserver` lines (MAXNS); rustcache's own file
/// may name more, up to this many.
pub const MAX_SERVERS: usize = 8;
/// glibc keeps at most six search domains (MAXDNSRCH).
pub const MAX_SEARCH: usize = 6;
/// glibc caps `ndots` at 15.
pub const MAX_NDOTS: u8 = 15;
/// Upper bound of a whole lookup, whatever the files say (glibc caps
/// `timeout` at 30 s and `attempts` at 5; we cap their product).
pub const MAX_DEADLINE: Duration = Duration::from_secs(30);

/// Everything a lookup needs to know about the upstream side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Upstream servers in file order (port 53 unless rustcache.conf says
    /// otherwise; IPv6 link-local ones carry their scope id).
    pub servers: Vec<SocketAddr>,
    /// Search list, tried in order for names with fewer than `ndots` dots.
    pub search: Vec<String>,
    /// Resolver options (ndots, timeout, attempts, ...).
    pub options: Options,
    /// The shared cache.
    pub cache: CacheSettings,
    /// Change time (ctime, ns since the epoch) of the newest configuration
    /// file this was read from; 0 if none exists. Orders configurations:
    /// only a newer one flushes the cache.
    pub source_mtime_ns: u64,
    /// [`Config::upstream_identity`], computed once when loaded.
    pub upstream_id: u64,
    /// Unique per load in this process (0 for defaults): what a memoised
    /// answer was looked up under.
    pub load_id: u64,
}

impl Default for Config {
    /// glibc's defaults: the loopback nameserver, no search list.
    fn default() -> Self {
        Config {
            servers: vec![SocketAddr::from(([127, 0, 0, 1], 53))],
            search: Vec::new(),
            options: Options::default(),
            cache: CacheSettings::default(),
            source_mtime_ns: 0,
            upstream_id: 0,
            load_id: 0,
        }
    }
}

impl Config {
    /// A hash of what decides the cached entries: the servers that gave
    /// the answers and the TTL policy they were stored under. A process
    /// whose newer configuration hashes differently flushes the cache.
    /// Other settings (search list, ndots, timeouts) change which names
    /// are asked, not what a cached name's answer is, so a resolv.conf
    /// rewritten by a DHCP client with the same servers flushes nothing.
    pub fn upstream_identity(&self) -> u64 {
        let c = &self.cache;
        let policy = format!(
            "{} {} {} {}",
            c.min_ttl, c.max_ttl, c.max_negative_ttl, c.stale_max_age
        );
        let servers = self.servers.iter().map(ToString::to_string);
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for part in servers.chain([policy]) {
            for byte in part.bytes().chain([b' ']) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        hash
    }

    /// The time budget of one lookup: `timeout` x `attempts`, capped.
    pub fn deadline(&self) -> Duration {
        let total = self
            .options
            .timeout
            .saturating_mul(u32::from(self.options.attempts));
        total.min(MAX_DEADLINE)
    }
}
