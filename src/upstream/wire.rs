//! The DNS wire format (RFC 1035 section 4, RFC 6891 for EDNS0): the few
//! pieces rustcache needs, written here so that the module links no DNS
//! library into every process on the host.
//!
//! Only what a stub resolver uses: a query with one question and an OPT
//! record, and a reader for replies that yields the header, the question
//! and the resource records as views into the datagram. Nothing is copied
//! or allocated by the reader; names stay where they are on the wire
//! ([`NameAt`]) and are compared or turned into text only when used.
//!
//! Every byte is untrusted. Each read is bounds-checked; a compression
//! pointer must point strictly backwards (so following pointers always
//! ends), a name is at most 255 bytes on the wire and its labels at most
//! 63, and a record's data must be exactly as long as its type requires.
//! A reply that breaks any of these is malformed as a whole, as it is for
//! hickory-proto, which the unit tests and the `reply` fuzz target use as
//! an independent oracle.

use std::ops::Range;

/// The size of the fixed header.
pub const HEADER_LEN: usize = 12;
/// IPv4 addresses.
pub const TYPE_A: u16 = 1;
/// An alias: the name's canonical name.
pub const TYPE_CNAME: u16 = 5;
/// Start of authority: the negative TTL of RFC 2308.
pub const TYPE_SOA: u16 = 6;
/// Reverse lookups.
pub const TYPE_PTR: u16 = 12;
/// IPv6 addresses.
pub const TYPE_AAAA: u16 = 28;
/// The EDNS0 pseudo-record.
pub const TYPE_OPT: u16 = 41;
/// The Internet class.
pub const CLASS_IN: u16 = 1;

/// Longest name on the wire, length octets and root label included.
const MAX_WIRE_NAME: usize = 255;
/// Longest label.
const MAX_LABEL: usize = 63;

/// A malformed message (the reason is not needed by callers: any of them
/// means "not a reply we can use").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed;

/// The fixed header of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Query ID.
    pub id: u16,
    /// The flags word (QR, opcode, AA, TC, RD, RA, Z, AD, CD, rcode).
    pub flags: u16,
    /// Entries in the question section.
    pub questions: u16,
    /// Records in the answer section.
    pub answers: u16,
    /// Records in the authority section.
    pub authorities: u16,
    /// Records in the additional section.
    pub additionals: u16,
}

impl Header {
    /// QR: this is a response.
    pub fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }

    /// The opcode (0 for a standard query).
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0x0f) as u8
    }

    /// TC: the reply did not fit.
    pub fn truncated(&self) -> bool {
        self.flags & 0x0200 != 0
    }

    /// The low four bits of the response code (EDNS0 adds eight more).
    pub fn rcode(&self) -> u16 {
        self.flags & 0x000f
    }
}

/// A name inside a message: the offset where it starts. Made only by
/// [`Reader`] after the whole name (pointers included) was checked, so
/// walking it again cannot fail on the same bytes; the walk still checks
/// every access and stops on anything unexpected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameAt(usize);

/// One resource record: owner, type, class, TTL and where its data lies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The owner name.
    pub owner: NameAt,
    /// The record type.
    pub rtype: u16,
    /// The class (for OPT: the sender's UDP payload size).
    pub class: u16,
    /// Time to live (for OPT: extended rcode, version and flags).
    pub ttl: u32,
    /// The RDATA's range in the message.
    pub data: Range<usize>,
}

/// A message being read from the front.
pub struct Reader<'m> {
    message: &'m [u8],
    pos: usize,
}

impl<'m> Reader<'m> {
    /// Starts reading `message`, returning its header.
    pub fn new(message: &'m [u8]) -> Result<(Header, Reader<'m>), Malformed> {
        let mut reader = Reader { message, pos: 0 };
        let header = Header {
            id: reader.u16()?,
            flags: reader.u16()?,
            questions: reader.u16()?,
            answers: reader.u16()?,
            authorities: reader.u16()?,
            additionals: reader.u16()?,
        };
        Ok((header, reader))
    }

    /// Reads one question: name, type, class.
    pub fn question(&mut self) -> Result<(NameAt, u16, u16), Malformed> {
        let name = self.name()?;
        Ok((name, self.u16()?, self.u16()?))
    }

    /// Reads one resource record, checking that its data has the length
    /// and shape its type requires (types rustcache does not use are
    /// skipped whole).
    pub fn record(&mut self) -> Result<Record, Malformed> {
        let owner = self.name()?;
        let rtype = self.u16()?;
        let class = self.u16()?;
        let ttl = self.u32()?;
        let len = usize::from(self.u16()?);
        let start = self.pos;
        let end = start.checked_add(len).ok_or(Malformed)?;
        if end > self.message.len() {
            return Err(Malformed);
        }
        match rtype {
            TYPE_A if len != 4 => return Err(Malformed),
            TYPE_AAAA if len != 16 => return Err(Malformed),
            TYPE_CNAME | TYPE_PTR => {
                self.name()?;
                if self.pos != end {
                    return Err(Malformed);
                }
            }
            TYPE_SOA => {
                self.name()?;
                self.name()?;
                if self.pos.checked_add(20) != Some(end) {
                    return Err(Malformed);
                }
            }
            _ => {}
        }
        self.pos = end;
        Ok(Record {
            owner,
            rtype,
            class,
            ttl,
            data: start..end,
        })
    }

    /// Reads a name at the current position and moves past it (past the
    /// first pointer, if it is compressed).
    fn name(&mut self) -> Result<NameAt, Malformed> {
        let start = self.pos;
        let mut at = start;
        let mut wire_len = 0usize;
        // Where reading continues: after the first pointer, or after the
        // root label when there is none.
        let mut resume = None;
        loop {
            let len = *self.message.get(at).ok_or(Malformed)?;
            match len & 0xc0 {
                0x00 => {
                    let len = usize::from(len);
                    wire_len += 1 + len;
                    if wire_len > MAX_WIRE_NAME {
                        return Err(Malformed);
                    }
                    if len == 0 {
                        self.pos = resume.unwrap_or(at + 1);
                        return Ok(NameAt(start));
                    }
                    if len > MAX_LABEL || at + 1 + len > self.message.len() {
                        return Err(Malformed);
                    }
                    at += 1 + len;
                }
                0xc0 => {
                    let target = pointer_target(self.message, at).ok_or(Malformed)?;
                    resume.get_or_insert(at + 2);
                    at = target;
                }
                // 0x40 and 0x80: extended label types, obsolete (RFC 6891).
                _ => return Err(Malformed),
            }
        }
    }

    fn u16(&mut self) -> Result<u16, Malformed> {
        let bytes = self.message.get(self.pos..self.pos + 2).ok_or(Malformed)?;
        self.pos += 2;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn u32(&mut self) -> Result<u32, Malformed> {
        let bytes = self.message.get(self.pos..self.pos + 4).ok_or(Malformed)?;
        self.pos += 4;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }
}

impl NameAt {
    /// The labels of this name in `message`, in order, without the root.
    pub fn labels(self, message: &[u8]) -> Labels<'_> {
        Labels {
            message,
            at: self.0,
            hops: 0,
        }
    }

    /// Whether this name spells `text` (labels separated by dots, no
    /// trailing dot), ASCII case-insensitively as DNS compares names. A
    /// label that holds a dot spells no text: on the wire it is one label,
    /// in text it would read as two.
    pub fn eq_text(self, message: &[u8], text: &str) -> bool {
        let text = text.as_bytes();
        let mut at = 0;
        for label in self.labels(message) {
            if at > 0 {
                if text.get(at) != Some(&b'.') {
                    return false;
                }
                at += 1;
            }
            match text.get(at..at + label.len()) {
                Some(t) if t.eq_ignore_ascii_case(label) && !label.contains(&b'.') => {
                    at += label.len();
                }
                _ => return false,
            }
        }
        at == text.len()
    }

    /// Whether two names in one message are the same name. Compression
    /// makes the usual case cheap: an owner that points where the question
    /// name starts is that name, with no label compared.
    pub fn eq_name(self, message: &[u8], other: NameAt) -> bool {
        let (a, b) = (self.first_label(message), other.first_label(message));
        if a.is_some() && a == b {
            return true;
        }
        let mut other = other.labels(message);
        for label in self.labels(message) {
            match other.next() {
                Some(o) if o.eq_ignore_ascii_case(label) => {}
                _ => return false,
            }
        }
        other.next().is_none()
    }

    /// Where this name's first label (or its root) lies once the pointers
    /// in front of it are followed; `None` on a walk the reader would not
    /// have let through.
    fn first_label(self, message: &[u8]) -> Option<usize> {
        let mut at = self.0;
        for _ in 0..=MAX_WIRE_NAME {
            if *message.get(at)? & 0xc0 != 0xc0 {
                return Some(at);
            }
            at = pointer_target(message, at)?;
        }
        None
    }

    /// The name as text, labels joined by dots, or `None` if a label holds
    /// a dot (two labels of text from one on the wire: no host name) or a
    /// byte that is not ASCII.
    pub fn text(self, message: &[u8]) -> Option<String> {
        // Spelled on the stack first, so the string is allocated once at
        // its length instead of growing label by label.
        let mut spelled = [0u8; MAX_WIRE_NAME];
        let mut len = 0;
        for label in self.labels(message) {
            if label.contains(&b'.') || !label.is_ascii() {
                return None;
            }
            if len > 0 {
                *spelled.get_mut(len)? = b'.';
                len += 1;
            }
            spelled
                .get_mut(len..len + label.len())?
                .copy_from_slice(label);
            len += label.len();
        }
        // The bytes are ASCII (checked above), so this never fails.
        std::str::from_utf8(spelled.get(..len)?)
            .ok()
            .map(str::to_owned)
    }
}

/// Iterator over a name's labels (see [`NameAt::labels`]).
pub struct Labels<'m> {
    message: &'m [u8],
    at: usize,
    hops: usize,
}

impl<'m> Iterator for Labels<'m> {
    type Item = &'m [u8];

    fn next(&mut self) -> Option<&'m [u8]> {
        // The reader checked this name; the bounds here only keep a walk
        // over bytes it did not check (a bug) from running away.
        while self.hops <= MAX_WIRE_NAME {
            let len = *self.message.get(self.at)?;
            if len & 0xc0 == 0xc0 {
                self.at = pointer_target(self.message, self.at)?;
                self.hops += 1;
                continue;
            }
            if len == 0 || len & 0xc0 != 0 {
                return None;
            }
            let start = self.at + 1;
            let label = self.message.get(start..start + usize::from(len))?;
            self.at = start + usize::from(len);
            self.hops += 1;
            return Some(label);
        }
        None
    }
}

/// Where the compression pointer at `at` points, if it points strictly
/// backwards: every hop then lowers the offset, so a walk always ends.
fn pointer_target(message: &[u8], at: usize) -> Option<usize> {
    let high = *message.get(at)? & 0x3f;
    let low = *message.get(at + 1)?;
    let target = usize::from(u16::from_be_bytes([high, low]));
    (target < at).then_some(target)
}

/// Reads a big-endian `u32` at `offset`.
pub fn u32_at(message: &[u8], offset: usize) -> Option<u32> {
    let bytes = message.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// The name at `offset` in RDATA the reader already checked.
pub fn name_at(offset: usize) -> NameAt {
    NameAt(offset)
}

/// The dot-separated pieces of `name`, as `str::split('.')` gives them
/// (empty ones included), but by a plain byte loop: `str::split` with a
/// `char` goes through a general searcher that cost a miss about 2,000
/// instructions on names this short (callgrind).
fn split_labels(name: &str) -> impl Iterator<Item = &[u8]> {
    name.as_bytes().split(|&b| b == b'.')
}

/// Writes `name` (text, no trailing dot) in wire form at the start of
/// `out` and returns its length. `None` if a label is empty or longer than
/// 63 bytes, or the name longer than 255 bytes on the wire (or than `out`).
pub fn put_name(out: &mut [u8], name: &str) -> Option<usize> {
    let mut at = 0;
    if !name.is_empty() {
        for label in split_labels(name) {
            if label.is_empty() || label.len() > MAX_LABEL {
                return None;
            }
            *out.get_mut(at)? = u8::try_from(label.len()).ok()?;
            out.get_mut(at + 1..at + 1 + label.len())?
                .copy_from_slice(label);
            at += 1 + label.len();
        }
    }
    *out.get_mut(at)? = 0;
    at += 1;
    (at <= MAX_WIRE_NAME).then_some(at)
}

#[cfg(test)]
mod tests {
    //! Hand-made messages for what an encoder would never produce.
    use super::*;

    /// A reply header with one question for `a.b` type A, then `rest`.
    fn reply(counts: [u16; 3], rest: &[u8]) -> Vec<u8> {
        let mut m = vec![0, 1, 0x81, 0x80, 0, 1];
        for c in counts {
            m.extend_from_slice(&c.to_be_bytes());
        }
        m.extend_from_slice(&[1, b'a', 1, b'b', 0, 0, 1, 0, 1]);
        m.extend_from_slice(rest);
        m
    }

    fn records(message: &[u8]) -> Result<Vec<Record>, Malformed> {
        let (header, mut reader) = Reader::new(message)?;
        reader.question()?;
        (0..header.answers).map(|_| reader.record()).collect()
    }

    /// An A record owned by the name at offset 12 (the question's).
    const A_AT_QUESTION: [u8; 16] = [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1];

    #[test]
    fn a_compressed_owner_reads_as_the_name_it_points_at() {
        let m = reply([1, 0, 0], &A_AT_QUESTION);
        let r = records(&m).unwrap();
        assert!(r[0].owner.eq_text(&m, "A.b"));
        assert_eq!(r[0].owner.text(&m).as_deref(), Some("a.b"));
        assert_eq!(&m[r[0].data.clone()], &[192, 0, 2, 1]);
    }

    #[test]
    fn names_compare_equal_by_pointer_or_by_labels_and_only_when_equal() {
        // Record 1: owner a pointer to the question. Record 2: owner `A.B`
        // spelled out (offset 37). Record 3: owner `a.c` (offset 58).
        let mut rest = A_AT_QUESTION.to_vec();
        rest.extend_from_slice(&[1, b'A', 1, b'B', 0]);
        rest.extend_from_slice(&A_AT_QUESTION[2..]);
        rest.extend_from_slice(&[1, b'a', 1, b'c', 0]);
        rest.extend_from_slice(&A_AT_QUESTION[2..]);
        let m = reply([3, 0, 0], &rest);
        let r = records(&m).unwrap();
        let question = NameAt(12);
        assert!(r[0].owner.eq_name(&m, question));
        assert!(r[1].owner.eq_name(&m, question));
        assert!(question.eq_name(&m, r[1].owner));
        assert!(!r[2].owner.eq_name(&m, question));
        assert!(!r[2].owner.eq_name(&m, r[1].owner));
        assert!(r[1].owner.eq_text(&m, "a.b"));
        for other in ["a.c", "a", "a.b.c", "ab", "a.b.", ".a.b", ""] {
            assert!(!r[1].owner.eq_text(&m, other), "{other}");
        }
    }

    #[test]
    fn a_label_holding_a_dot_spells_no_text() {
        // One label `a.b`: not the two labels the text `a.b` names.
        let m = [
            0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'a', b'.', b'b', 0, 0, 1, 0, 1,
        ];
        let (_, mut reader) = Reader::new(&m).unwrap();
        let (name, _, _) = reader.question().unwrap();
        assert!(!name.eq_text(&m, "a.b"));
        assert!(!name.eq_text(&m, "a"));
        assert_eq!(name.text(&m), None);
    }

    #[test]
    fn the_longest_name_reads_as_text() {
        let labels = [
            "a".repeat(61),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(63),
        ];
        let text = labels.join(".");
        let mut m = vec![0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0];
        m.resize(12 + 255, 0);
        assert_eq!(put_name(&mut m[12..], &text), Some(255));
        m.extend_from_slice(&[0, 1, 0, 1]);
        let (_, mut reader) = Reader::new(&m).unwrap();
        let (name, _, _) = reader.question().unwrap();
        assert_eq!(name.text(&m).as_deref(), Some(text.as_str()));
        assert!(name.eq_text(&m, &text.to_ascii_uppercase()));
    }

    #[test]
    fn pointers_forward_or_to_themselves_are_malformed() {
        // A pointer to itself (offset 21) and one past the end.
        for target in [21u8, 60] {
            let mut rr = A_AT_QUESTION;
            rr[1] = target;
            assert_eq!(records(&reply([1, 0, 0], &rr)), Err(Malformed), "{target}");
        }
    }

    #[test]
    fn a_pointer_loop_through_earlier_names_ends() {
        // Record 1's owner is a label then a pointer back to itself.
        let mut rest = vec![1, b'x', 0xc0, 21];
        rest.extend_from_slice(&A_AT_QUESTION[2..]);
        assert_eq!(records(&reply([1, 0, 0], &rest)), Err(Malformed));
    }

    #[test]
    fn names_longer_than_255_bytes_are_malformed() {
        let mut m = vec![0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0];
        for _ in 0..5 {
            m.push(63);
            m.extend_from_slice(&[b'a'; 63]);
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        let (_, mut reader) = Reader::new(&m).unwrap();
        assert_eq!(reader.question(), Err(Malformed));
    }

    #[test]
    fn record_data_of_the_wrong_length_is_malformed() {
        let mut rr = A_AT_QUESTION.to_vec();
        rr[11] = 3;
        rr.pop();
        assert_eq!(records(&reply([1, 0, 0], &rr)), Err(Malformed));
        // A CNAME whose name ends before its data does.
        let cname = [0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 3, 0xc0, 12, 0];
        assert_eq!(records(&reply([1, 0, 0], &cname)), Err(Malformed));
    }

    #[test]
    fn more_records_than_the_message_holds_is_malformed() {
        assert_eq!(records(&reply([2, 0, 0], &A_AT_QUESTION)), Err(Malformed));
    }

    #[test]
    fn extended_label_types_are_malformed() {
        let mut rr = A_AT_QUESTION;
        rr[0] = 0x40;
        assert_eq!(records(&reply([1, 0, 0], &rr)), Err(Malformed));
    }

    #[test]
    fn labels_with_dots_or_other_bytes_have_no_text() {
        let m = [3, b'a', b'.', b'b', 1, 0xff, 0];
        assert_eq!(NameAt(0).text(&m), None);
        assert_eq!(NameAt(4).text(&m), None);
        assert_eq!(NameAt(6).text(&m).as_deref(), Some(""));
    }

    #[test]
    fn names_are_written_as_labels_and_refused_when_they_cannot_be() {
        let mut out = [0xaa; 300];
        assert_eq!(put_name(&mut out, "ab.c"), Some(6));
        assert_eq!(out[..7], [2, b'a', b'b', 1, b'c', 0, 0xaa]);
        assert_eq!(put_name(&mut out, ""), Some(1));
        assert_eq!(put_name(&mut out, "a..b"), None);
        assert_eq!(put_name(&mut out, &"x".repeat(64)), None);
        let long = vec!["a".repeat(63); 4].join(".");
        assert_eq!(put_name(&mut out, &long), None);
        // 253 bytes of text: 255 on the wire, the most there may be.
        let longest = [
            &*"a".repeat(61),
            &"b".repeat(63),
            &"c".repeat(63),
            &"d".repeat(63),
        ]
        .join(".");
        assert_eq!(put_name(&mut out, &longest), Some(255));
        assert_eq!(put_name(&mut out[..254], &longest), None);
    }
}
