//! What every cache hit and every accepted reply must satisfy.

use rustcache::cache::{
    aliases, check, check_sealed, encode_transient, Encoded, Entry, Key, Kind, Layout, Table,
};
use rustcache::name::is_valid_answer_name;
use rustcache::upstream::{Chain, QType};

fn addr_size(qtype: QType) -> usize {
    match qtype {
        QType::A => 4,
        QType::Aaaa => 16,
        QType::Ptr => 0,
    }
}

/// Checks a hit for `key` in `buf` (as `Table::get_into` left it) and
/// returns its entry: names valid, lengths and address count agreeing with
/// the record type and kind.
pub fn check_hit(key: &Key<'_>, buf: &[u8], layout: &Layout) -> Entry {
    assert_eq!(layout.qtype, key.qtype(), "hit of another record type");
    assert!(layout.used() <= buf.len());
    let view = layout.view(buf);
    assert!(
        view.key.eq_ignore_ascii_case(key.name().as_bytes()),
        "hit stored under another name: {:?}",
        String::from_utf8_lossy(view.key)
    );
    assert!(
        view.canonical.is_empty() || is_valid_answer_name(view.canonical),
        "invalid canonical name {:?}",
        view.canonical
    );
    let mut packed = 0;
    for alias in aliases(view.aliases) {
        assert!(is_valid_answer_name(alias), "invalid alias {alias:?}");
        packed += 1 + alias.len();
    }
    assert_eq!(packed, view.aliases.len(), "alias bytes not all aliases");
    // Address count as stored (entry bytes 58..60, see src/cache/entry.rs).
    let count = usize::from(u16::from_le_bytes([buf[58], buf[59]]));
    let size = addr_size(layout.qtype);
    if size == 0 {
        assert_eq!(count, 0, "PTR entry with an address count");
        assert!(view.addrs.is_empty());
    } else {
        assert_eq!(view.addrs.len(), count * size, "address bytes");
    }
    match layout.kind {
        Kind::Positive if layout.qtype == QType::Ptr => {
            assert!(!view.canonical.is_empty(), "PTR entry without target")
        }
        Kind::Positive => assert!(count > 0, "positive entry without addresses"),
        Kind::NxDomain | Kind::NoData => assert_eq!(count, 0, "negative entry with addresses"),
    }
    let entry = view.to_entry(layout);
    assert_eq!(entry.kind, layout.kind);
    assert!(entry.canonical.is_empty() || is_valid_answer_name(&entry.canonical));
    assert!(entry.aliases.iter().all(|a| is_valid_answer_name(a)));
    let (v4, v6) = match layout.qtype {
        QType::A => (count, 0),
        QType::Aaaa => (0, count),
        QType::Ptr => (0, 0),
    };
    assert_eq!((entry.v4.len(), entry.v6.len()), (v4, v6));
    entry
}

/// A decoded entry, sealed again by `table`, checks and decodes to itself
/// (what serve-stale does when it rewrites an entry).
pub fn check_round_trip(table: &Table<'_>, key: &Key<'_>, entry: &Entry) {
    let sealed = table.seal(key, entry).expect("a decoded entry encodes");
    let layout = sealed_checks(&sealed, key, table.seed(), table.generation())
        .expect("a decoded entry, encoded again, checks");
    let again = layout.view(sealed.bytes()).to_entry(&layout);
    assert_eq!(normal(key, &again), normal(key, entry), "round trip");
    // New times, sealed again in place (a stale entry served again).
    let mut sealed = sealed;
    let (expires, retry) = (entry.expires_ms ^ 1, entry.retry_after_ms.wrapping_add(1));
    sealed.set_times(expires, retry, table.seed());
    let layout = sealed_checks(&sealed, key, table.seed(), table.generation())
        .expect("an entry with new times checks");
    let mut want = normal(key, entry);
    (want.expires_ms, want.retry_after_ms) = (expires, retry);
    let got = layout.view(sealed.bytes()).to_entry(&layout);
    assert_eq!(normal(key, &got), want, "new times");
}

/// `entry` with a canonical name equal to the key (ignoring case) spelled
/// as the stored key: the encoding keeps only the key then.
pub fn normal(key: &Key<'_>, entry: &Entry) -> Entry {
    let mut e = entry.clone();
    if key.qtype() != QType::Ptr && e.canonical.eq_ignore_ascii_case(key.name()) {
        e.canonical = key.name().to_ascii_lowercase();
    }
    e
}

/// Checks a chain decoded for `qname`/`qtype` (a valid name, as callers
/// pass): names valid, data of the asked type only, at most 16 CNAMEs, and
/// storable: the entry the resolver makes of it encodes, checks and decodes
/// back to itself.
pub fn check_chain(chain: &Chain, qname: &str, qtype: QType) {
    assert!(
        is_valid_answer_name(&chain.canonical),
        "invalid canonical {:?}",
        chain.canonical
    );
    for name in chain.aliases.iter().chain(&chain.names) {
        assert!(is_valid_answer_name(name), "invalid name {name:?}");
    }
    assert!(chain.aliases.len() <= 16, "{} aliases", chain.aliases.len());
    let (v4, v6, names) = (
        !chain.v4.is_empty(),
        !chain.v6.is_empty(),
        !chain.names.is_empty(),
    );
    match qtype {
        QType::A => assert!(!v6 && !names),
        QType::Aaaa => assert!(!v4 && !names),
        QType::Ptr => assert!(!v4 && !v6),
    }
    if chain.is_empty() {
        return;
    }
    assert_eq!(chain.negative_ttl, None, "negative TTL with data");
    // As `positive_entry` in src/resolve/question.rs.
    let entry = Entry {
        kind: Kind::Positive,
        ttl: chain.ttl,
        stored_ms: 1,
        expires_ms: 1 + u64::from(chain.ttl) * 1000,
        retry_after_ms: 0,
        canonical: match qtype {
            QType::Ptr => chain.names.first().cloned().unwrap_or_default(),
            _ => chain.canonical.clone(),
        },
        aliases: chain.aliases.clone(),
        v4: chain.v4.clone(),
        v6: chain.v6.clone(),
    };
    let key = Key::new(qname, qtype);
    let sealed = encode_transient(&key, &entry).expect("an accepted answer encodes");
    let layout =
        sealed_checks(&sealed, &key, 0, 0).expect("an accepted answer checks once encoded");
    let back = layout.view(sealed.bytes()).to_entry(&layout);
    assert_eq!(
        normal(&key, &back),
        normal(&key, &entry),
        "answer round trip"
    );
}

/// Sealed bytes checked both ways: as a reader of the shared file checks
/// them (key hash and checksum computed again), and as a lookup serving its
/// own fresh answer does (taken as written); the two must agree.
fn sealed_checks(sealed: &Encoded, key: &Key<'_>, seed: u64, generation: u64) -> Option<Layout> {
    let full = check(sealed.bytes(), key, key.hash(seed), seed, generation);
    assert_eq!(
        full,
        check_sealed(sealed, key, generation),
        "sealed bytes check alike"
    );
    full
}
