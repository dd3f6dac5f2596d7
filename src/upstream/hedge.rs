//! One question (or the A and AAAA pair) asked of the upstream servers with
//! hedging.
//!
//! The best-ranked server is asked first. If it has not answered after its
//! hedge delay (its RTO), the next one is asked too, and so on; whichever
//! valid answer comes first wins, and late ones are ignored. SERVFAIL,
//! REFUSED and ICMP port unreachable move on to the next server at once.
//! When every server was asked and `timeout` has passed since the round
//! began, a new round starts, up to `attempts` rounds, all inside the
//! lookup's deadline. A truncated answer is asked again over TCP of the
//! same server.
//!
//! A server that is down (see `health`) is ranked last. Once its down
//! interval has passed, one caller on the host wins the probe lease and
//! sends it a copy of its real query alongside the normal ones, so nobody
//! waits on the probe.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::health::{HealthTable, State};
use super::message::{decode_reply, encode_query, Mismatch, QType, Reply};
use super::transport::{tcp_exchange, udp_connect, wait_readable, RECV_BUFFER};
use crate::clock::now_ms;

/// How the servers are to be asked.
pub struct Plan<'a> {
    /// The servers, in configuration order.
    pub servers: &'a [SocketAddr],
    /// What is known about them.
    pub health: HealthTable<'a>,
    /// Length of one round over the servers.
    pub round: Duration,
    /// Number of rounds.
    pub attempts: u8,
    /// The lookup's deadline.
    pub deadline: Instant,
    /// Start the ranking at this server (resolv.conf `rotate`), else 0.
    pub rotate: usize,
}

/// What became of one question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A server answered (data, NODATA or NXDOMAIN).
    Reply(Reply),
    /// Servers answered only with failures (SERVFAIL, REFUSED, ...).
    ServerFailure,
    /// No server answered in time.
    NoResponse,
}

/// Counters of one exchange, for statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Queries sent (UDP and TCP, probes included).
    pub queries: u32,
    /// Servers asked because an earlier one was slow or failed.
    pub hedges: u32,
    /// Queries retried over TCP.
    pub tcp: u32,
}

/// No query could be sent at all (no socket could be opened to any server).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unavailable;

/// One server asked in one round.
struct Attempt {
    server: usize,
    socket: UdpSocket,
    sent_at: Instant,
    /// The query ID per question slot; `None` if this slot was not asked.
    ids: [Option<u16>; 2],
    /// A failure rcode came back for this slot.
    failed: [bool; 2],
    /// A valid reply came back (for any slot).
    answered: bool,
    /// Nothing more will come: refused, socket error, or every asked slot
    /// failed.
    dead: bool,
    /// Unreachable (ICMP) or socket error, as opposed to a failure rcode.
    unreachable: bool,
}

impl Attempt {
    fn settle(&mut self) {
        let pending = self
            .ids
            .iter()
            .zip(self.failed)
            .any(|(id, failed)| id.is_some() && !failed);
        if !pending {
            self.dead = true;
        }
    }
}

/// Random query IDs, from the OS, fetched in one call per exchange.
struct Ids {
    pool: [u8; 64],
    used: usize,
}

impl Ids {
    fn new() -> Ids {
        let mut ids = Ids {
            pool: [0; 64],
            used: 64,
        };
        ids.refill();
        ids
    }

    fn refill(&mut self) {
        // SAFETY: the pointer and length describe `self.pool`, which
        // getrandom fills with at most that many bytes.
        let n = unsafe {
            libc::getrandom(
                self.pool.as_mut_ptr().cast(),
                self.pool.len(),
                libc::GRND_NONBLOCK,
            )
        };
        if n != self.pool.len() as isize {
            // Only before the entropy pool is initialised at boot: fall
            // back to the clock, never to a fixed ID.
            let seed = now_ms() ^ u64::from(std::process::id()).rotate_left(32);
            for (i, b) in self.pool.iter_mut().enumerate() {
                *b = (seed.rotate_left(i as u32 * 7) as u8) ^ (i as u8).wrapping_mul(151);
            }
        }
        self.used = 0;
    }

    fn next(&mut self) -> u16 {
        if self.used + 2 > self.pool.len() {
            self.refill();
        }
        let id = u16::from_le_bytes([
            self.pool.get(self.used).copied().unwrap_or(0),
            self.pool.get(self.used + 1).copied().unwrap_or(0),
        ]);
        self.used += 2;
        id
    }
}

/// Asks `name` for each of `qtypes` (one or two) and returns one answer per
/// type, in the same order.
pub fn ask(
    plan: &Plan<'_>,
    name: &str,
    qtypes: &[QType],
    counters: &mut Counters,
) -> Result<Vec<Answer>, Unavailable> {
    let qtypes = qtypes.get(..qtypes.len().min(2)).unwrap_or(&[]);
    let mut run = Run {
        plan,
        name,
        qtypes,
        order: rank(plan),
        attempts: Vec::new(),
        results: [None, None],
        ids: Ids::new(),
        counters,
        launched_any: false,
    };
    run.go();
    if !run.launched_any {
        return Err(Unavailable);
    }
    Ok(run.finish())
}

/// Server indexes in the order they are to be asked: healthy, then suspect,
/// then down; configuration order (rotated) within each.
fn rank(plan: &Plan<'_>) -> Vec<usize> {
    let now = now_ms();
    let n = plan.servers.len();
    let mut order: Vec<(State, usize, usize)> = (0..n)
        .map(|pos| {
            let index = (pos + plan.rotate) % n;
            let state = plan
                .servers
                .get(index)
                .and_then(|s| plan.health.get(s))
                .map_or(State::Healthy, |h| h.state(now));
            (state, pos, index)
        })
        .collect();
    order.sort();
    order.into_iter().map(|(_, _, index)| index).collect()
}

struct Run<'p, 'a> {
    plan: &'p Plan<'a>,
    name: &'p str,
    qtypes: &'p [QType],
    order: Vec<usize>,
    attempts: Vec<Attempt>,
    results: [Option<Reply>; 2],
    ids: Ids,
    counters: &'p mut Counters,
    launched_any: bool,
}

impl Run<'_, '_> {
    fn done(&self) -> bool {
        (0..self.qtypes.len()).all(|q| self.results.get(q).is_some_and(Option::is_some))
    }

    fn go(&mut self) {
        let start = Instant::now();
        let mut round = 0u8;
        let mut round_start = start;
        let mut next_index = 0usize;
        let mut next_send = start;
        let mut ready = Vec::new();
        let mut buf = [0u8; RECV_BUFFER];
        self.launch_probe();
        while !self.done() {
            let now = Instant::now();
            if now >= self.plan.deadline {
                return;
            }
            if now >= next_send {
                if let Some(&server) = self.order.get(next_index) {
                    next_index += 1;
                    if next_index > 1 || round > 0 {
                        self.counters.hedges += 1;
                    }
                    next_send = match self.launch(server, now) {
                        true => now + self.hedge_delay(server),
                        false => now,
                    };
                    continue;
                }
                if !self.attempts.iter().any(|a| !a.dead) {
                    // Every server failed outright (or could not be asked)
                    // in this round: waiting longer would not change that.
                    return;
                }
                if round + 1 < self.plan.attempts && now >= round_start + self.plan.round {
                    round += 1;
                    round_start = now;
                    next_index = 0;
                    continue;
                }
                next_send = if round + 1 < self.plan.attempts {
                    round_start + self.plan.round
                } else {
                    self.plan.deadline
                };
            }
            if !self.attempts.iter().any(|a| !a.dead) && next_index < self.order.len() {
                // Nothing in flight can answer: ask the next server now.
                next_send = now;
                continue;
            }
            let wake = next_send.min(self.plan.deadline);
            let fds: Vec<i32> = self
                .attempts
                .iter()
                .filter(|a| !a.dead)
                .map(|a| a.socket.as_raw_fd())
                .collect();
            if fds.is_empty() {
                std::thread::sleep(wake.saturating_duration_since(now));
                continue;
            }
            if wait_readable(&fds, wake.saturating_duration_since(now), &mut ready).is_err() {
                return;
            }
            let live: Vec<usize> = (0..self.attempts.len())
                .filter(|&i| self.attempts.get(i).is_some_and(|a| !a.dead))
                .collect();
            for &r in &ready {
                if let Some(&attempt) = live.get(r) {
                    if self.receive(attempt, &mut buf) {
                        // A server failed outright: hedge at once.
                        next_send = Instant::now();
                    }
                }
            }
        }
    }

    fn hedge_delay(&self, server: usize) -> Duration {
        self.plan
            .servers
            .get(server)
            .and_then(|s| self.plan.health.get(s))
            .map_or(super::health::INITIAL_HEDGE, |h| h.hedge_delay())
    }

    /// Sends a copy of the query to one down server whose down interval has
    /// passed, if this caller wins its probe lease.
    fn launch_probe(&mut self) {
        let now = now_ms();
        let probe = self.order.iter().copied().find(|&i| {
            self.plan
                .servers
                .get(i)
                .and_then(|s| self.plan.health.get(s))
                .is_some_and(|h| h.state(now) == State::Down && h.try_take_probe(now))
        });
        if let Some(server) = probe {
            self.launch(server, Instant::now());
        }
    }

    /// Sends the unanswered questions to `server`. False if nothing could
    /// be sent.
    fn launch(&mut self, server: usize, now: Instant) -> bool {
        let Some(addr) = self.plan.servers.get(server) else {
            return false;
        };
        // A new round replaces this server's earlier attempt.
        self.attempts.retain(|a| a.server != server || a.answered);
        let Ok(socket) = udp_connect(addr) else {
            return false;
        };
        let mut attempt = Attempt {
            server,
            socket,
            sent_at: now,
            ids: [None, None],
            failed: [false, false],
            answered: false,
            dead: false,
            unreachable: false,
        };
        for (slot, &qtype) in self.qtypes.iter().enumerate() {
            if self.results.get(slot).is_some_and(Option::is_some) {
                continue;
            }
            let id = self.ids.next();
            let Some(query) = encode_query(id, self.name, qtype) else {
                continue;
            };
            if send(&attempt.socket, &query).is_ok() {
                if let Some(s) = attempt.ids.get_mut(slot) {
                    *s = Some(id);
                }
                self.counters.queries += 1;
            }
        }
        if attempt.ids.iter().all(Option::is_none) {
            return false;
        }
        self.launched_any = true;
        self.attempts.push(attempt);
        true
    }

    /// Reads everything waiting on attempt `index`. True if the attempt
    /// just failed outright (so the next server should be asked now).
    fn receive(&mut self, index: usize, buf: &mut [u8]) -> bool {
        loop {
            let Some(attempt) = self.attempts.get_mut(index) else {
                return false;
            };
            let n = match attempt.socket.recv(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(_) => {
                    // ECONNREFUSED (ICMP unreachable) or a socket error.
                    attempt.dead = true;
                    attempt.unreachable = true;
                    return true;
                }
            };
            let datagram = buf.get(..n).unwrap_or(&[]);
            if self.accept(index, datagram) {
                return true;
            }
        }
    }

    /// Handles one datagram on attempt `index`. True if that made the
    /// attempt fail outright.
    fn accept(&mut self, index: usize, datagram: &[u8]) -> bool {
        for slot in 0..self.qtypes.len() {
            let Some(attempt) = self.attempts.get(index) else {
                return false;
            };
            let (Some(Some(id)), Some(&qtype)) = (attempt.ids.get(slot), self.qtypes.get(slot))
            else {
                continue;
            };
            let reply = match decode_reply(datagram, *id, self.name, qtype) {
                Ok(reply) => reply,
                Err(Mismatch::WrongId) => continue,
                // Wrong question, malformed or not a response: ignore it
                // and keep waiting for the real reply.
                Err(_) => return false,
            };
            let reply = match reply {
                Reply::Truncated => self.retry_over_tcp(index, *id, qtype),
                other => Some(other),
            };
            let Some(attempt) = self.attempts.get_mut(index) else {
                return false;
            };
            match reply {
                Some(Reply::Failure(_)) | None => {
                    if let Some(f) = attempt.failed.get_mut(slot) {
                        *f = true;
                    }
                    attempt.settle();
                    return attempt.dead;
                }
                Some(reply) => {
                    if !attempt.answered {
                        attempt.answered = true;
                        let rtt = attempt.sent_at.elapsed();
                        if let Some(h) = self
                            .plan
                            .servers
                            .get(attempt.server)
                            .and_then(|s| self.plan.health.get(s))
                        {
                            h.record_answer(rtt);
                        }
                    }
                    if let Some(r) = self.results.get_mut(slot) {
                        if r.is_none() {
                            *r = Some(reply);
                        }
                    }
                    return false;
                }
            }
        }
        false
    }

    fn retry_over_tcp(&mut self, index: usize, id: u16, qtype: QType) -> Option<Reply> {
        let server = *self.plan.servers.get(self.attempts.get(index)?.server)?;
        let query = encode_query(id, self.name, qtype)?;
        self.counters.queries += 1;
        self.counters.tcp += 1;
        tcp_exchange(&server, &query, id, self.name, qtype, self.plan.deadline).ok()
    }

    /// Turns what was received into one answer per question and tells the
    /// health records who let us down.
    fn finish(self) -> Vec<Answer> {
        let now = Instant::now();
        let now_boot = now_ms();
        for attempt in &self.attempts {
            if attempt.answered {
                continue;
            }
            let Some(health) = self
                .plan
                .servers
                .get(attempt.server)
                .and_then(|s| self.plan.health.get(s))
            else {
                continue;
            };
            let had_its_chance = now.duration_since(attempt.sent_at) >= health.hedge_delay();
            let failed_rcode = attempt.failed.iter().any(|&f| f) && !attempt.unreachable;
            if attempt.unreachable || (had_its_chance && !failed_rcode) {
                health.record_timeout(now_boot);
            }
        }
        (0..self.qtypes.len())
            .map(|slot| match self.results.get(slot).cloned().flatten() {
                Some(reply) => Answer::Reply(reply),
                None if self
                    .attempts
                    .iter()
                    .any(|a| a.failed.get(slot).copied().unwrap_or(false) && !a.unreachable) =>
                {
                    Answer::ServerFailure
                }
                None => Answer::NoResponse,
            })
            .collect()
    }
}

fn send(socket: &UdpSocket, query: &[u8]) -> io::Result<()> {
    loop {
        match socket.send(query) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}
