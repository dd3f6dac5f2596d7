//! One cached answer and its encoding in a slot's data bytes.
//!
//! ```text
//! byte 0   key hash          u64   (seeded hash of qtype and lower-case name)
//!      8   generation        u64
//!     16   stored at         u64   boot-clock ms
//!     24   expires at        u64   boot-clock ms
//!     32   retry after       u64   boot-clock ms: while the upstream fails,
//!                                  a stale answer is served without asking
//!     40   checksum          u64   seeded, over every other word in use
//!     48   ttl u32, kind u8, qtype u8, key length u8, canonical length u8
//!     56   alias bytes u16, address count u16, reserved u32
//!     64   key, canonical name, aliases (each: length u8, bytes), addresses
//! ```
//!
//! The canonical name of an A/AAAA entry is left empty when it is the key
//! itself (no CNAME; by far the common case): it is then the name the
//! caller asked for, spelled as the caller did, and there is one name less
//! to check on every hit.
//!
//! All integers little-endian. Checking ([`check`]) trusts nothing: every
//! length is checked against the buffer, the checksum must match, names
//! must be host names, and kind, type and address count must agree; then
//! [`Layout::view`] gives borrowed access without copying or allocating,
//! which is what keeps a cache hit free of `malloc`.
//!
//! An answer too large for a slot is still encoded (into a heap buffer) so
//! that the caller of the lookup that fetched it is served from the same
//! encoding; it is just not stored.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::layout::DATA_WORDS;
use super::qtype::QType;
use crate::name::check_body;

/// Bytes of entry data in a slot.
pub const DATA_BYTES: usize = DATA_WORDS * 8;
/// Bytes before the variable part.
const FIXED: usize = 64;
/// Words before the variable part.
pub const FIXED_WORDS: usize = FIXED / 8;

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

/// A record type's byte in an entry: its wire number (1, 28, 12), which
/// fits.
fn qtype_code(q: QType) -> u8 {
    q.code() as u8
}

fn addr_size(q: QType) -> usize {
    match q {
        QType::A => 4,
        QType::Aaaa => 16,
        QType::Ptr => 0,
    }
}

/// A cache key: the question. Names compare without regard to ASCII case,
/// and are stored in lower case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key<'a> {
    name: &'a str,
    qtype: QType,
    /// The name has no upper-case letter (the usual case): it can be
    /// hashed and compared as it is.
    lower: bool,
    /// The id of the route the name was resolved over (see
    /// `config::Route`), mixed into the hash: the same name under another
    /// configuration is another key. The name is compared on a read, the
    /// scope through the 56-bit hash.
    scope: u64,
}

impl<'a> Key<'a> {
    /// The key for `name` (any case, no trailing dot) and `qtype`.
    pub fn new(name: &'a str, qtype: QType) -> Key<'a> {
        Key::scoped(name, qtype, 0)
    }

    /// The key for `name` and `qtype` resolved over the route `scope`.
    pub fn scoped(name: &'a str, qtype: QType, scope: u64) -> Key<'a> {
        let bytes = name.as_bytes();
        let mut chunks = bytes.chunks_exact(8);
        let lower = chunks.by_ref().all(|c| ascii_lower_mask(word_of(c)) == 0)
            && ascii_lower_mask(word_of(chunks.remainder())) == 0;
        Key {
            name,
            qtype,
            lower,
            scope,
        }
    }

    /// The route id this key is scoped by.
    pub fn scope(&self) -> u64 {
        self.scope
    }

    /// Whether `stored` (a lower-case key) is this key's name.
    pub fn matches(&self, stored: &[u8]) -> bool {
        if self.lower {
            stored == self.name.as_bytes()
        } else {
            eq_folded(stored, self.name.as_bytes())
        }
    }

    /// The name as the caller spelled it.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The record type.
    pub fn qtype(&self) -> QType {
        self.qtype
    }

    /// The seeded hash of this key, never 0 (0 marks an empty slot): the
    /// name's hash in the upper 56 bits, the record type's code in the low
    /// 8. The table places a key by the name's part alone (see
    /// `Table::window`), so a name's A and AAAA entries share one page of
    /// the file and a miss faults in one page, not two.
    pub fn hash(&self, seed: u64) -> u64 {
        let mut h = Mix::new(seed);
        if self.scope != 0 {
            h.word(self.scope);
        }
        let bytes = self.name.as_bytes();
        let fold = |w: u64| if self.lower { w } else { folded(w) };
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            h.word(fold(word_of(chunk)));
        }
        h.word(fold(tail_word(bytes)) ^ bytes.len() as u64);
        (h.finish() & !0xff) | u64::from(qtype_code(self.qtype))
    }
}

/// Whether two names are equal without regard to ASCII case, 8 bytes at a
/// time (the byte-wise `eq_ignore_ascii_case` is a hot spot on hits).
pub fn eq_folded(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut x, mut y) = (a.chunks_exact(8), b.chunks_exact(8));
    (&mut x)
        .zip(&mut y)
        .all(|(p, q)| folded(word_of(p)) == folded(word_of(q)))
        && folded(tail_word(a)) == folded(tail_word(b))
}

/// `w` with ASCII upper-case letters made lower case.
fn folded(w: u64) -> u64 {
    w | ascii_lower_mask(w)
}

/// The last bytes of a name as one word: the last 8 (overlapping the
/// chunks before) when there are that many, else all of them, zero-padded.
fn tail_word(bytes: &[u8]) -> u64 {
    match bytes.len().checked_sub(8) {
        Some(start) => word_of(bytes.get(start..).unwrap_or(&[])),
        None => word_of(bytes),
    }
}

/// Up to 8 bytes as a little-endian word, zero-padded (no call to memcpy
/// for a short name).
fn word_of(bytes: &[u8]) -> u64 {
    if let Ok(full) = <[u8; 8]>::try_from(bytes) {
        return u64::from_le_bytes(full);
    }
    bytes
        .iter()
        .take(8)
        .enumerate()
        .fold(0, |w, (i, &b)| w | (u64::from(b) << (8 * i)))
}

/// For each byte of `w` that is an ASCII upper-case letter, the 0x20 bit
/// that makes it lower case (a branch-free `to_ascii_lowercase` of 8 bytes).
fn ascii_lower_mask(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let high = ONES * 0x80;
    // Per byte: >= 'A' and <= 'Z', bytes below 0x80 only.
    let ge_a = (w | high).wrapping_sub(ONES * b'A' as u64) & high;
    let le_z = (ONES * (b'Z' as u64 + 0x80)).wrapping_sub(w & !high) & high;
    let ascii = !w & high;
    ((ge_a & le_z & ascii) >> 2) & (ONES * 0x20)
}

/// A small word-at-a-time mixer (multiply and xor-shift): fast on short
/// names, spreads keys over windows, and catches torn or garbage data
/// through the checksum. Not a MAC: writers are trusted as far as the
/// file owner is.
struct Mix(u64);

impl Mix {
    fn new(seed: u64) -> Mix {
        Mix(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        self.0 ^= self.0 >> 31;
    }

    fn finish(&self) -> u64 {
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x
    }
}

/// One answer to store (built from an upstream reply).
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

/// An encoded entry: slot-sized on the stack, or larger on the heap.
/// (The size difference is the point: the common case must not allocate.)
#[derive(Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Encoded {
    /// Fits a slot.
    Slot([u8; DATA_BYTES]),
    /// Too large for a slot; served once, not stored.
    Large(Vec<u8>),
}

impl Encoded {
    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Encoded::Slot(b) => b,
            Encoded::Large(v) => v,
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            Encoded::Slot(b) => b,
            Encoded::Large(v) => v,
        }
    }

    /// The slot words to store, if it fits a slot.
    pub fn words(&self) -> Option<[u64; DATA_WORDS]> {
        match self {
            Encoded::Slot(b) => Some(to_words(b)),
            Encoded::Large(_) => None,
        }
    }

    /// Sets the expiry and retry times (a stale entry served again) and
    /// re-seals the checksum.
    pub fn set_times(&mut self, expires_ms: u64, retry_after_ms: u64, seed: u64) {
        let buf = self.bytes_mut();
        put_at(buf, 24, &expires_ms.to_le_bytes());
        put_at(buf, 32, &retry_after_ms.to_le_bytes());
        let end = used_len(buf).unwrap_or(FIXED);
        let sum = checksum(buf, end, seed);
        put_at(buf, 40, &sum.to_le_bytes());
    }
}

fn put_at(buf: &mut [u8], at: usize, value: &[u8]) {
    if let Some(dst) = buf.get_mut(at..at + value.len()) {
        dst.copy_from_slice(value);
    }
}

/// Encodes `entry` under `key`. `None` only if a name is longer than a
/// length byte can say (never for valid host names).
pub fn encode(entry: &Entry, key: &Key<'_>, seed: u64, generation: u64) -> Option<Encoded> {
    let addrs = match key.qtype {
        QType::A => entry.v4.len(),
        QType::Aaaa => entry.v6.len(),
        QType::Ptr => 0,
    };
    let alias_bytes: usize = entry.aliases.iter().map(|a| a.len() + 1).sum();
    let canonical = if key.qtype != QType::Ptr && entry.canonical.eq_ignore_ascii_case(key.name) {
        ""
    } else {
        entry.canonical.as_str()
    };
    let end = FIXED + key.name.len() + canonical.len() + alias_bytes + addrs * addr_size(key.qtype);
    // Written in place: a miss stores two of these, and a heap buffer
    // copied into the slot array cost each an allocation and a copy.
    let mut encoded = if end <= DATA_BYTES {
        Encoded::Slot([0u8; DATA_BYTES])
    } else {
        Encoded::Large(vec![0u8; end])
    };
    let buf = encoded.bytes_mut();
    let name = buf.get_mut(FIXED..FIXED + key.name.len())?;
    name.copy_from_slice(key.name.as_bytes());
    name.make_ascii_lowercase();
    let mut at = FIXED + key.name.len();
    let mut push = |bytes: &[u8]| {
        put_at(buf, at, bytes);
        at += bytes.len();
    };
    push(canonical.as_bytes());
    for alias in &entry.aliases {
        push(&[u8::try_from(alias.len()).ok()?]);
        push(alias.as_bytes());
    }
    match key.qtype {
        QType::A => entry.v4.iter().for_each(|a| push(&a.octets())),
        QType::Aaaa => entry.v6.iter().for_each(|a| push(&a.octets())),
        QType::Ptr => {}
    }
    put_at(buf, 0, &key.hash(seed).to_le_bytes());
    put_at(buf, 8, &generation.to_le_bytes());
    put_at(buf, 16, &entry.stored_ms.to_le_bytes());
    put_at(buf, 24, &entry.expires_ms.to_le_bytes());
    put_at(buf, 32, &entry.retry_after_ms.to_le_bytes());
    put_at(buf, 48, &entry.ttl.to_le_bytes());
    put_at(
        buf,
        52,
        &[
            entry.kind.code(),
            qtype_code(key.qtype),
            u8::try_from(key.name.len()).ok()?,
            u8::try_from(canonical.len()).ok()?,
        ],
    );
    put_at(buf, 56, &u16::try_from(alias_bytes).ok()?.to_le_bytes());
    put_at(buf, 58, &u16::try_from(addrs).ok()?.to_le_bytes());
    let sum = checksum(buf, end, seed);
    put_at(buf, 40, &sum.to_le_bytes());
    Some(encoded)
}

/// The seeded checksum: every 8-byte word up to `end` (rounded up) except
/// the checksum word itself.
fn checksum(buf: &[u8], end: usize, seed: u64) -> u64 {
    let mut sum = Checksum::new(seed);
    for (i, chunk) in buf.chunks_exact(8).take(end.div_ceil(8)).enumerate() {
        sum.word(i, word_of(chunk));
    }
    sum.finish(end)
}

/// The checksum computed word by word, so a reader can fold it into the
/// copy out of the slot instead of making a second pass.
pub struct Checksum(Mix);

impl Checksum {
    /// A checksum under `seed`.
    pub fn new(seed: u64) -> Checksum {
        Checksum(Mix::new(seed ^ 0x5eed_0fc4_ec45_0000))
    }

    /// Adds word `index` (the checksum's own word, 5, is skipped).
    pub fn word(&mut self, index: usize, w: u64) {
        if index != 5 {
            self.0.word(w);
        }
    }

    /// The sum of words `0..end.div_ceil(8)`, for an entry `end` bytes long.
    pub fn finish(mut self, end: usize) -> u64 {
        self.0.word(end as u64);
        self.0.finish()
    }
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

/// Slot words as bytes.
#[cfg(test)]
pub fn to_bytes(words: &[u64; DATA_WORDS]) -> [u8; DATA_BYTES] {
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

/// The length of the used part, from the header's lengths (unchecked).
pub fn used_len(buf: &[u8]) -> Option<usize> {
    let qtype = qtype_from_code(*buf.get(53)?)?;
    Some(
        FIXED
            + usize::from(*buf.get(54)?)
            + usize::from(*buf.get(55)?)
            + usize::from(u16_at(buf, 56)?)
            + usize::from(u16_at(buf, 58)?) * addr_size(qtype),
    )
}

fn qtype_from_code(code: u8) -> Option<QType> {
    QType::from_code(u16::from(code))
}

/// Where the parts of a checked entry are (no borrow, so it can leave the
/// loop that found it; small, so moving it costs little).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// What it says.
    pub kind: Kind,
    /// Record type.
    pub qtype: QType,
    /// Stored TTL in seconds.
    pub ttl: u32,
    /// Boot-clock ms when fetched.
    pub stored_ms: u64,
    /// Boot-clock ms when it expires.
    pub expires_ms: u64,
    /// Boot-clock ms before which the upstream is not asked again.
    pub retry_after_ms: u64,
    /// Ends of the key, canonical name, aliases and addresses.
    key_end: u16,
    canonical_end: u16,
    aliases_end: u16,
    end: u16,
}

/// Checks entry bytes for `key` under `generation`, computing their
/// checksum. `None` unless valid. (Tests and fuzzing; lookups fold the
/// checksum into their copy out of the slot and call `check_summed`.)
pub fn check(
    buf: &[u8],
    key: &Key<'_>,
    key_hash: u64,
    seed: u64,
    generation: u64,
) -> Option<Layout> {
    let end = used_len(buf)?;
    let sum = checksum(buf, end.min(buf.len()), seed);
    check_summed(buf, key, key_hash, generation, sum)
}

/// [`check`] with the checksum of the buffer already computed (as
/// `Checksum` over the words the lengths say are used).
pub fn check_summed(
    buf: &[u8],
    key: &Key<'_>,
    key_hash: u64,
    generation: u64,
    sum: u64,
) -> Option<Layout> {
    if u64_at(buf, 0)? != key_hash || u64_at(buf, 8)? != generation {
        return None;
    }
    let kind = Kind::from_code(*buf.get(52)?)?;
    let qtype = qtype_from_code(*buf.get(53)?)?;
    let end = used_len(buf)?;
    if qtype != key.qtype || end > buf.len() || sum != u64_at(buf, 40)? {
        return None;
    }
    let key_end = FIXED + usize::from(*buf.get(54)?);
    // Equal (ignoring case) to the caller's checked name: a valid name.
    if !key.matches(buf.get(FIXED..key_end)?) {
        return None;
    }
    let canonical_end = key_end + usize::from(*buf.get(55)?);
    let aliases_end = canonical_end + usize::from(u16_at(buf, 56)?);
    let canonical = buf.get(key_end..canonical_end)?;
    if !canonical.is_empty() && check_body(canonical).is_err() {
        return None;
    }
    let mut at = canonical_end;
    while at < aliases_end {
        let len = usize::from(*buf.get(at)?);
        if len == 0 || check_body(buf.get(at + 1..at + 1 + len)?).is_err() {
            return None;
        }
        at += 1 + len;
    }
    if at != aliases_end || aliases_end > end {
        return None;
    }
    let has_addrs = aliases_end < end;
    // A PTR entry has no addresses; its count field must say so too (it
    // does not change the layout, but a writer that set it is broken).
    if qtype == QType::Ptr && u16_at(buf, 58)? != 0 {
        return None;
    }
    let consistent = match kind {
        Kind::Positive => has_addrs || (qtype == QType::Ptr && !canonical.is_empty()),
        Kind::NxDomain | Kind::NoData => !has_addrs,
    };
    let short = |n: usize| u16::try_from(n).ok();
    if !consistent {
        return None;
    }
    Some(Layout {
        kind,
        qtype,
        ttl: u32::from_le_bytes([*buf.get(48)?, *buf.get(49)?, *buf.get(50)?, *buf.get(51)?]),
        stored_ms: u64_at(buf, 16)?,
        expires_ms: u64_at(buf, 24)?,
        retry_after_ms: u64_at(buf, 32)?,
        key_end: short(key_end)?,
        canonical_end: short(canonical_end)?,
        aliases_end: short(aliases_end)?,
        end: short(end)?,
    })
}

impl Layout {
    /// The addresses in `buf` (4 or 16 bytes each).
    pub fn addrs<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(usize::from(self.aliases_end)..usize::from(self.end))
            .unwrap_or(&[])
    }

    /// The packed aliases in `buf`.
    pub fn aliases<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(usize::from(self.canonical_end)..usize::from(self.aliases_end))
            .unwrap_or(&[])
    }

    /// Whether the canonical name is the name asked for (stored empty).
    pub fn canonical_is_key(&self) -> bool {
        self.canonical_end == self.key_end
    }

    /// Bytes of the entry in use.
    pub fn used(&self) -> usize {
        usize::from(self.end)
    }

    /// Borrowed access to the entry in `buf` (the buffer it was checked on).
    pub fn view<'a>(&self, buf: &'a [u8]) -> EntryView<'a> {
        let (k, c, a, e) = (
            usize::from(self.key_end),
            usize::from(self.canonical_end),
            usize::from(self.aliases_end),
            usize::from(self.end),
        );
        let part = |from: usize, to: usize| buf.get(from..to).unwrap_or(&[]);
        let as_str = |bytes: &'a [u8]| {
            if bytes.is_ascii() {
                // SAFETY: ASCII bytes are valid UTF-8 (`check` also verified
                // every byte is a host-name character).
                unsafe { std::str::from_utf8_unchecked(bytes) }
            } else {
                ""
            }
        };
        EntryView {
            key: part(FIXED, k),
            canonical: as_str(part(k, c)),
            aliases: part(c, a),
            addrs: part(a, e),
        }
    }
}

/// The variable parts of a checked entry, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct EntryView<'a> {
    /// The key, in lower case (checked equal to a valid name).
    pub key: &'a [u8],
    /// Canonical name (or PTR target); empty for an A/AAAA entry whose
    /// canonical name is the name asked for.
    pub canonical: &'a str,
    /// Aliases, packed: (length, bytes)*, each a checked host name.
    pub aliases: &'a [u8],
    /// Addresses, 4 or 16 bytes each.
    pub addrs: &'a [u8],
}

/// Iterates packed aliases.
pub fn aliases(packed: &[u8]) -> impl Iterator<Item = &str> + Clone {
    let mut rest = packed;
    std::iter::from_fn(move || {
        let (&len, tail) = rest.split_first()?;
        let (name, tail) = tail.split_at_checked(usize::from(len))?;
        rest = tail;
        std::str::from_utf8(name).ok()
    })
}

impl EntryView<'_> {
    /// An owned copy, for tools and for rewriting the entry.
    pub fn to_entry(&self, layout: &Layout) -> Entry {
        let mut entry = Entry {
            kind: layout.kind,
            ttl: layout.ttl,
            stored_ms: layout.stored_ms,
            expires_ms: layout.expires_ms,
            retry_after_ms: layout.retry_after_ms,
            canonical: if self.canonical.is_empty() && layout.kind == Kind::Positive {
                String::from_utf8_lossy(self.key).into_owned()
            } else {
                self.canonical.to_owned()
            },
            aliases: aliases(self.aliases).map(str::to_owned).collect(),
            v4: Vec::new(),
            v6: Vec::new(),
        };
        match layout.qtype {
            QType::A => {
                // try_from, not indexing: chunks_exact's chunks have the
                // length, but the compiler keeps a bounds check (and a panic
                // location, see linkage.rs) per index.
                entry.v4 = self
                    .addrs
                    .chunks_exact(4)
                    .filter_map(|c| <[u8; 4]>::try_from(c).ok().map(Ipv4Addr::from))
                    .collect();
            }
            QType::Aaaa => {
                entry.v6 = self
                    .addrs
                    .chunks_exact(16)
                    .filter_map(|c| <[u8; 16]>::try_from(c).ok().map(Ipv6Addr::from))
                    .collect();
            }
            QType::Ptr => {}
        }
        entry
    }
}

/// Encodes an entry for a caller without a cache file (seed and generation
/// 0): it is served, never stored.
pub fn encode_transient(key: &Key<'_>, entry: &Entry) -> Option<Encoded> {
    encode(entry, key, 0, 0)
}

/// Reads the layout of bytes `encode` just sealed, to serve them the way
/// a hit is served. They never left this process, so their key hash and
/// checksum words are taken as written (not computed again); the rest is
/// checked as a hit's bytes are.
pub fn check_sealed(encoded: &Encoded, key: &Key<'_>, generation: u64) -> Option<Layout> {
    let buf = encoded.bytes();
    check_summed(buf, key, u64_at(buf, 0)?, generation, u64_at(buf, 40)?)
}

/// Decodes slot bytes into an owned entry (tests).
#[cfg(test)]
pub fn decode(buf: &[u8], key: &Key<'_>, seed: u64, generation: u64) -> Option<Entry> {
    let layout = check(buf, key, key.hash(seed), seed, generation)?;
    Some(layout.view(buf).to_entry(&layout))
}

/// Test entries: `kind` with the IPv4 addresses `v4`, a 60 s TTL, stored at
/// boot-clock 0.
#[cfg(test)]
impl Entry {
    pub fn for_tests(kind: Kind, v4: &[Ipv4Addr]) -> Entry {
        Entry {
            kind,
            ttl: 60,
            stored_ms: 0,
            expires_ms: 60_000,
            retry_after_ms: 0,
            canonical: String::new(),
            aliases: vec![],
            v4: v4.to_vec(),
            v6: vec![],
        }
    }
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

    fn slot_bytes(e: &Encoded) -> [u8; DATA_BYTES] {
        match e {
            Encoded::Slot(b) => *b,
            Encoded::Large(_) => panic!("expected a slot-sized entry"),
        }
    }

    #[test]
    fn round_trip_and_case_insensitive_keys() {
        let key = Key::new("WWW.example.com", QType::A);
        let bytes = slot_bytes(&encode(&entry(), &key, 42, 7).unwrap());
        assert_eq!(decode(&bytes, &key, 42, 7).unwrap(), entry());
        let lower = Key::new("www.EXAMPLE.com", QType::A);
        assert_eq!(lower.hash(42), key.hash(42));
        assert_eq!(decode(&bytes, &lower, 42, 7).unwrap(), entry());
    }

    #[test]
    fn case_folding_hash_matches_bytewise_lowercase() {
        for name in [
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ.example",
            "a-b_c.Z9.x",
            "@[`{.ex",
            "Ab",
        ] {
            let lower = name.to_ascii_lowercase();
            assert_eq!(
                Key::new(name, QType::A).hash(3),
                Key::new(&lower, QType::A).hash(3),
                "{name}"
            );
        }
        assert_ne!(
            Key::new("a.example", QType::A).hash(3),
            Key::new("b.example", QType::A).hash(3)
        );
        assert_ne!(
            Key::new("a.example", QType::A).hash(3),
            Key::new("a.example", QType::Aaaa).hash(3)
        );
    }

    #[test]
    fn folded_comparison_matches_eq_ignore_ascii_case() {
        let names = [
            "",
            "a",
            "A",
            "www.Example.COM",
            "www.example.con",
            "0123456789-_.xyz",
            "@[`{",
        ];
        for a in names {
            for b in names {
                assert_eq!(
                    eq_folded(a.as_bytes(), b.as_bytes()),
                    a.eq_ignore_ascii_case(b),
                    "{a} {b}"
                );
            }
        }
        assert!(!eq_folded(b"a\xc1", b"a\xe1"), "only ASCII letters fold");
    }

    #[test]
    fn another_key_generation_or_seed_is_a_miss() {
        let key = Key::new("www.example.com", QType::A);
        let bytes = slot_bytes(&encode(&entry(), &key, 42, 7).unwrap());
        assert!(decode(&bytes, &key, 42, 8).is_none());
        assert!(decode(&bytes, &Key::new("www.example.org", QType::A), 42, 7).is_none());
        assert!(decode(&bytes, &Key::new("www.example.com", QType::Aaaa), 42, 7).is_none());
        assert!(decode(&bytes, &key, 43, 7).is_none());
    }

    #[test]
    fn every_flipped_bit_is_caught() {
        let key = Key::new("www.example.com", QType::A);
        let bytes = slot_bytes(&encode(&entry(), &key, 42, 7).unwrap());
        for byte in 0..DATA_BYTES {
            for bit in 0..8 {
                let mut bad = bytes;
                bad[byte] ^= 1 << bit;
                // Bytes past the used part are not covered, and must not
                // matter either.
                if let Some(e) = decode(&bad, &key, 42, 7) {
                    assert_eq!(e, entry(), "byte {byte} bit {bit}");
                }
            }
        }
    }

    #[test]
    fn garbage_never_decodes() {
        let key = Key::new("www.example.com", QType::A);
        let mut x: u64 = 0x1234_5678;
        for _ in 0..5000 {
            let mut words = [0u64; DATA_WORDS];
            for w in words.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *w = x;
            }
            words[0] = key.hash(42);
            words[1] = 7;
            assert!(decode(&to_bytes(&words), &key, 42, 7).is_none());
        }
    }

    #[test]
    fn large_answers_are_encoded_but_not_storable() {
        let mut e = entry();
        e.v4 = (0..120).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect();
        let key = Key::new("a.example", QType::A);
        let encoded = encode(&e, &key, 1, 1).unwrap();
        assert!(encoded.words().is_none());
        assert_eq!(decode(encoded.bytes(), &key, 1, 1).unwrap(), e);
        e.v4.truncate(80);
        assert!(encode(&e, &key, 1, 1).unwrap().words().is_some());
    }

    #[test]
    fn times_can_be_reset_and_resealed() {
        let key = Key::new("a.example", QType::A);
        let mut encoded = encode(&entry(), &key, 9, 1).unwrap();
        encoded.set_times(5, 6, 9);
        let back = decode(encoded.bytes(), &key, 9, 1).unwrap();
        assert_eq!((back.expires_ms, back.retry_after_ms), (5, 6));
    }

    #[test]
    fn a_ptr_entry_with_an_address_count_is_refused() {
        // Found by the `cache_reader` fuzz target.
        let e = Entry {
            kind: Kind::Positive,
            ttl: 60,
            stored_ms: 0,
            expires_ms: 60_000,
            retry_after_ms: 0,
            canonical: "host.example".into(),
            aliases: vec![],
            v4: vec![],
            v6: vec![],
        };
        let key = Key::new("1.2.0.192.in-addr.arpa", QType::Ptr);
        let mut bytes = slot_bytes(&encode(&e, &key, 5, 1).unwrap());
        assert!(decode(&bytes, &key, 5, 1).is_some());
        bytes[58] = 1;
        let end = used_len(&bytes).unwrap();
        let sum = checksum(&bytes, end, 5).to_le_bytes();
        bytes[40..48].copy_from_slice(&sum);
        assert!(decode(&bytes, &key, 5, 1).is_none());
    }

    #[test]
    fn negative_entries_carry_no_addresses() {
        let e = Entry::for_tests(Kind::NxDomain, &[]);
        let key = Key::new("gone.example", QType::Aaaa);
        let encoded = encode(&e, &key, 5, 1).unwrap();
        assert_eq!(decode(encoded.bytes(), &key, 5, 1).unwrap(), e);
    }
}
