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
//! same server, inside the same poll loop, so a server slow over TCP holds
//! up nobody.
//!
//! A server that missed its last query is down for an interval (see
//! `health`) and ranked last. Once the interval has passed it is suspect:
//! ranked after the healthy ones, and one caller wins the probe lease and
//! sends it a copy of its real query alongside the normal ones; the caller's answer comes
//! from the healthy servers as usual. With no thread and no descriptor
//! allowed to outlive the call, the probe's reply can only be read inside
//! this call: once the caller's answer is complete, the probe is given as
//! long again as that answer took (at least 2 ms, at most 50 ms) before it
//! counts as failed. That wait happens once per down interval (0.5 s
//! doubling to 300 s), and only to the one caller holding the lease.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::clock::Instant;

use super::message::{decode_reply, encode_query, Query, Reply};
use super::transport::{poll, send_all, udp_connect, RecvBuffer, TcpQuery};
use crate::cache::health::{HealthTable, ServerHealth, State, INITIAL_HEDGE};
use crate::cache::QType;
use crate::clock::now_ms;
use crate::sys::net::Socket;

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
    udp: Socket,
    /// TCP retries of truncated answers, per question slot.
    tcp: [Option<TcpQuery>; 2],
    sent_at: Instant,
    /// The query ID per question slot; `None` if this slot was not asked.
    ids: [Option<u16>; 2],
    /// This server failed this slot (failure rcode, broken TCP).
    failed: [bool; 2],
    /// A valid reply came back (for any slot).
    answered: bool,
    /// Nothing more will come from this attempt.
    dead: bool,
    /// ICMP unreachable or a socket error, as opposed to a failure rcode.
    unreachable: bool,
    /// A probe of a down server, sent alongside the real queries.
    probe: bool,
}

impl Attempt {
    /// Re-examines the attempt after a reply: it is dead once none of the
    /// questions it asked is both unresolved and not failed here. Returns
    /// true if it died with questions still unresolved (ask the next
    /// server now).
    fn settle(&mut self, results: &[Option<Reply>; 2]) -> bool {
        let mut can_help = false;
        let mut stranded = false;
        for (slot, resolved) in results.iter().enumerate() {
            let asked = self.ids.get(slot).is_some_and(Option::is_some);
            if !asked || resolved.is_some() {
                continue;
            }
            if self.failed.get(slot).copied().unwrap_or(true) {
                stranded = true;
            } else {
                can_help = true;
            }
        }
        if !can_help {
            self.dead = true;
            self.tcp = [None, None];
        }
        !can_help && stranded
    }

    /// The server cannot be reached: nothing more will come.
    fn unreachable(&mut self) {
        self.dead = true;
        self.unreachable = true;
        self.tcp = [None, None];
    }
}

/// Longest time a probe is waited for after the caller's answer is done.
const PROBE_GRACE_MAX: Duration = Duration::from_millis(50);
/// Shortest such time.
const PROBE_GRACE_MIN: Duration = Duration::from_millis(2);

/// Random query IDs, from the OS, fetched in one call per exchange.
///
/// Sixteen bytes: eight IDs, the A and AAAA queries of four servers before
/// a second call is needed. getrandom(2) of 16 bytes took 240 ns on the
/// bench's VM against 330-390 ns for 64, on every miss.
struct Ids {
    pool: [u8; 16],
    used: usize,
}

impl Ids {
    fn new() -> Ids {
        let mut ids = Ids {
            pool: [0; 16],
            used: 16,
        };
        ids.refill();
        ids
    }

    fn refill(&mut self) {
        crate::random::fill(&mut self.pool);
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
            // `n` is not 0 here (`pos` < `n`); checked_rem leaves no
            // division-by-zero panic in the module all the same.
            let index = (pos + plan.rotate).checked_rem(n).unwrap_or(pos);
            let state = plan
                .servers
                .get(index)
                .and_then(|s| plan.health.get(s))
                .map_or(State::Healthy, |h| h.state(now));
            (state, pos, index)
        })
        .collect();
    // Unstable sort: the positions are distinct, so the order is the same
    // as a stable sort's, without its 4 KiB stack buffer and merge code.
    order.sort_unstable();
    order.into_iter().map(|(_, _, index)| index).collect()
}

/// What a poll entry belongs to.
#[derive(Clone, Copy)]
enum Source {
    /// The UDP socket of attempt `.0`.
    Udp(usize),
    /// The TCP retry of attempt `.0` for question slot `.1`.
    Tcp(usize, usize),
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

    fn any_live(&self) -> bool {
        self.attempts.iter().any(|a| !a.dead)
    }

    fn go(&mut self) {
        let start = Instant::now();
        let mut buf = RecvBuffer::new();
        self.launch_probe();
        self.exchange(start, &mut buf);
        self.linger_for_probe(start, &mut buf);
    }

    /// The main loop: send, hedge, receive until every question is
    /// answered or the deadline passes.
    fn exchange(&mut self, start: Instant, buf: &mut RecvBuffer) {
        let mut round = 0u8;
        let mut round_start = start;
        let mut next_index = 0usize;
        let mut next_send = start;
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
                    next_send = match self.launch(server, now, false) {
                        true => now + self.hedge_delay(server),
                        false => now,
                    };
                    continue;
                }
                if !self.any_live() {
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
            if !self.any_live() {
                // Nothing in flight can answer: ask the next server now.
                next_send = now;
                continue;
            }
            let (mut fds, sources) = self.poll_set(None);
            let wait = next_send
                .min(self.plan.deadline)
                .saturating_duration_since(now);
            if poll(&mut fds, wait).is_err() {
                return;
            }
            for (fd, source) in fds.iter().zip(sources) {
                if fd.revents != 0 && self.service(source, buf) {
                    // A server failed outright: hedge at once.
                    next_send = Instant::now();
                }
            }
        }
    }

    /// The descriptors of every live attempt (or only of attempt `only`),
    /// with what each belongs to.
    fn poll_set(&self, only: Option<usize>) -> (Vec<libc::pollfd>, Vec<Source>) {
        let mut fds = Vec::with_capacity(self.attempts.len() + 2);
        let mut sources = Vec::with_capacity(self.attempts.len() + 2);
        for (index, attempt) in self.attempts.iter().enumerate() {
            if attempt.dead || only.is_some_and(|o| o != index) {
                continue;
            }
            fds.push(libc::pollfd {
                fd: attempt.udp.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
            sources.push(Source::Udp(index));
            for (slot, tcp) in attempt.tcp.iter().enumerate() {
                if let Some(tcp) = tcp {
                    fds.push(libc::pollfd {
                        fd: tcp.fd(),
                        events: tcp.events(),
                        revents: 0,
                    });
                    sources.push(Source::Tcp(index, slot));
                }
            }
        }
        (fds, sources)
    }

    /// Handles a ready descriptor. True if its attempt just failed outright.
    fn service(&mut self, source: Source, buf: &mut RecvBuffer) -> bool {
        match source {
            Source::Udp(index) => self.receive_udp(index, buf),
            Source::Tcp(index, slot) => self.advance_tcp(index, slot),
        }
    }

    /// Gives an outstanding probe as long again as the answer took (see the
    /// module doc), reading only the probe's descriptors.
    fn linger_for_probe(&mut self, start: Instant, buf: &mut RecvBuffer) {
        let Some(index) = self
            .attempts
            .iter()
            .position(|a| a.probe && !a.answered && !a.dead)
        else {
            return;
        };
        let grace = start.elapsed().clamp(PROBE_GRACE_MIN, PROBE_GRACE_MAX);
        let until = (Instant::now() + grace).min(self.plan.deadline);
        while let Some(attempt) = self.attempts.get(index) {
            let now = Instant::now();
            if attempt.answered || attempt.dead || now >= until {
                return;
            }
            let (mut fds, sources) = self.poll_set(Some(index));
            if poll(&mut fds, until.saturating_duration_since(now)).is_err() {
                return;
            }
            for (fd, source) in fds.iter().zip(sources) {
                if fd.revents != 0 {
                    self.service(source, buf);
                }
            }
        }
    }

    fn health_of(&self, server: usize) -> Option<&ServerHealth> {
        self.plan
            .servers
            .get(server)
            .and_then(|s| self.plan.health.get(s))
    }

    fn hedge_delay(&self, server: usize) -> Duration {
        self.health_of(server)
            .map_or(INITIAL_HEDGE, ServerHealth::hedge_delay)
    }

    /// Sends a copy of the query to one down server whose down interval has
    /// passed, if this caller wins its probe lease.
    fn launch_probe(&mut self) {
        let now = now_ms();
        let probe = self
            .order
            .iter()
            .copied()
            .find(|&i| self.health_of(i).is_some_and(|h| h.try_take_probe(now)));
        if let Some(server) = probe {
            self.launch(server, Instant::now(), true);
        }
    }

    /// Sends the unanswered questions to `server`. False if the server
    /// could not be asked (or refused at once): move on now.
    fn launch(&mut self, server: usize, now: Instant, probe: bool) -> bool {
        let Some(addr) = self.plan.servers.get(server) else {
            return false;
        };
        // A new round replaces this server's earlier attempt.
        self.attempts.retain(|a| a.server != server || a.answered);
        let Ok(udp) = udp_connect(addr) else {
            return false;
        };
        let mut attempt = Attempt {
            server,
            udp,
            tcp: [None, None],
            sent_at: now,
            ids: [None, None],
            failed: [false, false],
            answered: false,
            dead: false,
            unreachable: false,
            probe,
        };
        // Every unanswered question, encoded, then sent in one system call
        // (sendmmsg, as glibc does): the server wakes once, and a second
        // question never waits behind the scheduling of the first.
        let mut previous_id = None;
        let mut queries: [Option<(usize, u16, Query)>; 2] = [None, None];
        for ((slot, &qtype), entry) in self.qtypes.iter().enumerate().zip(&mut queries) {
            if self.results.get(slot).is_some_and(Option::is_some) {
                continue;
            }
            // Distinct IDs per question, so a reply matches exactly one.
            let mut id = self.ids.next();
            if previous_id == Some(id) {
                id = id.wrapping_add(1);
            }
            previous_id = Some(id);
            let Some(query) = encode_query(id, self.name, qtype) else {
                continue;
            };
            *entry = Some((slot, id, query));
        }
        let (sent, failed) = send_all(
            &attempt.udp,
            queries.iter().flatten().map(|(_, _, q)| q.as_bytes()),
        );
        for (slot, id, _) in queries.iter().flatten().take(sent) {
            if let Some(s) = attempt.ids.get_mut(*slot) {
                *s = Some(*id);
            }
            self.counters.queries += 1;
        }
        if let (Some(health), Ok(packets)) = (self.health_of(server), u32::try_from(sent)) {
            health.record_sent(now_ms(), packets);
        }
        if failed {
            // On loopback the ICMP unreachable of the first query already
            // shows here, as ECONNREFUSED on the second.
            attempt.unreachable();
        }
        let asked = attempt.ids.iter().any(Option::is_some);
        self.launched_any |= asked;
        let usable = asked && !attempt.dead;
        if asked {
            self.attempts.push(attempt);
        }
        usable
    }

    /// Reads everything waiting on attempt `index`'s UDP socket. True if the
    /// attempt just failed outright.
    fn receive_udp(&mut self, index: usize, buf: &mut RecvBuffer) -> bool {
        loop {
            let Some(attempt) = self.attempts.get_mut(index) else {
                return false;
            };
            if attempt.dead {
                return false;
            }
            let datagram = match buf.recv(&attempt.udp) {
                Ok(datagram) => datagram,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(_) => {
                    // ECONNREFUSED (ICMP unreachable) or a socket error.
                    attempt.unreachable();
                    return true;
                }
            };
            if self.accept_datagram(index, datagram) {
                return true;
            }
        }
    }

    /// Matches one datagram against the questions attempt `index` asked.
    /// A datagram that answers none of them is ignored. True if the
    /// attempt just failed outright.
    fn accept_datagram(&mut self, index: usize, datagram: &[u8]) -> bool {
        for slot in 0..self.qtypes.len() {
            let Some(&Some(id)) = self.attempts.get(index).and_then(|a| a.ids.get(slot)) else {
                continue;
            };
            let Some(&qtype) = self.qtypes.get(slot) else {
                continue;
            };
            match decode_reply(datagram, id, self.name, qtype) {
                Ok(Reply::Truncated) => return self.retry_over_tcp(index, slot, id, qtype),
                Ok(reply) => return self.take_reply(index, slot, Some(reply)),
                // Not the reply to this question: maybe to the other one.
                Err(_) => continue,
            }
        }
        false
    }

    /// Progress on the TCP retry of attempt `index`, slot `slot`.
    fn advance_tcp(&mut self, index: usize, slot: usize) -> bool {
        let Some(attempt) = self.attempts.get_mut(index) else {
            return false;
        };
        let (Some(Some(tcp)), Some(&Some(id)), Some(&qtype)) = (
            attempt.tcp.get_mut(slot),
            attempt.ids.get(slot),
            self.qtypes.get(slot),
        ) else {
            return false;
        };
        let reply = match tcp.advance() {
            Ok(None) => return false,
            Ok(Some(message)) => match decode_reply(&message, id, self.name, qtype) {
                // A truncated TCP answer, or a reply to something else,
                // is a broken server.
                Ok(Reply::Truncated) | Err(_) => None,
                Ok(reply) => Some(reply),
            },
            Err(_) => None,
        };
        if let Some(t) = attempt.tcp.get_mut(slot) {
            *t = None;
        }
        self.take_reply(index, slot, reply)
    }

    /// Asks question `slot` of attempt `index` again over TCP.
    fn retry_over_tcp(&mut self, index: usize, slot: usize, id: u16, qtype: QType) -> bool {
        let server = self
            .attempts
            .get(index)
            .and_then(|a| self.plan.servers.get(a.server))
            .copied();
        let started = server.and_then(|server| {
            let query = encode_query(id, self.name, qtype)?;
            TcpQuery::start(&server, query.as_bytes()).ok()
        });
        let Some(tcp) = started else {
            return self.take_reply(index, slot, None);
        };
        self.counters.queries += 1;
        self.counters.tcp += 1;
        if let Some(health) = self
            .attempts
            .get(index)
            .and_then(|a| self.health_of(a.server))
        {
            health.record_sent(now_ms(), 1);
        }
        if let Some(t) = self
            .attempts
            .get_mut(index)
            .and_then(|a| a.tcp.get_mut(slot))
        {
            *t = Some(tcp);
        }
        false
    }

    /// Records what attempt `index` said about question `slot`: a reply, or
    /// `None`/a failure rcode for "this server cannot answer it". True if
    /// the attempt just failed outright.
    fn take_reply(&mut self, index: usize, slot: usize, reply: Option<Reply>) -> bool {
        match reply {
            Some(Reply::Failure(_)) | Some(Reply::Truncated) | None => {
                if let Some(f) = self
                    .attempts
                    .get_mut(index)
                    .and_then(|a| a.failed.get_mut(slot))
                {
                    *f = true;
                }
            }
            Some(reply) => {
                self.record_answer(index);
                let server = self
                    .attempts
                    .get(index)
                    .and_then(|a| self.plan.servers.get(a.server));
                let qtype = self.qtypes.get(slot).copied();
                if let Some(r @ None) = self.results.get_mut(slot) {
                    // Who answered, and what (see `provenance`).
                    if let (Some(qtype), Some(&server)) = (qtype, server) {
                        super::provenance::answered(self.name, qtype, server, &reply);
                    }
                    *r = Some(reply);
                }
            }
        }
        let results = &self.results;
        self.attempts
            .get_mut(index)
            .is_some_and(|attempt| attempt.settle(results))
    }

    /// The first valid reply of an attempt: its RTT feeds the estimate.
    fn record_answer(&mut self, index: usize) {
        let Some(attempt) = self.attempts.get_mut(index) else {
            return;
        };
        if attempt.answered {
            return;
        }
        attempt.answered = true;
        let rtt = attempt.sent_at.elapsed();
        let server = attempt.server;
        if let Some(h) = self.health_of(server) {
            h.record_answer(rtt);
        }
    }

    /// Turns what was received into one answer per question and tells the
    /// health records who let us down.
    fn finish(mut self) -> Vec<Answer> {
        let now = Instant::now();
        let now_boot = now_ms();
        for attempt in &self.attempts {
            if attempt.answered {
                continue;
            }
            let Some(health) = self.health_of(attempt.server) else {
                continue;
            };
            // A probe was waited for on purpose; others count only if they
            // were given their full hedge delay.
            let had_its_chance = attempt.probe
                || now.saturating_duration_since(attempt.sent_at) >= health.hedge_delay();
            let failed_rcode = attempt.failed.iter().any(|&f| f) && !attempt.unreachable;
            if attempt.unreachable || (had_its_chance && !failed_rcode) {
                health.record_timeout(now_boot);
            }
        }
        // Moved out, not cloned: a reply's names and addresses are the
        // answer's now.
        let mut results = std::mem::take(&mut self.results);
        (0..self.qtypes.len())
            .map(|slot| match results.get_mut(slot).and_then(Option::take) {
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
