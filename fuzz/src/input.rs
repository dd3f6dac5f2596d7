//! How each target reads its input, and how the seed generator writes one.
//! Missing bytes are zero; extra bytes are ignored.

use rustcache::cache::{HEADER_SIZE, SLOT_SIZE};
use rustcache::upstream::QType;

use crate::samples::{QTYPES, QUESTIONS};

/// The ID `reply` uses when an input asks for a fixed one.
pub const FIXED_ID: u16 = 0x1234;

/// One call of `decode_reply`.
pub struct ReplyCase<'a> {
    /// The query ID expected.
    pub id: u16,
    /// The name asked for (not necessarily a valid host name).
    pub name: &'a str,
    /// The type asked for.
    pub qtype: QType,
    /// The datagram.
    pub message: &'a [u8],
}

fn message_id(message: &[u8]) -> u16 {
    match message {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    }
}

/// `reply`'s input:
///
/// * byte 0 below 0x80: question `QUESTIONS[b0 % 8]`, the rest is the
///   message; the expected ID is [`FIXED_ID`] if bit 0x40 is set, else
///   the message's own (so most inputs get past the ID check).
/// * byte 0 from 0x80: record type `QTYPES[b0 % 3]`, byte 1 the length n
///   of the name that follows (any bytes; UTF-8 or the input is skipped),
///   then the message; the expected ID is the message's own.
pub fn reply_case(data: &[u8]) -> Option<ReplyCase<'_>> {
    let (&b0, rest) = data.split_first()?;
    if b0 < 0x80 {
        let (name, qtype) = QUESTIONS[usize::from(b0) % QUESTIONS.len()];
        let id = if b0 & 0x40 != 0 {
            FIXED_ID
        } else {
            message_id(rest)
        };
        return Some(ReplyCase {
            id,
            name,
            qtype,
            message: rest,
        });
    }
    let (&n, rest) = rest.split_first()?;
    let (name, message) = rest.split_at_checked(usize::from(n))?;
    Some(ReplyCase {
        id: message_id(message),
        name: std::str::from_utf8(name).ok()?,
        qtype: QTYPES[usize::from(b0) % QTYPES.len()],
        message,
    })
}

/// A `reply` input asking fixed question `index` with the message's ID.
pub fn fixed_reply_input(index: usize, message: &[u8]) -> Vec<u8> {
    let mut v = vec![(index % QUESTIONS.len()) as u8];
    v.extend_from_slice(message);
    v
}

/// A `reply` input asking `name` (at most 255 bytes) of type `QTYPES[qtype]`.
pub fn named_reply_input(name: &str, qtype: usize, message: &[u8]) -> Vec<u8> {
    let b0 = (0x80u8..).find(|b| usize::from(*b) % QTYPES.len() == qtype % QTYPES.len());
    let mut v = vec![b0.unwrap_or(0x80), name.len() as u8];
    v.extend_from_slice(name.as_bytes());
    v.extend_from_slice(message);
    v
}

/// Header bytes that come first in a `cache_reader` input: magic, layout
/// version, sizes, slot count, seed and generation.
pub const HEAD: usize = 48;

/// How `cache_reader` uses its input (byte 0).
#[derive(Clone, Copy, Debug)]
pub struct ReaderFlags {
    /// Number of slots, 1 to 8 (bits 0-2, plus one).
    pub slots: usize,
    /// The table may write (bit 3): stores, leases and health updates are
    /// tried too.
    pub writable: bool,
    /// Before reading, each slot gets the key hash and generation it should
    /// have and a matching checksum (bit 4), so the fuzzer reaches the
    /// checks behind them; the slot's `hits` word (a statistic nothing trusts) picks the key
    /// and can opt out of each (see the target).
    pub reseal: bool,
    /// Through a real file: `open_existing` validates the header and maps
    /// it, read-only mappings without write permission (bit 5).
    pub file: bool,
}

/// `cache_reader`'s input: byte 0 the flags, then header bytes 0..48, the
/// slots, and header bytes 48.. (statistics, server health,
/// leases). Returns the flags, the header page and the slots.
pub fn reader_case(data: &[u8]) -> Option<(ReaderFlags, Vec<u8>, Vec<Vec<u8>>)> {
    let (&b0, rest) = data.split_first()?;
    let flags = ReaderFlags {
        slots: usize::from(b0 & 7) + 1,
        writable: b0 & 8 != 0,
        reseal: b0 & 16 != 0,
        file: b0 & 32 != 0,
    };
    let mut header = vec![0u8; HEADER_SIZE];
    let take = |from: &[u8], len: usize| -> Vec<u8> {
        let mut v = from.get(..len.min(from.len())).unwrap_or(&[]).to_vec();
        v.resize(len, 0);
        v
    };
    header[..HEAD].copy_from_slice(&take(rest, HEAD));
    let rest = rest.get(HEAD..).unwrap_or(&[]);
    let slot_bytes = flags.slots * SLOT_SIZE;
    let slots = take(rest, slot_bytes)
        .chunks_exact(SLOT_SIZE)
        .map(<[u8]>::to_vec)
        .collect();
    let tail = rest.get(slot_bytes..).unwrap_or(&[]);
    header[HEAD..].copy_from_slice(&take(tail, HEADER_SIZE - HEAD));
    Some((flags, header, slots))
}

/// A `cache_reader` input from flags and a region image (header page and
/// slots, as `Region::bytes` gives it).
pub fn reader_input(flags: u8, image: &[u8]) -> Vec<u8> {
    let slots = usize::from(flags & 7) + 1;
    let mut v = vec![flags];
    v.extend_from_slice(&image[..HEAD]);
    let body = &image[HEADER_SIZE..];
    let mut slot_bytes = body[..(slots * SLOT_SIZE).min(body.len())].to_vec();
    slot_bytes.resize(slots * SLOT_SIZE, 0);
    v.extend_from_slice(&slot_bytes);
    let tail = &image[HEAD..HEADER_SIZE];
    let used = tail.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    v.extend_from_slice(&tail[..used]);
    v
}

/// One corruption applied by `cache_torn`.
#[derive(Clone, Copy, Debug)]
pub enum Op<'a> {
    /// XOR `mask` into the slots at `offset` (modulo their size).
    XorSlots {
        /// Byte offset from the first slot.
        offset: usize,
        /// Bytes to XOR in.
        mask: &'a [u8],
    },
    /// XOR `mask` into the header page at `offset` (modulo its size).
    XorHeader {
        /// Byte offset in the header.
        offset: usize,
        /// Bytes to XOR in.
        mask: &'a [u8],
    },
    /// Copy data words `from..to` of written entry number `version` over
    /// the same words of slot `slot`, leaving its sequence counter alone:
    /// the mix of two entries a torn write would leave.
    Splice {
        /// Slot index (modulo the slot count).
        slot: u8,
        /// Index into the entries written (modulo their number).
        version: u8,
        /// First data word (modulo the words per slot).
        from: u8,
        /// End data word (modulo the words per slot, plus one).
        to: u8,
    },
}

/// `cache_torn`'s input after its flags byte: operations one after the
/// other. An operation byte `o`: `o % 4` 0 or 1 is [`Op::XorSlots`], 3 is
/// [`Op::XorHeader`] (each followed by offset u16 LE, length u8 and the
/// mask), 2 is [`Op::Splice`] (followed by slot, version, from, to).
pub fn torn_ops(mut data: &[u8]) -> impl Iterator<Item = Op<'_>> {
    std::iter::from_fn(move || {
        let (&o, rest) = data.split_first()?;
        if o % 4 == 2 {
            let [slot, version, from, to] = [0, 1, 2, 3].map(|i| rest.get(i).copied().unwrap_or(0));
            data = rest.get(4..).unwrap_or(&[]);
            return Some(Op::Splice {
                slot,
                version,
                from,
                to,
            });
        }
        let [lo, hi, len] = [0, 1, 2].map(|i| rest.get(i).copied().unwrap_or(0));
        let rest = rest.get(3..).unwrap_or(&[]);
        let (mask, tail) = rest.split_at(usize::from(len).min(rest.len()));
        data = tail;
        let offset = usize::from(u16::from_le_bytes([lo, hi]));
        Some(if o % 4 == 3 {
            Op::XorHeader { offset, mask }
        } else {
            Op::XorSlots { offset, mask }
        })
    })
}

/// Encodes operations as `torn_ops` reads them.
pub fn torn_input(flags: u8, ops: &[Op<'_>]) -> Vec<u8> {
    let mut v = vec![flags];
    for op in ops {
        match *op {
            Op::XorSlots { offset, mask } | Op::XorHeader { offset, mask } => {
                v.push(if matches!(op, Op::XorHeader { .. }) {
                    3
                } else {
                    0
                });
                v.extend_from_slice(&(offset as u16).to_le_bytes());
                v.push(mask.len() as u8);
                v.extend_from_slice(mask);
            }
            Op::Splice {
                slot,
                version,
                from,
                to,
            } => v.extend_from_slice(&[2, slot, version, from, to]),
        }
    }
    v
}
