//! Packing answers into the caller's buffer, glibc's way.
//!
//! Every entry point first measures the exact number of bytes its answer
//! needs (alignment padding included), returns ERANGE before writing a
//! byte if the buffer is smaller, then fills the buffer front to back and
//! checks it used exactly what it measured. Pointer arrays are 8-byte
//! aligned (the buffer itself may not be) and NULL-terminated; strings are
//! NUL-terminated copies.

use std::mem::{align_of, size_of};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ptr;

use libc::{c_char, c_int, hostent};
use rustcache::HostAnswer;

/// `struct gaih_addrtuple` from glibc's `<nss.h>` (40 bytes on LP64).
#[repr(C)]
pub struct GaihAddrtuple {
    pub next: *mut GaihAddrtuple,
    pub name: *mut c_char,
    pub family: c_int,
    pub addr: [u32; 4],
    pub scopeid: u32,
}

const PTR_ALIGN: usize = align_of::<*mut c_char>();
const TUPLE_SIZE: usize = size_of::<GaihAddrtuple>();
const TUPLE_ALIGN: usize = align_of::<GaihAddrtuple>();

/// Bytes needed to align `addr` up to `align`.
fn padding(addr: usize, align: usize) -> usize {
    (align - addr % align) % align
}

/// The caller's buffer, handed out front to back.
struct Arena {
    base: *mut u8,
    used: usize,
}

impl Arena {
    fn new(buffer: *mut c_char) -> Arena {
        Arena {
            base: buffer.cast(),
            used: 0,
        }
    }

    /// The next `size` bytes at `align`. The caller measured beforehand
    /// that everything it takes fits in the buffer.
    fn take(&mut self, size: usize, align: usize) -> *mut u8 {
        self.used += padding(self.base as usize + self.used, align);
        // wrapping_add: no dereference happens here; the measured size
        // guarantees the result is inside the buffer.
        let at = self.base.wrapping_add(self.used);
        self.used += size;
        at
    }

    /// Copies `text` and a NUL; returns the C string.
    ///
    /// # Safety
    /// `text.len() + 1` bytes at the current position are in the buffer.
    unsafe fn string(&mut self, text: &str) -> *mut c_char {
        let at = self.take(text.len() + 1, 1);
        // SAFETY: `at` has room for len + 1 bytes (caller's contract); the
        // source is a live &str that cannot overlap the caller's buffer.
        unsafe {
            ptr::copy_nonoverlapping(text.as_ptr(), at, text.len());
            at.add(text.len()).write(0);
        }
        at.cast()
    }
}

/// The addresses of an answer in the order they are handed out: IPv4 first
/// (A answers), then IPv6, like glibc's `dns` module.
pub fn addresses(answer: &HostAnswer) -> impl Iterator<Item = IpAddr> + '_ {
    answer
        .v4
        .iter()
        .map(|a| IpAddr::V4(*a))
        .chain(answer.v6.iter().map(|a| IpAddr::V6(*a)))
}

/// Bytes `pack_tuples` needs at `buffer`.
pub fn measure_tuples(buffer: *mut c_char, answer: &HostAnswer) -> usize {
    let count = answer.v4.len() + answer.v6.len();
    padding(buffer as usize, TUPLE_ALIGN) + count * TUPLE_SIZE + answer.name.len() + 1
}

/// Writes the tuple list of `answer` into the buffer and returns its head.
/// Every tuple's `name` is the canonical name (glibc uses the first one for
/// AI_CANONNAME).
///
/// # Safety
/// `buffer` is valid for writes of `measure_tuples(buffer, answer)` bytes,
/// and the answer has at least one address.
pub unsafe fn pack_tuples(buffer: *mut c_char, answer: &HostAnswer) -> *mut GaihAddrtuple {
    let count = answer.v4.len() + answer.v6.len();
    let mut arena = Arena::new(buffer);
    // Pass 1: the tuple array.
    let tuples = arena
        .take(count * TUPLE_SIZE, TUPLE_ALIGN)
        .cast::<GaihAddrtuple>();
    // Pass 2: the name they all share.
    // SAFETY: measured by measure_tuples, which the caller checked.
    let name = unsafe { arena.string(&answer.name) };
    // Pass 3: the tuples themselves, linked in order.
    for (i, addr) in addresses(answer).enumerate() {
        let (family, words) = match addr {
            IpAddr::V4(v4) => (libc::AF_INET, v4_words(v4)),
            IpAddr::V6(v6) => (libc::AF_INET6, v6_words(v6)),
        };
        // SAFETY: i < count, so both tuples are inside the array taken in
        // pass 1, which is aligned for GaihAddrtuple.
        unsafe {
            let next = if i + 1 < count {
                tuples.add(i + 1)
            } else {
                ptr::null_mut()
            };
            tuples.add(i).write(GaihAddrtuple {
                next,
                name,
                family,
                addr: words,
                scopeid: 0,
            });
        }
    }
    debug_assert_eq!(arena.used, measure_tuples(buffer, answer));
    tuples
}

/// The four 32-bit words of `struct gaih_addrtuple.addr` for an IPv4
/// address (network byte order in memory, the rest zero).
fn v4_words(addr: Ipv4Addr) -> [u32; 4] {
    [u32::from_ne_bytes(addr.octets()), 0, 0, 0]
}

fn v6_words(addr: Ipv6Addr) -> [u32; 4] {
    let o = addr.octets();
    let word = |i: usize| u32::from_ne_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
    [word(0), word(4), word(8), word(12)]
}

/// What a `struct hostent` is made of.
pub struct HostEntry<'a> {
    pub name: &'a str,
    pub aliases: &'a [String],
    /// AF_INET or AF_INET6.
    pub family: c_int,
    /// The addresses, all of `family`.
    pub addrs: &'a [IpAddr],
}

impl HostEntry<'_> {
    fn addr_len(&self) -> usize {
        if self.family == libc::AF_INET6 {
            16
        } else {
            4
        }
    }
}

/// Bytes `pack_hostent` needs at `buffer`.
pub fn measure_hostent(buffer: *mut c_char, entry: &HostEntry<'_>) -> usize {
    padding(buffer as usize, PTR_ALIGN)
        + (entry.aliases.len() + 1) * size_of::<*mut c_char>()
        + (entry.addrs.len() + 1) * size_of::<*mut c_char>()
        + entry.addrs.len() * entry.addr_len()
        + entry.name.len()
        + 1
        + entry.aliases.iter().map(|a| a.len() + 1).sum::<usize>()
}

/// Fills `result` with pointers into the buffer. Returns `h_name`.
///
/// # Safety
/// `buffer` is valid for writes of `measure_hostent(buffer, entry)` bytes
/// and `result` points to a writable `struct hostent`.
pub unsafe fn pack_hostent(
    buffer: *mut c_char,
    entry: &HostEntry<'_>,
    result: *mut hostent,
) -> *mut c_char {
    let mut arena = Arena::new(buffer);
    let ptr_size = size_of::<*mut c_char>();
    // Pass 1: the two pointer arrays (aligned).
    let aliases = arena
        .take((entry.aliases.len() + 1) * ptr_size, PTR_ALIGN)
        .cast::<*mut c_char>();
    let addr_list = arena
        .take((entry.addrs.len() + 1) * ptr_size, PTR_ALIGN)
        .cast::<*mut c_char>();
    // Pass 2: the address bytes, each pointed to from the list.
    for (i, addr) in entry.addrs.iter().enumerate() {
        let at = arena.take(entry.addr_len(), 1);
        let bytes: &[u8] = match addr {
            IpAddr::V4(v4) => &v4.octets()[..],
            IpAddr::V6(v6) => &v6.octets()[..],
        };
        // SAFETY: `at` has addr_len bytes reserved and `bytes` is exactly
        // that long for an entry of this family; `i` is inside the list.
        unsafe {
            ptr::copy_nonoverlapping(bytes.as_ptr(), at, bytes.len().min(entry.addr_len()));
            addr_list.add(i).write(at.cast());
        }
    }
    // SAFETY: the list has addrs.len() + 1 slots.
    unsafe { addr_list.add(entry.addrs.len()).write(ptr::null_mut()) };
    // Pass 3: the strings.
    // SAFETY: measured, as for every string below.
    let name = unsafe { arena.string(entry.name) };
    for (i, alias) in entry.aliases.iter().enumerate() {
        // SAFETY: measured; `i` is inside the alias array.
        unsafe {
            let s = arena.string(alias);
            aliases.add(i).write(s);
        }
    }
    // SAFETY: the alias array has aliases.len() + 1 slots.
    unsafe { aliases.add(entry.aliases.len()).write(ptr::null_mut()) };
    debug_assert_eq!(arena.used, measure_hostent(buffer, entry));
    // Pass 4: the caller's struct.
    // SAFETY: `result` is writable per this function's contract.
    unsafe {
        result.write(hostent {
            h_name: name,
            h_aliases: aliases,
            h_addrtype: entry.family,
            h_length: entry.addr_len() as c_int,
            h_addr_list: addr_list,
        });
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn answer() -> HostAnswer {
        HostAnswer {
            name: "host.example".into(),
            aliases: vec!["www.example".into()],
            v4: vec![Ipv4Addr::new(192, 0, 2, 1)],
            v6: vec!["2001:db8::1".parse().unwrap()],
            ttl: 60,
        }
    }

    #[test]
    fn tuples_fill_exactly_what_was_measured_at_any_alignment() {
        let a = answer();
        let mut storage = vec![0u8; 512];
        for offset in 0..8 {
            let buffer = storage[offset..].as_mut_ptr().cast::<c_char>();
            let size = measure_tuples(buffer, &a);
            assert!(size <= 512 - offset);
            // SAFETY: the buffer has `size` bytes from `buffer`.
            let head = unsafe { pack_tuples(buffer, &a) };
            assert_eq!(head as usize % 8, 0);
            // SAFETY: head was just written and points into storage.
            unsafe {
                let first = &*head;
                assert_eq!(first.family, libc::AF_INET);
                assert_eq!(first.addr[0].to_ne_bytes(), [192, 0, 2, 1]);
                assert_eq!(CStr::from_ptr(first.name).to_str().unwrap(), "host.example");
                let second = &*first.next;
                assert_eq!(second.family, libc::AF_INET6);
                assert!(second.next.is_null());
            }
        }
    }

    #[test]
    fn hostent_arrays_are_aligned_and_terminated() {
        let a = answer();
        let addrs: Vec<IpAddr> = a.v4.iter().map(|v| IpAddr::V4(*v)).collect();
        let entry = HostEntry {
            name: &a.name,
            aliases: &a.aliases,
            family: libc::AF_INET,
            addrs: &addrs,
        };
        let mut storage = vec![0u8; 256];
        let buffer = storage[3..].as_mut_ptr().cast::<c_char>();
        assert!(measure_hostent(buffer, &entry) <= 253);
        // SAFETY: zeroed hostent is a valid value to overwrite.
        let mut result: hostent = unsafe { std::mem::zeroed() };
        // SAFETY: measured above; result is a local.
        unsafe { pack_hostent(buffer, &entry, &mut result) };
        assert_eq!(result.h_aliases as usize % 8, 0);
        assert_eq!(result.h_addr_list as usize % 8, 0);
        // SAFETY: pointers were just written into storage.
        unsafe {
            assert_eq!(
                CStr::from_ptr(result.h_name).to_str().unwrap(),
                "host.example"
            );
            assert_eq!(
                CStr::from_ptr(*result.h_aliases).to_str().unwrap(),
                "www.example"
            );
            assert!((*result.h_aliases.add(1)).is_null());
            let addr = std::slice::from_raw_parts((*result.h_addr_list).cast::<u8>(), 4);
            assert_eq!(addr, [192, 0, 2, 1]);
            assert!((*result.h_addr_list.add(1)).is_null());
        }
    }
}
