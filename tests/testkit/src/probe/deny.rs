//! `deny SYSCALL ERRNO`: from here on, this probe process's calls of SYSCALL fail with
//! ERRNO, as under a container runtime's seccomp profile that does not know the call.
//! A classic-BPF seccomp filter (no libseccomp): the architecture is checked first,
//! every other call is allowed. The filter cannot be removed; the probe exits after
//! its operations anyway.

/// The system calls a test may deny, by name.
const CALLS: &[(&str, libc::c_long)] = &[("renameat2", libc::SYS_renameat2)];
/// The errors they may fail with.
const ERRNOS: &[(&str, i32)] = &[
    ("ENOSYS", libc::ENOSYS),
    ("EPERM", libc::EPERM),
    ("EINVAL", libc::EINVAL),
];

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
/// Offsets in `struct seccomp_data`.
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;

/// The call and error named, if both are known.
pub fn parse(call: &str, errno: &str) -> Result<(libc::c_long, i32), String> {
    let nr = CALLS
        .iter()
        .find(|(n, _)| *n == call)
        .map(|(_, nr)| *nr)
        .ok_or_else(|| format!("deny: unknown system call {call:?}"))?;
    let errno = ERRNOS
        .iter()
        .find(|(n, _)| *n == errno)
        .map(|(_, e)| *e)
        .ok_or_else(|| format!("deny: unknown errno {errno:?}"))?;
    Ok((nr, errno))
}

fn stmt(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump_eq(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    }
}

/// Installs the filter: `ok`, or `error ...`.
pub fn install(nr: libc::c_long, errno: i32) -> String {
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    let filter = [
        stmt(load, ARCH_OFFSET),
        // Another architecture's call numbers mean other calls: allow them all.
        jump_eq(AUDIT_ARCH, 1, 0),
        stmt(ret, SECCOMP_RET_ALLOW),
        stmt(load, NR_OFFSET),
        jump_eq(nr as u32, 0, 1),
        stmt(ret, SECCOMP_RET_ERRNO | (errno as u32 & 0xffff)),
        stmt(ret, SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prctl with PR_SET_NO_NEW_PRIVS takes plain integers; PR_SET_SECCOMP
    // reads `prog` and the filter it points to, both alive for the call.
    let rc = unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            -1
        } else {
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog,
            )
        }
    };
    if rc == 0 {
        "ok".to_string()
    } else {
        format!("error {}", std::io::Error::last_os_error())
    }
}
