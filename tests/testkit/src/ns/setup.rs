//! The system calls that build a sandbox for the calling thread: a private network
//! namespace with `lo` up, a private mount namespace, tmpfs mounts, and the identity of
//! a namespace (to check later that a caller is inside it).

use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Moves the calling thread (and every thread and process it creates afterwards) into a
/// new network namespace, and brings its loopback interface up.
pub(crate) fn enter_private_netns() -> io::Result<()> {
    // SAFETY: unshare takes no pointers; CLONE_NEWNET only changes the calling thread's
    // network namespace, which no other thread of this process shares.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    bring_loopback_up()
}

/// Sets IFF_UP on `lo` with SIOCGIFFLAGS/SIOCSIFFLAGS, as `ip link set lo up` does.
fn bring_loopback_up() -> io::Result<()> {
    // SAFETY: socket takes no pointers; a negative return is handled below.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor owned by nobody else.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    use std::os::fd::AsRawFd;

    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `req` is a valid ifreq naming "lo"; SIOCGIFFLAGS writes only ifru_flags.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS just initialised the ifru_flags member of the union.
    unsafe {
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
    }
    // SAFETY: `req` is a valid ifreq naming "lo" with the flags to set.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Gives the calling thread a private mount namespace in which every mount is private
/// (so nothing mounted there propagates back to the host).
pub(crate) fn enter_private_mountns() -> io::Result<()> {
    // SAFETY: unshare takes no pointers; CLONE_NEWNS also unshares this thread's
    // filesystem attributes, which only this thread then uses.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: all pointers are valid NUL-terminated strings or NULL where allowed.
    let rc = unsafe {
        libc::mount(
            c"none".as_ptr(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Mounts a fresh tmpfs (mode 0755) on `target`.
pub(crate) fn mount_tmpfs(target: &Path) -> io::Result<()> {
    mount_tmpfs_with(target, c"mode=0755")
}

/// Mounts a fresh tmpfs with `options` (e.g. `mode=1777`) on `target`.
pub(crate) fn mount_tmpfs_with(target: &Path, options: &std::ffi::CStr) -> io::Result<()> {
    let target = path_cstring(target)?;
    // SAFETY: all pointers are valid NUL-terminated strings.
    let rc = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            options.as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Lazily unmounts whatever is mounted on `target`.
pub(crate) fn unmount(target: &Path) -> io::Result<()> {
    let target = path_cstring(target)?;
    // SAFETY: `target` is a valid NUL-terminated string.
    if unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The inode of the calling thread's network namespace: equal for two threads exactly
/// when they share the namespace.
pub(crate) fn current_netns() -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata("/proc/thread-self/ns/net")?.ino())
}

/// A path as a C string (paths with NUL bytes are refused).
pub(crate) fn path_cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}
