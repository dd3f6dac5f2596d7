//! A cache file region (a header page and one to eight slots) built from
//! arbitrary bytes, in memory or through a real file that `open_existing`
//! validates and maps (see `rustcache_fuzz::input::reader_case`), then read
//! and written through rustcache's `Table`.
//!
//! It must never panic. Every hit is a well-formed entry of the key looked
//! up, under the table's seed and generation, that survives being sealed
//! again (`check_hit`, `check_round_trip`); a header is accepted exactly
//! when it describes the file; a read-only table changes no byte; and an
//! entry a writable table says it stored reads back unchanged.

#![no_main]

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use rustcache::cache::{
    open_existing, Lease, MapError, Stat, Table, DATA_BYTES, HEADER_SIZE, LAYOUT_VERSION, SLOT_SIZE,
};
use rustcache_fuzz::checks::{check_hit, check_round_trip};
use rustcache_fuzz::input::{reader_case, ReaderFlags};
use rustcache_fuzz::region::{Region, GENERATION_OFFSET, SEED_OFFSET, SLOT_DATA_OFFSET};
use rustcache_fuzz::samples::{key, sample_entries, servers, KEYS, NOW};
use rustcache_fuzz::seal::{check_model, reseal};

/// Slots of a file (the fewest a file may have).
const FILE_SLOTS: usize = 64;

fuzz_target!(
    init: {
        check_model();
    },
    |data: &[u8]| {
        let Some((flags, header, mut slots)) = reader_case(data) else {
            return;
        };
        let seed = u64_at(&header, SEED_OFFSET);
        let generation = u64_at(&header, GENERATION_OFFSET);
        if flags.reseal {
            for slot in &mut slots {
                prepare(slot, seed, generation);
            }
        }
        if flags.file {
            through_file(flags, &header, &slots);
        } else {
            in_memory(flags, &header, &slots);
        }
    }
);

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Gives a slot the key hash and generation it should have and a matching
/// checksum. Its `hits` word (bytes 4..8, a statistic rustcache never
/// trusts) says which: low byte the key, bits 31, 30, 29 keep the hash, the generation
/// or the checksum as they are.
fn prepare(slot: &mut [u8], seed: u64, generation: u64) {
    let r = u32_at(slot, 4);
    let data = &mut slot[SLOT_DATA_OFFSET..];
    if r & 1 << 31 == 0 {
        let hash = key(usize::from(r as u8)).hash(seed);
        data[..8].copy_from_slice(&hash.to_le_bytes());
    }
    if r & 1 << 30 == 0 {
        data[8..16].copy_from_slice(&generation.to_le_bytes());
    }
    if r & 1 << 29 == 0 {
        reseal(data, seed);
    }
}

fn in_memory(flags: ReaderFlags, header: &[u8], slots: &[Vec<u8>]) {
    let region = Region::new(flags.slots);
    region.write(0, header);
    for (i, slot) in slots.iter().enumerate() {
        region.write(Region::slot_offset(i), slot);
    }
    let before = (!flags.writable).then(|| region.bytes());
    exercise(&region.table(flags.writable), flags.writable);
    if let Some(before) = before {
        assert!(region.bytes() == before, "a read-only table wrote");
    }
}

/// Writes the region as a file of FILE_SLOTS slots (each input slot at the
/// start of the window of the hash it holds) and opens it as rustcache
/// does.
fn through_file(flags: ReaderFlags, header: &[u8], slots: &[Vec<u8>]) {
    let len = HEADER_SIZE + FILE_SLOTS * SLOT_SIZE;
    let mut image = vec![0u8; len];
    image[..HEADER_SIZE].copy_from_slice(header);
    for slot in slots {
        let index = (u64_at(slot, SLOT_DATA_OFFSET) % FILE_SLOTS as u64) as usize;
        let at = Region::slot_offset(index);
        image[at..at + SLOT_SIZE].copy_from_slice(slot);
    }
    let valid = &header[..8] == b"RUSTCACH"
        && u32_at(header, 8) == LAYOUT_VERSION
        && u32_at(header, 12) as usize == HEADER_SIZE
        && u64_at(header, 16) == len as u64
        && u32_at(header, 24) as usize == FILE_SLOTS
        && u32_at(header, 28) as usize == SLOT_SIZE;
    let dir = ["/dev/shm", "/tmp"]
        .into_iter()
        .map(PathBuf::from)
        .find(|d| d.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let path = dir.join(format!("rustcache-fuzz-{}.cache", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .expect("create the cache file");
    file.write_all(&image).expect("write the cache file");
    drop(file);
    let owner = std::fs::symlink_metadata(&path).expect("stat").uid();
    let mapped = open_existing(&path, owner, flags.writable);
    let _ = std::fs::remove_file(&path);
    match mapped {
        Ok(mapping) => {
            assert!(
                valid,
                "a header that does not describe the file was accepted"
            );
            let table = mapping.table();
            assert_eq!(table.slot_count(), FILE_SLOTS);
            assert_eq!(table.writable(), flags.writable);
            // Read-only: mapped without PROT_WRITE, so a write would fault.
            exercise(&table, flags.writable);
        }
        Err(MapError::Untrusted(why)) => assert!(!valid, "a valid header was refused: {why}"),
        Err(MapError::Io(e)) => panic!("opening the cache file: {e}"),
        // Only the making of a missing file waits for another process's.
        Err(MapError::Busy) => panic!("opening an existing file reported it being made"),
    }
}

fn exercise(t: &Table<'_>, writable: bool) {
    lookups(t, writable);
    let (fresh, expired) = t.occupancy(NOW);
    assert!(fresh + expired <= t.slot_count());
    for stat in Stat::ALL {
        let _ = t.stat(stat);
    }
    let _ = t.created_ms();
    for health in t.health_slots() {
        let _ = (health.snapshot(), health.state(NOW), health.hedge_delay());
    }
    for addr in servers() {
        if let Some(health) = t.health().find(&addr) {
            let _ = (health.state(NOW), health.hedge_delay());
        }
        // Claiming a record writes: only processes' own files do that.
        if writable {
            if let Some(health) = t.health().get(&addr) {
                let _ = health.try_take_probe(NOW);
                health.record_timeout(NOW);
                let _ = health.hedge_delay();
                health.record_answer(Duration::from_micros(1500));
                let _ = health.hedge_delay();
            }
        }
    }
    let k0 = key(0);
    let lease = t.try_lease(&k0, NOW, NOW + 3000);
    assert!(writable || lease == Lease::Unavailable);
    let _ = t.lease_held(&k0, NOW);
    t.release_lease(&k0);
    for (k, entry) in sample_entries() {
        let key = key(k);
        let stored = t.put_entry(&key, &entry, NOW, 0);
        assert!(writable || !stored, "stored into a read-only table");
        if stored {
            let found = t.get(&key, NOW).expect("a stored entry reads back");
            assert_eq!(found.entry, entry, "a stored entry reads back changed");
        }
    }
    // A flush: what is read afterwards is of the new generation
    // (`lookups` checks).
    let generation = t.generation();
    t.flush();
    if writable {
        assert_eq!(t.generation(), generation.wrapping_add(1));
        lookups(t, writable);
    } else {
        assert_eq!(t.generation(), generation, "a read-only table flushed");
    }
}

/// Looks every key up and checks what it finds.
fn lookups(t: &Table<'_>, writable: bool) {
    let mut out = [0u8; DATA_BYTES];
    for i in 0..KEYS.len() {
        let key = key(i);
        if let Some((layout, slot, _seq)) = t.get_into(&key, NOW, &mut out) {
            assert!(slot < t.slot_count());
            assert_eq!(
                u64_at(&out, 0),
                key.hash(t.seed()),
                "hit under another hash"
            );
            assert_eq!(u64_at(&out, 8), t.generation(), "hit of another generation");
            let entry = check_hit(&key, &out, &layout);
            check_round_trip(t, &key, &entry);
            t.touch_slot(slot, NOW);
            let _ = t.slot_seq(slot);
            let lease = t.try_refresh_lease(slot, NOW, NOW + 1000);
            assert!(writable || !lease, "a read-only table took a refresh lease");
        }
    }
}
