//! The shared cache: one file per user in `/run/rustcache`, mapped by every
//! process of that user, so what one process resolved is a memory read for
//! all the others.
//!
//! * `layout`: the file format (header, slots), version 2.
//! * `entry`: one cached answer and its checked encoding in a slot.
//! * `table`: lock-free reads, try-lock writes, eviction, leases; and
//!   `table::inspect`, every entry listed or one name's dropped (tools).
//! * `map`: finding, checking, creating and mapping the files.
//! * `store`: which files this process uses, found again when they change.
//! * `policy`: TTLs, negative caching, serve-stale, refresh-ahead.
//!
//! Bytes in the file are as untrusted as bytes from the wire: every read
//! is a copy, validated by sequence counter and checksum, then parsed.

mod entry;
mod layout;
mod map;
pub mod policy;
mod store;
mod table;

pub use entry::{
    aliases, check_sealed, encode_transient, eq_folded, used_len, Checksum, Encoded, Entry,
    EntryView, Key, Kind, Layout, DATA_BYTES,
};
pub use layout::{Geometry, Stat, HEADER_SIZE, LAYOUT_VERSION, SLOT_SIZE};
pub use map::{file_path, open_existing, open_or_create, MapError, Mapping};
pub use store::{Session, Store};
pub use table::{Found, Lease, Listed, Table};
