//! Sockets for one query: a fresh connected UDP socket per server (random
//! source port from the kernel; the connection makes the kernel drop
//! datagrams from any other address or port, and report ICMP port
//! unreachable as ECONNREFUSED), and TCP for truncated answers.
//!
//! Every socket is created close-on-exec and lives no longer than the
//! lookup that made it.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::message::{decode_reply, QType, Reply};

/// Largest datagram we read; larger ones are cut and then fail to decode.
pub const RECV_BUFFER: usize = 4096;

/// Opens a non-blocking, close-on-exec UDP socket connected to `server`.
pub fn udp_connect(server: &SocketAddr) -> io::Result<UdpSocket> {
    let family = match server {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: plain socket(2) call with constant arguments; the result is
    // checked before use.
    let fd = unsafe {
        libc::socket(
            family,
            libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2), is open, and is owned by
    // nothing else; OwnedFd takes sole ownership and closes it on drop.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let socket = UdpSocket::from(owned);
    socket.connect(server)?;
    Ok(socket)
}

/// Waits until one of `sockets` is readable or `timeout` passes. Returns
/// the indexes that are ready (readable, or in error). EINTR is retried
/// with the time that is left.
pub fn wait_readable(fds: &[i32], timeout: Duration, ready: &mut Vec<usize>) -> io::Result<()> {
    ready.clear();
    let mut pollfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let until = Instant::now() + timeout;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        // Round up so a sub-millisecond wait does not become a busy loop.
        let ms = i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
        // SAFETY: `pollfds` is a valid, writable array of `pollfds.len()`
        // pollfd structures for the duration of the call.
        let n = unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, ms) };
        if n >= 0 {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
        if Instant::now() >= until {
            return Ok(());
        }
    }
    ready.extend(
        pollfds
            .iter()
            .enumerate()
            .filter(|(_, p)| p.revents != 0)
            .map(|(i, _)| i),
    );
    Ok(())
}

/// Asks `query` over TCP (RFC 7766 framing) and waits for its reply until
/// `deadline`.
pub fn tcp_exchange(
    server: &SocketAddr,
    query: &[u8],
    id: u16,
    name: &str,
    qtype: QType,
    deadline: Instant,
) -> io::Result<Reply> {
    let left = || {
        let d = deadline.saturating_duration_since(Instant::now());
        if d.is_zero() {
            Err(io::Error::from(io::ErrorKind::TimedOut))
        } else {
            Ok(d)
        }
    };
    // std opens the socket close-on-exec and connects without blocking
    // past the timeout.
    let mut stream = TcpStream::connect_timeout(server, left()?)?;
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(left()?))?;
    let len = u16::try_from(query.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed)?;
    loop {
        stream.set_read_timeout(Some(left()?))?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len)?;
        let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut reply)?;
        match decode_reply(&reply, id, name, qtype) {
            // A truncated TCP answer is a broken server.
            Ok(Reply::Truncated) => return Err(io::ErrorKind::InvalidData.into()),
            Ok(reply) => return Ok(reply),
            // Not ours: keep reading until the deadline.
            Err(_) => continue,
        }
    }
}
