//! A per-thread memo of the last few forward answers served from the
//! shared cache, so a thread that keeps resolving the same names (the
//! usual case: a server talking to a handful of backends) skips copying,
//! checksumming and checking the slots again, and touches a few cache
//! lines instead of a few dozen.
//!
//! A memoised answer is used only while it is provably what a full lookup
//! would return now:
//!
//! * same name (byte for byte), same family, same configuration load (the
//!   search list decides which candidate answers), and it came from the
//!   first candidate (a later one depends on the earlier ones' negative
//!   entries, which are not watched);
//! * every slot it was read from is in a file still mapped by this process
//!   (mapping ids are never reused), with its sequence counter unchanged
//!   (every write changes it) and the file's generation too (every flush
//!   changes it);
//! * still fresh, and not yet in the refresh window (then the full lookup
//!   runs, so one caller refreshes the entry).
//!
//! It holds at most [`MEMO_SIZE`] answers of at most [`ANSWER_BYTES`]
//! bytes per thread (under 3 KiB in all), has no destructor, and takes no
//! lock: a thread only ever touches its own memo.
//!
//! A process's first answer is not memoised. Most processes that load the
//! module make one lookup (curl, a health check, a cron job) and would
//! never read their memo; and a thread's first touch of the module's
//! thread-locals costs it their whole block, which ld.so allocates and
//! zeroes then (2.5 KiB: often a fresh heap page, a page fault). Threads
//! memoise from the process's second answer on.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

use super::question::Token;
use crate::answer::{Family, HostView};
use crate::cache::policy::{remaining_ttl, wants_refresh};
use crate::cache::{Session, Table};
use crate::name::validate::MAX_NAME_LEN;

/// Answers remembered per thread.
pub const MEMO_SIZE: usize = 4;
/// Room for one answer: canonical name, aliases, addresses. A larger
/// answer is not memoised (it is still cached in the shared file).
pub const ANSWER_BYTES: usize = 224;

/// What must still hold for one question's part of a memoised answer.
#[derive(Clone, Copy, Debug)]
pub struct Check {
    /// The slot it was read from.
    pub token: Token,
    /// When the entry was stored and expires (boot-clock ms).
    pub stored_ms: u64,
    pub expires_ms: u64,
}

/// A memoised answer, copied out of the memo by value.
#[derive(Clone, Copy)]
pub struct Answer {
    bytes: [u8; ANSWER_BYTES],
    /// Ends of the name, packed aliases, IPv4 and IPv6 addresses.
    ends: [u8; 4],
}

impl Answer {
    fn build(view: &HostView<'_>) -> Option<Answer> {
        let mut answer = Answer {
            bytes: [0; ANSWER_BYTES],
            ends: [0; 4],
        };
        let mut at = 0usize;
        let mut ends = [0usize; 4];
        let mut put = |at: &mut usize, bytes: &[u8]| -> Option<()> {
            answer
                .bytes
                .get_mut(*at..*at + bytes.len())?
                .copy_from_slice(bytes);
            *at += bytes.len();
            Some(())
        };
        put(&mut at, view.name().as_bytes())?;
        ends[0] = at;
        for alias in view.aliases() {
            put(&mut at, &[u8::try_from(alias.len()).ok()?])?;
            put(&mut at, alias.as_bytes())?;
        }
        ends[1] = at;
        put(&mut at, view.v4_bytes())?;
        ends[2] = at;
        put(&mut at, view.v6_bytes())?;
        ends[3] = at;
        for (end, value) in answer.ends.iter_mut().zip(ends) {
            *end = u8::try_from(value).ok()?;
        }
        Some(answer)
    }

    /// The answer as a view, with `ttl`.
    pub fn view(&self, ttl: u32) -> Option<HostView<'_>> {
        let [n, a, v4, v6] = self.ends.map(usize::from);
        let name = self.bytes.get(..n)?;
        debug_assert!(std::str::from_utf8(name).is_ok());
        // SAFETY: `bytes[..ends[0]]` is only ever written by `build`, from
        // a `&str` (the view's name), and never changed after: it is
        // UTF-8. This memory is the thread's own, not the shared file's.
        // (Checking it again cost a tenth of a hit's instructions.)
        let name = unsafe { std::str::from_utf8_unchecked(name) };
        Some(HostView::from_parts(
            name,
            self.bytes.get(n..a)?,
            self.bytes.get(a..v4)?,
            self.bytes.get(v4..v6)?,
            ttl,
        ))
    }
}

#[derive(Clone, Copy)]
struct Remembered {
    /// Whether this place holds an answer. A flag rather than an `Option`
    /// around the entry: `None` of an `Option<Remembered>` would be stored
    /// in `family`'s unused values, making the memo's initial value
    /// non-zero, so that every thread's first lookup would copy it from
    /// the module file (`.tdata`, a page fault in a fresh process) instead
    /// of getting zeroed memory (`.tbss`).
    used: bool,
    family: Family,
    load_id: u64,
    name_len: usize,
    checks: [Option<Check>; 2],
    /// The name as the caller gave it.
    name: [u8; MAX_NAME_LEN + 1],
    answer: Answer,
}

struct Memo {
    entries: [Remembered; MEMO_SIZE],
    next: usize,
}

/// An unused place: all zeros.
const UNUSED: Remembered = Remembered {
    used: false,
    family: Family::V4,
    load_id: 0,
    name_len: 0,
    checks: [None, None],
    name: [0; MAX_NAME_LEN + 1],
    answer: Answer {
        bytes: [0; ANSWER_BYTES],
        ends: [0; 4],
    },
};

thread_local! {
    // No destructor (plain data), so no registration at thread exit.
    static MEMO: RefCell<Memo> = const {
        RefCell::new(Memo {
            entries: [UNUSED; MEMO_SIZE],
            next: 0,
        })
    };
}

/// Hits answered from the memo, counted here and added to the shared
/// counter in batches: one atomic add on the file header's line per
/// [`HIT_BATCH`] hits or per second, instead of one per hit from every
/// process on the host.
struct PendingHits {
    hits: u64,
    flush_at_ms: u64,
}

/// Hits counted per thread before they are added to the shared counter.
const HIT_BATCH: u64 = 256;

thread_local! {
    static PENDING: std::cell::Cell<PendingHits> = const {
        std::cell::Cell::new(PendingHits { hits: 0, flush_at_ms: 0 })
    };
}

/// Counts `n` memo hits, adding them to `table`'s counter when a batch is
/// full or a second has passed (so `rustcache stats` lags by at most that).
pub fn count_hits(table: Option<Table<'_>>, n: u64, now: u64) {
    let _ = PENDING.try_with(|cell| {
        let mut pending = cell.replace(PendingHits {
            hits: 0,
            flush_at_ms: 0,
        });
        pending.hits += n;
        if pending.hits >= HIT_BATCH || now >= pending.flush_at_ms {
            if let Some(table) = table {
                table.count(crate::cache::Stat::Hits, pending.hits);
            }
            pending.hits = 0;
            pending.flush_at_ms = now + 1000;
        }
        cell.set(pending);
    });
}

/// Calls `f` with a view of the memoised answer for `name`, if one is
/// still valid, and the number of questions it answers; `f` runs on the
/// memo in place (an answer is a few hundred bytes: not copied out on
/// every hit). None, without calling `f`, on a miss.
pub fn lookup<R>(
    name: &[u8],
    family: Family,
    load_id: u64,
    session: &Session<'_>,
    now: u64,
    f: impl FnOnce(HostView<'_>, u64) -> R,
) -> Option<R> {
    // Only what is mapped: an answer remembered from root's file was read
    // from its mapping, and the quick path opens nothing.
    let tables = [session.own(), session.root_if_mapped()];
    MEMO.try_with(|cell| {
        let memo = cell.try_borrow().ok()?;
        let hit = memo.entries.iter().find(|e| {
            e.used
                && e.name_len == name.len()
                && e.family == family
                && e.load_id == load_id
                && e.name.get(..e.name_len) == Some(name)
        })?;
        let mut ttl = u32::MAX;
        let mut parts = 0;
        for check in hit.checks.iter().flatten() {
            if !still_valid(check, &tables, now) {
                return None;
            }
            // `now` is the quick clock, which may be a tick behind the one
            // the entry was stored by: never before the store, or the TTL
            // would come out above the one the upstream gave.
            ttl = ttl.min(remaining_ttl(check.expires_ms, now.max(check.stored_ms)));
            parts += 1;
        }
        if parts == 0 {
            return None;
        }
        Some(f(hit.answer.view(ttl)?, parts))
    })
    .ok()
    .flatten()
}

fn still_valid(check: &Check, tables: &[Option<Table<'_>>; 2], now: u64) -> bool {
    let Some(table) = tables
        .iter()
        .flatten()
        .find(|t| t.id() == check.token.mapping)
    else {
        return false;
    };
    let valid = table.slot_seq(check.token.slot) == Some(check.token.seq)
        && table.generation() == check.token.generation
        && now < check.expires_ms
        && !wants_refresh(check.stored_ms, check.expires_ms, now);
    if valid {
        table.touch_slot(check.token.slot, now);
    }
    valid
}

/// Whether this process has had an answer to remember yet (its first is
/// not remembered; see the module's documentation).
static PAST_FIRST: AtomicBool = AtomicBool::new(false);

/// Remembers an answer read from the cache by the first candidate (from
/// the process's second such answer on).
pub fn remember(
    name: &[u8],
    family: Family,
    load_id: u64,
    checks: [Option<Check>; 2],
    view: &HostView<'_>,
) {
    // A load, and a store only once: threads of a busy process share the
    // line without writing it.
    if !PAST_FIRST.load(Ordering::Relaxed) {
        PAST_FIRST.store(true, Ordering::Relaxed);
        return;
    }
    let Some(answer) = Answer::build(view) else {
        return;
    };
    let mut entry = Remembered {
        used: true,
        family,
        load_id,
        name_len: name.len(),
        checks,
        name: [0; MAX_NAME_LEN + 1],
        answer,
    };
    let Some(dst) = entry.name.get_mut(..name.len()) else {
        return;
    };
    dst.copy_from_slice(name);
    let _ = MEMO.try_with(|cell| {
        let Ok(mut memo) = cell.try_borrow_mut() else {
            return;
        };
        // Replace the same name's entry, else the oldest.
        let at = memo
            .entries
            .iter()
            .position(|e| e.used && e.family == family && e.name.get(..e.name_len) == Some(name))
            .unwrap_or(memo.next);
        if let Some(slot) = memo.entries.get_mut(at) {
            *slot = entry;
        }
        if at == memo.next {
            memo.next = (memo.next + 1) % MEMO_SIZE;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{open_or_create, Entry, Geometry, Key, Kind};
    use crate::upstream::QType;

    /// The hit path reads the quick clock, up to a tick behind the precise
    /// one an entry was stored by: its TTL must still not come out above
    /// the upstream's.
    #[test]
    fn a_memo_hit_read_by_a_clock_behind_the_store_keeps_the_stored_ttl() {
        let dir = std::env::temp_dir().join(format!("rustcache-memo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // SAFETY: geteuid has no preconditions.
        let uid = unsafe { libc::geteuid() };
        let mapping = open_or_create(&dir, uid, Geometry::for_size(1 << 20)).unwrap();
        let table = mapping.table();
        let (stored, ttl) = (10_000u64, 300u32);
        let key = Key::new("memo.example", QType::A);
        let entry = Entry {
            kind: Kind::Positive,
            ttl,
            stored_ms: stored,
            expires_ms: stored + u64::from(ttl) * 1000,
            retry_after_ms: 0,
            canonical: "memo.example".into(),
            aliases: vec![],
            v4: vec!["192.0.2.7".parse().unwrap()],
            v6: vec![],
        };
        assert!(table.put_entry(&key, &entry, stored, 0));
        let slot = table.get(&key, stored).unwrap().slot;
        let check = Check {
            token: Token {
                mapping: table.id(),
                slot,
                seq: table.slot_seq(slot).unwrap(),
                generation: table.generation(),
            },
            stored_ms: entry.stored_ms,
            expires_ms: entry.expires_ms,
        };
        let v4 = [192u8, 0, 2, 7];
        let view = HostView::from_parts("memo.example", &[], &v4, &[], ttl);
        // Twice: a process's first answer is not remembered, and this may
        // be this test process's first.
        for _ in 0..2 {
            remember(b"memo.example", Family::V4, 7, [Some(check), None], &view);
        }
        let session = crate::cache::Session::for_tests(Some(&mapping));
        for now in [stored - 3, stored, stored + 1] {
            let got = lookup(b"memo.example", Family::V4, 7, &session, now, |v, _| {
                v.ttl()
            });
            assert_eq!(got, Some(ttl), "read at {now}, stored at {stored}");
        }
        let later = lookup(
            b"memo.example",
            Family::V4,
            7,
            &session,
            stored + 1500,
            |v, _| v.ttl(),
        );
        assert_eq!(later, Some(ttl - 1));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
