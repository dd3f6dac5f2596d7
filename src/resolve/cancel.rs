//! Thread cancellation held off while a lookup may reach a cancellation point.
//!
//! `getaddrinfo` and `gethostbyname*` are cancellation points: a thread that
//! another thread has `pthread_cancel`ed ends at the next cancellation point
//! it reaches, by a forced unwind of its stack. Inside glibc's own `dns`
//! module that is the `poll` waiting for an answer, and C frames unwind. Here
//! the same `poll` (or an `open`, `read`, `connect`, `send`, `nanosleep`) would
//! unwind through Rust frames, which Rust does not allow: the `extern "C"`
//! entry point aborts the whole process instead (tested: SIGABRT).
//!
//! So the part of a lookup that makes system calls runs with cancellation
//! disabled, and puts the caller's state back when it is done: a cancel that
//! arrives meanwhile stays pending and takes effect at the caller's next
//! cancellation point, at the latest one lookup deadline later (timeout x
//! attempts). The memo's hit path makes no system call, so it does not pay
//! the two calls (about 25 ns).
//!
//! Not covered: a thread whose cancel type is `PTHREAD_CANCEL_ASYNCHRONOUS`.
//! POSIX lets such a thread call only the async-cancel-safe functions, which
//! `getaddrinfo` is not, and glibc acts on its pending cancel the moment the
//! state is put back.

use std::os::raw::c_int;

/// glibc's `PTHREAD_CANCEL_DISABLE` (the same on every architecture; the
/// `libc` crate does not declare these for Linux).
const PTHREAD_CANCEL_DISABLE: c_int = 1;

extern "C" {
    fn pthread_setcancelstate(state: c_int, oldstate: *mut c_int) -> c_int;
}

/// Cancellation disabled for this thread while the value lives.
pub struct Deferred {
    old: c_int,
}

impl Deferred {
    pub fn new() -> Deferred {
        let mut old = PTHREAD_CANCEL_DISABLE;
        // SAFETY: sets this thread's cancel state; `old` is writable. It
        // cannot fail with a valid state argument.
        unsafe { pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &mut old) };
        Deferred { old }
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        let mut ignored = 0;
        // SAFETY: puts back the state `new` read; `ignored` is writable.
        unsafe { pthread_setcancelstate(self.old, &mut ignored) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> c_int {
        let mut old = 0;
        // SAFETY: as above; the state read is put straight back.
        unsafe {
            pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &mut old);
            pthread_setcancelstate(old, &mut 0);
        }
        old
    }

    #[test]
    fn disables_and_puts_back_what_it_found() {
        let enabled = state();
        assert_eq!(enabled, 0, "threads start with cancellation enabled");
        {
            let _outer = Deferred::new();
            assert_eq!(state(), PTHREAD_CANCEL_DISABLE);
            {
                let _inner = Deferred::new();
                assert_eq!(state(), PTHREAD_CANCEL_DISABLE);
            }
            assert_eq!(state(), PTHREAD_CANCEL_DISABLE, "inner put back: disabled");
        }
        assert_eq!(state(), enabled);
    }
}
