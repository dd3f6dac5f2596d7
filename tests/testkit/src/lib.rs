//! Test kit for rustcache: everything the integration tests and benchmarks need to call
//! real glibc against scripted upstreams without touching the host.
//!
//! - [`dns`]: a scripted upstream DNS server (UDP + TCP, misbehaviours on demand, query
//!   log).
//! - [`ns`]: private network + mount namespaces ([`ns::Sandbox`]) in which servers bind
//!   and probe processes see a private `/etc/resolv.conf`, `/etc/nsswitch.conf`,
//!   `/etc/hosts` and `/run`.
//! - [`probe`]: the code that runs in a probe process and calls glibc (getaddrinfo,
//!   gethostbyname*_r, getnameinfo) or the module's entry points directly, printing one
//!   canonical line per operation.
//! - [`smaps`]: `/proc/PID/smaps` summed (what a lookup makes resident).
//!
//! Needs root (CAP_SYS_ADMIN) for `unshare`.
//!
//! ```no_run
//! use rustcache_testkit::dns::{ScriptedServer, Zone};
//! use rustcache_testkit::ns::Sandbox;
//!
//! Sandbox::run(|sb| {
//!     let zone = Zone::new().soa("example.com", 60).a("www.example.com", 300, "192.0.2.1".parse().unwrap());
//!     let server = ScriptedServer::start("127.0.0.2".parse().unwrap(), zone).unwrap();
//!     sb.write_resolv_conf("nameserver 127.0.0.2\n");
//!     sb.write_nsswitch("dns");
//!     let out = sb.probe(&["gai www.example.com inet"]);
//!     assert_eq!(out.results(), ["ok addrs=inet:192.0.2.1"]);
//!     assert_eq!(server.count(), 1);
//! });
//! ```
//!
//! A test binary that uses [`ns::Sandbox::probe`] must call
//! [`probe::main_if_probe`] first thing in `main`: the sandbox re-executes the current
//! binary as the probe.

pub mod dns;
pub mod ns;
pub mod probe;
pub mod smaps;
