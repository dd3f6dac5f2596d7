//! The systems compared: one way each for a process to resolve names.

use std::fmt::Write as _;
use std::net::IpAddr;

use rustcache_testkit::ns::Sandbox;

use crate::daemon::{self, Daemon};
use crate::error::BenchError;
use crate::tools::Tool;
use crate::Context;

/// One way for a process to resolve names: what the hosts line says, and whatever must
/// run next to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum System {
    /// `hosts: dns`: glibc's stub resolver, no state kept between lookups.
    GlibcDns,
    /// `hosts: rustcache`: the module alone (no `dns` fallback), so every answer
    /// checked is one the module gave.
    Rustcache,
    /// `hosts: dns` with nscd running in the sandbox (hosts cache on, shared memory
    /// on): glibc asks nscd before any NSS module, and nscd resolves through glibc's
    /// `dns` module with the scenario's `resolv.conf`.
    Nscd,
    /// `hosts: dns` with `resolv.conf` naming dnsmasq on 127.0.0.53, a caching
    /// forwarder to the scenario's servers.
    Dnsmasq,
    /// `hosts: dns` with `resolv.conf` naming unbound on 127.0.0.54, a caching
    /// forwarder to the scenario's servers.
    Unbound,
    /// `hosts: floor`: a do-nothing module answering two fixed names from constants,
    /// the fastest any module can answer (for the hit-latency and loading scenarios;
    /// `fresh-process` puts glibc's `dns` behind it for its new names).
    Floor,
}

const NSCD: Tool = Tool {
    program: "nscd",
    package: "nscd",
    version_arg: "--version",
};
const DNSMASQ: Tool = Tool {
    program: "dnsmasq",
    package: "dnsmasq-base",
    version_arg: "--version",
};
const UNBOUND: Tool = Tool {
    program: "unbound",
    package: "unbound",
    version_arg: "-V",
};
pub const CC: Tool = Tool {
    program: "cc",
    package: "gcc (and libc6-dev for the headers)",
    version_arg: "--version",
};

impl System {
    pub const ALL: [System; 6] = [
        System::GlibcDns,
        System::Rustcache,
        System::Nscd,
        System::Dnsmasq,
        System::Unbound,
        System::Floor,
    ];

    pub fn name(self) -> &'static str {
        match self {
            System::GlibcDns => "glibc-dns",
            System::Rustcache => "rustcache",
            System::Nscd => "nscd",
            System::Dnsmasq => "dnsmasq",
            System::Unbound => "unbound",
            System::Floor => "floor",
        }
    }

    pub fn parse(text: &str) -> Result<System, BenchError> {
        System::ALL
            .into_iter()
            .find(|s| s.name() == text)
            .ok_or_else(|| BenchError::Usage(format!("unknown system {text:?}")))
    }

    /// The hosts line of the probes' `nsswitch.conf`.
    pub fn hosts_line(self) -> &'static str {
        match self {
            System::GlibcDns | System::Nscd | System::Dnsmasq | System::Unbound => "dns",
            System::Rustcache => "rustcache",
            System::Floor => "floor",
        }
    }

    /// How the system is set up, for the report's header.
    pub fn setup(self) -> String {
        let mut text = format!("`hosts: {}`", self.hosts_line());
        let _ = match self {
            System::GlibcDns | System::Rustcache => Ok(()),
            System::Nscd => write!(text, ", nscd with the hosts cache"),
            System::Dnsmasq => write!(
                text,
                ", `nameserver {}` (dnsmasq forwarding)",
                daemon::DNSMASQ_ADDR
            ),
            System::Unbound => write!(
                text,
                ", `nameserver {}` (unbound forwarding)",
                daemon::UNBOUND_ADDR
            ),
            System::Floor => write!(
                text,
                ", libnss_floor.so.2 built from bench/floor (`hosts: floor dns` for \
                 fresh-process's new names)"
            ),
        };
        text
    }

    /// The program the system needs besides glibc and the module, if any.
    pub fn tool(self) -> Option<Tool> {
        match self {
            System::GlibcDns | System::Rustcache => None,
            System::Nscd => Some(NSCD),
            System::Dnsmasq => Some(DNSMASQ),
            System::Unbound => Some(UNBOUND),
            System::Floor => Some(CC),
        }
    }

    /// True for systems that wait out a dead first server for every name they have not
    /// cached (their upstream client is glibc's stub resolver), which get the `--slow-*`
    /// sample counts in the dead-first scenarios.
    pub fn stalls_on_dead_server(self) -> bool {
        matches!(self, System::GlibcDns | System::Nscd)
    }

    /// The name of the NSS module a direct call of `gethostbyname4_r` loads, for the
    /// systems that are a module.
    pub fn module(self) -> Option<&'static str> {
        match self {
            System::Rustcache => Some("rustcache"),
            System::Floor => Some("floor"),
            _ => None,
        }
    }

    /// Makes the sandbox resolve through this system, `upstreams` being the scenario's
    /// nameservers in order (default resolver options: timeout 5 s, attempts 2).
    /// Daemons are started inside the sandbox and stopped when the result is dropped.
    pub fn prepare(
        self,
        sb: &Sandbox,
        ctx: &Context<'_>,
        upstreams: &[IpAddr],
    ) -> Result<Prepared, BenchError> {
        let listing: String = upstreams
            .iter()
            .map(|ip| format!("nameserver {ip}\n"))
            .collect();
        sb.write_nsswitch(self.hosts_line());
        let program = ctx.tools.program(self);
        let missing = || BenchError::Usage(format!("{} is not available", self.name()));
        let daemon = match self {
            System::GlibcDns => {
                sb.write_resolv_conf(&listing);
                None
            }
            System::Rustcache => {
                sb.write_resolv_conf(&listing);
                make_cache_dir(sb)?;
                None
            }
            System::Nscd => {
                sb.write_resolv_conf(&listing);
                Some(Daemon::nscd(sb, program.ok_or_else(missing)?)?)
            }
            System::Dnsmasq => {
                sb.write_resolv_conf(&format!("nameserver {}\n", daemon::DNSMASQ_ADDR));
                Some(Daemon::dnsmasq(
                    sb,
                    program.ok_or_else(missing)?,
                    upstreams,
                )?)
            }
            System::Unbound => {
                sb.write_resolv_conf(&format!("nameserver {}\n", daemon::UNBOUND_ADDR));
                Some(Daemon::unbound(
                    sb,
                    program.ok_or_else(missing)?,
                    upstreams,
                )?)
            }
            System::Floor => {
                sb.write_resolv_conf(&listing);
                let floor = ctx.floor.ok_or_else(missing)?;
                sb.set_module_dir(floor.dir());
                None
            }
        };
        Ok(Prepared { daemon })
    }
}

/// Makes the sandbox's `/run/rustcache` the way packaging/tmpfiles.d does at boot
/// (root's, mode 1777), so the module finds the host it is installed on.
fn make_cache_dir(sb: &Sandbox) -> Result<(), BenchError> {
    use std::os::unix::fs::PermissionsExt;
    let dir = sb.run_dir().join("rustcache");
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)))
        .map_err(|e| BenchError::io(format!("create {}", dir.display()), e))
}

/// What a system keeps running during a scenario (a caching daemon); stopped when
/// dropped.
pub struct Prepared {
    daemon: Option<Daemon>,
}

impl Prepared {
    /// Fails when the system's daemon is no longer running. Called after measuring:
    /// glibc silently falls back to its own `dns` module when nscd is gone, so figures
    /// labelled nscd would otherwise be glibc's.
    pub fn still_running(&mut self) -> Result<(), BenchError> {
        match self.daemon.as_mut() {
            Some(daemon) => daemon.still_running(),
            None => Ok(()),
        }
    }
}
