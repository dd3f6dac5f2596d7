//! The cache files this process uses, found again when they change.
//!
//! A process keeps at most two mappings: its own file (read and written)
//! and, unless it is root, root's (only read). Every second at most it
//! checks that the paths still name the mapped files; a deleted or
//! replaced file is let go and the current one mapped (or created). The
//! mappings sit behind read-write locks that are only ever tried: a lookup
//! takes a read lock (never blocked but by a remap in progress, which only
//! makes that lookup uncached), and a remap happens only when no lookup of
//! this process is using the old mapping, so it can be unmapped at once.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{RwLock, RwLockReadGuard};

use super::layout::Geometry;
use super::map::{file_path, identity_at, open_existing, open_or_create, Mapping};
use super::table::Table;
use crate::clock::Every;
use crate::config::Config;

/// The cache files of this process.
pub struct Store {
    own: RwLock<Option<Mapping>>,
    root: RwLock<Option<Mapping>>,
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
            root: RwLock::new(None),
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
        refresh(&self.own, &file_path(dir, uid), || {
            open_or_create(dir, uid, geometry).ok()
        });
        if uid != 0 {
            let root_path = file_path(dir, 0);
            refresh(&self.root, &root_path, || {
                open_existing(&root_path, 0, false).ok()
            });
        }
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
