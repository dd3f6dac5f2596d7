//! A per-thread memo of the last few forward answers served from the
//! shared cache, so a thread that keeps resolving the same names (the
//! usual case: a server talking to a handful of backends) skips copying,
//! checksumming and checking the slots again.
//!
//! A memoised answer is used only while it is provably what a full lookup
//! would return now:
//!
//! * same name (byte for byte), same family, same configuration load (the
//!   search list decides which candidate answered);
//! * every slot it was read from is in a file still mapped by this process
//!   (mapping ids are never reused), its sequence counter is unchanged
//!   (every write changes it) and the file's generation too (every flush
//!   changes it);
//! * still fresh, and not yet in the refresh window (then the full lookup
//!   runs, so one caller refreshes the entry).
//!
//! It holds copies of at most [`MEMO_SIZE`] answers per thread (about
//! 1.6 KiB each), has no destructor, and takes no lock: a thread only ever
//! touches its own memo.

use std::cell::RefCell;

use super::question::{Scratch, Token};
use crate::answer::Family;
use crate::cache::policy::wants_refresh;
use crate::cache::{Layout, Session, Table, DATA_BYTES};
use crate::name::validate::MAX_NAME_LEN;
use crate::name::NameBuf;

/// Answers remembered per thread.
pub const MEMO_SIZE: usize = 4;

/// One question's part of a memoised answer.
#[derive(Clone, Copy)]
pub struct Part {
    pub token: Token,
    pub layout: Layout,
    pub bytes: [u8; DATA_BYTES],
}

#[derive(Clone, Copy)]
struct Remembered {
    /// The name as the caller gave it.
    name: [u8; MAX_NAME_LEN + 1],
    name_len: usize,
    family: Family,
    load_id: u64,
    /// The candidate that answered (the search list may have extended the
    /// name).
    candidate: [u8; MAX_NAME_LEN],
    candidate_len: usize,
    parts: [Option<Part>; 2],
}

struct Memo {
    entries: [Option<Remembered>; MEMO_SIZE],
    next: usize,
}

thread_local! {
    // No destructor (plain data), so no registration at thread exit.
    static MEMO: RefCell<Memo> = const {
        RefCell::new(Memo {
            entries: [None; MEMO_SIZE],
            next: 0,
        })
    };
}

/// A memoised answer that is still valid: its parts are copied into
/// `scratch` (question `i` in place `i`, as a lookup leaves them), and the
/// candidate that answered into `candidate` unless it is `name` itself
/// (without a trailing dot).
pub fn lookup(
    name: &[u8],
    family: Family,
    load_id: u64,
    session: &Session<'_>,
    now: u64,
    scratch: &mut Scratch,
    candidate: &mut Option<NameBuf>,
) -> Option<[Option<(Layout, Token)>; 2]> {
    let tables = [session.own(), session.root()];
    MEMO.try_with(|cell| {
        let memo = cell.try_borrow().ok()?;
        let hit = memo.entries.iter().flatten().find(|e| {
            e.family == family && e.load_id == load_id && e.name.get(..e.name_len) == Some(name)
        })?;
        if !hit
            .parts
            .iter()
            .flatten()
            .all(|p| still_valid(p, &tables, now))
        {
            return None;
        }
        let mut out = [None, None];
        for (i, part) in hit.parts.iter().enumerate() {
            if let Some(part) = part {
                scratch.put_slot(i, &part.bytes, part.layout.used());
                out[i] = Some((part.layout, part.token));
            }
        }
        // The usual candidate is the name itself: the caller has it.
        let text = hit.candidate.get(..hit.candidate_len)?;
        if name.strip_suffix(b".").unwrap_or(name) != text {
            *candidate = Some(NameBuf::from_checked(text)?);
        }
        Some(out)
    })
    .ok()
    .flatten()
}

fn still_valid(part: &Part, tables: &[Option<Table<'_>>; 2], now: u64) -> bool {
    let Some(table) = tables
        .iter()
        .flatten()
        .find(|t| t.id() == part.token.mapping)
    else {
        return false;
    };
    let unchanged = table.slot_seq(part.token.slot) == Some(part.token.seq)
        && table.generation() == part.token.generation;
    let fresh = now < part.layout.expires_ms
        && !wants_refresh(part.layout.stored_ms, part.layout.expires_ms, now);
    if unchanged && fresh {
        table.touch_slot(part.token.slot, now);
    }
    unchanged && fresh
}

/// Remembers an answer read from the cache (every part must carry a token).
pub fn remember(
    name: &[u8],
    family: Family,
    load_id: u64,
    candidate: &str,
    parts: [Option<Part>; 2],
) {
    let _ = MEMO.try_with(|cell| {
        let Ok(mut memo) = cell.try_borrow_mut() else {
            return;
        };
        let mut entry = Remembered {
            name: [0; MAX_NAME_LEN + 1],
            name_len: name.len(),
            family,
            load_id,
            candidate: [0; MAX_NAME_LEN],
            candidate_len: candidate.len(),
            parts,
        };
        let (Some(n), Some(c)) = (
            entry.name.get_mut(..name.len()),
            entry.candidate.get_mut(..candidate.len()),
        ) else {
            return;
        };
        n.copy_from_slice(name);
        c.copy_from_slice(candidate.as_bytes());
        // Replace the same name's entry, else the oldest.
        let at = memo
            .entries
            .iter()
            .position(|e| {
                e.as_ref()
                    .is_some_and(|e| e.family == family && e.name.get(..e.name_len) == Some(name))
            })
            .unwrap_or(memo.next);
        if let Some(slot) = memo.entries.get_mut(at) {
            *slot = Some(entry);
        }
        if at == memo.next {
            memo.next = (memo.next + 1) % MEMO_SIZE;
        }
    });
}
