//! The shared cache: one file per user in `/run/rustcache` (or, where that
//! cannot be made, in `/dev/shm/rustcache-<uid>`), mapped by every process
//! of that user, so what one process resolved is a memory read for all the
//! others.
//!
//! * `layout`: the file format (header, slots), version 3; with it the
//!   types the format holds: `qtype` (record types) and `health` (the
//!   shared per-server record).
//! * `entry`: one cached answer and its checked encoding in a slot.
//! * `table`: lock-free reads, try-lock writes, eviction, leases; and
//!   `table::inspect`, every entry listed or one name's dropped (tools).
//! * `map`: finding, checking, creating and mapping the files.
//! * `place`: where a uid's own file lives, the fallback place included.
//! * `reason`: why a file or directory was not used.
//! * `store`: which files this process uses, found again when they change.
//! * `policy`: TTLs, negative caching, serve-stale, refresh-ahead.
//!
//! Bytes in the file are as untrusted as bytes from the wire: every read
//! is a copy, validated by sequence counter and checksum, then parsed.

mod claim;
mod entry;
pub mod health;
mod layout;
mod map;
mod place;
pub mod policy;
mod qtype;
mod reason;
mod store;
mod table;

pub use entry::{
    aliases, check, check_sealed, encode_transient, eq_folded, used_len, Checksum, Encoded, Entry,
    EntryView, Key, Kind, Layout, DATA_BYTES,
};
pub use health::{HealthTable, ServerHealth, Snapshot};
pub use layout::{
    Geometry, Stat, FILE_SUFFIX, HEADER_SIZE, HEALTH_COUNT, LAYOUT_VERSION, SLOT_SIZE,
};
pub use map::{
    file_path, open_existing, open_or_create, other_releases_files, parse_file_name, MapError,
    Mapping,
};
pub use place::{fallback_dir, Place, Places, FALLBACK_BASE};
pub use qtype::QType;
pub use reason::{Check, Failure, NoCache, Problem};
pub use store::{Session, Store};
pub use table::{Found, Holder, Lease, Listed, Table};

/// A fresh, empty directory for one unit test of `module`:
/// `$TMPDIR/rustcache-<module>-<name>-<pid>`.
#[cfg(test)]
pub(crate) fn test_dir(module: &str, name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("rustcache-{module}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
