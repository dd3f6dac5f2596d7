//! Random bytes from the OS, for query IDs and cache hash seeds.

use crate::clock::now_ms;

/// Fills `buf` from getrandom(2), without blocking. Only before the
/// kernel's entropy pool is ready at boot does that fail; then the bytes
/// come from the clock and the process id: never a fixed value.
pub fn fill(buf: &mut [u8]) {
    // The libc wrapper, not a raw system call: an LD_PRELOAD can stand in
    // for it, which is how the tests make two query IDs collide.
    // SAFETY: the pointer and length describe `buf`, which getrandom fills
    // with at most that many bytes.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), libc::GRND_NONBLOCK) };
    if n != buf.len() as isize {
        let seed = now_ms() ^ (u64::from(crate::sys::pid()) << 32);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed.rotate_left((i as u32 * 11) % 64) as u8) ^ (i as u8).wrapping_mul(157);
        }
    }
}
