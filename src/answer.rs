//! What a lookup returns: a plain Rust outcome that the module crate maps
//! to glibc's `(nss_status, errno, h_errno)` in one place, and answers
//! borrowed from the entries they were read from, so that a cache hit is
//! packed into glibc's buffer without a single allocation.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::cache::aliases;

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

impl<T> Outcome<T> {
    /// Maps the found answer, keeping every other outcome.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        match self {
            Outcome::Found(t) => Outcome::Found(f(t)),
            Outcome::NotFound => Outcome::NotFound,
            Outcome::NoData => Outcome::NoData,
            Outcome::TryAgain => Outcome::TryAgain,
            Outcome::Unavailable => Outcome::Unavailable,
        }
    }
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

/// A forward answer, borrowed: the canonical name, the CNAME chain that led
/// to it and the addresses, IPv4 first.
#[derive(Clone, Copy, Debug)]
pub struct HostView<'a> {
    pub(crate) name: &'a str,
    pub(crate) aliases: &'a [u8],
    /// Replaces the first packed alias (the caller's own spelling of it).
    pub(crate) first_alias: Option<&'a str>,
    pub(crate) v4: &'a [u8],
    pub(crate) v6: &'a [u8],
    pub(crate) ttl: u32,
}

impl<'a> HostView<'a> {
    /// A view over raw parts: aliases packed as (length byte, name)*,
    /// addresses as 4 (IPv4) and 16 (IPv6) bytes each. For tests and tools;
    /// lookups build views from cache entries.
    pub fn from_parts(
        name: &'a str,
        aliases: &'a [u8],
        v4: &'a [u8],
        v6: &'a [u8],
        ttl: u32,
    ) -> Self {
        HostView {
            name,
            aliases,
            first_alias: None,
            v4,
            v6,
            ttl,
        }
    }

    /// The canonical name (owner of the address records), spelled as the
    /// server sent it, or as the caller did when it is the name asked for.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The owners of the CNAME records followed to reach the name, in order.
    pub fn aliases(&self) -> impl Iterator<Item = &'a str> + Clone + 'a {
        let first = self.first_alias;
        aliases(self.aliases)
            .enumerate()
            .map(move |(i, a)| match (i, first) {
                (0, Some(f)) => f,
                _ => a,
            })
    }

    /// IPv4 addresses as 4 bytes each, in answer order.
    pub fn v4_bytes(&self) -> &'a [u8] {
        self.v4
    }

    /// IPv6 addresses as 16 bytes each, in answer order.
    pub fn v6_bytes(&self) -> &'a [u8] {
        self.v6
    }

    /// IPv4 addresses in answer order.
    pub fn v4(&self) -> impl Iterator<Item = Ipv4Addr> + 'a {
        self.v4
            .chunks_exact(4)
            .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
    }

    /// IPv6 addresses in answer order.
    pub fn v6(&self) -> impl Iterator<Item = Ipv6Addr> + 'a {
        self.v6.chunks_exact(16).map(|c| {
            let mut b = [0u8; 16];
            b.copy_from_slice(c);
            Ipv6Addr::from(b)
        })
    }

    /// Number of IPv4 addresses.
    pub fn v4_count(&self) -> usize {
        self.v4.len() / 4
    }

    /// Number of IPv6 addresses.
    pub fn v6_count(&self) -> usize {
        self.v6.len() / 16
    }

    /// Seconds the answer may still be kept.
    pub fn ttl(&self) -> u32 {
        self.ttl
    }

    /// An owned copy.
    pub fn to_owned(&self) -> HostAnswer {
        HostAnswer {
            name: self.name.to_owned(),
            aliases: self.aliases().map(str::to_owned).collect(),
            v4: self.v4().collect(),
            v6: self.v6().collect(),
            ttl: self.ttl,
        }
    }
}

/// A forward answer, owned (for tools and tests).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostAnswer {
    /// See [`HostView::name`].
    pub name: String,
    /// See [`HostView::aliases`].
    pub aliases: Vec<String>,
    /// IPv4 addresses in answer order.
    pub v4: Vec<Ipv4Addr>,
    /// IPv6 addresses in answer order.
    pub v6: Vec<Ipv6Addr>,
    /// Seconds the answer may be kept.
    pub ttl: u32,
}

/// A reverse answer (PTR).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PtrView<'a> {
    /// The address that was looked up: the caller's, or the IPv4 address
    /// inside an IPv4-mapped one (the host entry then has family AF_INET,
    /// as glibc's `dns` module returns it).
    pub addr: IpAddr,
    /// The host name the address points to.
    pub name: &'a str,
    /// Seconds the answer may be kept.
    pub ttl: u32,
}
