//! The DNS wire format, through `hickory-proto` (encoding and decoding
//! only; no runtime).
//!
//! A reply is accepted only when it answers exactly what was asked: the ID
//! matches, it is a response to a standard query, and its single question
//! has our name (compared without regard to case, as DNS does), type and
//! class. The address and port are checked by the connected socket.
//! Everything else in a reply is data from the network and is checked
//! before use: names must be host names, records must be of class IN and
//! belong to the chain that starts at the question.

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};

use crate::name::is_valid_answer_name;

/// The UDP payload size we advertise (the DNS flag day 2020 value: fits
/// unfragmented in any path).
pub const EDNS_PAYLOAD: u16 = 1232;
/// How many CNAMEs a chain may have before we stop following it.
const MAX_CHAIN: usize = 16;

/// The record types rustcache asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QType {
    /// IPv4 addresses.
    A,
    /// IPv6 addresses.
    Aaaa,
    /// Reverse lookups.
    Ptr,
}

impl QType {
    fn record_type(self) -> RecordType {
        match self {
            QType::A => RecordType::A,
            QType::Aaaa => RecordType::AAAA,
            QType::Ptr => RecordType::PTR,
        }
    }
}

/// Why a datagram was not taken as the reply to our query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// Not a DNS message at all.
    Malformed,
    /// Another query's ID (or a forged reply).
    WrongId,
    /// Not a response to a standard query.
    NotAResponse,
    /// A different question (or none).
    WrongQuestion,
}

/// What a server said about one question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The server could not answer (SERVFAIL, REFUSED, NOTIMP, FORMERR, or
    /// an rcode we do not know): ask another server.
    Failure(u16),
    /// The answer did not fit; ask again over TCP.
    Truncated,
    /// The name does not exist. `negative_ttl` from the SOA, if any.
    NxDomain {
        /// RFC 2308 negative TTL: min(SOA TTL, SOA minimum).
        negative_ttl: Option<u32>,
    },
    /// The name exists; `data` may be empty (NODATA).
    Data(Chain),
}

/// The useful part of a positive reply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chain {
    /// Owner of the data records, or the last CNAME target when there are
    /// none.
    pub canonical: String,
    /// The owners of the CNAMEs that were followed.
    pub aliases: Vec<String>,
    /// IPv4 addresses (A questions).
    pub v4: Vec<Ipv4Addr>,
    /// IPv6 addresses (AAAA questions).
    pub v6: Vec<Ipv6Addr>,
    /// PTR targets (PTR questions).
    pub names: Vec<String>,
    /// Smallest TTL of the records used.
    pub ttl: u32,
    /// RFC 2308 negative TTL from the SOA, for NODATA.
    pub negative_ttl: Option<u32>,
}

impl Chain {
    /// Whether the reply held any data of the asked type (else NODATA).
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty() && self.names.is_empty()
    }
}

/// Encodes a recursive query for `name` (without trailing dot), with EDNS0.
pub fn encode_query(id: u16, name: &str, qtype: QType) -> Option<Vec<u8>> {
    let name = Name::from_ascii(format!("{name}.")).ok()?;
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(name, qtype.record_type()));
    let mut edns = Edns::new();
    edns.set_max_payload(EDNS_PAYLOAD);
    message.set_edns(edns);
    message.to_vec().ok()
}

/// Decodes `bytes` as the reply to query `id` for `name`/`qtype`.
pub fn decode_reply(bytes: &[u8], id: u16, name: &str, qtype: QType) -> Result<Reply, Mismatch> {
    // Cheap checks on the raw header first: most stray datagrams stop here
    // without a full decode.
    let header_id = bytes
        .get(..2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or(Mismatch::Malformed)?;
    if header_id != id {
        return Err(Mismatch::WrongId);
    }
    let message = Message::from_vec(bytes).map_err(|_| Mismatch::Malformed)?;
    let meta = &message.metadata;
    if meta.message_type != MessageType::Response || meta.op_code != OpCode::Query {
        return Err(Mismatch::NotAResponse);
    }
    match message.queries.as_slice() {
        [q] if q.query_type() == qtype.record_type()
            && q.query_class() == DNSClass::IN
            && same_name_text(q.name(), name) => {}
        _ => return Err(Mismatch::WrongQuestion),
    }
    if meta.truncation {
        return Ok(Reply::Truncated);
    }
    let rcode = meta.response_code;
    match rcode {
        ResponseCode::NoError => Ok(Reply::Data(follow_chain(&message, name, qtype))),
        ResponseCode::NXDomain => Ok(Reply::NxDomain {
            negative_ttl: negative_ttl(&message),
        }),
        other => Ok(Reply::Failure(u16::from(other))),
    }
}

/// Walks the answer section from the question name through CNAMEs and
/// collects the records of the asked type at the end of the chain.
fn follow_chain(message: &Message, qname: &str, qtype: QType) -> Chain {
    let mut chain = Chain {
        canonical: qname.to_owned(),
        ttl: u32::MAX,
        ..Chain::default()
    };
    let answers: Vec<_> = message
        .answers
        .iter()
        .filter(|r| r.dns_class == DNSClass::IN)
        .collect();
    let mut current = qname.to_owned();
    let mut owner_seen = false;
    for _ in 0..MAX_CHAIN {
        let cname = answers.iter().find_map(|r| match &r.data {
            RData::CNAME(target) if same_name_text(&r.name, &current) => {
                Some((r, name_text(&target.0)?))
            }
            _ => None,
        });
        let Some((record, target)) = cname else { break };
        let Some(owner) = name_text(&record.name) else {
            break;
        };
        chain.aliases.push(owner);
        chain.ttl = chain.ttl.min(record.ttl);
        current = target;
    }
    for record in &answers {
        if !same_name_text(&record.name, &current) {
            continue;
        }
        let used = match (&record.data, qtype) {
            (RData::A(a), QType::A) => {
                chain.v4.push(a.0);
                true
            }
            (RData::AAAA(aaaa), QType::Aaaa) => {
                chain.v6.push(aaaa.0);
                true
            }
            (RData::PTR(ptr), QType::Ptr) => match name_text(&ptr.0) {
                Some(target) => {
                    chain.names.push(target);
                    true
                }
                None => false,
            },
            _ => false,
        };
        if used {
            chain.ttl = chain.ttl.min(record.ttl);
            if !owner_seen {
                // glibc names the host after the first address record's
                // owner, spelled as the server sent it.
                if let Some(owner) = name_text(&record.name) {
                    chain.canonical = owner;
                    owner_seen = true;
                }
            }
        }
    }
    if !owner_seen {
        chain.canonical = current;
    }
    if chain.ttl == u32::MAX {
        chain.ttl = 0;
    }
    if chain.is_empty() {
        chain.negative_ttl = negative_ttl(message);
    }
    chain
}

/// RFC 2308 section 5: the negative TTL is the smaller of the SOA record's
/// TTL and its MINIMUM field.
fn negative_ttl(message: &Message) -> Option<u32> {
    message.authorities.iter().find_map(|r| match &r.data {
        RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
        _ => None,
    })
}

/// A name from the wire as host-name text (no trailing dot), or `None` if it
/// is not a valid host name.
fn name_text(name: &Name) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    for label in name.iter() {
        if !out.is_empty() {
            out.push('.');
        }
        // A dot inside one wire label would make two labels of text: such
        // a name is no host name (found by the `reply` fuzz target).
        let label = std::str::from_utf8(label)
            .ok()
            .filter(|l| !l.contains('.'))?;
        out.push_str(label);
    }
    is_valid_answer_name(&out).then_some(out)
}

/// Compares a wire name with host-name text, ASCII case-insensitively.
fn same_name_text(name: &Name, text: &str) -> bool {
    let mut labels = text.split('.');
    for label in name.iter() {
        match labels.next() {
            Some(t) if t.as_bytes().eq_ignore_ascii_case(label) => {}
            _ => return false,
        }
    }
    labels.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, CNAME, PTR, SOA};
    use hickory_proto::rr::Record;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn response(id: u16, qname: &str, qtype: RecordType) -> Message {
        let mut m = Message::new(id, MessageType::Response, OpCode::Query);
        m.add_query(Query::query(name(qname), qtype));
        m
    }

    fn soa(apex: &str, ttl: u32, minimum: u32) -> Record {
        Record::from_rdata(
            name(apex),
            ttl,
            RData::SOA(SOA::new(
                name("ns.example."),
                name("h.example."),
                1,
                2,
                3,
                4,
                minimum,
            )),
        )
    }

    #[test]
    fn query_round_trips_through_the_decoder() {
        let bytes = encode_query(0x1234, "Host.Example", QType::Aaaa).unwrap();
        let m = Message::from_vec(&bytes).unwrap();
        assert_eq!(m.metadata.id, 0x1234);
        assert!(m.metadata.recursion_desired);
        assert_eq!(m.queries[0].name().to_ascii(), "Host.Example.");
        assert_eq!(m.edns.as_ref().unwrap().max_payload(), EDNS_PAYLOAD);
    }

    #[test]
    fn cname_chain_gives_canonical_name_aliases_and_min_ttl() {
        let mut m = response(7, "WWW.example.", RecordType::A);
        m.add_answer(Record::from_rdata(
            name("WWW.example."),
            300,
            RData::CNAME(CNAME(name("web.example."))),
        ));
        m.add_answer(Record::from_rdata(
            name("web.example."),
            200,
            RData::CNAME(CNAME(name("Host.example."))),
        ));
        m.add_answer(Record::from_rdata(
            name("Host.example."),
            60,
            RData::A(A::new(192, 0, 2, 1)),
        ));
        m.add_answer(Record::from_rdata(
            name("Host.example."),
            90,
            RData::A(A::new(192, 0, 2, 2)),
        ));
        // Not on the chain: ignored.
        m.add_answer(Record::from_rdata(
            name("other.example."),
            5,
            RData::A(A::new(192, 0, 2, 9)),
        ));
        let bytes = m.to_vec().unwrap();
        let Ok(Reply::Data(chain)) = decode_reply(&bytes, 7, "www.example", QType::A) else {
            panic!("expected data");
        };
        assert_eq!(chain.canonical, "Host.example");
        assert_eq!(chain.aliases, vec!["WWW.example", "web.example"]);
        assert_eq!(
            chain.v4,
            vec![Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2)]
        );
        assert_eq!(chain.ttl, 60);
    }

    #[test]
    fn mismatched_replies_are_refused() {
        let m = response(7, "a.example.", RecordType::A);
        let bytes = m.to_vec().unwrap();
        assert_eq!(
            decode_reply(&bytes, 8, "a.example", QType::A),
            Err(Mismatch::WrongId)
        );
        assert_eq!(
            decode_reply(&bytes, 7, "b.example", QType::A),
            Err(Mismatch::WrongQuestion)
        );
        assert_eq!(
            decode_reply(&bytes, 7, "a.example", QType::Aaaa),
            Err(Mismatch::WrongQuestion)
        );
        assert_eq!(
            decode_reply(&bytes[..5], 7, "a.example", QType::A),
            Err(Mismatch::Malformed)
        );
        let q = Message::new(7, MessageType::Query, OpCode::Query)
            .to_vec()
            .unwrap();
        assert_eq!(
            decode_reply(&q, 7, "a.example", QType::A),
            Err(Mismatch::NotAResponse)
        );
    }

    #[test]
    fn negative_answers_carry_the_rfc2308_ttl() {
        let mut m = response(1, "gone.example.", RecordType::AAAA);
        m.metadata.response_code = ResponseCode::NXDomain;
        m.add_authority(soa("example.", 900, 120));
        let bytes = m.to_vec().unwrap();
        assert_eq!(
            decode_reply(&bytes, 1, "gone.example", QType::Aaaa),
            Ok(Reply::NxDomain {
                negative_ttl: Some(120)
            })
        );
        let mut m = response(1, "v4only.example.", RecordType::AAAA);
        m.add_authority(soa("example.", 30, 120));
        let Ok(Reply::Data(chain)) =
            decode_reply(&m.to_vec().unwrap(), 1, "v4only.example", QType::Aaaa)
        else {
            panic!("expected nodata");
        };
        assert!(chain.is_empty());
        assert_eq!(chain.negative_ttl, Some(30));
    }

    #[test]
    fn failures_and_truncation_are_reported() {
        let mut m = response(1, "a.example.", RecordType::A);
        m.metadata.response_code = ResponseCode::ServFail;
        assert_eq!(
            decode_reply(&m.to_vec().unwrap(), 1, "a.example", QType::A),
            Ok(Reply::Failure(2))
        );
        let mut m = response(1, "a.example.", RecordType::A);
        m.metadata.truncation = true;
        assert_eq!(
            decode_reply(&m.to_vec().unwrap(), 1, "a.example", QType::A),
            Ok(Reply::Truncated)
        );
    }

    #[test]
    fn a_cname_to_a_label_containing_a_dot_is_not_followed() {
        let mut m = response(5, "x.example.", RecordType::A);
        let dotted = Name::from_labels(vec![&b"n.t"[..]]).unwrap();
        m.add_answer(Record::from_rdata(
            name("x.example."),
            60,
            RData::CNAME(CNAME(dotted)),
        ));
        m.add_answer(Record::from_rdata(
            name("n.t."),
            60,
            RData::A(A::new(192, 0, 2, 1)),
        ));
        let Ok(Reply::Data(chain)) = decode_reply(&m.to_vec().unwrap(), 5, "x.example", QType::A)
        else {
            panic!("expected data");
        };
        assert!(chain.v4.is_empty(), "{chain:?}");
        assert_eq!(chain.canonical, "x.example");
    }

    #[test]
    fn invalid_names_in_answers_are_dropped() {
        let mut m = response(3, "1.2.0.192.in-addr.arpa.", RecordType::PTR);
        m.add_answer(Record::from_rdata(
            name("1.2.0.192.in-addr.arpa."),
            60,
            RData::PTR(PTR(
                Name::from_labels(vec![&b"bad name"[..], b"example"]).unwrap()
            )),
        ));
        m.add_answer(Record::from_rdata(
            name("1.2.0.192.in-addr.arpa."),
            60,
            RData::PTR(PTR(name("good.example."))),
        ));
        let Ok(Reply::Data(chain)) = decode_reply(
            &m.to_vec().unwrap(),
            3,
            "1.2.0.192.in-addr.arpa",
            QType::Ptr,
        ) else {
            panic!("expected data");
        };
        assert_eq!(chain.names, vec!["good.example"]);
    }
}
