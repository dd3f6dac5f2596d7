//! The cache files this process uses, found again when they change.
//!
//! A process keeps at most two mappings: its own file (read and written),
//! in the cache directory or its fallback place (see `place`), and, unless
//! it is root, root's (only read). Root's is opened at the first lookup
//! that looks in it (one its own file could not answer): a user's fresh
//! process whose name is in its own file, as with a command run in a loop,
//! makes none of root's file's four system calls. Every second at most it checks that the
//! paths still name the mapped files; a deleted or replaced file is let go
//! and the current one mapped (or created). A process on the fallback also
//! moves to the cache directory as soon as a file appears there. Why a
//! file is not used is kept ([`Store::own_status`], [`Store::root_status`]);
//! the `rustcache` tool, another process, finds the same reasons the same
//! way through `Places` without creating anything.
//!
//! Lookups take no lock. The mappings in use are published through atomic
//! pointers and are never unmapped while the process runs: a replaced
//! mapping is retired instead (`Mapping::retire`: anonymous zero pages laid
//! over its range, which lets the old file's memory go), so a lookup still
//! holding it reads zeros, which match no key, sequence counter or
//! generation, and finds nothing there. What stays is the address range
//! (no memory) and a few dozen bytes per replaced file, which happens when
//! an operator deletes or replaces the file. A read-write lock here cost a
//! hit two atomic read-modify-writes, and a process with a lookup always
//! in flight (one waiting on the upstream holds it for milliseconds) could
//! never take the write lock to move to a new file.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::Mutex;

use super::layout::Geometry;
use super::map::{file_path, identity_at, open_existing, MapError, Mapping};
use super::place::{Place, Places, FALLBACK_BASE};
use super::reason::{Failure, NoCache, Problem};
use super::table::Table;
use crate::clock::Every;
use crate::config::Config;

/// The cache files of this process.
pub struct Store {
    /// The own file's mapping (null: none): a pointer from `Box::into_raw`,
    /// never freed while the store lives (see the module doc).
    own: AtomicPtr<Published>,
    /// Root's, the same way.
    root: AtomicPtr<Published>,
    /// One re-mapper at a time (only ever tried).
    remap: Mutex<()>,
    /// The path of the own file in use, or why there is none; written on
    /// every (re)open, read only by the tool. Only ever tried.
    own_status: Mutex<Result<PathBuf, NoCache>>,
    /// Why root's file is not read, when it exists and fails a check (a
    /// missing root file is normal and not recorded).
    root_status: Mutex<Option<Failure>>,
    /// Whether this process is not root, and so reads root's file too.
    reads_root: AtomicBool,
    /// Whether root's path is to be looked at by the next lookup that
    /// needs root's file: set by each check while none is mapped, cleared
    /// by the look (so at most one `open` a check interval, as before).
    root_due: AtomicBool,
    /// Whether the configuration last seen has the cache on.
    enabled: AtomicBool,
    check: Every,
}

/// A mapping handed to lookups, and where it came from.
struct Published {
    mapping: Mapping,
    /// The own file came from the fallback place.
    in_fallback: bool,
}

/// The mappings one lookup uses.
pub struct Session<'s> {
    own: Option<&'s Mapping>,
    root: Cell<Option<&'s Mapping>>,
    /// Where to open root's file if this lookup needs it and it is not
    /// mapped yet; None for root, with the cache off, and on the memo's
    /// quick path (which only reads what is mapped).
    opener: Option<(&'s Store, &'s Path)>,
}

impl<'s> Session<'s> {
    /// A session without cache.
    pub fn none() -> Session<'s> {
        Session {
            own: None,
            root: Cell::new(None),
            opener: None,
        }
    }

    /// A session over `own` alone (tests of what reads sessions).
    #[cfg(test)]
    pub fn for_tests(own: Option<&Mapping>) -> Session<'_> {
        Session {
            own,
            root: Cell::new(None),
            opener: None,
        }
    }

    /// This process's own file, if it has one.
    #[inline]
    pub fn own(&self) -> Option<Table<'_>> {
        self.own.map(Mapping::table)
    }

    /// Root's file (read-only), for processes that are not root, opened
    /// now if this is the first look in it since the last check.
    pub fn root(&self) -> Option<Table<'s>> {
        if self.root.get().is_none() {
            if let Some((store, dir)) = self.opener {
                self.root.set(store.open_root(dir));
            }
        }
        self.root.get().map(Mapping::table)
    }

    /// Root's file if it is mapped already, without a look at the path.
    #[inline]
    pub fn root_if_mapped(&self) -> Option<Table<'s>> {
        self.root.get().map(Mapping::table)
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
            own: AtomicPtr::new(std::ptr::null_mut()),
            root: AtomicPtr::new(std::ptr::null_mut()),
            remap: Mutex::new(()),
            own_status: Mutex::new(Err(NoCache::NotLooked)),
            root_status: Mutex::new(None),
            reads_root: AtomicBool::new(false),
            root_due: AtomicBool::new(false),
            enabled: AtomicBool::new(false),
            check: Every::new(),
        }
    }

    /// The mappings to use for one lookup under `config`, checking the
    /// files first when a check is due.
    pub fn session<'s>(&'s self, config: &'s Config, now: u64) -> Session<'s> {
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
            own: current(&self.own).map(|p| &p.mapping),
            root: Cell::new(
                reads_root
                    .then(|| current(&self.root).map(|p| &p.mapping))
                    .flatten(),
            ),
            opener: reads_root.then_some((self, config.cache.dir.as_path())),
        }
    }

    /// The mappings, for a lookup that may be answered from the per-thread
    /// memo: only when no look at the paths is due and the cache is on
    /// (else `None`: take the full path, [`session`](Self::session)).
    #[inline]
    pub fn quick_session(&self, now: u64) -> Option<Session<'_>> {
        // SYNC POINT: Relaxed; see `session`.
        if self.check.is_due(now) || !self.enabled.load(Ordering::Relaxed) {
            return None;
        }
        let reads_root = self.reads_root.load(Ordering::Relaxed);
        Some(Session {
            own: current(&self.own).map(|p| &p.mapping),
            root: Cell::new(
                reads_root
                    .then(|| current(&self.root).map(|p| &p.mapping))
                    .flatten(),
            ),
            opener: None,
        })
    }

    fn maybe_check(&self, config: &Config, now: u64) {
        if !self.check.claim(now) {
            return;
        }
        // The quick clock is trusted only while this check is not due (see
        // `clock::quick_now_ms`): calibrating it goes with the check.
        crate::clock::calibrate();
        // A re-map still running from the last interval does this one too.
        let Ok(_remapping) = self.remap.try_lock() else {
            return;
        };
        let dir = &config.cache.dir;
        let uid = effective_uid();
        self.reads_root.store(uid != 0, Ordering::Relaxed);
        let geometry = Geometry::for_size(config.cache.size_for(uid));
        self.refresh_own(&Places::new(dir, Path::new(FALLBACK_BASE), uid), geometry);
        if uid != 0 {
            match current(&self.root) {
                // Mapped: some lookup needed it; follow the path.
                Some(published) => {
                    let root_path = file_path(dir, 0);
                    if Some(published.mapping.identity()) != identity_at(&root_path) {
                        self.map_root(&root_path);
                    }
                }
                // SYNC POINT: Relaxed; a flag on its own (see `open_root`).
                None => self.root_due.store(true, Ordering::Relaxed),
            }
        }
    }

    /// Root's file for a lookup that needs it: the mapping, or, when none
    /// is mapped and the path was not looked at since the last check, a
    /// look now (another thread re-mapping at that moment leaves the look
    /// to the next lookup; this one goes without, as any lookup does while
    /// the files are being found).
    fn open_root(&self, dir: &Path) -> Option<&Mapping> {
        if let Some(published) = current(&self.root) {
            return Some(&published.mapping);
        }
        // SYNC POINT: Relaxed; the flag orders nothing: the mapping is
        // published through `self.root`.
        if !self.root_due.load(Ordering::Relaxed) {
            return None;
        }
        let Ok(_remapping) = self.remap.try_lock() else {
            return None;
        };
        // SYNC POINT: Relaxed; see above. Cleared under the lock, so one
        // look a check interval.
        if !self.root_due.swap(false, Ordering::Relaxed) {
            return current(&self.root).map(|p| &p.mapping);
        }
        self.map_root(&file_path(dir, 0));
        current(&self.root).map(|p| &p.mapping)
    }

    /// Maps root's file at `root_path` in place of the one mapped, if any
    /// (none if it is absent or fails a check, kept in `root_status`).
    fn map_root(&self, root_path: &Path) {
        let opened = open_existing(root_path, 0, false);
        let failure = opened.as_ref().err().and_then(|e| match e {
            MapError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => None,
            other => Some(Failure::new(root_path, Problem::from_map(other))),
        });
        set(&self.root_status, failure);
        replace(
            &self.root,
            opened.ok().map(|mapping| Published {
                mapping,
                in_fallback: false,
            }),
        );
    }

    /// Re-maps the own file if the path it came from no longer names it,
    /// or, on the fallback, as soon as a file is in the cache directory.
    fn refresh_own(&self, places: &Places, geometry: Geometry) {
        // Nothing mapped yet (a process's first lookup): open at once,
        // without a look at the path first.
        if let Some(published) = current(&self.own) {
            let mapped = Some(published.mapping.identity());
            if !published.in_fallback && mapped == identity_at(&places.primary()) {
                return;
            }
            if published.in_fallback
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
        replace(
            &self.own,
            opened.ok().map(|(mapping, place)| Published {
                mapping,
                in_fallback: place == Place::Fallback,
            }),
        );
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

/// The mapping published in `slot`, if any.
#[inline]
fn current(slot: &AtomicPtr<Published>) -> Option<&Published> {
    // SYNC POINT: Acquire pairs with the AcqRel swap in `replace`: the
    // mapping behind the pointer was complete before it was published.
    let ptr = slot.load(Ordering::Acquire);
    // SAFETY: a non-null pointer in a slot came from `Box::into_raw` in
    // `replace` and is never freed while the store lives (retired ones
    // are leaked; the current ones are freed by `Drop for Store`, which no
    // borrow of the store outlives).
    unsafe { ptr.as_ref() }
}

/// Publishes `replacement` in `slot` and retires what was there: lookups
/// still holding it go on reading harmless zeros (see the module doc).
fn replace(slot: &AtomicPtr<Published>, replacement: Option<Published>) {
    let new = replacement.map_or(std::ptr::null_mut(), |p| Box::into_raw(Box::new(p)));
    // SYNC POINT: AcqRel; Release publishes the new mapping to `current`'s
    // Acquire load, Acquire takes the old one over for retiring.
    let old = slot.swap(new, Ordering::AcqRel);
    // SAFETY: as in `current`; the old pointer is leaked, never freed.
    if let Some(old) = unsafe { old.as_ref() } {
        old.mapping.retire();
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        for slot in [&mut self.own, &mut self.root] {
            let ptr = std::mem::replace(slot.get_mut(), std::ptr::null_mut());
            if !ptr.is_null() {
                // SAFETY: `&mut self`: no session borrows the store, so no
                // one holds this mapping; it came from `Box::into_raw`.
                drop(unsafe { Box::from_raw(ptr) });
            }
        }
    }
}

fn effective_uid() -> u32 {
    crate::sys::euid()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh, empty cache directory of this test, and a configuration
    /// with 1 MiB files in it.
    fn temp_config(name: &str) -> (PathBuf, Config) {
        let dir = std::env::temp_dir().join(format!("rustcache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut config = Config::default();
        config.cache.dir = dir.clone();
        config.cache.user_size_bytes = 1 << 20;
        config.cache.size_bytes = 1 << 20;
        (dir, config)
    }

    /// A lookup still holding the mapping of a file that was replaced
    /// meanwhile (another thread re-mapped) reads nothing and writes
    /// nowhere, and does not crash; the next session has the new file.
    #[test]
    fn a_replaced_file_is_retired_under_a_lookup_that_still_holds_it() {
        use crate::cache::entry::{Entry, Key, Kind};
        use crate::upstream::QType;
        let (dir, config) = temp_config("retire");
        let path = file_path(&dir, effective_uid());
        let key = Key::new("held.example", QType::A);
        let entry = Entry::for_tests(Kind::NxDomain, &[]);

        let store = Store::new();
        let held = store.session(&config, 1);
        let old = held.own().unwrap();
        assert!(old.put_entry(&key, &entry, 0, 0));
        assert!(old.get(&key, 1).is_some());

        // The file is replaced; the next check (due: a second later)
        // re-maps while `held` is still in use.
        std::fs::remove_file(&path).unwrap();
        let next = store.session(&config, 1 + Every::INTERVAL_MS);
        let new = next.own().unwrap();
        assert_ne!(new.id(), old.id());
        assert_eq!(store.own_status(), Ok(path.clone()));

        // The held table: nothing found; a write lands in this process's
        // private pages, not in either file.
        assert!(old.get(&key, 2).is_none());
        let _ = old.put_entry(&key, &entry, 0, 0);
        assert!(new.get(&key, 2).is_none());
        // The new file works, and the old one's write did not reach it.
        assert!(new.put_entry(&key, &entry, 0, 0));
        assert!(new.get(&key, 2).is_some());
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A user's process looks at root's path only when a lookup needs root's
    /// file and a check has passed since the last look; a mapped file is
    /// kept. (Run as root: the file it makes is root's.)
    #[test]
    fn roots_file_is_looked_at_once_a_check_and_only_when_a_lookup_needs_it() {
        if effective_uid() != 0 {
            eprintln!("skipped: needs root, to make root's file");
            return;
        }
        let (dir, config) = temp_config("lazy-root");
        let user = Store::new();
        assert!(user.open_root(&dir).is_none(), "looked before any check");
        // A check marks the path due; no file yet: one look, then none
        // until the next check.
        user.root_due.store(true, Ordering::Relaxed);
        assert!(user.open_root(&dir).is_none());
        assert!(Store::new().session(&config, 1).own().is_some());
        assert!(user.open_root(&dir).is_none(), "looked twice in one check");
        user.root_due.store(true, Ordering::Relaxed);
        let mapped = user.open_root(&dir).map(|m| m.table().id());
        assert!(mapped.is_some(), "root's file not mapped");
        assert_eq!(user.open_root(&dir).map(|m| m.table().id()), mapped);
        drop(user);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_store_keeps_which_file_it_uses_or_why_it_has_none() {
        let (dir, mut config) = temp_config("store");
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
