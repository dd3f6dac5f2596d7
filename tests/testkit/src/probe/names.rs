//! Symbolic names for the numbers glibc hands back (errno, EAI_*, h_errno, NSS status,
//! address families) and the escaping of names, so probe output is readable and stable.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `h_errno` values (netdb.h).
pub mod herr {
    /// See errno.
    pub const NETDB_INTERNAL: i32 = -1;
    /// No problem.
    pub const NETDB_SUCCESS: i32 = 0;
    /// Authoritative answer: no such host.
    pub const HOST_NOT_FOUND: i32 = 1;
    /// Non-authoritative failure, or SERVFAIL.
    pub const TRY_AGAIN: i32 = 2;
    /// Non-recoverable error.
    pub const NO_RECOVERY: i32 = 3;
    /// Valid name, no data of the requested type.
    pub const NO_DATA: i32 = 4;
}

/// `enum nss_status` values (nss.h).
pub mod nss_status {
    /// NSS_STATUS_TRYAGAIN
    pub const TRYAGAIN: i32 = -2;
    /// NSS_STATUS_UNAVAIL
    pub const UNAVAIL: i32 = -1;
    /// NSS_STATUS_NOTFOUND
    pub const NOTFOUND: i32 = 0;
    /// NSS_STATUS_SUCCESS
    pub const SUCCESS: i32 = 1;
    /// NSS_STATUS_RETURN
    pub const RETURN: i32 = 2;
}

/// EAI_* codes glibc has beyond those in the libc crate.
const EAI_ADDRFAMILY: i32 = -9;
const EAI_INPROGRESS: i32 = -100;
const EAI_CANCELED: i32 = -101;
const EAI_NOTCANCELED: i32 = -102;
const EAI_ALLDONE: i32 = -103;
const EAI_INTR: i32 = -104;
const EAI_IDN_ENCODE: i32 = -105;

/// `EAI_NONAME`, ..., `EAI_SYSTEM(errno)`; `errno` is only used for EAI_SYSTEM.
pub fn eai_name(code: i32, errno: i32) -> String {
    let name = match code {
        libc::EAI_BADFLAGS => "EAI_BADFLAGS",
        libc::EAI_NONAME => "EAI_NONAME",
        libc::EAI_AGAIN => "EAI_AGAIN",
        libc::EAI_FAIL => "EAI_FAIL",
        libc::EAI_NODATA => "EAI_NODATA",
        libc::EAI_FAMILY => "EAI_FAMILY",
        libc::EAI_SOCKTYPE => "EAI_SOCKTYPE",
        libc::EAI_SERVICE => "EAI_SERVICE",
        EAI_ADDRFAMILY => "EAI_ADDRFAMILY",
        libc::EAI_MEMORY => "EAI_MEMORY",
        libc::EAI_SYSTEM => return format!("EAI_SYSTEM({})", errno_name(errno)),
        libc::EAI_OVERFLOW => "EAI_OVERFLOW",
        EAI_INPROGRESS => "EAI_INPROGRESS",
        EAI_CANCELED => "EAI_CANCELED",
        EAI_NOTCANCELED => "EAI_NOTCANCELED",
        EAI_ALLDONE => "EAI_ALLDONE",
        EAI_INTR => "EAI_INTR",
        EAI_IDN_ENCODE => "EAI_IDN_ENCODE",
        other => return format!("EAI({other})"),
    };
    name.to_string()
}

/// `HOST_NOT_FOUND`, `NO_DATA`, ...
pub fn herr_name(h: i32) -> String {
    match h {
        herr::NETDB_INTERNAL => "NETDB_INTERNAL".into(),
        herr::NETDB_SUCCESS => "NETDB_SUCCESS".into(),
        herr::HOST_NOT_FOUND => "HOST_NOT_FOUND".into(),
        herr::TRY_AGAIN => "TRY_AGAIN".into(),
        herr::NO_RECOVERY => "NO_RECOVERY".into(),
        herr::NO_DATA => "NO_DATA".into(),
        other => format!("herr({other})"),
    }
}

/// `SUCCESS`, `NOTFOUND`, `TRYAGAIN`, `UNAVAIL`, `RETURN`.
pub fn status_name(s: i32) -> String {
    match s {
        nss_status::TRYAGAIN => "TRYAGAIN".into(),
        nss_status::UNAVAIL => "UNAVAIL".into(),
        nss_status::NOTFOUND => "NOTFOUND".into(),
        nss_status::SUCCESS => "SUCCESS".into(),
        nss_status::RETURN => "RETURN".into(),
        other => format!("status({other})"),
    }
}

/// `ERANGE`, `EAGAIN`, ... or `errno(N)`; 0 is `0`.
pub fn errno_name(e: i32) -> String {
    let name = match e {
        0 => "0",
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::E2BIG => "E2BIG",
        libc::EBADF => "EBADF",
        libc::ECHILD => "ECHILD",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ENOTTY => "ENOTTY",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::EPIPE => "EPIPE",
        libc::ERANGE => "ERANGE",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ENOSYS => "ENOSYS",
        libc::ELOOP => "ELOOP",
        libc::ENOMSG => "ENOMSG",
        libc::ENODATA => "ENODATA",
        libc::EPROTO => "EPROTO",
        libc::EBADMSG => "EBADMSG",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::EILSEQ => "EILSEQ",
        libc::ENOTSOCK => "ENOTSOCK",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::ECONNRESET => "ECONNRESET",
        libc::ENOBUFS => "ENOBUFS",
        libc::ENOTCONN => "ENOTCONN",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        other => return format!("errno({other})"),
    };
    name.to_string()
}

/// `inet`, `inet6`, `unspec` or `af(N)`.
pub fn family_name(af: i32) -> String {
    match af {
        libc::AF_INET => "inet".into(),
        libc::AF_INET6 => "inet6".into(),
        libc::AF_UNSPEC => "unspec".into(),
        other => format!("af({other})"),
    }
}

/// A name from glibc as printable ASCII: bytes outside `!`..`~`, and `%` `,` `/` `=`,
/// become `%XX`, so fields never contain separators.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if (b'!'..=b'~').contains(&b) && !matches!(b, b'%' | b',' | b'/' | b'=') {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// An address of family `af` from `bytes` (4 or 16 of them), as text.
pub fn addr_text(af: i32, bytes: &[u8]) -> String {
    match (af, bytes.len()) {
        (libc::AF_INET, 4) => {
            let mut o = [0u8; 4];
            o.copy_from_slice(bytes);
            IpAddr::V4(Ipv4Addr::from(o)).to_string()
        }
        (libc::AF_INET6, 16) => {
            let mut o = [0u8; 16];
            o.copy_from_slice(bytes);
            IpAddr::V6(Ipv6Addr::from(o)).to_string()
        }
        _ => format!("bad-address(af={af},len={})", bytes.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(eai_name(libc::EAI_NONAME, 0), "EAI_NONAME");
        assert_eq!(
            eai_name(libc::EAI_SYSTEM, libc::ECONNREFUSED),
            "EAI_SYSTEM(ECONNREFUSED)"
        );
        assert_eq!(herr_name(herr::NO_DATA), "NO_DATA");
        assert_eq!(status_name(nss_status::TRYAGAIN), "TRYAGAIN");
        assert_eq!(errno_name(libc::ERANGE), "ERANGE");
        assert_eq!(escape(b"a b,c\xff"), "a%20b%2Cc%FF");
        assert_eq!(addr_text(libc::AF_INET6, &[0; 16]), "::");
    }
}
