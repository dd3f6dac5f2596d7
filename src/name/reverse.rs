//! Reverse-lookup names: `in-addr.arpa` for IPv4, nibbles under `ip6.arpa`
//! for IPv6.

use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The PTR query name of an address.
pub fn reverse_name(addr: IpAddr) -> String {
    let mut out = String::with_capacity(73);
    match addr {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            let _ = write!(out, "{d}.{c}.{b}.{a}.in-addr.arpa");
        }
        IpAddr::V6(v6) => {
            for byte in v6.octets().iter().rev() {
                let _ = write!(out, "{:x}.{:x}.", byte & 0xf, byte >> 4);
            }
            out.push_str("ip6.arpa");
        }
    }
    out
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`) or
/// IPv4-compatible (`::a.b.c.d`, but not `::` or `::1`) address: glibc's
/// `dns` module looks such addresses up under in-addr.arpa and answers
/// with an IPv4 host entry, and so do we.
pub fn unmap_v4(addr: &Ipv6Addr) -> Option<Ipv4Addr> {
    let o = addr.octets();
    let (prefix, tail) = o.split_at(12);
    let v4 = Ipv4Addr::new(tail[0], tail[1], tail[2], tail[3]);
    let mapped = prefix[..10].iter().all(|&b| b == 0) && prefix[10] == 0xff && prefix[11] == 0xff;
    let compatible = prefix.iter().all(|&b| b == 0) && u32::from(v4) > 1;
    (mapped || compatible).then_some(v4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_reverse_name() {
        assert_eq!(
            reverse_name("192.0.2.10".parse().unwrap()),
            "10.2.0.192.in-addr.arpa"
        );
    }

    #[test]
    fn ipv6_reverse_name_is_nibbles() {
        assert_eq!(
            reverse_name("2001:db8::567:89ab".parse().unwrap()),
            "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
    }

    #[test]
    fn mapped_addresses_unmap_but_loopback_does_not() {
        assert_eq!(
            unmap_v4(&"::ffff:192.0.2.1".parse().unwrap()),
            Some(Ipv4Addr::new(192, 0, 2, 1))
        );
        assert_eq!(
            unmap_v4(&"::192.0.2.1".parse().unwrap()),
            Some(Ipv4Addr::new(192, 0, 2, 1))
        );
        assert_eq!(unmap_v4(&"::1".parse().unwrap()), None);
        assert_eq!(unmap_v4(&"2001:db8::1".parse().unwrap()), None);
    }
}
