//! The record a [`ScriptedServer`](super::ScriptedServer) keeps of every query it
//! received, so tests can count upstream traffic.

use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

/// The transport a query came over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// A UDP datagram.
    Udp,
    /// A length-prefixed message on a TCP connection.
    Tcp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        })
    }
}

/// One query as the server received it.
#[derive(Clone, Debug)]
pub struct LoggedQuery {
    /// The question name exactly as received (letter case kept), without the trailing
    /// dot; the root is ".".
    pub name: String,
    /// The question type (1 = A, 28 = AAAA, 12 = PTR, ...).
    pub qtype: u16,
    /// UDP or TCP.
    pub transport: Transport,
    /// The UDP payload size of the query's OPT record, if it had one.
    pub edns_payload: Option<u16>,
    /// The query ID.
    pub id: u16,
    /// The address and port the query came from.
    pub peer: SocketAddr,
    /// When the query was received.
    pub at: Instant,
}

impl LoggedQuery {
    /// True when this query asked `qtype` for `name` (compared case-insensitively,
    /// trailing dot optional).
    pub fn is_for(&self, name: &str, qtype: u16) -> bool {
        self.qtype == qtype && same_name(&self.name, name)
    }
}

impl fmt::Display for LoggedQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} id={} from={}",
            self.transport, self.name, self.qtype, self.id, self.peer
        )?;
        if let Some(p) = self.edns_payload {
            write!(f, " edns={p}")?;
        }
        Ok(())
    }
}

/// Case-insensitive name comparison ignoring one trailing dot.
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    let a = a.strip_suffix('.').unwrap_or(a);
    let b = b.strip_suffix('.').unwrap_or(b);
    a.eq_ignore_ascii_case(b)
}
