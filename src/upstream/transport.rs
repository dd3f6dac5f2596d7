//! Sockets for one query: a fresh connected UDP socket per server (random
//! source port from the kernel; the connection makes the kernel drop
//! datagrams from any other address or port, and report ICMP port
//! unreachable as ECONNREFUSED), and TCP for truncated answers, driven by
//! the same poll loop so no server can hold up the others.
//!
//! Every socket is created close-on-exec and lives no longer than the
//! lookup that made it.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::clock::Instant;

use crate::sys::net::{self as sock, Socket};

/// Largest datagram we read; larger ones are cut and then fail to decode.
pub const RECV_BUFFER: usize = 4096;

/// How much one read of a TCP reply asks for.
const TCP_READ: usize = 4096;

/// Where UDP replies are received: [`RECV_BUFFER`] bytes that are never
/// zeroed. Zeroing them on every miss cost about 4,100 instructions (8% of
/// a whole `getaddrinfo` miss, callgrind) and wrote 64 cache lines that a
/// process woken after a quiet spell has to fetch first; only the bytes a
/// `recv` wrote are ever read. On the heap, not the caller's stack: the
/// lookup runs on whatever stack the application gave its thread, and a
/// miss must fit where glibc's own `dns` fits.
pub struct RecvBuffer {
    bytes: Box<[std::mem::MaybeUninit<u8>]>,
}

impl RecvBuffer {
    /// A buffer, uninitialised.
    pub fn new() -> RecvBuffer {
        RecvBuffer {
            bytes: Box::new_uninit_slice(RECV_BUFFER),
        }
    }

    /// One datagram waiting on `socket` (no flags; a longer one is cut at
    /// the buffer's size): the bytes received.
    pub fn recv(&mut self, socket: &Socket) -> io::Result<&[u8]> {
        // SAFETY: the buffer is valid for writes of RECV_BUFFER bytes, and
        // recv writes at most that many.
        let n = unsafe { socket.recv_raw(self.bytes.as_mut_ptr().cast(), RECV_BUFFER) }?;
        // SAFETY: the kernel initialised the first `n` bytes (n <= the
        // buffer's length); they stay borrowed from `self` while read.
        Ok(unsafe { std::slice::from_raw_parts(self.bytes.as_ptr().cast::<u8>(), n) })
    }
}

/// Opens a non-blocking, close-on-exec UDP socket connected to `server`.
pub fn udp_connect(server: &SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(server, libc::SOCK_DGRAM)?;
    socket.connect(server)?;
    Ok(socket)
}

/// Sends `queries` (at most two) on a connected UDP socket with one
/// `sendmmsg`, retrying EINTR and continuing after a partial send. Returns
/// how many were sent, in order, and whether a send failed (ECONNREFUSED:
/// the server's ICMP unreachable; or any other error).
pub fn send_all<'q>(socket: &Socket, queries: impl Iterator<Item = &'q [u8]>) -> (usize, bool) {
    let mut iovecs = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; 2];
    let mut count = 0;
    for (iov, query) in iovecs.iter_mut().zip(queries) {
        iov.iov_base = query.as_ptr().cast_mut().cast();
        iov.iov_len = query.len();
        count += 1;
    }
    // SAFETY: an all-zero mmsghdr (no name, no control data) is valid.
    let mut messages: [libc::mmsghdr; 2] = unsafe { std::mem::zeroed() };
    for (message, iov) in messages.iter_mut().zip(iovecs.iter_mut()) {
        message.msg_hdr.msg_iov = iov;
        message.msg_hdr.msg_iovlen = 1;
    }
    let mut sent = 0;
    while sent < count {
        let rest = messages.get_mut(sent..count).unwrap_or_default();
        // SAFETY: the iovecs of `rest` point at the callers' query buffers,
        // alive for this call; the socket is connected, so no address is
        // needed.
        match unsafe { socket.send_messages(rest) } {
            Ok(0) => return (sent, true),
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return (sent, true),
        }
    }
    (sent, false)
}

/// Polls `fds` (descriptor and events) for up to `timeout`, retrying EINTR
/// with the time that is left. Afterwards `revents` says what is ready.
pub fn poll(fds: &mut [libc::pollfd], timeout: Duration) -> io::Result<()> {
    let until = Instant::now() + timeout;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match sock::poll(fds, left) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() != io::ErrorKind::Interrupted => return Err(e),
            Err(_) => {}
        }
        if Instant::now() >= until {
            for fd in fds.iter_mut() {
                fd.revents = 0;
            }
            return Ok(());
        }
    }
}

/// One query over TCP (RFC 7766 framing), driven by the caller's poll loop
/// so that a server slow over TCP holds up nobody: a non-blocking connect,
/// then the framed query written, then the framed reply read.
pub struct TcpQuery {
    stream: Socket,
    out: Vec<u8>,
    written: usize,
    input: Vec<u8>,
    connected: bool,
}

impl TcpQuery {
    /// Starts connecting to `server` (close-on-exec, non-blocking).
    pub fn start(server: &SocketAddr, query: &[u8]) -> io::Result<TcpQuery> {
        let len = u16::try_from(query.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
        let stream = Socket::new(server, libc::SOCK_STREAM)?;
        match stream.connect(server) {
            Err(e) if e.raw_os_error() != Some(libc::EINPROGRESS) => return Err(e),
            _ => {}
        }
        let mut out = Vec::with_capacity(query.len() + 2);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(query);
        Ok(TcpQuery {
            stream,
            out,
            written: 0,
            input: Vec::new(),
            connected: false,
        })
    }

    /// The descriptor to poll.
    pub fn fd(&self) -> i32 {
        self.stream.as_raw_fd()
    }

    /// What to wait for: writable until the query is out, then readable.
    pub fn events(&self) -> i16 {
        if self.written < self.out.len() {
            libc::POLLOUT
        } else {
            libc::POLLIN
        }
    }

    /// Makes progress after the descriptor was reported ready. Returns a
    /// complete reply message once one is in.
    pub fn advance(&mut self) -> io::Result<Option<Vec<u8>>> {
        if !self.connected {
            if let Some(err) = self.stream.take_error()? {
                return Err(err);
            }
            self.connected = true;
        }
        while self.written < self.out.len() {
            let rest = self.out.get(self.written..).unwrap_or(&[]);
            match self.stream.send(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        loop {
            if let Some(message) = self.take_message() {
                return Ok(Some(message));
            }
            // Read straight into `input`'s tail, not through a chunk on the
            // stack: inlined into the hedge loop, such a chunk made every
            // lookup's frame 4 KiB deeper, UDP lookups' too.
            let start = self.input.len();
            self.input.resize(start + TCP_READ, 0);
            let got = self
                .stream
                .recv(self.input.get_mut(start..).unwrap_or_default());
            self.input.truncate(start + got.as_ref().map_or(0, |n| *n));
            match got {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    fn take_message(&mut self) -> Option<Vec<u8>> {
        let len = usize::from(u16::from_be_bytes([
            *self.input.first()?,
            *self.input.get(1)?,
        ]));
        let message = self.input.get(2..2 + len)?.to_vec();
        self.input.drain(..2 + len);
        Some(message)
    }
}
