//! `forks N NAME`: children forked while other threads of the process are in the
//! middle of lookups, as a pre-forking server with threads forks its workers (Python's
//! multiprocessing, gunicorn with `--preload`, a Ruby server). A child starts with
//! only the forking thread; whatever lock or "being made" state another thread held
//! at that moment stays held in the child for ever. Each child must still answer.
//!
//! What is tested is the module's own state, so glibc's is kept out of the race: the
//! threads call the module's `gethostbyname4_r` directly, as glibc's NSS does, and the
//! module is loaded before they start. Tried the other way round (threads in
//! `getaddrinfo`, the module's first `dlopen` among them), a child failed in 11 of 40
//! runs (40 forks a run), and with a do-nothing C module in front of glibc's dns in 1
//! of 30: hung, killed by SIGSEGV, or ld.so's fatal-error exit 127. The one stuck
//! child examined with gdb waited in `gethostbyname2_r` on glibc's resolv.conf lock
//! (`get_locked_global`, taken by every `getaddrinfo`, not reset in a forked child);
//! the crashes point at a fork during the parent's `dlopen`. None came back in 40
//! runs once glibc's part was out of the race.
//!
//! The window of the first lookup's making of the module's process-wide state is a
//! few microseconds: a `OnceLock` there (which hangs a child forked inside it) failed
//! this test in 1 run of 10; `race_cell`'s unit test holds that window open instead.

use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use super::glibc::{self, HostQuery};
use super::nss;
use super::op::{Family, NssCall, NssOpts};

/// Threads looking names up in the parent while it forks.
const THREADS: usize = 4;
/// A child that has not exited after this long is stuck.
const CHILD_ALARM_S: u32 = 10;
/// A name the parent's threads and every child look up: the child meets a miss
/// lease another thread of its parent holds (and waits for that process's answer).
const SHARED: &str = "shared.fork.example.org";
/// The direct calls' buffer: room for any answer the test zones give.
const BUFLEN: usize = 64 * 1024;

/// Forks `children` children at once while [`THREADS`] threads look up names that
/// are never cached (`tI-N.fork.example.org` and, every other time, [`SHARED`]: the
/// scripted server's NXDOMAIN without SOA, so every one is a query in flight) with
/// direct calls. The first fork comes as
/// soon as a thread has entered its first lookup, the process's first: that lookup is
/// still making the module's process-wide state. Each child looks up `name` (its
/// first lookup through glibc), a name of its own that is not cached and [`SHARED`], with
/// `gethostbyname2_r` (`getaddrinfo`'s own address-sorting lock, `__check_pf`, is not
/// reset in a forked child either), and exits 0 if `name` was answered. `ok
/// children=N`, or the first child that failed: `error child I: exit 1` / `error child
/// I: killed by signal 14` (the alarm: it hung).
pub fn run(children: usize, name: &[u8]) -> String {
    let lookup = |name: String| NssCall::ByName4 {
        name: name.into_bytes(),
        caller_tuple: false,
    };
    // The module is loaded here, before the threads; its state is made by their
    // first lookup.
    if let Err(e) = nss::load() {
        return e;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (stop, started) = (Arc::clone(&stop), Arc::clone(&started));
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    // Every other lookup the name all threads share: its miss
                    // lease is held by one of them most of the time.
                    let call = if n % 2 == 0 {
                        lookup(SHARED.to_string())
                    } else {
                        lookup(format!("t{t}-{n}.fork.example.org"))
                    };
                    started.fetch_add(1, Ordering::SeqCst);
                    let _ = nss::call(&call, BUFLEN, NssOpts::default());
                    n += 1;
                }
            })
        })
        .collect();
    while started.load(Ordering::SeqCst) == 0 {
        std::hint::spin_loop();
    }
    // All forked at once, then reaped: a fork takes tens of microseconds, so the
    // first ones land inside the threads' first lookups.
    let mut pids = Vec::with_capacity(children);
    let mut result = format!("ok children={children}");
    for i in 0..children {
        let own = format!("c{i}.fork.example.org");
        // SAFETY: fork has no preconditions; the child only calls the lookups under
        // test and `_exit`.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: alarm and _exit are async-signal-safe; the lookups are what is
            // tested.
            unsafe { libc::alarm(CHILD_ALARM_S) };
            let answer = glibc::hostent_query(&HostQuery::Name2(name, Family::Inet));
            let _ = glibc::hostent_query(&HostQuery::Name2(own.as_bytes(), Family::Inet));
            let _ = glibc::hostent_query(&HostQuery::Name2(SHARED.as_bytes(), Family::Inet));
            let code = if answer.starts_with("ok ") { 0 } else { 1 };
            // SAFETY: ends the child without running the parent's exit handlers.
            unsafe { libc::_exit(code) };
        }
        if pid < 0 {
            result = format!("error fork: {}", std::io::Error::last_os_error());
            break;
        }
        pids.push(pid);
    }
    for (i, pid) in pids.into_iter().enumerate() {
        let mut status: c_int = 0;
        // SAFETY: waits for a child forked above; `status` is a live local.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        let failure = if libc::WIFSIGNALED(status) {
            Some(format!(
                "error child {i}: killed by signal {}",
                libc::WTERMSIG(status)
            ))
        } else if libc::WEXITSTATUS(status) != 0 {
            Some(format!(
                "error child {i}: exit {}",
                libc::WEXITSTATUS(status)
            ))
        } else {
            None
        };
        if let (Some(failure), true) = (failure, result.starts_with("ok")) {
            result = failure;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    result
}
