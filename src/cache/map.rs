//! Cache files: finding, checking, creating and mapping them.
//!
//! The trust model (docs/ARCHITECTURE.md, "Trust model") is the kernel's
//! file owner, the one identity a local user cannot forge. A process uses
//! `<dir>/<euid>.v3.cache` for reading and writing, and also reads
//! `<dir>/0.v3.cache` (root's) without ever writing it; root uses only its
//! own. A file is used only if, opened with
//! O_NOFOLLOW, `fstat` says it is a regular file with one link, owned by the
//! expected uid, not writable by group or others, of exactly the size its
//! validated header announces.
//!
//! A new file is created under a temporary name, given its full size with
//! `posix_fallocate` (a sparse file on a full tmpfs would raise SIGBUS in
//! the middle of a lookup), initialised, and then linked into place; if
//! another process won that race, its file is used instead. Processes that
//! find no file together do not all make one: the first claims the making
//! (`claim`), the others wait for its file. The descriptor is closed once
//! the file is mapped.

use std::ffi::OsString;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::claim::{self, Claim};
use super::layout::{
    Geometry, Header, Slot, FILE_SUFFIX, HEADER_SIZE, LAYOUT_VERSION, MAGIC, MAX_SLOTS, MIN_SLOTS,
    SLOT_SIZE,
};
use super::reason::{Check, Problem};
use super::table::Table;
use crate::clock::now_ms;
use crate::sys::file::{self, c_path, Fd};

/// A mapped, validated cache file.
pub struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
    slot_count: usize,
    writable: bool,
    /// Device, inode and size of the file, to notice it was replaced (or,
    /// against all advice, truncated).
    identity: (u64, u64, u64),
    /// Unique in this process, never reused: what a per-thread memo of a
    /// slot was read from (see `resolve::memo`).
    id: u64,
}

/// Mapping ids; 0 is never given out.
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

// SAFETY: the mapping is plain shared memory accessed only through atomics;
// the pointer is owned by this value and unmapped once, on drop.
unsafe impl Send for Mapping {}
// SAFETY: as above; every access through `&Mapping` is an atomic operation.
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` describe a mapping made by `map` and not yet
        // unmapped; no reference into it outlives `self` (tables borrow it).
        unsafe { crate::sys::munmap(self.ptr, self.len) };
    }
}

impl Mapping {
    /// The entries and header as a table.
    #[inline]
    pub fn table(&self) -> Table<'_> {
        // SAFETY: `map` checked that the mapping is `len` bytes, page
        // aligned, starts with a valid Header and holds `slot_count` slots
        // after HEADER_SIZE; atomics make shared access sound.
        let (header, slots) = unsafe {
            let header = &*self.ptr.cast::<Header>();
            let first = self.ptr.cast::<u8>().add(HEADER_SIZE).cast::<Slot>();
            (header, std::slice::from_raw_parts(first, self.slot_count))
        };
        Table::new(header, slots, self.writable, self.id)
    }

    /// Device, inode and size of the mapped file.
    pub fn identity(&self) -> (u64, u64, u64) {
        self.identity
    }

    /// Lets go of the file while lookups may still hold this mapping: its
    /// range is replaced, in one step, by private zero pages. A read there
    /// finds nothing (an all-zero header has no magic, generation or slot
    /// counter that any entry or memo matches); a write lands in this
    /// process's own page and reaches no file. The range stays reserved
    /// (and is unmapped on drop as before), costing address space, not
    /// memory. Should the kernel refuse, the file stays mapped: harmless,
    /// it only keeps the old file's memory.
    pub fn retire(&self) {
        // SAFETY: MAP_FIXED over exactly the range this value mapped and
        // still owns; nothing else lives there. Any reference into it stays
        // valid: the new pages are readable and writable, and every access
        // is through atomics, valid for any bit pattern.
        let _ = unsafe {
            crate::sys::mmap(
                self.ptr,
                self.len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
    }
}

/// Why a file was not used.
#[derive(Debug)]
pub enum MapError {
    /// An operating-system call failed.
    Io(io::Error),
    /// The file failed a check (owner, mode, type, links, size, header).
    Untrusted(Check),
    /// Another process is making the file and had not published it when
    /// this one stopped waiting.
    Busy,
}

impl From<io::Error> for MapError {
    fn from(e: io::Error) -> Self {
        MapError::Io(e)
    }
}

impl std::fmt::Display for MapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MapError::Io(e) => write!(f, "{e}"),
            MapError::Untrusted(why) => write!(f, "not used: {why}"),
            MapError::Busy => write!(f, "{}", Problem::BeingMade),
        }
    }
}

/// The cache file of `uid` in `dir`: `<dir>/<uid>.v3.cache` (the layout
/// version in the name, [`FILE_SUFFIX`]).
pub fn file_path(dir: &Path, uid: u32) -> PathBuf {
    uid_path(dir, "", uid, FILE_SUFFIX)
}

/// What a cache file's name says: whose it is, and its layout version
/// (`None` for `<uid>.cache`, the name releases before the layout was in
/// it gave every layout). `None` for any other name.
pub fn parse_file_name(name: &str) -> Option<(u32, Option<u32>)> {
    let stem = name.strip_suffix(".cache")?;
    let (uid, version) = match stem.split_once('.') {
        Some((uid, version)) => (uid, Some(version.strip_prefix('v')?)),
        None => (stem, None),
    };
    // Decimal as `uid_path` writes it: no sign, no leading zero.
    let digits = |s: &str| {
        s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.is_empty() && !s.starts_with('0'))
    };
    if !digits(uid) || !version.is_none_or(digits) {
        return None;
    }
    let version = match version {
        Some(v) => Some(v.parse().ok()?),
        None => None,
    };
    Some((uid.parse().ok()?, version))
}

/// The cache files of `uid` in `dir` that another release made: other
/// layouts' names (see [`parse_file_name`]), regular files owned by `uid`.
/// Their processes, started before an upgrade, still use them; this
/// release's never do. `rustcache flush` removes them, so those processes
/// move to a new, empty file (as they do after any deletion) instead of
/// serving what the flush was meant to drop.
pub fn other_releases_files(dir: &Path, uid: u32) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_str()
                .and_then(parse_file_name)
                .is_some_and(|(owner, version)| owner == uid && version != Some(LAYOUT_VERSION))
        })
        .map(|e| e.path())
        .filter(|path| {
            lstat(path)
                .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_uid == uid)
        })
        .collect();
    files.sort();
    files
}

/// `dir`, then a name made of `prefix`, `uid` in decimal and `suffix`: the
/// path of a file or directory, joined as `Path::join` joins a relative
/// name.
///
/// Written out here rather than with `format!` and `Path::join`: the
/// cache's paths are made in the first lookup of every process, and there
/// the formatting machinery is cold code, about a microsecond of it (perf,
/// fresh processes), and each join about 600 instructions and two
/// allocations where one allocation will do (callgrind).
pub(crate) fn uid_path(dir: &Path, prefix: &str, uid: u32, suffix: &str) -> PathBuf {
    // u32::MAX has ten digits; they are written from the last one back.
    let mut buf = [0u8; 10];
    let mut first = buf.len();
    let mut rest = uid;
    for digit in buf.iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        first -= 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let digits = buf.get(first..).unwrap_or_default();
    let dir = dir.as_os_str().as_bytes();
    let slash: &[u8] = if dir.is_empty() || dir.ends_with(b"/") {
        b""
    } else {
        b"/"
    };
    let mut path = Vec::with_capacity(dir.len() + 1 + prefix.len() + digits.len() + suffix.len());
    for part in [dir, slash, prefix.as_bytes(), digits, suffix.as_bytes()] {
        path.extend_from_slice(part);
    }
    PathBuf::from(OsString::from_vec(path))
}

/// open(2) of `path` with O_NOFOLLOW (and O_CLOEXEC) added, retried on
/// EINTR.
pub(super) fn open(path: &Path, flags: libc::c_int, mode: libc::mode_t) -> io::Result<Fd> {
    file::open(&c_path(path)?, flags | libc::O_NOFOLLOW, mode)
}

/// lstat(2): what is at `path`, without following a symlink.
pub(super) fn lstat(path: &Path) -> io::Result<libc::stat64> {
    file::lstat(&c_path(path)?)
}

/// Device, inode and size at `path`, without following a symlink.
pub fn identity_at(path: &Path) -> Option<(u64, u64, u64)> {
    let st = lstat(path).ok()?;
    Some((st.st_dev, st.st_ino, u64::try_from(st.st_size).unwrap_or(0)))
}

/// Checks what fstat says against the trust model.
fn check_stat(st: &libc::stat64, owner: u32) -> Result<(), MapError> {
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(MapError::Untrusted(Check::NotRegular));
    }
    if st.st_uid != owner {
        return Err(MapError::Untrusted(Check::Owner {
            found: st.st_uid,
            expected: owner,
        }));
    }
    if st.st_mode & 0o022 != 0 {
        return Err(MapError::Untrusted(Check::FileMode {
            found: st.st_mode & 0o7777,
        }));
    }
    if st.st_nlink != 1 {
        // st_nlink is u64 on x86_64 and u32 on aarch64.
        #[allow(clippy::useless_conversion)]
        let found = u64::from(st.st_nlink);
        return Err(MapError::Untrusted(Check::Links { found }));
    }
    Ok(())
}

/// Maps an open, checked file and validates its header.
fn map(fd: &Fd, st: &libc::stat64, writable: bool) -> Result<Mapping, MapError> {
    let len = usize::try_from(st.st_size).map_err(|_| MapError::Untrusted(Check::Size))?;
    if len < HEADER_SIZE + MIN_SLOTS as usize * SLOT_SIZE {
        return Err(MapError::Untrusted(Check::Size));
    }
    let prot = if writable {
        libc::PROT_READ | libc::PROT_WRITE
    } else {
        libc::PROT_READ
    };
    // SAFETY: mapping `len` bytes of an open regular file, shared; the
    // result is checked before use.
    let ptr = unsafe {
        crate::sys::mmap(
            std::ptr::null_mut(),
            len,
            prot,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    }?;
    if writable {
        map_header_alone(ptr.cast());
    }
    let mut mapping = Mapping {
        ptr,
        len,
        slot_count: 0,
        writable,
        identity: (st.st_dev, st.st_ino, u64::try_from(st.st_size).unwrap_or(0)),
        // SYNC POINT: Relaxed; only uniqueness matters.
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
    };
    // SAFETY: the mapping is at least HEADER_SIZE bytes and page aligned;
    // the header is all atomics, valid for any bit pattern.
    let header = unsafe { &*ptr.cast::<Header>() };
    mapping.slot_count = validate_header(header, len)?;
    Ok(mapping)
}

/// Writes to `word`'s page without changing it (an atomic add of zero), so
/// that if this process has not mapped the page yet, the kernel maps it
/// alone. A page of the file that any process has touched is in the page
/// cache, and a *read* fault on it maps it with up to 15 such neighbours
/// (fault-around, 64 KiB); a write fault maps one page. On a host whose
/// cache had been in use, a fresh process's first cached lookup mapped
/// 128 KiB of the file (the header's window and the name's), against
/// 12 KiB on a new file, counted in its RSS (the bench's memory rows); with
/// each page touched so first, 8 KiB either way (the header's first page
/// and the name's window; a miss maps the header's second page too).
/// Only for writable mappings: root's file, read by users, keeps
/// fault-around.
pub(super) fn map_page_alone(word: &AtomicU64) {
    // SYNC POINT: Relaxed; adding zero orders nothing and changes nothing.
    // The zero goes through black_box: an add of a constant zero is a load
    // to the optimiser (LLVM rewrites it as one), and a load is the read
    // fault this is here to avoid.
    word.fetch_add(std::hint::black_box(0), Ordering::Relaxed);
}

/// The header's first page, mapped alone (see [`map_page_alone`]): it holds
/// what every lookup reads (identity, geometry, generation, statistics).
/// The second page holds only what a miss uses (the miss leases and the
/// last health records); `Table` maps it the same way on a miss's first
/// use of it, so a process that only hits never maps it: a fresh process's
/// cached lookup takes two faults on the file, not three. Measured on this
/// VM (a C program, 300 new mappings each): 3.1 us for the two header
/// writes against 2.5 us for one read on a new file, and 3.0 against 3.7 us
/// on a used one, where the read maps 16 pages;
/// `madvise(MADV_POPULATE_WRITE)` of both pages, one system call, took
/// 3.5 us either way.
fn map_header_alone(ptr: *mut u8) {
    // SAFETY: the mapping is writable, page aligned and longer than
    // HEADER_SIZE (checked by the caller), so its first word is 8-byte
    // aligned and inside it; the file's words are accessed only atomically.
    map_page_alone(unsafe { &*ptr.cast::<AtomicU64>() });
}

/// Checks an untrusted header against the mapping; returns the slot count.
fn validate_header(header: &Header, len: usize) -> Result<usize, MapError> {
    // SYNC POINT: Acquire pairs with the creator's Release store of the
    // magic, published after every other header field.
    if header.magic.load(Ordering::Acquire) != MAGIC {
        return Err(MapError::Untrusted(Check::Magic));
    }
    let version = header.layout_version.load(Ordering::Relaxed);
    if version != LAYOUT_VERSION {
        return Err(MapError::Untrusted(Check::LayoutVersion { found: version }));
    }
    let slots = header.slot_count.load(Ordering::Relaxed);
    let geometry_ok = header.header_size.load(Ordering::Relaxed) as usize == HEADER_SIZE
        && header.slot_size.load(Ordering::Relaxed) as usize == SLOT_SIZE
        && (MIN_SLOTS..=MAX_SLOTS).contains(&slots)
        && header.file_size.load(Ordering::Relaxed) == len as u64
        && Geometry { slot_count: slots }.file_size() == len as u64;
    if !geometry_ok {
        return Err(MapError::Untrusted(Check::Geometry));
    }
    Ok(slots as usize)
}

/// Opens an existing cache file of `owner` at `path`.
pub fn open_existing(path: &Path, owner: u32, writable: bool) -> Result<Mapping, MapError> {
    let flags = if writable {
        libc::O_RDWR
    } else {
        libc::O_RDONLY
    };
    let fd = match open(path, flags, 0) {
        // O_NOFOLLOW refuses a symlink in the last component with ELOOP.
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(MapError::Untrusted(Check::Symlink))
        }
        other => other?,
    };
    let st = file::fstat(&fd)?;
    check_stat(&st, owner)?;
    map(&fd, &st, writable)
}

/// Opens this process's own cache file, creating it (and, for root, the
/// directory) when missing. An existing file is used with the geometry it
/// has; one that fails a check is left alone and the process runs
/// uncached (files are only ever published complete, so a bad one was put
/// there on purpose; another layout's file has another name).
pub fn open_or_create(dir: &Path, uid: u32, geometry: Geometry) -> Result<Mapping, MapError> {
    let path = file_path(dir, uid);
    match open_existing(&path, uid, true) {
        Err(MapError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {}
        // Another user created root's file first (the directory is world
        // writable), to deny everyone root's cache: root removes it.
        Err(MapError::Untrusted(Check::Owner { .. })) if uid == 0 => {
            let _ = c_path(&path).and_then(|c| crate::sys::unlink(&c));
        }
        other => return other,
    }
    if uid == 0 {
        ensure_dir(dir)?;
    }
    create(dir, &path, uid, geometry)
}

/// Creates the cache directory: world-writable and sticky, like /tmp, so
/// every user can create (only) their own file in it.
fn ensure_dir(dir: &Path) -> io::Result<()> {
    let c = c_path(dir)?;
    match crate::sys::mkdir(&c, 0o755) {
        Ok(()) => {
            // Sets the bits the umask may have cleared.
            let _ = crate::sys::chmod(&c, 0o1777);
            Ok(())
        }
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err),
    }
}

/// Makes and publishes the file under the claim (see `claim`), or waits
/// for the one another process is making.
fn create(dir: &Path, path: &Path, uid: u32, geometry: Geometry) -> Result<Mapping, MapError> {
    let _held = match claim::claim(dir, uid) {
        Claim::Mine(held) => {
            // Published between this process's look and its claim?
            match open_existing(path, uid, true) {
                Err(MapError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {}
                other => return other,
            }
            Some(held)
        }
        Claim::Theirs => return wait_for_file(path, uid),
        Claim::Unclaimable => None,
    };
    make(dir, path, uid, geometry)
}

/// Waits (polling as `sys::Backoff` does, [`claim::WAIT`] in all) for the
/// file another process claimed to appear.
fn wait_for_file(path: &Path, uid: u32) -> Result<Mapping, MapError> {
    let start = crate::clock::Instant::now();
    let mut backoff = crate::sys::Backoff::new();
    loop {
        backoff.sleep();
        match open_existing(path, uid, true) {
            Err(MapError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {}
            other => return other,
        }
        if start.elapsed() >= claim::WAIT {
            return Err(MapError::Busy);
        }
    }
}

/// Makes the file under a temporary name and publishes it.
fn make(dir: &Path, path: &Path, uid: u32, geometry: Geometry) -> Result<Mapping, MapError> {
    let mut random = [0u8; 16];
    crate::random::fill(&mut random);
    let tmp = dir.join(format!(
        ".{uid}{FILE_SUFFIX}.{:016x}",
        u64::from_le_bytes(random[..8].try_into().unwrap_or([0; 8]))
    ));
    // Root's file is read by every user; a user's file only by that user
    // (which names someone looks up is their business).
    let mode = if uid == 0 { 0o644 } else { 0o600 };
    let fd = open(&tmp, libc::O_RDWR | libc::O_CREAT | libc::O_EXCL, mode)?;
    let seed = u64::from_le_bytes(random[8..].try_into().unwrap_or([0; 8]));
    let result = initialise(&fd, geometry, seed, mode).and_then(|()| publish(&tmp, path));
    // Gone already when the rename moved it; left when another process's
    // file won, when the link fallback was taken, or on failure.
    let _ = c_path(&tmp).and_then(|c| crate::sys::unlink(&c));
    result?;
    drop(fd);
    open_existing(path, uid, true)
}

/// Gives the new file its full size and its header.
fn initialise(fd: &Fd, geometry: Geometry, seed: u64, mode: libc::mode_t) -> Result<(), MapError> {
    let size = geometry.file_size();
    // The mode is set explicitly: the process umask must not decide who may
    // read or write the file.
    let _ = crate::sys::fchmod(fd.as_raw_fd(), mode);
    let len = libc::off_t::try_from(size).map_err(|_| MapError::Untrusted(Check::Size))?;
    // SAFETY: a plain system call on an open descriptor; no memory passed.
    let rc = unsafe { libc::posix_fallocate(fd.as_raw_fd(), 0, len) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc).into());
    }
    let len = usize::try_from(size).map_err(|_| MapError::Untrusted(Check::Size))?;
    // SAFETY: mapping the `len` bytes just allocated; checked below.
    let ptr = unsafe {
        crate::sys::mmap(
            std::ptr::null_mut(),
            HEADER_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    }?;
    // SAFETY: a fresh, zeroed, page-aligned mapping of HEADER_SIZE bytes;
    // the header is all atomics.
    let header = unsafe { &*ptr.cast::<Header>() };
    header
        .layout_version
        .store(LAYOUT_VERSION, Ordering::Relaxed);
    header
        .header_size
        .store(HEADER_SIZE as u32, Ordering::Relaxed);
    header.file_size.store(len as u64, Ordering::Relaxed);
    header
        .slot_count
        .store(geometry.slot_count, Ordering::Relaxed);
    header.slot_size.store(SLOT_SIZE as u32, Ordering::Relaxed);
    header.seed.store(seed, Ordering::Relaxed);
    header.generation.store(1, Ordering::Relaxed);
    header.created_ms.store(now_ms(), Ordering::Relaxed);
    // SYNC POINT: Release publishes every field above with the magic; pairs
    // with the Acquire load in validate_header.
    header.magic.store(MAGIC, Ordering::Release);
    // SAFETY: unmapping exactly what was mapped above; `header` is not used
    // after this.
    unsafe { crate::sys::munmap(ptr, HEADER_SIZE) };
    Ok(())
}

/// Moves the finished file into place in one step; if another process got
/// there first, its file wins and ours is dropped.
///
/// `renameat2(RENAME_NOREPLACE)` makes the file appear at `path` with its
/// one link. A hard link followed by unlinking the temporary name would
/// show every process that opens `path` in between a file with two links,
/// which the trust model refuses: in a burst of fresh processes that made
/// most of them run uncached, each asking the upstream itself. The link is
/// kept only for a kernel or filesystem without the flag (or a seccomp
/// filter that refuses the call); there the window is back, but only there.
fn publish(tmp: &Path, path: &Path) -> Result<(), MapError> {
    let (c_tmp, c_path) = (c_path(tmp)?, c_path(path)?);
    // SAFETY: both are valid C strings for the call; renameat2 takes no
    // other memory. The raw syscall keeps glibc's 2.28 wrapper out of the
    // module's imports.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            c_tmp.as_ptr(),
            libc::AT_FDCWD,
            c_path.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EEXIST) => Ok(()),
        Some(libc::EINVAL | libc::ENOSYS | libc::EPERM) => {
            match crate::sys::link(&c_tmp, &c_path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
        _ => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::entry::{Entry, Key, Kind};
    use crate::upstream::QType;
    use std::os::unix::fs::PermissionsExt;

    fn tempdir(name: &str) -> PathBuf {
        crate::cache::test_dir("map", name)
    }

    #[test]
    fn names_carry_the_uid_in_decimal_and_the_layout_version() {
        for dir in ["/run/rustcache", "/run/rustcache/", "/", "", "relative/dir"] {
            let dir = Path::new(dir);
            for uid in [0, 7, 10, 1000, 65534, 4_294_967_295] {
                let name = format!("{uid}.v{LAYOUT_VERSION}.cache");
                assert_eq!(file_path(dir, uid), dir.join(name));
                let fallback = uid_path(dir, "rustcache-", uid, "");
                assert_eq!(fallback, dir.join(format!("rustcache-{uid}")));
            }
        }
    }

    #[test]
    fn file_names_say_whose_and_which_layout() {
        assert_eq!(parse_file_name("0.v3.cache"), Some((0, Some(3))));
        assert_eq!(parse_file_name("1000.cache"), Some((1000, None)));
        assert_eq!(parse_file_name("1000.v12.cache"), Some((1000, Some(12))));
        let ours = file_path(Path::new(""), 4_294_967_295);
        let ours = ours.to_str().unwrap();
        assert_eq!(
            parse_file_name(ours),
            Some((4_294_967_295, Some(LAYOUT_VERSION)))
        );
        for name in [
            ".0.v3.cache.lock",
            ".0.v3.cache.0123456789abcdef",
            "0.v3.cache.lock",
            "0.3.cache",
            "0.v.cache",
            "0.vx.cache",
            ".cache",
            "x.cache",
            "0.v3.v3.cache",
            "4294967296.cache",
            "00.cache",
            "0.v03.cache",
            "+1.cache",
            "rustcache-0",
        ] {
            assert_eq!(parse_file_name(name), None, "{name}");
        }
    }

    #[test]
    fn other_releases_files_are_the_uids_regular_files_of_other_layouts() {
        let dir = tempdir("others");
        let me = uid();
        let layout = |v: &str| dir.join(format!("{me}{v}.cache"));
        for path in [
            layout(""),
            layout(".v2"),
            layout(".v4"),
            file_path(&dir, me),
        ] {
            std::fs::write(&path, b"x").unwrap();
        }
        std::fs::write(dir.join(format!("{}.cache", me + 1)), b"x").unwrap();
        std::os::unix::fs::symlink(layout(""), layout(".v5")).unwrap();
        std::fs::create_dir(layout(".v6")).unwrap();
        assert_eq!(
            other_releases_files(&dir, me),
            [layout(""), layout(".v2"), layout(".v4")]
        );
        assert!(other_releases_files(&dir.join("missing"), me).is_empty());
    }

    fn uid() -> u32 {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() }
    }

    #[test]
    fn created_file_is_shared_between_mappings() {
        let dir = tempdir("shared");
        let geometry = Geometry::for_size(1 << 20);
        let a = open_or_create(&dir, uid(), geometry).unwrap();
        let b = open_or_create(&dir, uid(), geometry).unwrap();
        assert_eq!(a.identity(), b.identity());
        let key = Key::new("x.example", QType::A);
        let entry = Entry {
            kind: Kind::NxDomain,
            ttl: 5,
            stored_ms: 0,
            expires_ms: 5000,
            retry_after_ms: 0,
            canonical: String::new(),
            aliases: vec![],
            v4: vec![],
            v6: vec![],
        };
        assert!(a.table().put_entry(&key, &entry, 0, 0));
        assert_eq!(b.table().get(&key, 1).unwrap().entry, entry);
        let meta = std::fs::metadata(file_path(&dir, uid())).unwrap();
        assert_eq!(meta.len(), geometry.file_size());
        let expected = if uid() == 0 { 0o644 } else { 0o600 };
        assert_eq!(meta.permissions().mode() & 0o777, expected);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Processes racing to create the file at their first lookup (a burst
    /// of fresh processes on a fresh boot) all end up on one file; none
    /// sees the winner's file half published (two links) and runs uncached.
    #[test]
    fn racing_creators_all_map_the_one_file() {
        for round in 0..20 {
            let dir = tempdir(&format!("race{round}"));
            let geometry = Geometry::for_size(1 << 20);
            let gate = std::sync::Barrier::new(32);
            let results: Vec<Result<(u64, u64, u64), String>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..32)
                    .map(|_| {
                        s.spawn(|| {
                            gate.wait();
                            open_or_create(&dir, uid(), geometry)
                                .map(|m| m.identity())
                                .map_err(|e| e.to_string())
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let first = results[0].clone().unwrap();
            for r in &results {
                assert_eq!(r.as_ref(), Ok(&first), "round {round}: {results:?}");
            }
            let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
            assert_eq!(left.len(), 1, "temporary files left behind: {left:?}");
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    #[test]
    fn untrusted_files_are_refused() {
        let dir = tempdir("untrusted");
        let geometry = Geometry::for_size(1 << 20);
        let path = file_path(&dir, uid());
        drop(open_or_create(&dir, uid(), geometry).unwrap());
        // Group-writable: refused.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o664)).unwrap();
        assert!(matches!(
            open_existing(&path, uid(), true),
            Err(MapError::Untrusted(_))
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        // Expecting another owner: refused.
        assert!(matches!(
            open_existing(&path, uid() + 1, false),
            Err(MapError::Untrusted(_))
        ));
        // A symlink: refused by O_NOFOLLOW.
        let link = dir.join("link.cache");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(open_existing(&link, uid(), false).is_err());
        // Garbage of the right size: refused by the header check, and not
        // replaced either.
        std::fs::write(&path, vec![0xffu8; geometry.file_size() as usize]).unwrap();
        assert!(matches!(
            open_existing(&path, uid(), true),
            Err(MapError::Untrusted(_))
        ));
        assert!(matches!(
            open_or_create(&dir, uid(), geometry),
            Err(MapError::Untrusted(_))
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
