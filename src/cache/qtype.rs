//! The record types rustcache asks for. Their numbers are part of the
//! cache file (a byte of every entry and of every key's hash), which is
//! why the type lives beside the file's layout and not with the wire code.

/// The record types rustcache asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QType {
    /// IPv4 addresses.
    A,
    /// IPv6 addresses.
    Aaaa,
    /// Reverse lookups.
    Ptr,
}

impl QType {
    /// The type's number on the wire (also its byte in a cache entry).
    pub fn code(self) -> u16 {
        match self {
            QType::A => 1,
            QType::Aaaa => 28,
            QType::Ptr => 12,
        }
    }

    /// The type with wire number `code`, if rustcache asks for it.
    pub fn from_code(code: u16) -> Option<QType> {
        [QType::A, QType::Aaaa, QType::Ptr]
            .into_iter()
            .find(|q| q.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_wire_numbers_and_round_trip() {
        assert_eq!(
            [QType::A.code(), QType::Aaaa.code(), QType::Ptr.code()],
            [1, 28, 12]
        );
        for q in [QType::A, QType::Aaaa, QType::Ptr] {
            assert_eq!(QType::from_code(q.code()), Some(q));
            // An entry stores the code in one byte.
            assert!(q.code() <= 0xff);
        }
        assert_eq!(QType::from_code(5), None);
    }
}
