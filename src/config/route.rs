//! The route of one question name: which servers are asked, what is done
//! with their answers, and the scope its cache entries are kept under.
//!
//! A route is resolved once per question name (a search-list candidate,
//! or the reverse name of an address), by the longest `server=` domain
//! and the longest `address=` domain holding the name. Its `id` hashes
//! everything that decides what the answer of a name is: the servers
//! asked, the TTL policy, and whether rebinding protection filtered the
//! answer. Cache keys carry it, so two configurations on one host (a
//! `RUSTCACHE_CONF` naming another server, `ip netns exec` with its own
//! resolv.conf) never see each other's entries and never need to flush
//! each other, while processes of the same configuration share all.

use std::net::SocketAddr;

use super::routing::{in_domain, LocalAnswer, RebindPolicy};
use super::Config;

/// Where and how one name is resolved.
#[derive(Clone, Copy, Debug)]
pub struct Route<'c> {
    /// The servers asked, hedged among themselves.
    pub servers: &'c [SocketAddr],
    /// Whether a `server=` line names the name's domain (with servers of
    /// its own, or `#` for the default ones): `bogus-priv` then lets its
    /// reverse lookups go upstream.
    pub routed: bool,
    /// The `server=` domain that chose the servers (for `rustcache query`
    /// to say which route answered), `None` for the default servers.
    pub domain: Option<&'c str>,
    /// The rebinding policy applied to upstream answers, if any.
    pub rebind: Option<&'c RebindPolicy>,
    /// The local answer (`address=`), given without a query.
    pub local: Option<&'c LocalAnswer>,
    /// The scope of the name's cache entries.
    pub id: u64,
}

impl Config {
    /// The route of `name` (no trailing dot, any case).
    pub fn route(&self, name: &str) -> Route<'_> {
        let routing = &self.routing;
        let group = routing
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| in_domain(name, &g.domain))
            .max_by_key(|(_, g)| g.domain.len());
        let routed = group.is_some();
        let domain = group.map(|(_, g)| g.domain.as_str());
        let (servers, base) = match group {
            Some((i, g)) if !g.default => (
                &g.servers[..],
                self.route_ids.get(i + 1).copied().unwrap_or(0),
            ),
            _ => (
                &self.servers[..],
                self.route_ids.first().copied().unwrap_or(0),
            ),
        };
        let local = routing
            .local
            .iter()
            .filter(|r| in_domain(name, &r.domain))
            .max_by_key(|r| r.domain.len())
            .map(|r| &r.answer);
        let policy = &routing.rebind;
        let rebind =
            (policy.stop && !policy.exempt.iter().any(|d| in_domain(name, d))).then_some(policy);
        let flags = match rebind {
            None => REBIND_OFF,
            Some(p) if p.localhost_ok => REBIND_LOCALHOST_OK,
            Some(_) => REBIND_STOP,
        };
        Route {
            servers,
            routed,
            domain,
            rebind,
            local,
            id: mix(base, flags),
        }
    }

    /// The id base of each server list a route may use: the default
    /// servers first, then each `server=` group in order. Computed once
    /// when the configuration is loaded.
    pub(crate) fn compute_route_ids(&self) -> Vec<u64> {
        let c = &self.cache;
        let policy = [
            c.min_ttl,
            c.max_ttl,
            c.max_negative_ttl,
            c.stale_max_age,
            c.neg_ttl.map_or(u32::MAX, |t| t),
        ];
        let of = |servers: &[SocketAddr]| {
            let mut hash = fnv(0xcbf2_9ce4_8422_2325, b"route");
            for value in policy {
                hash = fnv(hash, &value.to_le_bytes());
            }
            for server in servers {
                hash = fnv_server(hash, server);
            }
            hash
        };
        let mut ids = vec![of(&self.servers)];
        ids.extend(self.routing.groups.iter().map(|g| of(&g.servers)));
        ids
    }
}

/// Hashes what tells one server from another (family, address, port, and
/// an IPv6 scope), in binary: formatting the address as text cost a
/// fresh process's first lookup more than the rest of the hashing.
fn fnv_server(hash: u64, server: &SocketAddr) -> u64 {
    let hash = match server {
        SocketAddr::V4(a) => fnv(fnv(hash, &[4]), &a.ip().octets()),
        SocketAddr::V6(a) => {
            let hash = fnv(fnv(hash, &[6]), &a.ip().octets());
            fnv(hash, &a.scope_id().to_le_bytes())
        }
    };
    fnv(hash, &server.port().to_le_bytes())
}

fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The id of a route: its servers' and policy's hash with the rebinding
/// flags mixed in; never 0.
/// The rebinding policy a route's id is mixed with: the same servers
/// under another policy cache other answers.
const REBIND_OFF: u64 = 0;
const REBIND_STOP: u64 = 1;
const REBIND_LOCALHOST_OK: u64 = 2;

impl Config {
    /// Every cache scope a name of this configuration can be stored under
    /// (each route with each rebinding policy), for the tool's `dump`, which
    /// meets entries without knowing their names beforehand.
    pub fn scopes(&self) -> Vec<u64> {
        let policies = [REBIND_OFF, REBIND_STOP, REBIND_LOCALHOST_OK];
        self.route_ids
            .iter()
            .flat_map(|&base| policies.map(|flags| mix(base, flags)))
            .collect()
    }
}

fn mix(base: u64, flags: u64) -> u64 {
    let h = (base ^ flags.wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    (h ^ (h >> 33)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_overrides;
    use std::path::Path;

    fn config(text: &str) -> Config {
        let (o, errors) = parse_overrides(text, Path::new("rc"));
        assert!(errors.is_empty(), "{errors:?}");
        let mut c = Config::default();
        o.apply(&mut c);
        c.finish();
        c
    }

    #[test]
    fn the_longest_domain_wins_and_hash_means_the_default_servers() {
        let c = config(
            "nameserver 127.0.0.2\nserver=/corp.example/127.0.0.5\n\
             server=/lab.corp.example/127.0.0.6\nserver=/pub.corp.example/#\n",
        );
        let at = |n: &str| c.route(n).servers[0].to_string();
        assert_eq!(at("www.example.com"), "127.0.0.2:53");
        assert_eq!(at("db.corp.example"), "127.0.0.5:53");
        assert_eq!(at("corp.example"), "127.0.0.5:53");
        assert_eq!(at("x.LAB.corp.example"), "127.0.0.6:53");
        assert_eq!(at("www.pub.corp.example"), "127.0.0.2:53");
        assert!(c.route("www.pub.corp.example").routed, "named, by #");
        assert!(c.route("db.corp.example").routed);
        assert!(!c.route("www.example.com").routed);
        assert_eq!(c.route("a.example").id, c.route("www.pub.corp.example").id);
        assert_ne!(c.route("a.example").id, c.route("db.corp.example").id);
    }

    #[test]
    fn ids_follow_servers_policy_and_rebinding_only() {
        let a = config("nameserver 127.0.0.2\n");
        let same = config("nameserver 127.0.0.2\nsearch x.example\nndots 3\n");
        let other = config("nameserver 127.0.0.3\n");
        let port = config("nameserver 127.0.0.2:5353\n");
        let v6 = config("nameserver ::ffff:127.0.0.2\n");
        let scoped = config("nameserver fe80::1%1\n");
        let scoped2 = config("nameserver fe80::1%2\n");
        let two = config("nameserver 127.0.0.2\nnameserver 127.0.0.3\n");
        let swapped = config("nameserver 127.0.0.3\nnameserver 127.0.0.2\n");
        let ttl = config("nameserver 127.0.0.2\nmax-ttl 60\n");
        let rebind = config("nameserver 127.0.0.2\nstop-dns-rebind\n");
        let exempt =
            config("nameserver 127.0.0.2\nstop-dns-rebind\nrebind-domain-ok=/ok.example/\n");
        let id = |c: &Config, n: &str| c.route(n).id;
        assert_eq!(id(&a, "w.example"), id(&same, "w.example"));
        assert_ne!(id(&a, "w.example"), id(&other, "w.example"));
        for c in [&port, &v6, &scoped, &two] {
            assert_ne!(id(&a, "w.example"), id(c, "w.example"), "{:?}", c.servers);
        }
        assert_ne!(id(&scoped, "w.example"), id(&scoped2, "w.example"));
        assert_ne!(id(&two, "w.example"), id(&swapped, "w.example"));
        assert_ne!(id(&a, "w.example"), id(&ttl, "w.example"));
        assert_ne!(id(&a, "w.example"), id(&rebind, "w.example"));
        assert_eq!(id(&a, "x.ok.example"), id(&exempt, "x.ok.example"));
        assert!(exempt.route("x.ok.example").rebind.is_none());
        assert!(exempt.route("w.example").rebind.is_some());
    }

    #[test]
    fn local_answers_match_the_domain_and_below() {
        let c = config("address=/lan.example/192.168.1.1\naddress=/ads.lan.example/\n");
        assert!(matches!(
            c.route("host.lan.example").local,
            Some(LocalAnswer::Addrs { .. })
        ));
        assert_eq!(
            c.route("x.ads.lan.example").local,
            Some(&LocalAnswer::NxDomain)
        );
        assert!(c.route("example.com").local.is_none());
    }
}
