//! The caller buffer handed to a module entry point in a direct call: pre-filled with a
//! sentinel byte and followed by a guard zone, so the probe can tell whether the module
//! wrote anything, wrote past `buflen`, or left pointers outside the buffer. Everything
//! read back from it is bounds-checked; nothing outside it is dereferenced.

/// The byte the buffer (and the guard) is filled with before the call.
pub const SENTINEL: u8 = 0xA5;
/// Bytes after `buflen` that must stay untouched.
const GUARD: usize = 64;

/// A sentinel-filled buffer of `len` bytes starting `misalign` bytes past an 8-byte
/// boundary, with a guard zone after it.
pub struct SentinelBuffer {
    storage: Vec<u64>,
    start: usize,
    len: usize,
}

impl SentinelBuffer {
    /// Allocates and fills the buffer.
    pub fn new(len: usize, misalign: usize) -> Self {
        let total = misalign + len + GUARD;
        SentinelBuffer {
            storage: vec![u64::from_ne_bytes([SENTINEL; 8]); total.div_ceil(8)],
            start: misalign,
            len,
        }
    }

    /// The pointer to pass as `buffer`.
    pub fn as_mut_ptr(&mut self) -> *mut libc::c_char {
        // `start` < 8 + len <= storage size, so the offset stays inside the allocation.
        self.storage
            .as_mut_ptr()
            .cast::<u8>()
            .wrapping_add(self.start)
            .cast()
    }

    /// The `buflen` to pass.
    pub fn len(&self) -> usize {
        self.len
    }

    fn all_bytes(&self) -> &[u8] {
        // SAFETY: the storage is an initialised Vec<u64>; viewing its bytes as u8 is
        // valid for exactly 8 * len bytes, and the borrow ties the slice to `self`.
        unsafe {
            std::slice::from_raw_parts(self.storage.as_ptr().cast::<u8>(), self.storage.len() * 8)
        }
    }

    fn base(&self) -> usize {
        self.storage.as_ptr() as usize + self.start
    }

    /// True when no byte (buffer, padding before it, guard after it) changed.
    pub fn untouched(&self) -> bool {
        self.all_bytes().iter().all(|&b| b == SENTINEL)
    }

    /// True when a byte before the buffer start or in the guard zone changed.
    pub fn overflowed(&self) -> bool {
        let bytes = self.all_bytes();
        let before = bytes.get(..self.start).unwrap_or_default();
        let after = bytes.get(self.start + self.len..).unwrap_or_default();
        before.iter().chain(after).any(|&b| b != SENTINEL)
    }

    /// True when `[addr, addr + n)` lies inside the `buflen` bytes.
    pub fn contains(&self, addr: usize, n: usize) -> bool {
        let base = self.base();
        addr >= base
            && addr
                .checked_add(n)
                .is_some_and(|end| end <= base + self.len)
    }

    /// The `n` bytes at `addr`, when they lie inside the buffer.
    pub fn bytes_at(&self, addr: usize, n: usize) -> Option<&[u8]> {
        if !self.contains(addr, n) {
            return None;
        }
        let off = addr - self.storage.as_ptr() as usize;
        self.all_bytes().get(off..off + n)
    }

    /// The pointer-sized value stored at `addr` (any alignment), when inside.
    pub fn ptr_at(&self, addr: usize) -> Option<usize> {
        let b = self.bytes_at(addr, std::mem::size_of::<usize>())?;
        let mut raw = [0u8; std::mem::size_of::<usize>()];
        raw.copy_from_slice(b);
        Some(usize::from_ne_bytes(raw))
    }

    /// The NUL-terminated string at `addr` (without the NUL), when it starts and ends
    /// inside the buffer.
    pub fn cstr_at(&self, addr: usize) -> Option<&[u8]> {
        if !self.contains(addr, 1) {
            return None;
        }
        let rest = self.base() + self.len - addr;
        let bytes = self.bytes_at(addr, rest)?;
        let nul = bytes.iter().position(|&b| b == 0)?;
        bytes.get(..nul)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_sentinels() {
        let mut b = SentinelBuffer::new(16, 3);
        let p = b.as_mut_ptr() as usize;
        assert_eq!(p % 8, 3);
        assert!(b.untouched());
        assert!(b.contains(p, 16));
        assert!(!b.contains(p, 17));
        assert!(!b.contains(p - 1, 1));
        // SAFETY: p..p+16 is inside the buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(
                c"hi".as_ptr().cast::<u8>(),
                b.as_mut_ptr().cast::<u8>(),
                3,
            );
        }
        assert!(!b.untouched());
        assert!(!b.overflowed());
        assert_eq!(b.cstr_at(p), Some(&b"hi"[..]));
        // SAFETY: the byte just past buflen is in the guard zone of the allocation.
        unsafe { *b.as_mut_ptr().cast::<u8>().add(16) = 0 };
        assert!(b.overflowed());
        assert_eq!(b.cstr_at(p + 3), None, "string running into the guard");
    }
}
