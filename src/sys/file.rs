//! Files: an owned descriptor and the calls the module reads files with
//! (the configuration, the cache file), through `syscall(2)`.
//!
//! std's `File` would do the same work through six more libc imports
//! (`open64`, `read`, `close`, `fstat64`, `stat64`, `statx`), each a symbol
//! lookup at every `dlopen` in every process (see the parent module), and
//! its error text one more (`strerror_r`). What these calls need of libc is
//! nothing: on every 64-bit Linux architecture the kernel's `struct stat`
//! is libc's `stat64`, and `openat` forces O_LARGEFILE itself.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::result;

/// An open file descriptor, closed on drop.
#[derive(Debug)]
pub struct Fd(RawFd);

impl Fd {
    /// The new descriptor a system call returned (`rc`; negative: errno).
    ///
    /// # Safety
    ///
    /// A non-negative `rc` must be a descriptor just opened by that call
    /// and owned by nothing else: the `Fd` closes it.
    pub(super) unsafe fn from_result(rc: libc::c_long) -> io::Result<Fd> {
        let fd = result(rc)?;
        let fd = RawFd::try_from(fd).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        Ok(Fd(fd))
    }
}

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: the descriptor is ours (see `from_raw`) and used by
        // nothing after this. Not retried on EINTR: Linux has released
        // the descriptor whatever close returns.
        unsafe { libc::syscall(libc::SYS_close, self.0) };
    }
}

/// `path` as the C string the calls here take (InvalidInput for a path
/// with a NUL byte in it).
pub fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| io::ErrorKind::InvalidInput.into())
}

/// openat(AT_FDCWD, path, flags | O_CLOEXEC, mode), retried on EINTR.
pub fn open(path: &CStr, flags: libc::c_int, mode: libc::mode_t) -> io::Result<Fd> {
    loop {
        // SAFETY: `path` is a valid C string for the call; the result is
        // a new descriptor or errno.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_openat,
                libc::AT_FDCWD,
                path.as_ptr(),
                flags | libc::O_CLOEXEC,
                libc::c_uint::from(mode),
            )
        };
        // SAFETY: a non-negative `rc` is the descriptor openat just made.
        match unsafe { Fd::from_result(rc) } {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// fstat(2) of an open descriptor.
pub fn fstat(fd: &Fd) -> io::Result<libc::stat64> {
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat64 = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open and `st` is a writable kernel `struct stat`.
    result(unsafe { libc::syscall(libc::SYS_fstat, fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

/// stat(2) of `path`, following a symlink.
pub fn stat(path: &CStr) -> io::Result<libc::stat64> {
    stat_at(path, 0)
}

/// lstat(2) of `path`: what is there, without following a symlink.
pub fn lstat(path: &CStr) -> io::Result<libc::stat64> {
    stat_at(path, libc::AT_SYMLINK_NOFOLLOW)
}

fn stat_at(path: &CStr, flags: libc::c_int) -> io::Result<libc::stat64> {
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat64 = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a valid C string and `st` a writable kernel
    // `struct stat`.
    result(unsafe {
        libc::syscall(
            libc::SYS_newfstatat,
            libc::AT_FDCWD,
            path.as_ptr(),
            &mut st,
            flags,
        )
    })?;
    Ok(st)
}

/// Reads from `fd` onto the end of `bytes`, until end of file or until
/// `bytes` holds `limit` bytes; retried on EINTR. Only the spare capacity
/// is read into (nothing is zeroed first, no buffer on the stack); it
/// grows by at most a page at a time when the caller reserved too little.
pub fn read_to_end(fd: &Fd, bytes: &mut Vec<u8>, limit: usize) -> io::Result<()> {
    while bytes.len() < limit {
        if bytes.capacity() == bytes.len() {
            bytes.reserve((limit - bytes.len()).min(4096));
        }
        let left = limit - bytes.len();
        let room = bytes.spare_capacity_mut();
        let want = room.len().min(left);
        // SAFETY: the kernel writes at most `want` bytes into the vector's
        // spare capacity, which is writable for at least that many.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_read,
                fd.as_raw_fd(),
                room.as_mut_ptr().cast::<libc::c_void>(),
                want,
            )
        };
        match result(rc) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                // Never more than asked for: `n <= want`.
                let n = usize::try_from(n).unwrap_or(0).min(want);
                // SAFETY: the kernel initialised these `n` bytes of the
                // spare capacity.
                unsafe { bytes.set_len(bytes.len() + n) };
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::os::unix::fs::MetadataExt;

    fn c(path: &std::path::Path) -> CString {
        CString::new(path.as_os_str().as_encoded_bytes()).unwrap()
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("rustcache-file-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        dir
    }

    #[test]
    fn a_file_is_opened_read_and_stated_as_std_sees_it() {
        let dir = scratch("read");
        let path = dir.join("f");
        let text: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &text).unwrap();
        let fd = open(&c(&path), libc::O_RDONLY, 0).unwrap();
        let st = fstat(&fd).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(
            (st.st_dev, st.st_ino, st.st_size as u64, st.st_mtime_nsec),
            (meta.dev(), meta.ino(), meta.size(), meta.mtime_nsec())
        );
        assert_eq!(st.st_ctime, meta.ctime());
        assert_eq!(stat(&c(&path)).unwrap().st_ino, meta.ino());
        // Less room reserved than the file holds: it grows as it reads.
        let mut bytes = Vec::with_capacity(100);
        read_to_end(&fd, &mut bytes, usize::MAX).unwrap();
        assert_eq!(bytes, text);
        // A limit ends the read there.
        let fd = open(&c(&path), libc::O_RDONLY, 0).unwrap();
        let mut bytes = Vec::new();
        read_to_end(&fd, &mut bytes, 4097).unwrap();
        assert_eq!(bytes, &text[..4097]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn errors_are_the_kernels_and_descriptors_are_closed() {
        let dir = scratch("errors");
        let missing = dir.join("missing");
        let err = open(&c(&missing), libc::O_RDONLY, 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(
            stat(&c(&missing)).unwrap_err().raw_os_error(),
            Some(libc::ENOENT)
        );
        let target = dir.join("target");
        std::fs::write(&target, b"x").unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let st = lstat(&c(&link)).unwrap();
        assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFLNK);
        assert_eq!(
            stat(&c(&link)).unwrap().st_mode & libc::S_IFMT,
            libc::S_IFREG
        );
        let err = open(&c(&link), libc::O_RDONLY | libc::O_NOFOLLOW, 0).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
        // Close-on-exec. (That drop closes it is not asserted here: another
        // test's thread may be given the same number at once.)
        let fd = open(&c(&target), libc::O_RDONLY, 0).unwrap();
        // SAFETY: F_GETFD on an open descriptor takes no memory.
        let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
        assert_eq!(flags, libc::FD_CLOEXEC);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
