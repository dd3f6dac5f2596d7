//! `_dl_find_object` for the statically linked unwinder (see `build.rs`).
//!
//! GCC 12's `libgcc_eh.a` finds the unwind tables of a program counter
//! with glibc 2.35's `_dl_find_object`. Amazon Linux 2023 has glibc 2.34,
//! so the module defines its own: the same answer, found with
//! `dl_iterate_phdr` (in glibc since 2.2.5). The symbol is hidden: it binds
//! the unwinder inside this module and nothing else, is never exported,
//! and never shadows glibc's for the host. It runs only while a panic
//! unwinds, which is never in normal operation. With an older GCC whose
//! unwinder does not call it, the linker drops it.

use libc::{c_int, c_void, dl_phdr_info, size_t, PT_GNU_EH_FRAME, PT_LOAD};

/// `struct dl_find_object` from glibc's `<dlfcn.h>` on x86_64 and aarch64
/// (neither has the `dlfo_eh_dbase` member).
#[repr(C)]
pub struct DlFindObject {
    flags: u64,
    map_start: *mut c_void,
    map_end: *mut c_void,
    link_map: *mut c_void,
    eh_frame: *mut c_void,
    reserved: [u64; 7],
}

// The unwinder's reference to `_dl_find_object` binds to this hidden alias
// of `find_object` at link time (a definition in the output beats the
// shared library's), so the module needs no GLIBC_2.35 symbol.
core::arch::global_asm!(
    ".globl _dl_find_object",
    ".hidden _dl_find_object",
    ".type _dl_find_object, %function",
    ".set _dl_find_object, {find}",
    find = sym find_object,
);

/// What the search over the loaded objects looks for and finds.
struct Search {
    pc: usize,
    found: Option<DlFindObject>,
}

/// `_dl_find_object(pc, result)`: 0 and `*result` filled if `pc` lies in a
/// loaded object, -1 otherwise.
///
/// # Safety
/// `result` is valid for writes (the unwinder passes its own struct).
unsafe extern "C" fn find_object(pc: *mut c_void, result: *mut DlFindObject) -> c_int {
    let mut search = Search {
        pc: pc as usize,
        found: None,
    };
    // SAFETY: the callback only reads the headers glibc passes it and
    // writes through `data`, which points at `search` for this call.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&raw mut search).cast()) };
    match search.found {
        Some(object) if !result.is_null() => {
            // SAFETY: non-NULL, and valid for writes per the contract.
            unsafe { result.write(object) };
            0
        }
        _ => -1,
    }
}

/// One loaded object: does it hold the PC, and where is its
/// `PT_GNU_EH_FRAME` (the `.eh_frame_hdr` the unwinder searches)?
unsafe extern "C" fn visit(info: *mut dl_phdr_info, _size: size_t, data: *mut c_void) -> c_int {
    // SAFETY: glibc passes a valid `dl_phdr_info` whose `dlpi_phdr` points
    // at `dlpi_phnum` program headers, and `data` is our `Search`.
    let (info, search) = unsafe { (&*info, &mut *data.cast::<Search>()) };
    if info.dlpi_phdr.is_null() {
        return 0;
    }
    // SAFETY: see above.
    let headers =
        unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
    let base = info.dlpi_addr as usize;
    let (mut start, mut end, mut holds_pc, mut eh_frame) = (usize::MAX, 0usize, false, None);
    for header in headers {
        let from = base.wrapping_add(header.p_vaddr as usize);
        match header.p_type {
            PT_LOAD => {
                let to = from.wrapping_add(header.p_memsz as usize);
                holds_pc |= (from..to).contains(&search.pc);
                start = start.min(from);
                end = end.max(to);
            }
            PT_GNU_EH_FRAME => eh_frame = Some(from),
            _ => {}
        }
    }
    if !holds_pc {
        return 0;
    }
    search.found = Some(DlFindObject {
        flags: 0,
        map_start: start as *mut c_void,
        map_end: end as *mut c_void,
        link_map: std::ptr::null_mut(),
        eh_frame: eh_frame.map_or(std::ptr::null_mut(), |a| a as *mut c_void),
        reserved: [0; 7],
    });
    1
}
