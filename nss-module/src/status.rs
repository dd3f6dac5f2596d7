//! The one mapping from a core [`Outcome`] to glibc's three result
//! channels: the `nss_status` return value, `*errnop` and `*h_errnop`.

use libc::c_int;
use rustcache::Outcome;

/// `enum nss_status` from glibc's `<nss.h>`.
pub type NssStatus = c_int;
pub const NSS_STATUS_TRYAGAIN: NssStatus = -2;
pub const NSS_STATUS_UNAVAIL: NssStatus = -1;
pub const NSS_STATUS_NOTFOUND: NssStatus = 0;
pub const NSS_STATUS_SUCCESS: NssStatus = 1;

/// `h_errno` values from `<netdb.h>`.
pub const NETDB_INTERNAL: c_int = -1;
pub const NETDB_SUCCESS: c_int = 0;
pub const HOST_NOT_FOUND: c_int = 1;
pub const TRY_AGAIN: c_int = 2;
pub const NO_RECOVERY: c_int = 3;
pub const NO_DATA: c_int = 4;

/// How an entry point ends when it does not succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    pub status: NssStatus,
    pub errno: c_int,
    pub h_errno: c_int,
}

impl Failure {
    /// The buffer is too small: glibc doubles it and calls again, but only
    /// for exactly this combination.
    pub const ERANGE: Failure = Failure {
        status: NSS_STATUS_TRYAGAIN,
        errno: libc::ERANGE,
        h_errno: NETDB_INTERNAL,
    };
    /// The name cannot exist (or does not).
    pub const NOT_FOUND: Failure = Failure {
        status: NSS_STATUS_NOTFOUND,
        errno: libc::ENOENT,
        h_errno: HOST_NOT_FOUND,
    };
    /// The name exists without addresses of this family.
    pub const NO_DATA: Failure = Failure {
        status: NSS_STATUS_NOTFOUND,
        errno: libc::ENOENT,
        h_errno: NO_DATA,
    };
    /// No server answered in time.
    pub const TRY_AGAIN: Failure = Failure {
        status: NSS_STATUS_TRYAGAIN,
        errno: libc::EAGAIN,
        h_errno: TRY_AGAIN,
    };
    /// rustcache cannot work here: let the next source answer. Never
    /// NOTFOUND, which `[NOTFOUND=return]` would take as authoritative.
    pub const UNAVAILABLE: Failure = Failure {
        status: NSS_STATUS_UNAVAIL,
        errno: libc::ENOENT,
        h_errno: NO_RECOVERY,
    };
    /// An address family this entry point does not serve.
    pub const BAD_FAMILY: Failure = Failure {
        status: NSS_STATUS_UNAVAIL,
        errno: libc::EAFNOSUPPORT,
        h_errno: NO_RECOVERY,
    };
}

/// Splits an outcome into its answer or the failure to report.
pub fn split<T>(outcome: Outcome<T>) -> Result<T, Failure> {
    match outcome {
        Outcome::Found(answer) => Ok(answer),
        Outcome::NotFound => Err(Failure::NOT_FOUND),
        Outcome::NoData => Err(Failure::NO_DATA),
        Outcome::TryAgain => Err(Failure::TRY_AGAIN),
        Outcome::Unavailable => Err(Failure::UNAVAILABLE),
    }
}

/// Writes the failure to the caller's out-parameters and returns the
/// status. `errno` is written last, as glibc reads it last.
///
/// # Safety
/// Each pointer is either NULL or valid for a write of one `c_int`.
pub unsafe fn report(failure: Failure, errnop: *mut c_int, h_errnop: *mut c_int) -> NssStatus {
    if !h_errnop.is_null() {
        // SAFETY: non-NULL, and valid for writes per this function's contract.
        unsafe { h_errnop.write(failure.h_errno) };
    }
    if !errnop.is_null() {
        // SAFETY: as above.
        unsafe { errnop.write(failure.errno) };
    }
    failure.status
}
