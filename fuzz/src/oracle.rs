//! The reference decoder for the `reply` fuzz target's differential check:
//! the reply interpretation rustcache used before it had its own wire
//! codec, on top of hickory-proto's full message decoder. hickory is an
//! independent implementation of RFC 1035; where it decodes a message,
//! rustcache's `decode_reply` must say exactly what this says.

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use rustcache::name::is_valid_answer_name;
use rustcache::upstream::{Chain, Mismatch, QType, Reply};

/// How many CNAMEs a chain may have before we stop following it.
const MAX_CHAIN: usize = 16;

fn record_type(qtype: QType) -> RecordType {
    match qtype {
        QType::A => RecordType::A,
        QType::Aaaa => RecordType::AAAA,
        QType::Ptr => RecordType::PTR,
    }
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
        [q] if q.query_type() == record_type(qtype)
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
