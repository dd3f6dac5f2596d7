//! Torn and corrupted slots: valid entries are written with `put_entry`
//! into an eight-slot table, then the input corrupts the region (XOR masks
//! over slots or header, or words of a written entry spliced into a slot
//! behind its sequence counter's back, as a torn write would leave them;
//! see `rustcache_fuzz::input::torn_ops`), then every key is read through
//! the writer's table and through a new one (another process).
//!
//! Every read is a miss or exactly one of the entries written for that key,
//! never a mix; a hit passes `check_hit`; and a store after the damage
//! (later than any dead writer's lock) that succeeds reads back unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rustcache::cache::{Entry, DATA_BYTES, HEADER_SIZE, SLOT_SIZE};
use rustcache_fuzz::checks::check_hit;
use rustcache_fuzz::input::{torn_ops, Op};
use rustcache_fuzz::region::Region;
use rustcache_fuzz::samples::{key, sample_entries, KEYS, NOW};

const SLOTS: usize = 8;
const SEED: u64 = 0x5eed_0000_0000_0001;
const GENERATION: u64 = 7;
const DATA_WORDS: usize = DATA_BYTES / 8;

fuzz_target!(|data: &[u8]| {
    // Byte 0: bit i set leaves sample entry i unwritten.
    let Some((&skip, ops)) = data.split_first() else {
        return;
    };
    let region = Region::new(SLOTS);
    region.set_identity(SEED, GENERATION);
    let writer = region.table(true);
    let entries = sample_entries();
    let mut written: Vec<Vec<Entry>> = vec![Vec::new(); KEYS.len()];
    let mut words = Vec::new();
    for (i, (k, entry)) in entries.iter().enumerate() {
        if skip & 1 << i != 0 {
            continue;
        }
        let key = key(*k);
        // What put_entry stores: the same sealing, for Op::Splice.
        let sealed = writer.seal(&key, entry).expect("samples encode");
        words.push(sealed.words().expect("samples fit a slot"));
        assert!(
            writer.put_entry(&key, entry, NOW, 0),
            "a new table takes every sample"
        );
        let back = writer
            .get(&key, NOW)
            .expect("a stored sample reads back")
            .entry;
        assert_eq!(&back, entry);
        written[*k].push(back);
    }
    for op in torn_ops(ops) {
        match op {
            Op::XorSlots { offset, mask } => {
                region.xor(HEADER_SIZE + offset % (SLOTS * SLOT_SIZE), mask)
            }
            Op::XorHeader { offset, mask } => region.xor(offset % HEADER_SIZE, mask),
            Op::Splice {
                slot,
                version,
                from,
                to,
            } => {
                let Some(source) = words.get(usize::from(version) % words.len().max(1)) else {
                    continue;
                };
                let at = Region::data_offset(usize::from(slot) % SLOTS);
                let (from, to) = (
                    usize::from(from) % DATA_WORDS,
                    usize::from(to) % DATA_WORDS + 1,
                );
                for (w, word) in source.iter().enumerate().take(to).skip(from) {
                    region.write(at + 8 * w, &word.to_le_bytes());
                }
            }
        }
    }
    let fresh = region.table(true);
    let mut out = [0u8; DATA_BYTES];
    for table in [&writer, &fresh] {
        for (k, versions) in written.iter().enumerate() {
            let key = key(k);
            if let Some((layout, _, _)) = table.get_into(&key, NOW, &mut out) {
                let entry = check_hit(&key, &out, &layout);
                assert!(
                    versions.contains(&entry),
                    "read an entry never written for {:?}: {entry:?}",
                    key.name()
                );
            }
        }
    }
    let later = NOW + 10_000;
    for (k, entry) in &entries {
        let key = key(*k);
        if fresh.put_entry(&key, entry, later, 0) {
            let back = fresh.get(&key, later).expect("a stored entry reads back");
            assert_eq!(&back.entry, entry, "a stored entry reads back changed");
        }
    }
});
