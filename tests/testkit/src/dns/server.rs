//! The scripted server itself: UDP and TCP listeners on background threads, a timer
//! thread for delayed replies, the query log, and a clean stop on drop.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::log::{LoggedQuery, Transport};
use super::reply::{self, Outgoing};
use super::zone::{key_of_name, key_of_str};
use super::{Behaviour, Zone};

/// How often idle threads look at the stop flag: bounds how long `drop` takes.
const POLL: Duration = Duration::from_millis(25);
/// A TCP client that stops reading does not wedge a writer for longer than this.
const TCP_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// A DNS server on `addr:53` (UDP and TCP) answering from a [`Zone`] under a
/// [`Behaviour`] that can change while it runs.
///
/// It runs on background threads and stops when dropped (within a few tens of
/// milliseconds; pending delayed replies are discarded). Start it from inside a
/// [`Sandbox`](crate::ns::Sandbox) so it binds in the private network namespace.
///
/// ```no_run
/// use rustcache_testkit::dns::{Behaviour, ScriptedServer, Zone};
/// let zone = Zone::new().soa("example.com", 60).a("www.example.com", 300, "192.0.2.1".parse().unwrap());
/// let server = ScriptedServer::start("127.0.0.2".parse().unwrap(), zone).unwrap();
/// server.set_name_behaviour("slow.example.com", Behaviour::Blackhole);
/// // ... run lookups ...
/// assert_eq!(server.count_for("www.example.com", 1), 1);
/// ```
pub struct ScriptedServer {
    shared: Arc<Shared>,
    local: SocketAddr,
    threads: Vec<JoinHandle<()>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// State shared by the server's threads and its handle.
struct Shared {
    zone: RwLock<Zone>,
    behaviour: Mutex<Behaviour>,
    per_name: Mutex<HashMap<String, Behaviour>>,
    log: Mutex<Vec<LoggedQuery>>,
    logging: AtomicBool,
    total: AtomicUsize,
    udp: AtomicUsize,
    tcp: AtomicUsize,
    stop: AtomicBool,
    timer: Mutex<mpsc::Sender<Timed>>,
}

/// A reply to send later, on the timer thread.
struct Timed {
    at: Instant,
    send: Box<dyn FnOnce() + Send>,
}

/// Locks a mutex, ignoring poisoning: a panicked test thread must not take the server's
/// bookkeeping down with it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ScriptedServer {
    /// Starts a server on `addr` port 53 that answers from `zone`.
    pub fn start(addr: IpAddr, zone: Zone) -> io::Result<Self> {
        Self::start_on(SocketAddr::new(addr, 53), zone, Behaviour::Answer)
    }

    /// Starts a server on `addr` port 53 with an initial behaviour.
    pub fn start_with(addr: IpAddr, zone: Zone, behaviour: Behaviour) -> io::Result<Self> {
        Self::start_on(SocketAddr::new(addr, 53), zone, behaviour)
    }

    /// Starts a server on any address and port (port 0: one chosen by the kernel, the
    /// same for UDP and TCP).
    pub fn start_on(bind: SocketAddr, zone: Zone, behaviour: Behaviour) -> io::Result<Self> {
        let udp = UdpSocket::bind(bind)?;
        let local = udp.local_addr()?;
        let tcp = TcpListener::bind(local)?;
        udp.set_read_timeout(Some(POLL))?;
        let udp = Arc::new(udp);

        let (timer_tx, timer_rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            zone: RwLock::new(zone),
            behaviour: Mutex::new(behaviour),
            per_name: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            logging: AtomicBool::new(true),
            total: AtomicUsize::new(0),
            udp: AtomicUsize::new(0),
            tcp: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            timer: Mutex::new(timer_tx),
        });
        let connections = Arc::new(Mutex::new(Vec::new()));

        let mut threads = Vec::new();
        let s = Arc::clone(&shared);
        threads.push(spawn_named("dns-timer", move || timer_loop(&s, &timer_rx))?);
        let s = Arc::clone(&shared);
        threads.push(spawn_named("dns-udp", move || udp_loop(&s, &udp))?);
        let s = Arc::clone(&shared);
        let conns = Arc::clone(&connections);
        threads.push(spawn_named("dns-tcp", move || {
            accept_loop(&s, &tcp, &conns)
        })?);

        Ok(ScriptedServer {
            shared,
            local,
            threads,
            connections,
        })
    }

    /// The address and port the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.local
    }

    /// The IP address the server listens on.
    pub fn ip(&self) -> IpAddr {
        self.local.ip()
    }

    /// Sets the behaviour for every name without a per-name override.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *lock(&self.shared.behaviour) = behaviour;
    }

    /// Sets the behaviour for questions about `name` (case-insensitive, exact name).
    pub fn set_name_behaviour(&self, name: &str, behaviour: Behaviour) {
        lock(&self.shared.per_name).insert(key_of_str(name), behaviour);
    }

    /// Removes every per-name override.
    pub fn clear_name_behaviours(&self) {
        lock(&self.shared.per_name).clear();
    }

    /// Replaces the zone (for example to change an address between two lookups).
    pub fn set_zone(&self, zone: Zone) {
        *self
            .shared
            .zone
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = zone;
    }

    /// Turns the per-query log on or off (it is on by default). Counts are kept either
    /// way; long benchmarks turn the log off to keep memory flat.
    pub fn set_logging(&self, on: bool) {
        self.shared.logging.store(on, Ordering::Relaxed);
    }

    /// Every query received since the start or the last [`clear_log`](Self::clear_log),
    /// oldest first.
    pub fn queries(&self) -> Vec<LoggedQuery> {
        lock(&self.shared.log).clone()
    }

    /// How many queries were received (both transports, malformed ones excluded).
    pub fn count(&self) -> usize {
        self.shared.total.load(Ordering::Relaxed)
    }

    /// How many queries came over one transport.
    pub fn count_transport(&self, transport: Transport) -> usize {
        match transport {
            Transport::Udp => self.shared.udp.load(Ordering::Relaxed),
            Transport::Tcp => self.shared.tcp.load(Ordering::Relaxed),
        }
    }

    /// How many logged queries asked `qtype` for `name` (case-insensitive).
    pub fn count_for(&self, name: &str, qtype: u16) -> usize {
        lock(&self.shared.log)
            .iter()
            .filter(|q| q.is_for(name, qtype))
            .count()
    }

    /// Forgets the log and resets the counts.
    pub fn clear_log(&self) {
        let mut log = lock(&self.shared.log);
        log.clear();
        self.shared.total.store(0, Ordering::Relaxed);
        self.shared.udp.store(0, Ordering::Relaxed);
        self.shared.tcp.store(0, Ordering::Relaxed);
    }

    /// Waits until at least `n` queries were received or `timeout` passed; returns
    /// whether the count was reached.
    pub fn wait_for_count(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.count() < n {
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(2));
        }
        true
    }

    /// Names (lower-case) that have a per-name behaviour, for diagnostics.
    pub fn name_behaviours(&self) -> Vec<(String, Behaviour)> {
        let mut v: Vec<_> = lock(&self.shared.per_name)
            .iter()
            .map(|(k, b)| (k.clone(), *b))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let conns: Vec<_> = lock(&self.connections).drain(..).collect();
        for c in conns {
            let _ = c.join();
        }
    }
}

impl std::fmt::Debug for ScriptedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedServer")
            .field("addr", &self.local)
            .field("behaviour", &*lock(&self.shared.behaviour))
            .field("count", &self.count())
            .finish()
    }
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Decodes, logs and answers one query; returns the messages to send.
    fn handle(&self, packet: &[u8], transport: Transport, peer: SocketAddr) -> Vec<Outgoing> {
        let parsed = match reply::parse(packet) {
            Ok(p) => p,
            Err(Some(formerr)) => {
                return vec![Outgoing {
                    after: Duration::ZERO,
                    bytes: formerr,
                }]
            }
            Err(None) => return Vec::new(),
        };
        let ascii = parsed.query.name().to_ascii();
        let name = match ascii.strip_suffix('.') {
            Some("") => ".".to_string(),
            Some(trimmed) => trimmed.to_string(),
            None => ascii.clone(),
        };
        self.total.fetch_add(1, Ordering::Relaxed);
        match transport {
            Transport::Udp => self.udp.fetch_add(1, Ordering::Relaxed),
            Transport::Tcp => self.tcp.fetch_add(1, Ordering::Relaxed),
        };
        if self.logging.load(Ordering::Relaxed) {
            lock(&self.log).push(LoggedQuery {
                name: name.clone(),
                qtype: u16::from(parsed.query.query_type()),
                transport,
                edns_payload: parsed.message.edns.as_ref().map(|e| e.max_payload()),
                id: parsed.message.metadata.id,
                peer,
                at: Instant::now(),
            });
        }
        let override_for_name = lock(&self.per_name)
            .get(&key_of_name(parsed.query.name()))
            .copied();
        let behaviour = override_for_name.unwrap_or_else(|| *lock(&self.behaviour));
        let zone = self
            .zone
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        reply::respond(&parsed, &zone, behaviour, transport)
    }

    /// Sends `out` now through `send_now`, or hands it to the timer thread.
    fn dispatch(&self, out: Outgoing, send: impl FnOnce(Vec<u8>) + Send + 'static) {
        if out.after.is_zero() {
            send(out.bytes);
        } else {
            let bytes = out.bytes;
            let timed = Timed {
                at: Instant::now() + out.after,
                send: Box::new(move || send(bytes)),
            };
            let _ = lock(&self.timer).send(timed);
        }
    }
}

fn spawn_named(name: &str, f: impl FnOnce() + Send + 'static) -> io::Result<JoinHandle<()>> {
    thread::Builder::new().name(name.to_string()).spawn(f)
}

/// Runs delayed replies when they fall due.
fn timer_loop(shared: &Shared, rx: &mpsc::Receiver<Timed>) {
    let mut pending: Vec<Timed> = Vec::new();
    while !shared.stopping() {
        let now = Instant::now();
        let (due, later): (Vec<Timed>, Vec<Timed>) = pending.drain(..).partition(|t| t.at <= now);
        pending = later;
        let mut due = due;
        due.sort_by_key(|t| t.at);
        for t in due {
            (t.send)();
        }
        let wait = pending
            .iter()
            .map(|t| t.at.saturating_duration_since(now))
            .min()
            .unwrap_or(POLL)
            .min(POLL);
        match rx.recv_timeout(wait) {
            Ok(t) => pending.push(t),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn udp_loop(shared: &Shared, socket: &Arc<UdpSocket>) {
    let mut buf = vec![0u8; 65535];
    while !shared.stopping() {
        let (n, peer) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) if is_retry(&e) => continue,
            // ICMP errors from earlier sends surface here (ECONNREFUSED): keep serving.
            Err(_) => continue,
        };
        let Some(packet) = buf.get(..n) else { continue };
        for out in shared.handle(packet, Transport::Udp, peer) {
            let sock = Arc::clone(socket);
            shared.dispatch(out, move |bytes| {
                let _ = sock.send_to(&bytes, peer);
            });
        }
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener, conns: &Mutex<Vec<JoinHandle<()>>>) {
    while !shared.stopping() {
        if !readable(listener.as_raw_fd(), POLL) {
            continue;
        }
        let (stream, peer) = match listener.accept() {
            Ok(got) => got,
            Err(_) => continue,
        };
        let s = Arc::clone(shared);
        if let Ok(handle) = spawn_named("dns-tcp-conn", move || connection(&s, stream, peer)) {
            let mut conns = lock(conns);
            conns.retain(|h| !h.is_finished());
            conns.push(handle);
        }
    }
}

/// Serves one TCP connection: any number of length-prefixed queries (RFC 1035 4.2.2),
/// pipelined or not, until the client closes or the server stops.
fn connection(shared: &Shared, mut stream: TcpStream, peer: SocketAddr) {
    if stream.set_read_timeout(Some(POLL)).is_err()
        || stream.set_write_timeout(Some(TCP_WRITE_TIMEOUT)).is_err()
    {
        return;
    }
    let writer = match stream.try_clone() {
        Ok(w) => Arc::new(Mutex::new(w)),
        Err(_) => return,
    };
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    while !shared.stopping() {
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => pending.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) if is_retry(&e) => continue,
            Err(_) => return,
        }
        while let Some(message) = take_frame(&mut pending) {
            for out in shared.handle(&message, Transport::Tcp, peer) {
                let w = Arc::clone(&writer);
                shared.dispatch(out, move |bytes| {
                    let Ok(len) = u16::try_from(bytes.len()) else {
                        return;
                    };
                    let mut frame = Vec::with_capacity(bytes.len() + 2);
                    frame.extend_from_slice(&len.to_be_bytes());
                    frame.extend_from_slice(&bytes);
                    let _ = lock(&w).write_all(&frame);
                });
            }
        }
    }
}

/// Removes and returns the first complete length-prefixed message of `buf`.
fn take_frame(buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let len = usize::from(u16::from_be_bytes([*buf.first()?, *buf.get(1)?]));
    let message = buf.get(2..2 + len)?.to_vec();
    buf.drain(..2 + len);
    Some(message)
}

fn is_retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Waits up to `timeout` for `fd` to become readable.
fn readable(fd: i32, timeout: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `pfd` is a valid, initialised pollfd and we pass a count of exactly one.
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    n > 0 && pfd.revents & libc::POLLIN != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_across_reads() {
        let mut buf = vec![0, 3, b'a', b'b'];
        assert_eq!(take_frame(&mut buf), None);
        buf.extend_from_slice(&[b'c', 0, 1, b'z', 0]);
        assert_eq!(take_frame(&mut buf), Some(b"abc".to_vec()));
        assert_eq!(take_frame(&mut buf), Some(b"z".to_vec()));
        assert_eq!(take_frame(&mut buf), None);
        assert_eq!(buf, vec![0]);
    }
}
