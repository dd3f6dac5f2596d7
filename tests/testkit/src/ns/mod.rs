//! Private namespaces for integration tests and benchmarks.
//!
//! [`Sandbox::run`] gives a test its own network namespace (so scripted servers can
//! listen on port 53 of any 127.0.0.0/8 address or ::1, and nothing leaves the
//! machine), a temporary directory, and child processes that see the sandbox's
//! `resolv.conf`, `nsswitch.conf`, `hosts` and `/run` instead of the host's. The host's
//! `/etc` is never written.
//!
//! ```no_run
//! use rustcache_testkit::ns::Sandbox;
//! Sandbox::run(|sb| {
//!     sb.write_resolv_conf("nameserver 127.0.0.2\noptions timeout:1 attempts:1\n");
//!     sb.write_nsswitch("files rustcache [!UNAVAIL=return] dns");
//!     sb.write_hosts("192.0.2.5 box.test\n");
//!     sb.env("SOME_VARIABLE", "value");
//!     let out = sb.probe(&["gai box.test inet"]);
//!     assert_eq!(out.expect_ok().result(0), "ok addrs=inet:192.0.2.5");
//! });
//! ```

mod mounts;
mod pages;
mod probe_output;
mod sandbox;
mod setup;

pub use pages::touch_every_page;
pub use probe_output::{ProbeOutput, RESULT_SEPARATOR};
pub use sandbox::{module_dir, module_path, Sandbox, DEFAULT_PROBE_TIMEOUT, MODULE_FILE, UPSTREAM};
