//! System calls made through `syscall(2)` rather than their libc wrappers.
//!
//! The module is linked with `-z now`, so ld.so looks up every libc symbol
//! it imports at each `dlopen`, in every process that loads it: 0.1 to
//! 0.2 µs a symbol (a do-nothing module given rustcache's 63 extra imports
//! loaded 13 µs slower; the nine of [`net`] cost rustcache 0.7 µs and
//! 7,000 instructions, interleaved fresh processes). The calls here
//! run rarely (creating a cache file or directory, a lease holder that may
//! have died, the pause of a caller waiting for another one's answer and
//! its wake-up, mapping the cache file) or need nothing libc adds to them,
//! so each goes through the one `syscall` import the module has anyway;
//! [`net`] has the upstream client's socket calls, [`file`] the descriptor
//! and the calls that read files (the configuration, the cache file).
//! `posix_fallocate` (its fallback does real work) and `getrandom` keep
//! their wrappers: the tests stand in for both with an LD_PRELOAD.
//!
//! Only calls that x86_64 and aarch64 both have are used: the `*at` forms
//! (aarch64 has no `mkdir`, `unlink`, `link`, `open` or `stat`) and
//! `fstat`.

use std::ffi::CStr;
use std::io;
use std::time::Duration;

pub mod file;
pub mod net;

/// `Ok` of a system call's non-negative result, else errno.
fn result(rc: libc::c_long) -> io::Result<libc::c_long> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// The effective user id (geteuid).
pub fn euid() -> u32 {
    // SAFETY: geteuid takes no arguments and cannot fail.
    let uid = unsafe { libc::syscall(libc::SYS_geteuid) };
    // A uid is 32 bits; the kernel returns it zero-extended.
    uid as u32
}

/// This process's id (getpid).
pub fn pid() -> u32 {
    // SAFETY: getpid takes no arguments and cannot fail.
    let pid = unsafe { libc::syscall(libc::SYS_getpid) };
    pid as u32
}

/// kill(pid, 0): whether a signal could be sent to `pid` (the process
/// exists and we may signal it), else errno (ESRCH: it does not exist).
pub fn probe_process(pid: libc::pid_t) -> io::Result<()> {
    // SAFETY: signal 0 sends nothing; the call only checks the pid.
    result(unsafe { libc::syscall(libc::SYS_kill, pid, 0) }).map(drop)
}

/// Whether process `pid` is stopped: by a signal (SIGSTOP, job control's
/// SIGTSTP) or by a tracer (a debugger at a breakpoint), its state in
/// `/proc/PID/stat` being `T` or `t`. `None` when that cannot be told (no
/// `/proc` in this mount namespace, a security policy that refuses it, the
/// process gone).
pub fn process_stopped(pid: libc::pid_t) -> Option<bool> {
    let path = std::ffi::CString::new(format!("/proc/{pid}/stat")).ok()?;
    let fd = file::open(&path, libc::O_RDONLY | libc::O_CLOEXEC, 0).ok()?;
    // "PID (COMM) STATE ...": COMM is at most 16 bytes, so the state is
    // within the first 64 bytes of the line.
    let mut line = Vec::with_capacity(64);
    file::read_to_end(&fd, &mut line, 64).ok()?;
    stopped_in_stat(&line)
}

/// Whether a `/proc/PID/stat` line (or its start) says the process is
/// stopped (`None`: no state in it). The state is the field after the
/// command name, which is in parentheses and may itself hold any byte, `)`
/// and spaces included: the last `)` of the line ends it (the fields after
/// it are numbers).
fn stopped_in_stat(line: &[u8]) -> Option<bool> {
    let close = line.iter().rposition(|&b| b == b')')?;
    match line.get(close + 1..close + 3)? {
        [b' ', b'T' | b't'] => Some(true),
        [b' ', _] => Some(false),
        _ => None,
    }
}

/// mkdir(path, mode).
pub fn mkdir(path: &CStr, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: `path` is a valid C string for the call.
    result(unsafe { libc::syscall(libc::SYS_mkdirat, libc::AT_FDCWD, path.as_ptr(), mode) })
        .map(drop)
}

/// chmod(path, mode) (follows a symlink, as chmod does).
pub fn chmod(path: &CStr, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: as above; the kernel's fchmodat takes no flags.
    result(unsafe { libc::syscall(libc::SYS_fchmodat, libc::AT_FDCWD, path.as_ptr(), mode) })
        .map(drop)
}

/// fchmod(fd, mode).
pub fn fchmod(fd: libc::c_int, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: a plain system call on a descriptor; no memory is passed.
    result(unsafe { libc::syscall(libc::SYS_fchmod, fd, mode) }).map(drop)
}

/// unlink(path).
pub fn unlink(path: &CStr) -> io::Result<()> {
    // SAFETY: `path` is a valid C string for the call.
    result(unsafe { libc::syscall(libc::SYS_unlinkat, libc::AT_FDCWD, path.as_ptr(), 0) }).map(drop)
}

/// link(old, new): a second name for a file (no symlink followed).
pub fn link(old: &CStr, new: &CStr) -> io::Result<()> {
    // SAFETY: both are valid C strings for the call.
    result(unsafe {
        libc::syscall(
            libc::SYS_linkat,
            libc::AT_FDCWD,
            old.as_ptr(),
            libc::AT_FDCWD,
            new.as_ptr(),
            0,
        )
    })
    .map(drop)
}

/// The kernel's node name (what gethostname(2) returns), if it can be read.
pub fn node_name() -> Option<Vec<u8>> {
    // SAFETY: an all-zero utsname is a valid value to be overwritten.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is writable and of the size the kernel fills.
    result(unsafe { libc::syscall(libc::SYS_uname, &mut uts) }).ok()?;
    let name: Vec<u8> = uts
        .nodename
        .iter()
        .take_while(|&&c| c != 0)
        // c_char is i8 on x86_64 and u8 on aarch64.
        .map(|&c| {
            #[allow(clippy::unnecessary_cast)]
            let byte = c as u8;
            byte
        })
        .collect();
    Some(name)
}

/// mmap(2) (offset in bytes on every 64-bit architecture): the address
/// of the new mapping, else errno.
///
/// # Safety
///
/// As for mmap: with MAP_FIXED, `addr..addr + len` must be a range the
/// caller owns and nothing else refers to as other memory.
pub unsafe fn mmap(
    addr: *mut libc::c_void,
    len: usize,
    prot: libc::c_int,
    flags: libc::c_int,
    fd: libc::c_int,
    offset: libc::off_t,
) -> io::Result<*mut libc::c_void> {
    // SAFETY: the caller upholds mmap's contract; no memory is read.
    let at = result(unsafe { libc::syscall(libc::SYS_mmap, addr, len, prot, flags, fd, offset) })?;
    // User-space addresses are below 2^63: the result is never negative.
    Ok(at as usize as *mut libc::c_void)
}

/// munmap(2).
///
/// # Safety
///
/// `addr..addr + len` must be a mapping nothing refers to any more.
pub unsafe fn munmap(addr: *mut libc::c_void, len: usize) {
    // SAFETY: the caller vouches for the range. It can only fail for a
    // range that was never mapped, which the caller rules out.
    unsafe { libc::syscall(libc::SYS_munmap, addr, len) };
}

/// The pauses of a process polling for another process's work (an answer
/// it is fetching, a cache file it is making): 0.2 ms, doubling to 5 ms, so
/// that a quick result is seen at once and a slow one costs few wake-ups.
pub struct Backoff {
    pause: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_micros(200);
    const MAX: Duration = Duration::from_millis(5);

    pub fn new() -> Backoff {
        Backoff { pause: Self::FIRST }
    }

    /// Sleeps the next pause.
    pub fn sleep(&mut self) {
        sleep(self.next());
    }

    /// The next pause (for a caller that waits some other way than
    /// sleeping, bounded by it).
    pub fn next(&mut self) -> Duration {
        let pause = self.pause;
        self.pause = (self.pause * 2).min(Self::MAX);
        pause
    }
}

/// futex(FUTEX_WAIT) on a word of a shared mapping, for at most `pause`:
/// returns when another process calls [`futex_wake`] on the same word of
/// the same file, when the word no longer holds `expected` (checked by the
/// kernel as it queues us, so a wake between our last look and this call
/// is not lost), on a signal, or when `pause` has passed. No
/// FUTEX_PRIVATE_FLAG: the kernel then keys the wait by the file and offset,
/// not by this process's address, so that waiter and waker may map the file
/// at different addresses in different processes. Which of those ended the
/// wait is not told: the caller looks again in every case.
///
/// A bad `word` is the kernel's to refuse (EFAULT), never read here.
pub fn futex_wait(word: *const u32, expected: u32, pause: Duration) {
    let timeout = timespec(pause);
    // SAFETY: the kernel reads the u32 at `word` (or fails with EFAULT)
    // and the relative timeout we pass; nothing is written.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word,
            libc::FUTEX_WAIT,
            expected,
            std::ptr::addr_of!(timeout),
            std::ptr::null::<u32>(),
            0u32,
        )
    };
}

/// futex(FUTEX_WAKE): wakes every process waiting in [`futex_wait`] on
/// `word` (the same file and offset), and says how many it woke (0 on an
/// error).
pub fn futex_wake(word: *const u32) -> usize {
    // SAFETY: as futex_wait; FUTEX_WAKE only looks the word's key up.
    let woken = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word,
            libc::FUTEX_WAKE,
            libc::c_int::MAX,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    usize::try_from(woken).unwrap_or(0)
}

/// Sleeps for `pause` on the monotonic clock, through signals.
pub fn sleep(pause: Duration) {
    let mut left = timespec(pause);
    loop {
        let wanted = left;
        // SAFETY: both pointers are valid timespecs; the kernel writes the
        // time left into `left` when a signal interrupts the sleep.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_clock_nanosleep,
                libc::CLOCK_MONOTONIC,
                0,
                std::ptr::addr_of!(wanted),
                std::ptr::addr_of_mut!(left),
            )
        };
        if rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

/// `span` as a C timespec (seconds clamped to `time_t`).
fn timespec(span: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: libc::time_t::try_from(span.as_secs()).unwrap_or(libc::time_t::MAX),
        // Under 10^9: fits every architecture's c_long.
        tv_nsec: span.subsec_nanos() as libc::c_long,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_stopped_state_is_read_after_the_command_name() {
        use super::stopped_in_stat;
        assert_eq!(
            stopped_in_stat(b"1234 (curl) T 1 1234 1234 0 -1"),
            Some(true)
        );
        assert_eq!(stopped_in_stat(b"1234 (gdb target) t 1"), Some(true));
        assert_eq!(
            stopped_in_stat(b"77 (a) b) T 1 77"),
            Some(true),
            "a ) in the name"
        );
        assert_eq!(stopped_in_stat(b"1234 (curl) S 1 1234"), Some(false));
        assert_eq!(
            stopped_in_stat(b"1234 (T) R 1"),
            Some(false),
            "T as the name"
        );
        assert_eq!(stopped_in_stat(b"1234 (curl)"), None, "cut short");
        assert_eq!(stopped_in_stat(b""), None);
    }

    #[test]
    fn a_process_stopped_by_a_signal_is_told_apart_from_a_running_one() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = libc::pid_t::try_from(child.id()).unwrap();
        let running = super::process_stopped(pid);
        // SAFETY: signalling our own child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
        let stopped = (0..200).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(5));
            super::process_stopped(pid) == Some(true)
        });
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(running, Some(false), "running (asleep)");
        assert!(stopped, "SIGSTOP seen");
        assert_eq!(super::process_stopped(pid), None, "gone");
        assert_eq!(super::process_stopped(-1), None);
    }

    use super::*;
    use std::ffi::CString;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn c(path: &std::path::Path) -> CString {
        CString::new(path.as_os_str().as_encoded_bytes()).unwrap()
    }

    #[test]
    fn sleep_waits_at_least_as_asked() {
        let started = std::time::Instant::now();
        sleep(Duration::from_millis(15));
        assert!(started.elapsed() >= Duration::from_millis(15));
        sleep(Duration::ZERO);
    }

    #[test]
    fn mmap_maps_and_reports_errno() {
        // SAFETY: a fresh anonymous mapping at an address the kernel picks.
        let ptr = unsafe {
            mmap(
                std::ptr::null_mut(),
                8192,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        }
        .unwrap();
        assert_eq!(ptr as usize % 4096, 0);
        // SAFETY: the 8 KiB just mapped, writable, used by nothing else.
        let bytes = unsafe { std::slice::from_raw_parts_mut(ptr.cast::<u8>(), 8192) };
        bytes[8191] = 7;
        assert_eq!(bytes[0], 0);
        // SAFETY: the mapping above, no longer referred to.
        unsafe { munmap(ptr, 8192) };
        // SAFETY: a shared mapping of no file fails before touching memory.
        let err = unsafe {
            mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ,
                libc::MAP_SHARED,
                -1,
                0,
            )
        }
        .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn ids_are_the_libc_ones() {
        // SAFETY: no preconditions.
        assert_eq!(euid(), unsafe { libc::geteuid() });
        assert_eq!(pid(), std::process::id());
        assert!(probe_process(pid() as libc::pid_t).is_ok());
        // Pid numbers stop well below this.
        let err = probe_process(0x3fff_fff0).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ESRCH));
    }

    #[test]
    fn the_node_name_is_gethostname() {
        let mut buf = [0u8; 256];
        // SAFETY: the pointer and length describe `buf`.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        assert_eq!(rc, 0);
        let end = buf.iter().position(|&b| b == 0).unwrap();
        assert_eq!(node_name().unwrap(), &buf[..end]);
    }

    #[test]
    fn files_and_directories_are_made_linked_and_removed() {
        let base = std::env::temp_dir().join(format!("rustcache-sys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        mkdir(&c(&base), 0o700).unwrap();
        assert_eq!(
            mkdir(&c(&base), 0o700).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        chmod(&c(&base), 0o750).unwrap();
        assert_eq!(std::fs::metadata(&base).unwrap().mode() & 0o7777, 0o750);
        let file = base.join("f");
        let f = std::fs::File::create(&file).unwrap();
        use std::os::fd::AsRawFd;
        fchmod(f.as_raw_fd(), 0o604).unwrap();
        assert_eq!(f.metadata().unwrap().permissions().mode() & 0o7777, 0o604);
        let second = base.join("g");
        link(&c(&file), &c(&second)).unwrap();
        assert_eq!(std::fs::metadata(&file).unwrap().nlink(), 2);
        assert_eq!(
            link(&c(&file), &c(&second)).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        unlink(&c(&second)).unwrap();
        assert_eq!(std::fs::metadata(&file).unwrap().nlink(), 1);
        assert_eq!(
            unlink(&c(&second)).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        std::fs::remove_dir_all(&base).unwrap();
    }
}
