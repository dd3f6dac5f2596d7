//! The cache file a command looks at: user N's, found where the module
//! finds it (the cache directory, then the fallback place).

use std::path::{Path, PathBuf};

use rustcache::cache::{other_releases_files, Mapping, Places, FALLBACK_BASE};
use rustcache::config::{Config, Sources};

/// The configuration in force for this process (bad lines ignored, as the
/// module ignores them; `rustcache check` reports them).
pub fn config() -> Config {
    Sources::from_environment().load_with_diagnostics().0
}

/// The effective uid of this process.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Where a process of `uid` looks for its file.
pub fn places(config: &Config, uid: u32) -> Places {
    Places::new(&config.cache.dir, Path::new(FALLBACK_BASE), uid)
}

/// User `uid`'s files of other releases (another layout, used by processes
/// started before an upgrade), in the cache directory and the fallback place.
pub fn other_releases(config: &Config, uid: u32) -> Vec<PathBuf> {
    let places = places(config, uid);
    [config.cache.dir.as_path(), places.fallback_dir()]
        .into_iter()
        .flat_map(|dir| other_releases_files(dir, uid))
        .collect()
}

/// User `uid`'s cache file (default: ours), opened with the module's
/// checks (owner, mode, links, header), read-only unless `writable`; or
/// why that user's processes have none (each place tried and what failed).
pub fn open(
    config: &Config,
    uid: Option<u32>,
    writable: bool,
) -> Result<(PathBuf, Mapping), String> {
    let uid = uid.unwrap_or_else(effective_uid);
    let (mapping, path) = places(config, uid)
        .open_existing(writable)
        .map_err(|why| format!("no cache for uid {uid}: {why}"))?;
    Ok((path, mapping))
}
