//! The fixed keys, entries, questions and servers the targets use.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use rustcache::cache::{Entry, Key, Kind};
use rustcache::upstream::QType;

/// Boot-clock "now" of the cache targets (ms).
pub const NOW: u64 = 10_000_000;

/// The cache keys looked up: each record type, upper and lower case, one
/// and many 8-byte words.
pub const KEYS: [(&str, QType); 6] = [
    ("a.example", QType::A),
    ("www.example.com", QType::Aaaa),
    ("1.2.0.192.in-addr.arpa", QType::Ptr),
    ("Mixed-Case_9.Example", QType::A),
    ("x", QType::Aaaa),
    (
        "a-rather-long-label-to-cross-several-words.sub.example.org",
        QType::A,
    ),
];

/// Key `i` (modulo the number of keys).
pub fn key(i: usize) -> Key<'static> {
    let (name, qtype) = KEYS[i % KEYS.len()];
    Key::new(name, qtype)
}

/// Entries for the keys (by index into [`KEYS`]), two versions of key 0.
/// Each is in the form rustcache decodes it back to, so a read compares
/// equal to what was stored.
pub fn sample_entries() -> Vec<(usize, Entry)> {
    let entry = |kind, ttl: u32, canonical: &str, aliases: &[&str]| Entry {
        kind,
        ttl,
        stored_ms: NOW - 1000,
        expires_ms: NOW - 1000 + u64::from(ttl) * 1000,
        retry_after_ms: 0,
        canonical: canonical.to_owned(),
        aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
        v4: Vec::new(),
        v6: Vec::new(),
    };
    let mut a1 = entry(Kind::Positive, 300, "host.example", &["a.example"]);
    a1.v4 = vec![Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2)];
    let mut a2 = entry(Kind::Positive, 60, "a.example", &[]);
    a2.v4 = vec![Ipv4Addr::new(198, 51, 100, 7)];
    let mut aaaa = entry(
        Kind::Positive,
        3600,
        "Web.Example.COM",
        &["www.example.com", "cdn.example.net"],
    );
    aaaa.v6 = (0..20u16)
        .map(|i| Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i))
        .collect();
    let ptr = entry(Kind::Positive, 86400, "host.example.org", &[]);
    let nx = entry(Kind::NxDomain, 900, "", &[]);
    let nodata = entry(Kind::NoData, 30, "", &[]);
    let mut long = entry(
        Kind::Positive,
        5,
        "a-rather-long-label-to-cross-several-words.sub.example.org",
        &["w.example.org", "_srv._tcp.example.org"],
    );
    long.v4 = vec![Ipv4Addr::new(203, 0, 113, 9)];
    vec![
        (0, a1),
        (0, a2),
        (1, aaaa),
        (2, ptr),
        (3, nx),
        (4, nodata),
        (5, long),
    ]
}

/// The upstream servers whose health records are looked up.
pub fn servers() -> [SocketAddr; 3] {
    [
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 53),
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 53)), 5353),
        SocketAddr::new(
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x53)),
            53,
        ),
    ]
}

/// Fixed questions of the reply target: each record type, upper and lower
/// case, a service name, both reverse trees.
pub const QUESTIONS: [(&str, QType); 8] = [
    ("a.example", QType::A),
    ("a.example", QType::Aaaa),
    ("WWW.Example.COM", QType::A),
    ("www.example.com", QType::Aaaa),
    ("1.2.0.192.in-addr.arpa", QType::Ptr),
    ("x", QType::A),
    ("_srv._tcp.example", QType::Aaaa),
    (
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
        QType::Ptr,
    ),
];

/// Record types by index, for inputs that choose one.
pub const QTYPES: [QType; 3] = [QType::A, QType::Aaaa, QType::Ptr];
