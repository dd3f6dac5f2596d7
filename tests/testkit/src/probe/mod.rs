//! The probe: code that runs in a child process inside a sandbox and calls real glibc
//! (or the module's entry points directly), printing one canonical line per operation.
//!
//! A test binary calls [`main_if_probe`] first thing in `main`; when its first argument
//! is [`PROBE_FLAG`] (`--rustcache-probe`) it runs the operations given as the
//! remaining arguments and exits. [`Sandbox::probe`](crate::ns::Sandbox::probe)
//! re-executes the current binary that way; the testkit's `rustcache-probe` binary does
//! nothing else, for benchmarks and shells.
//!
//! # Invocation
//!
//! ```text
//! PROBE --rustcache-probe [--timed] OP...
//! ```
//!
//! Each `OP` is **one argument**: fields separated by spaces. Every field is
//! percent-decoded (`%20` is a space, `%2E` a dot, `%C3%A9` an `é`); a field that is
//! exactly `""` is the empty string. Prefixes: `time OP` prints the elapsed time of that
//! operation on stderr; `repeat N OP` runs it N times (the line shows the result of the
//! first run, or `mixed distinct=K first=R` when the runs disagreed). `--timed` times
//! every operation. Timing lines go to stderr as `elapsed_us=N op=OP` (for `repeat`, the
//! total of all runs), so stdout stays comparable between runs.
//!
//! | operation | call |
//! |---|---|
//! | `gai NAME FAMILY [FLAG...]` | `getaddrinfo(NAME, NULL, hints)` with `ai_socktype = SOCK_STREAM`, `ai_family` = FAMILY (`unspec`, `inet`, `inet6`); flags `canon` (AI_CANONNAME), `addrconfig`, `v4mapped`, `all`, `numerichost`, `anysock` (`ai_socktype = 0`) |
//! | `ghbn NAME` | `gethostbyname_r`, buffer from 64 bytes doubling on ERANGE |
//! | `ghbn2 NAME FAMILY` | `gethostbyname2_r`, same retry |
//! | `ghba ADDR` | `gethostbyaddr_r` (family from the address text), same retry |
//! | `gni ADDR [nofqdn]` | `getnameinfo` with `NI_NAMEREQD` (and `NI_NOFQDN`) |
//! | `nss4 NAME BUFLEN [OPT...]` | `_nss_M_gethostbyname4_r` with `*pat == NULL` |
//! | `nss4pat NAME BUFLEN [OPT...]` | the same with `*pat` pointing to a caller-owned tuple |
//! | `nss3 NAME FAMILY BUFLEN [OPT...]` | `_nss_M_gethostbyname3_r` |
//! | `nss2 NAME FAMILY BUFLEN [OPT...]` | `_nss_M_gethostbyname2_r` |
//! | `nss1 NAME BUFLEN [OPT...]` | `_nss_M_gethostbyname_r` |
//! | `nssaddr2 ADDR BUFLEN [OPT...]` | `_nss_M_gethostbyaddr2_r` |
//! | `nssaddr ADDR BUFLEN [OPT...]` | `_nss_M_gethostbyaddr_r` |
//! | `nssloopX ...` (X = `4`, `4pat`, `3`, `2`, `1`, `addr2`, `addr`) | the same call without BUFLEN: from buflen 1, doubling while the module returns TRYAGAIN with errno ERANGE and h_errno NETDB_INTERNAL, exactly as glibc retries |
//! | `sleep MS` | sleep |
//! | `fds` | list this process's open file descriptors (`/proc/self/fd`) |
//! | `tls MODULE` | whether this thread has `libnss_MODULE.so.2`'s thread-local block (ld.so allocates it on the thread's first touch of the module's thread-locals; `dl_iterate_phdr`'s `dlpi_tls_data`) |
//! | `rss SUFFIX` | how much of the mappings of files whose path ends with SUFFIX is resident (smaps `Rss`, summed, KiB): `ok rss=KIB`, or `error none-mapped` |
//! | `forks N NAME` | fork N children at once (then reap them) while 4 threads look up uncached names (`tI-N.fork.example.org` and, every other time, `shared.fork.example.org`), the first fork during the process's first lookup; each child looks up NAME, `cI.fork.example.org` and `shared.fork.example.org` with `gethostbyname2_r(AF_INET)` under a 10 s alarm: `ok children=N`, or `error child I: exit 1` (NAME not answered) / `error child I: killed by signal 14` (hung) |
//! | `deny SYSCALL ERRNO` | from then on SYSCALL (`renameat2`) fails with ERRNO (`ENOSYS`, `EPERM`, `EINVAL`) in this process: a seccomp filter, as a container runtime's profile that does not know the call |
//!
//! Direct-call options: `off=N` starts the buffer N bytes past an 8-byte boundary,
//! `nottl` passes `ttlp = NULL`, `nocanon` passes `canonp = NULL`. The module `M` is
//! `rustcache` (`libnss_rustcache.so.2`, dlopen'ed with RTLD_NOW, found through
//! `LD_LIBRARY_PATH`) unless the environment variable `RUSTCACHE_PROBE_MODULE` names
//! another (`dns` reaches glibc's own `_nss_dns_*`).
//!
//! # Output
//!
//! One stdout line per operation: `OP => RESULT`, where `OP` is the argument as given
//! (without `time`/`repeat` prefixes). Names are printed with bytes outside `!`..`~`
//! and `%` `,` `/` `=` escaped as `%XX`. Results:
//!
//! ```text
//! gai:    ok [canon=NAME] addrs=inet:192.0.2.1,inet6:2001:db8::1     (order as returned;
//!         `%SCOPE` after a scoped IPv6 address; `/dgram` etc. with anysock)
//!         err EAI_NONAME | err EAI_AGAIN | err EAI_FAIL | err EAI_NODATA | err EAI_SYSTEM(ECONNREFUSED) ...
//! ghbn, ghbn2, ghba:
//!         ok name=H aliases=A,B type=inet|inet6 addrs=X,Y
//!         herr HOST_NOT_FOUND|NO_DATA|TRY_AGAIN|NO_RECOVERY|NETDB_INTERNAL [ret=ERRNO]
//! gni:    ok host=H | err EAI_*
//! nss*:   status=S errno=E herr=H ttl=T [canon=C] then
//!           on SUCCESS:  aligned=yes|no(REASON) overflow=no|yes [copied=yes|no] RESULT
//!           otherwise:   untouched=yes|no
//!         S: SUCCESS NOTFOUND TRYAGAIN UNAVAIL RETURN; E: unset (not written) or
//!         ERANGE, EAGAIN, ENOENT, ... ; H: unset or HOST_NOT_FOUND, NO_DATA, TRY_AGAIN,
//!         NO_RECOVERY, NETDB_INTERNAL; T: unset, null (nottl), n/a (no ttlp), or seconds;
//!         canon= only for nss3: unset, (null), the name, or (outside).
//!         RESULT for nss4: tuples=NAME/inet:1.2.3.4,(null)/inet6:::1
//!         RESULT otherwise: name=H aliases=A,B type=inet addrs=X,Y
//!         nssloop adds: calls=N buflen=N
//! sleep:  ok
//! fds:    ok count=N fds=0=file,1=file,2=file,3=socket   (kind: `file` for a path,
//!         else the link's prefix: socket, pipe, anon_inode, ...; the descriptor used
//!         to list them is left out)
//! tls:    ok tls=allocated | ok tls=none   (error not-loaded, error no-tls)
//! forks:  ok children=N | error child I: exit 1 | error child I: killed by signal S
//! ```
//!
//! `aligned=yes` means every pointer array and tuple placed in the buffer is 8-byte
//! aligned, every array is NULL-terminated inside the buffer, and every pointer points
//! inside the buffer (`*pat` may point to the caller's tuple with `nss4pat`).
//! `overflow=yes` means bytes before the buffer or in the 64 bytes after `buflen`
//! changed. `untouched=yes` means the buffer (and guard), the result struct, `*pat`,
//! the caller's tuple and `*canonp` are exactly as before the call. `copied=yes` means
//! `*pat` still points to the caller's tuple and that tuple was written.
//!
//! A malformed operation prints `OP => usage: MESSAGE` and makes the probe exit 2
//! (after running the other operations). A module that cannot be loaded prints
//! `error dlopen ...` / `error dlsym ...`.

mod buffer;
mod deny;
mod forks;
mod glibc;
mod names;
mod nss;
mod op;

use std::io::Write;
use std::time::Instant;

pub use names::{errno_name, herr, herr_name, nss_status, status_name};
pub use nss::MODULE_ENV;
pub use op::{parse_step, Family, GaiFlags, NssCall, NssOpts, Op, Step};

/// The first argument that turns a binary into a probe.
pub const PROBE_FLAG: &str = "--rustcache-probe";

/// If this process was started as a probe (`argv[1] == "--rustcache-probe"`), runs
/// the operations and exits; otherwise returns at once.
pub fn main_if_probe() {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(std::ffi::OsStr::new(PROBE_FLAG)) {
        return;
    }
    let rest: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    let code = run(&rest);
    std::process::exit(code);
}

/// Runs probe operations (the arguments after [`PROBE_FLAG`]) and returns the exit
/// code: 0, or 2 when an operation was malformed.
pub fn run(args: &[String]) -> i32 {
    let (timed_all, ops) = match args.split_first() {
        Some((first, rest)) if first == "--timed" => (true, rest),
        _ => (false, args),
    };
    let mut code = 0;
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    for word in ops {
        match parse_step(word) {
            Ok(step) => {
                let started = Instant::now();
                let result = run_step(&step);
                let elapsed = started.elapsed();
                let _ = writeln!(
                    stdout.lock(),
                    "{}{}{result}",
                    step.echo,
                    crate::ns::RESULT_SEPARATOR
                );
                if step.timed || timed_all {
                    let _ = writeln!(
                        stderr.lock(),
                        "elapsed_us={} op={}",
                        elapsed.as_micros(),
                        step.echo
                    );
                }
            }
            Err(e) => {
                code = 2;
                let _ = writeln!(
                    stdout.lock(),
                    "{word}{}usage: {e}",
                    crate::ns::RESULT_SEPARATOR
                );
            }
        }
    }
    let _ = stdout.lock().flush();
    code
}

/// Runs a step `repeat` times and summarises the results.
fn run_step(step: &Step) -> String {
    let first = run_op(&step.op);
    if step.repeat == 1 {
        return first;
    }
    let mut distinct = vec![first.clone()];
    for _ in 1..step.repeat {
        let r = run_op(&step.op);
        if !distinct.contains(&r) {
            distinct.push(r);
        }
    }
    if distinct.len() == 1 {
        first
    } else {
        format!("mixed distinct={} first={first}", distinct.len())
    }
}

/// Runs one operation and returns its result text.
pub fn run_op(op: &Op) -> String {
    match op {
        Op::Gai {
            name,
            family,
            flags,
        } => glibc::gai(name, *family, *flags),
        Op::Ghbn { name } => glibc::hostent_query(&glibc::HostQuery::Name(name)),
        Op::Ghbn2 { name, family } => glibc::hostent_query(&glibc::HostQuery::Name2(name, *family)),
        Op::Ghba { addr } => glibc::hostent_query(&glibc::HostQuery::Addr(*addr)),
        Op::Gni { addr, nofqdn } => glibc::gni(*addr, *nofqdn),
        Op::Nss { call, buflen, opts } => nss::call(call, *buflen, *opts),
        Op::NssLoop { call, opts } => nss::call_loop(call, *opts),
        Op::Sleep(d) => {
            std::thread::sleep(*d);
            "ok".to_string()
        }
        Op::Fds => open_fds(),
        Op::Tls { module } => module_tls(module),
        Op::Rss { suffix } => mapped_rss(suffix),
        Op::Deny { nr, errno } => deny::install(*nr, *errno),
        Op::Forks { children, name } => forks::run(*children, name),
    }
}

/// `ok rss=KIB` (smaps `Rss` of every mapping of a file whose path ends with
/// `suffix`, summed), or `error none-mapped`.
fn mapped_rss(suffix: &str) -> String {
    match std::fs::read_to_string("/proc/self/smaps") {
        Ok(text) => match crate::smaps::rss_of(&text, suffix) {
            Some(kib) => format!("ok rss={kib}"),
            None => "error none-mapped".to_string(),
        },
        Err(e) => format!("error /proc/self/smaps: {e}"),
    }
}

/// `ok tls=allocated|none` for `libnss_MODULE.so.2` in the calling thread,
/// `error not-loaded` if the process has not loaded it, `error no-tls` if it
/// has no thread-locals at all.
fn module_tls(module: &str) -> String {
    struct Search {
        file: String,
        found: Option<(bool, bool)>,
    }
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: dl_iterate_phdr passes the `Search` given below as `data`
        // and a valid dl_phdr_info for one loaded object.
        let (search, info) = unsafe { (&mut *data.cast::<Search>(), &*info) };
        if info.dlpi_name.is_null() {
            return 0;
        }
        // SAFETY: a non-null dlpi_name is a NUL-terminated path.
        let name = unsafe { std::ffi::CStr::from_ptr(info.dlpi_name) };
        let matches = name
            .to_str()
            .is_ok_and(|n| n.rsplit('/').next() == Some(search.file.as_str()));
        if !matches {
            return 0;
        }
        search.found = Some((info.dlpi_tls_modid != 0, !info.dlpi_tls_data.is_null()));
        1
    }
    let mut search = Search {
        file: format!("libnss_{module}.so.2"),
        found: None,
    };
    // SAFETY: `each` matches dl_iterate_phdr's callback type and reads
    // `data` only as the `Search` passed here, alive for the call.
    unsafe { libc::dl_iterate_phdr(Some(each), std::ptr::addr_of_mut!(search).cast()) };
    match search.found {
        None => "error not-loaded".to_string(),
        Some((false, _)) => "error no-tls".to_string(),
        Some((true, true)) => "ok tls=allocated".to_string(),
        Some((true, false)) => "ok tls=none".to_string(),
    }
}

/// `ok count=N fds=0=file,1=socket,...`: the descriptors open in this process, without
/// the one `read_dir` holds while listing them.
fn open_fds() -> String {
    let listing = match std::fs::read_dir("/proc/self/fd") {
        Ok(listing) => listing,
        Err(e) => return format!("error /proc/self/fd: {e}"),
    };
    let mut fds: Vec<(i32, String)> = Vec::new();
    for entry in listing.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        // The listing's own descriptor is gone by the time it is read back (or points
        // to this very directory): skip what cannot be read and the directory itself.
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        let target = target.to_string_lossy().into_owned();
        if target.starts_with("/proc/") && target.ends_with("/fd") {
            continue;
        }
        let kind = if target.starts_with('/') {
            "file".to_string()
        } else {
            target
                .split([':', '['])
                .next()
                .unwrap_or("other")
                .to_string()
        };
        fds.push((fd, kind));
    }
    fds.sort();
    let list: Vec<String> = fds
        .iter()
        .map(|(fd, kind)| format!("{fd}={kind}"))
        .collect();
    format!("ok count={} fds={}", fds.len(), list.join(","))
}
