//! Spawning probe processes (this very binary, see [`crate::child`]) in a sandbox, one
//! at a time or many released together, and timing them exactly.

use std::cell::Cell;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use rustcache_testkit::ns::{ProbeOutput, Sandbox};

use crate::child::{CHILD_FLAG, GATE_FLAG};
use crate::error::BenchError;

/// How long released-together probes may take to reach the gate.
const GATE_LIMIT: Duration = Duration::from_secs(30);

/// Spawns probes in one sandbox.
///
/// [`Sandbox::probe`] polls for a child's exit with naps of up to 5 ms, too coarse for
/// process times of a few ms; the runner sleeps on pidfds instead, which wake the
/// moment a process exits.
pub struct Runner<'a> {
    sb: &'a Sandbox,
    exe: PathBuf,
    /// True when `exe` is this binary (started with [`CHILD_FLAG`]), false for another
    /// program given its arguments as they are (the C probe).
    is_bench: bool,
    /// The uid and gid the probes run as (after the mounts); None: root.
    user: Option<(u32, u32)>,
    seq: Cell<usize>,
}

/// A spawned probe whose output goes to files in the sandbox directory.
struct Spawned {
    child: Child,
    out_path: PathBuf,
    err_path: PathBuf,
}

impl<'a> Runner<'a> {
    pub fn new(sb: &'a Sandbox) -> Result<Self, BenchError> {
        let exe = std::env::current_exe()
            .map_err(|e| BenchError::io("find this executable".to_string(), e))?;
        Ok(Runner {
            sb,
            exe,
            is_bench: true,
            user: None,
            seq: Cell::new(0),
        })
    }

    /// A runner whose probes are `program` with the operations as its arguments
    /// (`probe_together` is for this binary only: the gate is its flag).
    pub fn with_program(sb: &'a Sandbox, program: &Path) -> Runner<'a> {
        Runner {
            sb,
            exe: program.to_path_buf(),
            is_bench: false,
            user: None,
            seq: Cell::new(0),
        }
    }

    /// The same runner, its probes running as `uid`/`gid`.
    pub fn with_user(self, uid: u32, gid: u32) -> Runner<'a> {
        Runner {
            user: Some((uid, gid)),
            ..self
        }
    }

    /// Runs one probe with `ops`, killing it after `limit`. `elapsed` is from spawn to
    /// exit.
    pub fn probe(&self, ops: &[String], limit: Duration) -> Result<ProbeOutput, BenchError> {
        let started = Instant::now();
        let spawned = self.spawn(ops, None)?;
        let mut outs = self.finish(vec![spawned], ops, started, limit)?;
        outs.pop()
            .ok_or_else(|| BenchError::io("collect a probe".into(), io::ErrorKind::NotFound.into()))
    }

    /// Starts `n` probes with `ops`, waits until every one has reached the start gate
    /// (spawned, mounts made, exec'ed, about to run its first operation), then releases
    /// them at once; kills those still running `limit` after the release. `elapsed` is
    /// from the release to exit.
    pub fn probe_together(
        &self,
        n: usize,
        ops: &[String],
        limit: Duration,
    ) -> Result<Vec<ProbeOutput>, BenchError> {
        let gate = Gate::new(self.sb, self.next_seq())?;
        let mut spawned = Vec::with_capacity(n);
        for _ in 0..n {
            match self.spawn(ops, Some(&gate)) {
                Ok(s) => spawned.push(s),
                Err(e) => {
                    kill_all(&mut spawned);
                    return Err(e);
                }
            }
        }
        if let Err(e) = gate.wait_for(n, GATE_LIMIT) {
            kill_all(&mut spawned);
            return Err(e);
        }
        let released = Instant::now();
        drop(gate);
        self.finish(spawned, ops, released, limit)
    }

    fn next_seq(&self) -> usize {
        let seq = self.seq.get();
        self.seq.set(seq + 1);
        seq
    }

    fn spawn(&self, ops: &[String], gate: Option<&Gate>) -> Result<Spawned, BenchError> {
        let seq = self.next_seq();
        let out_path = self.sb.dir().join(format!("bench-{seq}.out"));
        let err_path = self.sb.dir().join(format!("bench-{seq}.err"));
        let io_err = |what: &'static str| move |e| BenchError::io(what.to_string(), e);
        let stdout = File::create(&out_path).map_err(io_err("create a probe output file"))?;
        let stderr = File::create(&err_path).map_err(io_err("create a probe output file"))?;
        let mut cmd = match self.user {
            Some((uid, gid)) => self.sb.command_as(&self.exe, uid, gid),
            None => self.sb.command(&self.exe),
        };
        if self.is_bench {
            cmd.arg(CHILD_FLAG);
        }
        if let Some(gate) = gate.filter(|_| self.is_bench) {
            cmd.arg(GATE_FLAG).arg(&gate.ready).arg(&gate.lock);
        }
        cmd.args(ops)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let child = cmd.spawn().map_err(io_err("spawn a probe"))?;
        Ok(Spawned {
            child,
            out_path,
            err_path,
        })
    }

    /// Waits for every probe (killing those still running at `started + limit`) and
    /// collects their outputs.
    fn finish(
        &self,
        mut spawned: Vec<Spawned>,
        ops: &[String],
        started: Instant,
        limit: Duration,
    ) -> Result<Vec<ProbeOutput>, BenchError> {
        let ended = match wait_all(&spawned, started + limit) {
            Ok(ended) => ended,
            Err(e) => {
                kill_all(&mut spawned);
                return Err(BenchError::io("wait for probes".to_string(), e));
            }
        };
        let mut outs = Vec::with_capacity(spawned.len());
        for (mut s, end) in spawned.into_iter().zip(ended) {
            let timed_out = end.is_none();
            if timed_out {
                let _ = s.child.kill();
            }
            let status = s
                .child
                .wait()
                .map_err(|e| BenchError::io("reap a probe".to_string(), e))?;
            let elapsed = end
                .unwrap_or_else(Instant::now)
                .saturating_duration_since(started);
            let read = |p: &Path| {
                let text = fs::read(p).map(|b| String::from_utf8_lossy(&b).into_owned());
                let _ = fs::remove_file(p);
                text.map_err(|e| BenchError::io("read a probe's output".to_string(), e))
            };
            outs.push(ProbeOutput {
                ops: ops.to_vec(),
                stdout: read(&s.out_path)?,
                stderr: read(&s.err_path)?,
                status,
                timed_out,
                elapsed,
            });
        }
        Ok(outs)
    }
}

fn kill_all(spawned: &mut [Spawned]) {
    for s in spawned {
        let _ = s.child.kill();
        let _ = s.child.wait();
    }
}

/// Sleeps on the pidfds of `spawned` until each has exited or `deadline` passes;
/// returns when each exited (`None`: still running at the deadline).
fn wait_all(spawned: &[Spawned], deadline: Instant) -> io::Result<Vec<Option<Instant>>> {
    let pidfds: Vec<OwnedFd> = spawned
        .iter()
        .map(|s| pidfd_open(&s.child))
        .collect::<io::Result<_>>()?;
    let mut ended: Vec<Option<Instant>> = vec![None; pidfds.len()];
    loop {
        let waiting: Vec<usize> = (0..pidfds.len()).filter(|&i| ended[i].is_none()).collect();
        if waiting.is_empty() {
            return Ok(ended);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(ended);
        }
        let mut pfds: Vec<libc::pollfd> = waiting
            .iter()
            .map(|&i| libc::pollfd {
                fd: pidfds[i].as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = libc::c_int::try_from(left.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
        let nfds = libc::nfds_t::try_from(pfds.len()).unwrap_or(libc::nfds_t::MAX);
        // SAFETY: `pfds` holds `nfds` initialised pollfd structures.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), nfds, ms) };
        let now = Instant::now();
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
            continue;
        }
        for (pfd, &i) in pfds.iter().zip(&waiting) {
            if pfd.revents != 0 {
                ended[i] = Some(now);
            }
        }
    }
}

fn pidfd_open(child: &Child) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(child.id())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    // SAFETY: pidfd_open takes a pid and flags, no pointers. The child is not reaped
    // yet (we hold it), so the pid cannot name another process.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let raw = i32::try_from(raw).map_err(|_| io::Error::other("pidfd out of range"))?;
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor (close-on-exec by default) owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// The start gate of [`Runner::probe_together`]: each probe writes one byte to the
/// `ready` FIFO, then waits for a shared `flock` on `lock`, which the runner holds
/// exclusively until every probe is ready and releases by dropping the gate. A probe
/// arriving late finds the lock free and goes straight on, so nobody waits for ever.
struct Gate {
    ready: PathBuf,
    lock: PathBuf,
    /// The FIFO, opened read-write so that probes' opens never block.
    ready_fd: File,
    /// Holds the exclusive lock while alive.
    _lock_fd: File,
}

impl Gate {
    fn new(sb: &Sandbox, seq: usize) -> Result<Gate, BenchError> {
        let ready = sb.dir().join(format!("gate-{seq}.ready"));
        let lock = sb.dir().join(format!("gate-{seq}.lock"));
        let cpath = std::ffi::CString::new(ready.as_os_str().as_encoded_bytes())
            .map_err(|_| BenchError::Usage("sandbox path contains a NUL byte".to_string()))?;
        // SAFETY: `cpath` is a valid NUL-terminated path.
        if unsafe { libc::mkfifo(cpath.as_ptr(), 0o600) } != 0 {
            return Err(BenchError::io(
                format!("create the FIFO {}", ready.display()),
                io::Error::last_os_error(),
            ));
        }
        let io_err = |what: String| move |e| BenchError::io(what, e);
        let ready_fd = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&ready)
            .map_err(io_err(format!("open {}", ready.display())))?;
        let lock_fd = File::create(&lock).map_err(io_err(format!("create {}", lock.display())))?;
        // SAFETY: flock on a descriptor we own; no pointers.
        if unsafe { libc::flock(lock_fd.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(BenchError::io(
                format!("lock {}", lock.display()),
                io::Error::last_os_error(),
            ));
        }
        Ok(Gate {
            ready,
            lock,
            ready_fd,
            _lock_fd: lock_fd,
        })
    }

    /// Waits until `n` probes have said they are ready.
    fn wait_for(&self, n: usize, limit: Duration) -> Result<(), BenchError> {
        let deadline = Instant::now() + limit;
        let mut seen = 0;
        let mut buf = [0u8; 256];
        while seen < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(BenchError::io(
                    format!("start {n} probes together ({seen} reached the gate)"),
                    io::ErrorKind::TimedOut.into(),
                ));
            }
            let mut pfd = libc::pollfd {
                fd: self.ready_fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = libc::c_int::try_from(left.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
            // SAFETY: one initialised pollfd, count one.
            unsafe { libc::poll(&mut pfd, 1, ms) };
            match (&self.ready_fd).read(&mut buf) {
                Ok(k) => seen += k,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(BenchError::io("read the start gate".to_string(), e)),
            }
        }
        Ok(())
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        // Closing the lock descriptor (after this) releases the probes.
        let _ = fs::remove_file(&self.ready);
        let _ = fs::remove_file(&self.lock);
    }
}
