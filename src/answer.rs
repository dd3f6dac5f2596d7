//! What a lookup returns: a plain Rust outcome that the module crate maps
//! to glibc's `(nss_status, errno, h_errno)` in one place.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The result of one lookup, in the terms nsswitch understands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<T> {
    /// The name exists and has data of the requested kind.
    Found(T),
    /// The name does not exist (NXDOMAIN for every candidate), or could not
    /// be a host name at all. Authoritative: `[NOTFOUND=return]` may stop
    /// here.
    NotFound,
    /// The name exists but has no data of the requested kind (NODATA).
    NoData,
    /// The upstream servers did not give a usable answer in time; asking
    /// again later may work.
    TryAgain,
    /// rustcache cannot do its job here (no usable server, no sockets, an
    /// internal fault); the next source on the hosts line should be asked.
    Unavailable,
}

/// Which addresses a forward lookup wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// IPv4 only (A records).
    V4,
    /// IPv6 only (AAAA records).
    V6,
    /// Both, asked for together (getaddrinfo with AF_UNSPEC).
    Any,
}

/// A forward answer: the canonical name, the CNAME chain that led to it and
/// the addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostAnswer {
    /// The canonical name (owner of the address records), spelled as the
    /// server sent it.
    pub name: String,
    /// The owners of the CNAME records followed to reach `name`, in order.
    pub aliases: Vec<String>,
    /// IPv4 addresses in answer order.
    pub v4: Vec<Ipv4Addr>,
    /// IPv6 addresses in answer order.
    pub v6: Vec<Ipv6Addr>,
    /// Seconds the answer may be kept: the smallest TTL of the records used.
    pub ttl: u32,
}

/// A reverse answer (PTR).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PtrAnswer {
    /// The address that was looked up: the caller's, or the IPv4 address
    /// inside an IPv4-mapped one (the host entry then has family AF_INET,
    /// as glibc's `dns` module returns it).
    pub addr: IpAddr,
    /// The host name the address points to.
    pub name: String,
    /// Seconds the answer may be kept.
    pub ttl: u32,
}
