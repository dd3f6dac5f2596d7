//! The claim on making a cache file, so that processes that find no file at
//! the same moment (a host's services starting together at boot) do not
//! each make one.
//!
//! Making a file costs its maker a `posix_fallocate` of all of it (4 ms for
//! root's 16 MiB on the 2-core VM measured) and, until a loser's copy is
//! unlinked, that much tmpfs memory. Without a claim, 64 processes starting
//! together on a host without a file each made their own and all but one
//! threw theirs away: 64 allocations, up to 1 GiB of `/run` for a moment,
//! and lookups of 36-177 ms where an existing file gives 11.
//!
//! The claim is an empty file, `<dir>/.<uid>.v3.cache.lock`, made with
//! `O_EXCL`. Its maker makes and publishes the cache file as before (a
//! temporary file renamed into place without replacing anything, so that
//! two makers are harmless), then removes the claim, on every path out,
//! unwinding included. A process that finds the claim waits for the
//! published file, at most [`WAIT`], and otherwise runs without a cache
//! until its next look at the files. A claim older than [`STALE`] is taken
//! for its maker's, killed between claiming and publishing: it is removed
//! and claimed again. A claim that is not an empty regular file of this
//! uid (another user's squat in the shared sticky directory, a symlink)
//! is left alone and the file is made unclaimed, as before: a squatter can
//! cost a stampede its protection, never a uid its cache.

use std::ffi::CString;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::layout::FILE_SUFFIX;
use super::map::{lstat, open, uid_path};
use crate::sys::file::c_path;

/// Longest wait for a file another process claimed: ample for the default
/// sizes (4 ms for 16 MiB); past it the lookup runs uncached.
pub const WAIT: Duration = Duration::from_millis(100);
/// Age past which a claim is its dead maker's. Only ever a bound on how
/// long a maker killed mid-way leaves its uid uncached: a live maker taken
/// for dead costs a second allocation, never a wrong file.
const STALE: Duration = Duration::from_secs(5);

/// What trying to claim the making of a uid's file found.
pub enum Claim {
    /// This process makes the file; the claim goes when this is dropped.
    Mine(Held),
    /// Another process of the uid is making it.
    Theirs,
    /// No claim can be had here (a squatted name, or the directory refuses
    /// the claim as it will refuse the file): make the file unclaimed.
    Unclaimable,
}

/// A claim this process made, removed when dropped.
pub struct Held {
    path: CString,
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = crate::sys::unlink(&self.path);
    }
}

/// Tries to claim the making of `uid`'s file in `dir`.
pub fn claim(dir: &Path, uid: u32) -> Claim {
    let path = lock_path(dir, uid);
    let Ok(c_path) = c_path(&path) else {
        return Claim::Unclaimable;
    };
    // One retry: after removing a stale claim, another process may claim
    // first, and then it is theirs.
    for _ in 0..2 {
        // The empty claim file, made only if nothing is at its name.
        match open(&path, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, 0o600) {
            Ok(_) => return Claim::Mine(Held { path: c_path }),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(_) => return Claim::Unclaimable,
        }
        match age_of_claim(&path, uid) {
            Some(age) if age < STALE => return Claim::Theirs,
            Some(_) => {
                let _ = crate::sys::unlink(&c_path);
            }
            None => return Claim::Unclaimable,
        }
    }
    Claim::Theirs
}

/// `<dir>/.<uid>.v3.cache.lock`: one claim per layout, as one file.
fn lock_path(dir: &Path, uid: u32) -> PathBuf {
    uid_path(dir, ".", uid, &format!("{FILE_SUFFIX}.lock"))
}

/// How long ago the claim at `path` was made (either way: a clock set
/// back must not make a claim young forever), if it is an empty regular
/// file owned by `uid`.
fn age_of_claim(path: &Path, uid: u32) -> Option<Duration> {
    let Ok(st) = lstat(path) else {
        // Gone since: its maker finished (or gave up); count it as fresh,
        // and the caller waits for the file.
        return Some(Duration::ZERO);
    };
    let ours = st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_uid == uid && st.st_size == 0;
    if !ours {
        return None;
    }
    let made = i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec);
    // Either way round (a clock set back must not make a claim young
    // forever); an age past what a Duration holds is stale.
    let age = (crate::clock::wall_ns() - made).unsigned_abs();
    Some(u64::try_from(age).map_or(Duration::MAX, Duration::from_nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;
    use std::time::SystemTime;

    fn tempdir(name: &str) -> PathBuf {
        crate::cache::test_dir("claim", name)
    }

    fn uid() -> u32 {
        crate::sys::euid()
    }

    #[test]
    fn one_claim_at_a_time_and_dropping_it_frees_the_name() {
        let dir = tempdir("once");
        let held = match claim(&dir, uid()) {
            Claim::Mine(held) => held,
            _ => panic!("the first claim is not this process's"),
        };
        assert!(lock_path(&dir, uid()).exists());
        assert!(matches!(claim(&dir, uid()), Claim::Theirs));
        drop(held);
        assert!(!lock_path(&dir, uid()).exists());
        assert!(matches!(claim(&dir, uid()), Claim::Mine(_)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// An empty claim file in `dir`, dated `made`.
    fn claim_made_at(dir: &Path, made: SystemTime) {
        let lock = lock_path(dir, uid());
        std::fs::write(&lock, b"").unwrap();
        let file = std::fs::File::options().write(true).open(&lock).unwrap();
        file.set_modified(made).unwrap();
    }

    #[test]
    fn a_stale_claim_is_removed_and_claimed_again() {
        let dir = tempdir("stale");
        claim_made_at(&dir, SystemTime::now() - STALE - Duration::from_secs(1));
        assert!(matches!(claim(&dir, uid()), Claim::Mine(_)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_claim_from_the_future_is_stale_too() {
        let dir = tempdir("future");
        claim_made_at(&dir, SystemTime::now() + STALE + Duration::from_secs(60));
        assert!(matches!(claim(&dir, uid()), Claim::Mine(_)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_young_claim_of_another_process_is_theirs() {
        let dir = tempdir("young");
        claim_made_at(&dir, SystemTime::now() - Duration::from_millis(100));
        assert!(matches!(claim(&dir, uid()), Claim::Theirs));
        assert!(lock_path(&dir, uid()).exists(), "a live claim was removed");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_symlink_or_a_non_empty_file_in_its_place_is_no_claim_and_is_left_alone() {
        let dir = tempdir("squat");
        let lock = lock_path(&dir, uid());
        let target = dir.join("target");
        std::fs::write(&target, b"keep").unwrap();
        std::os::unix::fs::symlink(&target, &lock).unwrap();
        assert!(matches!(claim(&dir, uid()), Claim::Unclaimable));
        assert!(lock.symlink_metadata().unwrap().file_type().is_symlink());
        std::fs::remove_file(&lock).unwrap();
        std::fs::write(&lock, b"x").unwrap();
        assert!(matches!(claim(&dir, uid()), Claim::Unclaimable));
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        assert_eq!(lock.metadata().unwrap().size(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_directory_is_unclaimable() {
        let dir = std::env::temp_dir().join(format!("rustcache-claim-none-{}", std::process::id()));
        assert!(matches!(claim(&dir, uid()), Claim::Unclaimable));
    }
}
