//! The socket calls of the upstream client, through `syscall(2)`: the
//! socket, `connect`, `sendmmsg`, `send`, `recv`, `SO_ERROR`, `ppoll`, and
//! the index of a network interface (a nameserver's `%scope`).
//!
//! Their libc wrappers add nothing a lookup uses: they are cancellation
//! points, but a lookup makes its system calls with cancellation disabled
//! (`resolve::cancel`), and `send` here always passes `MSG_NOSIGNAL` (a
//! server that closed its TCP connection must not SIGPIPE the host
//! process), as std does. Each wrapper was one more symbol ld.so looks up
//! at every `dlopen` (see the parent module).
//!
//! aarch64 has neither `poll` nor `send`/`recv` system calls: `ppoll`,
//! `sendto` and `recvfrom` exist on both architectures, and are what glibc
//! calls there too.

use std::ffi::CStr;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use super::file::Fd;
use super::{result, timespec};

/// A socket descriptor, closed on drop.
#[derive(Debug)]
pub struct Socket {
    fd: Fd,
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Socket {
    /// A new non-blocking, close-on-exec socket of `kind` (SOCK_DGRAM,
    /// SOCK_STREAM) for `server`'s address family.
    pub fn new(server: &SocketAddr, kind: libc::c_int) -> io::Result<Socket> {
        let family = match server {
            SocketAddr::V4(_) => libc::AF_INET,
            SocketAddr::V6(_) => libc::AF_INET6,
        };
        Socket::of_family(family, kind)
    }

    fn of_family(family: libc::c_int, kind: libc::c_int) -> io::Result<Socket> {
        let flags = kind | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        // SAFETY: socket(2) takes no pointers; a non-negative result is the
        // new socket, owned by nothing else (Fd closes it on drop).
        let fd = unsafe { Fd::from_result(libc::syscall(libc::SYS_socket, family, flags, 0)) }?;
        Ok(Socket { fd })
    }

    /// connect(2). A non-blocking TCP socket fails with EINPROGRESS, which
    /// the caller expects.
    pub fn connect(&self, server: &SocketAddr) -> io::Result<()> {
        let (storage, len) = sockaddr(server);
        // SAFETY: `storage` holds a valid sockaddr of `len` bytes for the
        // socket's family; connect only reads it.
        result(unsafe {
            libc::syscall(
                libc::SYS_connect,
                self.as_raw_fd(),
                std::ptr::addr_of!(storage),
                len,
            )
        })
        .map(drop)
    }

    /// sendmmsg(2) with MSG_NOSIGNAL: how many of `messages` went out.
    ///
    /// # Safety
    ///
    /// Every message's iovecs (and name, if any) must point at memory valid
    /// for reads for the duration of the call.
    pub unsafe fn send_messages(&self, messages: &mut [libc::mmsghdr]) -> io::Result<usize> {
        let count = libc::c_uint::try_from(messages.len()).unwrap_or(libc::c_uint::MAX);
        // SAFETY: `messages` is a writable array of at least `count`
        // mmsghdr (the kernel writes each msg_len); the caller vouches for
        // the memory they point at.
        let n = result(unsafe {
            libc::syscall(
                libc::SYS_sendmmsg,
                self.as_raw_fd(),
                messages.as_mut_ptr(),
                count,
                libc::MSG_NOSIGNAL,
            )
        })?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// send(2) with MSG_NOSIGNAL, on a connected socket.
    pub fn send(&self, bytes: &[u8]) -> io::Result<usize> {
        // SAFETY: `bytes` is valid for reads of its length; no address is
        // passed (sendto with NULL is send).
        let n = result(unsafe {
            libc::syscall(
                libc::SYS_sendto,
                self.as_raw_fd(),
                bytes.as_ptr(),
                bytes.len(),
                libc::MSG_NOSIGNAL,
                std::ptr::null::<libc::sockaddr>(),
                0,
            )
        })?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// recv(2), no flags: reads at most `len` bytes into `buf`.
    ///
    /// # Safety
    ///
    /// `buf` must be valid for writes of `len` bytes.
    pub unsafe fn recv_raw(&self, buf: *mut u8, len: usize) -> io::Result<usize> {
        // SAFETY: the caller vouches for `buf`; recvfrom with NULL address
        // pointers is recv.
        let n = result(unsafe {
            libc::syscall(
                libc::SYS_recvfrom,
                self.as_raw_fd(),
                buf,
                len,
                0,
                std::ptr::null_mut::<libc::sockaddr>(),
                std::ptr::null_mut::<libc::socklen_t>(),
            )
        })?;
        Ok(usize::try_from(n).unwrap_or(0).min(len))
    }

    /// recv(2) into `buf`.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for writes of its length.
        unsafe { self.recv_raw(buf.as_mut_ptr(), buf.len()) }
    }

    /// The socket's pending error (SO_ERROR), cleared by reading it: how a
    /// non-blocking connect turned out.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        let mut error: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `error` and `len` are writable and `len` holds the size of
        // `error`.
        result(unsafe {
            libc::syscall(
                libc::SYS_getsockopt,
                self.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                std::ptr::addr_of_mut!(error),
                std::ptr::addr_of_mut!(len),
            )
        })?;
        Ok((error != 0).then(|| io::Error::from_raw_os_error(error)))
    }
}

/// ppoll(2) for at most `timeout` (no signal mask): the number of ready
/// descriptors; `revents` says which.
pub fn poll(fds: &mut [libc::pollfd], timeout: Duration) -> io::Result<usize> {
    let spec = timespec(timeout);
    // SAFETY: `fds` is a writable array of `fds.len()` pollfd, `spec` a
    // valid timespec; a NULL signal mask leaves the thread's mask as it is.
    let n = result(unsafe {
        libc::syscall(
            libc::SYS_ppoll,
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            std::ptr::addr_of!(spec),
            std::ptr::null::<libc::sigset_t>(),
            0usize,
        )
    })?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// The index of the network interface called `name` (if_nametoindex), if
/// there is one.
pub fn interface_index(name: &CStr) -> Option<u32> {
    let bytes = name.to_bytes();
    if bytes.len() >= libc::IFNAMSIZ {
        return None;
    }
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    // Any socket takes the device ioctls; a local one first, as glibc's
    // if_nametoindex does, so that a process kept off IPv4 still gets an
    // answer.
    let socket = [libc::AF_UNIX, libc::AF_INET, libc::AF_INET6]
        .into_iter()
        .find_map(|family| Socket::of_family(family, libc::SOCK_DGRAM).ok())?;
    // SAFETY: `req` is a valid ifreq with a NUL-terminated name (zeroed
    // past it); SIOCGIFINDEX writes only its ifru_ifindex member.
    result(unsafe {
        libc::syscall(
            libc::SYS_ioctl,
            socket.as_raw_fd(),
            libc::SIOCGIFINDEX,
            std::ptr::addr_of_mut!(req),
        )
    })
    .ok()?;
    // SAFETY: SIOCGIFINDEX succeeded, so it set the ifindex member.
    let index = unsafe { req.ifr_ifru.ifru_ifindex };
    u32::try_from(index).ok().filter(|&i| i != 0)
}

/// `server` as a C socket address.
fn sockaddr(server: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match server {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for
            // sockaddr_in.
            unsafe {
                std::ptr::addr_of_mut!(storage)
                    .cast::<libc::sockaddr_in>()
                    .write(sin)
            };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for
            // sockaddr_in6.
            unsafe {
                std::ptr::addr_of_mut!(storage)
                    .cast::<libc::sockaddr_in6>()
                    .write(sin6)
            };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, TcpListener, UdpSocket};
    use std::time::Instant;

    fn loopback_udp() -> (UdpSocket, SocketAddr) {
        let peer = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = peer.local_addr().unwrap();
        (peer, addr)
    }

    /// What poll reports for `socket` (asked for POLLIN) within `timeout`.
    fn ready(socket: &Socket, timeout: Duration) -> libc::c_short {
        let mut fds = [libc::pollfd {
            fd: socket.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        let n = poll(&mut fds, timeout).unwrap();
        assert_eq!(n, usize::from(fds[0].revents != 0));
        fds[0].revents
    }

    fn readable(socket: &Socket, timeout: Duration) -> bool {
        ready(socket, timeout) & libc::POLLIN != 0
    }

    #[test]
    fn a_udp_exchange_goes_both_ways() {
        let (peer, addr) = loopback_udp();
        let socket = Socket::new(&addr, libc::SOCK_DGRAM).unwrap();
        socket.connect(&addr).unwrap();
        // Close-on-exec and non-blocking, as asked.
        // SAFETY: fcntl on our own descriptor.
        let fd_flags = unsafe { libc::fcntl(socket.as_raw_fd(), libc::F_GETFD) };
        assert_ne!(fd_flags & libc::FD_CLOEXEC, 0);
        // SAFETY: as above.
        let fl = unsafe { libc::fcntl(socket.as_raw_fd(), libc::F_GETFL) };
        assert_ne!(fl & libc::O_NONBLOCK, 0);

        assert_eq!(socket.send(b"one").unwrap(), 3);
        let mut first = *b"two";
        let mut second = *b"three";
        let mut iovs = [
            libc::iovec {
                iov_base: first.as_mut_ptr().cast(),
                iov_len: first.len(),
            },
            libc::iovec {
                iov_base: second.as_mut_ptr().cast(),
                iov_len: second.len(),
            },
        ];
        // SAFETY: all-zero mmsghdr is valid; the iovecs are set below.
        let mut messages: [libc::mmsghdr; 2] = unsafe { std::mem::zeroed() };
        for (m, iov) in messages.iter_mut().zip(iovs.iter_mut()) {
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: the iovecs point at `first` and `second`, alive here.
        assert_eq!(unsafe { socket.send_messages(&mut messages) }.unwrap(), 2);
        let mut buf = [0u8; 16];
        let local = {
            let (n, from) = peer.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"one");
            from
        };
        for want in [&b"two"[..], b"three"] {
            let n = peer.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], want);
        }

        // Nothing waiting: poll times out, recv would block.
        let started = Instant::now();
        assert!(!readable(&socket, Duration::from_millis(20)));
        assert!(started.elapsed() >= Duration::from_millis(19));
        let err = socket.recv(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);

        peer.send_to(b"reply, longer than four", local).unwrap();
        assert!(readable(&socket, Duration::from_secs(5)));
        // A datagram longer than the buffer is cut at its size.
        let mut small = [0u8; 5];
        assert_eq!(socket.recv(&mut small).unwrap(), 5);
        assert_eq!(&small, b"reply");
    }

    #[test]
    fn a_closed_port_shows_as_connection_refused() {
        let (peer, addr) = loopback_udp();
        drop(peer);
        let socket = Socket::new(&addr, libc::SOCK_DGRAM).unwrap();
        socket.connect(&addr).unwrap();
        socket.send(b"anyone?").unwrap();
        // The ICMP port unreachable comes back as an error on the socket.
        assert_ne!(ready(&socket, Duration::from_secs(5)) & libc::POLLERR, 0);
        let err = socket.recv(&mut [0u8; 8]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    }

    #[test]
    fn a_nonblocking_tcp_connect_reports_through_so_error() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let socket = Socket::new(&addr, libc::SOCK_STREAM).unwrap();
        match socket.connect(&addr) {
            Ok(()) => {}
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EINPROGRESS)),
        }
        let mut fds = [libc::pollfd {
            fd: socket.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        }];
        poll(&mut fds, Duration::from_secs(5)).unwrap();
        assert!(socket.take_error().unwrap().is_none());
        let (mut conn, _) = listener.accept().unwrap();
        assert_eq!(socket.send(b"ping").unwrap(), 4);
        let mut buf = [0u8; 4];
        std::io::Read::read_exact(&mut conn, &mut buf).unwrap();
        assert_eq!(&buf, b"ping");
        drop(conn);
        // The peer closed: recv reads the end, a send after it fails
        // (EPIPE or ECONNRESET) instead of raising SIGPIPE.
        assert!(readable(&socket, Duration::from_secs(5)));
        assert_eq!(socket.recv(&mut buf).unwrap(), 0);
        let mut failed = false;
        for _ in 0..50 {
            if socket.send(b"more").is_err() {
                failed = true;
                break;
            }
            crate::sys::sleep(Duration::from_millis(2));
        }
        assert!(failed);

        // Nobody listening: the connect fails, and SO_ERROR says so.
        drop(listener);
        let socket = Socket::new(&addr, libc::SOCK_STREAM).unwrap();
        let refused = match socket.connect(&addr) {
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
                let mut fds = [libc::pollfd {
                    fd: socket.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                }];
                poll(&mut fds, Duration::from_secs(5)).unwrap();
                socket.take_error().unwrap().unwrap()
            }
            Err(e) => e,
            Ok(()) => panic!("connected to a closed port"),
        };
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
    }

    #[test]
    fn interface_indexes_are_if_nametoindex() {
        for name in [c"lo", c"no-such-if0", c"x123456789abcdef0"] {
            // SAFETY: `name` is a valid C string.
            let libc_index = unsafe { libc::if_nametoindex(name.as_ptr()) };
            assert_eq!(
                interface_index(name),
                (libc_index != 0).then_some(libc_index),
                "{name:?}"
            );
        }
        assert!(interface_index(c"lo").is_some());
    }
}
