// Many processes writing and reading the same cache entries at once: no torn read is ever returned as an entry, and no slot stays wedged by a writer killed mid-write.
//
// The workers use the `rustcache` crate's cache API (`open_or_create`, `Table::get` and
// `put_entry`: the code the module runs) on a file in a temporary directory, not glibc
// lookups: a torn-read detector needs writers that choose what they write, many
// thousands of times a second, on a few slots; lookups would only ever store what the
// upstream said, at most once per expiry, through a network round trip. The workers
// are this test binary re-executed with `--cache-stress` (see `main`). The test is listed
// with the cache's (`cache::tests`), so `cargo test --test integration cache::` runs it.

use std::io::Read;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustcache::cache::{open_existing, open_or_create, Entry, Geometry, Key, Kind, Table};
use rustcache::clock::now_ms;
use rustcache::upstream::QType;

/// First argument that turns the test binary into a stress worker:
/// `--cache-stress DIR MODE SEED MILLIS`, MODE `mixed` (one write in four) or `write`.
pub const WORKER_FLAG: &str = "--cache-stress";
/// Names written and read: fewer than the slots, so windows overlap and entries evict
/// each other as well.
const NAMES: usize = 16;
/// The smallest file there is (64 slots): every write lands where others read.
const SLOTS: u32 = 64;
/// How long the surviving workers run.
const RUN: Duration = Duration::from_millis(2000);
/// Entries live this long after they are written (never expire during the test).
const LIFETIME_MS: u64 = 3_600_000;

fn name(i: usize) -> String {
    format!("k{i}.stress.test")
}

/// The entry a writer stores with pattern `k` (1..=254): every part of it follows from
/// `k`, so an entry assembled from two writes does not check out.
fn pattern(k: u8, qtype: QType, now: u64) -> Entry {
    let count = 1 + usize::from(k % 12);
    Entry {
        kind: Kind::Positive,
        ttl: 1000 + u32::from(k),
        stored_ms: now,
        expires_ms: now + LIFETIME_MS,
        retry_after_ms: 0,
        canonical: format!("c{k}.stress.test"),
        aliases: vec![format!("a{k}.stress.test"); usize::from(k % 3)],
        v4: match qtype {
            QType::A => vec![Ipv4Addr::new(10, k, k, k); count],
            _ => Vec::new(),
        },
        v6: match qtype {
            QType::Aaaa => vec![Ipv6Addr::from([k; 16]); count],
            _ => Vec::new(),
        },
    }
}

/// Whether `entry` is exactly what some writer wrote for `qtype`.
fn is_whole(entry: &Entry, qtype: QType) -> bool {
    let Some(k) = entry
        .ttl
        .checked_sub(1000)
        .and_then(|k| u8::try_from(k).ok())
    else {
        return false;
    };
    let mut want = pattern(k, qtype, entry.stored_ms);
    want.retry_after_ms = entry.retry_after_ms;
    (1..=254).contains(&k) && *entry == want
}

/// The two calls of the cache API the workers use, in one place.
fn store(table: &Table<'_>, key: &Key<'_>, entry: &Entry, now: u64) -> bool {
    table.put_entry(key, entry, now, 0)
}

fn load(table: &Table<'_>, key: &Key<'_>, now: u64) -> Option<Entry> {
    table.get(key, now).map(|found| found.entry)
}

/// xorshift64: cheap, and each worker gets its own sequence.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// If this process was started as a worker, runs it and exits.
pub fn main_if_worker() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some(WORKER_FLAG) {
        return;
    }
    let [_, dir, mode, seed, millis] = args.as_slice() else {
        eprintln!("usage: {WORKER_FLAG} DIR mixed|write SEED MILLIS");
        std::process::exit(2);
    };
    let report = work(
        Path::new(dir),
        mode == "write",
        seed.parse().unwrap(),
        Duration::from_millis(millis.parse().unwrap()),
    );
    println!("{report}");
    std::process::exit(0);
}

/// What one worker did.
#[derive(Debug, Default)]
struct Report {
    reads: u64,
    hits: u64,
    torn: u64,
    writes: u64,
    skipped: u64,
    example: Option<String>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "reads={} hits={} torn={} writes={} skipped={}",
            self.reads, self.hits, self.torn, self.writes, self.skipped
        )?;
        if let Some(e) = &self.example {
            write!(f, " example={e}")?;
        }
        Ok(())
    }
}

impl Report {
    fn parse(line: &str) -> Option<Report> {
        let mut r = Report::default();
        let (counters, example) = match line.split_once(" example=") {
            Some((c, e)) => (c, Some(e.to_string())),
            None => (line, None),
        };
        for field in counters.split_whitespace() {
            let (k, v) = field.split_once('=')?;
            let v: u64 = v.parse().ok()?;
            match k {
                "reads" => r.reads = v,
                "hits" => r.hits = v,
                "torn" => r.torn = v,
                "writes" => r.writes = v,
                "skipped" => r.skipped = v,
                _ => return None,
            }
        }
        r.example = example;
        Some(r)
    }
}

fn work(dir: &Path, write_only: bool, seed: u64, run: Duration) -> Report {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let mapping = open_or_create(dir, uid, Geometry { slot_count: SLOTS })
        .unwrap_or_else(|e| panic!("cannot open the cache file in {}: {e}", dir.display()));
    let table = mapping.table();
    let names: Vec<String> = (0..NAMES).map(name).collect();
    let mut rng = Rng(seed | 1);
    let mut report = Report::default();
    let started = Instant::now();
    while started.elapsed() < run {
        for _ in 0..64 {
            let qtype = if rng.below(2) == 0 {
                QType::A
            } else {
                QType::Aaaa
            };
            let key = Key::new(&names[rng.below(NAMES as u64) as usize], qtype);
            let now = now_ms();
            if write_only || rng.below(4) == 0 {
                let k = 1 + rng.below(254) as u8;
                if store(&table, &key, &pattern(k, qtype, now), now) {
                    report.writes += 1;
                } else {
                    report.skipped += 1;
                }
            } else {
                report.reads += 1;
                if let Some(entry) = load(&table, &key, now) {
                    if is_whole(&entry, qtype) {
                        report.hits += 1;
                    } else {
                        report.torn += 1;
                        report.example.get_or_insert_with(|| format!("{entry:?}"));
                    }
                }
            }
        }
    }
    report
}

fn spawn(dir: &Path, mode: &str, seed: u64, run: Duration) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .arg(WORKER_FLAG)
        .arg(dir)
        .args([mode, &seed.to_string(), &run.as_millis().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start a stress worker: {e}"))
}

/// A fresh directory under the system temporary directory, removed on drop (also
/// when the test fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("rustcache-stress-{}-{nanos:x}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn concurrent_writers_and_readers_in_many_processes_never_see_a_torn_entry() {
    let temp = TempDir::new();
    let dir = temp.0.clone();
    // Four workers read and write; two more only write and are killed part-way
    // through, possibly in the middle of a write.
    let survivors: Vec<Child> = (0..4)
        .map(|i| spawn(&dir, "mixed", 0x5eed + i, RUN))
        .collect();
    let mut victims: Vec<Child> = (0..2)
        .map(|i| spawn(&dir, "write", 0xdead + i, RUN))
        .collect();
    let started = Instant::now();
    for (victim, at) in victims.iter_mut().zip([500, 800]) {
        std::thread::sleep(Duration::from_millis(at).saturating_sub(started.elapsed()));
        victim.kill().unwrap();
        victim.wait().unwrap();
    }
    let last_kill = Instant::now();
    let mut total = Report::default();
    let mut outputs = Vec::new();
    for mut child in survivors {
        let status = child.wait().unwrap();
        let (mut out, mut err) = (String::new(), String::new());
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(status.success(), "a worker failed: {status}\n{out}{err}");
        let report = Report::parse(out.trim())
            .unwrap_or_else(|| panic!("unreadable worker report {out:?}\n{err}"));
        total.reads += report.reads;
        total.hits += report.hits;
        total.torn += report.torn;
        total.writes += report.writes;
        total.skipped += report.skipped;
        if total.example.is_none() {
            total.example = report.example;
        }
        outputs.push(out.trim().to_string());
    }
    let summary = outputs.join("\n");
    assert_eq!(total.torn, 0, "torn entries were returned:\n{summary}");
    assert!(
        total.hits >= 10_000,
        "too few reads found an entry:\n{summary}"
    );
    assert!(total.writes >= 10_000, "too few writes:\n{summary}");
    // A slot a killed writer left locked is taken over once it has been locked for a
    // second: every name can be written again.
    std::thread::sleep(Duration::from_millis(1100).saturating_sub(last_kill.elapsed()));
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let mapping = open_existing(&rustcache::cache::file_path(&dir, uid), uid, true).unwrap();
    let table = mapping.table();
    let names: Vec<String> = (0..NAMES).map(name).collect();
    for name in &names {
        for qtype in [QType::A, QType::Aaaa] {
            let key = Key::new(name, qtype);
            let now = now_ms();
            let entry = pattern(7, qtype, now);
            assert!(
                store(&table, &key, &entry, now),
                "{name} {qtype:?} stays wedged"
            );
            assert_eq!(load(&table, &key, now), Some(entry), "{name} {qtype:?}");
        }
    }
    drop(mapping);
}
