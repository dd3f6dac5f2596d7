//! A cache file region (header page and slots) in process memory.

use std::mem::{align_of, size_of};
use std::sync::atomic::{AtomicU64, Ordering};

use rustcache::cache::{Table, DATA_BYTES, HEADER_SIZE, SLOT_SIZE};

// Bytes are placed into words as the file format has them (little-endian).
const _: () = assert!(cfg!(target_endian = "little"));

/// Byte offset of the seed in the header (see `src/cache/layout.rs`).
pub const SEED_OFFSET: usize = 32;
/// Byte offset of the generation in the header.
pub const GENERATION_OFFSET: usize = 40;
/// Byte offset of the entry data in a slot (after four control words).
pub const SLOT_DATA_OFFSET: usize = SLOT_SIZE - DATA_BYTES;

/// A header page and `slots` slots, laid out as in a cache file, in
/// 8-aligned memory made of atomics (so tables over it may write, as they
/// do into a shared mapping).
pub struct Region {
    words: Box<[AtomicU64]>,
    slots: usize,
}

fn size_of_pointee<T>(_: *const T) -> usize {
    size_of::<T>()
}

fn align_of_pointee<T>(_: *const T) -> usize {
    align_of::<T>()
}

impl Region {
    /// An all-zero region of `slots` slots.
    pub fn new(slots: usize) -> Region {
        let words = (HEADER_SIZE + slots * SLOT_SIZE) / 8;
        Region {
            words: (0..words).map(|_| AtomicU64::new(0)).collect(),
            slots,
        }
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.words.len() * 8
    }

    /// Always false (a region has at least its header).
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Byte offset of slot `index`.
    pub fn slot_offset(index: usize) -> usize {
        HEADER_SIZE + index * SLOT_SIZE
    }

    /// Byte offset of slot `index`'s entry data.
    pub fn data_offset(index: usize) -> usize {
        Self::slot_offset(index) + SLOT_DATA_OFFSET
    }

    /// Stores `bytes` at `offset` (clipped at the end).
    pub fn write(&self, offset: usize, bytes: &[u8]) {
        self.update(offset, bytes, |old, new| old.copy_from_slice(new));
    }

    /// XORs `mask` into the bytes at `offset` (clipped at the end).
    pub fn xor(&self, offset: usize, mask: &[u8]) {
        self.update(offset, mask, |old, mask| {
            old.iter_mut().zip(mask).for_each(|(o, m)| *o ^= m)
        });
    }

    /// Applies `f` to the bytes at `offset` word by word (whole-word slice
    /// operations keep the per-byte coverage instrumentation out of it).
    fn update(&self, offset: usize, bytes: &[u8], f: impl Fn(&mut [u8], &[u8])) {
        let mut done = 0;
        while done < bytes.len() {
            let at = offset + done;
            let Some(word) = self.words.get(at / 8) else {
                break;
            };
            let start = at % 8;
            let n = (8 - start).min(bytes.len() - done);
            // Single-threaded: a plain load and store of the whole word.
            let mut b = word.load(Ordering::Relaxed).to_le_bytes();
            f(&mut b[start..start + n], &bytes[done..done + n]);
            word.store(u64::from_le_bytes(b), Ordering::Relaxed);
            done += n;
        }
    }

    /// `len` bytes from `offset` (clipped at the end).
    pub fn read(&self, offset: usize, len: usize) -> Vec<u8> {
        let all = self.bytes();
        all.get(offset.min(all.len())..(offset + len).min(all.len()))
            .unwrap_or(&[])
            .to_vec()
    }

    /// The whole region as bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        for word in self.words.iter() {
            out.extend_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
        }
        out
    }

    /// Sets the header's seed and generation.
    pub fn set_identity(&self, seed: u64, generation: u64) {
        self.write(SEED_OFFSET, &seed.to_le_bytes());
        self.write(GENERATION_OFFSET, &generation.to_le_bytes());
    }

    /// A table over the region, as `Mapping::table` makes one over a file.
    ///
    /// rustcache exports neither its `Header` nor its `Slot` type, so they
    /// are not named here: the pointer casts take them from the signature
    /// of `Table::new`. Their sizes and alignments are checked at run time
    /// before any reference is made.
    pub fn table(&self, writable: bool) -> Table<'_> {
        let base = self.words.as_ptr();
        let header = base.cast();
        // SAFETY: HEADER_SIZE / 8 words lie within the allocation, which
        // holds (HEADER_SIZE + slots * SLOT_SIZE) / 8 words.
        let first = unsafe { base.add(HEADER_SIZE / 8) }.cast();
        assert!(size_of_pointee(header) <= HEADER_SIZE);
        assert!(align_of_pointee(header) <= align_of::<AtomicU64>());
        assert_eq!(size_of_pointee(first), SLOT_SIZE);
        assert!(align_of_pointee(first) <= align_of::<AtomicU64>());
        // SAFETY:
        // * In bounds and aligned: the allocation is HEADER_SIZE + slots *
        //   SLOT_SIZE bytes of 8-aligned AtomicU64s; the asserts above show
        //   the header fits the first page and the `slots` slots of exactly
        //   SLOT_SIZE bytes follow it, each needing at most 8-alignment.
        // * Valid values: `Header` and `Slot` are #[repr(C)] structs made
        //   only of AtomicU32/AtomicU64 (and `ServerHealth` records, also
        //   atomics only): "everything in the file is a fixed-width atomic"
        //   (src/cache/layout.rs), the same property `map.rs` relies on when
        //   it casts a mapped file. Every initialised bit pattern is valid.
        // * Aliasing: the memory is UnsafeCell-based (AtomicU64) on both
        //   sides, so shared references may mutate it; every access, through
        //   the table or through this region's methods, is atomic, and the
        //   fuzz targets are single-threaded, so the mixed-size (u32 over
        //   u64) accesses never race.
        // * Lifetime: the table borrows `self`, which owns the allocation.
        let (header, slots) = unsafe { (&*header, std::slice::from_raw_parts(first, self.slots)) };
        Table::new(header, slots, writable, 1)
    }
}
