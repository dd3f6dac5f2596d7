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
mod route;
mod routing;

pub use cache::CacheSettings;
pub use error::{ConfigError, ConfigErrorKind};
pub use loader::{ConfigCache, Sources};
pub use options::{Options, NO_EFFECT};
pub use overrides::parse_overrides;
pub use resolv::parse_resolv_conf;
pub use route::Route;
pub use routing::{in_domain, LocalAnswer, LocalRule, RebindPolicy, Routing, ServerGroup};

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
    /// Per-domain servers, local answers, rebinding protection
    /// (rustcache.conf's dnsmasq keys).
    pub routing: Routing,
    /// The id base of each server list (see [`Config::route`]), computed
    /// by [`Config::finish`].
    pub route_ids: Vec<u64>,
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
            routing: Routing::default(),
            route_ids: Vec::new(),
            load_id: 0,
        }
    }
}

impl Config {
    /// Computes what is derived from the settings once they are all
    /// read: the route ids (which hash the servers and the TTL policy; the
    /// search list, ndots and timeouts change which names are asked, not
    /// what a name's answer is, so they are left out).
    pub fn finish(&mut self) {
        self.route_ids = self.compute_route_ids();
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
