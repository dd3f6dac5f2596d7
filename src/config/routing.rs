//! The dnsmasq-style keys of rustcache.conf that decide, per domain, where
//! a name is asked and what is done with the answer: `server=/DOMAIN/...`,
//! `address=/DOMAIN/...`, the rebinding keys, `bogus-priv` and
//! `domain-needed`. This module holds what the file said; `route` turns it
//! into the [`Route`](super::Route) of one name.

use std::net::{IpAddr, SocketAddr};

use crate::name::check_host_name;

/// Every per-domain rule of a configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Routing {
    /// `server=` groups, one per domain, in file order.
    pub groups: Vec<ServerGroup>,
    /// `address=` answers, one per domain, in file order.
    pub local: Vec<LocalRule>,
    /// `stop-dns-rebind`, `rebind-localhost-ok`, `rebind-domain-ok`.
    pub rebind: RebindPolicy,
    /// `bogus-priv`: reverse lookups of private addresses are answered
    /// not-found without a query, unless a `server=` names their zone.
    pub bogus_priv: bool,
    /// `domain-needed`: a single-label name is never sent as it is.
    pub domain_needed: bool,
}

/// The servers of one domain (all `server=/DOMAIN/` lines for it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerGroup {
    /// The domain, lower case, without a trailing dot.
    pub domain: String,
    /// `server=/DOMAIN/#`: the default servers answer this domain (a way
    /// to carve a subdomain out of a routed one).
    pub default: bool,
    /// The group's servers, hedged among themselves.
    pub servers: Vec<SocketAddr>,
}

/// What `address=/DOMAIN/` lines answer for one domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalRule {
    /// The domain, lower case, without a trailing dot.
    pub domain: String,
    /// The answer.
    pub answer: LocalAnswer,
}

/// A local answer: given without asking anyone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalAnswer {
    /// The addresses, packed as a cache entry packs them: 4 bytes per
    /// IPv4 address, 16 per IPv6 one.
    Addrs {
        /// IPv4 addresses.
        v4: Vec<u8>,
        /// IPv6 addresses.
        v6: Vec<u8>,
    },
    /// `address=/DOMAIN/`: the name does not exist.
    NxDomain,
}

/// Rebinding protection (off by default).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RebindPolicy {
    /// `stop-dns-rebind`.
    pub stop: bool,
    /// `rebind-localhost-ok`: 127.0.0.0/8 and ::1 are let through.
    pub localhost_ok: bool,
    /// `rebind-domain-ok=/DOMAIN/...`: these domains and below are exempt.
    pub exempt: Vec<String>,
}

/// Why a `/DOMAIN/...` value was refused.
pub type Refusal = &'static str;

/// Splits `/a/b/REST` into the domains and what follows the last slash.
/// Every domain must be a valid host name.
pub fn split_domains(value: &str) -> Result<(Vec<String>, &str), Refusal> {
    let Some(body) = value.strip_prefix('/') else {
        return Err("/DOMAIN/[DOMAIN/...] first");
    };
    let Some((domains, rest)) = body.rsplit_once('/') else {
        return Err("/DOMAIN/ (a closing slash)");
    };
    let mut out = Vec::new();
    for domain in domains.split('/') {
        out.push(domain_of(domain)?);
    }
    Ok((out, rest))
}

/// A domain as written, checked and folded to lower case.
fn domain_of(text: &str) -> Result<String, Refusal> {
    if text.is_empty() {
        return Err("a domain name between the slashes");
    }
    match check_host_name(text.as_bytes()) {
        Ok((name, _)) => Ok(name.to_ascii_lowercase()),
        Err(_) => Err("a valid domain name between the slashes"),
    }
}

/// `ADDR` or `ADDR#PORT` (dnsmasq's form), port 1 to 65535.
pub fn parse_addr_port(text: &str) -> Result<SocketAddr, Refusal> {
    let (addr, port) = match text.split_once('#') {
        Some((addr, port)) => {
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or("a port from 1 to 65535 after #")?;
            (addr, port)
        }
        None => (text, 53),
    };
    let mut server = super::resolv::parse_server(addr).ok_or("an IP address after the domains")?;
    server.set_port(port);
    Ok(server)
}

impl Routing {
    /// One line per rule, in rustcache.conf's own spelling, for `rustcache
    /// check` to show what is in force.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for g in &self.groups {
            if g.default {
                out.push(format!("server=/{}/#", g.domain));
            }
            for s in &g.servers {
                let ip = match s {
                    SocketAddr::V4(v4) => v4.ip().to_string(),
                    SocketAddr::V6(v6) if v6.scope_id() != 0 => {
                        format!("{}%{}", v6.ip(), v6.scope_id())
                    }
                    SocketAddr::V6(v6) => v6.ip().to_string(),
                };
                out.push(format!("server=/{}/{ip}#{}", g.domain, s.port()));
            }
        }
        for r in &self.local {
            match &r.answer {
                LocalAnswer::NxDomain => out.push(format!("address=/{}/", r.domain)),
                LocalAnswer::Addrs { v4, v6 } => {
                    for a in v4.chunks_exact(4) {
                        let a: [u8; 4] = a.try_into().unwrap_or_default();
                        out.push(format!("address=/{}/{}", r.domain, IpAddr::from(a)));
                    }
                    for a in v6.chunks_exact(16) {
                        let a: [u8; 16] = a.try_into().unwrap_or_default();
                        out.push(format!("address=/{}/{}", r.domain, IpAddr::from(a)));
                    }
                }
            }
        }
        let rebind = &self.rebind;
        let switches = [
            (rebind.stop, "stop-dns-rebind"),
            (rebind.localhost_ok, "rebind-localhost-ok"),
            (self.bogus_priv, "bogus-priv"),
            (self.domain_needed, "domain-needed"),
        ];
        out.extend(switches.iter().filter(|s| s.0).map(|s| s.1.to_owned()));
        if !rebind.exempt.is_empty() {
            out.push(format!("rebind-domain-ok=/{}/", rebind.exempt.join("/")));
        }
        out
    }

    /// `server=/D/[D/...]ADDR[#PORT]` or `server=/D/#`.
    pub fn add_server(&mut self, value: &str) -> Result<(), Refusal> {
        if !value.starts_with('/') {
            return Err("/DOMAIN/ADDR (the default servers are `nameserver` lines)");
        }
        let (domains, rest) = split_domains(value)?;
        let target = match rest {
            "#" => None,
            "" => return Err("/DOMAIN/ADDR or /DOMAIN/# (to answer locally, use address=)"),
            addr => Some(parse_addr_port(addr)?),
        };
        let full = |d: &String| {
            self.groups
                .iter()
                .any(|g| g.domain == *d && g.servers.len() >= super::MAX_SERVERS)
        };
        if target.is_some() && domains.iter().any(full) {
            return Err("one more server for a domain that has 8 (the most a group keeps)");
        }
        for domain in domains {
            let at = match self.groups.iter().position(|g| g.domain == domain) {
                Some(at) => at,
                None => {
                    self.groups.push(ServerGroup {
                        domain,
                        default: false,
                        servers: Vec::new(),
                    });
                    self.groups.len() - 1
                }
            };
            if let Some(group) = self.groups.get_mut(at) {
                match target {
                    None => group.default = true,
                    Some(addr) if !group.servers.contains(&addr) => group.servers.push(addr),
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }

    /// `address=/D/[D/...]ADDR` or `address=/D/`.
    pub fn add_address(&mut self, value: &str) -> Result<(), Refusal> {
        let (domains, rest) = split_domains(value)?;
        let addr = match rest {
            "" => None,
            text => Some(
                text.parse::<IpAddr>()
                    .map_err(|_| "an IPv4 or IPv6 address after the domains")?,
            ),
        };
        for domain in domains {
            let at = match self.local.iter().position(|r| r.domain == domain) {
                Some(at) => at,
                None => {
                    self.local.push(LocalRule {
                        domain,
                        answer: LocalAnswer::Addrs {
                            v4: Vec::new(),
                            v6: Vec::new(),
                        },
                    });
                    self.local.len() - 1
                }
            };
            let Some(rule) = self.local.get_mut(at) else {
                continue;
            };
            match (&mut rule.answer, addr) {
                // An NXDOMAIN line wins over addresses for the same domain.
                (answer, None) => *answer = LocalAnswer::NxDomain,
                (LocalAnswer::NxDomain, Some(_)) => {}
                (LocalAnswer::Addrs { v4, .. }, Some(IpAddr::V4(a))) => {
                    v4.extend_from_slice(&a.octets())
                }
                (LocalAnswer::Addrs { v6, .. }, Some(IpAddr::V6(a))) => {
                    v6.extend_from_slice(&a.octets())
                }
            }
        }
        Ok(())
    }

    /// `rebind-domain-ok=/D/[D/...]`.
    pub fn add_rebind_exempt(&mut self, value: &str) -> Result<(), Refusal> {
        let (domains, rest) = split_domains(value)?;
        if !rest.is_empty() {
            return Err("/DOMAIN/[DOMAIN/...] and nothing after the last slash");
        }
        self.rebind.exempt.extend(domains);
        Ok(())
    }

    /// Every server a route may ask besides the default ones.
    pub fn group_servers(&self) -> impl Iterator<Item = &SocketAddr> {
        self.groups.iter().flat_map(|g| g.servers.iter())
    }
}

/// Whether `name` is `domain` or below it (ASCII case ignored; `domain`
/// is lower case).
pub fn in_domain(name: &str, domain: &str) -> bool {
    let (n, d) = (name.as_bytes(), domain.as_bytes());
    if n.len() < d.len() {
        return false;
    }
    let cut = n.len() - d.len();
    let tail = n.get(cut..).unwrap_or_default();
    tail.eq_ignore_ascii_case(d) && (cut == 0 || n.get(cut - 1) == Some(&b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_lines_group_by_domain() {
        let mut r = Routing::default();
        r.add_server("/corp.example/10.1.0.2").unwrap();
        r.add_server("/Corp.Example/lab.example/10.1.0.3#5353")
            .unwrap();
        r.add_server("/pub.corp.example/#").unwrap();
        r.add_server("/v6.example/fd00::53").unwrap();
        assert_eq!(r.groups.len(), 4);
        assert_eq!(r.groups[0].domain, "corp.example");
        assert_eq!(
            r.groups[0].servers,
            vec![
                "10.1.0.2:53".parse::<SocketAddr>().unwrap(),
                "10.1.0.3:5353".parse().unwrap()
            ]
        );
        assert_eq!(r.groups[1].domain, "lab.example");
        assert!(r.groups[2].default && r.groups[2].servers.is_empty());
        assert_eq!(r.groups[3].servers[0].to_string(), "[fd00::53]:53");
        assert_eq!(
            r.lines(),
            vec![
                "server=/corp.example/10.1.0.2#53",
                "server=/corp.example/10.1.0.3#5353",
                "server=/lab.example/10.1.0.3#5353",
                "server=/pub.corp.example/#",
                "server=/v6.example/fd00::53#53",
            ]
        );
    }

    #[test]
    fn bad_server_values_are_refused() {
        let mut r = Routing::default();
        for bad in [
            "10.0.0.1",
            "/corp.example",
            "/corp.example/",
            "//10.0.0.1",
            "/bad..name/10.0.0.1",
            "/corp.example/10.0.0.999",
            "/corp.example/10.0.0.1#0",
            "/corp.example/10.0.0.1#65536",
            "/corp.example/10.0.0.1#x",
        ] {
            assert!(r.add_server(bad).is_err(), "{bad}");
        }
        assert!(r.groups.is_empty());
        for i in 1..=8 {
            r.add_server(&format!("/full.example/10.0.0.{i}")).unwrap();
        }
        assert!(r.add_server("/full.example/10.0.0.9").is_err());
        assert_eq!(r.groups[0].servers.len(), 8);
    }

    #[test]
    fn address_lines_add_addresses_and_nxdomain_wins() {
        let mut r = Routing::default();
        r.add_address("/lan.example/192.168.1.10").unwrap();
        r.add_address("/lan.example/192.168.1.11").unwrap();
        r.add_address("/lan.example/fd00::10").unwrap();
        r.add_address("/ads.example/").unwrap();
        r.add_address("/ads.example/10.0.0.1").unwrap();
        assert_eq!(
            r.local[0].answer,
            LocalAnswer::Addrs {
                v4: vec![192, 168, 1, 10, 192, 168, 1, 11],
                v6: "fd00::10"
                    .parse::<std::net::Ipv6Addr>()
                    .unwrap()
                    .octets()
                    .to_vec(),
            }
        );
        assert_eq!(r.local[1].answer, LocalAnswer::NxDomain);
        assert_eq!(
            r.lines(),
            vec![
                "address=/lan.example/192.168.1.10",
                "address=/lan.example/192.168.1.11",
                "address=/lan.example/fd00::10",
                "address=/ads.example/",
            ]
        );
        assert!(r.add_address("/x.example/not-an-ip").is_err());
        assert!(r.add_rebind_exempt("/ec2.internal/amazonaws.com/").is_ok());
        assert!(r.add_rebind_exempt("/ec2.internal/10.0.0.1").is_err());
    }

    #[test]
    fn domains_match_at_label_boundaries() {
        assert!(in_domain("corp.example", "corp.example"));
        assert!(in_domain("a.b.CORP.example", "corp.example"));
        assert!(!in_domain("notcorp.example", "corp.example"));
        assert!(!in_domain("example", "corp.example"));
        assert!(in_domain("4.3.2.10.in-addr.arpa", "10.in-addr.arpa"));
        assert!(!in_domain("4.3.2.110.in-addr.arpa", "10.in-addr.arpa"));
    }
}
