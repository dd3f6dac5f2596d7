//! [`Sandbox`]: a thread in private network and mount namespaces, a temporary directory
//! holding the files its child processes see over `/etc`, and the spawning of probes.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::mounts::MountPlan;
use super::probe_output::ProbeOutput;
use super::setup;
use crate::dns::{ScriptedServer, Zone};
use crate::probe::PROBE_FLAG;

/// The file name glibc loads for `rustcache` on the hosts line.
pub const MODULE_FILE: &str = "libnss_rustcache.so.2";
/// Where [`Sandbox::with_upstream`] starts its server.
pub const UPSTREAM: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// How long a probe may run before it is killed, unless changed per sandbox.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(30);

const DEFAULT_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Counter making temporary directory names unique within the process.
static SANDBOX_SEQ: AtomicUsize = AtomicUsize::new(0);

/// A private world for one test.
///
/// [`Sandbox::run`] runs a closure on a new thread that lives in its own network
/// namespace (only `lo`, up, with all of 127.0.0.0/8 and ::1) and its own mount
/// namespace (a tmpfs for the sandbox's `/run`), with a temporary directory removed
/// afterwards. Servers started in the closure bind in that namespace; child processes
/// spawned from it ([`probe`](Self::probe), [`command`](Self::command)) additionally
/// get a private mount namespace in which the sandbox's files are mounted over
/// `/etc/resolv.conf`, `/etc/nsswitch.conf`, `/etc/hosts` and `/run`.
///
/// The files are written in place, so a change is seen at once by running children.
/// The `/run` tmpfs is shared by every child of one sandbox (so the shared cache
/// persists from one probe to the next); [`clear_run`](Self::clear_run) empties it.
/// So is a fresh sticky tmpfs (mode 1777) over `/dev/shm`, as a container has:
/// children never see or write the host's `/dev/shm` (the cache's fallback place).
#[derive(Debug)]
pub struct Sandbox {
    dir: PathBuf,
    run_dir: PathBuf,
    run_is_tmpfs: bool,
    shm_dir: PathBuf,
    shm_is_tmpfs: bool,
    netns: u64,
    probes: AtomicUsize,
    settings: Mutex<Settings>,
}

#[derive(Debug)]
struct Settings {
    env: Vec<(OsString, OsString)>,
    probe_binary: PathBuf,
    /// A program (and its arguments) that runs the probe binary, e.g. valgrind.
    probe_wrapper: Vec<OsString>,
    probe_timeout: Duration,
    module_dir: PathBuf,
    etc_overlay: bool,
}

/// The directory `LD_LIBRARY_PATH` points probes at: `$RUSTCACHE_MODULE_DIR`, else the
/// workspace's `target/release`.
pub fn module_dir() -> PathBuf {
    match std::env::var_os("RUSTCACHE_MODULE_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let testkit = Path::new(env!("CARGO_MANIFEST_DIR"));
            let root = testkit.parent().and_then(Path::parent).unwrap_or(testkit);
            root.join("target").join("release")
        }
    }
}

/// The module file probes would load, and whether it exists.
pub fn module_path() -> (PathBuf, bool) {
    let path = module_dir().join(MODULE_FILE);
    let exists = path.is_file();
    (path, exists)
}

impl Sandbox {
    /// Runs `f` on a fresh thread inside a new sandbox and returns its result. A panic
    /// in `f` is propagated to the caller after the sandbox is cleaned up.
    ///
    /// Panics when the namespaces cannot be created (not root / no CAP_SYS_ADMIN).
    pub fn run<F, R>(f: F) -> R
    where
        F: FnOnce(&Sandbox) -> R + Send,
        R: Send,
    {
        thread::scope(|scope| {
            let handle = thread::Builder::new()
                .name("sandbox".to_string())
                .spawn_scoped(scope, move || {
                    let sandbox = Sandbox::enter().unwrap_or_else(|e| {
                        panic!("cannot create a sandbox (needs root / CAP_SYS_ADMIN): {e}")
                    });
                    f(&sandbox)
                })
                .unwrap_or_else(|e| panic!("cannot spawn the sandbox thread: {e}"));
            match handle.join() {
                Ok(r) => r,
                Err(payload) => std::panic::resume_unwind(payload),
            }
        })
    }

    /// Like [`run`](Self::run), with one scripted upstream already answering from `zone`
    /// on 127.0.0.2 and a `resolv.conf` naming it, with `options timeout:1 attempts:1`
    /// so a test that stalls glibc stalls it for one second only.
    pub fn with_upstream<F, R>(zone: Zone, f: F) -> R
    where
        F: FnOnce(&Sandbox, &ScriptedServer) -> R + Send,
        R: Send,
    {
        Sandbox::run(move |sb| {
            let server = ScriptedServer::start(UPSTREAM, zone)
                .unwrap_or_else(|e| panic!("cannot start the scripted upstream: {e}"));
            sb.write_resolv_conf("nameserver 127.0.0.2\noptions timeout:1 attempts:1\n");
            f(sb, &server)
        })
    }

    /// Builds the namespaces and the directory for the calling (fresh) thread.
    fn enter() -> io::Result<Sandbox> {
        setup::enter_private_netns()?;
        let netns = setup::current_netns()?;
        let private_mounts = setup::enter_private_mountns().is_ok();
        let dir = make_temp_dir()?;
        let run_dir = dir.join("run");
        fs::create_dir(&run_dir)?;
        let run_is_tmpfs = private_mounts && setup::mount_tmpfs(&run_dir).is_ok();
        let shm_dir = dir.join("shm");
        fs::create_dir(&shm_dir)?;
        let shm_is_tmpfs =
            private_mounts && setup::mount_tmpfs_with(&shm_dir, c"mode=1777").is_ok();
        if !shm_is_tmpfs {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&shm_dir, fs::Permissions::from_mode(0o1777))?;
        }
        let probe_binary = std::env::current_exe()?;
        let sandbox = Sandbox {
            dir,
            run_dir,
            run_is_tmpfs,
            shm_dir,
            shm_is_tmpfs,
            netns,
            probes: AtomicUsize::new(0),
            settings: Mutex::new(Settings {
                env: Vec::new(),
                probe_binary,
                probe_wrapper: Vec::new(),
                probe_timeout: DEFAULT_PROBE_TIMEOUT,
                module_dir: module_dir(),
                etc_overlay: false,
            }),
        };
        fs::create_dir(sandbox.dir.join("probes"))?;
        sandbox.write_resolv_conf("# rustcache-testkit sandbox: no nameserver configured\n");
        sandbox.write_nsswitch("files dns");
        sandbox.write_hosts(DEFAULT_HOSTS);
        Ok(sandbox)
    }

    /// The sandbox's temporary directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory children see as `/run` (a tmpfs private to this sandbox).
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// The directory children see as `/dev/shm` (a sticky tmpfs private to this
    /// sandbox).
    pub fn shm_dir(&self) -> &Path {
        &self.shm_dir
    }

    /// Whether [`run_dir`](Self::run_dir) is a tmpfs (it falls back to a plain
    /// directory if the thread could not get a private mount namespace).
    pub fn run_is_tmpfs(&self) -> bool {
        self.run_is_tmpfs
    }

    /// Removes everything under the children's `/run` (for a cold cache).
    pub fn clear_run(&self) {
        let entries = fs::read_dir(&self.run_dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", self.run_dir.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            let removed = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            removed.unwrap_or_else(|e| panic!("cannot remove {}: {e}", path.display()));
        }
    }

    /// Writes `text` to `name` (a relative path) under the sandbox directory, creating
    /// parent directories, and returns the full path. Panics on I/O errors.
    pub fn write_file(&self, name: impl AsRef<Path>, text: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.join(name.as_ref());
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
        }
        fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }

    /// Sets what children read as `/etc/resolv.conf`.
    pub fn write_resolv_conf(&self, text: &str) -> PathBuf {
        self.write_file("resolv.conf", text)
    }

    /// Sets what children read as `/etc/nsswitch.conf`: a complete file whose `hosts:`
    /// line is `hosts_line` (e.g. `"rustcache"`, `"dns"`,
    /// `"files rustcache [!UNAVAIL=return] dns"`) and every other database `files`.
    pub fn write_nsswitch(&self, hosts_line: &str) -> PathBuf {
        let text = format!(
            "# rustcache-testkit sandbox\n\
             passwd: files\n\
             group: files\n\
             shadow: files\n\
             gshadow: files\n\
             hosts: {hosts_line}\n\
             networks: files\n\
             protocols: files\n\
             services: files\n\
             ethers: files\n\
             rpc: files\n\
             netgroup: files\n"
        );
        self.write_file("nsswitch.conf", text)
    }

    /// Sets what children read as `/etc/hosts` (by default only the localhost lines).
    pub fn write_hosts(&self, text: &str) -> PathBuf {
        self.write_file("hosts", text)
    }

    /// Adds or replaces `/etc/<name>` for children, through an overlay mounted on
    /// `/etc` (for files the host does not have, like `/etc/rustcache.conf`).
    pub fn write_etc_file(&self, name: &str, text: &str) -> PathBuf {
        fs::create_dir_all(self.dir.join("etc-work"))
            .unwrap_or_else(|e| panic!("cannot create the overlay work dir: {e}"));
        let path = self.write_file(Path::new("etc-upper").join(name), text);
        self.settings().etc_overlay = true;
        path
    }

    /// Adds `key=value` to the environment of every child spawned afterwards.
    pub fn env(&self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) {
        let (key, value) = (key.as_ref().to_owned(), value.as_ref().to_owned());
        let mut settings = self.settings();
        settings.env.retain(|(k, _)| *k != key);
        settings.env.push((key, value));
    }

    /// Removes a variable set with [`env`](Self::env).
    pub fn remove_env(&self, key: impl AsRef<OsStr>) {
        self.settings().env.retain(|(k, _)| k != key.as_ref());
    }

    /// Uses another probe binary (one whose `main` calls
    /// [`main_if_probe`](crate::probe::main_if_probe), e.g. the testkit's
    /// `rustcache-probe`) instead of the current executable.
    pub fn set_probe_binary(&self, path: impl Into<PathBuf>) {
        self.settings().probe_binary = path.into();
    }

    /// Runs every later probe under `argv` (a program and its arguments, e.g.
    /// `valgrind -q`), which is given the probe binary and its arguments after
    /// its own; an empty `argv` runs the probe binary itself again.
    pub fn set_probe_wrapper(&self, argv: &[&str]) {
        self.settings().probe_wrapper = argv.iter().map(OsString::from).collect();
    }

    /// Changes how long a probe may run before it is killed.
    pub fn set_probe_timeout(&self, timeout: Duration) {
        self.settings().probe_timeout = timeout;
    }

    /// Points children's `LD_LIBRARY_PATH` at another module directory.
    pub fn set_module_dir(&self, dir: impl Into<PathBuf>) {
        self.settings().module_dir = dir.into();
    }

    /// True when the calling thread is in this sandbox's network namespace.
    pub fn is_inside(&self) -> bool {
        setup::current_netns().is_ok_and(|ns| ns == self.netns)
    }

    /// Runs one probe process with `ops` (see [`crate::probe`] for the syntax) and
    /// waits for it (killing it after the probe timeout).
    #[track_caller]
    pub fn probe(&self, ops: &[&str]) -> ProbeOutput {
        self.probe_with(ops, |_| {})
    }

    /// Like [`probe`](Self::probe), running the probe as `uid`/`gid` (after the mounts).
    #[track_caller]
    pub fn probe_as(&self, uid: u32, gid: u32, ops: &[&str]) -> ProbeOutput {
        self.probe_as_with(uid, gid, ops, |_| {})
    }

    /// Like [`probe_as`](Self::probe_as), letting `adjust` change the command first
    /// (its `pre_exec` hooks run after the mounts and the switch to `uid`/`gid`).
    #[track_caller]
    pub fn probe_as_with(
        &self,
        uid: u32,
        gid: u32,
        ops: &[&str],
        adjust: impl FnOnce(&mut Command),
    ) -> ProbeOutput {
        let running = self
            .spawn_probe(ops, Some((uid, gid)), adjust)
            .unwrap_or_else(|e| panic!("cannot spawn a probe: {e}"));
        self.wait_all(vec![running]).remove(0)
    }

    /// Like [`probe`](Self::probe), letting `adjust` change the command first (extra
    /// environment, working directory...).
    #[track_caller]
    pub fn probe_with(&self, ops: &[&str], adjust: impl FnOnce(&mut Command)) -> ProbeOutput {
        let running = self
            .spawn_probe(ops, None, adjust)
            .unwrap_or_else(|e| panic!("cannot spawn a probe: {e}"));
        self.wait_all(vec![running]).remove(0)
    }

    /// Starts `n` probes with the same `ops` at once and waits for all of them.
    #[track_caller]
    pub fn probe_many(&self, n: usize, ops: &[&str]) -> Vec<ProbeOutput> {
        let mut running = Vec::with_capacity(n);
        for _ in 0..n {
            match self.spawn_probe(ops, None, |_| {}) {
                Ok(r) => running.push(r),
                Err(e) => {
                    for mut r in running {
                        let _ = r.child.kill();
                        let _ = r.child.wait();
                    }
                    panic!("cannot spawn a probe: {e}");
                }
            }
        }
        self.wait_all(running)
    }

    /// A command for `program` set up like a probe: environment cleared except `PATH`,
    /// `LD_LIBRARY_PATH` (the module directory) and what [`env`](Self::env) set, and the
    /// sandbox's mounts made in the child. Spawn it from the sandbox thread (or a thread
    /// it created) so the child lands in the sandbox's network namespace.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        self.apply_env(&mut cmd);
        self.mount_plan(None)
            .unwrap_or_else(|e| panic!("cannot prepare the sandbox mounts: {e}"))
            .install(&mut cmd);
        cmd
    }

    /// Like [`command`](Self::command), the child switching to `uid`/`gid` (no
    /// supplementary groups) after the mounts.
    pub fn command_as(&self, program: impl AsRef<OsStr>, uid: u32, gid: u32) -> Command {
        let mut cmd = Command::new(program);
        self.apply_env(&mut cmd);
        self.mount_plan(Some((uid, gid)))
            .unwrap_or_else(|e| panic!("cannot prepare the sandbox mounts: {e}"))
            .install(&mut cmd);
        cmd
    }

    /// Spawns an arbitrary command with the sandbox's mounts (its environment is left
    /// as the caller set it; see [`command`](Self::command) for the probe environment).
    pub fn spawn_in_mount_ns(&self, cmd: &mut Command) -> io::Result<Child> {
        self.check_inside();
        self.mount_plan(None)?.install(cmd);
        cmd.spawn()
    }

    fn settings(&self) -> MutexGuard<'_, Settings> {
        self.settings
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[track_caller]
    fn check_inside(&self) {
        assert!(
            self.is_inside(),
            "sandbox children must be spawned from the sandbox thread or a thread it \
             created, or they would run in the host's network namespace"
        );
    }

    fn apply_env(&self, cmd: &mut Command) {
        let settings = self.settings();
        cmd.env_clear();
        cmd.env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into()),
        );
        cmd.env("LD_LIBRARY_PATH", &settings.module_dir);
        for (k, v) in &settings.env {
            cmd.env(k, v);
        }
    }

    fn mount_plan(&self, user: Option<(u32, u32)>) -> io::Result<MountPlan> {
        let mut plan = MountPlan::new();
        if self.settings().etc_overlay {
            plan.overlay_etc(&self.dir.join("etc-upper"), &self.dir.join("etc-work"))?;
        }
        plan.bind(&self.dir.join("resolv.conf"), Path::new("/etc/resolv.conf"))?;
        plan.bind(
            &self.dir.join("nsswitch.conf"),
            Path::new("/etc/nsswitch.conf"),
        )?;
        plan.bind(&self.dir.join("hosts"), Path::new("/etc/hosts"))?;
        plan.bind(&self.run_dir, Path::new("/run"))?;
        plan.bind(&self.shm_dir, Path::new("/dev/shm"))?;
        if let Some((uid, gid)) = user {
            plan.run_as(uid, gid);
        }
        Ok(plan)
    }

    #[track_caller]
    fn spawn_probe(
        &self,
        ops: &[&str],
        user: Option<(u32, u32)>,
        adjust: impl FnOnce(&mut Command),
    ) -> io::Result<RunningProbe> {
        self.check_inside();
        let seq = self.probes.fetch_add(1, Ordering::Relaxed);
        let out_path = self.dir.join("probes").join(format!("{seq}.out"));
        let err_path = self.dir.join("probes").join(format!("{seq}.err"));
        let (binary, wrapper) = {
            let settings = self.settings();
            (
                settings.probe_binary.clone(),
                settings.probe_wrapper.clone(),
            )
        };
        let mut cmd = match wrapper.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(binary);
                cmd
            }
            None => Command::new(binary),
        };
        cmd.arg(PROBE_FLAG).args(ops);
        self.apply_env(&mut cmd);
        cmd.stdin(Stdio::null())
            .stdout(File::create(&out_path)?)
            .stderr(File::create(&err_path)?);
        self.mount_plan(user)?.install(&mut cmd);
        adjust(&mut cmd);
        let started = Instant::now();
        let child = cmd.spawn()?;
        Ok(RunningProbe {
            child,
            ops: ops.iter().map(|s| s.to_string()).collect(),
            out_path,
            err_path,
            started,
            finished: None,
        })
    }

    /// Waits for every probe, killing those still running at the timeout.
    fn wait_all(&self, mut running: Vec<RunningProbe>) -> Vec<ProbeOutput> {
        let timeout = self.settings().probe_timeout;
        let deadline = running
            .iter()
            .map(|r| r.started)
            .min()
            .map_or_else(Instant::now, |s| s + timeout);
        let mut nap = Duration::from_micros(100);
        loop {
            let mut all_done = true;
            for r in running.iter_mut().filter(|r| r.finished.is_none()) {
                match r.child.try_wait() {
                    Ok(Some(status)) => r.finished = Some((status, false, r.started.elapsed())),
                    Ok(None) => all_done = false,
                    Err(e) => panic!("cannot wait for a probe: {e}"),
                }
            }
            if all_done {
                break;
            }
            if Instant::now() >= deadline {
                for r in running.iter_mut().filter(|r| r.finished.is_none()) {
                    let _ = r.child.kill();
                    let status = r
                        .child
                        .wait()
                        .unwrap_or_else(|e| panic!("cannot reap a killed probe: {e}"));
                    r.finished = Some((status, true, r.started.elapsed()));
                }
                break;
            }
            thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_millis(5));
        }
        running.into_iter().map(RunningProbe::collect).collect()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if self.run_is_tmpfs {
            let _ = setup::unmount(&self.run_dir);
        }
        if self.shm_is_tmpfs {
            let _ = setup::unmount(&self.shm_dir);
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A spawned probe whose output goes to files in the sandbox directory.
struct RunningProbe {
    child: Child,
    ops: Vec<String>,
    out_path: PathBuf,
    err_path: PathBuf,
    started: Instant,
    finished: Option<(std::process::ExitStatus, bool, Duration)>,
}

impl RunningProbe {
    fn collect(self) -> ProbeOutput {
        let (status, timed_out, elapsed) = self
            .finished
            .unwrap_or_else(|| panic!("probe collected before it finished"));
        let read = |p: &Path| {
            fs::read(p)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_else(|e| format!("<cannot read {}: {e}>", p.display()))
        };
        let out = ProbeOutput {
            ops: self.ops,
            stdout: read(&self.out_path),
            stderr: read(&self.err_path),
            status,
            timed_out,
            elapsed,
        };
        let _ = fs::remove_file(&self.out_path);
        let _ = fs::remove_file(&self.err_path);
        out
    }
}

/// Creates a fresh directory under the system temporary directory.
fn make_temp_dir() -> io::Result<PathBuf> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    loop {
        let seq = SANDBOX_SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "rustcache-sandbox-{}-{seq}-{nanos:x}",
            std::process::id()
        ));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}
