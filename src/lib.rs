//! rustcache: a host DNS cache for glibc, without a daemon.
//!
//! This crate is everything `libnss_rustcache.so.2` does except talking to
//! glibc: configuration, names, the upstream client and (soon) the shared
//! cache. The module crate (`nss-module/`) is a thin doorway that turns C
//! arguments into a call here and packs the [`Outcome`] into glibc's
//! buffer. The `rustcache` command uses the same library.
//!
//! ```no_run
//! use rustcache::{Family, Outcome, Resolver};
//!
//! match Resolver::global().lookup_host(b"example.com", Family::Any) {
//!     Outcome::Found(answer) => println!("{} -> {:?} {:?}", answer.name, answer.v4, answer.v6),
//!     other => println!("no address: {other:?}"),
//! }
//! ```

pub mod answer;
pub mod cache;
pub mod clock;
pub mod config;
pub mod name;
pub mod nsswitch;
mod resolve;
pub mod upstream;

pub use answer::{Family, HostAnswer, Outcome, PtrAnswer};
pub use resolve::Resolver;
