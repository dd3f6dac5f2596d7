//! `decode_reply` on arbitrary bytes, for fixed questions and for a name,
//! type and ID taken from the input (see `rustcache_fuzz::input`).
//!
//! It must never panic, and it must agree with the reference decoder
//! (`rustcache_fuzz::oracle`, hickory-proto underneath) on every message
//! hickory can decode: the same reply, or the same mismatch. Where hickory
//! finds the message malformed, rustcache may still take it as truncated
//! (a TC reply is retried over TCP whatever follows its question) or read
//! it where hickory is stricter about records it does not use; nothing
//! else. A reply it accepts carries the ID asked for; a
//! failure is not NOERROR or NXDOMAIN; and for a valid question name (the
//! only kind callers pass) an accepted chain passes `check_chain` (names
//! valid, only the asked type, storable in the cache unchanged) and names
//! only the question or names the answer section spells, label for label.

#![no_main]

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RData};
use libfuzzer_sys::fuzz_target;
use rustcache::name::check_host_name;
use rustcache::upstream::{decode_reply, Mismatch, Reply};
use rustcache_fuzz::checks::check_chain;
use rustcache_fuzz::input::reply_case;
use rustcache_fuzz::oracle;

fuzz_target!(|data: &[u8]| {
    let Some(case) = reply_case(data) else {
        return;
    };
    let ours = decode_reply(case.message, case.id, case.name, case.qtype);
    let reference = oracle::decode_reply(case.message, case.id, case.name, case.qtype);
    if reference != Err(Mismatch::Malformed) {
        assert_eq!(ours, reference, "differs from the hickory-based decoder");
    }
    let Ok(reply) = ours else {
        return;
    };
    assert_eq!(
        case.message.get(..2),
        Some(&case.id.to_be_bytes()[..]),
        "accepted with another ID"
    );
    let Reply::Data(chain) = reply else {
        if let Reply::Failure(rcode) = reply {
            assert!(rcode != 0 && rcode != 3, "rcode {rcode} taken as a failure");
        }
        return;
    };
    let valid =
        matches!(check_host_name(case.name.as_bytes()), Ok((body, false)) if body == case.name);
    if !valid {
        return;
    }
    check_chain(&chain, case.name, case.qtype);
    // Where hickory cannot read the message, check_chain alone vets the
    // names.
    let Some(sent) = names_sent(case.message, case.name) else {
        return;
    };
    for name in std::iter::once(&chain.canonical)
        .chain(&chain.aliases)
        .chain(&chain.names)
    {
        assert!(
            sent.contains(name),
            "{name:?} is neither the question nor a name in the answers"
        );
    }
});

/// The question name and the text of every owner, CNAME target and PTR
/// target in the answer section whose labels are UTF-8 without dots;
/// `None` where hickory cannot decode the message.
fn names_sent(message: &[u8], qname: &str) -> Option<Vec<String>> {
    let message = Message::from_vec(message).ok()?;
    let text = |name: &Name| -> Option<String> {
        let labels = name
            .iter()
            .map(|l| std::str::from_utf8(l).ok().filter(|l| !l.contains('.')))
            .collect::<Option<Vec<_>>>()?;
        Some(labels.join("."))
    };
    let mut names = vec![qname.to_owned()];
    for record in &message.answers {
        names.extend(text(&record.name));
        match &record.data {
            RData::CNAME(target) => names.extend(text(&target.0)),
            RData::PTR(target) => names.extend(text(&target.0)),
            _ => {}
        }
    }
    Some(names)
}
