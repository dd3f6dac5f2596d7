//! Direct calls into an NSS hosts module's entry points (by default
//! `libnss_rustcache.so.2`, loaded with dlopen), with a caller-chosen buffer length, to
//! check the buffer contract: ERANGE before writing, nothing written on failure,
//! aligned NULL-terminated arrays, every pointer inside the buffer.

use std::collections::HashSet;
use std::ffi::{CStr, CString};
use std::mem::size_of;
use std::net::IpAddr;
use std::os::raw::{c_char, c_int, c_void};
use std::sync::OnceLock;

use super::buffer::{SentinelBuffer, SENTINEL};
use super::names::{addr_text, errno_name, escape, family_name, herr, herr_name, nss_status};
use super::op::{NssCall, NssOpts};

/// Environment variable choosing the module under test (`rustcache` by default;
/// `dns` calls glibc's own `_nss_dns_*`, to check the probe itself).
pub const MODULE_ENV: &str = "RUSTCACHE_PROBE_MODULE";

const ERRNO_SENTINEL: c_int = 0x7e7e_7e7e;
const HERR_SENTINEL: c_int = 0x7e7e_7e7f;
const TTL_SENTINEL: i32 = 0x5a5a_5a5a;
/// nssloop gives up doubling past this many bytes.
const MAX_LOOP_BUFLEN: usize = 1 << 24;

/// `struct gaih_addrtuple` from glibc's nss.h (40 bytes on 64-bit targets).
#[repr(C)]
#[derive(Clone, Copy)]
struct GaihAddrtuple {
    next: *mut GaihAddrtuple,
    name: *mut c_char,
    family: c_int,
    addr: [u32; 4],
    scopeid: u32,
}

const TUPLE_SIZE: usize = size_of::<GaihAddrtuple>();

type ByName4 = unsafe extern "C" fn(
    *const c_char,
    *mut *mut GaihAddrtuple,
    *mut c_char,
    usize,
    *mut c_int,
    *mut c_int,
    *mut i32,
) -> c_int;
type ByName3 = unsafe extern "C" fn(
    *const c_char,
    c_int,
    *mut libc::hostent,
    *mut c_char,
    usize,
    *mut c_int,
    *mut c_int,
    *mut i32,
    *mut *mut c_char,
) -> c_int;
type ByName2 = unsafe extern "C" fn(
    *const c_char,
    c_int,
    *mut libc::hostent,
    *mut c_char,
    usize,
    *mut c_int,
    *mut c_int,
) -> c_int;
type ByName1 = unsafe extern "C" fn(
    *const c_char,
    *mut libc::hostent,
    *mut c_char,
    usize,
    *mut c_int,
    *mut c_int,
) -> c_int;
type ByAddr2 = unsafe extern "C" fn(
    *const c_void,
    libc::socklen_t,
    c_int,
    *mut libc::hostent,
    *mut c_char,
    usize,
    *mut c_int,
    *mut c_int,
    *mut i32,
) -> c_int;
type ByAddr1 = unsafe extern "C" fn(
    *const c_void,
    libc::socklen_t,
    c_int,
    *mut libc::hostent,
    *mut c_char,
    usize,
    *mut c_int,
    *mut c_int,
) -> c_int;

/// The loaded module: its dlopen handle (as an address, to be `Sync`) and its name.
struct Module {
    handle: usize,
    name: String,
}

/// Loads the module once per process.
fn module() -> Result<&'static Module, String> {
    static MODULE: OnceLock<Result<Module, String>> = OnceLock::new();
    MODULE
        .get_or_init(|| {
            let name = std::env::var(MODULE_ENV).unwrap_or_else(|_| "rustcache".to_string());
            let file = format!("libnss_{name}.so.2");
            let cfile = CString::new(file.clone()).map_err(|_| "bad module name".to_string())?;
            // SAFETY: `cfile` is NUL-terminated; dlopen runs the library's constructors,
            // which is what glibc would do too.
            let handle = unsafe { libc::dlopen(cfile.as_ptr(), libc::RTLD_NOW) };
            if handle.is_null() {
                return Err(format!("error dlopen {file}: {}", dl_error()));
            }
            Ok(Module {
                handle: handle as usize,
                name,
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Loads the module without calling it (a lookup would also make the module's
/// process-wide state).
pub fn load() -> Result<(), String> {
    module().map(|_| ())
}

fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string valid until the next dl*
    // call on this thread; we copy it at once.
    unsafe {
        let e = libc::dlerror();
        if e.is_null() {
            "unknown error".to_string()
        } else {
            CStr::from_ptr(e).to_string_lossy().into_owned()
        }
    }
}

/// The address of `_nss_<module>_<function>`.
fn symbol(function: &str) -> Result<*mut c_void, String> {
    let m = module()?;
    let sym = format!("_nss_{}_{function}", m.name);
    let csym = CString::new(sym.clone()).map_err(|_| "bad symbol name".to_string())?;
    // SAFETY: the handle came from a successful dlopen and is never closed; `csym` is
    // NUL-terminated.
    let p = unsafe { libc::dlsym(m.handle as *mut c_void, csym.as_ptr()) };
    if p.is_null() {
        return Err(format!("error dlsym {sym}: {}", dl_error()));
    }
    Ok(p)
}

/// What one direct call returned.
struct Outcome {
    status: c_int,
    errno: c_int,
    herr: c_int,
    /// The rest of the line (after `status= errno= herr= ttl=`).
    text: String,
    ttl: String,
}

impl Outcome {
    fn line(&self) -> String {
        format!(
            "status={} errno={} herr={} ttl={} {}",
            super::names::status_name(self.status),
            if self.errno == ERRNO_SENTINEL {
                "unset".to_string()
            } else {
                errno_name(self.errno)
            },
            if self.herr == HERR_SENTINEL {
                "unset".to_string()
            } else {
                herr_name(self.herr)
            },
            self.ttl,
            self.text
        )
    }

    /// glibc grows the buffer exactly when all three say "too small".
    fn wants_bigger_buffer(&self) -> bool {
        self.status == nss_status::TRYAGAIN
            && self.errno == libc::ERANGE
            && self.herr == herr::NETDB_INTERNAL
    }
}

/// One direct call with `buflen` bytes: the probe output line.
pub fn call(call: &NssCall, buflen: usize, opts: NssOpts) -> String {
    match call_once(call, buflen, opts) {
        Ok(o) => o.line(),
        Err(e) => e,
    }
}

/// Calls from buflen 1, doubling while the module asks for more (TRYAGAIN + ERANGE +
/// NETDB_INTERNAL), as glibc does: the final line plus ` calls=N buflen=N`.
pub fn call_loop(call: &NssCall, opts: NssOpts) -> String {
    let mut buflen = 1usize;
    let mut calls = 0u32;
    loop {
        calls += 1;
        let outcome = match call_once(call, buflen, opts) {
            Ok(o) => o,
            Err(e) => return e,
        };
        if outcome.wants_bigger_buffer() && buflen < MAX_LOOP_BUFLEN {
            buflen *= 2;
            continue;
        }
        return format!("{} calls={calls} buflen={buflen}", outcome.line());
    }
}

fn c_name(name: &[u8]) -> Result<CString, String> {
    CString::new(name).map_err(|_| "usage: name contains a NUL byte".to_string())
}

fn ttl_text(null_ttl: bool, ttl: i32) -> String {
    if null_ttl {
        "null".into()
    } else if ttl == TTL_SENTINEL {
        "unset".into()
    } else {
        ttl.to_string()
    }
}

fn call_once(call: &NssCall, buflen: usize, opts: NssOpts) -> Result<Outcome, String> {
    match call {
        NssCall::ByName4 { name, caller_tuple } => by_name4(name, *caller_tuple, buflen, opts),
        _ => hostent_call(call, buflen, opts),
    }
}

/// gethostbyname4_r, with `*pat` NULL or pointing to a caller-owned tuple on entry.
fn by_name4(
    name: &[u8],
    caller_tuple: bool,
    buflen: usize,
    opts: NssOpts,
) -> Result<Outcome, String> {
    let f = symbol("gethostbyname4_r")?;
    // SAFETY: the symbol has the C prototype of gethostbyname4_r from glibc's nss.h
    // (docs/ARCHITECTURE.md, "FFI rules"), which `ByName4` spells out.
    let f: ByName4 = unsafe { std::mem::transmute::<*mut c_void, ByName4>(f) };
    let cname = c_name(name)?;
    let mut buf = SentinelBuffer::new(buflen, opts.misalign);
    // The caller-owned tuple, filled with the sentinel byte; boxed so its address is
    // stable.
    let mut own: Box<[u8; TUPLE_SIZE]> = Box::new([SENTINEL; TUPLE_SIZE]);
    let own_addr = own.as_mut_ptr() as usize;
    let mut pat: *mut GaihAddrtuple = if caller_tuple {
        own.as_mut_ptr().cast()
    } else {
        std::ptr::null_mut()
    };
    let pat_before = pat as usize;
    let (mut errno, mut h, mut ttl) = (ERRNO_SENTINEL, HERR_SENTINEL, TTL_SENTINEL);
    let ttlp: *mut i32 = if opts.null_ttl {
        std::ptr::null_mut()
    } else {
        &mut ttl
    };
    // SAFETY: all pointers are valid for the call: NUL-terminated name, `pat` a live
    // local (pointing to NULL or to `own`, TUPLE_SIZE bytes), `buf` with `buflen` bytes,
    // and live locals for errno, h_errno and ttl (or NULL for ttl).
    let status = unsafe {
        f(
            cname.as_ptr(),
            &mut pat,
            buf.as_mut_ptr(),
            buf.len(),
            &mut errno,
            &mut h,
            ttlp,
        )
    };
    let mut text = String::new();
    if status == nss_status::SUCCESS {
        let mut problems = Problems::default();
        let own_bytes = *own;
        let copied = pat as usize == own_addr && own_bytes.iter().any(|&b| b != SENTINEL);
        let tuples = decode_tuples(&buf, pat as usize, own_addr, &own_bytes, &mut problems);
        text.push_str(&format!(
            "{} overflow={}",
            problems.aligned_field(),
            yes_no(buf.overflowed())
        ));
        if caller_tuple {
            text.push_str(&format!(" copied={}", yes_no(copied)));
        }
        text.push_str(&format!(" tuples={tuples}"));
    } else {
        let untouched =
            buf.untouched() && pat as usize == pat_before && own.iter().all(|&b| b == SENTINEL);
        text.push_str(&format!("untouched={}", yes_no(untouched)));
    }
    Ok(Outcome {
        status,
        errno,
        herr: h,
        text,
        ttl: ttl_text(opts.null_ttl, ttl),
    })
}

/// Walks the tuple list from `first`, reading only from the buffer (and from the
/// caller's own tuple): `name/inet:1.2.3.4,(null)/inet6:::1`.
fn decode_tuples(
    buf: &SentinelBuffer,
    first: usize,
    own_addr: usize,
    own_bytes: &[u8; TUPLE_SIZE],
    problems: &mut Problems,
) -> String {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut cur = first;
    if cur == 0 {
        problems.add("*pat is NULL after SUCCESS");
    }
    while cur != 0 {
        if !seen.insert(cur) || seen.len() > 65536 {
            problems.add("tuple list loops");
            break;
        }
        let bytes: [u8; TUPLE_SIZE] = if cur == own_addr && out.is_empty() {
            *own_bytes
        } else {
            if cur % 8 != 0 {
                problems.add("tuple misaligned");
            }
            match buf.bytes_at(cur, TUPLE_SIZE) {
                Some(b) => {
                    let mut t = [0u8; TUPLE_SIZE];
                    t.copy_from_slice(b);
                    t
                }
                None => {
                    problems.add("tuple outside buffer");
                    break;
                }
            }
        };
        // SAFETY: GaihAddrtuple is repr(C) plain data (raw pointers and integers, any bit
        // pattern is valid) of exactly TUPLE_SIZE bytes; read_unaligned copies it out.
        let t: GaihAddrtuple = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
        let name = if t.name.is_null() {
            "(null)".to_string()
        } else {
            match buf.cstr_at(t.name as usize) {
                Some(n) => escape(n),
                None => {
                    problems.add("tuple name outside buffer");
                    "(outside)".to_string()
                }
            }
        };
        let mut addr_bytes = [0u8; 16];
        for (chunk, word) in addr_bytes.chunks_exact_mut(4).zip(t.addr) {
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
        let addr = match t.family {
            libc::AF_INET => addr_text(libc::AF_INET, &addr_bytes[..4]),
            libc::AF_INET6 => addr_text(libc::AF_INET6, &addr_bytes),
            _ => "?".to_string(),
        };
        let mut entry = format!("{name}/{}:{addr}", family_name(t.family));
        if t.scopeid != 0 {
            entry.push_str(&format!("%{}", t.scopeid));
        }
        out.push(entry);
        cur = t.next as usize;
    }
    out.join(",")
}

/// The hostent-returning entry points (gethostbyname3/2/1_r, gethostbyaddr2/1_r).
fn hostent_call(call: &NssCall, buflen: usize, opts: NssOpts) -> Result<Outcome, String> {
    let mut buf = SentinelBuffer::new(buflen, opts.misalign);
    // SAFETY: hostent is plain data (pointers and ints); the sentinel bit pattern is a
    // valid value that the probe only compares, never dereferences.
    let mut result: libc::hostent =
        unsafe { std::mem::transmute([SENTINEL; size_of::<libc::hostent>()]) };
    let result_before: [u8; size_of::<libc::hostent>()] = [SENTINEL; size_of::<libc::hostent>()];
    let canon_sentinel = usize::from_ne_bytes([SENTINEL; size_of::<usize>()]) as *mut c_char;
    let mut canon: *mut c_char = canon_sentinel;
    let (mut errno, mut h, mut ttl) = (ERRNO_SENTINEL, HERR_SENTINEL, TTL_SENTINEL);
    let ttlp: *mut i32 = if opts.null_ttl {
        std::ptr::null_mut()
    } else {
        &mut ttl
    };
    let canonp: *mut *mut c_char = if opts.null_canon {
        std::ptr::null_mut()
    } else {
        &mut canon
    };
    let bufp = buf.as_mut_ptr();
    let len = buf.len();
    let mut has_canon = false;
    let mut has_ttl = false;
    let status = match call {
        NssCall::ByName4 { .. } => return Err("internal: nss4 is not a hostent call".into()),
        NssCall::ByName3 { name, family } => {
            let cname = c_name(name)?;
            let f = symbol("gethostbyname3_r")?;
            has_canon = true;
            has_ttl = true;
            // SAFETY: the symbol has the C prototype spelled by `ByName3` (nss.h).
            let f: ByName3 = unsafe { std::mem::transmute::<*mut c_void, ByName3>(f) };
            // SAFETY: valid name, live result struct, buffer of `len` bytes, live out
            // parameters (ttl and canon may be NULL by request).
            unsafe {
                f(
                    cname.as_ptr(),
                    family.af(),
                    &mut result,
                    bufp,
                    len,
                    &mut errno,
                    &mut h,
                    ttlp,
                    canonp,
                )
            }
        }
        NssCall::ByName2 { name, family } => {
            let cname = c_name(name)?;
            let f = symbol("gethostbyname2_r")?;
            // SAFETY: the symbol has the C prototype spelled by `ByName2` (nss.h).
            let f: ByName2 = unsafe { std::mem::transmute::<*mut c_void, ByName2>(f) };
            // SAFETY: as for gethostbyname3_r, without ttl and canon.
            unsafe {
                f(
                    cname.as_ptr(),
                    family.af(),
                    &mut result,
                    bufp,
                    len,
                    &mut errno,
                    &mut h,
                )
            }
        }
        NssCall::ByName1 { name } => {
            let cname = c_name(name)?;
            let f = symbol("gethostbyname_r")?;
            // SAFETY: the symbol has the C prototype spelled by `ByName1` (nss.h).
            let f: ByName1 = unsafe { std::mem::transmute::<*mut c_void, ByName1>(f) };
            // SAFETY: as for gethostbyname2_r, without the family.
            unsafe { f(cname.as_ptr(), &mut result, bufp, len, &mut errno, &mut h) }
        }
        NssCall::ByAddr2 { addr } | NssCall::ByAddr { addr } => {
            let (bytes, af) = match addr {
                IpAddr::V4(a) => (a.octets().to_vec(), libc::AF_INET),
                IpAddr::V6(a) => (a.octets().to_vec(), libc::AF_INET6),
            };
            let alen = bytes.len() as libc::socklen_t;
            if matches!(call, NssCall::ByAddr2 { .. }) {
                has_ttl = true;
                let f = symbol("gethostbyaddr2_r")?;
                // SAFETY: the symbol has the C prototype spelled by `ByAddr2` (nss.h).
                let f: ByAddr2 = unsafe { std::mem::transmute::<*mut c_void, ByAddr2>(f) };
                // SAFETY: `bytes` holds `alen` address bytes; the rest as above.
                unsafe {
                    f(
                        bytes.as_ptr().cast(),
                        alen,
                        af,
                        &mut result,
                        bufp,
                        len,
                        &mut errno,
                        &mut h,
                        ttlp,
                    )
                }
            } else {
                let f = symbol("gethostbyaddr_r")?;
                // SAFETY: the symbol has the C prototype spelled by `ByAddr1` (nss.h).
                let f: ByAddr1 = unsafe { std::mem::transmute::<*mut c_void, ByAddr1>(f) };
                // SAFETY: `bytes` holds `alen` address bytes; the rest as above.
                unsafe {
                    f(
                        bytes.as_ptr().cast(),
                        alen,
                        af,
                        &mut result,
                        bufp,
                        len,
                        &mut errno,
                        &mut h,
                    )
                }
            }
        }
    };
    let mut text = String::new();
    if has_canon && !opts.null_canon {
        let c = if canon == canon_sentinel {
            "unset".to_string()
        } else if canon.is_null() {
            "(null)".to_string()
        } else {
            match buf.cstr_at(canon as usize) {
                Some(s) => escape(s),
                None => "(outside)".to_string(),
            }
        };
        text.push_str(&format!("canon={c} "));
    }
    if status == nss_status::SUCCESS {
        let mut problems = Problems::default();
        if has_canon
            && !opts.null_canon
            && !canon.is_null()
            && buf.cstr_at(canon as usize).is_none()
        {
            problems.add("canon outside buffer");
        }
        let decoded = decode_hostent(&buf, &result, &mut problems);
        text.push_str(&format!(
            "{} overflow={} {decoded}",
            problems.aligned_field(),
            yes_no(buf.overflowed())
        ));
    } else {
        // SAFETY: hostent is plain data; viewing its bytes is valid.
        let result_now: [u8; size_of::<libc::hostent>()] = unsafe { std::mem::transmute(result) };
        let untouched = buf.untouched()
            && result_now == result_before
            && (!has_canon || opts.null_canon || canon == canon_sentinel);
        text.push_str(&format!("untouched={}", yes_no(untouched)));
    }
    Ok(Outcome {
        status,
        errno,
        herr: h,
        text,
        ttl: if has_ttl {
            ttl_text(opts.null_ttl, ttl)
        } else {
            "n/a".to_string()
        },
    })
}

/// `name=H aliases=A,B type=inet addrs=X,Y` of a hostent whose pointers must all lie
/// in `buf`; reads nothing outside it.
fn decode_hostent(buf: &SentinelBuffer, h: &libc::hostent, problems: &mut Problems) -> String {
    let name = if h.h_name.is_null() {
        problems.add("h_name NULL");
        "(null)".to_string()
    } else {
        match buf.cstr_at(h.h_name as usize) {
            Some(n) => escape(n),
            None => {
                problems.add("h_name outside buffer");
                "(outside)".to_string()
            }
        }
    };
    let aliases = pointer_array(buf, h.h_aliases as usize, "h_aliases", problems)
        .into_iter()
        .map(|p| match buf.cstr_at(p) {
            Some(s) => escape(s),
            None => {
                problems.add("alias outside buffer");
                "(outside)".to_string()
            }
        })
        .collect::<Vec<_>>();
    let expected_len = match h.h_addrtype {
        libc::AF_INET => 4,
        libc::AF_INET6 => 16,
        _ => 0,
    };
    if h.h_length != expected_len {
        problems.add("h_length does not match h_addrtype");
    }
    let alen = usize::try_from(h.h_length).unwrap_or(0);
    let addrs = pointer_array(buf, h.h_addr_list as usize, "h_addr_list", problems)
        .into_iter()
        .map(|p| match buf.bytes_at(p, alen) {
            Some(b) => addr_text(h.h_addrtype, b),
            None => {
                problems.add("address outside buffer");
                "(outside)".to_string()
            }
        })
        .collect::<Vec<_>>();
    format!(
        "name={name} aliases={} type={} addrs={}",
        aliases.join(","),
        family_name(h.h_addrtype),
        addrs.join(",")
    )
}

/// The entries of a NULL-terminated pointer array at `at`, which must be 8-byte
/// aligned and lie (terminator included) inside the buffer.
fn pointer_array(
    buf: &SentinelBuffer,
    at: usize,
    what: &str,
    problems: &mut Problems,
) -> Vec<usize> {
    let mut entries = Vec::new();
    if at == 0 {
        problems.add(&format!("{what} NULL"));
        return entries;
    }
    if at % 8 != 0 {
        problems.add(&format!("{what} misaligned"));
    }
    let mut slot = at;
    loop {
        match buf.ptr_at(slot) {
            Some(0) => return entries,
            Some(p) => entries.push(p),
            None => {
                problems.add(&format!("{what} not NULL-terminated inside buffer"));
                return entries;
            }
        }
        slot += size_of::<usize>();
    }
}

/// Layout problems found while decoding; the first one is reported.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn add(&mut self, p: &str) {
        self.0.push(p.to_string());
    }

    /// `aligned=yes` or `aligned=no(first problem)` (spaces replaced by `_`).
    fn aligned_field(&self) -> String {
        match self.0.first() {
            None => "aligned=yes".to_string(),
            Some(p) => format!("aligned=no({})", p.replace(' ', "_")),
        }
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}
