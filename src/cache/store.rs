//! The cache files this process uses, found again when they change.
//!
//! A process keeps at most two mappings: its own file (read and written),
//! in the cache directory or its fallback place (see `place`), and, unless
//! it is root, root's (only read). Every second at most it checks that the
//! paths still name the mapped files; a deleted or replaced file is let go
//! and the current one mapped (or created). A process on the fallback also
//! moves to the cache directory as soon as a file appears there. Why a
//! file is not used is kept ([`Store::own_status`], [`Store::root_status`]);
//! the `rustcache` tool, another process, finds the same reasons the same
//! way through `Places` without creating anything.
//!
//! The mappings sit behind read-write locks that are only ever tried: a lookup
//! takes a read lock (never blocked but by a remap in progress, which only
//! makes that lookup uncached), and a remap happens only when no lookup of
//! this process is using the old mapping, so it can be unmapped at once.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard};

use super::layout::Geometry;
use super::map::{file_path, identity_at, open_existing, MapError, Mapping};
use super::place::{Place, Places, FALLBACK_BASE};
use super::reason::{Failure, NoCache, Problem};
use super::table::Table;
use crate::clock::Every;
use crate::config::Config;

/// The cache files of this process.
pub struct Store {
    own: RwLock<Option<Mapping>>,
    /// Whether the own mapping came from the fallback place (written with
    /// the mapping, under its write lock).
    own_in_fallback: AtomicBool,
    root: RwLock<Option<Mapping>>,
    /// The path of the own file in use, or why there is none; written on
    /// every (re)open, read only by the tool. Only ever tried.
    own_status: Mutex<Result<PathBuf, NoCache>>,
    /// Why root's file is not read, when it exists and fails a check (a
    /// missing root file is normal and not recorded).
    root_status: Mutex<Option<Failure>>,
    /// Whether this process is not root, and so reads root's file too.
    reads_root: AtomicBool,
    /// Whether the configuration last seen has the cache on.
    enabled: AtomicBool,
    check: Every,
}

/// The mappings one lookup uses.
pub struct Session<'s> {
    own: Option<RwLockReadGuard<'s, Option<Mapping>>>,
    root: Option<RwLockReadGuard<'s, Option<Mapping>>>,
}

impl Session<'_> {
    /// A session without cache.
    pub fn none() -> Session<'static> {
        Session {
            own: None,
            root: None,
        }
    }

    /// This process's own file, if it has one.
    pub fn own(&self) -> Option<Table<'_>> {
        self.own.as_ref()?.as_ref().map(Mapping::table)
    }

    /// Root's file (read-only), for processes that are not root.
    pub fn root(&self) -> Option<Table<'_>> {
        self.root.as_ref()?.as_ref().map(Mapping::table)
    }
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

impl Store {
    /// No files mapped yet.
    pub const fn new() -> Store {
        Store {
            own: RwLock::new(None),
            own_in_fallback: AtomicBool::new(false),
            root: RwLock::new(None),
            own_status: Mutex::new(Err(NoCache::NotLooked)),
            root_status: Mutex::new(None),
            reads_root: AtomicBool::new(false),
            enabled: AtomicBool::new(false),
            check: Every::new(),
        }
    }

    /// The mappings to use for one lookup under `config`, checking the
    /// files first when a check is due.
    pub fn session(&self, config: &Config, now: u64) -> Session<'_> {
        // SYNC POINT: Relaxed; read back only by quick_session, where a
        // stale value means one lookup on the full path.
        self.enabled.store(config.cache.enabled, Ordering::Relaxed);
        if !config.cache.enabled {
            set(&self.own_status, Err(NoCache::Disabled));
            return Session::none();
        }
        self.maybe_check(config, now);
        // SYNC POINT: Relaxed; set once per check, a stale view only
        // skips root's file for one lookup.
        let reads_root = self.reads_root.load(Ordering::Relaxed);
        // No flush when the configuration changes: every entry is keyed by
        // its route's id (see `config::Route`), so entries of another
        // configuration are never found under this one.
        Session {
            own: self.own.try_read().ok(),
            root: reads_root.then(|| self.root.try_read().ok()).flatten(),
        }
    }

    /// The mappings, for a lookup that may be answered from the per-thread
    /// memo: only when no look at the paths is due and the cache is on
    /// (else `None`: take the full path, [`session`](Self::session)).
    pub fn quick_session(&self, now: u64) -> Option<Session<'_>> {
        // SYNC POINT: Relaxed; see `session`.
        if self.check.is_due(now) || !self.enabled.load(Ordering::Relaxed) {
            return None;
        }
        let reads_root = self.reads_root.load(Ordering::Relaxed);
        Some(Session {
            own: self.own.try_read().ok(),
            root: reads_root.then(|| self.root.try_read().ok()).flatten(),
        })
    }

    fn maybe_check(&self, config: &Config, now: u64) {
        if !self.check.claim(now) {
            return;
        }
        let dir = &config.cache.dir;
        let uid = effective_uid();
        self.reads_root.store(uid != 0, Ordering::Relaxed);
        let geometry = Geometry::for_size(config.cache.size_for(uid));
        self.refresh_own(&Places::new(dir, Path::new(FALLBACK_BASE), uid), geometry);
        if uid != 0 {
            let root_path = file_path(dir, 0);
            refresh(&self.root, &root_path, || {
                let opened = open_existing(&root_path, 0, false);
                let failure = opened.as_ref().err().and_then(|e| match e {
                    MapError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => None,
                    other => Some(Failure::new(&root_path, Problem::from_map(other))),
                });
                set(&self.root_status, failure);
                opened.ok()
            });
        }
    }

    /// Re-maps the own file if the path it came from no longer names it,
    /// or, on the fallback, as soon as a file is in the cache directory.
    fn refresh_own(&self, places: &Places, geometry: Geometry) {
        let mapped = match self.own.try_read() {
            Ok(guard) => guard.as_ref().map(Mapping::identity),
            Err(_) => return,
        };
        // Nothing mapped yet (a process's first lookup): open at once,
        // without a look at the path first.
        if mapped.is_some() {
            // SYNC POINT: Relaxed; stored under the write lock together
            // with the mapping, read here after the read lock was released:
            // a stale value costs one needless re-open, never a wrong file.
            let in_fallback = self.own_in_fallback.load(Ordering::Relaxed);
            if !in_fallback && mapped == identity_at(&places.primary()) {
                return;
            }
            if in_fallback
                && mapped == identity_at(&places.fallback())
                && identity_at(&places.primary()).is_none()
            {
                return;
            }
        }
        let opened = places.open_own(geometry);
        set(
            &self.own_status,
            opened
                .as_ref()
                .map(|(_, place)| places.path(*place))
                .map_err(Clone::clone),
        );
        if let Ok(mut guard) = self.own.try_write() {
            // The old mapping (if any) is unmapped here: the write lock
            // proves no lookup of this process is reading it.
            let (replacement, in_fallback) = match opened {
                Ok((mapping, place)) => (Some(mapping), place == Place::Fallback),
                Err(_) => (None, false),
            };
            // SYNC POINT: Relaxed; see the load above.
            self.own_in_fallback.store(in_fallback, Ordering::Relaxed);
            *guard = replacement;
        }
    }

    /// The own file in use (its path), or why there is none, as the last
    /// look at the files found.
    pub fn own_status(&self) -> Result<PathBuf, NoCache> {
        match self.own_status.try_lock() {
            Ok(status) => status.clone(),
            Err(_) => Err(NoCache::NotLooked),
        }
    }

    /// Why root's file is not read, when it exists and failed a check.
    pub fn root_status(&self) -> Option<Failure> {
        self.root_status.try_lock().ok().and_then(|s| s.clone())
    }
}

/// Records a status unless another thread is recording one right now.
fn set<T>(slot: &Mutex<T>, value: T) {
    if let Ok(mut guard) = slot.try_lock() {
        *guard = value;
    }
}

/// Re-maps `slot` if `path` no longer names the mapped file.
fn refresh(slot: &RwLock<Option<Mapping>>, path: &Path, open: impl FnOnce() -> Option<Mapping>) {
    let mapped = match slot.try_read() {
        Ok(guard) => guard.as_ref().map(Mapping::identity),
        Err(_) => return,
    };
    // Nothing mapped yet (a process's first lookup): open at once, without
    // a look at the path first.
    if mapped.is_some() && mapped == identity_at(path) {
        return;
    }
    let replacement = open();
    if let Ok(mut guard) = slot.try_write() {
        // The old mapping (if any) is unmapped here: the write lock proves
        // no lookup of this process is reading it.
        *guard = replacement;
    }
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_keeps_which_file_it_uses_or_why_it_has_none() {
        let dir = std::env::temp_dir().join(format!("rustcache-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut config = Config::default();
        config.cache.dir = dir.clone();
        config.cache.user_size_bytes = 1 << 20;
        config.cache.size_bytes = 1 << 20;
        let uid = effective_uid();

        let store = Store::new();
        assert_eq!(store.own_status(), Err(NoCache::NotLooked));
        assert!(store.session(&config, 1).own().is_some());
        assert_eq!(store.own_status(), Ok(file_path(&dir, uid)));

        // A file that fails a check: no cache, and the check is kept.
        let refused = Store::new();
        std::fs::remove_file(file_path(&dir, uid)).unwrap();
        std::fs::write(file_path(&dir, uid), vec![0u8; 1 << 20]).unwrap();
        assert!(refused.session(&config, 1).own().is_none());
        let Err(NoCache::Failed { primary, fallback }) = refused.own_status() else {
            panic!("{:?}", refused.own_status())
        };
        assert_eq!(
            primary.problem,
            Problem::Refused(super::super::Check::Magic)
        );
        assert_eq!(fallback, None);

        config.cache.enabled = false;
        assert!(refused.session(&config, 2).own().is_none());
        assert_eq!(refused.own_status(), Err(NoCache::Disabled));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
