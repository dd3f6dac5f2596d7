//! Turning one received query into the datagrams or TCP messages the server sends back,
//! according to the zone and the behaviour in force. Pure: no sockets here.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::log::Transport;
use super::zone::{key_of_name, parse_name};
use super::{Behaviour, Zone};

/// The address the misbehaving replies (wrong ID, wrong question) carry for A
/// questions: a client that shows it accepted a reply it should have dropped.
pub const POISON_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 66);
/// The address the misbehaving replies carry for AAAA questions.
pub const POISON_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x66);
/// The name the misbehaving replies carry for PTR questions.
pub const POISON_NAME: &str = "poisoned.invalid";

/// UDP payload size the server advertises in its own OPT record.
const SERVER_PAYLOAD: u16 = 1232;
/// Classic DNS UDP limit (RFC 1035), also the floor for an advertised EDNS size.
const CLASSIC_UDP_LIMIT: usize = 512;

/// One message to send back, after a delay (zero: at once).
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub after: Duration,
    pub bytes: Vec<u8>,
}

/// What the server learned from a query, for the log.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub message: Message,
    pub query: Query,
}

/// Decodes a query. `Err` carries the reply to send for a malformed query (FORMERR),
/// or nothing when the packet is not worth an answer (a response, or under 12 bytes).
pub(crate) fn parse(packet: &[u8]) -> Result<Parsed, Option<Vec<u8>>> {
    let message = match Message::from_vec(packet) {
        Ok(m) => m,
        Err(_) => return Err(formerr_for(packet)),
    };
    if message.metadata.message_type != MessageType::Query {
        return Err(None);
    }
    match message.queries.as_slice() {
        [query] => {
            let query = query.clone();
            Ok(Parsed { message, query })
        }
        _ => Err(formerr_for(packet)),
    }
}

/// Builds the replies for a parsed query under `behaviour`.
pub(crate) fn respond(
    parsed: &Parsed,
    zone: &Zone,
    behaviour: Behaviour,
    transport: Transport,
) -> Vec<Outgoing> {
    let limit = udp_limit(&parsed.message);
    let now = |msg: &Message, truncate: bool| Outgoing {
        after: Duration::ZERO,
        bytes: encode(msg, transport, limit, truncate),
    };
    match behaviour {
        Behaviour::Answer => vec![now(&answer(parsed, zone), false)],
        Behaviour::Delay(after) => vec![Outgoing {
            after,
            bytes: encode(&answer(parsed, zone), transport, limit, false),
        }],
        Behaviour::Blackhole => Vec::new(),
        Behaviour::ServFail => vec![now(&error(parsed, ResponseCode::ServFail), false)],
        Behaviour::Refused => vec![now(&error(parsed, ResponseCode::Refused), false)],
        Behaviour::Truncate => vec![now(&answer(parsed, zone), transport == Transport::Udp)],
        Behaviour::WrongIdThenAnswer => vec![
            now(&wrong_id(parsed), false),
            now(&answer(parsed, zone), false),
        ],
        Behaviour::WrongQuestionThenAnswer => vec![
            now(&wrong_question(parsed), false),
            now(&answer(parsed, zone), false),
        ],
        Behaviour::WrongIdOnly => vec![now(&wrong_id(parsed), false)],
        Behaviour::WrongQuestionOnly => vec![now(&wrong_question(parsed), false)],
    }
}

/// The UDP size limit the query allows: its EDNS payload (at least 512), else 512.
fn udp_limit(query: &Message) -> usize {
    match &query.edns {
        Some(edns) => usize::from(edns.max_payload()).max(CLASSIC_UDP_LIMIT),
        None => CLASSIC_UDP_LIMIT,
    }
}

/// A reply skeleton: ID, opcode, RD and CD echoed, RA set, question echoed exactly,
/// an OPT record when the query had one.
fn skeleton(parsed: &Parsed, rcode: ResponseCode) -> Message {
    let q = &parsed.message.metadata;
    let mut reply = Message::new(q.id, MessageType::Response, q.op_code);
    reply.metadata.recursion_desired = q.recursion_desired;
    reply.metadata.checking_disabled = q.checking_disabled;
    reply.metadata.recursion_available = true;
    reply.metadata.response_code = rcode;
    reply.add_query(parsed.query.clone());
    if parsed.message.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(SERVER_PAYLOAD);
        reply.set_edns(edns);
    }
    reply
}

/// The zone's answer, or NOTIMP for anything but a standard IN query.
fn answer(parsed: &Parsed, zone: &Zone) -> Message {
    if parsed.message.metadata.op_code != OpCode::Query
        || parsed.query.query_class() != DNSClass::IN
    {
        return error(parsed, ResponseCode::NotImp);
    }
    let resolution = zone.resolve(parsed.query.name(), parsed.query.query_type());
    let mut reply = skeleton(parsed, resolution.rcode);
    reply.add_answers(resolution.answers);
    reply.add_authorities(resolution.authorities);
    reply
}

fn error(parsed: &Parsed, rcode: ResponseCode) -> Message {
    skeleton(parsed, rcode)
}

/// Records that answer `qtype` for `owner` with the poison data.
fn poison(owner: &Name, qtype: RecordType) -> Vec<Record> {
    let rdata = match qtype {
        RecordType::A => RData::A(A(POISON_V4)),
        RecordType::AAAA => RData::AAAA(AAAA(POISON_V6)),
        RecordType::PTR => RData::PTR(PTR(parse_name(POISON_NAME))),
        _ => return Vec::new(),
    };
    vec![Record::from_rdata(owner.clone(), 60, rdata)]
}

/// A well-formed answer with poison data and an ID that differs from the query's.
fn wrong_id(parsed: &Parsed) -> Message {
    let mut reply = skeleton(parsed, ResponseCode::NoError);
    reply.metadata.id = parsed.message.metadata.id ^ 0x5a5a;
    reply.add_answers(poison(parsed.query.name(), parsed.query.query_type()));
    reply
}

/// A well-formed answer with poison data, the right ID, and a question about another
/// name of the same length (the first character of the first label changed).
fn wrong_question(parsed: &Parsed) -> Message {
    let other = other_name(parsed.query.name());
    let mut reply = skeleton(parsed, ResponseCode::NoError);
    reply.queries.clear();
    reply.add_query(Query::query(other.clone(), parsed.query.query_type()));
    reply.add_answers(poison(&other, parsed.query.query_type()));
    reply
}

/// `name` with the first byte of its first label replaced by a different letter,
/// case-insensitively different (so a case-insensitive comparison still sees a
/// different name). The root becomes `x.`.
fn other_name(name: &Name) -> Name {
    let mut labels: Vec<Vec<u8>> = name.iter().map(<[u8]>::to_vec).collect();
    match labels.first_mut().and_then(|l| l.first_mut()) {
        Some(first) => {
            *first = if first.eq_ignore_ascii_case(&b'x') {
                b'y'
            } else {
                b'x'
            }
        }
        None => labels.push(b"x".to_vec()),
    }
    let mut other = Name::from_labels(labels).unwrap_or_else(|_| parse_name("x"));
    other.set_fqdn(true);
    debug_assert_ne!(key_of_name(&other), key_of_name(name));
    other
}

/// Encodes a reply. Over UDP, a reply over `limit` bytes (or any reply when `truncate`
/// is set) goes out with TC=1 and only the header, question and OPT record.
fn encode(reply: &Message, transport: Transport, limit: usize, truncate: bool) -> Vec<u8> {
    let full = reply
        .to_vec()
        .unwrap_or_else(|e| panic!("scripted server cannot encode its reply: {e}"));
    if transport == Transport::Tcp || (!truncate && full.len() <= limit) {
        return full;
    }
    let mut cut = reply.truncate();
    cut.metadata.id = reply.metadata.id;
    cut.metadata.message_type = MessageType::Response;
    cut.metadata.truncation = true;
    cut.to_vec()
        .unwrap_or_else(|e| panic!("scripted server cannot encode a truncated reply: {e}"))
}

/// A bare FORMERR header echoing the ID of a packet too broken to decode.
fn formerr_for(packet: &[u8]) -> Option<Vec<u8>> {
    let id = u16::from_be_bytes([*packet.first()?, *packet.get(1)?]);
    if packet.len() < 12 || packet.get(2)? & 0x80 != 0 {
        return None;
    }
    let mut reply = Message::new(id, MessageType::Response, OpCode::Query);
    reply.metadata.response_code = ResponseCode::FormErr;
    reply.metadata.recursion_available = true;
    reply.to_vec().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: RecordType, edns: Option<u16>) -> Parsed {
        let mut msg = Message::new(0x1234, MessageType::Query, OpCode::Query);
        msg.metadata.recursion_desired = true;
        let mut n = Name::from_ascii(name).unwrap();
        n.set_fqdn(true);
        msg.add_query(Query::query(n, qtype));
        if let Some(size) = edns {
            let mut e = Edns::new();
            e.set_max_payload(size);
            msg.set_edns(e);
        }
        parse(&msg.to_vec().unwrap()).unwrap()
    }

    fn big_zone() -> Zone {
        let mut z = Zone::new().soa("example.com", 60);
        for i in 0..40u8 {
            z = z.a("big.example.com", 60, Ipv4Addr::new(198, 51, 100, i));
        }
        z
    }

    fn decode(out: &Outgoing) -> Message {
        Message::from_vec(&out.bytes).unwrap()
    }

    #[test]
    fn udp_limit_truncates_unless_edns_allows() {
        let z = big_zone();
        let plain = respond(
            &query("big.example.com", RecordType::A, None),
            &z,
            Behaviour::Answer,
            Transport::Udp,
        );
        let m = decode(&plain[0]);
        assert!(m.metadata.truncation);
        assert!(m.answers.is_empty());
        assert_eq!(m.metadata.id, 0x1234);
        assert!(plain[0].bytes.len() <= 512);

        let edns = respond(
            &query("big.example.com", RecordType::A, Some(1232)),
            &z,
            Behaviour::Answer,
            Transport::Udp,
        );
        let m = decode(&edns[0]);
        assert!(!m.metadata.truncation);
        assert_eq!(m.answers.len(), 40);
        assert_eq!(m.edns.as_ref().unwrap().max_payload(), SERVER_PAYLOAD);

        let small_edns = respond(
            &query("big.example.com", RecordType::A, Some(100)),
            &z,
            Behaviour::Answer,
            Transport::Udp,
        );
        assert!(decode(&small_edns[0]).metadata.truncation);
    }

    #[test]
    fn other_name_differs_beyond_case() {
        let n = Name::from_ascii("Xy.example.com.").unwrap();
        assert_eq!(other_name(&n).to_ascii(), "yy.example.com.");
        let n = Name::from_ascii("www.example.com.").unwrap();
        assert_eq!(other_name(&n).to_ascii(), "xww.example.com.");
        assert_eq!(other_name(&Name::root()).to_ascii(), "x.");
    }

    #[test]
    fn formerr_for_garbage_with_a_header() {
        let mut packet = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        packet.extend_from_slice(&[0xff, 0xff]);
        let reply = match parse(&packet) {
            Err(Some(r)) => r,
            other => panic!("expected a FORMERR reply, got {other:?}"),
        };
        let m = Message::from_vec(&reply).unwrap();
        assert_eq!(m.metadata.id, 0xabcd);
        assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
        assert!(matches!(parse(&[1, 2, 3]), Err(None)));
    }
}
