//! A scripted upstream DNS server for tests and benchmarks.
//!
//! [`ScriptedServer`] listens on UDP and TCP port 53 of one address, answers from a
//! [`Zone`] the way a recursive resolver would (question echoed exactly, CNAME chains
//! followed, NXDOMAIN and NODATA with the SOA in the authority section, RA set, EDNS
//! payload honoured, TC=1 when a UDP answer does not fit), and can be told to misbehave
//! ([`Behaviour`]) globally or per name while it runs. Every query is logged
//! ([`LoggedQuery`]) so tests can count what reached the upstream.
//!
//! Start servers inside a [`Sandbox`](crate::ns::Sandbox): the private network namespace
//! has its own port 53 on every 127.0.0.0/8 address and on ::1.

mod behaviour;
mod log;
mod reply;
mod server;
mod zone;

#[cfg(test)]
mod server_tests;

pub use behaviour::{Behaviour, UnknownBehaviour};
pub use log::{LoggedQuery, Transport};
pub use reply::{POISON_NAME, POISON_V4, POISON_V6};
pub use server::ScriptedServer;
pub use zone::{reverse_name, Resolution, Zone};

/// Query type numbers, for [`ScriptedServer::count_for`] and [`LoggedQuery::qtype`].
pub mod qtype {
    /// IPv4 address.
    pub const A: u16 = 1;
    /// Canonical name.
    pub const CNAME: u16 = 5;
    /// Start of authority.
    pub const SOA: u16 = 6;
    /// Reverse pointer.
    pub const PTR: u16 = 12;
    /// IPv6 address.
    pub const AAAA: u16 = 28;
}
