//! Where a process's own cache file lives: the cache directory first, a
//! per-uid fallback directory when that cannot hold it.
//!
//! The places, in the order tried (docs/ARCHITECTURE.md, "Where the files
//! are"):
//!
//! 1. `<cache-dir>/<uid>.v3.cache` (`/run/rustcache` by default), the one
//!    every process of the host shares, root's file included.
//! 2. Only when that file does not exist and cannot be made there (the
//!    directory is missing and this process may not create it, or it may
//!    not write in it: `ENOENT`, `EACCES`, `EPERM`, `EROFS`, `ENOSPC`,
//!    `EDQUOT`): `/dev/shm/rustcache-<uid>/<uid>.v3.cache`. That is a
//!    non-root process in a container nobody prepared, where `/run` is
//!    root's and `/dev/shm` a fresh sticky tmpfs. The directory is made
//!    mode 0700 and used only if `lstat` says it is a directory (not a
//!    symlink), owned by the uid, and closed to group and others; the file
//!    in it passes the same checks as in the cache directory. In a sticky
//!    `/dev/shm` no other user can rename or remove a directory the uid
//!    owns, so the checked directory stays the one used; one made first by
//!    another user means no cache for this uid (never that user's
//!    answers), as a squatted file in the cache directory does.
//!
//! A file in the cache directory that exists and fails a check is not
//! replaced by the fallback: files are only ever published complete, so
//! it was put there on purpose, and a process that moved away from it
//! would no longer share answers with the processes that use the file the
//! name leads to. (Another release's file is not met here: the layout
//! version is in the name.) Root's file, which other users also read,
//! is only ever looked for in the cache directory.
//!
//! `$XDG_RUNTIME_DIR` is not among the places: it is environment, which
//! setuid processes must not read, and processes of one uid differ in it
//! (a login session has one, a service or a cron job none), so they would
//! not share a cache. `/dev/shm` is the same for all of them.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::layout::Geometry;
use super::map::{file_path, lstat, open_existing, open_or_create, uid_path, MapError, Mapping};
use super::reason::{Check, Failure, NoCache, Problem};

/// Where fallback directories are made: a tmpfs every user may write.
pub const FALLBACK_BASE: &str = "/dev/shm";

/// Which of the places a mapping came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The cache directory (`cache-dir`).
    Primary,
    /// The per-uid fallback directory.
    Fallback,
}

/// The places of one uid's own cache file.
#[derive(Clone, Debug)]
pub struct Places {
    dir: PathBuf,
    fallback_dir: PathBuf,
    uid: u32,
}

impl Places {
    /// The places of `uid`'s file: in `dir`, else under `fallback_base`
    /// ([`FALLBACK_BASE`] outside tests).
    pub fn new(dir: &Path, fallback_base: &Path, uid: u32) -> Places {
        Places {
            dir: dir.to_path_buf(),
            fallback_dir: fallback_dir(fallback_base, uid),
            uid,
        }
    }

    /// `<cache-dir>/<uid>.v3.cache`.
    pub fn primary(&self) -> PathBuf {
        file_path(&self.dir, self.uid)
    }

    /// The fallback directory, `/dev/shm/rustcache-<uid>`.
    pub fn fallback_dir(&self) -> &Path {
        &self.fallback_dir
    }

    /// The file in the fallback directory.
    pub fn fallback(&self) -> PathBuf {
        file_path(&self.fallback_dir, self.uid)
    }

    /// The path of the file at `place`.
    pub fn path(&self, place: Place) -> PathBuf {
        match place {
            Place::Primary => self.primary(),
            Place::Fallback => self.fallback(),
        }
    }

    /// Opens (or creates) the uid's own file, read-write: in the cache
    /// directory, else, when that cannot hold it, in the fallback place.
    pub fn open_own(&self, geometry: Geometry) -> Result<(Mapping, Place), NoCache> {
        let primary = match open_or_create(&self.dir, self.uid, geometry) {
            Ok(mapping) => return Ok((mapping, Place::Primary)),
            Err(e) => e,
        };
        let primary_failure = self.primary_failure(&primary);
        if !cannot_be_made(&primary) {
            return Err(NoCache::Failed {
                primary: primary_failure,
                fallback: None,
            });
        }
        let fallback = ensure_private_dir(&self.fallback_dir, self.uid)
            .and_then(|()| {
                open_or_create(&self.fallback_dir, self.uid, geometry)
                    .map_err(|e| Failure::new(&self.fallback(), Problem::from_map(&e)))
            })
            .map(|mapping| (mapping, Place::Fallback));
        fallback.map_err(|fallback| NoCache::Failed {
            primary: primary_failure,
            fallback: Some(fallback),
        })
    }

    /// Opens the uid's existing file where a process of that uid would use
    /// it (for `rustcache stats` and `flush`): the cache directory, else a
    /// checked fallback directory.
    pub fn open_existing(&self, writable: bool) -> Result<(Mapping, PathBuf), NoCache> {
        let primary_path = self.primary();
        let primary = match open_existing(&primary_path, self.uid, writable) {
            Ok(mapping) => return Ok((mapping, primary_path)),
            Err(e) => e,
        };
        let primary_failure = self.primary_failure(&primary);
        if !cannot_be_made(&primary) {
            return Err(NoCache::Failed {
                primary: primary_failure,
                fallback: None,
            });
        }
        let path = self.fallback();
        let fallback = check_private_dir(&self.fallback_dir, self.uid).and_then(|()| {
            open_existing(&path, self.uid, writable)
                .map_err(|e| Failure::new(&path, Problem::from_map(&e)))
        });
        match fallback {
            Ok(mapping) => Ok((mapping, path)),
            Err(fallback) => Err(NoCache::Failed {
                primary: primary_failure,
                fallback: Some(fallback),
            }),
        }
    }

    /// The cache directory's failure, naming the directory when it is the
    /// directory that is missing (an `lstat` on this failing path only).
    fn primary_failure(&self, error: &MapError) -> Failure {
        let missing_dir = matches!(error, MapError::Io(e) if e.kind() == io::ErrorKind::NotFound)
            && lstat(&self.dir).is_err();
        let path = if missing_dir {
            self.dir.clone()
        } else {
            self.primary()
        };
        Failure {
            path,
            problem: Problem::from_map(error),
        }
    }
}

/// `<base>/rustcache-<uid>`.
pub fn fallback_dir(base: &Path, uid: u32) -> PathBuf {
    uid_path(base, "rustcache-", uid, "")
}

/// Whether the cache directory failed because it cannot hold this uid's
/// file (so the fallback is tried), not because a file there was refused.
fn cannot_be_made(error: &MapError) -> bool {
    match error {
        MapError::Io(e) => matches!(
            e.raw_os_error(),
            Some(
                libc::ENOENT
                    | libc::EACCES
                    | libc::EPERM
                    | libc::EROFS
                    | libc::ENOSPC
                    | libc::EDQUOT
            )
        ),
        // Being made here: the cache directory can hold it.
        MapError::Untrusted(_) | MapError::Busy => false,
    }
}

/// Checks a fallback directory without following a symlink: a directory
/// owned by `uid` that group and others cannot enter or write.
fn check_private_dir(dir: &Path, uid: u32) -> Result<(), Failure> {
    let refused = |check| Err(Failure::new(dir, Problem::Refused(check)));
    let st = lstat(dir).map_err(|e| Failure::new(dir, Problem::from_io(&e)))?;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => {}
        libc::S_IFLNK => return refused(Check::Symlink),
        _ => return refused(Check::NotDirectory),
    }
    if st.st_uid != uid {
        return refused(Check::Owner {
            found: st.st_uid,
            expected: uid,
        });
    }
    if st.st_mode & 0o077 != 0 {
        return refused(Check::DirMode {
            found: st.st_mode & 0o7777,
        });
    }
    Ok(())
}

/// Makes the fallback directory (mode 0700, whatever the umask) unless it
/// exists, then checks it.
fn ensure_private_dir(dir: &Path, uid: u32) -> Result<(), Failure> {
    let c = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| Failure::new(dir, Problem::Os(libc::EINVAL)))?;
    let made = crate::sys::mkdir(&c, 0o700);
    if made.is_ok() {
        // A umask may have cleared owner bits; group and other bits were
        // never asked for. Nobody else can rename a fresh directory in a
        // sticky /dev/shm between these calls, and the check below looks
        // again anyway.
        let _ = crate::sys::chmod(&c, 0o700);
    } else if let Err(err) = made {
        if err.kind() != io::ErrorKind::AlreadyExists {
            return Err(Failure::new(dir, Problem::from_io(&err)));
        }
    }
    check_private_dir(dir, uid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn tempdir(name: &str) -> PathBuf {
        crate::cache::test_dir("place", name)
    }

    fn uid() -> u32 {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() }
    }

    const GEOMETRY: Geometry = Geometry { slot_count: 2048 };

    #[test]
    fn a_missing_cache_directory_falls_back_to_a_private_directory() {
        let base = tempdir("fallback");
        let places = Places::new(&base.join("missing/rustcache"), &base, uid());
        let (mapping, place) = places.open_own(GEOMETRY).unwrap();
        assert_eq!(place, Place::Fallback);
        let meta = std::fs::symlink_metadata(places.fallback_dir()).unwrap();
        assert!(meta.is_dir());
        assert_eq!(meta.mode() & 0o7777, 0o700);
        assert_eq!(meta.uid(), uid());
        let again = places.open_existing(false).unwrap();
        assert_eq!(again.0.identity(), mapping.identity());
        assert_eq!(again.1, places.fallback());
        std::fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn a_usable_cache_directory_is_used_and_no_fallback_made() {
        let base = tempdir("primary");
        let dir = base.join("rustcache");
        std::fs::create_dir(&dir).unwrap();
        let places = Places::new(&dir, &base, uid());
        let (_, place) = places.open_own(GEOMETRY).unwrap();
        assert_eq!(place, Place::Primary);
        assert!(!places.fallback_dir().exists());
        std::fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn a_hostile_fallback_directory_gives_no_cache_and_says_why() {
        let base = tempdir("hostile");
        let places = Places::new(&base.join("missing/rustcache"), &base, uid());
        // A symlink to a directory that would pass every check.
        let real = base.join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink(&real, places.fallback_dir()).unwrap();
        let err = places.open_own(GEOMETRY).err().unwrap();
        let NoCache::Failed {
            primary,
            fallback: Some(fallback),
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(primary.path, base.join("missing/rustcache"));
        assert_eq!(primary.problem, Problem::Os(libc::ENOENT));
        assert_eq!(fallback.problem, Problem::Refused(Check::Symlink));
        assert!(!real.join(format!("{}.v3.cache", uid())).exists());
        // A directory open to others.
        std::fs::remove_file(places.fallback_dir()).unwrap();
        std::fs::create_dir(places.fallback_dir()).unwrap();
        std::fs::set_permissions(
            places.fallback_dir(),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let err = places.open_own(GEOMETRY).err().unwrap();
        assert!(err.to_string().contains("mode 0755"), "{err}");
        assert!(matches!(
            err,
            NoCache::Failed {
                fallback: Some(Failure {
                    problem: Problem::Refused(Check::DirMode { found: 0o755 }),
                    ..
                }),
                ..
            }
        ));
        std::fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn a_refused_file_in_the_cache_directory_is_not_replaced_by_the_fallback() {
        let base = tempdir("refused");
        let dir = base.join("rustcache");
        std::fs::create_dir(&dir).unwrap();
        let places = Places::new(&dir, &base, uid());
        std::fs::write(places.primary(), vec![0u8; 1 << 20]).unwrap();
        let err = places.open_own(GEOMETRY).err().unwrap();
        assert_eq!(
            err,
            NoCache::Failed {
                primary: Failure::new(&places.primary(), Problem::Refused(Check::Magic)),
                fallback: None,
            }
        );
        assert!(!places.fallback_dir().exists());
        std::fs::remove_dir_all(base).unwrap();
    }
}
