//! The demo's lookups: which names, in which order, and how each is made and timed.

use std::net::Ipv4Addr;
use std::process::Stdio;
use std::time::Duration;

use rustcache_testkit::ns::Sandbox;

/// How a lookup is made.
pub enum How {
    /// `getaddrinfo(AF_UNSPEC)` in the testkit probe, timed inside the process.
    Getaddrinfo,
    /// `curl -w %{time_namelookup}` (an HTTP request to a closed loopback port, so the
    /// connection is refused at once).
    Curl,
}

impl How {
    pub fn describe(&self) -> &'static str {
        match self {
            How::Getaddrinfo => "getaddrinfo",
            How::Curl => "curl time_namelookup",
        }
    }
}

pub struct Lookup {
    pub how: How,
    pub name: &'static str,
    /// Loopback addresses, so that curl's connection never leaves the machine.
    pub addr: Ipv4Addr,
    /// What the lookup shows.
    pub note: &'static str,
}

/// In order: a first process meets the dead server, a second finds the answer cached,
/// a third asks a new name (the dead server is known by then), curl finds the first
/// name cached.
pub const LOOKUPS: [Lookup; 4] = [
    Lookup {
        how: How::Getaddrinfo,
        name: "www.example.com",
        addr: Ipv4Addr::new(127, 0, 1, 1),
        note: "first process: meets the dead server",
    },
    Lookup {
        how: How::Getaddrinfo,
        name: "www.example.com",
        addr: Ipv4Addr::new(127, 0, 1, 1),
        note: "another process, same name",
    },
    Lookup {
        how: How::Getaddrinfo,
        name: "api.example.com",
        addr: Ipv4Addr::new(127, 0, 1, 2),
        note: "another process, a new name",
    },
    Lookup {
        how: How::Curl,
        name: "www.example.com",
        addr: Ipv4Addr::new(127, 0, 1, 1),
        note: "curl, the first name again",
    },
];

/// A closed port on the names' loopback addresses.
const CURL_PORT: u16 = 9;

impl Lookup {
    /// Runs the lookup in a fresh process of the sandbox; its time, or why it failed.
    pub fn run(&self, sb: &Sandbox) -> Result<Duration, String> {
        match self.how {
            How::Getaddrinfo => {
                let op = format!("time gai {} unspec", self.name);
                let out = sb.probe(&[&op]);
                let want = format!("ok addrs=inet:{}", self.addr);
                match (out.results().first(), out.timings().first()) {
                    (Some(r), Some((_, took))) if *r == want => Ok(*took),
                    (r, _) => Err(format!("answer {r:?}, expected {want:?}")),
                }
            }
            How::Curl => {
                let url = format!("http://{}:{CURL_PORT}/", self.name);
                let out = sb
                    .command("curl")
                    .args(["-s", "-o", "/dev/null", "--max-time", "20"])
                    .args(["-w", "%{time_namelookup}", &url])
                    .stdin(Stdio::null())
                    .output()
                    .map_err(|e| format!("curl: {e}"))?;
                let text = String::from_utf8_lossy(&out.stdout);
                text.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|s| *s > 0.0)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| format!("curl printed {text:?}"))
            }
        }
    }
}

impl Lookup {
    /// False for the curl lookup when curl is not installed (its row is left out).
    pub fn available(&self) -> bool {
        !matches!(self.how, How::Curl) || curl_installed()
    }
}

fn curl_installed() -> bool {
    std::process::Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A duration in the unit that suits it.
pub fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1e6 {
        format!("{:.2} s", us / 1e6)
    } else if us >= 1e3 {
        format!("{:.1} ms", us / 1e3)
    } else {
        format!("{us:.0} µs")
    }
}

pub fn show(took: &Result<Duration, String>) -> String {
    match took {
        Ok(d) => fmt(*d),
        Err(e) => format!("failed: {e}"),
    }
}
