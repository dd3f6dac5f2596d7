//! Queries and replies: what rustcache sends and what it takes from an
//! answer, over the wire format of [`super::wire`].
//!
//! A reply is accepted only when it answers exactly what was asked: the ID
//! matches, it is a response to a standard query, and its single question
//! has our name (compared without regard to case, as DNS does), type and
//! class. The address and port are checked by the connected socket.
//! Everything else in a reply is data from the network and is checked
//! before use: names must be host names, records must be of class IN and
//! belong to the chain that starts at the question.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::wire::{
    self, put_name, NameAt, Reader, Record, CLASS_IN, TYPE_CNAME, TYPE_OPT, TYPE_SOA,
};
use crate::cache::QType;
use crate::name::is_valid_answer_name;

/// The UDP payload size we advertise (the DNS flag day 2020 value: fits
/// unfragmented in any path).
pub const EDNS_PAYLOAD: u16 = 1232;
/// How many CNAMEs a chain may have before we stop following it.
const MAX_CHAIN: usize = 16;
/// Response codes with a meaning of their own here.
const RCODE_NOERROR: u16 = 0;
const RCODE_NXDOMAIN: u16 = 3;

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

impl From<wire::Malformed> for Mismatch {
    fn from(_: wire::Malformed) -> Mismatch {
        Mismatch::Malformed
    }
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

/// The longest query: header, a name of 255 bytes, type and class, OPT.
const MAX_QUERY: usize = wire::HEADER_LEN + 255 + 4 + 11;

/// An encoded query, kept on the stack: a miss sends two and allocates
/// for neither.
#[derive(Clone)]
pub struct Query {
    bytes: [u8; MAX_QUERY],
    len: usize,
}

impl Query {
    /// The query as sent.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }

    fn put(&mut self, bytes: &[u8]) -> Option<()> {
        self.bytes
            .get_mut(self.len..self.len + bytes.len())?
            .copy_from_slice(bytes);
        self.len += bytes.len();
        Some(())
    }
}

/// Encodes a recursive query for `name` (without trailing dot), with
/// EDNS0. `None` if the name cannot be put on the wire.
pub fn encode_query(id: u16, name: &str, qtype: QType) -> Option<Query> {
    let mut out = Query {
        bytes: [0; MAX_QUERY],
        len: 0,
    };
    // Header: ID, flags with only RD set, one question, one additional
    // record (the OPT).
    for word in [id, 0x0100, 1, 0, 0, 1] {
        out.put(&word.to_be_bytes())?;
    }
    out.len += put_name(out.bytes.get_mut(out.len..)?, name)?;
    out.put(&qtype.code().to_be_bytes())?;
    out.put(&CLASS_IN.to_be_bytes())?;
    // OPT (RFC 6891 section 6.1.2): root owner, the payload size in the
    // class field, extended rcode 0, version 0, no flags, no options.
    out.put(&[0])?;
    out.put(&TYPE_OPT.to_be_bytes())?;
    out.put(&EDNS_PAYLOAD.to_be_bytes())?;
    out.put(&[0, 0, 0, 0, 0, 0])?;
    Some(out)
}

/// Decodes `bytes` as the reply to query `id` for `name`/`qtype`.
pub fn decode_reply(bytes: &[u8], id: u16, name: &str, qtype: QType) -> Result<Reply, Mismatch> {
    // The ID first: most stray datagrams stop here.
    let header_id = bytes
        .get(..2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or(Mismatch::Malformed)?;
    if header_id != id {
        return Err(Mismatch::WrongId);
    }
    let (header, mut reader) = Reader::new(bytes)?;
    if !header.is_response() || header.opcode() != 0 {
        return Err(Mismatch::NotAResponse);
    }
    if header.questions != 1 {
        return Err(Mismatch::WrongQuestion);
    }
    let (question, qtype_code, qclass) = reader.question()?;
    if qtype_code != qtype.code() || qclass != CLASS_IN || !question.eq_text(bytes, name) {
        return Err(Mismatch::WrongQuestion);
    }
    // A truncated reply is asked again over TCP whatever its records say
    // (some servers cut them off mid-record).
    if header.truncated() {
        return Ok(Reply::Truncated);
    }
    let mut answers = Vec::with_capacity(usize::from(header.answers.min(64)));
    for _ in 0..header.answers {
        let record = reader.record()?;
        if record.class == CLASS_IN {
            answers.push(record);
        }
    }
    let mut soa_ttl = None;
    for _ in 0..header.authorities {
        let record = reader.record()?;
        if record.rtype == TYPE_SOA && soa_ttl.is_none() {
            soa_ttl = soa_negative_ttl(bytes, &record);
        }
    }
    let mut rcode = header.rcode();
    for _ in 0..header.additionals {
        let record = reader.record()?;
        if record.rtype == TYPE_OPT {
            // RFC 6891 section 6.1.3: the OPT TTL's top byte holds the
            // upper eight bits of the 12-bit rcode.
            rcode |= ((record.ttl >> 24) as u16) << 4;
        }
    }
    match rcode {
        RCODE_NOERROR => Ok(Reply::Data(follow_chain(
            bytes, &answers, question, name, qtype, soa_ttl,
        ))),
        RCODE_NXDOMAIN => Ok(Reply::NxDomain {
            negative_ttl: soa_ttl,
        }),
        other => Ok(Reply::Failure(other)),
    }
}

/// Walks the answer section from the question name (`question`, which
/// spells `qname`) through CNAMEs and collects the records of the asked
/// type at the end of the chain.
fn follow_chain(
    message: &[u8],
    answers: &[Record],
    question: NameAt,
    qname: &str,
    qtype: QType,
    soa_ttl: Option<u32>,
) -> Chain {
    let mut chain = Chain {
        ttl: u32::MAX,
        ..Chain::default()
    };
    // The end of the chain so far: the question, then each CNAME target.
    let mut current = question;
    for _ in 0..MAX_CHAIN {
        let cname = answers.iter().find_map(|r| {
            if r.rtype != TYPE_CNAME || !r.owner.eq_name(message, current) {
                return None;
            }
            let target = wire::name_at(r.data.start);
            host_text(message, target)?;
            Some((r, target))
        });
        let Some((record, target)) = cname else { break };
        let Some(owner) = host_text(message, record.owner) else {
            break;
        };
        chain.aliases.push(owner);
        chain.ttl = chain.ttl.min(record.ttl);
        current = target;
    }
    let mut owner_seen = false;
    for record in answers {
        if record.rtype != qtype.code() || !record.owner.eq_name(message, current) {
            continue;
        }
        let data = message.get(record.data.clone()).unwrap_or(&[]);
        let used = match qtype {
            QType::A => <[u8; 4]>::try_from(data)
                .map(|octets| chain.v4.push(Ipv4Addr::from(octets)))
                .is_ok(),
            QType::Aaaa => <[u8; 16]>::try_from(data)
                .map(|octets| chain.v6.push(Ipv6Addr::from(octets)))
                .is_ok(),
            QType::Ptr => host_text(message, wire::name_at(record.data.start))
                .map(|target| chain.names.push(target))
                .is_some(),
        };
        if used {
            chain.ttl = chain.ttl.min(record.ttl);
            if !owner_seen {
                // glibc names the host after the first address record's
                // owner, spelled as the server sent it.
                if let Some(owner) = host_text(message, record.owner) {
                    chain.canonical = owner;
                    owner_seen = true;
                }
            }
        }
    }
    if !owner_seen {
        // No data: the name is the chain's end, or the question itself.
        chain.canonical = if current == question {
            qname.to_owned()
        } else {
            host_text(message, current).unwrap_or_else(|| qname.to_owned())
        };
    }
    if chain.ttl == u32::MAX {
        chain.ttl = 0;
    }
    if chain.is_empty() {
        chain.negative_ttl = soa_ttl;
    }
    chain
}

/// RFC 2308 section 5: the negative TTL is the smaller of the SOA record's
/// TTL and its MINIMUM field (the last four bytes of its data, which the
/// reader checked are there).
fn soa_negative_ttl(message: &[u8], soa: &Record) -> Option<u32> {
    let minimum = wire::u32_at(message, soa.data.end.checked_sub(4)?)?;
    Some(soa.ttl.min(minimum))
}

/// A name from the wire as host-name text (no trailing dot), or `None` if it
/// is not a valid host name.
fn host_text(message: &[u8], name: NameAt) -> Option<String> {
    name.text(message).filter(|t| is_valid_answer_name(t))
}

#[cfg(test)]
mod tests {
    //! The decoder against replies built by hickory-proto, an independent
    //! encoder (a dev-dependency only: nothing of it reaches the module).
    use super::*;
    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
    use hickory_proto::rr::rdata::{A, CNAME, PTR, SOA};
    use hickory_proto::rr::{Name, RData, Record, RecordType};

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
        let query = encode_query(0x1234, "Host.Example", QType::Aaaa).unwrap();
        let m = Message::from_vec(query.as_bytes()).unwrap();
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
    #[test]
    fn the_query_is_what_hickory_reads_as_a_recursive_edns_query() {
        let query = encode_query(0xbeef, "a-b.Example.com", QType::Ptr).unwrap();
        let m = Message::from_vec(query.as_bytes()).unwrap();
        assert_eq!(m.metadata.message_type, MessageType::Query);
        assert_eq!(m.metadata.op_code, OpCode::Query);
        assert!(!m.metadata.truncation && !m.metadata.authoritative);
        assert_eq!(m.queries.len(), 1);
        assert_eq!(m.queries[0].query_type(), RecordType::PTR);
        assert_eq!(m.queries[0].name().to_ascii(), "a-b.Example.com.");
        let edns = m.edns.as_ref().unwrap();
        assert_eq!(edns.version(), 0);
        assert!(!edns.flags().dnssec_ok);
        assert!(encode_query(1, "a..b", QType::A).is_none());
    }

    #[test]
    fn an_extended_rcode_in_the_opt_record_is_a_failure() {
        // BADVERS (16): header rcode 0, OPT extended rcode 1.
        let mut m = response(4, "a.example.", RecordType::A);
        m.metadata.response_code = ResponseCode::BADVERS;
        m.set_edns(Edns::new());
        let bytes = m.to_vec().unwrap();
        assert_eq!(bytes[3] & 0x0f, 0, "hickory puts the high bits in the OPT");
        assert_eq!(
            decode_reply(&bytes, 4, "a.example", QType::A),
            Ok(Reply::Failure(16))
        );
    }

    #[test]
    fn a_truncated_reply_cut_mid_record_is_still_retried_over_tcp() {
        let mut m = response(9, "big.example.", RecordType::A);
        m.metadata.truncation = true;
        m.add_answer(Record::from_rdata(
            name("big.example."),
            60,
            RData::A(A::new(192, 0, 2, 1)),
        ));
        let bytes = m.to_vec().unwrap();
        let cut = &bytes[..bytes.len() - 3];
        assert_eq!(
            decode_reply(cut, 9, "big.example", QType::A),
            Ok(Reply::Truncated)
        );
        // Without TC the same bytes are no reply.
        let mut cut = cut.to_vec();
        cut[2] &= !0x02;
        assert_eq!(
            decode_reply(&cut, 9, "big.example", QType::A),
            Err(Mismatch::Malformed)
        );
    }

    #[test]
    fn records_of_other_classes_and_types_are_not_used() {
        let mut m = response(2, "h.example.", RecordType::AAAA);
        let mut chaos = Record::from_rdata(
            name("h.example."),
            60,
            RData::AAAA("2001:db8::9".parse::<std::net::Ipv6Addr>().unwrap().into()),
        );
        chaos.dns_class = hickory_proto::rr::DNSClass::CH;
        m.add_answer(chaos);
        m.add_answer(Record::from_rdata(
            name("h.example."),
            60,
            RData::A(A::new(192, 0, 2, 1)),
        ));
        m.add_answer(Record::from_rdata(
            name("H.Example."),
            40,
            RData::AAAA("2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap().into()),
        ));
        let Ok(Reply::Data(chain)) =
            decode_reply(&m.to_vec().unwrap(), 2, "h.example", QType::Aaaa)
        else {
            panic!("expected data");
        };
        assert_eq!(chain.v6, vec!["2001:db8::1".parse::<Ipv6Addr>().unwrap()]);
        assert!(chain.v4.is_empty());
        assert_eq!(chain.canonical, "H.Example");
        assert_eq!(chain.ttl, 40);
    }
}
