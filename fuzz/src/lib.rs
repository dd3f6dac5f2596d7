//! Helpers shared by rustcache's fuzz targets (`fuzz_targets/`) and their
//! seed generator (`examples/seeds.rs`): a cache file region in process
//! memory, a model of the slot checksum, the fixed keys, entries and
//! questions, the input formats, and the checks every cache hit and every
//! accepted reply must pass.

pub mod checks;
pub mod input;
pub mod oracle;
pub mod region;
pub mod samples;
pub mod seal;
