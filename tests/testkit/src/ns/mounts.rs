//! The mounts a child process of a sandbox gets before it execs: its own mount
//! namespace with the sandbox's files over `/etc/resolv.conf`, `/etc/nsswitch.conf`,
//! `/etc/hosts`, the sandbox's tmpfs over `/run`, and optionally an overlay on `/etc`.
//!
//! Everything the child needs is prepared as C strings before `fork`, so the code that
//! runs between `fork` and `exec` makes system calls only and never allocates.

use std::ffi::CString;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use super::setup::path_cstring;

/// Mounts to make in a child, prepared before fork.
pub(crate) struct MountPlan {
    /// Options for `mount -t overlay overlay /etc`, when extra /etc files are used.
    overlay: Option<CString>,
    /// (source, target) bind mounts, in order.
    binds: Vec<(CString, CString)>,
    /// Identity to switch to after mounting (uid, gid).
    user: Option<(libc::uid_t, libc::gid_t)>,
}

impl MountPlan {
    /// A plan with no mounts yet.
    pub(crate) fn new() -> Self {
        MountPlan {
            overlay: None,
            binds: Vec::new(),
            user: None,
        }
    }

    /// Mounts an overlay on /etc whose upper layer is `upper` (files there shadow or add
    /// to the host's /etc inside the child only).
    pub(crate) fn overlay_etc(&mut self, upper: &Path, work: &Path) -> io::Result<()> {
        let opts = format!(
            "lowerdir=/etc,upperdir={},workdir={}",
            upper.display(),
            work.display()
        );
        self.overlay = Some(CString::new(opts).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "overlay path contains NUL")
        })?);
        Ok(())
    }

    /// Bind-mounts `source` over `target` (which must exist).
    pub(crate) fn bind(&mut self, source: &Path, target: &Path) -> io::Result<()> {
        self.binds
            .push((path_cstring(source)?, path_cstring(target)?));
        Ok(())
    }

    /// Switches the child to `uid`/`gid` (no supplementary groups) after mounting.
    pub(crate) fn run_as(&mut self, uid: libc::uid_t, gid: libc::gid_t) {
        self.user = Some((uid, gid));
    }

    /// Arranges for `cmd`'s child to make these mounts between fork and exec.
    pub(crate) fn install(self, cmd: &mut Command) {
        // SAFETY: the closure runs in the child between fork and exec. It only makes
        // system calls (unshare, mount, setgroups, setgid, setuid) on C strings that were
        // built before the fork, and builds its error with `last_os_error`, which does
        // not allocate. No lock is taken.
        unsafe {
            cmd.pre_exec(move || self.apply_in_child());
        }
    }

    /// The child side: must stay async-signal-safe (see `install`).
    fn apply_in_child(&self) -> io::Result<()> {
        let check = |rc: libc::c_int| {
            if rc == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        };
        // SAFETY: unshare takes no pointers; the child is single-threaded.
        check(unsafe { libc::unshare(libc::CLONE_NEWNS) })?;
        // SAFETY: valid NUL-terminated strings or NULL where the kernel allows it.
        check(unsafe {
            libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            )
        })?;
        if let Some(opts) = &self.overlay {
            // SAFETY: valid NUL-terminated strings prepared before fork.
            check(unsafe {
                libc::mount(
                    c"overlay".as_ptr(),
                    c"/etc".as_ptr(),
                    c"overlay".as_ptr(),
                    0,
                    opts.as_ptr().cast(),
                )
            })?;
        }
        for (source, target) in &self.binds {
            // SAFETY: valid NUL-terminated strings prepared before fork.
            check(unsafe {
                libc::mount(
                    source.as_ptr(),
                    target.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                )
            })?;
        }
        if let Some((uid, gid)) = self.user {
            // SAFETY: setgroups with a zero count reads no memory; setgid and setuid take
            // plain integers. The order (groups, gid, uid) keeps the rights to do each.
            unsafe {
                check(libc::setgroups(0, std::ptr::null()))?;
                check(libc::setgid(gid))?;
                check(libc::setuid(uid))?;
            }
        }
        Ok(())
    }
}
