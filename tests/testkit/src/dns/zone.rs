//! The data a [`ScriptedServer`](super::ScriptedServer) serves, and how it answers a
//! question from it the way a recursive resolver would.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, PTR, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// Longest CNAME chain followed before the server gives up with SERVFAIL (a loop).
const MAX_CHAIN: usize = 16;

/// A set of records, built with chained calls.
///
/// Names are given in presentation form, with or without the trailing dot, and compared
/// case-insensitively. Records of one owner and type are returned in the order they were
/// added.
///
/// ```
/// use rustcache_testkit::dns::Zone;
/// let zone = Zone::new()
///     .soa("example.com", 60)
///     .a("www.example.com", 300, "192.0.2.1".parse().unwrap())
///     .cname("alias.example.com", 300, "www.example.com");
/// assert_eq!(zone.len(), 3);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Zone {
    records: Vec<ZoneRecord>,
}

#[derive(Clone, Debug)]
struct ZoneRecord {
    /// Lower-case owner without the trailing dot: what lookups compare.
    key: String,
    /// The owner as spelled by the test.
    owner: Name,
    ttl: u32,
    rdata: RData,
}

/// What the zone says about one question: the sections of the reply.
#[derive(Clone, Debug)]
pub struct Resolution {
    /// NOERROR, NXDOMAIN, or SERVFAIL for a CNAME loop.
    pub rcode: ResponseCode,
    /// CNAMEs followed, then the records of the asked type.
    pub answers: Vec<Record>,
    /// The SOA of the enclosing apex for NXDOMAIN and NODATA.
    pub authorities: Vec<Record>,
}

impl Zone {
    /// An empty zone: every name is NXDOMAIN (without SOA until one is added).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an A record.
    pub fn a(self, name: &str, ttl: u32, addr: Ipv4Addr) -> Self {
        self.record(name, ttl, RData::A(A(addr)))
    }

    /// Adds an AAAA record.
    pub fn aaaa(self, name: &str, ttl: u32, addr: Ipv6Addr) -> Self {
        self.record(name, ttl, RData::AAAA(AAAA(addr)))
    }

    /// Adds an A or AAAA record, depending on the address.
    pub fn addr(self, name: &str, ttl: u32, addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(v4) => self.a(name, ttl, v4),
            IpAddr::V6(v6) => self.aaaa(name, ttl, v6),
        }
    }

    /// Adds a CNAME record `name` -> `target`.
    pub fn cname(self, name: &str, ttl: u32, target: &str) -> Self {
        let target = parse_name(target);
        self.record(name, ttl, RData::CNAME(CNAME(target)))
    }

    /// Adds a PTR record at `name` (an in-addr.arpa or ip6.arpa name) pointing to `target`.
    pub fn ptr(self, name: &str, ttl: u32, target: &str) -> Self {
        let target = parse_name(target);
        self.record(name, ttl, RData::PTR(PTR(target)))
    }

    /// Adds a PTR record for `addr` (the reverse name is computed) pointing to `target`.
    pub fn ptr_for(self, addr: IpAddr, ttl: u32, target: &str) -> Self {
        self.ptr(&reverse_name(addr), ttl, target)
    }

    /// Makes `apex` the apex of a zone: adds its SOA record, whose TTL and MINIMUM are
    /// both `minimum_ttl` (so a negative answer's TTL is `minimum_ttl`, RFC 2308).
    pub fn soa(self, apex: &str, minimum_ttl: u32) -> Self {
        let mname = parse_name(&format!("ns.{}", trim_dot(apex)));
        let rname = parse_name(&format!("hostmaster.{}", trim_dot(apex)));
        let soa = SOA::new(mname, rname, 1, 3600, 600, 86400, minimum_ttl);
        self.record(apex, minimum_ttl, RData::SOA(soa))
    }

    /// Adds any record (escape hatch for types without a helper).
    pub fn record(mut self, name: &str, ttl: u32, rdata: RData) -> Self {
        let owner = parse_name(name);
        self.records.push(ZoneRecord {
            key: key_of_str(name),
            owner,
            ttl,
            rdata,
        });
        self
    }

    /// Removes every record owned by `name` (all types).
    pub fn remove(mut self, name: &str) -> Self {
        let key = key_of_str(name);
        self.records.retain(|r| r.key != key);
        self
    }

    /// Number of records, SOAs included.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when the zone holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Answers `qtype` for `qname` as a recursive resolver would.
    ///
    /// The first answer record is owned by `qname` exactly as given (case kept); CNAME
    /// chains are followed inside the zone and each later record is owned by the CNAME
    /// target as spelled in the zone. A name that owns no record and has no descendant
    /// is NXDOMAIN; a name that exists without records of the type is NODATA. Both carry
    /// the SOA of the closest enclosing apex in the authority section, if there is one.
    pub fn resolve(&self, qname: &Name, qtype: RecordType) -> Resolution {
        let mut answers = Vec::new();
        let mut current = qname.clone();
        for _ in 0..MAX_CHAIN {
            let key = key_of_name(&current);
            let here: Vec<&ZoneRecord> = self.records.iter().filter(|r| r.key == key).collect();
            let matching: Vec<&ZoneRecord> = here
                .iter()
                .copied()
                .filter(|r| r.rdata.record_type() == qtype)
                .collect();
            if !matching.is_empty() {
                for r in matching {
                    answers.push(Record::from_rdata(current.clone(), r.ttl, r.rdata.clone()));
                }
                return Resolution {
                    rcode: ResponseCode::NoError,
                    answers,
                    authorities: Vec::new(),
                };
            }
            let cname = here.iter().find_map(|r| match &r.rdata {
                RData::CNAME(target) => Some((r.ttl, target.0.clone())),
                _ => None,
            });
            if let Some((ttl, target)) = cname {
                answers.push(Record::from_rdata(
                    current.clone(),
                    ttl,
                    RData::CNAME(CNAME(target.clone())),
                ));
                current = target;
                continue;
            }
            let rcode = if self.exists(&key) {
                ResponseCode::NoError
            } else {
                ResponseCode::NXDomain
            };
            return Resolution {
                rcode,
                answers,
                authorities: self.soa_for(&key).into_iter().collect(),
            };
        }
        Resolution {
            rcode: ResponseCode::ServFail,
            answers: Vec::new(),
            authorities: Vec::new(),
        }
    }

    /// A name exists when it owns a record or is an ancestor of an owner (an empty
    /// non-terminal, RFC 8020).
    fn exists(&self, key: &str) -> bool {
        self.records
            .iter()
            .any(|r| r.key == key || is_strict_subdomain(&r.key, key))
    }

    /// The SOA record of the closest apex enclosing `key`, owned by the apex.
    fn soa_for(&self, key: &str) -> Option<Record> {
        self.records
            .iter()
            .filter(|r| matches!(r.rdata, RData::SOA(_)))
            .filter(|r| r.key == key || is_strict_subdomain(key, &r.key))
            .max_by_key(|r| r.key.len())
            .map(|r| Record::from_rdata(r.owner.clone(), r.ttl, r.rdata.clone()))
    }
}

/// The reverse-lookup name of an address: `4.3.2.1.in-addr.arpa` or the 32-nibble
/// `ip6.arpa` name.
pub fn reverse_name(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::with_capacity(72);
            for byte in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            s.push_str("ip6.arpa");
            s
        }
    }
}

/// Parses a presentation-form name, making it fully qualified.
///
/// Panics on a malformed name: zones are written by tests.
pub(crate) fn parse_name(name: &str) -> Name {
    let mut parsed = Name::from_ascii(name)
        .unwrap_or_else(|e| panic!("invalid DNS name {name:?} in a test zone: {e}"));
    parsed.set_fqdn(true);
    parsed
}

/// The comparison key of a wire name: lower case, no trailing dot (the root is "").
pub(crate) fn key_of_name(name: &Name) -> String {
    trim_dot(&name.to_lowercase().to_ascii()).to_string()
}

/// The comparison key of a presentation-form name.
pub(crate) fn key_of_str(name: &str) -> String {
    key_of_name(&parse_name(name))
}

fn trim_dot(name: &str) -> &str {
    name.strip_suffix('.').unwrap_or(name)
}

/// True when `child` is below `parent` (both keys), not equal to it.
fn is_strict_subdomain(child: &str, parent: &str) -> bool {
    if parent.is_empty() {
        return !child.is_empty();
    }
    child.len() > parent.len() + 1
        && child.ends_with(parent)
        && child.as_bytes()[child.len() - parent.len() - 1] == b'.'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn zone() -> Zone {
        Zone::new()
            .soa("example.com", 60)
            .soa("sub.example.com", 30)
            .a("www.example.com", 300, Ipv4Addr::new(192, 0, 2, 1))
            .a("www.example.com", 300, Ipv4Addr::new(192, 0, 2, 2))
            .cname("alias.example.com", 100, "Mid.Example.com")
            .cname("mid.example.com", 200, "www.example.com")
            .a("deep.leaf.sub.example.com", 5, Ipv4Addr::new(192, 0, 2, 3))
            .cname("loop1.example.com", 5, "loop2.example.com")
            .cname("loop2.example.com", 5, "loop1.example.com")
            .cname("dangling.example.com", 5, "gone.example.com")
    }

    #[test]
    fn chain_keeps_question_spelling_then_zone_spelling() {
        let r = zone().resolve(&name("ALIAS.example.COM."), RecordType::A);
        assert_eq!(r.rcode, ResponseCode::NoError);
        let owners: Vec<String> = r.answers.iter().map(|r| r.name.to_ascii()).collect();
        assert_eq!(
            owners,
            [
                "ALIAS.example.COM.",
                "Mid.Example.com.",
                "www.example.com.",
                "www.example.com."
            ]
        );
        assert!(r.authorities.is_empty());
    }

    #[test]
    fn nxdomain_and_nodata_carry_closest_soa() {
        let z = zone();
        let nx = z.resolve(&name("nope.sub.example.com."), RecordType::A);
        assert_eq!(nx.rcode, ResponseCode::NXDomain);
        assert_eq!(nx.authorities[0].name.to_ascii(), "sub.example.com.");
        let nodata = z.resolve(&name("www.example.com."), RecordType::AAAA);
        assert_eq!(nodata.rcode, ResponseCode::NoError);
        assert!(nodata.answers.is_empty());
        assert_eq!(nodata.authorities[0].name.to_ascii(), "example.com.");
        let ent = z.resolve(&name("leaf.sub.example.com."), RecordType::A);
        assert_eq!(
            ent.rcode,
            ResponseCode::NoError,
            "empty non-terminal exists"
        );
        let outside = z.resolve(&name("example.org."), RecordType::A);
        assert_eq!(outside.rcode, ResponseCode::NXDomain);
        assert!(outside.authorities.is_empty());
    }

    #[test]
    fn loops_fail_and_dangling_chains_are_nxdomain_with_the_chain() {
        let z = zone();
        assert_eq!(
            z.resolve(&name("loop1.example.com."), RecordType::A).rcode,
            ResponseCode::ServFail
        );
        let d = z.resolve(&name("dangling.example.com."), RecordType::A);
        assert_eq!(d.rcode, ResponseCode::NXDomain);
        assert_eq!(d.answers.len(), 1);
    }

    #[test]
    fn reverse_names() {
        assert_eq!(
            reverse_name("192.0.2.1".parse().unwrap()),
            "1.2.0.192.in-addr.arpa"
        );
        let v6 = reverse_name("2001:db8::1".parse().unwrap());
        assert!(v6.starts_with("1.0.0.0.0.0.0.0."));
        assert!(v6.ends_with(".8.b.d.0.1.0.0.2.ip6.arpa"));
    }
}
