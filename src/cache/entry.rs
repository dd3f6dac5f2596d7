//! One cached answer and its encoding in a slot's data words.
//!
//! ```text
//! byte 0   key hash          u64   (seeded hash of qtype and lower-case name)
//!      8   generation        u64
//!     16   stored at         u64   boot-clock ms
//!     24   expires at        u64   boot-clock ms
//!     32   retry after       u64   boot-clock ms: while the upstream fails,
//!                                  a stale answer is served without asking
//!     40   checksum          u64   seeded, over every other byte in use
//!     48   ttl u32, kind u8, qtype u8, key length u8, canonical length u8
//!     56   alias bytes u16, address count u16, reserved u32
//!     64   key, canonical name, aliases (each: length u8, bytes), addresses
//! ```
//!
//! Decoding trusts nothing: every length is checked against the slot, the
//! checksum must match, names must be host names, and the kind, type and
//! address count must agree. Anything else is a miss.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::layout::DATA_WORDS;
use crate::name::is_valid_answer_name;
use crate::upstream::QType;

/// Bytes of entry data in a slot.
pub const DATA_BYTES: usize = DATA_WORDS * 8;
const FIXED: usize = 64;

/// What an entry says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The name has records of this type.
    Positive,
    /// The name does not exist.
    NxDomain,
    /// The name exists without records of this type.
    NoData,
}

impl Kind {
    fn code(self) -> u8 {
        match self {
            Kind::Positive => 1,
            Kind::NxDomain => 2,
            Kind::NoData => 3,
        }
    }

    fn from_code(code: u8) -> Option<Kind> {
        match code {
            1 => Some(Kind::Positive),
            2 => Some(Kind::NxDomain),
            3 => Some(Kind::NoData),
            _ => None,
        }
    }
}

fn qtype_code(q: QType) -> u8 {
    match q {
        QType::A => 1,
        QType::Aaaa => 28,
        QType::Ptr => 12,
    }
}

fn qtype_from_code(code: u8) -> Option<QType> {
    match code {
        1 => Some(QType::A),
        28 => Some(QType::Aaaa),
        12 => Some(QType::Ptr),
        _ => None,
    }
}

/// A cache key: the question, with the name in lower case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    /// Lower-case name without trailing dot.
    pub name: String,
    /// Record type.
    pub qtype: QType,
}

impl Key {
    /// The key for `name` (any case) and `qtype`.
    pub fn new(name: &str, qtype: QType) -> Key {
        Key {
            name: name.to_ascii_lowercase(),
            qtype,
        }
    }

    /// The seeded hash of this key, never 0 (0 marks an empty slot).
    pub fn hash(&self, seed: u64) -> u64 {
        let mut h = Fnv::new(seed);
        h.write(&[qtype_code(self.qtype)]);
        h.write(self.name.as_bytes());
        h.finish().max(1)
    }
}

/// One cached answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// What it says.
    pub kind: Kind,
    /// TTL in seconds as stored (already clamped by the policy).
    pub ttl: u32,
    /// Boot-clock ms when it was fetched.
    pub stored_ms: u64,
    /// Boot-clock ms when it expires.
    pub expires_ms: u64,
    /// Boot-clock ms before which a failing upstream is not asked again.
    pub retry_after_ms: u64,
    /// Canonical name (A/AAAA), or the PTR target.
    pub canonical: String,
    /// CNAME owners that led to the canonical name.
    pub aliases: Vec<String>,
    /// A records.
    pub v4: Vec<Ipv4Addr>,
    /// AAAA records.
    pub v6: Vec<Ipv6Addr>,
}

/// A 64-bit FNV-1a, seeded: small, fast on short names, and enough to
/// spread keys and catch torn or garbage data (not a cryptographic MAC:
/// the writers are trusted as far as the file owner is).
struct Fnv(u64);

impl Fnv {
    fn new(seed: u64) -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325 ^ seed)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        // Final avalanche so nearby inputs land in distant windows.
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x
    }
}

/// Writes `value` at `at`; false if it does not fit.
fn put(buf: &mut [u8], at: &mut usize, value: &[u8]) -> bool {
    match buf.get_mut(*at..*at + value.len()) {
        Some(dst) => {
            dst.copy_from_slice(value);
            *at += value.len();
            true
        }
        None => false,
    }
}

/// Encodes `entry` under `key` into slot data words. `None` if it does not
/// fit in a slot (the answer is then simply not cached).
pub fn encode(entry: &Entry, key: &Key, seed: u64, generation: u64) -> Option<[u64; DATA_WORDS]> {
    let mut buf = [0u8; DATA_BYTES];
    let key_len = u8::try_from(key.name.len()).ok()?;
    let canon_len = u8::try_from(entry.canonical.len()).ok()?;
    let addr_count = match key.qtype {
        QType::A => entry.v4.len(),
        QType::Aaaa => entry.v6.len(),
        QType::Ptr => 0,
    };
    let mut at = FIXED;
    let mut ok = put(&mut buf, &mut at, key.name.as_bytes())
        && put(&mut buf, &mut at, entry.canonical.as_bytes());
    let aliases_start = at;
    for alias in &entry.aliases {
        let len = u8::try_from(alias.len()).ok()?;
        ok = ok && put(&mut buf, &mut at, &[len]) && put(&mut buf, &mut at, alias.as_bytes());
    }
    let alias_bytes = u16::try_from(at - aliases_start).ok()?;
    match key.qtype {
        QType::A => {
            for a in &entry.v4 {
                ok = ok && put(&mut buf, &mut at, &a.octets());
            }
        }
        QType::Aaaa => {
            for a in &entry.v6 {
                ok = ok && put(&mut buf, &mut at, &a.octets());
            }
        }
        QType::Ptr => {}
    }
    if !ok {
        return None;
    }
    let end = at;
    let mut head = 0;
    put(&mut buf, &mut head, &key.hash(seed).to_le_bytes());
    put(&mut buf, &mut head, &generation.to_le_bytes());
    put(&mut buf, &mut head, &entry.stored_ms.to_le_bytes());
    put(&mut buf, &mut head, &entry.expires_ms.to_le_bytes());
    put(&mut buf, &mut head, &entry.retry_after_ms.to_le_bytes());
    let mut meta = 48;
    put(&mut buf, &mut meta, &entry.ttl.to_le_bytes());
    put(
        &mut buf,
        &mut meta,
        &[entry.kind.code(), qtype_code(key.qtype), key_len, canon_len],
    );
    put(&mut buf, &mut meta, &alias_bytes.to_le_bytes());
    put(
        &mut buf,
        &mut meta,
        &u16::try_from(addr_count).ok()?.to_le_bytes(),
    );
    let sum = checksum(&buf, end, seed);
    let mut at_sum = 40;
    put(&mut buf, &mut at_sum, &sum.to_le_bytes());
    Some(to_words(&buf))
}

/// The seeded checksum of everything but the checksum field itself.
fn checksum(buf: &[u8], end: usize, seed: u64) -> u64 {
    let mut h = Fnv::new(seed ^ 0x5eed_0fc4_ec45_0000);
    h.write(buf.get(..40).unwrap_or(&[]));
    h.write(buf.get(48..end).unwrap_or(&[]));
    h.finish()
}

fn to_words(buf: &[u8; DATA_BYTES]) -> [u64; DATA_WORDS] {
    let mut words = [0u64; DATA_WORDS];
    for (word, chunk) in words.iter_mut().zip(buf.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *word = u64::from_le_bytes(b);
    }
    words
}

fn to_bytes(words: &[u64; DATA_WORDS]) -> [u8; DATA_BYTES] {
    let mut buf = [0u8; DATA_BYTES];
    for (chunk, word) in buf.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    buf
}

fn u64_at(buf: &[u8], at: usize) -> Option<u64> {
    let mut b = [0u8; 8];
    b.copy_from_slice(buf.get(at..at + 8)?);
    Some(u64::from_le_bytes(b))
}

fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*buf.get(at)?, *buf.get(at + 1)?]))
}

/// Decodes slot data copied out of the map. `None` unless it is a valid
/// entry for `key` under `generation`.
pub fn decode(
    words: &[u64; DATA_WORDS],
    key: &Key,
    key_hash: u64,
    seed: u64,
    generation: u64,
) -> Option<Entry> {
    let buf = to_bytes(words);
    if u64_at(&buf, 0)? != key_hash || u64_at(&buf, 8)? != generation {
        return None;
    }
    let ttl = u32::from_le_bytes([buf[48], buf[49], buf[50], buf[51]]);
    let kind = Kind::from_code(buf[52])?;
    let qtype = qtype_from_code(buf[53])?;
    let key_len = usize::from(buf[54]);
    let canon_len = usize::from(buf[55]);
    let alias_bytes = usize::from(u16_at(&buf, 56)?);
    let addr_count = usize::from(u16_at(&buf, 58)?);
    let addr_size = match qtype {
        QType::A => 4,
        QType::Aaaa => 16,
        QType::Ptr => 0,
    };
    let end = FIXED
        .checked_add(key_len)?
        .checked_add(canon_len)?
        .checked_add(alias_bytes)?
        .checked_add(addr_count.checked_mul(addr_size)?)?;
    if end > DATA_BYTES || checksum(&buf, end, seed) != u64_at(&buf, 40)? {
        return None;
    }
    if qtype != key.qtype || buf.get(FIXED..FIXED + key_len)? != key.name.as_bytes() {
        return None;
    }
    let mut at = FIXED + key_len;
    let canonical = name_at(&buf, at, canon_len)?;
    at += canon_len;
    let aliases_end = at + alias_bytes;
    let mut aliases = Vec::new();
    while at < aliases_end {
        let len = usize::from(*buf.get(at)?);
        aliases.push(name_at(&buf, at + 1, len)?);
        at += 1 + len;
    }
    if at != aliases_end {
        return None;
    }
    let mut entry = Entry {
        kind,
        ttl,
        stored_ms: u64_at(&buf, 16)?,
        expires_ms: u64_at(&buf, 24)?,
        retry_after_ms: u64_at(&buf, 32)?,
        canonical,
        aliases,
        v4: Vec::new(),
        v6: Vec::new(),
    };
    for i in 0..addr_count {
        let start = at + i * addr_size;
        let bytes = buf.get(start..start + addr_size)?;
        match qtype {
            QType::A => entry
                .v4
                .push(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
            QType::Aaaa => {
                let mut b = [0u8; 16];
                b.copy_from_slice(bytes);
                entry.v6.push(Ipv6Addr::from(b));
            }
            QType::Ptr => {}
        }
    }
    let consistent = match kind {
        Kind::Positive => addr_count > 0 || qtype == QType::Ptr,
        Kind::NxDomain | Kind::NoData => addr_count == 0,
    };
    consistent.then_some(entry)
}

/// A name stored in an entry: must be a valid host name (or empty).
fn name_at(buf: &[u8], at: usize, len: usize) -> Option<String> {
    let text = std::str::from_utf8(buf.get(at..at + len)?).ok()?;
    (text.is_empty() || is_valid_answer_name(text)).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            kind: Kind::Positive,
            ttl: 300,
            stored_ms: 1_000,
            expires_ms: 301_000,
            retry_after_ms: 0,
            canonical: "Host.Example.com".into(),
            aliases: vec!["www.example.com".into(), "web.example.com".into()],
            v4: vec![Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2)],
            v6: vec![],
        }
    }

    #[test]
    fn round_trip() {
        let key = Key::new("WWW.example.com", QType::A);
        let words = encode(&entry(), &key, 42, 7).unwrap();
        let back = decode(&words, &key, key.hash(42), 42, 7).unwrap();
        assert_eq!(back, entry());
    }

    #[test]
    fn another_key_generation_or_seed_is_a_miss() {
        let key = Key::new("www.example.com", QType::A);
        let words = encode(&entry(), &key, 42, 7).unwrap();
        assert!(decode(&words, &key, key.hash(42), 42, 8).is_none());
        let other = Key::new("www.example.org", QType::A);
        assert!(decode(&words, &other, key.hash(42), 42, 7).is_none());
        let aaaa = Key::new("www.example.com", QType::Aaaa);
        assert!(decode(&words, &aaaa, key.hash(42), 42, 7).is_none());
        assert!(decode(&words, &key, key.hash(42), 43, 7).is_none());
    }

    #[test]
    fn every_flipped_bit_is_caught() {
        let key = Key::new("www.example.com", QType::A);
        let words = encode(&entry(), &key, 42, 7).unwrap();
        for word in 0..DATA_WORDS {
            for bit in 0..64 {
                let mut bad = words;
                bad[word] ^= 1 << bit;
                let decoded = decode(&bad, &key, key.hash(42), 42, 7);
                // Bits past the used bytes are not covered, and must not
                // matter either.
                if let Some(e) = decoded {
                    assert_eq!(e, entry(), "word {word} bit {bit}");
                }
            }
        }
    }

    #[test]
    fn garbage_never_decodes() {
        let key = Key::new("www.example.com", QType::A);
        let mut x: u64 = 0x1234_5678;
        for _ in 0..2000 {
            let mut words = [0u64; DATA_WORDS];
            for w in words.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *w = x;
            }
            words[0] = key.hash(42);
            words[1] = 7;
            assert!(decode(&words, &key, key.hash(42), 42, 7).is_none());
        }
    }

    #[test]
    fn too_large_answers_are_not_encoded() {
        let mut e = entry();
        e.v4 = (0..120).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect();
        assert!(encode(&e, &Key::new("a.example", QType::A), 1, 1).is_none());
        e.v4.truncate(80);
        assert!(encode(&e, &Key::new("a.example", QType::A), 1, 1).is_some());
    }

    #[test]
    fn negative_entries_carry_no_addresses() {
        let e = Entry {
            kind: Kind::NxDomain,
            ttl: 60,
            stored_ms: 0,
            expires_ms: 60_000,
            retry_after_ms: 0,
            canonical: String::new(),
            aliases: vec![],
            v4: vec![],
            v6: vec![],
        };
        let key = Key::new("gone.example", QType::Aaaa);
        let words = encode(&e, &key, 5, 1).unwrap();
        assert_eq!(decode(&words, &key, key.hash(5), 5, 1).unwrap(), e);
    }
}
