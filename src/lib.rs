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
//! Resolver::global().lookup_host(b"example.com", Family::Any, |outcome| match outcome {
//!     Outcome::Found(answer) => {
//!         let v4: Vec<_> = answer.v4().collect();
//!         println!("{} -> {v4:?}", answer.name());
//!     }
//!     other => println!("no address: {:?}", other.map(|_| ())),
//! });
//! ```

pub mod answer;
pub mod cache;
pub mod clock;
pub mod config;
pub mod name;
pub mod nsswitch;
mod race_cell;
mod random;
mod resolve;
mod sys;
pub mod upstream;

pub use answer::{Family, HostAnswer, HostView, Outcome, PtrView};
pub use resolve::Resolver;
