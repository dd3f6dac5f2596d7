//! The NSS functions of the other databases (passwd, group, shadow,
//! services, ...): each answers UNAVAIL, as a missing function does.
//!
//! Why they exist: glibc 2.34 and later load a module by looking up every
//! NSS function name of every database in it (66 `dlsym` calls, whatever
//! line the module is on). Each name the module lacks is a failed lookup,
//! which the dynamic loader reports by building an "undefined symbol"
//! error message (malloc, vfprintf) that the NSS loader then throws away.
//! With only the six hosts functions exported, those failures cost a
//! fresh process's first cached lookup about 39,000 instructions (callgrind,
//! whole process: 552,611 before these stubs, 513,589 after). A present
//! symbol costs one hash lookup.
//!
//! UNAVAIL is what glibc assumes of a function a module lacks (`[UNAVAIL=
//! ...]` actions apply alike), so on any nsswitch.conf line these answer
//! exactly as their absence did. The hosts database's own optional
//! functions (`sethostent`, `gethostent_r`, `endhostent`, `getcanonname_r`)
//! stay absent: for those glibc's getaddrinfo and `getent hosts` take
//! other paths when a function is missing, and rustcache keeps them.
//!
//! They take no arguments: glibc calls them with their database's
//! arguments, which the x86_64 and aarch64 C calling conventions let a
//! callee ignore (the caller owns its argument registers and stack).

use crate::status::{NssStatus, NSS_STATUS_UNAVAIL};

macro_rules! unavailable {
    ($($name:ident),* $(,)?) => {
        $(
            #[no_mangle]
            pub extern "C" fn $name() -> NssStatus {
                NSS_STATUS_UNAVAIL
            }
        )*
    };
}

unavailable!(
    _nss_rustcache_endaliasent,
    _nss_rustcache_endetherent,
    _nss_rustcache_endgrent,
    _nss_rustcache_endnetent,
    _nss_rustcache_endnetgrent,
    _nss_rustcache_endprotoent,
    _nss_rustcache_endpwent,
    _nss_rustcache_endrpcent,
    _nss_rustcache_endservent,
    _nss_rustcache_endsgent,
    _nss_rustcache_endspent,
    _nss_rustcache_getaliasbyname_r,
    _nss_rustcache_getaliasent_r,
    _nss_rustcache_getetherent_r,
    _nss_rustcache_getgrent_r,
    _nss_rustcache_getgrgid_r,
    _nss_rustcache_getgrnam_r,
    _nss_rustcache_gethostton_r,
    _nss_rustcache_getnetbyaddr_r,
    _nss_rustcache_getnetbyname_r,
    _nss_rustcache_getnetent_r,
    _nss_rustcache_getnetgrent_r,
    _nss_rustcache_getntohost_r,
    _nss_rustcache_getprotobyname_r,
    _nss_rustcache_getprotobynumber_r,
    _nss_rustcache_getprotoent_r,
    _nss_rustcache_getpublickey,
    _nss_rustcache_getpwent_r,
    _nss_rustcache_getpwnam_r,
    _nss_rustcache_getpwuid_r,
    _nss_rustcache_getrpcbyname_r,
    _nss_rustcache_getrpcbynumber_r,
    _nss_rustcache_getrpcent_r,
    _nss_rustcache_getsecretkey,
    _nss_rustcache_getservbyname_r,
    _nss_rustcache_getservbyport_r,
    _nss_rustcache_getservent_r,
    _nss_rustcache_getsgent_r,
    _nss_rustcache_getsgnam_r,
    _nss_rustcache_getspent_r,
    _nss_rustcache_getspnam_r,
    _nss_rustcache_initgroups_dyn,
    _nss_rustcache_netname2user,
    _nss_rustcache_setaliasent,
    _nss_rustcache_setetherent,
    _nss_rustcache_setgrent,
    _nss_rustcache_setnetent,
    _nss_rustcache_setnetgrent,
    _nss_rustcache_setprotoent,
    _nss_rustcache_setpwent,
    _nss_rustcache_setrpcent,
    _nss_rustcache_setservent,
    _nss_rustcache_setsgent,
    _nss_rustcache_setspent,
);
