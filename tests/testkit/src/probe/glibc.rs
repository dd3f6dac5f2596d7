//! The probe operations that go through glibc's public resolver API (getaddrinfo,
//! getnameinfo, gethostbyname_r, gethostbyname2_r, gethostbyaddr_r), so NSS
//! configuration, module loading and glibc's own post-processing are all exercised.

use std::ffi::{CStr, CString};
use std::mem::{size_of, zeroed};
use std::net::IpAddr;
use std::os::raw::{c_char, c_int, c_void};

use super::names::{addr_text, eai_name, errno_name, escape, family_name, herr_name};
use super::op::{Family, GaiFlags};

const NI_MAXHOST: usize = 1025;
/// First buffer size for the *_r calls; doubled on ERANGE.
const FIRST_BUFLEN: usize = 64;
/// Give up doubling past this.
const MAX_BUFLEN: usize = 1 << 26;

extern "C" {
    fn gethostbyname_r(
        name: *const c_char,
        ret: *mut libc::hostent,
        buf: *mut c_char,
        buflen: libc::size_t,
        result: *mut *mut libc::hostent,
        h_errnop: *mut c_int,
    ) -> c_int;
    fn gethostbyname2_r(
        name: *const c_char,
        af: c_int,
        ret: *mut libc::hostent,
        buf: *mut c_char,
        buflen: libc::size_t,
        result: *mut *mut libc::hostent,
        h_errnop: *mut c_int,
    ) -> c_int;
    fn gethostbyaddr_r(
        addr: *const c_void,
        len: libc::socklen_t,
        af: c_int,
        ret: *mut libc::hostent,
        buf: *mut c_char,
        buflen: libc::size_t,
        result: *mut *mut libc::hostent,
        h_errnop: *mut c_int,
    ) -> c_int;
}

/// A name argument as a C string; names with a NUL byte cannot be passed to glibc.
fn c_name(name: &[u8]) -> Result<CString, String> {
    CString::new(name).map_err(|_| "usage: name contains a NUL byte".to_string())
}

/// `getaddrinfo(name, NULL, hints)`: `ok [canon=C] addrs=inet:A,inet6:B` or `err EAI_*`.
pub fn gai(name: &[u8], family: Family, flags: GaiFlags) -> String {
    let cname = match c_name(name) {
        Ok(c) => c,
        Err(e) => return e,
    };
    // SAFETY: addrinfo is plain old data; all-zero is the documented "no hints" value.
    let mut hints: libc::addrinfo = unsafe { zeroed() };
    hints.ai_family = family.af();
    hints.ai_socktype = if flags.anysock { 0 } else { libc::SOCK_STREAM };
    let mut ai_flags = 0;
    for (on, bit) in [
        (flags.canon, libc::AI_CANONNAME),
        (flags.addrconfig, libc::AI_ADDRCONFIG),
        (flags.v4mapped, libc::AI_V4MAPPED),
        (flags.all, libc::AI_ALL),
        (flags.numerichost, libc::AI_NUMERICHOST),
    ] {
        if on {
            ai_flags |= bit;
        }
    }
    hints.ai_flags = ai_flags;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: `cname` is NUL-terminated, `hints` is initialised, `res` receives a list
    // that we free below with freeaddrinfo.
    let rc = unsafe { libc::getaddrinfo(cname.as_ptr(), std::ptr::null(), &hints, &mut res) };
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    if rc != 0 {
        return format!("err {}", eai_name(rc, errno));
    }
    let mut out = String::from("ok");
    let mut addrs = Vec::new();
    let mut canon: Option<String> = None;
    let mut cur = res;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getaddrinfo returned and we have not
        // freed it yet.
        let ai = unsafe { &*cur };
        if canon.is_none() && !ai.ai_canonname.is_null() {
            // SAFETY: glibc sets ai_canonname to a NUL-terminated string or NULL.
            let c = unsafe { CStr::from_ptr(ai.ai_canonname) };
            canon = Some(escape(c.to_bytes()));
        }
        let mut text = sockaddr_text(ai.ai_addr, ai.ai_addrlen);
        if flags.anysock {
            text.push('/');
            text.push_str(match ai.ai_socktype {
                libc::SOCK_STREAM => "stream",
                libc::SOCK_DGRAM => "dgram",
                libc::SOCK_RAW => "raw",
                _ => "other",
            });
        }
        addrs.push(text);
        cur = ai.ai_next;
    }
    // SAFETY: `res` came from a successful getaddrinfo and is freed exactly once.
    unsafe { libc::freeaddrinfo(res) };
    if flags.canon {
        out.push_str(&format!(" canon={}", canon.as_deref().unwrap_or("(null)")));
    }
    out.push_str(&format!(" addrs={}", addrs.join(",")));
    out
}

/// `family:address` (with `%scope` for a non-zero IPv6 scope id) of a sockaddr.
fn sockaddr_text(sa: *const libc::sockaddr, len: libc::socklen_t) -> String {
    if sa.is_null() {
        return "(null)".into();
    }
    let len = len as usize;
    // SAFETY: getaddrinfo's ai_addr points to ai_addrlen bytes of a sockaddr of the
    // family its sa_family says; we read only the struct that family implies and only
    // when `len` covers it.
    unsafe {
        match c_int::from((*sa).sa_family) {
            libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
                let sin = &*sa.cast::<libc::sockaddr_in>();
                let o = sin.sin_addr.s_addr.to_ne_bytes();
                format!("inet:{}", addr_text(libc::AF_INET, &o))
            }
            libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
                let sin6 = &*sa.cast::<libc::sockaddr_in6>();
                let mut t = format!(
                    "inet6:{}",
                    addr_text(libc::AF_INET6, &sin6.sin6_addr.s6_addr)
                );
                if sin6.sin6_scope_id != 0 {
                    t.push_str(&format!("%{}", sin6.sin6_scope_id));
                }
                t
            }
            other => format!("{}:?", family_name(other)),
        }
    }
}

/// `getnameinfo(addr, NI_NAMEREQD [| NI_NOFQDN])`: `ok host=H` or `err EAI_*`.
pub fn gni(addr: IpAddr, nofqdn: bool) -> String {
    // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
    let mut ss: libc::sockaddr_storage = unsafe { zeroed() };
    let len = match addr {
        IpAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
            let sin = unsafe {
                &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_addr.s_addr = u32::from_ne_bytes(v4.octets());
            size_of::<libc::sockaddr_in>()
        }
        IpAddr::V6(v6) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in6.
            let sin6 = unsafe {
                &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_addr.s6_addr = v6.octets();
            size_of::<libc::sockaddr_in6>()
        }
    };
    let mut host = vec![0 as c_char; NI_MAXHOST];
    let mut flags = libc::NI_NAMEREQD;
    if nofqdn {
        flags |= libc::NI_NOFQDN;
    }
    // SAFETY: `ss` holds a sockaddr of `len` bytes; `host` has NI_MAXHOST bytes; no
    // service buffer is asked for.
    let rc = unsafe {
        libc::getnameinfo(
            (&ss as *const libc::sockaddr_storage).cast(),
            len as libc::socklen_t,
            host.as_mut_ptr(),
            NI_MAXHOST as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            flags,
        )
    };
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    if rc != 0 {
        return format!("err {}", eai_name(rc, errno));
    }
    // SAFETY: on success getnameinfo wrote a NUL-terminated string into `host`.
    let h = unsafe { CStr::from_ptr(host.as_ptr()) };
    format!("ok host={}", escape(h.to_bytes()))
}

/// Which of the three *_r functions to call.
pub enum HostQuery<'a> {
    /// gethostbyname_r(name)
    Name(&'a [u8]),
    /// gethostbyname2_r(name, af)
    Name2(&'a [u8], Family),
    /// gethostbyaddr_r(addr)
    Addr(IpAddr),
}

/// Calls the chosen *_r function with glibc's ERANGE retry (the buffer doubles from
/// 64 bytes): `ok name=H aliases=A,B type=inet addrs=X,Y`, `herr H_ERRNO` (with
/// ` ret=ERRNO` when the return value is neither 0 nor ERANGE).
pub fn hostent_query(q: &HostQuery<'_>) -> String {
    let cname = match q {
        HostQuery::Name(n) | HostQuery::Name2(n, _) => match c_name(n) {
            Ok(c) => Some(c),
            Err(e) => return e,
        },
        HostQuery::Addr(_) => None,
    };
    let addr_bytes: Vec<u8> = match q {
        HostQuery::Addr(IpAddr::V4(a)) => a.octets().to_vec(),
        HostQuery::Addr(IpAddr::V6(a)) => a.octets().to_vec(),
        _ => Vec::new(),
    };
    let mut buflen = FIRST_BUFLEN;
    loop {
        // u64 storage keeps the buffer 8-byte aligned, as glibc's own buffers are.
        let mut buf = vec![0u64; buflen.div_ceil(8)];
        // SAFETY: hostent is plain old data; all-zero is valid.
        let mut ret: libc::hostent = unsafe { zeroed() };
        let mut result: *mut libc::hostent = std::ptr::null_mut();
        let mut h_errno: c_int = 0;
        let bufp = buf.as_mut_ptr().cast::<c_char>();
        // SAFETY: every pointer is valid for the call: the name is NUL-terminated, the
        // address has `addr_bytes.len()` bytes, `buf` has at least `buflen` bytes, and
        // `ret`, `result`, `h_errno` are live locals.
        let rc = unsafe {
            match q {
                HostQuery::Name(_) => gethostbyname_r(
                    cname.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
                    &mut ret,
                    bufp,
                    buflen,
                    &mut result,
                    &mut h_errno,
                ),
                HostQuery::Name2(_, fam) => gethostbyname2_r(
                    cname.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
                    fam.af(),
                    &mut ret,
                    bufp,
                    buflen,
                    &mut result,
                    &mut h_errno,
                ),
                HostQuery::Addr(a) => gethostbyaddr_r(
                    addr_bytes.as_ptr().cast(),
                    addr_bytes.len() as libc::socklen_t,
                    if a.is_ipv4() {
                        libc::AF_INET
                    } else {
                        libc::AF_INET6
                    },
                    &mut ret,
                    bufp,
                    buflen,
                    &mut result,
                    &mut h_errno,
                ),
            }
        };
        if rc == libc::ERANGE && buflen < MAX_BUFLEN {
            buflen *= 2;
            continue;
        }
        if !result.is_null() {
            // SAFETY: on success `result` points to `ret`, whose pointers glibc set into
            // `buf`, which is still alive.
            return format!("ok {}", unsafe { hostent_text(&*result) });
        }
        let mut out = format!("herr {}", herr_name(h_errno));
        if rc != 0 {
            out.push_str(&format!(" ret={}", errno_name(rc)));
        }
        return out;
    }
}

/// `name=H aliases=A,B type=inet addrs=X,Y` of a hostent.
///
/// # Safety
/// Every pointer in `h` must be valid as glibc documents for a successful lookup.
pub(crate) unsafe fn hostent_text(h: &libc::hostent) -> String {
    // SAFETY: the caller guarantees the pointers; arrays are NULL-terminated.
    unsafe {
        let name = if h.h_name.is_null() {
            "(null)".to_string()
        } else {
            escape(CStr::from_ptr(h.h_name).to_bytes())
        };
        let mut aliases = Vec::new();
        let mut p = h.h_aliases;
        while !p.is_null() && !(*p).is_null() {
            aliases.push(escape(CStr::from_ptr(*p).to_bytes()));
            p = p.add(1);
        }
        let mut addrs = Vec::new();
        let len = usize::try_from(h.h_length).unwrap_or(0);
        let mut p = h.h_addr_list;
        while !p.is_null() && !(*p).is_null() {
            let bytes = std::slice::from_raw_parts((*p).cast::<u8>(), len);
            addrs.push(addr_text(h.h_addrtype, bytes));
            p = p.add(1);
        }
        format!(
            "name={name} aliases={} type={} addrs={}",
            aliases.join(","),
            family_name(h.h_addrtype),
            addrs.join(",")
        )
    }
}
