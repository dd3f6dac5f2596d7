//! The slot checksum, recomputed outside rustcache so a target can make
//! arbitrary entry bytes pass it and reach the checks behind it.
//!
//! This is a model of `checksum`/`Checksum`/`Mix` in src/cache/entry.rs,
//! which are not exported; [`check_model`] proves at start-up of every
//! target that uses it that it still computes what rustcache does.

use rustcache::cache::{Key, DATA_BYTES};

use crate::region::Region;
use crate::samples::{key, sample_entries};

/// Bytes before the variable part of an entry.
const FIXED: usize = 64;
/// Byte offset of the checksum word.
const CHECKSUM_OFFSET: usize = 40;

struct Mix(u64);

impl Mix {
    fn new(seed: u64) -> Mix {
        Mix(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        self.0 ^= self.0 >> 31;
    }

    fn finish(&self) -> u64 {
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x
    }
}

/// The entry length the header fields of `data` announce (unchecked), or
/// `None` for an unknown record type.
pub fn used_len(data: &[u8]) -> Option<usize> {
    let size = match *data.get(53)? {
        1 => 4,
        28 => 16,
        12 => 0,
        _ => return None,
    };
    let u16_at = |at: usize| {
        Some(usize::from(u16::from_le_bytes([
            *data.get(at)?,
            *data.get(at + 1)?,
        ])))
    };
    Some(
        FIXED
            + usize::from(*data.get(54)?)
            + usize::from(*data.get(55)?)
            + u16_at(56)?
            + u16_at(58)? * size,
    )
}

/// The checksum rustcache expects in `data` under `seed`, if the record
/// type is known.
pub fn checksum(data: &[u8], seed: u64) -> Option<u64> {
    let end = used_len(data)?;
    let mut mix = Mix::new(seed ^ 0x5eed_0fc4_ec45_0000);
    for (i, chunk) in data.chunks_exact(8).take(end.div_ceil(8)).enumerate() {
        if i != 5 {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            mix.word(u64::from_le_bytes(w));
        }
    }
    mix.word(end as u64);
    Some(mix.finish())
}

/// Rewrites the checksum word of entry bytes `data` so they pass the
/// checksum under `seed` (unchanged if the record type is unknown).
pub fn reseal(data: &mut [u8], seed: u64) {
    if let (Some(sum), Some(dst)) = (
        checksum(data, seed),
        data.get_mut(CHECKSUM_OFFSET..CHECKSUM_OFFSET + 8),
    ) {
        dst.copy_from_slice(&sum.to_le_bytes());
    }
}

/// Panics unless the model agrees with rustcache on every sample entry.
pub fn check_model() {
    let region = Region::new(8);
    for seed in [0, 1, 0x5eed_5eed_5eed_5eed] {
        region.set_identity(seed, 3);
        let table = region.table(true);
        for (k, entry) in sample_entries() {
            let key: Key<'_> = key(k);
            let sealed = table.seal(&key, &entry).expect("sample entries encode");
            let bytes = sealed.bytes();
            let mut copy = bytes[..DATA_BYTES.min(bytes.len())].to_vec();
            reseal(&mut copy, seed);
            assert_eq!(
                copy[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 8],
                bytes[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 8],
                "fuzz/src/seal.rs no longer matches the checksum of src/cache/entry.rs"
            );
        }
    }
}
