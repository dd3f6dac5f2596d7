//! Rebinding protection (`stop-dns-rebind`) and `bogus-priv`: which
//! addresses an upstream answer may not hold, and which reverse lookups
//! are not sent.
//!
//! A DNS rebinding attack gives a public name a private address, so a
//! browser's same-origin rules let a web page talk to the local network.
//! Refusing such answers is the whole defence; it is off by default
//! because on AWS many legitimate public names (RDS endpoints, interface
//! VPC endpoints, `*.ec2.internal`) resolve to private addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::RebindPolicy;
use crate::upstream::Chain;

/// Private ranges: RFC 1918, shared address space (100.64/10),
/// link-local (169.254/16); unique local (fc00::/7) and link-local
/// (fe80::/10) IPv6.
pub fn is_private(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => is_private_v4(a),
        IpAddr::V6(a) => is_private_v6(&a),
    }
}

fn is_private_v4(a: Ipv4Addr) -> bool {
    let [b0, b1, ..] = a.octets();
    b0 == 10
        || (b0 == 172 && (16..32).contains(&b1))
        || (b0 == 192 && b1 == 168)
        || (b0 == 100 && (64..128).contains(&b1))
        || (b0 == 169 && b1 == 254)
}

fn is_private_v6(a: &Ipv6Addr) -> bool {
    let first = a.segments()[0];
    (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
}

/// Whether `policy` refuses an answer holding `addr`.
pub fn refuses(policy: &RebindPolicy, addr: IpAddr) -> bool {
    let loopback = match addr {
        IpAddr::V4(a) => a.is_loopback(),
        IpAddr::V6(a) => a.is_loopback(),
    };
    if loopback {
        return !policy.localhost_ok;
    }
    addr.is_unspecified() || is_private(addr)
}

/// The first address of `chain` that `policy` refuses, if any: one refuses
/// the whole answer, as in dnsmasq. It is returned, not only found, so that
/// `rustcache query` can say which address it was.
pub fn refused_address(policy: &RebindPolicy, chain: &Chain) -> Option<IpAddr> {
    let v4 = chain.v4.iter().map(|&a| IpAddr::V4(a));
    let v6 = chain.v6.iter().map(|&a| IpAddr::V6(a));
    v4.chain(v6).find(|&a| refuses(policy, a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_and_unspecified_addresses_are_refused() {
        let strict = RebindPolicy {
            stop: true,
            ..RebindPolicy::default()
        };
        let local_ok = RebindPolicy {
            localhost_ok: true,
            ..strict.clone()
        };
        for refused in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.169.254",
            "0.0.0.0",
            "127.0.0.1",
            "fd00::1",
            "fc00::1",
            "fe80::1",
            "::",
            "::1",
        ] {
            assert!(refuses(&strict, refused.parse().unwrap()), "{refused}");
        }
        for allowed in [
            "172.32.0.1",
            "100.128.0.1",
            "8.8.8.8",
            "192.0.2.1",
            "2001:db8::1",
        ] {
            assert!(!refuses(&strict, allowed.parse().unwrap()), "{allowed}");
        }
        assert!(!refuses(&local_ok, "127.0.0.53".parse().unwrap()));
        assert!(!refuses(&local_ok, "::1".parse().unwrap()));
        assert!(refuses(&local_ok, "10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn the_first_refused_address_of_an_answer_is_named() {
        let strict = RebindPolicy {
            stop: true,
            ..RebindPolicy::default()
        };
        let chain = |v4: &[&str], v6: &[&str]| Chain {
            v4: v4.iter().map(|a| a.parse().unwrap()).collect(),
            v6: v6.iter().map(|a| a.parse().unwrap()).collect(),
            ..Chain::default()
        };
        let public = chain(&["192.0.2.1", "198.51.100.7"], &["2001:db8::1"]);
        assert_eq!(refused_address(&strict, &public), None);
        let mixed = chain(&["192.0.2.1", "10.0.0.5", "172.16.0.1"], &[]);
        assert_eq!(
            refused_address(&strict, &mixed),
            Some("10.0.0.5".parse().unwrap())
        );
        let v6_only = chain(&[], &["2001:db8::1", "fd00::7"]);
        assert_eq!(
            refused_address(&strict, &v6_only),
            Some("fd00::7".parse().unwrap())
        );
    }
}
