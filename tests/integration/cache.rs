// The shared cache through real glibc calls: answers shared across processes (per uid; root's read by all), untrusted files ignored, TTLs, negative caching, serve-stale, refresh-ahead, miss coalescing, flushes, shared server health, statistics.

use std::collections::HashMap;
use std::fs;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use libtest_mimic::Trial;
use rustcache_testkit::dns::{qtype, Behaviour, LoggedQuery, ScriptedServer, Zone};
use rustcache_testkit::dns::{POISON_V4, POISON_V6};
use rustcache_testkit::ns::{touch_every_page, ProbeOutput, Sandbox};

use crate::common::{with_module, WWW_BOTH, WWW_V4 as V4, WWW_V6 as V6};
use crate::stress::concurrent_writers_and_readers_in_many_processes_never_see_a_torn_entry;

pub fn tests() -> Vec<Trial> {
    trials![
        // Sharing.
        an_answer_one_process_resolved_is_served_to_the_next_without_a_query,
        answers_root_resolved_are_served_to_other_users_without_a_query,
        a_users_lookup_its_own_file_answers_leaves_roots_file_unopened,
        answers_a_user_resolved_are_served_neither_to_root_nor_to_other_users,
        cache_files_are_per_uid_root_0644_users_0600_in_a_root_owned_1777_directory,
        a_cache_file_is_still_made_and_shared_where_seccomp_refuses_renameat2,
        other_releases_files_are_left_to_their_processes_and_this_one_caches_beside_them,
        a_processs_first_lookup_leaves_the_modules_thread_locals_unallocated,
        a_cached_lookup_maps_only_the_pages_it_reads_of_a_cache_file_in_use,
        // Files that fail a check.
        a_root_file_owned_by_another_user_is_not_used,
        a_root_file_squatted_by_a_user_is_replaced_and_root_caches_again,
        a_group_writable_root_file_is_not_used,
        a_symlink_in_place_of_the_root_file_is_not_used,
        a_root_file_with_a_second_hard_link_is_not_used,
        a_user_file_of_garbage_is_not_used_and_left_alone,
        an_entry_altered_in_the_file_is_a_miss_not_an_answer,
        // Negative caching.
        nxdomain_with_an_soa_is_cached_for_other_processes,
        nxdomain_without_an_soa_is_not_cached,
        nodata_is_cached_per_type_beside_a_positive_entry,
        max_negative_ttl_caps_how_long_a_negative_answer_is_kept,
        // TTLs.
        an_answer_is_kept_for_its_ttl_and_a_hit_reports_the_time_left,
        a_zero_ttl_answer_is_not_cached,
        min_ttl_and_max_ttl_clamp_the_stored_ttl,
        // Serve-stale.
        an_expired_answer_is_served_stale_with_ttl_30_within_the_client_response_timer,
        a_stale_name_is_answered_with_ttl_30_and_no_query_for_30_s,
        stale_max_age_0_turns_serve_stale_off,
        a_fresh_answer_in_time_wins_over_the_stale_one,
        // Refresh-ahead and coalescing.
        a_hit_in_the_last_tenth_of_the_ttl_refreshes_once_per_type_and_extends_the_entry,
        a_hit_in_the_refresh_window_does_not_wait_for_a_dead_upstream,
        sixty_four_processes_missing_one_name_together_send_at_most_four_queries_per_type,
        processes_that_find_no_cache_file_together_make_it_once,
        a_lookup_killed_while_asking_does_not_hold_up_the_next_process,
        a_lookup_stopped_while_asking_does_not_hold_up_the_next_process,
        a_waiter_keeps_half_its_deadline_whatever_the_asker_does,
        a_child_forked_while_other_threads_look_up_is_answered,
        // Flushes and file replacement.
        pointing_resolv_conf_at_another_server_serves_none_of_the_old_answers,
        a_resolv_conf_rewritten_with_the_same_servers_keeps_the_cache,
        a_changed_ttl_policy_serves_none_of_the_old_answers,
        a_resolv_conf_restored_with_an_older_mtime_serves_none_of_the_old_answers,
        rustcache_flush_makes_the_next_lookup_ask_the_upstream,
        rustcache_flush_removes_other_releases_files_so_their_processes_start_afresh,
        deleting_the_cache_file_under_a_running_process_is_safe_and_it_moves_to_a_new_file,
        // Shared health and statistics.
        a_server_one_process_found_dead_is_not_asked_by_a_fresh_process,
        rustcache_stats_counts_what_the_lookups_did,
        a_new_cache_file_counts_no_flush,
        // Cross-process stress on the file format itself (see `stress`).
        concurrent_writers_and_readers_in_many_processes_never_see_a_torn_entry,
    ]
}

/// What `gai www.example.com unspec` prints for the poisoned records (see
/// [`poisoned_zone`]).
const WWW_POISONED: &str = "ok addrs=inet6:2001:db8::66,inet:192.0.2.66";
const STALE_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 20);
const STALE_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x20);
/// `nss4 stale.example.com` tuples for [`STALE_V4`] and [`STALE_V6`].
const STALE_TUPLES: &str =
    "tuples=stale.example.com/inet:192.0.2.20,stale.example.com/inet6:2001:db8::20";

/// One server, a one-second deadline (failures cost one second), and no search list:
/// no `search` line and names that are absolute where a negative answer would
/// otherwise walk a search list (the host name's domain, glibc's fallback).
const ONE_SERVER: &str = "nameserver 127.0.0.2\noptions timeout:1 attempts:1\n";
/// One server with glibc's default deadline (5 s x 2 attempts): a lookup that waits
/// for the upstream shows.
const ONE_SERVER_DEFAULT_TIMEOUT: &str = "nameserver 127.0.0.2\n";
/// Generous upper bound for "answered without waiting for the upstream".
const NO_WAITING: Duration = Duration::from_secs(1);
/// RFC 8767's client response timer, as docs/ARCHITECTURE.md ("Caching policy")
/// sets it.
const CLIENT_RESPONSE_TIMER: Duration = Duration::from_millis(1800);
/// Slack on top of a deadline for process scheduling on a loaded host.
const SLACK: Duration = Duration::from_millis(1200);

/// The upstream data: `www` (A + AAAA, TTL 300), `v4only` (A only, so AAAA is
/// NODATA), a CNAME chain to `www`, a PTR for `www`'s IPv4 address, `one` (TTL 1),
/// `zero` (TTL 0), `five` (TTL 5), `stale` (TTL 1), and `h0` ... `h9` (TTL 300).
/// NXDOMAIN and NODATA under example.com carry its SOA (minimum 60 s); example.org
/// has no SOA here.
fn zone() -> Zone {
    let mut z = Zone::new()
        .soa("example.com", 60)
        .soa("2.0.192.in-addr.arpa", 60)
        .a("www.example.com", 300, V4)
        .aaaa("www.example.com", 300, V6)
        .a("v4only.example.com", 300, Ipv4Addr::new(192, 0, 2, 4))
        .cname("alias.example.com", 300, "mid.example.com")
        .cname("mid.example.com", 300, "www.example.com")
        .ptr_for(V4.into(), 300, "www.example.com")
        .a("one.example.com", 1, Ipv4Addr::new(192, 0, 2, 11))
        .aaaa("one.example.com", 1, v6(0x11))
        .a("zero.example.com", 0, Ipv4Addr::new(192, 0, 2, 10))
        .aaaa("zero.example.com", 0, v6(0x10))
        .a("five.example.com", 5, Ipv4Addr::new(192, 0, 2, 5))
        .aaaa("five.example.com", 5, v6(0x5))
        .a("stale.example.com", 1, STALE_V4)
        .aaaa("stale.example.com", 1, STALE_V6);
    for i in 0..10u8 {
        z = z
            .a(&h(i), 300, h_v4(i))
            .aaaa(&h(i), 300, v6(0x100 + u16::from(i)));
    }
    z
}

fn v6(last: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last)
}

/// `h0.example.com` ... `h9.example.com`.
fn h(i: u8) -> String {
    format!("h{i}.example.com")
}

fn h_v4(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 51, 100, i)
}

/// What `gai hI.example.com unspec` prints.
fn h_both(i: u8) -> String {
    format!(
        "ok addrs=inet6:{},inet:{}",
        v6(0x100 + u16::from(i)),
        h_v4(i)
    )
}

/// [`zone`] with `name`'s A and AAAA records replaced.
fn zone_where(name: &str, ttl: u32, v4: Ipv4Addr, v6: Ipv6Addr) -> Zone {
    zone().remove(name).a(name, ttl, v4).aaaa(name, ttl, v6)
}

/// [`zone`] where `www.example.com` points at the poison addresses.
fn poisoned_zone() -> Zone {
    zone_where("www.example.com", 300, POISON_V4, POISON_V6)
}

/// A sandbox whose hosts line is `rustcache` alone (no fallback hides a failure), with
/// `resolv_conf`, and a server on 127.0.0.2 answering from [`zone`].
fn with_cache<R: Send>(
    resolv_conf: &str,
    f: impl FnOnce(&Sandbox, &ScriptedServer) -> R + Send,
) -> R {
    with_module(resolv_conf, |sb| {
        let server = ScriptedServer::start("127.0.0.2".parse().unwrap(), zone())
            .unwrap_or_else(|e| panic!("cannot start the upstream: {e}"));
        f(sb, &server)
    })
}

/// Makes every later child read `text` as its rustcache.conf.
fn rustcache_conf(sb: &Sandbox, text: &str) {
    let path = sb.write_file("rustcache.conf", text);
    sb.env("RUSTCACHE_CONF", path);
}

/// `<run>/rustcache/<uid>.v3.cache` as the test (outside the children's mounts) sees it.
fn cache_file(sb: &Sandbox, uid: u32) -> PathBuf {
    cache_dir(sb).join(format!("{uid}.v3.cache"))
}

fn cache_dir(sb: &Sandbox) -> PathBuf {
    sb.run_dir().join("rustcache")
}

#[track_caller]
fn assert_results(out: &ProbeOutput, expected: &[&str]) {
    assert_eq!(out.results(), expected, "\n{out}");
}

/// The log of `server`, one line per query, for failure messages.
fn log_text(server: &ScriptedServer) -> String {
    let lines: Vec<String> = server
        .queries()
        .iter()
        .map(LoggedQuery::to_string)
        .collect();
    format!("upstream log:\n{}", lines.join("\n"))
}

/// Queries `server` received for `name`, as (A, AAAA).
fn asked(server: &ScriptedServer, name: &str) -> (usize, usize) {
    (
        server.count_for(name, qtype::A),
        server.count_for(name, qtype::AAAA),
    )
}

/// The `ttl=N` of an `nss*` result line.
#[track_caller]
fn ttl(result: &str) -> u32 {
    result
        .split(' ')
        .find_map(|field| field.strip_prefix("ttl="))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no numeric ttl in {result:?}"))
}

/// How long the `i`-th `time`-prefixed operation of a probe took.
#[track_caller]
fn took(out: &ProbeOutput, i: usize) -> Duration {
    match out.timings().get(i) {
        Some((_, d)) => *d,
        None => panic!("no timing for operation {i}:\n{out}"),
    }
}

/// Runs `ops` in a probe as `uid`/`gid` (root: 0/0) with umask 077, so a mode that
/// comes out right was set on purpose.
fn probe_with_umask_077(sb: &Sandbox, uid: u32, ops: &[&str]) -> ProbeOutput {
    sb.probe_as_with(uid, uid, ops, |cmd| {
        // SAFETY: umask is async-signal-safe and touches no memory; it runs in the
        // child between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::umask(0o077);
                Ok(())
            });
        }
    })
}

/// `rustcache stats` in the sandbox, as name -> value for every counter line.
fn stats(sb: &Sandbox) -> HashMap<String, u64> {
    let out = sb
        .command(crate::common::rustcache_cli())
        .arg("stats")
        .output()
        .unwrap_or_else(|e| panic!("cannot run rustcache stats: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "rustcache stats failed: {}\n{text}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let (name, value, rest) = (words.next()?, words.next()?, words.next());
            rest.is_none()
                .then(|| Some((name.to_string(), value.parse().ok()?)))
                .flatten()
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// Sharing.

/// A process's first lookup leaves the module's thread-local block
/// unallocated: most processes make one lookup, and ld.so allocating and
/// zeroing the block (2.6 KiB, the memo's) cost that first call about 5 us.
/// From the second lookup on, the thread memoises. A miss, then hits; then a
/// second process whose first lookup is a hit from the shared cache.
fn a_processs_first_lookup_leaves_the_modules_thread_locals_unallocated() {
    with_cache(ONE_SERVER, |sb, server| {
        let www = "gai www.example.com unspec";
        let tls = "tls rustcache";
        let first = sb.probe(&[www, tls, www, tls, www, tls]);
        assert_results(
            &first,
            &[
                WWW_BOTH,
                "ok tls=none",
                WWW_BOTH,
                "ok tls=allocated",
                WWW_BOTH,
                "ok tls=allocated",
            ],
        );
        let second = sb.probe(&[www, tls, "ghbn www.example.com", tls]);
        assert_results(
            &second,
            &[
                WWW_BOTH,
                "ok tls=none",
                "ok name=www.example.com aliases= type=inet addrs=192.0.2.1",
                "ok tls=allocated",
            ],
        );
        assert_eq!(asked(server, "www.example.com"), (1, 1));
    });
}

fn an_answer_one_process_resolved_is_served_to_the_next_without_a_query() {
    with_cache(ONE_SERVER, |sb, server| {
        let ops = [
            "gai www.example.com unspec",
            "gai alias.example.com unspec canon",
            "ghbn v4only.example.com",
            "ghbn alias.example.com",
            "ghba 192.0.2.1",
            "gni 192.0.2.1",
        ];
        let first = sb.probe(&ops);
        assert_results(
            &first,
            &[
                WWW_BOTH,
                "ok canon=www.example.com addrs=inet6:2001:db8::1,inet:192.0.2.1",
                "ok name=v4only.example.com aliases= type=inet addrs=192.0.2.4",
                "ok name=www.example.com aliases=alias.example.com,mid.example.com type=inet addrs=192.0.2.1",
                "ok name=www.example.com aliases= type=inet addrs=192.0.2.1",
                "ok host=www.example.com",
            ],
        );
        assert_eq!(
            asked(server, "www.example.com"),
            (1, 1),
            "{}",
            log_text(server)
        );
        assert_eq!(server.count_for("1.2.0.192.in-addr.arpa", qtype::PTR), 1);
        let before = server.count();
        // Another process of the same uid: getaddrinfo, gethostbyname_r and
        // gethostbyaddr_r / getnameinfo all answered from the shared file.
        let second = sb.probe(&ops);
        assert_eq!(second.stdout, first.stdout, "\n{second}");
        assert_eq!(server.count(), before, "{}", log_text(server));
    });
}

fn answers_root_resolved_are_served_to_other_users_without_a_query() {
    with_cache(ONE_SERVER, |sb, server| {
        let ops = ["gai www.example.com unspec", "ghba 192.0.2.1"];
        let root = sb.probe(&ops);
        root.expect_ok();
        let before = server.count();
        let user = sb.probe_as(1000, 1000, &ops);
        assert_eq!(user.stdout, root.stdout, "\n{user}");
        assert_eq!(
            server.count(),
            before,
            "uid 1000 did not read root's file\n{}",
            log_text(server)
        );
    });
}

/// Root's file is opened by a user's process at its first lookup that its own file
/// cannot answer, not before: a command a user runs in a loop, whose name is in the
/// user's file, skips root's file's four system calls. What the next lookup needs from
/// root's file it still gets without a query.
fn a_users_lookup_its_own_file_answers_leaves_roots_file_unopened() {
    with_cache(ONE_SERVER, |sb, server| {
        let www = "gai www.example.com unspec";
        let h1 = "gai h1.example.com unspec";
        sb.probe(&[www]).expect_ok();
        // uid 1000 asks for h1 (its own file, root's and then the server).
        let first = sb.probe_as(1000, 1000, &[h1, "rss /0.v3.cache"]);
        let h1_answer = first.results()[0].to_string();
        assert!(h1_answer.starts_with("ok addrs="), "\n{first}");
        assert!(first.results()[1].starts_with("ok rss="), "\n{first}");
        let before = server.count();
        let out = sb.probe_as(1000, 1000, &[h1, "rss /0.v3.cache", www, "rss /0.v3.cache"]);
        let results = out.results();
        assert_eq!(results[0], h1_answer, "\n{out}");
        assert_eq!(results[1], "error none-mapped", "root's file opened\n{out}");
        assert_eq!(results[2], WWW_BOTH, "\n{out}");
        assert!(results[3].starts_with("ok rss="), "\n{out}");
        assert_eq!(server.count(), before, "{}", log_text(server));
    });
}

fn answers_a_user_resolved_are_served_neither_to_root_nor_to_other_users() {
    with_cache(ONE_SERVER, |sb, server| {
        // Root creates the directory (users cannot), with an unrelated name.
        sb.probe(&["gai h0.example.com unspec"]).expect_ok();
        let www = ["gai www.example.com unspec"];
        assert_results(&sb.probe_as(1000, 1000, &www), &[WWW_BOTH]);
        assert_eq!(asked(server, "www.example.com"), (1, 1));
        // Premise: uid 1000's own later lookups are hits.
        assert_results(&sb.probe_as(1000, 1000, &www), &[WWW_BOTH]);
        assert_eq!(
            asked(server, "www.example.com"),
            (1, 1),
            "{}",
            log_text(server)
        );
        assert_results(&sb.probe_as(1001, 1001, &www), &[WWW_BOTH]);
        assert_eq!(
            asked(server, "www.example.com"),
            (2, 2),
            "uid 1001 was served uid 1000's answer\n{}",
            log_text(server)
        );
        assert_results(&sb.probe(&www), &[WWW_BOTH]);
        assert_eq!(
            asked(server, "www.example.com"),
            (3, 3),
            "root was served uid 1000's answer\n{}",
            log_text(server)
        );
    });
}

fn cache_files_are_per_uid_root_0644_users_0600_in_a_root_owned_1777_directory() {
    with_cache(ONE_SERVER, |sb, _| {
        probe_with_umask_077(sb, 0, &["gai h0.example.com unspec"]).expect_ok();
        probe_with_umask_077(sb, 1000, &["gai h1.example.com unspec"]).expect_ok();
        probe_with_umask_077(sb, 1001, &["gai h2.example.com unspec"]).expect_ok();
        let dir = fs::symlink_metadata(cache_dir(sb)).unwrap();
        assert!(dir.is_dir());
        assert_eq!(dir.uid(), 0, "the directory's owner");
        assert_eq!(dir.mode() & 0o7777, 0o1777, "the directory's mode");
        // Root's file is read by every user; a user's only by that user.
        for (uid, mode) in [(0, 0o644), (1000, 0o600), (1001, 0o600)] {
            let file = fs::symlink_metadata(cache_file(sb, uid)).unwrap();
            assert!(file.is_file(), "{uid}.v3.cache");
            assert_eq!(file.uid(), uid, "{uid}.v3.cache's owner");
            assert_eq!(file.mode() & 0o7777, mode, "{uid}.v3.cache's mode");
        }
        let mut names: Vec<String> = fs::read_dir(cache_dir(sb))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["0.v3.cache", "1000.v3.cache", "1001.v3.cache"],
            "files left over"
        );
    });
}

/// A new cache file is moved into place with renameat2(RENAME_NOREPLACE); where that
/// call is refused (a container runtime's seccomp profile that does not know it:
/// ENOSYS or EPERM; a filesystem without the flag: EINVAL) the module falls back to a
/// hard link and an unlink. Either way the file is made, with one link and no temporary
/// file left, and the next process is answered from it without a query.
fn a_cache_file_is_still_made_and_shared_where_seccomp_refuses_renameat2() {
    for errno in ["ENOSYS", "EPERM", "EINVAL"] {
        with_cache(ONE_SERVER, |sb, server| {
            let deny = format!("deny renameat2 {errno}");
            let first = sb.probe(&[&deny, "gai www.example.com unspec"]);
            assert_results(&first, &["ok", WWW_BOTH]);
            let file = fs::symlink_metadata(cache_file(sb, 0)).unwrap();
            assert!(file.is_file(), "{errno}: 0.v3.cache made");
            assert_eq!(file.nlink(), 1, "{errno}: 0.v3.cache's links");
            let names: Vec<String> = fs::read_dir(cache_dir(sb))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert_eq!(names, ["0.v3.cache"], "{errno}: files left over");
            let before = server.count();
            sb.probe(&["gai www.example.com unspec"]).expect_ok();
            assert_eq!(server.count(), before, "{errno}: the second process asked");
            assert_eq!(asked(server, "www.example.com"), (1, 1), "{errno}");
        });
    }
}

/// An upgrade that changes the layout: processes started before it keep the other
/// release's file, and this release's processes make and share their own beside it
/// instead of refusing that one and running uncached until the next boot. The other
/// files: `0.cache`, the name releases before this naming gave every layout, and
/// `0.v4.cache`, a later layout's (a downgrade); each is a real cache file (made by
/// this module, then renamed) with its layout version changed, and neither is written.
fn other_releases_files_are_left_to_their_processes_and_this_one_caches_beside_them() {
    with_cache(ONE_SERVER, |sb, server| {
        let www = ["gai www.example.com unspec"];
        sb.probe(&["gai other.example.com unspec"]).expect_ok();
        let made = cache_file(sb, 0);
        let others = [
            (cache_dir(sb).join("0.cache"), 2u32),
            (cache_dir(sb).join("0.v4.cache"), 4),
        ];
        for (i, (other, version)) in others.iter().enumerate() {
            if i > 0 {
                sb.probe(&["gai other.example.com unspec"]).expect_ok();
            }
            fs::rename(&made, other).unwrap();
            let file = fs::OpenOptions::new().write(true).open(other).unwrap();
            file.write_all_at(&version.to_le_bytes(), 8).unwrap();
        }
        let before: Vec<Vec<u8>> = others.iter().map(|(f, _)| fs::read(f).unwrap()).collect();
        // Root's processes, then a user's (who also reads root's file).
        assert_results(&sb.probe(&www), &[WWW_BOTH]);
        assert_results(&sb.probe(&www), &[WWW_BOTH]);
        assert_results(&sb.probe_as(1000, 1000, &www), &[WWW_BOTH]);
        assert_eq!(
            asked(server, "www.example.com"),
            (1, 1),
            "this release's processes did not share a file\n{}",
            log_text(server)
        );
        assert!(made.is_file(), "this release's file was not made");
        for ((other, _), bytes) in others.iter().zip(before) {
            assert!(
                fs::read(other).unwrap() == bytes,
                "{} was written",
                other.display()
            );
        }
        // `rustcache check` shows this release's file and the others.
        let out = sb
            .command(crate::common::rustcache_cli())
            .arg("check")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = stdout
            .lines()
            .filter(|l| l.starts_with("cache ") || l.starts_with("other release "))
            .collect();
        let other = "used by processes started before an upgrade until the next boot \
                     (rustcache flush removes it: they start a new one)";
        assert_eq!(
            lines,
            [
                "cache          /run/rustcache/0.v3.cache".to_owned(),
                format!("other release  /run/rustcache/0.cache: {other}"),
                format!("other release  /run/rustcache/0.v4.cache: {other}"),
            ],
            "{stdout}"
        );
    });
}

/// A fresh process's cached lookup maps only the cache file's pages it reads: the
/// header's first and the name's one, 8 KiB, on a file that has been in use too (every
/// page in the page cache, as on a host whose processes have looked up names for a
/// while), where a read fault maps each page with up to 15 neighbours (the kernel's
/// fault-around: 128 KiB in all, counted in the process's RSS). A miss maps the
/// header's second page too (the leases and the last health records), alone: 12 KiB.
fn a_cached_lookup_maps_only_the_pages_it_reads_of_a_cache_file_in_use() {
    with_cache(ONE_SERVER, |sb, _server| {
        let www = "gai www.example.com unspec";
        // The miss that makes the file.
        assert_results(&sb.probe(&[www, "rss .v3.cache"]), &[WWW_BOTH, "ok rss=12"]);
        touch_every_page(&cache_file(sb, 0)).unwrap();
        for _ in 0..3 {
            assert_results(&sb.probe(&[www, "rss .v3.cache"]), &[WWW_BOTH, "ok rss=8"]);
        }
        let out = sb.probe(&["gai h0.example.com unspec", "rss .v3.cache"]);
        let results = out.results();
        assert!(results[0].starts_with("ok addrs="), "\n{out}");
        assert_eq!(results[1], "ok rss=12", "\n{out}");
    });
}

// ---------------------------------------------------------------------------------
// Files that fail a check.

/// Root caches a poisoned answer for `www`, the upstream is put right, and then
/// `tamper` changes root's file. Neither root nor a user may be served the poison
/// afterwards: the file is not used, and lookups still work.
fn a_tampered_root_file_is_not_used(tamper: impl FnOnce(&Path) + Send) {
    with_cache(ONE_SERVER, |sb, server| {
        server.set_zone(poisoned_zone());
        let www = ["gai www.example.com unspec"];
        assert_results(&sb.probe(&www), &[WWW_POISONED]);
        server.set_zone(zone());
        // Premise: while the file passes the checks, both are served its entry.
        assert_results(&sb.probe(&www), &[WWW_POISONED]);
        assert_results(&sb.probe_as(1000, 1000, &www), &[WWW_POISONED]);
        tamper(&cache_file(sb, 0));
        assert_results(&sb.probe_as(1000, 1000, &www), &[WWW_BOTH]);
        assert_results(&sb.probe(&www), &[WWW_BOTH]);
        assert_eq!(
            asked(server, "www.example.com"),
            (3, 3),
            "{}",
            log_text(server)
        );
    });
}

fn a_root_file_owned_by_another_user_is_not_used() {
    a_tampered_root_file_is_not_used(|file| {
        std::os::unix::fs::chown(file, Some(1000), Some(1000)).unwrap();
    });
}

fn a_root_file_squatted_by_a_user_is_replaced_and_root_caches_again() {
    with_cache(ONE_SERVER, |sb, server| {
        // The directory exists (tmpfiles.d makes it at boot) and a user got to
        // 0.v3.cache first.
        let dir = cache_dir(sb);
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o1777)).unwrap();
        let squat = cache_file(sb, 0);
        fs::write(&squat, garbage(1 << 20, 7)).unwrap();
        std::os::unix::fs::chown(&squat, Some(1000), Some(1000)).unwrap();
        let www = ["gai www.example.com unspec"];
        assert_results(&sb.probe(&www), &[WWW_BOTH]);
        assert_eq!(
            fs::metadata(&squat).unwrap().uid(),
            0,
            "the squatter's file stayed"
        );
        assert_results(&sb.probe(&www), &[WWW_BOTH]);
        assert_results(&sb.probe_as(1001, 1001, &www), &[WWW_BOTH]);
        assert_eq!(
            asked(server, "www.example.com"),
            (1, 1),
            "root's file is not in use\n{}",
            log_text(server)
        );
    });
}

fn a_group_writable_root_file_is_not_used() {
    a_tampered_root_file_is_not_used(|file| {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(file, fs::Permissions::from_mode(0o664)).unwrap();
    });
}

fn a_symlink_in_place_of_the_root_file_is_not_used() {
    // The link points at a file that passes every other check: root's own, 0644.
    a_tampered_root_file_is_not_used(|file| {
        let planted = file.with_file_name(".planted");
        fs::rename(file, &planted).unwrap();
        std::os::unix::fs::symlink(".planted", file).unwrap();
    });
}

fn a_root_file_with_a_second_hard_link_is_not_used() {
    a_tampered_root_file_is_not_used(|file| {
        fs::hard_link(file, file.with_file_name(".second-name")).unwrap();
    });
}

/// Deterministic pseudo-random bytes (xorshift64).
fn garbage(len: usize, mut x: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn a_user_file_of_garbage_is_not_used_and_left_alone() {
    with_cache(ONE_SERVER, |sb, server| {
        sb.probe(&["gai h0.example.com unspec"]).expect_ok();
        let www = ["gai www.example.com unspec"];
        assert_results(&sb.probe_as(1000, 1000, &www), &[WWW_BOTH]);
        let path = cache_file(sb, 1000);
        let len = fs::metadata(&path).unwrap().len() as usize;
        let junk = garbage(len, 0x9e37_79b9_7f4a_7c15);
        // Overwritten in place: same inode, owner and mode, the right size.
        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .write_all_at(&junk, 0)
            .unwrap();
        for round in 2..=3 {
            assert_results(&sb.probe_as(1000, 1000, &www), &[WWW_BOTH]);
            assert_eq!(
                asked(server, "www.example.com"),
                (round, round),
                "lookup {round} was not answered by the upstream\n{}",
                log_text(server)
            );
        }
        assert!(fs::read(&path).unwrap() == junk, "the file was changed");
    });
}

/// Replaces every occurrence of `from` in `bytes[start..]` with `to`; returns how many.
fn replace_all(bytes: &mut [u8], start: usize, from: &[u8], to: &[u8]) -> usize {
    assert_eq!(from.len(), to.len());
    let mut n = 0;
    let mut i = start;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            n += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    n
}

fn an_entry_altered_in_the_file_is_a_miss_not_an_answer() {
    with_cache(ONE_SERVER, |sb, server| {
        let www = ["gai www.example.com unspec"];
        assert_results(&sb.probe(&www), &[WWW_BOTH]);
        // Every copy of the answer's address bytes past the header becomes the poison
        // address, as a stray write (or a writer that lost a race) would leave it.
        let path = cache_file(sb, 0);
        let mut bytes = fs::read(&path).unwrap();
        let header = rustcache::cache::HEADER_SIZE;
        let v4 = replace_all(&mut bytes, header, &V4.octets(), &POISON_V4.octets());
        let v6 = replace_all(&mut bytes, header, &V6.octets(), &POISON_V6.octets());
        assert!(v4 >= 1 && v6 >= 1, "the addresses are not in the file");
        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .write_all_at(&bytes, 0)
            .unwrap();
        assert_results(&sb.probe(&www), &[WWW_BOTH]);
        assert_eq!(
            asked(server, "www.example.com"),
            (2, 2),
            "the altered entries were not misses\n{}",
            log_text(server)
        );
    });
}

// ---------------------------------------------------------------------------------
// Negative caching.

fn nxdomain_with_an_soa_is_cached_for_other_processes() {
    with_cache(ONE_SERVER, |sb, server| {
        let ops = [
            "gai nope.example.com. unspec",
            "ghbn nope.example.com.",
            "nss4 nope.example.com. 4096",
        ];
        let first = sb.probe(&ops);
        assert_eq!(
            first.results()[..2],
            ["err EAI_NONAME", "herr HOST_NOT_FOUND"],
            "\n{first}"
        );
        assert!(first.result(2).starts_with("status=NOTFOUND"), "\n{first}");
        assert_eq!(
            asked(server, "nope.example.com"),
            (1, 1),
            "{}",
            log_text(server)
        );
        let second = sb.probe(&ops);
        assert_eq!(second.stdout, first.stdout, "\n{second}");
        assert_eq!(
            asked(server, "nope.example.com"),
            (1, 1),
            "the NXDOMAIN was asked again\n{}",
            log_text(server)
        );
    });
}

fn nxdomain_without_an_soa_is_not_cached() {
    with_cache(ONE_SERVER, |sb, server| {
        // example.org has no SOA here: RFC 2308 section 5, no TTL to cache it for.
        let ops = ["gai nope.example.org. unspec"];
        assert_results(&sb.probe(&ops), &["err EAI_NONAME"]);
        assert_results(&sb.probe(&ops), &["err EAI_NONAME"]);
        assert_eq!(
            asked(server, "nope.example.org"),
            (2, 2),
            "{}",
            log_text(server)
        );
    });
}

fn nodata_is_cached_per_type_beside_a_positive_entry() {
    with_cache(ONE_SERVER, |sb, server| {
        let first = sb.probe(&["gai v4only.example.com. unspec"]);
        assert_results(&first, &["ok addrs=inet:192.0.2.4"]);
        assert_eq!(
            asked(server, "v4only.example.com"),
            (1, 1),
            "{}",
            log_text(server)
        );
        let second = sb.probe(&[
            "gai v4only.example.com. inet6",
            "ghbn2 v4only.example.com. inet6",
            "gai v4only.example.com. inet",
            "gai v4only.example.com. unspec",
        ]);
        assert_results(
            &second,
            &[
                "err EAI_NODATA",
                "herr NO_DATA",
                "ok addrs=inet:192.0.2.4",
                "ok addrs=inet:192.0.2.4",
            ],
        );
        assert_eq!(
            asked(server, "v4only.example.com"),
            (1, 1),
            "the NODATA (AAAA) or the A entry was asked again\n{}",
            log_text(server)
        );
    });
}

fn max_negative_ttl_caps_how_long_a_negative_answer_is_kept() {
    with_cache(ONE_SERVER, |sb, server| {
        // The SOA says 60 s; the configuration says 1 s.
        rustcache_conf(sb, "max-negative-ttl 1\n");
        let nope = "gai nope.example.com. unspec";
        assert_results(&sb.probe(&[nope]), &["err EAI_NONAME"]);
        assert_results(&sb.probe(&[nope]), &["err EAI_NONAME"]);
        assert_eq!(
            asked(server, "nope.example.com"),
            (1, 1),
            "not cached at all\n{}",
            log_text(server)
        );
        assert_results(&sb.probe(&["sleep 1500", nope]), &["ok", "err EAI_NONAME"]);
        assert_eq!(
            asked(server, "nope.example.com"),
            (2, 2),
            "kept past max-negative-ttl\n{}",
            log_text(server)
        );
    });
}

// ---------------------------------------------------------------------------------
// TTLs.

fn an_answer_is_kept_for_its_ttl_and_a_hit_reports_the_time_left() {
    with_cache(ONE_SERVER, |sb, server| {
        let ops = ["nss4 one.example.com 4096", "nss4 www.example.com 4096"];
        let first = sb.probe(&ops);
        assert_eq!(
            (ttl(first.result(0)), ttl(first.result(1))),
            (1, 300),
            "\n{first}"
        );
        // Hits at once, then the same process (and thread) again after 1.5 s.
        let later = sb.probe(&[ops[0], ops[1], "sleep 1500", ops[0], ops[1]]);
        later.expect_ok();
        assert_eq!(
            asked(server, "one.example.com"),
            (2, 2),
            "not one hit within the TTL and one query past it\n{}",
            log_text(server)
        );
        assert_eq!(ttl(later.result(0)), 1, "\n{later}");
        assert_eq!(ttl(later.result(3)), 1, "\n{later}");
        assert_eq!(
            asked(server, "www.example.com"),
            (1, 1),
            "{}",
            log_text(server)
        );
        // Asked 1.5 s or more ago with TTL 300: what is left is reported.
        let left = ttl(later.result(4));
        assert!((290..=299).contains(&left), "ttl={left}\n{later}");
    });
}

fn a_zero_ttl_answer_is_not_cached() {
    with_cache(ONE_SERVER, |sb, server| {
        let ops = ["nss4 zero.example.com 4096"];
        for round in 1..=2 {
            let out = sb.probe(&ops);
            assert!(out.result(0).starts_with("status=SUCCESS"), "\n{out}");
            assert_eq!(ttl(out.result(0)), 0, "\n{out}");
            assert_eq!(
                asked(server, "zero.example.com"),
                (round, round),
                "{}",
                log_text(server)
            );
        }
        // Not kept even for serving stale (RFC 1035: TTL 0 is for the transaction
        // in progress only).
        server.set_behaviour(Behaviour::Blackhole);
        assert_results(
            &sb.probe(&["gai zero.example.com unspec"]),
            &["err EAI_AGAIN"],
        );
    });
}

fn min_ttl_and_max_ttl_clamp_the_stored_ttl() {
    with_cache(ONE_SERVER, |sb, server| {
        rustcache_conf(sb, "min-ttl 10\nmax-ttl 100\n");
        let ops = [
            "nss4 one.example.com 4096",
            "nss4 zero.example.com 4096",
            "nss4 www.example.com 4096",
        ];
        let first = sb.probe(&ops);
        first.expect_ok();
        let ttls = |out: &ProbeOutput| (0..3).map(|i| ttl(out.result(i))).collect::<Vec<_>>();
        assert_eq!(ttls(&first), [10, 10, 100], "\n{first}");
        let before = server.count();
        // A hit reports what is left of the stored TTL: the clamped one was stored
        // (TTL 0 raised to 10 is cached too).
        let second = sb.probe(&ops);
        second.expect_ok();
        assert_eq!(server.count(), before, "{}", log_text(server));
        assert_eq!(ttls(&second), [10, 10, 100], "\n{second}");
    });
}

// ---------------------------------------------------------------------------------
// Serve-stale (RFC 8767).

/// Caches `stale.example.com` (TTL 1), blackholes the upstream and waits for the
/// entry to expire.
fn expire_with_a_dead_upstream(sb: &Sandbox, server: &ScriptedServer) {
    let out = sb.probe(&["nss4 stale.example.com 4096"]);
    assert!(out.result(0).ends_with(STALE_TUPLES), "\n{out}");
    assert_eq!(ttl(out.result(0)), 1, "\n{out}");
    server.set_behaviour(Behaviour::Blackhole);
    std::thread::sleep(Duration::from_millis(1500));
}

fn an_expired_answer_is_served_stale_with_ttl_30_within_the_client_response_timer() {
    with_cache(ONE_SERVER_DEFAULT_TIMEOUT, |sb, server| {
        expire_with_a_dead_upstream(sb, server);
        let out = sb.probe(&["time nss4 stale.example.com 4096"]);
        let line = out.result(0);
        assert!(line.starts_with("status=SUCCESS"), "\n{out}");
        assert!(line.ends_with(STALE_TUPLES), "\n{out}");
        assert_eq!(ttl(line), 30, "RFC 8767's stale TTL\n{out}");
        // The upstream was asked, and waited for at most the client response timer,
        // not the 10 s deadline.
        assert!(
            asked(server, "stale.example.com").0 >= 2,
            "{}",
            log_text(server)
        );
        assert!(
            took(&out, 0) < CLIENT_RESPONSE_TIMER + SLACK,
            "waited for the upstream\n{out}"
        );
    });
}

fn a_stale_name_is_answered_with_ttl_30_and_no_query_for_30_s() {
    with_cache(ONE_SERVER_DEFAULT_TIMEOUT, |sb, server| {
        expire_with_a_dead_upstream(sb, server);
        sb.probe(&["nss4 stale.example.com 4096"]).expect_ok();
        let before = server.count();
        let ops = [
            "time nss4 stale.example.com 4096",
            "time gai stale.example.com unspec",
            "time ghbn stale.example.com",
        ];
        let outs = [sb.probe(&ops), sb.probe(&ops)];
        assert_eq!(
            server.count(),
            before,
            "the upstream was asked again within 30 s\n{}",
            log_text(server)
        );
        for out in &outs {
            assert_eq!(
                out.results()[1..],
                [
                    "ok addrs=inet6:2001:db8::20,inet:192.0.2.20",
                    "ok name=stale.example.com aliases= type=inet addrs=192.0.2.20",
                ],
                "\n{out}"
            );
            for i in 0..3 {
                assert!(took(out, i) < NO_WAITING, "waited\n{out}");
            }
            let line = out.result(0);
            assert!(line.ends_with(STALE_TUPLES), "\n{out}");
            assert_eq!(
                ttl(line),
                30,
                "every stale answer has RFC 8767's TTL\n{out}"
            );
        }
    });
}

fn stale_max_age_0_turns_serve_stale_off() {
    with_cache(ONE_SERVER, |sb, server| {
        rustcache_conf(sb, "stale-max-age 0\n");
        expire_with_a_dead_upstream(sb, server);
        let out = sb.probe(&["nss4 stale.example.com 4096", "ghbn stale.example.com"]);
        assert_results(
            &out,
            &[
                "status=TRYAGAIN errno=EAGAIN herr=TRY_AGAIN ttl=unset untouched=yes",
                "herr TRY_AGAIN ret=EAGAIN",
            ],
        );
    });
}

fn a_fresh_answer_in_time_wins_over_the_stale_one() {
    with_cache(ONE_SERVER_DEFAULT_TIMEOUT, |sb, server| {
        let out = sb.probe(&["nss4 stale.example.com 4096"]);
        assert!(out.result(0).ends_with(STALE_TUPLES), "\n{out}");
        // The address changes, and the upstream answers slowly but within the client
        // response timer.
        server.set_zone(zone_where(
            "stale.example.com",
            1,
            Ipv4Addr::new(192, 0, 2, 21),
            v6(0x21),
        ));
        server.set_behaviour(Behaviour::Delay(Duration::from_millis(300)));
        std::thread::sleep(Duration::from_millis(1500));
        let out = sb.probe(&["nss4 stale.example.com 4096"]);
        let line = out.result(0);
        assert!(
            line.ends_with(
                "tuples=stale.example.com/inet:192.0.2.21,stale.example.com/inet6:2001:db8::21"
            ),
            "\n{out}"
        );
        assert_eq!(ttl(line), 1, "\n{out}");
    });
}

// ---------------------------------------------------------------------------------
// Refresh-ahead and coalescing.

fn a_hit_in_the_last_tenth_of_the_ttl_refreshes_once_per_type_and_extends_the_entry() {
    with_cache(ONE_SERVER, |sb, server| {
        let five = "gai five.example.com unspec";
        let want = "ok addrs=inet6:2001:db8::5,inet:192.0.2.5";
        assert_results(&sb.probe(&[five]), &[want]);
        assert_eq!(asked(server, "five.example.com"), (1, 1));
        // The refresh takes a while, so the other processes hit while it is in
        // flight.
        server.set_behaviour(Behaviour::Delay(Duration::from_millis(60)));
        // TTL 5 s: from 4.5 s after it was stored, a hit is in the last tenth. Eight
        // processes hit it together, a little after 4.5 s.
        let outs = sb.probe_many(8, &["sleep 4500", five]);
        for out in &outs {
            assert_results(out, &["ok", want]);
        }
        assert_eq!(
            asked(server, "five.example.com"),
            (2, 2),
            "not exactly one refresh per type\n{}",
            log_text(server)
        );
        // Past the original expiry (5 s), the refreshed entry still answers.
        let out = sb.probe(&["sleep 900", "nss4 five.example.com 4096"]);
        out.expect_ok();
        assert_eq!(
            asked(server, "five.example.com"),
            (2, 2),
            "the entry was not extended\n{}",
            log_text(server)
        );
        assert!(ttl(out.result(1)) >= 3, "\n{out}");
    });
}

fn a_hit_in_the_refresh_window_does_not_wait_for_a_dead_upstream() {
    with_cache(ONE_SERVER_DEFAULT_TIMEOUT, |sb, server| {
        let want = "ok addrs=inet6:2001:db8::5,inet:192.0.2.5";
        assert_results(&sb.probe(&["gai five.example.com unspec"]), &[want]);
        server.set_behaviour(Behaviour::Blackhole);
        // 4.55 s into a 5 s TTL: a fresh hit, due for refresh; the upstream is dead.
        let out = sb.probe(&["sleep 4550", "time gai five.example.com unspec"]);
        assert_results(&out, &["ok", want]);
        assert!(
            took(&out, 0) < Duration::from_millis(200),
            "a cache hit waited for the upstream\n{out}"
        );
    });
}

fn sixty_four_processes_missing_one_name_together_send_at_most_four_queries_per_type() {
    with_cache(ONE_SERVER, |sb, server| {
        server.set_behaviour(Behaviour::Delay(Duration::from_millis(20)));
        let outs = sb.probe_many(64, &["gai h7.example.com unspec"]);
        let want = h_both(7);
        for out in &outs {
            assert_results(out, &[want.as_str()]);
        }
        let (a, aaaa) = asked(server, &h(7));
        assert!(
            a <= 4 && aaaa <= 4,
            "{a} A and {aaaa} AAAA queries for one name\n{}",
            log_text(server)
        );
    });
}

/// A preload that appends a line to `$FALLOCATE_LOG` for every
/// `posix_fallocate` (the call that gives a new cache file its size), then
/// makes the real call.
fn fallocate_counter(sb: &Sandbox) -> PathBuf {
    crate::common::compile_c(
        sb,
        "count-fallocate.so",
        "#define _GNU_SOURCE\n#include <dlfcn.h>\n#include <fcntl.h>\n#include <stdlib.h>\n\
         #include <unistd.h>\n\
         int posix_fallocate(int fd, off_t off, off_t len) {\n\
         int (*real)(int, off_t, off_t) = (int (*)(int, off_t, off_t))dlsym(RTLD_NEXT, \"posix_fallocate\");\n\
         const char *log = getenv(\"FALLOCATE_LOG\");\n\
         if (log) { int l = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);\n\
         if (l >= 0) { if (write(l, \"x\\n\", 2) != 2) {} close(l); } }\n\
         return real(fd, off, len); }\n",
        &["-shared", "-fPIC"],
    )
}

fn processes_that_find_no_cache_file_together_make_it_once() {
    with_cache(ONE_SERVER, |sb, server| {
        // A slow answer keeps the lookups in flight together; no file yet.
        server.set_behaviour(Behaviour::Delay(Duration::from_millis(20)));
        assert!(!cache_file(sb, 0).exists());
        let log = sb.dir().join("fallocate.log");
        sb.env("LD_PRELOAD", fallocate_counter(sb));
        sb.env("FALLOCATE_LOG", &log);
        let outs = sb.probe_many(32, &["gai h8.example.com unspec"]);
        let want = h_both(8);
        for out in &outs {
            assert_results(out, &[want.as_str()]);
        }
        let made = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count();
        assert_eq!(
            made, 1,
            "the cache file was allocated {made} times by 32 processes starting together"
        );
        // The claim is gone with its maker, and the file is the one all use.
        let leftovers: Vec<String> = std::fs::read_dir(cache_dir(sb))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "0.v3.cache")
            .collect();
        assert!(
            leftovers.is_empty(),
            "left in the cache directory: {leftovers:?}"
        );
        let (a, aaaa) = asked(server, &h(8));
        assert!(
            a <= 4 && aaaa <= 4,
            "{a} A and {aaaa} AAAA queries for one name\n{}",
            log_text(server)
        );
    });
}

/// Starts a process that looks `name` up while the server delays its
/// answer by `delay`, and returns once it has asked (A and AAAA): it holds
/// the name's miss lease.
fn first_asker(
    sb: &Sandbox,
    server: &ScriptedServer,
    name: &str,
    delay: Duration,
) -> std::process::Child {
    server.set_name_behaviour(name, Behaviour::Delay(delay));
    let first = sb
        .command(std::env::current_exe().unwrap())
        .arg(rustcache_testkit::probe::PROBE_FLAG)
        .arg(format!("gai {name} unspec"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        server.wait_for_count(2, Duration::from_secs(10)),
        "the first process never asked"
    );
    first
}

/// SIGSTOP to `child`: alive, and asking nothing until continued.
fn stop(child: &std::process::Child) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
}

fn a_lookup_killed_while_asking_does_not_hold_up_the_next_process() {
    // A 3 s deadline: the first process's miss lease lasts that long.
    with_cache(
        "nameserver 127.0.0.2\noptions timeout:3 attempts:1\n",
        |sb, server| {
            let mut first = first_asker(sb, server, "h4.example.com", Duration::from_secs(2));
            // Killed while it waits for its answer (a timeout(1), the OOM killer, ^C).
            first.kill().unwrap();
            first.wait().unwrap();
            server.clear_name_behaviours();
            let out = sb.probe(&["time gai h4.example.com unspec"]);
            assert_results(&out, &[&h_both(4)]);
            assert!(
                took(&out, 0) < NO_WAITING,
                "waited for the dead process's lease\n{out}"
            );
        },
    );
}

fn a_lookup_stopped_while_asking_does_not_hold_up_the_next_process() {
    // A 3 s deadline: the first process's miss lease lasts that long, and so
    // would the second process's wait, which would then leave it no time to
    // ask (TRYAGAIN after 3 s, before this was handled).
    with_cache(
        "nameserver 127.0.0.2\noptions timeout:3 attempts:1\n",
        |sb, server| {
            let mut first = first_asker(sb, server, "h5.example.com", Duration::from_secs(2));
            // Stopped while it waits for its answer: ^Z in a shell, a
            // debugger at a breakpoint in another thread, SIGSTOP. It is
            // alive, so it is not found dead.
            stop(&first);
            server.clear_name_behaviours();
            let out = sb.probe(&["time gai h5.example.com unspec"]);
            // Gone before anything is asserted: a stopped child left behind
            // would hold the sandbox's teardown for ever.
            first.kill().unwrap();
            first.wait().unwrap();
            assert_results(&out, &[&h_both(5)]);
            assert!(
                took(&out, 0) < NO_WAITING,
                "waited for the stopped process's lease\n{out}"
            );
        },
    );
}

/// Children forked while the parent's other threads are in lookups (the first fork
/// during the process's first lookup, which is still making the module's process-wide
/// state) are answered, as a pre-forking server's workers must be: nothing a thread
/// held at the fork, and which no thread in the child will ever let go, may hold up a
/// child's lookup.
fn a_child_forked_while_other_threads_look_up_is_answered() {
    with_cache(ONE_SERVER, |sb, _server| {
        let out = sb.probe(&["forks 40 www.example.com", "gai www.example.com unspec"]);
        assert_results(&out, &["ok children=40", WWW_BOTH]);
    });
}

fn a_waiter_keeps_half_its_deadline_whatever_the_asker_does() {
    // A 4 s deadline. The first process asks, its answer delayed past it,
    // and is stopped; the second cannot tell (no /proc in its mount
    // namespace, as where the asker is frozen or the pid is another
    // namespace's), so only its own deadline bounds the wait: it waits half
    // of it, then asks itself and is answered. Before, it waited out the
    // first one's lease, its whole deadline, and asked with nothing left.
    const DEADLINE: Duration = Duration::from_secs(4);
    with_cache(
        "nameserver 127.0.0.2\noptions timeout:4 attempts:1\n",
        |sb, server| {
            let mut first = first_asker(sb, server, "h6.example.com", Duration::from_secs(10));
            stop(&first);
            server.clear_name_behaviours();
            let out = sb.probe_with(&["time gai h6.example.com unspec"], |cmd| {
                // SAFETY: mount(2) on constant C strings in the child,
                // which is single-threaded between fork and exec.
                unsafe {
                    cmd.pre_exec(|| {
                        let rc = libc::mount(
                            c"none".as_ptr(),
                            c"/proc".as_ptr(),
                            c"tmpfs".as_ptr(),
                            0,
                            std::ptr::null(),
                        );
                        if rc == 0 {
                            Ok(())
                        } else {
                            Err(std::io::Error::last_os_error())
                        }
                    });
                }
            });
            // Gone before anything is asserted (a stopped child would hold
            // the sandbox's teardown).
            first.kill().unwrap();
            first.wait().unwrap();
            assert_results(&out, &[&h_both(6)]);
            let took = took(&out, 0);
            assert!(
                took >= DEADLINE / 2 - Duration::from_millis(100),
                "it did wait for the asker ({took:?}): the test needs /proc hidden\n{out}"
            );
            assert!(
                took < DEADLINE / 2 + SLACK,
                "waited {took:?}, more than half its deadline\n{out}"
            );
        },
    );
}

// ---------------------------------------------------------------------------------
// Flushes and file replacement.

/// A second server, on 127.0.0.3, where `www` has other addresses.
fn second_server() -> ScriptedServer {
    ScriptedServer::start(
        "127.0.0.3".parse().unwrap(),
        zone_where("www.example.com", 300, Ipv4Addr::new(192, 0, 2, 2), v6(2)),
    )
    .unwrap()
}

const WWW_SECOND: &str = "ok addrs=inet6:2001:db8::2,inet:192.0.2.2";

fn pointing_resolv_conf_at_another_server_serves_none_of_the_old_answers() {
    with_cache(ONE_SERVER, |sb, first| {
        let second = second_server();
        let www = "gai www.example.com unspec";
        // A running process caches the first server's answer, then sleeps past the
        // once-a-second look at the files while resolv.conf changes.
        let (running, fresh) = std::thread::scope(|scope| {
            let running = scope.spawn(|| sb.probe(&[www, "sleep 1500", www]));
            assert!(
                first.wait_for_count(2, Duration::from_secs(10)),
                "never asked"
            );
            std::thread::sleep(Duration::from_millis(200));
            sb.write_resolv_conf("nameserver 127.0.0.3\noptions timeout:1 attempts:1\n");
            let fresh = sb.probe(&[www]);
            (running.join().unwrap(), fresh)
        });
        assert_results(&fresh, &[WWW_SECOND]);
        assert_results(&running, &[WWW_BOTH, "ok", WWW_SECOND]);
        assert_eq!(first.count(), 2, "{}", log_text(first));
        assert_eq!(second.count(), 2, "{}", log_text(&second));
    });
}

/// A DHCP client rewrites resolv.conf now and then, often with the same
/// servers: that must not empty the host's cache.
fn a_resolv_conf_rewritten_with_the_same_servers_keeps_the_cache() {
    with_cache(ONE_SERVER, |sb, server| {
        let www = ["gai www.example.com unspec"];
        assert_results(&sb.probe(&www), &[WWW_BOTH]);
        sb.write_resolv_conf(
            "# rewritten by a DHCP client\nnameserver 127.0.0.2\nsearch example.com\n\
             options timeout:1 attempts:1 ndots:2\n",
        );
        std::thread::sleep(Duration::from_millis(1200));
        assert_results(&sb.probe(&www), &[WWW_BOTH]);
        assert_eq!(server.count(), 2, "{}", log_text(server));
    });
}

/// Entries were stored under the old TTL policy: a new one does not find them (another route id).
fn a_changed_ttl_policy_serves_none_of_the_old_answers() {
    with_cache(ONE_SERVER, |sb, server| {
        let conf = sb.write_file("rustcache.conf", "max-ttl 300\n");
        sb.env("RUSTCACHE_CONF", conf.to_str().unwrap());
        let www = ["gai www.example.com unspec"];
        assert_results(&sb.probe(&www), &[WWW_BOTH]);
        sb.write_file("rustcache.conf", "max-ttl 60\n");
        std::thread::sleep(Duration::from_millis(1200));
        assert_results(&sb.probe(&www), &[WWW_BOTH]);
        assert_eq!(server.count(), 4, "{}", log_text(server));
    });
}

fn a_resolv_conf_restored_with_an_older_mtime_serves_none_of_the_old_answers() {
    with_cache(ONE_SERVER, |sb, first| {
        let second = second_server();
        let www = ["gai www.example.com unspec"];
        assert_results(&sb.probe(&www), &[WWW_BOTH]);
        // `cp -p`, `mv` of a prepared file, `rsync -a`, a backup restored: the new
        // resolv.conf carries an older modification time than the one it replaces.
        let path = sb.write_resolv_conf("nameserver 127.0.0.3\noptions timeout:1 attempts:1\n");
        let day_ago = SystemTime::now() - Duration::from_secs(86_400);
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(day_ago)
            .unwrap();
        let out = sb.probe(&www);
        assert_results(&out, &[WWW_SECOND]);
        assert_eq!(first.count(), 2, "{}", log_text(first));
        assert_eq!(second.count(), 2, "{}", log_text(&second));
    });
}

fn rustcache_flush_makes_the_next_lookup_ask_the_upstream() {
    with_cache(ONE_SERVER, |sb, server| {
        let www = "gai www.example.com unspec";
        assert_results(&sb.probe(&[www]), &[WWW_BOTH]);
        // A running process has the answer at hand (a hit) when the flush comes.
        let (running, flush) = std::thread::scope(|scope| {
            let running = scope.spawn(|| sb.probe(&[www, www, "sleep 800", www]));
            std::thread::sleep(Duration::from_millis(300));
            let flush = sb
                .command(crate::common::rustcache_cli())
                .arg("flush")
                .output()
                .unwrap();
            (running.join().unwrap(), flush)
        });
        let stdout = String::from_utf8_lossy(&flush.stdout);
        assert!(
            flush.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&flush.stderr)
        );
        assert_eq!(stdout, "/run/rustcache/0.v3.cache: flushed\n");
        assert_results(&running, &[WWW_BOTH, WWW_BOTH, "ok", WWW_BOTH]);
        assert_eq!(
            asked(server, "www.example.com"),
            (2, 2),
            "the running process was served from the cache after the flush\n{}",
            log_text(server)
        );
        assert_results(&sb.probe(&[www]), &[WWW_BOTH]);
        assert_eq!(
            asked(server, "www.example.com"),
            (2, 2),
            "the answer fetched after the flush was not cached\n{}",
            log_text(server)
        );
    });
}

/// After an upgrade, a flush must reach the processes started before it too. This
/// release cannot read another layout, so `rustcache flush` removes each user's files of
/// other releases (their processes move to a new, empty file, as after any deletion:
/// the next test) and flushes this release's; a file under root's name that another
/// user made is not root's and stays; a user whose processes were all of the other
/// release is no error. `flush NAME` removes them too.
fn rustcache_flush_removes_other_releases_files_so_their_processes_start_afresh() {
    with_cache(ONE_SERVER, |sb, _server| {
        sb.probe(&["gai www.example.com unspec"]).expect_ok();
        let dir = cache_dir(sb);
        let ours = cache_file(sb, 0);
        let other = |name: &str, owner: u32| {
            let path = dir.join(name);
            fs::copy(&ours, &path).unwrap();
            std::os::unix::fs::chown(&path, Some(owner), Some(owner)).unwrap();
            path
        };
        let removed = [
            other("0.cache", 0),
            other("0.v4.cache", 0),
            other("1000.cache", 1000),
        ];
        let planted = other("0.v2.cache", 1000);
        let flush = |args: &[&str]| {
            let out = sb
                .command(crate::common::rustcache_cli())
                .args(args)
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{args:?}: {stdout}{stderr}");
            assert!(stderr.is_empty(), "{args:?}: {stderr}");
            stdout
        };
        let gone = "removed: another release's file (its processes start a new one)";
        assert_eq!(
            flush(&["flush", "--all"]),
            format!(
                "/run/rustcache/0.cache: {gone}\n\
                 /run/rustcache/0.v4.cache: {gone}\n\
                 /run/rustcache/0.v3.cache: flushed\n\
                 /run/rustcache/1000.cache: {gone}\n"
            )
        );
        for path in &removed {
            assert!(!path.exists(), "{} is still there", path.display());
        }
        assert!(
            planted.exists(),
            "another user's file under root's name was removed"
        );
        assert!(ours.exists());
        let legacy = other("0.cache", 0);
        assert_eq!(
            flush(&["flush", "www.example.com"]),
            format!(
                "/run/rustcache/0.cache: {gone}\n\
                 /run/rustcache/0.v3.cache: flushed 0 entries of www.example.com\n"
            )
        );
        assert!(!legacy.exists());
    });
}

fn deleting_the_cache_file_under_a_running_process_is_safe_and_it_moves_to_a_new_file() {
    with_cache(ONE_SERVER, |sb, server| {
        let path = cache_file(sb, 0);
        let ops = [
            "gai h0.example.com unspec",
            "sleep 1500",
            "gai h1.example.com unspec",
            "gai h0.example.com unspec",
        ];
        let out = std::thread::scope(|scope| {
            let running = scope.spawn(|| sb.probe(&ops));
            assert!(
                server.wait_for_count(2, Duration::from_secs(10)),
                "never asked"
            );
            std::thread::sleep(Duration::from_millis(300));
            fs::remove_file(&path).unwrap();
            running.join().unwrap()
        });
        assert_results(&out, &[&h_both(0), "ok", &h_both(1), &h_both(0)]);
        assert!(path.is_file(), "no new file");
        assert_eq!(
            asked(server, &h(0)),
            (2, 2),
            "h0 was still served from the deleted file\n{}",
            log_text(server)
        );
        // The running process wrote h1 into the new file: a fresh process finds it.
        assert_results(&sb.probe(&["gai h1.example.com unspec"]), &[&h_both(1)]);
        assert_eq!(asked(server, &h(1)), (1, 1), "{}", log_text(server));
    });
}

// ---------------------------------------------------------------------------------
// Shared health and statistics.

fn a_server_one_process_found_dead_is_not_asked_by_a_fresh_process() {
    with_cache(
        "nameserver 127.0.0.2\nnameserver 127.0.0.3\n",
        |sb, dead| {
            dead.set_behaviour(Behaviour::Blackhole);
            let live = ScriptedServer::start("127.0.0.3".parse().unwrap(), zone()).unwrap();
            // One process meets the dead server (its down interval starts: 0.5 s).
            assert_results(&sb.probe(&["gai www.example.com unspec"]), &[WWW_BOTH]);
            assert_eq!(dead.count(), 2, "{}", log_text(dead));
            // A fresh process, another (cold) name: the dead server is not asked.
            assert_results(&sb.probe(&["gai h3.example.com unspec"]), &[&h_both(3)]);
            assert_eq!(
                dead.count(),
                2,
                "the fresh process asked the server found dead\n{}",
                log_text(dead)
            );
            assert_eq!(asked(&live, &h(3)), (1, 1), "{}", log_text(&live));
        },
    );
}

fn rustcache_stats_counts_what_the_lookups_did() {
    with_cache(ONE_SERVER_DEFAULT_TIMEOUT, |sb, server| {
        let www = ["gai www.example.com unspec"];
        let nope = ["gai nope.example.com. unspec"];
        let stale = ["gai stale.example.com unspec"];
        let stale_both = "ok addrs=inet6:2001:db8::20,inet:192.0.2.20";
        assert_results(&sb.probe(&www), &[WWW_BOTH]); // 2 misses
        assert_results(&sb.probe(&www), &[WWW_BOTH]); // 2 hits
        assert_results(&sb.probe(&nope), &["err EAI_NONAME"]); // 2 misses
        assert_results(&sb.probe(&nope), &["err EAI_NONAME"]); // 2 negative hits
        assert_results(&sb.probe(&stale), &[stale_both]); // 2 misses
        server.set_behaviour(Behaviour::Blackhole);
        std::thread::sleep(Duration::from_millis(1500));
        assert_results(&sb.probe(&stale), &[stale_both]); // 2 misses, 2 stale
        assert_results(&sb.probe(&stale), &[stale_both]); // 2 stale
        let s = stats(sb);
        let get = |name: &str| {
            *s.get(name)
                .unwrap_or_else(|| panic!("no `{name}` counter in {s:?}"))
        };
        assert_eq!(get("hits"), 2, "{s:?}");
        assert_eq!(get("negative_hits"), 2, "{s:?}");
        assert_eq!(get("misses"), 8, "{s:?}");
        assert_eq!(get("stale_answers"), 4, "{s:?}");
        assert_eq!(
            get("upstream_queries"),
            server.count() as u64,
            "{s:?}\n{}",
            log_text(server)
        );
    });
}

fn a_new_cache_file_counts_no_flush() {
    with_cache(ONE_SERVER, |sb, _| {
        assert_results(&sb.probe(&["gai www.example.com unspec"]), &[WWW_BOTH]);
        let s = stats(sb);
        assert_eq!(s.get("flushes"), Some(&0), "nothing was flushed: {s:?}");
    });
}
