//! `rustcache import-dnsmasq FILE`: the rustcache.conf equivalent to a
//! dnsmasq configuration, printed on stdout.
//!
//! Every line of the file (and of the files its `conf-file` and `conf-dir`
//! lines name, which are followed) becomes, in order:
//!
//! * the same setting in rustcache.conf's spelling, where rustcache has
//!   it (dnsmasq's names are rustcache's for the DNS-cache options);
//! * a comment saying why rustcache needs none, for daemon options
//!   (sockets, users, pid and log files) and for DHCP, TFTP and router
//!   advertisements, which are not a cache's job;
//! * a comment saying what is lost, for DNS features rustcache does not
//!   have (DNSSEC, local records, ...), also reported on stderr;
//! * for an option this command does not know: a report on stderr.
//!
//! `cache-size` counts names in dnsmasq and MiB in rustcache: a name takes
//! [`BYTES_PER_NAME`] (two 512-byte slots, its A and AAAA entries, at the
//! half load a cache file is sized for), plus the 4 KiB header, rounded
//! up to whole MiB.
//!
//! Exit code 0 when everything was understood, 1 when something was
//! reported on stderr (the translation is printed all the same), 2 when
//! FILE cannot be read.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rustcache::cache::{HEADER_SIZE, SLOT_SIZE};
use rustcache::name::check_host_name;

/// Bytes of cache file per dnsmasq cache entry (a name): its A and AAAA
/// entries take a slot each, and a file is sized for half load (so a
/// name's page of slots rarely has to evict).
pub const BYTES_PER_NAME: u64 = 2 * 2 * SLOT_SIZE as u64;
/// rustcache.conf's limits of `cache-size`, MiB.
const CACHE_MIB_MIN: u64 = 1;
const CACHE_MIB_MAX: u64 = 1024;
/// Where dnsmasq reads its servers by default.
const DEFAULT_RESOLV: &str = "/etc/resolv.conf";
/// conf-file nesting deeper than this is a loop dnsmasq would refuse too.
const MAX_DEPTH: usize = 16;

pub fn run(file: &Path) -> Result<ExitCode, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let t = translate(file, &text);
    print!("{}", t.out);
    for warning in &t.warnings {
        eprintln!("{warning}");
    }
    Ok(if t.warnings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What a translation came to.
#[derive(Debug, Default)]
pub struct Translation {
    /// The rustcache.conf text.
    pub out: String,
    /// `FILE:LINE: ...` reports, for stderr.
    pub warnings: Vec<String>,
    /// Files already read (a conf-file loop is read once).
    read: HashSet<PathBuf>,
    /// `resolv-file` was given.
    resolv_file: bool,
    /// `no-resolv` was given.
    no_resolv: bool,
    /// A plain `server=ADDR` (a default upstream) was given.
    plain_server: bool,
}

/// Translates `text`, read from `path`.
pub fn translate(path: &Path, text: &str) -> Translation {
    let mut t = Translation::default();
    let _ = writeln!(
        t.out,
        "# rustcache.conf translated from {} by `rustcache import-dnsmasq`.\n\
         # Options rustcache needs no equivalent for are kept as comments saying why.",
        path.display()
    );
    t.read.insert(path.to_path_buf());
    t.file_text(path, text, 0);
    t.finish();
    t
}

/// Where a line came from, for reports.
struct At<'a> {
    path: &'a Path,
    line: usize,
}

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.line)
    }
}

impl Translation {
    fn file_text(&mut self, path: &Path, text: &str, depth: usize) {
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            // dnsmasq: a comment is a line starting with '#'; a '#' later
            // in a line is part of the value (server=10.0.0.2#5353).
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = match line.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (line, None),
            };
            let at = At {
                path,
                line: index + 1,
            };
            self.option(&at, line, key, value, depth);
        }
    }

    /// A line kept as a comment, with the reason.
    fn note(&mut self, line: &str, why: &str) {
        let _ = writeln!(self.out, "# {line}: {why}");
    }

    /// A line that loses something: a comment, and a report.
    fn lost(&mut self, at: &At<'_>, line: &str, why: &str) {
        self.note(line, why);
        self.warnings
            .push(format!("{at}: `{line}` not translated: {why}"));
    }

    /// A line whose value is wrong: reported, and left out.
    fn bad(&mut self, at: &At<'_>, line: &str, why: &str) {
        self.note(line, &format!("not translated: {why}"));
        self.warnings.push(format!("{at}: `{line}`: {why}"));
    }

    fn emit(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
    }

    fn option(&mut self, at: &At<'_>, line: &str, key: &str, value: Option<&str>, depth: usize) {
        let v = value.unwrap_or("");
        match key {
            // The DNS-cache options rustcache has, under dnsmasq's names.
            "domain-needed"
            | "bogus-priv"
            | "stop-dns-rebind"
            | "rebind-localhost-ok"
            | "no-negcache"
                if value.is_none() =>
            {
                self.emit(key)
            }
            "min-cache-ttl" | "max-cache-ttl" | "neg-ttl" => match v.parse::<u32>() {
                Ok(n) => self.emit(&format!("{key} {n}")),
                Err(_) => self.bad(at, line, "the value is not a number of seconds"),
            },
            "rebind-domain-ok" => self.rebind_domain_ok(at, line, v),
            "server" | "local" => self.server(at, line, v),
            "address" => self.address(at, line, v),
            "cache-size" => self.cache_size(at, line, v),
            "resolv-file" => self.resolv_file(at, line, v),
            "no-resolv" => {
                self.no_resolv = true;
                self.note(
                    line,
                    "the nameserver lines here replace resolv.conf's servers, as dnsmasq's \
                     server= lines did",
                );
            }
            "strict-order" | "all-servers" => self.note(
                line,
                "rustcache asks the best-ranked server first (configuration order among \
                 healthy ones) and hedges to the next only if it is slow or fails, so a dead \
                 server costs one hedge delay, not a timeout, and a healthy one is not asked \
                 twice",
            ),
            "conf-file" => self.conf_file(at, line, v, depth),
            "conf-dir" => self.conf_dir(at, line, v, depth),
            "max-ttl" => self.note(
                line,
                "dnsmasq caps the TTL it hands out; rustcache hands out what is left of the \
                 cached TTL: `max-cache-ttl N` caps both",
            ),
            "clear-on-reload" => self.note(
                line,
                "rustcache flushes its cache when the servers in resolv.conf or rustcache.conf \
                 change",
            ),
            "no-poll" => self.note(
                line,
                "rustcache notices a changed resolv.conf by itself, within a second",
            ),
            "edns-packet-max" => self.note(
                line,
                "rustcache advertises 1232 bytes (EDNS0) and retries truncated answers over TCP",
            ),
            "query-port" | "min-port" | "max-port" => self.note(
                line,
                "every rustcache query uses a fresh socket with a random source port",
            ),
            "dns-forward-max" => self.note(
                line,
                "there is no forwarder to overload: each process asks for itself, and misses \
                 of one name across processes are coalesced into one query",
            ),
            "no-hosts" | "addn-hosts" | "hostsdir" | "expand-hosts" | "local-ttl" => self.note(
                line,
                "/etc/hosts is answered by glibc's `files` before rustcache on the hosts line \
                 of nsswitch.conf",
            ),
            "domain" => self.note(
                line,
                "a DHCP and local-name domain: rustcache answers no local names; the search \
                 list comes from resolv.conf (or `search` here)",
            ),
            "listen-address" | "port" | "interface" | "except-interface" | "bind-interfaces"
            | "bind-dynamic" | "no-dhcp-interface" | "local-service" | "auth-server" => self.note(
                line,
                "rustcache listens on no socket: it answers inside each process that \
                     resolves a name, through glibc",
            ),
            "user" | "group" => self.note(
                line,
                "no daemon: rustcache runs in the resolving process, as its user",
            ),
            "pid-file" | "keep-in-foreground" | "no-daemon" | "enable-dbus" | "enable-ubus" => self
                .note(
                    line,
                    "no daemon to start, stop or find: nothing to configure",
                ),
            "log-queries" | "log-facility" | "log-async" | "log-dhcp" | "log-debug" => self.note(
                line,
                "rustcache writes nothing from inside other processes: `rustcache stats`, \
                     `dump` and `query` show what it does",
            ),
            "dnssec" | "dnssec-check-unsigned" | "trust-anchor" | "dnssec-no-timecheck" => {
                self.lost(at, line, "rustcache does not validate DNSSEC")
            }
            "cname" | "host-record" | "txt-record" | "ptr-record" | "srv-host" | "mx-host"
            | "naptr-record" | "caa-record" | "dns-rr" | "interface-name" | "synth-domain" => self
                .lost(
                    at,
                    line,
                    "rustcache serves no local records but `address=`; put fixed names in \
                     /etc/hosts",
                ),
            "bogus-nxdomain" | "ignore-address" | "alias" | "filterwin2k" | "filter-AAAA"
            | "filter-rr" | "localise-queries" | "rev-server" | "ipset" | "nftset"
            | "connmark-allowlist" | "add-mac" | "add-subnet" | "add-cpe-id" | "strip-mac"
            | "strip-subnet" | "dns-loop-detect" | "proxy-dnssec" => {
                self.lost(at, line, "rustcache has no equivalent")
            }
            k if is_dhcp_tftp_or_ra(k) => self.note(
                line,
                "DHCP, TFTP and router advertisements are not a DNS cache's job; keep dnsmasq \
                 for them with `port=0` (its DNS off) if you need them",
            ),
            _ => {
                self.warnings.push(format!(
                    "{at}: unknown dnsmasq option `{key}`: not translated"
                ));
            }
        }
    }

    fn rebind_domain_ok(&mut self, at: &At<'_>, line: &str, v: &str) {
        // `/D/[D/...]` or a bare `D`.
        let domains: Vec<&str> = v.split('/').filter(|d| !d.is_empty()).collect();
        if domains.is_empty() {
            return self.bad(at, line, "no domain");
        }
        if let Some(d) = domains.iter().find(|d| !valid_domain(d)) {
            return self.bad(at, line, &format!("`{d}` is not a domain name"));
        }
        self.emit(&format!("rebind-domain-ok=/{}/", domains.join("/")));
    }

    /// `server=[/D/[D/...]][ADDR[#PORT]][@IFACE|@SOURCE]`, `local=` alike.
    fn server(&mut self, at: &At<'_>, line: &str, v: &str) {
        let (domains, target) = match split_domains(v) {
            Ok(parts) => parts,
            Err(why) => return self.bad(at, line, &why),
        };
        if domains.iter().any(|d| d.is_empty()) {
            return self.lost(
                at,
                line,
                "`//` (names without a dot) has no rustcache equivalent",
            );
        }
        if let Some(d) = domains.iter().find(|d| !valid_domain(d)) {
            return self.bad(at, line, &format!("`{d}` is not a domain name"));
        }
        let (target, bound) = match target.split_once('@') {
            Some((t, _)) => (t, true),
            None => (target, false),
        };
        if bound {
            self.warnings.push(format!(
                "{at}: `{line}`: the @interface/@source part is dropped: rustcache sends from \
                 the address the kernel picks"
            ));
        }
        let joined = domains.join("/");
        match (domains.is_empty(), target) {
            (true, "") => self.bad(at, line, "no server address"),
            (false, "") => {
                self.note(
                    line,
                    "dnsmasq answers these names from /etc/hosts and DHCP only, else NXDOMAIN; \
                     rustcache says NXDOMAIN (/etc/hosts still comes first on the hosts line)",
                );
                self.emit(&format!("address=/{joined}/"));
            }
            (false, "#") => self.emit(&format!("server=/{joined}/#")),
            (is_default, target) => match parse_target(target) {
                Ok(addr) if is_default => {
                    self.plain_server = true;
                    self.emit(&format!("nameserver {}", nameserver_text(addr)));
                }
                Ok(addr) => {
                    let port = if addr.port() == 53 {
                        String::new()
                    } else {
                        format!("#{}", addr.port())
                    };
                    self.emit(&format!("server=/{joined}/{}{port}", addr.ip()));
                }
                Err(why) => self.bad(at, line, &why),
            },
        }
    }

    /// `address=/D/[D/...]ADDR`, `address=/D/` (NXDOMAIN), `address=/D/#`
    /// (the unspecified addresses).
    fn address(&mut self, at: &At<'_>, line: &str, v: &str) {
        let (domains, target) = match split_domains(v) {
            Ok(parts) => parts,
            Err(why) => return self.bad(at, line, &why),
        };
        if domains.is_empty() {
            return self.bad(at, line, "no /domain/");
        }
        if let Some(d) = domains.iter().find(|d| !valid_domain(d)) {
            return self.bad(at, line, &format!("`{d}` is not a domain name"));
        }
        let joined = domains.join("/");
        match target {
            "" => self.emit(&format!("address=/{joined}/")),
            "#" => {
                self.emit(&format!("address=/{joined}/0.0.0.0"));
                self.emit(&format!("address=/{joined}/::"));
            }
            t => match t.parse::<IpAddr>() {
                Ok(ip) => self.emit(&format!("address=/{joined}/{ip}")),
                Err(_) => self.bad(at, line, &format!("`{t}` is not an IP address")),
            },
        }
    }

    fn cache_size(&mut self, at: &At<'_>, line: &str, v: &str) {
        let Ok(names) = v.parse::<u64>() else {
            return self.bad(at, line, "the value is not a number of names");
        };
        if names == 0 {
            self.note(line, "dnsmasq's cache is off");
            return self.emit("cache no");
        }
        let bytes = HEADER_SIZE as u64 + names.saturating_mul(BYTES_PER_NAME);
        let wanted = bytes.div_ceil(1 << 20);
        let mib = wanted.clamp(CACHE_MIB_MIN, CACHE_MIB_MAX);
        let capped = if mib < wanted {
            format!(", capped at {CACHE_MIB_MAX}")
        } else {
            String::new()
        };
        self.note(
            line,
            &format!(
                "{names} names x {BYTES_PER_NAME} bytes (A and AAAA, 512 bytes each, at half \
                 load) = {wanted} MiB{capped}; root's file, which every user reads"
            ),
        );
        self.emit(&format!("cache-size {mib}"));
    }

    fn resolv_file(&mut self, at: &At<'_>, line: &str, v: &str) {
        self.resolv_file = true;
        if v.is_empty() {
            return self.bad(at, line, "no file name");
        }
        let path = Path::new(v);
        match std::fs::read_to_string(path) {
            Ok(text) => {
                self.note(line, "its servers, as rustcache nameserver lines");
                self.nameservers_of(path, &text);
            }
            Err(e) => self.lost(
                at,
                line,
                &format!("cannot be read here ({e}): list its servers as `nameserver ADDR` lines"),
            ),
        }
    }

    /// The `nameserver` lines of a resolv.conf-style file. A loopback
    /// server is left out with a comment: on a host that ran dnsmasq, it
    /// is dnsmasq itself.
    fn nameservers_of(&mut self, path: &Path, text: &str) {
        for (index, line) in text.lines().enumerate() {
            let mut words = line.split_whitespace();
            if words.next() != Some("nameserver") {
                continue;
            }
            let Some(addr) = words.next() else { continue };
            match addr.parse::<IpAddr>() {
                Ok(ip) if ip.is_loopback() => self.note(
                    &format!("nameserver {ip}"),
                    &format!(
                        "from {}, left out: on a host that ran dnsmasq that is dnsmasq itself",
                        path.display()
                    ),
                ),
                Ok(ip) => self.emit(&format!(
                    "nameserver {}",
                    nameserver_text(SocketAddr::new(ip, 53))
                )),
                Err(_) => self.warnings.push(format!(
                    "{}:{}: `{addr}` is not an IP address: left out",
                    path.display(),
                    index + 1
                )),
            }
        }
    }

    fn conf_file(&mut self, at: &At<'_>, line: &str, v: &str, depth: usize) {
        self.include(at, line, Path::new(v), depth);
    }

    /// `conf-dir=DIR[,.ext...|,*.ext...]`: every file of DIR in name order,
    /// without those ending in an excluded extension, or only those with
    /// an included one (`*.conf`); like dnsmasq, also without names ending
    /// in `~` or starting with `.` or `#`.
    fn conf_dir(&mut self, at: &At<'_>, line: &str, v: &str, depth: usize) {
        let mut parts = v.split(',');
        let dir = PathBuf::from(parts.next().unwrap_or("").trim());
        let (mut include, mut exclude) = (Vec::new(), Vec::new());
        for p in parts.map(str::trim).filter(|p| !p.is_empty()) {
            match p.strip_prefix('*') {
                Some(ext) => include.push(ext.to_owned()),
                None => exclude.push(p.to_owned()),
            }
        }
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                return self.lost(at, line, &format!("cannot be read here ({e})"));
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.path())
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                conf_dir_takes(name, &include, &exclude)
            })
            .collect();
        files.sort();
        self.note(line, "followed: its files are translated below");
        for file in files {
            self.include(at, &format!("conf-file={}", file.display()), &file, depth);
        }
    }

    fn include(&mut self, at: &At<'_>, line: &str, path: &Path, depth: usize) {
        if depth >= MAX_DEPTH || !self.read.insert(path.to_path_buf()) {
            return self.lost(at, line, "already read (a conf-file loop)");
        }
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let _ = writeln!(self.out, "# {line}: followed");
                self.file_text(path, &text, depth + 1);
                let _ = writeln!(self.out, "# end of {}", path.display());
            }
            Err(e) => self.lost(at, line, &format!("cannot be read here ({e})")),
        }
    }

    fn finish(&mut self) {
        if self.no_resolv || self.resolv_file {
            return;
        }
        if self.plain_server {
            // dnsmasq asked resolv.conf's servers besides its server=
            // lines; rustcache's nameserver lines replace resolv.conf's.
            let path = Path::new(DEFAULT_RESOLV);
            self.note(
                "(no resolv-file, no no-resolv)",
                "dnsmasq also asked /etc/resolv.conf's servers, which rustcache's nameserver \
                 lines replace: they follow",
            );
            if let Ok(text) = std::fs::read_to_string(path) {
                self.nameservers_of(path, &text);
            }
        }
    }
}

/// Whether `conf-dir` reads a file of this name: not a backup or hidden
/// file (`x~`, `.x`, `#x#`), not one with an excluded extension, and one
/// with an included extension if any is given.
fn conf_dir_takes(name: &str, include: &[String], exclude: &[String]) -> bool {
    let skipped = name.ends_with('~') || name.starts_with('.') || name.starts_with('#');
    let excluded = exclude.iter().any(|x| name.ends_with(x.as_str()));
    let included = include.is_empty() || include.iter().any(|x| name.ends_with(x.as_str()));
    !skipped && !excluded && included
}

fn is_dhcp_tftp_or_ra(key: &str) -> bool {
    [
        "dhcp-",
        "bootp-",
        "pxe-",
        "tftp-",
        "ra-",
        "leasefile-",
        "shared-network",
    ]
    .iter()
    .any(|p| key.starts_with(p))
        || matches!(
            key,
            "enable-tftp"
                | "enable-ra"
                | "read-ethers"
                | "quiet-dhcp"
                | "quiet-dhcp6"
                | "quiet-ra"
                | "no-ping"
                | "script-arp"
                | "slaac"
                | "dhcp"
        )
}

/// `/D1/D2/REST` -> (["D1", "D2"], "REST"); no leading `/` -> ([], all).
fn split_domains(v: &str) -> Result<(Vec<&str>, &str), String> {
    let Some(rest) = v.strip_prefix('/') else {
        return Ok((Vec::new(), v));
    };
    let Some((domains, target)) = rest.rsplit_once('/') else {
        return Err("a /domain/ without its closing `/`".into());
    };
    Ok((domains.split('/').collect(), target))
}

fn valid_domain(d: &str) -> bool {
    check_host_name(d.as_bytes()).is_ok()
}

/// `ADDR[#PORT]`, port 53 by default.
fn parse_target(t: &str) -> Result<SocketAddr, String> {
    let (ip, port) = match t.split_once('#') {
        Some((ip, port)) => (ip, Some(port)),
        None => (t, None),
    };
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| format!("`{ip}` is not an IP address"))?;
    let port = match port {
        None => 53,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| format!("`{p}` is not a port (1 to 65535)"))?,
    };
    Ok(SocketAddr::new(ip, port))
}

/// A server as rustcache.conf's `nameserver` takes it: the address alone
/// for port 53, else `10.0.0.2:5353` or `[fd00::2]:5353`.
fn nameserver_text(addr: SocketAddr) -> String {
    if addr.port() == 53 {
        addr.ip().to_string()
    } else {
        addr.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(t: &Translation) -> Vec<&str> {
        t.out.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn cache_size_counts_two_slots_a_name_at_half_load_rounded_up() {
        let t = translate(
            Path::new("d.conf"),
            "cache-size=150\n\
             cache-size=10000\n\
             cache-size=1000000\n\
             cache-size=0\n",
        );
        // 150 x 2 KiB + 4 KiB < 1 MiB; 10000 x 2 KiB + 4 KiB = 19.5 MiB;
        // a million names would need 1954 MiB, past the 1024 MiB limit.
        assert_eq!(
            lines(&t),
            [
                "cache-size 1",
                "cache-size 20",
                "cache-size 1024",
                "cache no"
            ]
        );
        assert!(t.out.contains("= 1954 MiB, capped at 1024;"), "{}", t.out);
        assert!(t.warnings.is_empty(), "{:?}", t.warnings);
    }

    #[test]
    fn servers_keep_their_domains_ports_and_default_markers() {
        let t = translate(
            Path::new("d.conf"),
            "no-resolv\n\
             server=10.0.0.2\n\
             server=fd00::2#5353\n\
             server=/corp.example/10.1.0.2\n\
             server=/corp.example/internal.example/10.1.0.3#5353\n\
             server=/public.corp.example/#\n\
             local=/lan/\n\
             server=/10.in-addr.arpa/10.1.0.2\n",
        );
        assert_eq!(
            lines(&t),
            [
                "nameserver 10.0.0.2",
                "nameserver [fd00::2]:5353",
                "server=/corp.example/10.1.0.2",
                "server=/corp.example/internal.example/10.1.0.3#5353",
                "server=/public.corp.example/#",
                "address=/lan/",
                "server=/10.in-addr.arpa/10.1.0.2",
            ]
        );
        assert!(t.warnings.is_empty(), "{:?}", t.warnings);
    }

    #[test]
    fn bad_values_are_reported_with_file_and_line_and_left_out() {
        let t = translate(
            Path::new("d.conf"),
            "server=/corp.example/10.1.0.300\n\
             server=10.0.0.2#70000\n\
             address=/bad..name/10.0.0.1\n\
             neg-ttl=soon\n\
             frobnicate=3\n\
             server=/corp.example\n",
        );
        assert_eq!(lines(&t), Vec::<&str>::new());
        assert_eq!(
            t.warnings,
            [
                "d.conf:1: `server=/corp.example/10.1.0.300`: `10.1.0.300` is not an IP address",
                "d.conf:2: `server=10.0.0.2#70000`: `70000` is not a port (1 to 65535)",
                "d.conf:3: `address=/bad..name/10.0.0.1`: `bad..name` is not a domain name",
                "d.conf:4: `neg-ttl=soon`: the value is not a number of seconds",
                "d.conf:5: unknown dnsmasq option `frobnicate`: not translated",
                "d.conf:6: `server=/corp.example`: a /domain/ without its closing `/`",
            ]
        );
    }

    #[test]
    fn address_forms_and_rebind_domains() {
        let t = translate(
            Path::new("d.conf"),
            "address=/ads.example/\n\
             address=/blocked.example/#\n\
             address=/a.example/b.example/192.0.2.1\n\
             address=/v6.example/2001:db8::1\n\
             rebind-domain-ok=ec2.internal\n\
             rebind-domain-ok=/ec2.internal/amazonaws.com/\n",
        );
        assert_eq!(
            lines(&t),
            [
                "address=/ads.example/",
                "address=/blocked.example/0.0.0.0",
                "address=/blocked.example/::",
                "address=/a.example/b.example/192.0.2.1",
                "address=/v6.example/2001:db8::1",
                "rebind-domain-ok=/ec2.internal/",
                "rebind-domain-ok=/ec2.internal/amazonaws.com/",
            ]
        );
    }

    #[test]
    fn conf_dir_filters_and_a_conf_file_loop_is_read_once() {
        let dir =
            std::env::temp_dir().join(format!("rustcache-dnsmasq-unit-{}", std::process::id()));
        let sub = dir.join("d");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join("a.conf"), "bogus-priv\n").unwrap();
        std::fs::write(sub.join("b.txt"), "domain-needed\n").unwrap();
        std::fs::write(sub.join("c.conf~"), "no-negcache\n").unwrap();
        let main = dir.join("main.conf");
        let text = format!(
            "conf-dir={},*.conf\nconf-file={}\nresolv-file={}\n",
            sub.display(),
            main.display(),
            dir.join("absent").display()
        );
        std::fs::write(&main, &text).unwrap();
        let t = translate(&main, &text);
        assert_eq!(lines(&t), ["bogus-priv"], "{}", t.out);
        assert_eq!(t.warnings.len(), 2, "{:?}", t.warnings);
        assert!(
            t.warnings[0].ends_with("already read (a conf-file loop)"),
            "{:?}",
            t.warnings
        );
        assert!(
            t.warnings[1].contains("list its servers as `nameserver ADDR` lines"),
            "{:?}",
            t.warnings
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
