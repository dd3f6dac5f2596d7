//! Which names are worth a query.
//!
//! A name no host can have is refused as "not found" before any packet is
//! sent: an empty label (`a..b`), a label over 63 bytes, a name over 253
//! bytes, or a byte other than letters, digits, `-` and `_` (glibc 2.36's
//! `dns` module refuses these too). `_` is allowed because real service
//! names use it. The same check vets every name read from an answer or
//! from the shared cache, so it is one tight pass over the bytes.

use std::fmt;

/// Longest name in text form, without the trailing dot (RFC 1035: 255
/// octets on the wire).
pub const MAX_NAME_LEN: usize = 253;
/// Longest label (RFC 1035).
pub const MAX_LABEL_LEN: usize = 63;

/// Why a name was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidName {
    /// Nothing to look up (empty, or only a dot).
    Empty,
    /// Two dots in a row, or a leading dot.
    EmptyLabel,
    /// A label longer than 63 bytes.
    LabelTooLong,
    /// More than 253 bytes.
    NameTooLong,
    /// A byte that no host name contains.
    BadCharacter(u8),
}

impl fmt::Display for InvalidName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidName::Empty => write!(f, "empty name"),
            InvalidName::EmptyLabel => write!(f, "empty label"),
            InvalidName::LabelTooLong => write!(f, "label longer than {MAX_LABEL_LEN} bytes"),
            InvalidName::NameTooLong => write!(f, "name longer than {MAX_NAME_LEN} bytes"),
            InvalidName::BadCharacter(b) => write!(f, "byte 0x{b:02x} in name"),
        }
    }
}

/// Checks a name as the caller gave it (a single trailing dot allowed).
/// Returns the name without its trailing dot and whether it had one.
pub fn check_host_name(name: &[u8]) -> Result<(&str, bool), InvalidName> {
    let (body, absolute) = match name.strip_suffix(b".") {
        Some(body) => (body, true),
        None => (name, false),
    };
    check_body(body)?;
    // SAFETY: check_body accepted only ASCII bytes, which are valid UTF-8.
    let text = unsafe { std::str::from_utf8_unchecked(body) };
    Ok((text, absolute))
}

/// Byte classes for the one-pass check: 0 refused, 1 name byte, 2 dot.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if c.is_ascii_alphanumeric() || c == b'-' || c == b'_' {
            1
        } else if c == b'.' {
            2
        } else {
            0
        };
        b += 1;
    }
    t
};

/// Checks a name without trailing dot: the rules of the module doc.
pub fn check_body(body: &[u8]) -> Result<(), InvalidName> {
    if body.is_empty() {
        return Err(InvalidName::Empty);
    }
    if body.len() > MAX_NAME_LEN {
        return Err(InvalidName::NameTooLong);
    }
    // Position just after the last dot seen; a label is `i - start` long.
    let mut start = 0usize;
    for (i, &b) in body.iter().enumerate() {
        match CLASS[usize::from(b)] {
            1 => {}
            2 => {
                if i == start {
                    return Err(InvalidName::EmptyLabel);
                }
                if i - start > MAX_LABEL_LEN {
                    return Err(InvalidName::LabelTooLong);
                }
                start = i + 1;
            }
            _ => return Err(InvalidName::BadCharacter(b)),
        }
    }
    match body.len() - start {
        0 => Err(InvalidName::EmptyLabel),
        n if n > MAX_LABEL_LEN => Err(InvalidName::LabelTooLong),
        _ => Ok(()),
    }
}

/// Whether a name found in an answer (or in the cache) may be handed to
/// applications: the same rules. glibc likewise drops records whose owner
/// fails `res_hnok`.
pub fn is_valid_answer_name(name: &str) -> bool {
    check_body(name.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass_with_their_case() {
        assert_eq!(
            check_host_name(b"WwW.Example.com"),
            Ok(("WwW.Example.com", false))
        );
        assert_eq!(check_host_name(b"host."), Ok(("host", true)));
        assert_eq!(
            check_host_name(b"_srv._tcp.example"),
            Ok(("_srv._tcp.example", false))
        );
    }

    #[test]
    fn names_no_host_can_have_are_refused() {
        assert_eq!(check_host_name(b""), Err(InvalidName::Empty));
        assert_eq!(check_host_name(b"."), Err(InvalidName::Empty));
        assert_eq!(check_host_name(b"a..b"), Err(InvalidName::EmptyLabel));
        assert_eq!(check_host_name(b".a"), Err(InvalidName::EmptyLabel));
        assert_eq!(check_host_name(b"a.."), Err(InvalidName::EmptyLabel));
        let long_label = format!("{}.example", "a".repeat(64));
        assert_eq!(
            check_host_name(long_label.as_bytes()),
            Err(InvalidName::LabelTooLong)
        );
        let ok_label = format!("{}.example", "a".repeat(63));
        assert!(check_host_name(ok_label.as_bytes()).is_ok());
        let long_name = ["abcdefghi"; 26].join(".");
        assert_eq!(long_name.len(), 259);
        assert_eq!(
            check_host_name(long_name.as_bytes()),
            Err(InvalidName::NameTooLong)
        );
        assert_eq!(
            check_host_name(b"a b.example"),
            Err(InvalidName::BadCharacter(b' '))
        );
        assert_eq!(
            check_host_name(b"a\xc3\xa9"),
            Err(InvalidName::BadCharacter(0xc3))
        );
        assert_eq!(
            check_host_name(b"a/b"),
            Err(InvalidName::BadCharacter(b'/'))
        );
    }
}
