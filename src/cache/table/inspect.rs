//! Looking at a cache file from the outside: every entry, one name's
//! entries dropped. For the `rustcache` command (`dump`, `flush NAME`,
//! `query`), never on a lookup's path.
//!
//! The slots are read the way a lookup reads them, and trusted no more: a
//! seqlock copy, then the stored key is checked to be a lower-case host
//! name whose seeded hash is the slot's first word, then the whole entry is
//! checked against that key (`entry::check_summed`: checksum, generation,
//! lengths, names, kind). A slot that fails any of it is left out.

use std::sync::atomic::{fence, Ordering};

use super::{peek_slot, read_slot, Table};
use crate::cache::entry::{check_summed, Entry, Key, Layout, DATA_BYTES};
use crate::name::check_body;
use crate::upstream::QType;

/// Offsets in an entry's fixed part (see `entry`'s layout table).
const QTYPE_AT: usize = 53;
const KEY_LEN_AT: usize = 54;
const KEY_AT: usize = 64;

/// One entry of the current generation, checked and copied out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// The name it answers, in lower case.
    pub name: String,
    /// The question's record type.
    pub qtype: QType,
    /// The entry.
    pub entry: Entry,
    /// Boot-clock ms it was last hit or stored (kept at one-second
    /// granularity for eviction; see `Table::touch`).
    pub last_used_ms: u64,
    /// Hits since it was stored, as counted through writable mappings
    /// (see `Slot::hits`).
    pub hits: u32,
}

impl Table<'_> {
    /// Every valid entry of the current generation stored under one of
    /// `scopes` (`Config::scopes`), in slot order. A slot
    /// being written, holding anything that does not check, or holding an
    /// entry of another configuration (its scope is part of the key hash
    /// only, so it cannot be checked without it) is skipped.
    pub fn entries<'s>(&'s self, scopes: &'s [u64]) -> impl Iterator<Item = Listed> + 's {
        let generation = self.generation();
        self.slots.iter().filter_map(move |slot| {
            let (hash, gen) = peek_slot(slot);
            if hash == 0 || gen != generation {
                return None;
            }
            let mut buf = [0u8; DATA_BYTES];
            let (sum, _) = read_slot(slot, &mut buf, self.seed)?;
            let (name, qtype, layout) = self.check_unkeyed(&buf, generation, sum, scopes)?;
            // SYNC POINT: Relaxed; an eviction hint, shown as such.
            let last_used_ms = slot.last_hit_ms.load(Ordering::Relaxed);
            // SYNC POINT: Relaxed; a statistic, shown as such.
            let hits = slot.hits.load(Ordering::Relaxed);
            let entry = layout.view(&buf).to_entry(&layout);
            Some(Listed {
                name,
                qtype,
                entry,
                last_used_ms,
                hits,
            })
        })
    }

    /// Slots holding something of the current generation, checked or not:
    /// beside [`entries`](Self::entries), tells how many entries belong to
    /// other configurations (or do not check) and were left out.
    pub fn occupied(&self) -> usize {
        let generation = self.generation();
        self.slots
            .iter()
            .filter(|slot| {
                let (hash, gen) = peek_slot(slot);
                hash != 0 && gen == generation
            })
            .count()
    }

    /// Drops the entry of `key`, if this file is writable and holds one.
    /// Only the slot that was checked to hold it is cleared: if a writer
    /// changed it meanwhile, nothing is (and false is returned).
    pub fn remove(&self, key: &Key<'_>, now: u64) -> bool {
        if !self.writable {
            return false;
        }
        let key_hash = key.hash(self.seed);
        let generation = self.generation();
        let mut buf = [0u8; DATA_BYTES];
        for index in self.window(key_hash) {
            let Some(slot) = self.slots.get(index) else {
                continue;
            };
            if peek_slot(slot).0 != key_hash {
                continue;
            }
            let Some((sum, seq)) = read_slot(slot, &mut buf, self.seed) else {
                continue;
            };
            if check_summed(&buf, key, key_hash, generation, sum).is_none() {
                continue;
            }
            // SYNC POINT: Acquire on success, as in `write_slot`: this CAS
            // from the very counter value the copy was checked under is
            // what proves the slot still holds this key.
            if slot
                .seq
                .compare_exchange(
                    seq,
                    seq.wrapping_add(1),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_err()
            {
                return false;
            }
            slot.locked_ms.store(now, Ordering::Relaxed);
            // SYNC POINT: pairs with the reader's Acquire fence (read_slot).
            fence(Ordering::Release);
            // A zero key hash marks an empty slot: no key hashes to 0, so
            // no lookup matches it, and it is the first a writer reuses.
            // The generation word goes too, so not even a peek takes it
            // for an entry of the current generation.
            slot.data[0].store(0, Ordering::Relaxed);
            slot.data[1].store(0, Ordering::Relaxed);
            // SYNC POINT: Release publishes the cleared words with the even
            // counter; a memoised answer sees the counter change.
            slot.seq.store(seq.wrapping_add(2), Ordering::Release);
            return true;
        }
        false
    }

    /// Drops every entry of `name` (A, AAAA and PTR) stored under the
    /// route id `scope` (`Config::route(name).id`); returns how many.
    pub fn remove_name(&self, name: &str, scope: u64, now: u64) -> usize {
        [QType::A, QType::Aaaa, QType::Ptr]
            .into_iter()
            .filter(|&q| self.remove(&Key::scoped(name, q, scope), now))
            .count()
    }

    /// Checks a slot copy whose key is not known beforehand: the stored key
    /// must be a lower-case host name that hashes to the slot's first word;
    /// then the entry is checked against it like a lookup's hit, under the
    /// first of `scopes` that gives the slot's hash.
    fn check_unkeyed(
        &self,
        buf: &[u8; DATA_BYTES],
        generation: u64,
        sum: u64,
        scopes: &[u64],
    ) -> Option<(String, QType, Layout)> {
        let qtype = QType::from_code(u16::from(*buf.get(QTYPE_AT)?))?;
        let len = usize::from(*buf.get(KEY_LEN_AT)?);
        let stored = buf.get(KEY_AT..KEY_AT + len)?;
        if stored.is_empty()
            || check_body(stored).is_err()
            || stored.iter().any(u8::is_ascii_uppercase)
        {
            return None;
        }
        let name = std::str::from_utf8(stored).ok()?;
        let layout = scopes.iter().find_map(|&scope| {
            let key = Key::scoped(name, qtype, scope);
            check_summed(buf, &key, key.hash(self.seed), generation, sum)
        })?;
        Some((name.to_owned(), qtype, layout))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::Memory;
    use super::*;
    use crate::cache::entry::Kind;
    use std::net::Ipv4Addr;

    fn entry(kind: Kind, v4: &[Ipv4Addr]) -> Entry {
        Entry::for_tests(kind, v4)
    }

    #[test]
    fn entries_lists_what_was_stored_and_nothing_flushed() {
        let m = Memory::new(64);
        let t = m.table();
        let addr = Ipv4Addr::new(192, 0, 2, 7);
        assert!(t.put_entry(
            &Key::new("Www.Example", QType::A),
            &entry(Kind::Positive, &[addr]),
            5,
            0
        ));
        assert!(t.put_entry(
            &Key::new("nope.example", QType::Aaaa),
            &entry(Kind::NxDomain, &[]),
            6,
            0
        ));
        let mut listed: Vec<Listed> = t.entries(&[0]).collect();
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(listed.len(), 2);
        assert_eq!(
            (listed[0].name.as_str(), listed[0].qtype),
            ("nope.example", QType::Aaaa)
        );
        assert_eq!(listed[0].entry.kind, Kind::NxDomain);
        assert_eq!(
            (listed[1].name.as_str(), listed[1].qtype),
            ("www.example", QType::A)
        );
        assert_eq!(listed[1].entry.v4, [addr]);
        assert_eq!(listed[1].last_used_ms, 5);
        t.flush();
        assert_eq!(t.entries(&[0]).count(), 0);
    }

    #[test]
    fn entries_skips_a_slot_whose_bytes_do_not_check() {
        let m = Memory::new(64);
        let t = m.table();
        let key = Key::new("a.example", QType::A);
        let addr = Ipv4Addr::new(192, 0, 2, 1);
        assert!(t.put_entry(&key, &entry(Kind::Positive, &[addr]), 0, 0));
        let index = t.get(&key, 0).unwrap().slot;
        // One flipped byte of the stored name: the checksum no longer
        // matches, as after a torn or hostile write.
        let word = &t.slots[index].data[8];
        word.store(word.load(Ordering::Relaxed) ^ 0x01, Ordering::Relaxed);
        assert_eq!(t.entries(&[0]).count(), 0);
    }

    #[test]
    fn remove_name_drops_every_type_of_that_name_only() {
        let m = Memory::new(64);
        let t = m.table();
        let addr = Ipv4Addr::new(192, 0, 2, 1);
        let positive = entry(Kind::Positive, &[addr]);
        let nodata = entry(Kind::NoData, &[]);
        assert!(t.put_entry(&Key::new("a.example", QType::A), &positive, 0, 0));
        assert!(t.put_entry(&Key::new("a.example", QType::Aaaa), &nodata, 0, 0));
        assert!(t.put_entry(&Key::new("b.example", QType::A), &positive, 0, 0));
        assert_eq!(t.remove_name("A.Example", 0, 10), 2);
        assert!(t.get(&Key::new("a.example", QType::A), 10).is_none());
        assert!(t.get(&Key::new("a.example", QType::Aaaa), 10).is_none());
        assert!(t.get(&Key::new("b.example", QType::A), 10).is_some());
        assert_eq!(t.remove_name("a.example", 0, 10), 0, "nothing left");
        assert_eq!(t.entries(&[0]).count(), 1);
    }
}
