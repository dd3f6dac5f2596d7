// The cache where nobody prepared /run/rustcache (a container): the per-uid fallback in /dev/shm, its trust checks, and what `rustcache check`/`stats` say when a process has no cache.

use std::fs;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use libtest_mimic::Trial;
use rustcache_testkit::dns::{qtype, ScriptedServer, Zone};
use rustcache_testkit::dns::{POISON_V4, POISON_V6};
use rustcache_testkit::ns::{ProbeOutput, Sandbox};

use crate::common::{with_module, zone, WWW_BOTH};

pub fn tests() -> Vec<Trial> {
    trials![
        a_user_in_a_container_nobody_prepared_shares_a_cache_in_dev_shm,
        a_user_who_cannot_write_the_cache_directory_still_reads_roots_file,
        a_process_on_the_fallback_moves_to_the_cache_directory_once_a_file_is_there,
        a_fallback_directory_made_by_another_user_gives_no_cache_and_no_wrong_answers,
        a_symlink_in_place_of_the_fallback_directory_is_not_followed,
        check_and_stats_say_which_check_a_cache_file_failed,
    ]
}

const ONE_SERVER: &str = "nameserver 127.0.0.2\noptions timeout:1 attempts:1\n";
const WWW: &[&str] = &["gai www.example.com unspec"];
const WWW_POISONED: &str = "ok addrs=inet6:2001:db8::66,inet:192.0.2.66";

/// A sandbox with hosts `rustcache` alone, one server on 127.0.0.2 answering
/// from the shared zone, and nothing prepared: `/run` is root's 0755 tmpfs
/// without a `rustcache` directory, `/dev/shm` a fresh 1777 tmpfs.
fn unprepared<R: Send>(f: impl FnOnce(&Sandbox, &ScriptedServer) -> R + Send) -> R {
    with_module(ONE_SERVER, |sb| {
        let server = ScriptedServer::start("127.0.0.2".parse().unwrap(), zone()).unwrap();
        let run = fs::metadata(sb.run_dir()).unwrap();
        assert_eq!((run.uid(), run.mode() & 0o7777), (0, 0o755), "/run");
        assert!(!sb.run_dir().join("rustcache").exists());
        let shm = fs::metadata(sb.shm_dir()).unwrap();
        assert_eq!((shm.uid(), shm.mode() & 0o7777), (0, 0o1777), "/dev/shm");
        assert_eq!(fs::read_dir(sb.shm_dir()).unwrap().count(), 0, "/dev/shm");
        f(sb, &server)
    })
}

fn poisoned_zone() -> Zone {
    zone()
        .remove("www.example.com")
        .a("www.example.com", 300, POISON_V4)
        .aaaa("www.example.com", 300, POISON_V6)
}

/// `/dev/shm/rustcache-<uid>` as the test sees it.
fn fallback_dir(sb: &Sandbox, uid: u32) -> PathBuf {
    sb.shm_dir().join(format!("rustcache-{uid}"))
}

#[track_caller]
fn assert_results(out: &ProbeOutput, expected: &[&str]) {
    assert_eq!(out.results(), expected, "\n{out}");
}

/// Queries for www.example.com, as (A, AAAA).
fn asked_www(server: &ScriptedServer) -> (usize, usize) {
    (
        server.count_for("www.example.com", qtype::A),
        server.count_for("www.example.com", qtype::AAAA),
    )
}

/// Runs the `rustcache` tool with `args` in the sandbox as `uid` (and gid);
/// returns whether it succeeded and its stdout followed by its stderr.
fn tool_as(sb: &Sandbox, uid: u32, args: &[&str]) -> (bool, String) {
    let mut cmd = sb.command(crate::common::rustcache_cli());
    cmd.args(args);
    if uid != 0 {
        // SAFETY: setgroups, setgid and setuid are async-signal-safe and take no
        // memory but a null pointer; this runs in the child between fork and exec,
        // after the sandbox's mounts (registered first).
        unsafe {
            cmd.pre_exec(move || {
                for rc in [
                    libc::setgroups(0, std::ptr::null()),
                    libc::setgid(uid),
                    libc::setuid(uid),
                ] {
                    if rc != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The `cache` line of `rustcache check` run as `uid`.
fn check_cache_line(sb: &Sandbox, uid: u32) -> String {
    let (_, text) = tool_as(sb, uid, &["check"]);
    text.lines()
        .find(|l| l.starts_with("cache "))
        .unwrap_or_else(|| panic!("no cache line in\n{text}"))
        .to_string()
}

fn a_user_in_a_container_nobody_prepared_shares_a_cache_in_dev_shm() {
    unprepared(|sb, server| {
        let ops = ["gai www.example.com unspec", "ghbn www.example.com"];
        let want = [
            WWW_BOTH,
            "ok name=www.example.com aliases= type=inet addrs=192.0.2.1",
        ];
        assert_results(&sb.probe_as(1000, 1000, &ops), &want);
        assert_eq!(asked_www(server), (1, 1), "{:?}", server.queries());
        // A second process of uid 1000 is answered from the shared file.
        assert_results(&sb.probe_as(1000, 1000, &ops), &want);
        assert_eq!(
            asked_www(server),
            (1, 1),
            "the second process asked the upstream: no shared cache\n{:?}",
            server.queries()
        );
        assert!(
            !sb.run_dir().join("rustcache").exists(),
            "a user made /run/rustcache"
        );
        let dir = fs::symlink_metadata(fallback_dir(sb, 1000)).unwrap();
        assert!(dir.is_dir());
        assert_eq!(
            (dir.uid(), dir.mode() & 0o7777),
            (1000, 0o700),
            "the fallback directory"
        );
        let file = fs::symlink_metadata(fallback_dir(sb, 1000).join("1000.v3.cache")).unwrap();
        assert!(file.is_file());
        assert_eq!(
            (file.uid(), file.mode() & 0o7777, file.nlink()),
            (1000, 0o600, 1)
        );
        // The tool finds it where the module does.
        let (ok, stats) = tool_as(sb, 1000, &["stats"]);
        assert!(ok, "{stats}");
        assert!(
            stats.contains("file             /dev/shm/rustcache-1000/1000.v3.cache"),
            "{stats}"
        );
        assert_eq!(
            check_cache_line(sb, 1000),
            "cache          /dev/shm/rustcache-1000/1000.v3.cache"
        );
        // Another uid gets its own fallback, never uid 1000's answers.
        assert_results(&sb.probe_as(1001, 1001, WWW), &[WWW_BOTH]);
        assert_eq!(
            asked_www(server),
            (2, 2),
            "uid 1001 was served uid 1000's answer"
        );
        assert!(fallback_dir(sb, 1001).join("1001.v3.cache").is_file());
        // Root's `flush --all` finds the fallback files although there is no cache
        // directory at all, and both users ask again.
        let (ok, text) = tool_as(sb, 0, &["flush", "--all"]);
        assert!(ok, "{text}");
        assert_eq!(
            text,
            "/dev/shm/rustcache-1000/1000.v3.cache: flushed\n\
             /dev/shm/rustcache-1001/1001.v3.cache: flushed\n"
        );
        assert_results(&sb.probe_as(1000, 1000, WWW), &[WWW_BOTH]);
        assert_results(&sb.probe_as(1001, 1001, WWW), &[WWW_BOTH]);
        assert_eq!(
            asked_www(server),
            (4, 4),
            "flush --all missed a fallback file"
        );
    });
}

fn a_user_who_cannot_write_the_cache_directory_still_reads_roots_file() {
    unprepared(|sb, server| {
        // Root makes /run/rustcache and caches www; then the directory is closed
        // to users (0755), as an administrator might.
        assert_results(&sb.probe(WWW), &[WWW_BOTH]);
        let dir = sb.run_dir().join("rustcache");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        // Root's answer is read, without a query...
        assert_results(&sb.probe_as(1000, 1000, WWW), &[WWW_BOTH]);
        assert_eq!(
            asked_www(server),
            (1, 1),
            "uid 1000 did not read root's file"
        );
        // ...and uid 1000's own answers are shared through its fallback.
        let h = ["gai v4only.example.com inet"];
        let want = ["ok addrs=inet:192.0.2.4"];
        assert_results(&sb.probe_as(1000, 1000, &h), &want);
        assert_results(&sb.probe_as(1000, 1000, &h), &want);
        assert_eq!(
            server.count_for("v4only.example.com", qtype::A),
            1,
            "{:?}",
            server.queries()
        );
        assert!(fallback_dir(sb, 1000).join("1000.v3.cache").is_file());
        assert!(!dir.join("1000.v3.cache").exists());
    });
}

fn a_process_on_the_fallback_moves_to_the_cache_directory_once_a_file_is_there() {
    unprepared(|sb, server| {
        let long = [
            "gai www.example.com unspec",
            "sleep 1500",
            "gai v6only.example.com inet6",
            "gai www.example.com unspec",
        ];
        let out = std::thread::scope(|scope| {
            let running = scope.spawn(|| sb.probe_as(1000, 1000, &long));
            assert!(
                server.wait_for_count(2, std::time::Duration::from_secs(10)),
                "never asked"
            );
            // Root makes /run/rustcache; then a fresh process of uid 1000 makes
            // its file there and caches v6only in it.
            assert_results(
                &sb.probe(&["gai v4only.example.com inet"]),
                &["ok addrs=inet:192.0.2.4"],
            );
            let v6only = ["gai v6only.example.com inet6"];
            let want = "ok addrs=inet6:2001:db8::6";
            assert_results(&sb.probe_as(1000, 1000, &v6only), &[want]);
            assert!(sb.run_dir().join("rustcache/1000.v3.cache").is_file());
            running.join().unwrap()
        });
        assert_results(
            &out,
            &[WWW_BOTH, "ok", "ok addrs=inet6:2001:db8::6", WWW_BOTH],
        );
        assert_eq!(
            server.count_for("v6only.example.com", qtype::AAAA),
            1,
            "the running process did not move to /run/rustcache/1000.v3.cache\n{:?}",
            server.queries()
        );
        assert_eq!(
            asked_www(server),
            (2, 2),
            "www, cached only in the fallback file, was still served from it"
        );
    });
}

/// Makes `/dev/shm/rustcache-1000` a directory of uid 1001, mode `mode`.
fn squat_fallback_dir(sb: &Sandbox, mode: u32) -> PathBuf {
    let dir = fallback_dir(sb, 1000);
    fs::create_dir(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(1001), Some(1001)).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
    dir
}

fn a_fallback_directory_made_by_another_user_gives_no_cache_and_no_wrong_answers() {
    unprepared(|sb, server| {
        // uid 1001 made uid 1000's fallback directory first, open to all.
        let squatted = squat_fallback_dir(sb, 0o777);
        for round in 1..=2 {
            assert_results(&sb.probe_as(1000, 1000, WWW), &[WWW_BOTH]);
            assert_eq!(
                asked_www(server),
                (round, round),
                "lookup {round} was answered from a cache in a directory of uid 1001"
            );
        }
        assert_eq!(
            fs::read_dir(&squatted).unwrap().count(),
            0,
            "a file was made there"
        );
        let why = "/dev/shm/rustcache-1000: not used: owned by uid 1001, not 1000";
        assert!(
            check_cache_line(sb, 1000).ends_with(why),
            "{}",
            check_cache_line(sb, 1000)
        );
        let (ok, stats) = tool_as(sb, 1000, &["stats"]);
        assert!(!ok && stats.contains(why), "{stats}");

        // Now it holds a valid cache file of uid 1001 with poisoned answers, under
        // uid 1000's file name: never served.
        server.set_zone(poisoned_zone());
        assert_results(&sb.probe_as(1001, 1001, WWW), &[WWW_POISONED]);
        fs::rename(
            fallback_dir(sb, 1001).join("1001.v3.cache"),
            squatted.join("1000.v3.cache"),
        )
        .unwrap();
        server.set_zone(zone());
        assert_results(&sb.probe_as(1000, 1000, WWW), &[WWW_BOTH]);
        assert_results(&sb.probe_as(1000, 1000, WWW), &[WWW_BOTH]);
        assert_eq!(asked_www(server), (5, 5), "{:?}", server.queries());
    });
}

fn a_symlink_in_place_of_the_fallback_directory_is_not_followed() {
    unprepared(|sb, server| {
        // The link points at a directory that passes every check: uid 1000's, 0700.
        let target = sb.shm_dir().join("elsewhere");
        fs::create_dir(&target).unwrap();
        std::os::unix::fs::chown(&target, Some(1000), Some(1000)).unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink("elsewhere", fallback_dir(sb, 1000)).unwrap();
        for round in 1..=2 {
            assert_results(&sb.probe_as(1000, 1000, WWW), &[WWW_BOTH]);
            assert_eq!(asked_www(server), (round, round), "the link was followed");
        }
        assert_eq!(
            fs::read_dir(&target).unwrap().count(),
            0,
            "a file was made there"
        );
        let line = check_cache_line(sb, 1000);
        assert!(
            line.ends_with("/dev/shm/rustcache-1000: not used: a symbolic link (never followed)"),
            "{line}"
        );
    });
}

/// Root's cache file in the sandbox, as the test sees it.
fn root_file(sb: &Sandbox) -> PathBuf {
    sb.run_dir().join("rustcache/0.v3.cache")
}

/// What `check` (its cache line) and `stats` (its error) say for root once
/// `tamper` changed root's file, which a lookup had made.
fn why_after(tamper: impl FnOnce(&Path) + Send) -> (String, String) {
    with_module(ONE_SERVER, |sb| {
        let _server = ScriptedServer::start("127.0.0.2".parse().unwrap(), zone()).unwrap();
        assert_results(&sb.probe(WWW), &[WWW_BOTH]);
        assert_eq!(
            check_cache_line(sb, 0),
            "cache          /run/rustcache/0.v3.cache",
            "premise: the file is used"
        );
        tamper(&root_file(sb));
        let line = check_cache_line(sb, 0);
        let (ok, stats) = tool_as(sb, 0, &["stats"]);
        assert!(!ok, "stats succeeded on a refused file\n{stats}");
        (line, stats)
    })
}

/// A change made to a cache file.
type Tamper = Box<dyn FnOnce(&Path) + Send>;

fn check_and_stats_say_which_check_a_cache_file_failed() {
    let cases: [(&str, Tamper); 6] = [
        (
            "not used: owned by uid 1000, not 0",
            Box::new(|f| std::os::unix::fs::chown(f, Some(1000), Some(1000)).unwrap()),
        ),
        (
            "not used: mode 0664: writable by group or others",
            Box::new(|f| fs::set_permissions(f, fs::Permissions::from_mode(0o664)).unwrap()),
        ),
        (
            "not used: 2 hard links (one needed)",
            Box::new(|f| fs::hard_link(f, f.with_file_name(".second")).unwrap()),
        ),
        (
            "not used: a symbolic link (never followed)",
            Box::new(|f| {
                fs::rename(f, f.with_file_name(".planted")).unwrap();
                std::os::unix::fs::symlink(".planted", f).unwrap();
            }),
        ),
        (
            "not used: header: not initialised, or not a cache file",
            Box::new(|f| {
                let file = fs::OpenOptions::new().write(true).open(f).unwrap();
                file.write_all_at(&[0u8; 8], 0).unwrap();
            }),
        ),
        (
            "not used: header: layout version 999, this module uses another",
            Box::new(|f| {
                let file = fs::OpenOptions::new().write(true).open(f).unwrap();
                file.write_all_at(&999u32.to_le_bytes(), 8).unwrap();
            }),
        ),
    ];
    for (why, tamper) in cases {
        let (line, stats) = why_after(tamper);
        let expected = format!("/run/rustcache/0.v3.cache: {why}");
        assert_eq!(
            line,
            format!("cache          none, lookups run uncached: {expected} (no fallback: the file is there, and refused)")
        );
        assert!(stats.contains(&expected), "{stats}");
    }
}
