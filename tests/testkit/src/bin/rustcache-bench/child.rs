//! The probe processes of the benchmark: this binary re-executed with [`CHILD_FLAG`].
//!
//! ```text
//! rustcache-bench --rustcache-bench-child [--gate READY LOCK] OP...
//! ```
//!
//! Every `OP` is a testkit probe operation ([`rustcache_testkit::probe`]: `gai`,
//! `time gai`, `nss4`, ...), run and printed exactly as the testkit's probe does
//! (`OP => RESULT` on stdout, `elapsed_us=N op=OP` on stderr for timed ones), or one of
//! the benchmark's hot loops:
//!
//! | operation | what it does |
//! |---|---|
//! | `loop MS gai NAME FAMILY` | `getaddrinfo(NAME, NULL, {FAMILY, SOCK_STREAM})` + `freeaddrinfo`, for MS milliseconds |
//! | `loop MS nss4 MODULE NAME` | `_nss_MODULE_gethostbyname4_r(NAME)` from `libnss_MODULE.so.2` (dlopen'ed), `*pat = NULL`, a 64 KiB buffer reused, for MS milliseconds |
//!
//! A loop prints the result of its first call like `gai` does (`ok addrs=inet:...`;
//! `nss4` tuples are printed the same way), or `err ...` / `failed N of M calls` when a
//! call did not succeed, and on stderr
//!
//! ```text
//! loop_ns batch=K calls=N samples=S1,S2,... op=OP
//! ```
//!
//! where each sample is the mean time of one call, in nanoseconds, over a batch of K
//! consecutive calls. K is chosen after 20 ms of calibration so that a batch lasts about
//! [`TARGET_BATCH`], which keeps the clock's own cost (two reads per batch) negligible
//! for calls of a few tens of nanoseconds; `N` counts every call made, calibration
//! included.
//!
//! `--gate READY LOCK` makes the process wait before its first operation until the
//! runner releases every process of a group at once (see the runner's `Gate`).

use std::ffi::{CStr, CString};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::os::raw::{c_char, c_int, c_void};
use std::time::{Duration, Instant};

use rustcache_testkit::ns::RESULT_SEPARATOR;
use rustcache_testkit::probe::{self, parse_step, Op};

/// The first argument that turns this binary into a benchmark probe.
pub const CHILD_FLAG: &str = "--rustcache-bench-child";
/// Introduces the start gate's two paths.
pub const GATE_FLAG: &str = "--gate";
/// How long a batch of calls should last.
pub const TARGET_BATCH: Duration = Duration::from_micros(200);
/// How long the loops calibrate (and warm up) before measuring.
const CALIBRATION: Duration = Duration::from_millis(20);
/// At most this many batches per loop.
const MAX_SAMPLES: usize = 5000;
/// At least this many batches per loop, even past its time.
const MIN_SAMPLES: usize = 20;
/// The buffer given to gethostbyname4_r.
const BUFLEN: usize = 64 * 1024;

/// If this process was started as a benchmark probe, runs its operations and exits.
pub fn main_if_child() {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some(CHILD_FLAG) {
        return;
    }
    let rest: Vec<String> = args.collect();
    let code = run(&rest);
    let _ = io::stdout().flush();
    std::process::exit(code);
}

fn run(args: &[String]) -> i32 {
    let ops = match args {
        [flag, ready, lock, rest @ ..] if flag == GATE_FLAG => {
            if let Err(e) = pass_gate(ready, lock) {
                eprintln!("start gate: {e}");
                return 1;
            }
            rest
        }
        _ => args,
    };
    let mut code = 0;
    for word in ops {
        match word.strip_prefix("loop ") {
            Some(spec) => {
                let (result, report) = match hot_loop(spec) {
                    Ok(done) => done,
                    Err(usage) => {
                        code = 2;
                        (format!("usage: {usage}"), None)
                    }
                };
                println!("{word}{RESULT_SEPARATOR}{result}");
                if let Some(r) = report {
                    let samples: Vec<String> =
                        r.samples.iter().map(|s| format!("{s:.1}")).collect();
                    eprintln!(
                        "loop_ns batch={} calls={} samples={} op={word}",
                        r.batch,
                        r.calls,
                        samples.join(",")
                    );
                }
            }
            None => code = code.max(probe::run(std::slice::from_ref(word))),
        }
    }
    code
}

/// Opens the lock file first (the runner removes both files once everyone is ready),
/// says "ready" on the FIFO, then blocks until the runner drops its exclusive lock.
fn pass_gate(ready: &str, lock: &str) -> io::Result<()> {
    let lock = File::open(lock)?;
    OpenOptions::new()
        .write(true)
        .open(ready)?
        .write_all(b"r")?;
    loop {
        // SAFETY: flock on a descriptor we own; no pointers.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_SH) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// What a loop measured.
struct LoopReport {
    batch: u64,
    calls: u64,
    samples: Vec<f64>,
}

/// Runs `MS gai NAME FAMILY` or `MS nss4 MODULE NAME`: the first call's result line,
/// and the timings (none when the first call failed).
fn hot_loop(spec: &str) -> Result<(String, Option<LoopReport>), String> {
    let fields: Vec<&str> = spec.split(' ').filter(|f| !f.is_empty()).collect();
    let (ms, rest) = fields.split_first().ok_or("loop: missing MS")?;
    let budget = Duration::from_millis(
        ms.parse::<u64>()
            .map_err(|_| format!("loop: not a number of milliseconds: {ms:?}"))?,
    );
    match rest {
        ["gai", name, family] => gai_loop(name, family, budget),
        ["nss4", module, name] => nss4_loop(module, name, budget),
        _ => Err(format!(
            "loop: expected `MS gai NAME FAMILY` or `MS nss4 MODULE NAME`, not {spec:?}"
        )),
    }
}

/// Calls `call` in batches for `budget` (after calibration); each sample is the mean
/// time of a call in its batch, in nanoseconds. Returns `None` when a call failed
/// (with the number of failures and calls).
fn measure(budget: Duration, mut call: impl FnMut() -> bool) -> Result<LoopReport, (u64, u64)> {
    let (mut calls, mut failures) = (0u64, 0u64);
    let mut once = |calls: &mut u64| {
        *calls += 1;
        if !call() {
            failures += 1;
        }
    };
    let started = Instant::now();
    while started.elapsed() < CALIBRATION {
        once(&mut calls);
    }
    let per_call = started.elapsed().as_secs_f64() / calls.max(1) as f64;
    let batch = ((TARGET_BATCH.as_secs_f64() / per_call) as u64).clamp(1, 1_000_000);
    let mut samples = Vec::new();
    let deadline = Instant::now() + budget;
    while samples.len() < MAX_SAMPLES && (samples.len() < MIN_SAMPLES || Instant::now() < deadline)
    {
        let t0 = Instant::now();
        for _ in 0..batch {
            once(&mut calls);
        }
        samples.push(t0.elapsed().as_secs_f64() * 1e9 / batch as f64);
    }
    if failures > 0 {
        return Err((failures, calls));
    }
    Ok(LoopReport {
        batch,
        calls,
        samples,
    })
}

fn loop_outcome(
    first: String,
    measured: Result<LoopReport, (u64, u64)>,
) -> (String, Option<LoopReport>) {
    match measured {
        Ok(report) => (first, Some(report)),
        Err((failures, calls)) => (
            format!("failed {failures} of {calls} calls (first: {first})"),
            None,
        ),
    }
}

/// `loop MS gai NAME FAMILY`.
fn gai_loop(
    name: &str,
    family: &str,
    budget: Duration,
) -> Result<(String, Option<LoopReport>), String> {
    let step = parse_step(&format!("gai {name} {family}"))?;
    let Op::Gai { family, .. } = step.op else {
        return Err("loop: not a gai operation".to_string());
    };
    // The first call through the testkit's own `gai`, so its result line is the one
    // every other scenario checks.
    let first = probe::run_op(&step.op);
    if !first.starts_with("ok ") {
        return Ok((first, None));
    }
    let cname = CString::new(name).map_err(|_| "loop: NUL in name".to_string())?;
    // SAFETY: addrinfo is plain old data; all-zero is the documented "no hints" value.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = family.af();
    hints.ai_socktype = libc::SOCK_STREAM;
    let measured = measure(budget, || {
        let mut res: *mut libc::addrinfo = std::ptr::null_mut();
        // SAFETY: `cname` is NUL-terminated, `hints` initialised, `res` receives a list
        // freed at once below.
        let rc = unsafe { libc::getaddrinfo(cname.as_ptr(), std::ptr::null(), &hints, &mut res) };
        if rc == 0 {
            // SAFETY: `res` came from a successful getaddrinfo and is freed once.
            unsafe { libc::freeaddrinfo(res) };
        }
        rc == 0
    });
    Ok(loop_outcome(first, measured))
}

/// `struct gaih_addrtuple` from glibc's nss.h.
#[repr(C)]
struct GaihAddrtuple {
    next: *mut GaihAddrtuple,
    name: *mut c_char,
    family: c_int,
    addr: [u32; 4],
    scopeid: u32,
}

type ByName4 = unsafe extern "C" fn(
    *const c_char,
    *mut *mut GaihAddrtuple,
    *mut c_char,
    usize,
    *mut c_int,
    *mut c_int,
    *mut i32,
) -> c_int;

const NSS_STATUS_SUCCESS: c_int = 1;

/// `loop MS nss4 MODULE NAME`.
fn nss4_loop(
    module: &str,
    name: &str,
    budget: Duration,
) -> Result<(String, Option<LoopReport>), String> {
    let f = match load_gethostbyname4(module) {
        Ok(f) => f,
        Err(e) => return Ok((e, None)),
    };
    let cname = CString::new(name).map_err(|_| "loop: NUL in name".to_string())?;
    let mut buf = vec![0u64; BUFLEN / 8];
    let buf_start = buf.as_ptr() as usize;
    let mut call = |pat: &mut *mut GaihAddrtuple| {
        let (mut errno, mut h_errno, mut ttl) = (0, 0, 0);
        *pat = std::ptr::null_mut();
        // SAFETY: the function has gethostbyname4_r's prototype (`ByName4`); every
        // pointer is valid for the call: the name NUL-terminated, `pat` a live local,
        // the buffer BUFLEN bytes, the out-parameters live locals.
        let status = unsafe {
            f(
                cname.as_ptr(),
                pat,
                buf.as_mut_ptr().cast(),
                BUFLEN,
                &mut errno,
                &mut h_errno,
                &mut ttl,
            )
        };
        (status, errno, h_errno)
    };
    let mut pat = std::ptr::null_mut();
    let (status, errno, h_errno) = call(&mut pat);
    if status != NSS_STATUS_SUCCESS {
        return Ok((
            format!(
                "err status={} errno={} herr={}",
                probe::status_name(status),
                probe::errno_name(errno),
                probe::herr_name(h_errno)
            ),
            None,
        ));
    }
    let first = tuples_text(pat, buf_start, BUFLEN);
    let measured = measure(budget, || {
        let mut pat = std::ptr::null_mut();
        call(&mut pat).0 == NSS_STATUS_SUCCESS
    });
    Ok(loop_outcome(first, measured))
}

/// dlopens `libnss_MODULE.so.2` (found through `LD_LIBRARY_PATH`) and finds its
/// `gethostbyname4_r`; the library stays loaded until exit.
fn load_gethostbyname4(module: &str) -> Result<ByName4, String> {
    let file = format!("libnss_{module}.so.2");
    let symbol = format!("_nss_{module}_gethostbyname4_r");
    let (Ok(cfile), Ok(csym)) = (CString::new(file.clone()), CString::new(symbol.clone())) else {
        return Err("usage: NUL in module name".to_string());
    };
    // SAFETY: `cfile` is NUL-terminated; dlopen runs the library's constructors, as
    // glibc would.
    let handle = unsafe { libc::dlopen(cfile.as_ptr(), libc::RTLD_NOW) };
    if handle.is_null() {
        return Err(format!("error dlopen {file}: {}", dl_error()));
    }
    // SAFETY: `handle` came from a successful dlopen; `csym` is NUL-terminated.
    let p: *mut c_void = unsafe { libc::dlsym(handle, csym.as_ptr()) };
    if p.is_null() {
        return Err(format!("error dlsym {symbol}: {}", dl_error()));
    }
    // SAFETY: the symbol is the module's gethostbyname4_r, whose C prototype (glibc's
    // nss.h, docs/ARCHITECTURE.md "FFI rules") `ByName4` spells out.
    Ok(unsafe { std::mem::transmute::<*mut c_void, ByName4>(p) })
}

fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string valid until the next dl*
    // call on this thread; it is copied at once.
    unsafe {
        let e = libc::dlerror();
        if e.is_null() {
            "unknown error".to_string()
        } else {
            CStr::from_ptr(e).to_string_lossy().into_owned()
        }
    }
}

/// `ok addrs=inet:A,inet6:B` from a tuple list, every tuple checked to lie in the
/// buffer (at most 64 followed).
fn tuples_text(first: *mut GaihAddrtuple, buf_start: usize, buflen: usize) -> String {
    let size = std::mem::size_of::<GaihAddrtuple>();
    let mut addrs = Vec::new();
    let mut cur = first;
    while !cur.is_null() {
        let at = cur as usize;
        if at < buf_start || at + size > buf_start + buflen || addrs.len() >= 64 {
            return format!("err tuple outside the buffer or list too long after {addrs:?}");
        }
        // SAFETY: `cur` points inside our live buffer (checked above), where the module
        // wrote a tuple; read_unaligned copes with any alignment.
        let t = unsafe { std::ptr::read_unaligned(cur) };
        let mut bytes = [0u8; 16];
        for (chunk, word) in bytes.chunks_exact_mut(4).zip(t.addr) {
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
        addrs.push(match t.family {
            libc::AF_INET => {
                let [a, b, c, d, ..] = bytes;
                format!("inet:{}", Ipv4Addr::new(a, b, c, d))
            }
            libc::AF_INET6 => format!("inet6:{}", Ipv6Addr::from(bytes)),
            other => format!("family{other}:?"),
        });
        cur = t.next;
    }
    format!("ok addrs={}", addrs.join(","))
}
