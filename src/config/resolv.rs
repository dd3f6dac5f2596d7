//! A parser for `/etc/resolv.conf` that reads the file the way glibc does.
//!
//! The points that matter for giving the same answers as glibc's `dns`
//! module: only the first three `nameserver` lines count; `domain` and
//! `search` replace each other, the last one wins; a scope id is kept only
//! for link-local IPv6 servers; unknown lines and options are ignored.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::Path;

use super::{Config, ConfigError, ConfigErrorKind, MAX_SEARCH};

/// glibc's MAXNS: the number of `nameserver` lines it reads.
const GLIBC_MAXNS: usize = 3;

/// Parses resolv.conf text. Returns the configuration and the problems met
/// (lines glibc would skip too; they are reported by `rustcache check`).
pub fn parse_resolv_conf(text: &str, path: &Path) -> (Config, Vec<ConfigError>) {
    let mut config = Config {
        servers: Vec::new(),
        ..Config::default()
    };
    let mut errors = Vec::new();
    let mut search_seen = false;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let mut error = |kind| {
            errors.push(ConfigError {
                path: path.to_path_buf(),
                line,
                kind,
            })
        };
        if raw.starts_with('#') || raw.starts_with(';') {
            continue;
        }
        let mut words = raw.split_ascii_whitespace();
        let Some(key) = words.next() else { continue };
        match key {
            "nameserver" => {
                let Some(value) = words.next() else {
                    error(ConfigErrorKind::MissingValue(key.into()));
                    continue;
                };
                if config.servers.len() == GLIBC_MAXNS {
                    error(ConfigErrorKind::TooMany {
                        key: key.into(),
                        limit: GLIBC_MAXNS,
                    });
                    continue;
                }
                match parse_server(value) {
                    Some(addr) => config.servers.push(addr),
                    None => error(ConfigErrorKind::BadValue {
                        key: key.into(),
                        value: value.into(),
                        expected: "an IPv4 or IPv6 address",
                    }),
                }
            }
            "domain" | "search" => {
                let names: Vec<String> = words
                    .take_while(|w| !w.starts_with('#') && !w.starts_with(';'))
                    .map(str::to_owned)
                    .collect();
                if names.is_empty() {
                    error(ConfigErrorKind::MissingValue(key.into()));
                    continue;
                }
                let keep = if key == "domain" { 1 } else { MAX_SEARCH };
                if names.len() > keep && key == "search" {
                    error(ConfigErrorKind::TooMany {
                        key: key.into(),
                        limit: keep,
                    });
                }
                config.search = names.into_iter().take(keep).collect();
                search_seen = true;
            }
            "options" => {
                let bad = config.options.apply_words(words);
                for word in bad {
                    error(ConfigErrorKind::BadValue {
                        key: key.into(),
                        value: word.into(),
                        expected: "an option glibc knows",
                    });
                }
            }
            // sortlist is not applied by getaddrinfo either; ignored.
            "sortlist" => {}
            other => error(ConfigErrorKind::UnknownKey(other.into())),
        }
    }
    if !search_seen {
        config.search = default_domain().into_iter().collect();
    }
    if config.servers.is_empty() {
        config.servers = Config::default().servers;
    }
    (config, errors)
}

/// Parses a nameserver address: IPv4, or IPv6 with an optional `%scope`
/// (an interface name or number), on port 53.
pub(crate) fn parse_server(text: &str) -> Option<SocketAddr> {
    let (addr, scope) = match text.split_once('%') {
        Some((addr, scope)) => (addr, Some(scope)),
        None => (text, None),
    };
    match addr.parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => scope.is_none().then(|| SocketAddr::from((v4, 53))),
        IpAddr::V6(v6) => {
            let scope_id = match scope {
                Some(scope) if is_link_local(&v6) => scope_id(scope)?,
                // glibc keeps a scope only where it means something.
                _ => 0,
            };
            Some(SocketAddr::V6(SocketAddrV6::new(v6, 53, 0, scope_id)))
        }
    }
}

fn is_link_local(addr: &Ipv6Addr) -> bool {
    let first = addr.segments()[0];
    (first & 0xffc0) == 0xfe80 || (first & 0xff0f) == 0xff02
}

fn scope_id(scope: &str) -> Option<u32> {
    if let Ok(number) = scope.parse::<u32>() {
        return Some(number);
    }
    let name = std::ffi::CString::new(scope).ok()?;
    crate::sys::net::interface_index(&name)
}

/// glibc's fallback search domain: the part of the host name after its
/// first dot, when resolv.conf names no domain and no search list.
fn default_domain() -> Option<String> {
    let name = crate::sys::node_name()?;
    let host = std::str::from_utf8(&name).ok()?;
    let (_, domain) = host.split_once('.')?;
    (!domain.is_empty()).then(|| domain.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn parse(text: &str) -> (Config, Vec<ConfigError>) {
        parse_resolv_conf(text, Path::new("/etc/resolv.conf"))
    }

    #[test]
    fn reads_servers_search_and_options_like_glibc() {
        let (c, errors) = parse(
            "# comment\nnameserver 10.0.0.2\nnameserver ::1\n; also a comment\n\
             search a.example b.example\noptions ndots:2 timeout:1 attempts:3 rotate\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            c.servers,
            vec![
                "10.0.0.2:53".parse::<SocketAddr>().unwrap(),
                "[::1]:53".parse().unwrap()
            ]
        );
        assert_eq!(c.search, vec!["a.example", "b.example"]);
        assert_eq!(c.options.ndots, 2);
        assert_eq!(c.options.timeout, Duration::from_secs(1));
        assert_eq!(c.options.attempts, 3);
        assert!(c.options.rotate);
    }

    #[test]
    fn last_of_domain_and_search_wins() {
        let (c, _) = parse("search a.example b.example\ndomain c.example\n");
        assert_eq!(c.search, vec!["c.example"]);
        let (c, _) = parse("domain c.example\nsearch a.example\n");
        assert_eq!(c.search, vec!["a.example"]);
    }

    #[test]
    fn only_three_nameservers_count_and_bad_ones_are_reported() {
        let (c, errors) = parse(
            "nameserver 1.1.1.1\nnameserver bogus\nnameserver 2.2.2.2\n\
             nameserver 3.3.3.3\nnameserver 4.4.4.4\n",
        );
        assert_eq!(c.servers.len(), 3);
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].line, 2);
        assert_eq!(errors[1].line, 5);
        assert!(errors[0].to_string().contains("/etc/resolv.conf:2:"));
    }

    #[test]
    fn scope_ids_are_kept_for_link_local_servers_only() {
        let (c, _) = parse("nameserver fe80::1%7\nnameserver 2001:db8::1%7\n");
        match (c.servers[0], c.servers[1]) {
            (SocketAddr::V6(a), SocketAddr::V6(b)) => {
                assert_eq!(a.scope_id(), 7);
                assert_eq!(b.scope_id(), 0);
            }
            other => panic!("unexpected {other:?}"),
        }
        let (c, _) = parse("nameserver fe80::1%lo\n");
        match c.servers[0] {
            SocketAddr::V6(a) => assert_eq!(a.scope_id(), 1),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn no_nameserver_means_loopback_like_glibc() {
        let (c, _) = parse("search example.com\n");
        assert_eq!(
            c.servers,
            vec!["127.0.0.1:53".parse::<SocketAddr>().unwrap()]
        );
    }
}
