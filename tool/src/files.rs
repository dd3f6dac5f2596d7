//! The cache file a command looks at: user N's in the configured directory.

use std::path::PathBuf;

use rustcache::cache::{file_path, open_existing, Mapping};
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

/// User `uid`'s cache file (default: ours), opened with the module's
/// checks (owner, mode, header), read-only unless `writable`.
pub fn open(
    config: &Config,
    uid: Option<u32>,
    writable: bool,
) -> Result<(PathBuf, Mapping), String> {
    let uid = uid.unwrap_or_else(effective_uid);
    let path = file_path(&config.cache.dir, uid);
    let mapping =
        open_existing(&path, uid, writable).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((path, mapping))
}
