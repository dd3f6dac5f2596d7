//! `libnss_rustcache.so.2`: the glibc NSS hosts module.
//!
//! This crate is a doorway, not a room: each entry point validates its C
//! arguments, asks the core library ([`rustcache::Resolver`]) for a plain
//! outcome, and packs it into glibc's buffer (see `pack`). The status
//! mapping lives in one place (`status`).
//!
//! Rules for code inside other people's processes: no entry point may
//! unwind into C (every one runs under `catch_unwind`, and a caught panic
//! or allocation failure becomes UNAVAIL so the next source answers),
//! nothing is printed (std's panic handler is replaced by a silent one,
//! `std_entries`), and nothing is written to the caller's buffer, `*pat` or
//! `*result` unless the call succeeds.
//!
//! Enable it with a hosts line such as
//! `hosts: files rustcache [!UNAVAIL=return] dns`.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod other_databases;
mod pack;
mod status;
mod std_entries;
mod unwind;

use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use libc::{c_char, c_int, c_void, hostent, socklen_t};
use rustcache::{Family, Resolver};

use pack::{measure_hostent, measure_tuples, pack_hostent, pack_tuples, GaihAddrtuple, HostEntry};
use status::{report, split, Failure, NssStatus, NSS_STATUS_SUCCESS};

/// Runs an entry point body, turning a panic (or an allocation failure)
/// into UNAVAIL instead of unwinding into C. With std's panic handler
/// replaced (`std_entries`) no hook ever runs; with std's own, its hook is
/// silenced first.
fn guarded(body: impl FnOnce() -> Result<(), Failure>) -> Result<(), Failure> {
    #[cfg(not(std_entries_replaced))]
    {
        static QUIET: std::sync::Once = std::sync::Once::new();
        QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    }
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(Err(Failure::UNAVAILABLE))
}

/// Ends an entry point: SUCCESS sets `h_errno` to NETDB_SUCCESS and leaves
/// errno alone (as glibc's `dns` module does); anything else is reported
/// through both out-parameters.
///
/// # Safety
/// `errnop` and `h_errnop` are NULL or valid for writes.
unsafe fn conclude(
    result: Result<(), Failure>,
    errnop: *mut c_int,
    h_errnop: *mut c_int,
) -> NssStatus {
    match result {
        Ok(()) => {
            if !h_errnop.is_null() {
                // SAFETY: non-NULL and valid per this function's contract.
                unsafe { h_errnop.write(status::NETDB_SUCCESS) };
            }
            NSS_STATUS_SUCCESS
        }
        // SAFETY: forwarded from this function's contract.
        Err(failure) => unsafe { report(failure, errnop, h_errnop) },
    }
}

/// The caller's name as bytes (without its NUL), if any.
///
/// # Safety
/// `name` is NULL or a valid NUL-terminated string.
unsafe fn name_bytes<'a>(name: *const c_char) -> Option<&'a [u8]> {
    if name.is_null() {
        return None;
    }
    // SAFETY: non-NULL and NUL-terminated per glibc's contract.
    Some(unsafe { CStr::from_ptr(name) }.to_bytes())
}

/// getaddrinfo's entry point: all addresses of a name, as a linked list of
/// tuples. `*pat`, when non-NULL on entry, is caller storage for the first
/// tuple.
///
/// # Safety
/// Called by glibc with its documented arguments: `name` a C string, `pat`
/// valid, `buffer` valid for `buflen` bytes, `errnop`/`h_errnop` valid,
/// `ttlp` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn _nss_rustcache_gethostbyname4_r(
    name: *const c_char,
    pat: *mut *mut GaihAddrtuple,
    buffer: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
    h_errnop: *mut c_int,
    ttlp: *mut i32,
) -> NssStatus {
    let result = guarded(|| {
        // SAFETY: glibc passes a C string (or NULL, refused below).
        let name = unsafe { name_bytes(name) }.ok_or(Failure::NOT_FOUND)?;
        if pat.is_null() {
            return Err(Failure::UNAVAILABLE);
        }
        Resolver::global().lookup_host(name, Family::Any, |outcome| {
            let view = split(outcome)?;
            if buffer.is_null() || measure_tuples(buffer, &view) > buflen {
                return Err(Failure::ERANGE);
            }
            // SAFETY: the buffer holds the measured size.
            let head = unsafe { pack_tuples(buffer, &view) };
            // SAFETY: `pat` is valid (checked non-NULL); when `*pat` is
            // non-NULL it is caller storage for one tuple, into which the
            // first one is copied, keeping its link to the rest.
            unsafe {
                if (*pat).is_null() {
                    *pat = head;
                } else {
                    std::ptr::copy_nonoverlapping(head, *pat, 1);
                }
                if !ttlp.is_null() {
                    *ttlp = ttl_i32(view.ttl());
                }
            }
            Ok(())
        })
    });
    // SAFETY: glibc's out-parameters.
    unsafe { conclude(result, errnop, h_errnop) }
}

/// gethostbyname2's entry point with TTL and canonical name: addresses of
/// one family as a `struct hostent`.
///
/// # Safety
/// As for `_nss_rustcache_gethostbyname4_r`; `result` valid, `canonp` NULL
/// or valid.
#[no_mangle]
pub unsafe extern "C" fn _nss_rustcache_gethostbyname3_r(
    name: *const c_char,
    af: c_int,
    result: *mut hostent,
    buffer: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
    h_errnop: *mut c_int,
    ttlp: *mut i32,
    canonp: *mut *mut c_char,
) -> NssStatus {
    let outcome = guarded(|| {
        // SAFETY: glibc passes a C string (or NULL, refused below).
        let name = unsafe { name_bytes(name) }.ok_or(Failure::NOT_FOUND)?;
        let family = match af {
            libc::AF_INET => Family::V4,
            libc::AF_INET6 => Family::V6,
            _ => return Err(Failure::BAD_FAMILY),
        };
        if result.is_null() {
            return Err(Failure::UNAVAILABLE);
        }
        Resolver::global().lookup_host(name, family, |outcome| {
            let view = split(outcome)?;
            let entry = HostEntry {
                name: view.name(),
                aliases: view.aliases(),
                family: af,
                addrs: if af == libc::AF_INET6 {
                    view.v6_bytes()
                } else {
                    view.v4_bytes()
                },
            };
            if buffer.is_null() || measure_hostent(buffer, &entry) > buflen {
                return Err(Failure::ERANGE);
            }
            // SAFETY: the buffer holds the measured size; `result` is valid.
            let h_name = unsafe { pack_hostent(buffer, &entry, result) };
            // SAFETY: NULL-checked optional out-parameters.
            unsafe {
                if !ttlp.is_null() {
                    *ttlp = ttl_i32(view.ttl());
                }
                if !canonp.is_null() {
                    *canonp = h_name;
                }
            }
            Ok(())
        })
    });
    // SAFETY: glibc's out-parameters.
    unsafe { conclude(outcome, errnop, h_errnop) }
}

/// gethostbyname2_r: one family, no TTL or canonical name.
///
/// # Safety
/// As for `_nss_rustcache_gethostbyname3_r`.
#[no_mangle]
pub unsafe extern "C" fn _nss_rustcache_gethostbyname2_r(
    name: *const c_char,
    af: c_int,
    result: *mut hostent,
    buffer: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
    h_errnop: *mut c_int,
) -> NssStatus {
    // SAFETY: same contract, optional pointers NULL.
    unsafe {
        _nss_rustcache_gethostbyname3_r(
            name,
            af,
            result,
            buffer,
            buflen,
            errnop,
            h_errnop,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    }
}

/// gethostbyname_r: IPv4 only, as glibc's `dns` module answers it.
///
/// # Safety
/// As for `_nss_rustcache_gethostbyname3_r`.
#[no_mangle]
pub unsafe extern "C" fn _nss_rustcache_gethostbyname_r(
    name: *const c_char,
    result: *mut hostent,
    buffer: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
    h_errnop: *mut c_int,
) -> NssStatus {
    // SAFETY: same contract, optional pointers NULL.
    unsafe {
        _nss_rustcache_gethostbyname3_r(
            name,
            libc::AF_INET,
            result,
            buffer,
            buflen,
            errnop,
            h_errnop,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    }
}

/// gethostbyaddr's entry point with TTL: the PTR name of an address.
///
/// # Safety
/// `addr` valid for `len` bytes; the rest as for
/// `_nss_rustcache_gethostbyname3_r`.
#[no_mangle]
pub unsafe extern "C" fn _nss_rustcache_gethostbyaddr2_r(
    addr: *const c_void,
    len: socklen_t,
    af: c_int,
    result: *mut hostent,
    buffer: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
    h_errnop: *mut c_int,
    ttlp: *mut i32,
) -> NssStatus {
    let outcome = guarded(|| {
        // SAFETY: glibc passes `len` readable bytes at `addr`.
        let ip = unsafe { read_addr(addr, len, af) }.ok_or(Failure::BAD_FAMILY)?;
        if result.is_null() {
            return Err(Failure::UNAVAILABLE);
        }
        Resolver::global().lookup_addr(ip, |outcome| {
            let ptr = split(outcome)?;
            let (family, v4, v6) = match ptr.addr {
                IpAddr::V4(a) => (libc::AF_INET, a.octets(), [0u8; 16]),
                IpAddr::V6(a) => (libc::AF_INET6, [0u8; 4], a.octets()),
            };
            let entry = HostEntry {
                name: ptr.name,
                aliases: std::iter::empty(),
                family,
                addrs: if family == libc::AF_INET6 {
                    &v6[..]
                } else {
                    &v4[..]
                },
            };
            if buffer.is_null() || measure_hostent(buffer, &entry) > buflen {
                return Err(Failure::ERANGE);
            }
            // SAFETY: the buffer holds the measured size; `result` is valid.
            unsafe { pack_hostent(buffer, &entry, result) };
            if !ttlp.is_null() {
                // SAFETY: NULL-checked optional out-parameter.
                unsafe { *ttlp = ttl_i32(ptr.ttl) };
            }
            Ok(())
        })
    });
    // SAFETY: glibc's out-parameters.
    unsafe { conclude(outcome, errnop, h_errnop) }
}

/// gethostbyaddr_r: no TTL.
///
/// # Safety
/// As for `_nss_rustcache_gethostbyaddr2_r`.
#[no_mangle]
pub unsafe extern "C" fn _nss_rustcache_gethostbyaddr_r(
    addr: *const c_void,
    len: socklen_t,
    af: c_int,
    result: *mut hostent,
    buffer: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
    h_errnop: *mut c_int,
) -> NssStatus {
    // SAFETY: same contract, ttlp NULL.
    unsafe {
        _nss_rustcache_gethostbyaddr2_r(
            addr,
            len,
            af,
            result,
            buffer,
            buflen,
            errnop,
            h_errnop,
            std::ptr::null_mut(),
        )
    }
}

/// Reads an address of family `af` from `len` bytes at `addr`.
///
/// # Safety
/// `addr` is NULL or valid for `len` bytes.
unsafe fn read_addr(addr: *const c_void, len: socklen_t, af: c_int) -> Option<IpAddr> {
    if addr.is_null() {
        return None;
    }
    match (af, len) {
        (libc::AF_INET, 4) => {
            let mut b = [0u8; 4];
            // SAFETY: 4 readable bytes per the caller's contract.
            unsafe { std::ptr::copy_nonoverlapping(addr.cast::<u8>(), b.as_mut_ptr(), 4) };
            Some(IpAddr::V4(Ipv4Addr::from(b)))
        }
        (libc::AF_INET6, 16) => {
            let mut b = [0u8; 16];
            // SAFETY: 16 readable bytes per the caller's contract.
            unsafe { std::ptr::copy_nonoverlapping(addr.cast::<u8>(), b.as_mut_ptr(), 16) };
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

fn ttl_i32(ttl: u32) -> i32 {
    i32::try_from(ttl).unwrap_or(i32::MAX)
}
