//! Putting a file's pages in the page cache, as a host's processes do over time.

use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Maps `path` read-only and reads a byte of every page, so that each page is in the
/// file's page cache. A tmpfs file's pages that were allocated but never touched are
/// not, and the kernel maps such a page alone on a read fault; a page in the page
/// cache comes with up to 15 neighbours that are too (fault-around, 64 KiB). A cache
/// file a host has used for a while is in the second state: tests and benchmarks of
/// what a process maps of it put a new file there first.
pub fn touch_every_page(path: &Path) -> io::Result<()> {
    let file = fs::File::open(path)?;
    let len = usize::try_from(file.metadata()?.len()).map_err(io::Error::other)?;
    if len == 0 {
        return Ok(());
    }
    // SAFETY: a new read-only shared mapping of an open file, at an address the
    // kernel picks; checked before use.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    for offset in (0..len).step_by(4096) {
        // SAFETY: `offset` is inside the `len` bytes just mapped readable.
        unsafe { std::ptr::read_volatile(base.cast::<u8>().add(offset)) };
    }
    // SAFETY: the mapping made above, not used after this.
    unsafe { libc::munmap(base, len) };
    Ok(())
}
