//! Resealing entry bytes with rustcache's own checksum
//! (`rustcache::cache::Checksum`), so a target can make arbitrary entry
//! bytes pass it and reach the checks behind it.

use rustcache::cache::{used_len, Checksum, Key, DATA_BYTES};

use crate::region::Region;
use crate::samples::{key, sample_entries};

/// Byte offset of the checksum word.
const CHECKSUM_OFFSET: usize = 40;

/// The checksum rustcache expects in `data` under `seed`, if the record
/// type is known.
pub fn checksum(data: &[u8], seed: u64) -> Option<u64> {
    let end = used_len(data)?;
    let mut sum = Checksum::new(seed);
    for (i, chunk) in data.chunks_exact(8).take(end.div_ceil(8)).enumerate() {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        sum.word(i, u64::from_le_bytes(w));
    }
    Some(sum.finish(end))
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

/// Panics unless resealing reproduces what rustcache sealed, for every
/// sample entry (a check of this module's use of the checksum).
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
                "fuzz/src/seal.rs no longer reseals as src/cache/entry.rs seals"
            );
        }
    }
}
