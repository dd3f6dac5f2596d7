//! Packing answers into the caller's buffer, glibc's way.
//!
//! Every entry point first measures the exact number of bytes its answer
//! needs (alignment padding included), returns ERANGE before writing a
//! byte if the buffer is smaller, then fills the buffer front to back and
//! checks it used exactly what it measured. Pointer arrays are 8-byte
//! aligned (the buffer itself may not be) and NULL-terminated; strings are
//! NUL-terminated copies. Answers are packed straight from the borrowed
//! views the core hands out: nothing is allocated.

use std::mem::{align_of, size_of};
use std::ptr;

use libc::{c_char, c_int, hostent};
use rustcache::HostView;

/// `struct gaih_addrtuple` from glibc's `<nss.h>` (40 bytes on LP64).
#[repr(C)]
pub struct GaihAddrtuple {
    pub next: *mut GaihAddrtuple,
    pub name: *mut c_char,
    pub family: c_int,
    pub addr: [u32; 4],
    pub scopeid: u32,
}

const PTR_SIZE: usize = size_of::<*mut c_char>();
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

    /// Copies `bytes` (and a NUL if `nul`); returns where they went.
    ///
    /// # Safety
    /// `bytes.len() + nul` bytes at the current position are in the buffer.
    unsafe fn copy(&mut self, bytes: &[u8], nul: bool) -> *mut u8 {
        let at = self.take(bytes.len() + usize::from(nul), 1);
        // SAFETY: `at` has room (caller's contract); the source is a live
        // slice that cannot overlap the caller's buffer.
        unsafe {
            ptr::copy_nonoverlapping(bytes.as_ptr(), at, bytes.len());
            if nul {
                at.add(bytes.len()).write(0);
            }
        }
        at
    }
}

/// Bytes `pack_tuples` needs at `buffer`.
pub fn measure_tuples(buffer: *mut c_char, view: &HostView<'_>) -> usize {
    let count = view.v4_count() + view.v6_count();
    padding(buffer as usize, TUPLE_ALIGN) + count * TUPLE_SIZE + view.name().len() + 1
}

/// Writes the tuple list of `view` into the buffer and returns its head:
/// IPv4 first, then IPv6, like glibc's `dns` module. Every tuple's `name`
/// is the canonical name (glibc uses the first one for AI_CANONNAME).
///
/// # Safety
/// `buffer` is valid for writes of `measure_tuples(buffer, view)` bytes,
/// and the view has at least one address.
pub unsafe fn pack_tuples(buffer: *mut c_char, view: &HostView<'_>) -> *mut GaihAddrtuple {
    let count = view.v4_count() + view.v6_count();
    let mut arena = Arena::new(buffer);
    // Pass 1: the tuple array.
    let tuples = arena
        .take(count * TUPLE_SIZE, TUPLE_ALIGN)
        .cast::<GaihAddrtuple>();
    // Pass 2: the name they all share.
    // SAFETY: measured by measure_tuples, which the caller checked.
    let name = unsafe { arena.copy(view.name().as_bytes(), true) }.cast::<c_char>();
    // Pass 3: the tuples themselves, linked in order.
    let v4 = view.v4_bytes().chunks_exact(4).map(|a| (libc::AF_INET, a));
    let v6 = view
        .v6_bytes()
        .chunks_exact(16)
        .map(|a| (libc::AF_INET6, a));
    for (i, (family, bytes)) in v4.chain(v6).enumerate() {
        let mut words = [0u32; 4];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(4)) {
            // The address in network byte order in memory, as in_addr.
            *word = u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
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
    debug_assert_eq!(arena.used, measure_tuples(buffer, view));
    tuples
}

/// What a `struct hostent` is made of.
pub struct HostEntry<'a, A> {
    pub name: &'a str,
    pub aliases: A,
    /// AF_INET or AF_INET6.
    pub family: c_int,
    /// The addresses, 4 or 16 bytes each according to `family`.
    pub addrs: &'a [u8],
}

impl<'a, A: Iterator<Item = &'a str> + Clone> HostEntry<'a, A> {
    fn addr_len(&self) -> usize {
        if self.family == libc::AF_INET6 {
            16
        } else {
            4
        }
    }

    fn addr_count(&self) -> usize {
        self.addrs.len() / self.addr_len()
    }
}

/// Bytes `pack_hostent` needs at `buffer`.
pub fn measure_hostent<'a, A>(buffer: *mut c_char, entry: &HostEntry<'a, A>) -> usize
where
    A: Iterator<Item = &'a str> + Clone,
{
    let (alias_count, alias_bytes) = entry
        .aliases
        .clone()
        .fold((0, 0), |(n, b), a| (n + 1, b + a.len() + 1));
    padding(buffer as usize, PTR_ALIGN)
        + (alias_count + 1) * PTR_SIZE
        + (entry.addr_count() + 1) * PTR_SIZE
        + entry.addr_count() * entry.addr_len()
        + entry.name.len()
        + 1
        + alias_bytes
}

/// Fills `result` with pointers into the buffer. Returns `h_name`.
///
/// # Safety
/// `buffer` is valid for writes of `measure_hostent(buffer, entry)` bytes
/// and `result` points to a writable `struct hostent`.
pub unsafe fn pack_hostent<'a, A>(
    buffer: *mut c_char,
    entry: &HostEntry<'a, A>,
    result: *mut hostent,
) -> *mut c_char
where
    A: Iterator<Item = &'a str> + Clone,
{
    let mut arena = Arena::new(buffer);
    let alias_count = entry.aliases.clone().count();
    let addr_count = entry.addr_count();
    // Pass 1: the two pointer arrays (aligned).
    let aliases = arena
        .take((alias_count + 1) * PTR_SIZE, PTR_ALIGN)
        .cast::<*mut c_char>();
    let addr_list = arena
        .take((addr_count + 1) * PTR_SIZE, PTR_ALIGN)
        .cast::<*mut c_char>();
    // Pass 2: the address bytes, each pointed to from the list.
    for (i, bytes) in entry
        .addrs
        .chunks_exact(entry.addr_len())
        .take(addr_count)
        .enumerate()
    {
        // SAFETY: measured; `i` is inside the list of addr_count + 1.
        unsafe {
            let at = arena.copy(bytes, false);
            addr_list.add(i).write(at.cast());
        }
    }
    // SAFETY: the list has addr_count + 1 slots.
    unsafe { addr_list.add(addr_count).write(ptr::null_mut()) };
    // Pass 3: the strings.
    // SAFETY: measured, as for every string below.
    let name = unsafe { arena.copy(entry.name.as_bytes(), true) }.cast::<c_char>();
    for (i, alias) in entry.aliases.clone().enumerate() {
        // SAFETY: measured; `i` is inside the alias array.
        unsafe {
            let s = arena.copy(alias.as_bytes(), true);
            aliases.add(i).write(s.cast());
        }
    }
    // SAFETY: the alias array has alias_count + 1 slots.
    unsafe { aliases.add(alias_count).write(ptr::null_mut()) };
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

    const ALIASES: &[u8] = b"\x0bwww.example";
    const V4: &[u8] = &[192, 0, 2, 1];
    const V6: &[u8] = &[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

    fn view() -> HostView<'static> {
        HostView::from_parts("host.example", ALIASES, V4, V6, 60)
    }

    #[test]
    fn tuples_fill_exactly_what_was_measured_at_any_alignment() {
        let v = view();
        let mut storage = vec![0u8; 512];
        for offset in 0..8 {
            let buffer = storage[offset..].as_mut_ptr().cast::<c_char>();
            let size = measure_tuples(buffer, &v);
            assert!(size <= 512 - offset);
            // SAFETY: the buffer has `size` bytes from `buffer`.
            let head = unsafe { pack_tuples(buffer, &v) };
            assert_eq!(head as usize % 8, 0);
            // SAFETY: head was just written and points into storage.
            unsafe {
                let first = &*head;
                assert_eq!(first.family, libc::AF_INET);
                assert_eq!(first.addr[0].to_ne_bytes(), [192, 0, 2, 1]);
                assert_eq!(CStr::from_ptr(first.name).to_str().unwrap(), "host.example");
                let second = &*first.next;
                assert_eq!(second.family, libc::AF_INET6);
                assert_eq!(second.addr[3].to_ne_bytes(), [0, 0, 0, 1]);
                assert!(second.next.is_null());
            }
        }
    }

    #[test]
    fn hostent_arrays_are_aligned_and_terminated() {
        let v = view();
        let entry = HostEntry {
            name: v.name(),
            aliases: v.aliases(),
            family: libc::AF_INET,
            addrs: v.v4_bytes(),
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
