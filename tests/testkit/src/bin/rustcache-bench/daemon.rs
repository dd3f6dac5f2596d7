//! The caching daemons compared with rustcache (nscd, dnsmasq, unbound), each started
//! inside a sandbox: in its network namespace (so it can only reach the scripted
//! servers on 127.0.0.x) and its mount namespace (so it reads the sandbox's
//! `resolv.conf` and `nsswitch.conf` and writes under the sandbox's `/run`), with a
//! configuration given on the command line or in a file of the sandbox directory (never
//! the host's `/etc/nscd.conf`, `/etc/dnsmasq.conf` or `/etc/unbound`). They listen on
//! 127.0.0.x only and forward to the scenario's scripted servers.

use std::fs::{self, File};
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use rustcache_testkit::ns::Sandbox;

use crate::error::BenchError;

/// Where dnsmasq listens (port 53).
pub const DNSMASQ_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 53);
/// Where unbound listens (port 53).
pub const UNBOUND_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 54);
/// How long a daemon may take to start listening.
const START_LIMIT: Duration = Duration::from_secs(10);
/// Entries each daemon may cache: far more than any scenario looks up.
const CACHE_ENTRIES: usize = 10_000;

/// A daemon running in a sandbox; killed when dropped.
pub struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// nscd with only the hosts cache enabled, shared memory on (clients read hits from
    /// the mapped database, as on a stock Debian install), nothing persistent. It
    /// resolves through the sandbox's `nsswitch.conf` (`hosts: dns`) and `resolv.conf`;
    /// its socket is `/run/nscd/socket` in the sandbox's `/run`, where glibc looks for
    /// it (`/var/run/nscd/socket`, `/var/run` being a link to `/run`).
    pub fn nscd(sb: &Sandbox, program: &Path) -> Result<Daemon, BenchError> {
        let config = sb.write_file(
            "nscd.conf",
            format!(
                "# rustcache-bench: nscd with a hosts cache only\n\
                 debug-level 0\n\
                 paranoia no\n\
                 threads 4\n\
                 max-threads 32\n\
                 enable-cache passwd no\n\
                 enable-cache group no\n\
                 enable-cache services no\n\
                 enable-cache netgroup no\n\
                 enable-cache hosts yes\n\
                 positive-time-to-live hosts 3600\n\
                 negative-time-to-live hosts 20\n\
                 suggested-size hosts {}\n\
                 check-files hosts no\n\
                 persistent hosts no\n\
                 shared hosts yes\n\
                 max-db-size hosts 33554432\n",
                next_prime(CACHE_ENTRIES)
            ),
        );
        let socket_dir = sb.run_dir().join("nscd");
        fs::create_dir_all(&socket_dir)
            .map_err(|e| BenchError::io(format!("create {}", socket_dir.display()), e))?;
        let mut cmd = sb.command(program);
        cmd.arg("--foreground").arg("--config-file").arg(&config);
        let mut daemon = Daemon::spawn("nscd", sb, cmd)?;
        let socket = socket_dir.join("socket");
        // The socket file exists from bind(); connecting succeeds once nscd listens. A
        // client that met a refused connection would stop asking nscd for a while and
        // resolve by itself, so wait for a real connection.
        daemon.wait_until(|| UnixStream::connect(&socket).is_ok())?;
        Ok(daemon)
    }

    /// dnsmasq as a caching forwarder on 127.0.0.53:53 to `upstreams`, reading no
    /// configuration, hosts or resolv.conf file, as root (no privilege drop), logging to
    /// a file in the sandbox.
    pub fn dnsmasq(
        sb: &Sandbox,
        program: &Path,
        upstreams: &[IpAddr],
    ) -> Result<Daemon, BenchError> {
        let log = sb.dir().join("dnsmasq.log");
        let mut cmd = sb.command(program);
        cmd.args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--port=53",
            "--user=root",
            "--group=root",
            "--pid-file=",
        ])
        .arg(format!("--listen-address={DNSMASQ_ADDR}"))
        .arg(format!("--cache-size={CACHE_ENTRIES}"))
        .arg("--dns-forward-max=1000")
        .arg(format!("--log-facility={}", log.display()));
        for ip in upstreams {
            cmd.arg(format!("--server={ip}"));
        }
        let mut daemon = Daemon::spawn("dnsmasq", sb, cmd)?;
        daemon.wait_until(|| udp_listening(DNSMASQ_ADDR, 53))?;
        Ok(daemon)
    }

    /// unbound as a caching forwarder on 127.0.0.54:53 to `upstreams`: iterator module
    /// only (no DNSSEC validation, no trust anchor), one thread, no chroot, no privilege
    /// drop, no remote control, logging to a file in the sandbox.
    pub fn unbound(
        sb: &Sandbox,
        program: &Path,
        upstreams: &[IpAddr],
    ) -> Result<Daemon, BenchError> {
        let dir = sb.dir().display().to_string();
        let forward: String = upstreams
            .iter()
            .map(|ip| format!("    forward-addr: {ip}\n"))
            .collect();
        let config = sb.write_file(
            "unbound.conf",
            format!(
                "# rustcache-bench: unbound as a caching forwarder\n\
                 server:\n\
                 \x20   interface: {UNBOUND_ADDR}\n\
                 \x20   port: 53\n\
                 \x20   do-ip6: no\n\
                 \x20   num-threads: 1\n\
                 \x20   so-reuseport: no\n\
                 \x20   username: \"\"\n\
                 \x20   chroot: \"\"\n\
                 \x20   directory: \"{dir}\"\n\
                 \x20   pidfile: \"\"\n\
                 \x20   use-syslog: no\n\
                 \x20   logfile: \"{dir}/unbound.log\"\n\
                 \x20   verbosity: 1\n\
                 \x20   access-control: 127.0.0.0/8 allow\n\
                 \x20   module-config: \"iterator\"\n\
                 \x20   do-not-query-localhost: no\n\
                 \x20   qname-minimisation: no\n\
                 \x20   prefetch: no\n\
                 \x20   msg-cache-size: 16m\n\
                 \x20   rrset-cache-size: 32m\n\
                 forward-zone:\n\
                 \x20   name: \".\"\n\
                 {forward}\
                 remote-control:\n\
                 \x20   control-enable: no\n"
            ),
        );
        let mut cmd = sb.command(program);
        cmd.arg("-d").arg("-c").arg(&config);
        let mut daemon = Daemon::spawn("unbound", sb, cmd)?;
        daemon.wait_until(|| udp_listening(UNBOUND_ADDR, 53))?;
        Ok(daemon)
    }

    /// Spawns `cmd` (a [`Sandbox::command`]) with its output going to a log file.
    fn spawn(
        name: &'static str,
        sb: &Sandbox,
        mut cmd: std::process::Command,
    ) -> Result<Daemon, BenchError> {
        let log = sb.dir().join(format!("{name}.out"));
        let io_err = |what: String| move |e| BenchError::io(what, e);
        let out = File::create(&log).map_err(io_err(format!("create {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(io_err(format!("open {}", log.display())))?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd.spawn().map_err(io_err(format!("start {name}")))?;
        Ok(Daemon { name, child, log })
    }

    /// Waits until `ready` holds, failing when the daemon exits or takes too long.
    fn wait_until(&mut self, mut ready: impl FnMut() -> bool) -> Result<(), BenchError> {
        let deadline = Instant::now() + START_LIMIT;
        loop {
            self.still_running()?;
            if ready() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.failure(format!(
                    "{} did not start listening within {} s",
                    self.name,
                    START_LIMIT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Fails when the daemon has exited.
    pub fn still_running(&mut self) -> Result<(), BenchError> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(self.failure(format!("{} exited: {status}", self.name))),
            Err(e) => Err(BenchError::io(format!("wait for {}", self.name), e)),
        }
    }

    /// A daemon error carrying what it printed (and its own log file, if any).
    fn failure(&self, what: String) -> BenchError {
        let mut log = fs::read_to_string(&self.log).unwrap_or_default();
        if let Some(dir) = self.log.parent() {
            if let Ok(own) = fs::read_to_string(dir.join(format!("{}.log", self.name))) {
                log.push_str(&own);
            }
        }
        BenchError::Daemon { what, log }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True when a UDP socket of this thread's network namespace is bound to `addr:port`
/// (read from `/proc/thread-self/net/udp`, which shows the namespace of the calling
/// thread, i.e. the sandbox's).
fn udp_listening(addr: Ipv4Addr, port: u16) -> bool {
    // The kernel prints the address as the u32 in memory (network order) in hex, so
    // 127.0.0.53 appears as 3500007F on a little-endian machine.
    let local = format!("{:08X}:{port:04X}", u32::from_ne_bytes(addr.octets()));
    fs::read_to_string("/proc/thread-self/net/udp").is_ok_and(|table| {
        table
            .lines()
            .skip(1)
            .any(|line| line.split_whitespace().nth(1) == Some(local.as_str()))
    })
}

/// The smallest prime at or above `n` (nscd wants a prime table size).
fn next_prime(n: usize) -> usize {
    let is_prime = |k: usize| k >= 2 && (2..).take_while(|d| d * d <= k).all(|d| k % d != 0);
    (n..).find(|&k| is_prime(k)).unwrap_or(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nscd_table_sizes_are_prime() {
        assert_eq!(next_prime(10_000), 10_007);
        assert_eq!(next_prime(211), 211);
    }
}
