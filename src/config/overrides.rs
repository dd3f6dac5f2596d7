//! `/etc/rustcache.conf`: rustcache's own settings, which override
//! resolv.conf.
//!
//! The format is one `key value...` per line; `key=value` and
//! `key = value` mean the same (dnsmasq's form). `#` starts a comment at
//! the start of a line or after a space (so `server=/D/#` and `ADDR#PORT`
//! keep theirs). dnsmasq's names of the same settings are accepted:
//! `min-cache-ttl`, `max-cache-ttl`, `no-negcache`; and its per-domain keys
//! (see `routing`).
//!
//! ```text
//! # ask these servers instead of resolv.conf's (port optional)
//! nameserver 10.0.0.2
//! nameserver [fd00::2]:53
//! search corp.example
//! ndots 2
//! timeout 2      # seconds per round over the servers
//! attempts 2     # rounds
//!
//! # the shared cache
//! cache yes               # or no
//! cache-dir /run/rustcache
//! cache-size 16           # MiB, root's file (read by every user), when created
//! user-cache-size 4       # MiB, each other user's file, when created
//! min-ttl 0               # seconds
//! max-ttl 86400
//! max-negative-ttl 900
//! stale-max-age 86400     # serve expired answers this long when upstreams fail; 0 = never
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::resolv::parse_server;
use super::routing::Routing;
use super::{Config, ConfigError, ConfigErrorKind, MAX_NDOTS, MAX_SEARCH, MAX_SERVERS};

/// The keywords rustcache.conf knows.
const KEYS: &[&str] = &[
    "nameserver",
    "search",
    "ndots",
    "timeout",
    "attempts",
    "cache",
    "cache-dir",
    "cache-size",
    "user-cache-size",
    "min-ttl",
    "max-ttl",
    "max-negative-ttl",
    "stale-max-age",
    "neg-ttl",
    "server",
    "address",
    "stop-dns-rebind",
    "rebind-localhost-ok",
    "rebind-domain-ok",
    "bogus-priv",
    "domain-needed",
];

/// dnsmasq's names for settings rustcache already has, with the same
/// meaning: (dnsmasq's name, ours).
const ALIASES: &[(&str, &str)] = &[("min-cache-ttl", "min-ttl"), ("max-cache-ttl", "max-ttl")];

/// Keys that take no value (each a dnsmasq switch).
const SWITCHES: &[&str] = &[
    "stop-dns-rebind",
    "rebind-localhost-ok",
    "bogus-priv",
    "domain-needed",
    "no-negcache",
];

/// What rustcache.conf sets; `None` keeps resolv.conf's value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    servers: Option<Vec<SocketAddr>>,
    search: Option<Vec<String>>,
    ndots: Option<u8>,
    timeout: Option<Duration>,
    attempts: Option<u8>,
    cache: Option<bool>,
    cache_dir: Option<PathBuf>,
    cache_size_mib: Option<u32>,
    user_cache_size_mib: Option<u32>,
    min_ttl: Option<u32>,
    max_ttl: Option<u32>,
    max_negative_ttl: Option<u32>,
    stale_max_age: Option<u32>,
    neg_ttl: Option<u32>,
    no_negcache: bool,
    routing: Routing,
}

impl Overrides {
    /// Applies these settings on top of `config`.
    pub fn apply(&self, config: &mut Config) {
        if let Some(servers) = &self.servers {
            config.servers.clone_from(servers);
        }
        if let Some(search) = &self.search {
            config.search.clone_from(search);
        }
        if let Some(ndots) = self.ndots {
            config.options.ndots = ndots;
        }
        if let Some(timeout) = self.timeout {
            config.options.timeout = timeout;
        }
        if let Some(attempts) = self.attempts {
            config.options.attempts = attempts;
        }
        let cache = &mut config.cache;
        if let Some(enabled) = self.cache {
            cache.enabled = enabled;
        }
        if let Some(dir) = &self.cache_dir {
            cache.dir.clone_from(dir);
        }
        if let Some(mib) = self.cache_size_mib {
            cache.size_bytes = u64::from(mib) << 20;
        }
        if let Some(mib) = self.user_cache_size_mib {
            cache.user_size_bytes = u64::from(mib) << 20;
        }
        if let Some(ttl) = self.min_ttl {
            cache.min_ttl = ttl;
        }
        if let Some(ttl) = self.max_ttl {
            cache.max_ttl = ttl;
        }
        if let Some(ttl) = self.max_negative_ttl {
            cache.max_negative_ttl = ttl;
        }
        if let Some(age) = self.stale_max_age {
            cache.stale_max_age = age;
        }
        if let Some(ttl) = self.neg_ttl {
            cache.neg_ttl = Some(ttl);
        }
        if self.no_negcache {
            // The same as `max-negative-ttl 0`: nothing negative is kept.
            cache.max_negative_ttl = 0;
        }
        config.routing.clone_from(&self.routing);
        if cache.min_ttl > cache.max_ttl {
            cache.min_ttl = cache.max_ttl;
        }
    }
}

/// Parses rustcache.conf text; bad lines are returned as errors and
/// otherwise ignored.
pub fn parse_overrides(text: &str, path: &Path) -> (Overrides, Vec<ConfigError>) {
    let mut overrides = Overrides::default();
    let mut errors = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let Some((key, values)) = split_line(raw) else {
            continue;
        };
        let key = ALIASES
            .iter()
            .find(|(theirs, _)| *theirs == key)
            .map_or(key, |(_, ours)| ours);
        if let Err(kind) = overrides.set(key, &values) {
            errors.push(ConfigError {
                path: path.to_path_buf(),
                line: index + 1,
                kind,
            });
        }
    }
    (overrides, errors)
}

/// A line's key and values: `key value...`, `key=value` or `key = value`;
/// `None` for a blank or comment line.
fn split_line(raw: &str) -> Option<(&str, Vec<&str>)> {
    // A comment starts at the line's start or after white space.
    let mut end = raw.len();
    let bytes = raw.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && (i == 0 || bytes.get(i - 1).is_some_and(u8::is_ascii_whitespace)) {
            end = i;
            break;
        }
    }
    let content = raw.get(..end)?.trim();
    if content.is_empty() {
        return None;
    }
    let key_end = content
        .find(|c: char| c == '=' || c.is_ascii_whitespace())
        .unwrap_or(content.len());
    let (key, rest) = content.split_at(key_end);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest);
    Some((key, rest.split_ascii_whitespace().collect()))
}

impl Overrides {
    fn set(&mut self, key: &str, values: &[&str]) -> Result<(), ConfigErrorKind> {
        if SWITCHES.contains(&key) {
            if !values.is_empty() {
                return Err(ConfigErrorKind::BadValue {
                    key: key.to_owned(),
                    value: values.join(" "),
                    expected: "nothing (the key alone switches it on)",
                });
            }
            match key {
                "no-negcache" => self.no_negcache = true,
                "stop-dns-rebind" => self.routing.rebind.stop = true,
                "rebind-localhost-ok" => self.routing.rebind.localhost_ok = true,
                "bogus-priv" => self.routing.bogus_priv = true,
                _ => self.routing.domain_needed = true,
            }
            return Ok(());
        }
        if !KEYS.contains(&key) {
            return Err(ConfigErrorKind::UnknownKey(key.to_owned()));
        }
        let missing = || ConfigErrorKind::MissingValue(key.to_owned());
        let first = *values.first().ok_or_else(missing)?;
        let bad = |expected| ConfigErrorKind::BadValue {
            key: key.to_owned(),
            value: values.join(" "),
            expected,
        };
        match key {
            "nameserver" => {
                let addr = parse_server_with_port(first)
                    .ok_or_else(|| bad("an IP address, optionally with a port"))?;
                let servers = self.servers.get_or_insert_with(Vec::new);
                if servers.len() >= MAX_SERVERS {
                    return Err(ConfigErrorKind::TooMany {
                        key: key.to_owned(),
                        limit: MAX_SERVERS,
                    });
                }
                servers.push(addr);
            }
            "search" => {
                if values.len() > MAX_SEARCH {
                    return Err(ConfigErrorKind::TooMany {
                        key: key.to_owned(),
                        limit: MAX_SEARCH,
                    });
                }
                self.search = Some(values.iter().map(|s| (*s).to_owned()).collect());
            }
            "ndots" => {
                let n = number(first, 0, u32::from(MAX_NDOTS)).ok_or_else(|| bad("0 to 15"))?;
                self.ndots = Some(n as u8);
            }
            "timeout" => {
                let n = number(first, 1, 30).ok_or_else(|| bad("1 to 30 (seconds)"))?;
                self.timeout = Some(Duration::from_secs(u64::from(n)));
            }
            "attempts" => {
                let n = number(first, 1, 5).ok_or_else(|| bad("1 to 5"))?;
                self.attempts = Some(n as u8);
            }
            "cache" => {
                self.cache = Some(match first {
                    "yes" | "on" | "true" => true,
                    "no" | "off" | "false" => false,
                    _ => return Err(bad("yes or no")),
                });
            }
            "cache-dir" => {
                if !first.starts_with('/') {
                    return Err(bad("an absolute directory path"));
                }
                self.cache_dir = Some(PathBuf::from(first));
            }
            "cache-size" | "user-cache-size" => {
                let n = number(first, 1, 1024).ok_or_else(|| bad("1 to 1024 (MiB)"))?;
                if key == "cache-size" {
                    self.cache_size_mib = Some(n);
                } else {
                    self.user_cache_size_mib = Some(n);
                }
            }
            "min-ttl" | "max-ttl" | "max-negative-ttl" | "stale-max-age" | "neg-ttl" => {
                let n = number(first, 0, 7 * 86_400).ok_or_else(|| bad("0 to 604800 (seconds)"))?;
                match key {
                    "min-ttl" => self.min_ttl = Some(n),
                    "max-ttl" => self.max_ttl = Some(n),
                    "max-negative-ttl" => self.max_negative_ttl = Some(n),
                    "neg-ttl" => self.neg_ttl = Some(n),
                    _ => self.stale_max_age = Some(n),
                }
            }
            "server" | "address" | "rebind-domain-ok" => {
                if values.len() > 1 {
                    return Err(bad("one /DOMAIN/... value without spaces"));
                }
                let result = match key {
                    "server" => self.routing.add_server(first),
                    "address" => self.routing.add_address(first),
                    _ => self.routing.add_rebind_exempt(first),
                };
                result.map_err(bad)?;
            }
            other => return Err(ConfigErrorKind::UnknownKey(other.to_owned())),
        }
        Ok(())
    }
}

fn number(text: &str, min: u32, max: u32) -> Option<u32> {
    text.parse::<u32>().ok().filter(|n| (min..=max).contains(n))
}

/// `10.0.0.2`, `10.0.0.2:5353`, `fd00::2`, `[fd00::2]:5353`, `fe80::1%eth0`.
fn parse_server_with_port(text: &str) -> Option<SocketAddr> {
    text.parse::<SocketAddr>()
        .ok()
        .or_else(|| parse_server(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_override_resolv_conf() {
        let (o, errors) = parse_overrides(
            "# local\nnameserver 127.0.0.9:5353\nnameserver ::1 # v6\nsearch x.example\nndots 3\ntimeout 2\nattempts 1\n",
            Path::new("rc"),
        );
        assert!(errors.is_empty(), "{errors:?}");
        let mut c = Config::default();
        o.apply(&mut c);
        assert_eq!(
            c.servers,
            vec![
                "127.0.0.9:5353".parse::<SocketAddr>().unwrap(),
                "[::1]:53".parse().unwrap()
            ]
        );
        assert_eq!(c.search, vec!["x.example"]);
        assert_eq!(c.options.ndots, 3);
        assert_eq!(c.options.timeout, Duration::from_secs(2));
        assert_eq!(c.options.attempts, 1);
    }

    #[test]
    fn cache_settings() {
        let (o, errors) = parse_overrides(
            "cache no\ncache-dir /tmp/rc\ncache-size 4\nmin-ttl 30\nmax-ttl 20\nmax-negative-ttl 60\nstale-max-age 0\ncache-dir relative\n",
            Path::new("rc"),
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 8);
        let mut c = Config::default();
        o.apply(&mut c);
        assert!(!c.cache.enabled);
        assert_eq!(c.cache.dir, PathBuf::from("/tmp/rc"));
        assert_eq!(c.cache.size_bytes, 4 << 20);
        assert_eq!(
            (c.cache.min_ttl, c.cache.max_ttl),
            (20, 20),
            "min never above max"
        );
        assert_eq!(c.cache.max_negative_ttl, 60);
        assert_eq!(c.cache.stale_max_age, 0);
    }

    #[test]
    fn bad_lines_carry_their_line_number_and_are_ignored() {
        let (o, errors) = parse_overrides(
            "ndots 2\nndots 99\nfrobnicate yes\nnameserver\nnameserver not-an-ip\n",
            Path::new("/etc/rustcache.conf"),
        );
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5]);
        assert_eq!(
            errors[0].to_string(),
            "/etc/rustcache.conf:2: `ndots`: `99` is not 0 to 15"
        );
        let mut c = Config::default();
        o.apply(&mut c);
        assert_eq!(c.options.ndots, 2);
        assert_eq!(c.servers, Config::default().servers);
    }

    #[test]
    fn key_value_key_equals_value_and_dnsmasq_names_mean_the_same() {
        let (o, errors) = parse_overrides(
            "ndots=3\ntimeout = 2\nattempts 1\nmin-cache-ttl=30\nmax-cache-ttl = 600\n\
             neg-ttl=45\nserver=/corp.example/10.1.0.2#5353 # on premises\n\
             server = /pub.corp.example/#\naddress=/lan.example/192.168.1.1\n\
             stop-dns-rebind\nrebind-localhost-ok\nrebind-domain-ok=/ec2.internal/\n\
             bogus-priv\ndomain-needed\n",
            Path::new("rc"),
        );
        assert!(errors.is_empty(), "{errors:?}");
        let mut c = Config::default();
        o.apply(&mut c);
        assert_eq!(c.options.ndots, 3);
        assert_eq!(c.options.timeout, Duration::from_secs(2));
        assert_eq!((c.cache.min_ttl, c.cache.max_ttl), (30, 600));
        assert_eq!(c.cache.neg_ttl, Some(45));
        let r = &c.routing;
        assert_eq!(r.groups[0].servers[0].to_string(), "10.1.0.2:5353");
        assert!(r.groups[1].default);
        assert_eq!(r.local.len(), 1);
        assert!(r.rebind.stop && r.rebind.localhost_ok);
        assert_eq!(r.rebind.exempt, vec!["ec2.internal"]);
        assert!(r.bogus_priv && r.domain_needed);
        let (o, _) = parse_overrides("no-negcache\n", Path::new("rc"));
        o.apply(&mut c);
        assert_eq!(c.cache.max_negative_ttl, 0);
    }

    #[test]
    fn bad_routing_values_are_reported_with_their_line() {
        let (o, errors) = parse_overrides(
            "server=10.0.0.1\nserver=/bad..name/10.0.0.1\nserver=/x.example/10.0.0.1#70000\n\
             address=/x.example/999.1.1.1\nrebind-domain-ok=x.example\nbogus-priv yes\n\
             server=/good.example/10.0.0.9\n",
            Path::new("/etc/rustcache.conf"),
        );
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![1, 2, 3, 4, 5, 6], "{errors:?}");
        assert!(errors[2]
            .to_string()
            .starts_with("/etc/rustcache.conf:3: `server`"));
        let mut c = Config::default();
        o.apply(&mut c);
        assert_eq!(c.routing.groups.len(), 1, "the good line still applies");
        assert!(!c.routing.bogus_priv);
    }
}
