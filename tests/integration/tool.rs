// The rustcache command's views of the shared cache (stats in text, JSON and Prometheus form, dump, query) and flush NAME, against what real glibc lookups did.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use libtest_mimic::Trial;
use rustcache_testkit::dns::{qtype, Behaviour, ScriptedServer, Zone};
use rustcache_testkit::ns::Sandbox;
use serde_json::Value;

use crate::common::{assert_results, rustcache_cli, with_module, WWW_BOTH, WWW_V4, WWW_V6};

pub fn tests() -> Vec<Trial> {
    trials![
        stats_counts_the_lookups_and_gives_the_hit_rate_as_text_and_json,
        stats_prometheus_passes_promtool_with_counters_and_per_server_labels,
        dump_lists_fresh_negative_and_stale_entries_with_their_ttls,
        query_names_the_server_that_answered_then_the_cache,
        query_reports_a_stale_answer_served_while_the_upstream_is_dead,
        query_says_which_route_answered_and_gives_local_answers,
        query_names_the_address_rebinding_protection_refused,
        query_says_what_an_uncached_answer_was_and_why_it_was_not_cached,
        query_tells_what_each_search_candidate_was_answered,
        flush_name_drops_that_names_entries_and_leaves_the_others_cached,
        import_dnsmasq_translates_an_amazon_linux_2023_dnsmasq_conf,
        help_lists_every_command_and_a_usage_error_exits_2,
    ]
}

/// No search list, a one-second deadline.
const ONE_SERVER: &str = "nameserver 127.0.0.2\noptions timeout:1 attempts:1\n";
/// A dead first server (127.0.0.3 never answers), the zone on the second.
const DEAD_FIRST: &str =
    "nameserver 127.0.0.3\nnameserver 127.0.0.2\noptions timeout:1 attempts:1\n";

const OTHER_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const SHORT_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 9);
const V4ONLY: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 4);

/// `www` and `other` (TTL 300), `short` (TTL 1), `v4only` (no AAAA: NODATA),
/// a PTR for `www`'s IPv4 address; NXDOMAIN and NODATA carry example.com's
/// SOA (minimum 60 s), so they are cached.
fn zone() -> Zone {
    Zone::new()
        .soa("example.com", 60)
        .soa("2.0.192.in-addr.arpa", 60)
        .a("www.example.com", 300, WWW_V4)
        .aaaa("www.example.com", 300, WWW_V6)
        .a("other.example.com", 300, OTHER_V4)
        .aaaa("other.example.com", 300, v6(2))
        .a("short.example.com", 1, SHORT_V4)
        .aaaa("short.example.com", 1, v6(9))
        .a("v4only.example.com", 300, V4ONLY)
        .ptr_for(WWW_V4.into(), 300, "www.example.com")
}

fn v6(last: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last)
}

/// The module alone on the hosts line, `resolv_conf`, the zone on 127.0.0.2.
fn with_zone<R: Send>(
    resolv_conf: &str,
    f: impl FnOnce(&Sandbox, &ScriptedServer) -> R + Send,
) -> R {
    with_module(resolv_conf, |sb| {
        let server = ScriptedServer::start("127.0.0.2".parse().unwrap(), zone()).unwrap();
        f(sb, &server)
    })
}

/// `rustcache ARGS` in the sandbox.
fn tool(sb: &Sandbox, args: &[&str]) -> Output {
    sb.command(rustcache_cli()).args(args).output().unwrap()
}

/// `rustcache ARGS` in the sandbox with `RUSTCACHE_CONF=conf`: its exit
/// status and standard output.
fn tool_with_conf(sb: &Sandbox, conf: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = sb
        .command(rustcache_cli())
        .env("RUSTCACHE_CONF", conf)
        .args(args)
        .output()
        .unwrap();
    (out.status.code(), stdout(&out))
}

/// `rustcache query NAME --type a --json` with `RUSTCACHE_CONF=conf`: the
/// report, and its question for NAME's A records.
fn query_a_json(sb: &Sandbox, conf: &Path, name: &str) -> (Value, Value) {
    let (_, json) = tool_with_conf(sb, conf, &["query", name, "--type", "a", "--json"]);
    let report: Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("not JSON ({e}):\n{json}"));
    let question = questions(&report)
        .remove(&(name.to_owned(), "A".to_owned()))
        .unwrap_or_else(|| panic!("no A question for {name}: {report:#}"));
    (report, question)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `rustcache ARGS` that must succeed, its output parsed as JSON.
#[track_caller]
fn tool_json(sb: &Sandbox, args: &[&str]) -> Value {
    let out = tool(sb, args);
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "rustcache {args:?}: {}\n{text}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

fn asked(server: &ScriptedServer, name: &str) -> (usize, usize) {
    (
        server.count_for(name, qtype::A),
        server.count_for(name, qtype::AAAA),
    )
}

// ---------------------------------------------------------------------------------
// stats

fn stats_counts_the_lookups_and_gives_the_hit_rate_as_text_and_json() {
    with_zone(ONE_SERVER, |sb, server| {
        let www = ["gai www.example.com unspec"];
        let nope = ["gai nope.example.com unspec"];
        assert_results(&sb.probe(&www), &[WWW_BOTH]); // 2 misses
        assert_results(&sb.probe(&www), &[WWW_BOTH]); // 2 hits
        assert_results(&sb.probe(&nope), &["err EAI_NONAME"]); // 2 misses
        assert_results(&sb.probe(&nope), &["err EAI_NONAME"]); // 2 negative hits
        assert_results(&sb.probe(&www), &[WWW_BOTH]); // 2 hits
        let s = tool_json(sb, &["stats", "--json"]);
        let counter = |name: &str| {
            s["counters"][name]
                .as_u64()
                .unwrap_or_else(|| panic!("{name}: {s:#}"))
        };
        assert_eq!(counter("hits"), 4, "{s:#}");
        assert_eq!(counter("negative_hits"), 2, "{s:#}");
        assert_eq!(counter("misses"), 4, "{s:#}");
        assert_eq!(counter("upstream_queries"), server.count() as u64, "{s:#}");
        assert_eq!(s["hit_rate"].as_f64(), Some(0.6), "{s:#}");
        assert_eq!(s["entries_fresh"], 4, "www and nope, A and AAAA: {s:#}");
        assert_eq!(s["file"], "/run/rustcache/0.v3.cache");
        let servers = s["servers"].as_array().unwrap();
        assert_eq!(servers.len(), 1, "{s:#}");
        assert_eq!(servers[0]["address"], "127.0.0.2:53");
        assert_eq!(servers[0]["state"], "healthy");
        assert!(
            servers[0]["srtt_ms"].as_f64().is_some_and(|ms| ms > 0.0),
            "{s:#}"
        );
        // The text form: the hit rate, then the counter lines it always had.
        let text = stdout(&tool(sb, &["stats"]));
        assert!(
            text.contains(
                "\nhit rate         60.0 % (6 of 10 questions answered from the cache)\n"
            ),
            "{text}"
        );
        assert!(text.contains("\nhits             4\n"), "{text}");
        assert!(text.contains("\nserver 127.0.0.2:53"), "{text}");
    });
}

/// Samples of an exposition-format text: series (name and labels) -> value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_owned(), value.parse().unwrap())
        })
        .collect()
}

fn stats_prometheus_passes_promtool_with_counters_and_per_server_labels() {
    with_module(DEAD_FIRST, |sb| {
        let _dead =
            ScriptedServer::start_with("127.0.0.3".parse().unwrap(), zone(), Behaviour::Blackhole)
                .unwrap();
        let server = ScriptedServer::start("127.0.0.2".parse().unwrap(), zone()).unwrap();
        assert_results(&sb.probe(&["gai www.example.com unspec"]), &[WWW_BOTH]);
        assert_results(&sb.probe(&["gai www.example.com unspec"]), &[WWW_BOTH]);
        let out = tool(sb, &["stats", "--prometheus"]);
        assert!(out.status.success());
        let text = stdout(&out);
        // The reference parser and linter (Debian's prometheus package).
        let file = sb.write_file("rustcache.prom", &text);
        let check = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::fs::File::open(&file).unwrap())
            .output()
            .unwrap_or_else(|e| panic!("cannot run promtool (apt-get install prometheus): {e}"));
        assert!(
            check.status.success(),
            "promtool: {}{}\n{text}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        // Every family has HELP and TYPE; counters end in _total.
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let words: Vec<&str> = line.split(' ').collect();
            assert!(words[2].starts_with("rustcache_"), "{line}");
            assert!(text.contains(&format!("# HELP {} ", words[2])), "{line}");
            if words[3] == "counter" {
                assert!(words[2].ends_with("_total"), "{line}");
            }
        }
        let s = samples(&text);
        let get = |series: &str| {
            *s.get(series)
                .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        };
        assert_eq!(get(r#"rustcache_hits_total{uid="0"}"#), 2.0);
        assert_eq!(get(r#"rustcache_misses_total{uid="0"}"#), 2.0);
        assert_eq!(
            get(r#"rustcache_upstream_queries_total{uid="0"}"#),
            (server.count() + 2) as f64,
            "the dead one was asked too"
        );
        assert_eq!(get(r#"rustcache_hit_ratio{uid="0"}"#), 0.5);
        assert_eq!(
            get(r#"rustcache_server_up{uid="0",server="127.0.0.2:53"}"#),
            1.0
        );
        assert_eq!(
            get(r#"rustcache_server_up{uid="0",server="127.0.0.3:53"}"#),
            0.0
        );
        assert!(get(r#"rustcache_server_timeouts_total{uid="0",server="127.0.0.3:53"}"#) >= 1.0);
        assert_eq!(
            get(r#"rustcache_server_timeouts_total{uid="0",server="127.0.0.2:53"}"#),
            0.0
        );
        assert!(get(r#"rustcache_server_srtt_seconds{uid="0",server="127.0.0.2:53"}"#) > 0.0);
        assert_eq!(get(r#"rustcache_entries{uid="0",state="fresh"}"#), 2.0);
    });
}

// ---------------------------------------------------------------------------------
// dump

fn dump_lists_fresh_negative_and_stale_entries_with_their_ttls() {
    with_zone(ONE_SERVER, |sb, _| {
        let out = sb.probe(&[
            "gai short.example.com unspec",
            "gai www.example.com unspec",
            "gai v4only.example.com unspec",
            "gai nope.example.com unspec",
        ]);
        assert_eq!(out.results()[3], "err EAI_NONAME", "{out}");
        // Five hits on www (A and AAAA each), from two processes.
        let www = "gai www.example.com unspec";
        assert_results(&sb.probe(&[www, www, www]), &[WWW_BOTH; 3]);
        assert_results(&sb.probe(&[www, www]), &[WWW_BOTH; 2]);
        std::thread::sleep(Duration::from_millis(1500));
        let dump = tool_json(sb, &["dump", "--json"]);
        let rows: BTreeMap<(String, String), &Value> = dump
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    (
                        r["name"].as_str().unwrap().to_owned(),
                        r["type"].as_str().unwrap().to_owned(),
                    ),
                    r,
                )
            })
            .collect();
        let keys: Vec<(&str, &str)> = rows.keys().map(|(n, t)| (n.as_str(), t.as_str())).collect();
        assert_eq!(
            keys,
            [
                ("nope.example.com", "A"),
                ("nope.example.com", "AAAA"),
                ("short.example.com", "A"),
                ("short.example.com", "AAAA"),
                ("v4only.example.com", "A"),
                ("v4only.example.com", "AAAA"),
                ("www.example.com", "A"),
                ("www.example.com", "AAAA"),
            ],
            "{dump:#}"
        );
        let row = |n: &str, t: &str| rows[&(n.to_owned(), t.to_owned())];
        let ttl = |n: &str, t: &str| row(n, t)["ttl"].as_u64().unwrap();
        let www = row("www.example.com", "A");
        assert_eq!(
            (&www["state"], &www["answer"]),
            (&"fresh".into(), &"data".into())
        );
        assert_eq!(www["addresses"], serde_json::json!([WWW_V4.to_string()]));
        assert_eq!(
            row("www.example.com", "AAAA")["addresses"],
            serde_json::json!([WWW_V6.to_string()])
        );
        assert!(
            (295..=299).contains(&ttl("www.example.com", "A")),
            "{www:#}"
        );
        assert_eq!(www["stored_ttl"], 300);
        assert_eq!(www["hits"], 5, "{www:#}");
        assert_eq!(row("www.example.com", "AAAA")["hits"], 5);
        assert_eq!(row("v4only.example.com", "A")["hits"], 0);
        for t in ["A", "AAAA"] {
            let short = row("short.example.com", t);
            assert_eq!(short["state"], "stale", "{short:#}");
            assert_eq!(short["ttl"], 0, "{short:#}");
            let nope = row("nope.example.com", t);
            assert_eq!(
                (&nope["state"], &nope["answer"]),
                (&"negative".into(), &"nxdomain".into()),
                "{nope:#}"
            );
            assert!((55..=59).contains(&ttl("nope.example.com", t)), "{nope:#}");
        }
        assert_eq!(
            row("short.example.com", "A")["addresses"],
            serde_json::json!([SHORT_V4.to_string()])
        );
        assert_eq!(row("v4only.example.com", "A")["state"], "fresh");
        let nodata = row("v4only.example.com", "AAAA");
        assert_eq!(
            (&nodata["state"], &nodata["answer"]),
            (&"negative".into(), &"nodata".into())
        );
        // The text form has the same rows.
        let text = stdout(&tool(sb, &["dump"]));
        assert!(text.starts_with("NAME "), "{text}");
        assert!(text.ends_with("\n8 entries\n"), "{text}");
        let line = |name: &str, t: &str| {
            text.lines()
                .find(|l| l.split_whitespace().take(2).eq([name, t]))
                .unwrap_or_else(|| panic!("no {name} {t} in\n{text}"))
                .split_whitespace()
                .collect::<Vec<_>>()
        };
        assert_eq!(line("nope.example.com", "AAAA")[2], "negative");
        assert_eq!(line("nope.example.com", "AAAA").last(), Some(&"NXDOMAIN"));
        assert_eq!(line("v4only.example.com", "AAAA").last(), Some(&"NODATA"));
        assert_eq!(line("short.example.com", "A")[2..4], ["stale", "0"]);
        assert_eq!(line("www.example.com", "AAAA").last(), Some(&"2001:db8::1"));
        assert_eq!(line("www.example.com", "AAAA")[4], "5", "hits");
    });
}

// ---------------------------------------------------------------------------------
// query

/// The question rows of a `query --json` report, as (name, type) -> row.
fn questions(report: &Value) -> BTreeMap<(String, String), Value> {
    report["questions"]
        .as_array()
        .unwrap_or_else(|| panic!("{report:#}"))
        .iter()
        .map(|q| {
            (
                (
                    q["name"].as_str().unwrap().to_owned(),
                    q["type"].as_str().unwrap().to_owned(),
                ),
                q.clone(),
            )
        })
        .collect()
}

fn query_names_the_server_that_answered_then_the_cache() {
    with_module(DEAD_FIRST, |sb| {
        let _dead =
            ScriptedServer::start_with("127.0.0.3".parse().unwrap(), zone(), Behaviour::Blackhole)
                .unwrap();
        let server = ScriptedServer::start("127.0.0.2".parse().unwrap(), zone()).unwrap();
        // A miss: asked upstream, hedged past the dead first server.
        let first = tool_json(sb, &["query", "www.example.com", "--json"]);
        assert_eq!(first["outcome"], "found", "{first:#}");
        assert_eq!(
            first["addresses"],
            serde_json::json!([WWW_V4.to_string(), WWW_V6.to_string()])
        );
        assert_eq!(first["ttl"], 300, "{first:#}");
        for t in ["A", "AAAA"] {
            let q = &questions(&first)[&("www.example.com".to_owned(), t.to_owned())];
            assert_eq!(q["source"], "upstream", "{first:#}");
            assert_eq!(q["server"], "127.0.0.2:53", "{first:#}");
        }
        assert!(first["time_ms"].as_f64().unwrap() > 0.0);
        assert_eq!(asked(&server, "www.example.com"), (1, 1));
        // What it fetched is in the module's cache: a glibc lookup asks nothing.
        assert_results(&sb.probe(&["gai www.example.com unspec"]), &[WWW_BOTH]);
        assert_eq!(asked(&server, "www.example.com"), (1, 1));
        // Asked again: from the cache, fresh.
        let again = tool_json(
            sb,
            &["query", "www.example.com", "--type", "aaaa", "--json"],
        );
        let rows = questions(&again);
        assert_eq!(rows.len(), 1, "only AAAA was asked: {again:#}");
        let q = &rows[&("www.example.com".to_owned(), "AAAA".to_owned())];
        assert_eq!(
            (&q["source"], &q["state"]),
            (&"cache".into(), &"fresh".into()),
            "{again:#}"
        );
        assert!(q.get("server").is_none(), "{again:#}");
        assert_eq!(again["addresses"], serde_json::json!([WWW_V6.to_string()]));
        assert_eq!(asked(&server, "www.example.com"), (1, 1));
        // A negative answer: from upstream, and the exit code says not found.
        let out = tool(sb, &["query", "nope.example.com", "--type", "A"]);
        assert_eq!(out.status.code(), Some(1));
        let text = stdout(&out);
        assert!(
            text.contains(
                "nope.example.com A: NXDOMAIN ttl 60, from upstream 127.0.0.2:53, \
                 via the default servers\n"
            ),
            "{text}"
        );
        // A reverse lookup: the address is the question.
        let text = stdout(&tool(sb, &["query", "192.0.2.1"]));
        assert!(
            text.contains(
                "1.2.0.192.in-addr.arpa PTR: www.example.com ttl 300, from upstream 127.0.0.2:53, \
                 via the default servers\n"
            ),
            "{text}"
        );
        let text = stdout(&tool(sb, &["query", "192.0.2.1"]));
        assert!(
            text.contains("1.2.0.192.in-addr.arpa PTR: www.example.com ttl"),
            "{text}"
        );
        assert!(
            text.contains(", from the cache (fresh), via the default servers\n"),
            "{text}"
        );
    });
}

fn query_says_which_route_answered_and_gives_local_answers() {
    let resolv = "nameserver 127.0.0.2\nsearch corp.example\noptions timeout:1 attempts:1\n";
    with_module(resolv, |sb| {
        let public = ScriptedServer::start("127.0.0.2".parse().unwrap(), zone()).unwrap();
        let corp_v4 = Ipv4Addr::new(10, 1, 0, 30);
        let corp = ScriptedServer::start(
            "127.0.0.5".parse().unwrap(),
            Zone::new()
                .soa("corp.example", 60)
                .a("db.corp.example", 300, corp_v4),
        )
        .unwrap();
        let conf = sb.write_file(
            "rustcache.conf",
            "server=/corp.example/127.0.0.5\naddress=/lan.example/192.168.1.10\n\
             address=/ads.example/\n",
        );
        let query = |args: &[&str]| tool_with_conf(sb, &conf, args);
        // `db` tries db.corp.example first: routed to the corp servers.
        let (code, text) = query(&["query", "db", "--type", "A"]);
        assert_eq!(code, Some(0), "{text}");
        assert!(
            text.contains(&format!(
                "db.corp.example A: {corp_v4} ttl 300, from upstream 127.0.0.5:53, \
                 via route corp.example\n"
            )),
            "{text}"
        );
        // A public name (tried as it is first: it has a dot) goes to the default
        // servers.
        let (code, text) = query(&["query", "www.example.com", "--type", "A"]);
        assert_eq!(code, Some(0), "{text}");
        assert!(
            text.contains(&format!(
                "www.example.com A: {WWW_V4} ttl 300, from upstream 127.0.0.2:53, \
                 via the default servers\n"
            )),
            "{text}"
        );
        assert_eq!(corp.count_for("db.corp.example", qtype::A), 1);
        assert_eq!(public.count_for("db.corp.example", qtype::A), 0);
        // Local answers: no query, said so.
        let (code, text) = query(&["query", "host.lan.example.", "--type", "A"]);
        assert_eq!(code, Some(0), "{text}");
        assert!(
            text.contains(
                "host.lan.example A: 192.168.1.10 ttl 0, from a local answer (address=), \
                 via the default servers\n"
            ),
            "{text}"
        );
        let (code, text) = query(&["query", "ads.example.", "--type", "A"]);
        assert_eq!(code, Some(1), "{text}");
        assert!(
            text.contains("ads.example A: NXDOMAIN, from a local answer (address=)"),
            "{text}"
        );
        assert_eq!(public.count_for("host.lan.example", qtype::A), 0);
        assert_eq!(public.count_for("ads.example", qtype::A), 0);
    });
}

fn query_names_the_address_rebinding_protection_refused() {
    with_module(ONE_SERVER, |sb| {
        let private = Ipv4Addr::new(10, 0, 0, 5);
        let server = ScriptedServer::start(
            "127.0.0.2".parse().unwrap(),
            Zone::new()
                .soa("example.com", 60)
                .a("mixed.example.com", 300, private)
                .aaaa("mixed.example.com", 300, v6(5)),
        )
        .unwrap();
        let conf = sb.write_file("rustcache.conf", "stop-dns-rebind\n");
        let query = |args: &[&str]| tool_with_conf(sb, &conf, args);
        // Twice: a refused answer is not cached, so the second lookup asks
        // again and is told the same.
        for round in 0..2 {
            let (code, text) = query(&["query", "mixed.example.com"]);
            assert_eq!(code, Some(0), "the AAAA answer is through: {text}");
            assert!(
                text.contains(&format!(
                    "mixed.example.com A: refused by stop-dns-rebind ({private}), not cached, \
                     from upstream 127.0.0.2:53, via the default servers\n"
                )),
                "round {round}: {text}"
            );
            assert!(
                text.contains(&format!("mixed.example.com AAAA: {} ttl 300", v6(5))),
                "round {round}: {text}"
            );
        }
        assert_eq!(server.count_for("mixed.example.com", qtype::A), 2);
        assert_eq!(server.count_for("mixed.example.com", qtype::AAAA), 1);
        let (report, q) = query_a_json(sb, &conf, "mixed.example.com");
        assert_eq!(report["outcome"], "nxdomain", "{report:#}");
        assert_eq!(
            (&q["result"], &q["refused_address"], &q["source"]),
            (
                &"refused".into(),
                &private.to_string().into(),
                &"upstream".into()
            ),
            "{report:#}"
        );
        // Without the option the same answer is an answer, and nothing is
        // said to be refused.
        let plain = sb.write_file("plain.conf", "");
        let (report, q) = query_a_json(sb, &plain, "mixed.example.com");
        assert_eq!(
            (&q["result"], &q["refused_address"]),
            (&"data".into(), &Value::Null),
            "{report:#}"
        );
    });
}

fn query_says_what_an_uncached_answer_was_and_why_it_was_not_cached() {
    with_module(ONE_SERVER, |sb| {
        let zero = Ipv4Addr::new(192, 0, 2, 77);
        let _server = ScriptedServer::start(
            "127.0.0.2".parse().unwrap(),
            // No SOA for nosoa.test: its NXDOMAIN carries no negative TTL.
            Zone::new()
                .soa("example.com", 60)
                .a("zero.example.com", 0, zero)
                .a("kept.example.com", 300, zero),
        )
        .unwrap();
        let plain = sb.write_file("plain.conf", "");
        let neg_ttl = sb.write_file("neg-ttl.conf", "neg-ttl 45\n");
        let off = sb.write_file("off.conf", "cache no\n");
        let line = |conf: &Path, name: &str| {
            let (_, text) = tool_with_conf(sb, conf, &["query", name, "--type", "a"]);
            let prefix = format!("{name} A: ");
            text.lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .map(|l| l.split(", from ").next().unwrap_or(l).to_owned())
                .unwrap_or_else(|| panic!("no line for {name}:\n{text}"))
        };
        assert_eq!(
            line(&plain, "zero.example.com"),
            format!("{zero}, not cached (TTL 0)")
        );
        assert_eq!(
            line(&plain, "gone.nosoa.test"),
            "NXDOMAIN, not cached (no SOA in the reply)"
        );
        // neg-ttl gives the SOA-less NXDOMAIN a lifetime: now it is cached.
        assert_eq!(line(&neg_ttl, "gone.nosoa.test"), "NXDOMAIN ttl 45");
        assert_eq!(
            line(&off, "kept.example.com"),
            format!("{zero}, not cached (cache no)")
        );
        // An answer that was cached says so, as before.
        assert_eq!(line(&plain, "kept.example.com"), format!("{zero} ttl 300"));
        let (report, q) = query_a_json(sb, &plain, "zero.example.com");
        assert_eq!(
            (&q["result"], &q["not_cached"], &q["addresses"]),
            (
                &"data".into(),
                &"TTL 0".into(),
                &serde_json::json!([zero.to_string()])
            ),
            "{report:#}"
        );
    });
}

fn query_tells_what_each_search_candidate_was_answered() {
    let resolv =
        "nameserver 127.0.0.2\nsearch nosoa.test example.com\noptions timeout:1 attempts:1\n";
    with_module(resolv, |sb| {
        let addr = Ipv4Addr::new(192, 0, 2, 88);
        let _server = ScriptedServer::start(
            "127.0.0.2".parse().unwrap(),
            Zone::new()
                .soa("example.com", 60)
                .a("host.example.com", 300, addr),
        )
        .unwrap();
        // `host` has no dot: the search list first. host.nosoa.test is
        // NXDOMAIN without an SOA (not cached), host.example.com answers.
        for round in 0..2 {
            let text = stdout(&tool(sb, &["query", "host", "--type", "a"]));
            let first = "host.nosoa.test A: NXDOMAIN, not cached (no SOA in the reply), \
                         from upstream 127.0.0.2:53, via the default servers\n";
            assert!(text.contains(first), "round {round}:\n{text}");
            let second = if round == 0 {
                format!("host.example.com A: {addr} ttl 300, from upstream 127.0.0.2:53")
            } else {
                format!("host.example.com A: {addr} ttl 300, from the cache (fresh)")
            };
            assert!(text.contains(&second), "round {round}:\n{text}");
        }
    });
}

fn query_reports_a_stale_answer_served_while_the_upstream_is_dead() {
    with_zone(ONE_SERVER, |sb, server| {
        assert_results(
            &sb.probe(&["gai short.example.com inet"]),
            &[&format!("ok addrs=inet:{SHORT_V4}")],
        );
        server.set_behaviour(Behaviour::Blackhole);
        std::thread::sleep(Duration::from_millis(1500));
        let report = tool_json(sb, &["query", "short.example.com", "--type", "a", "--json"]);
        assert_eq!(report["outcome"], "found", "{report:#}");
        assert_eq!(report["ttl"], 30, "RFC 8767's stale TTL: {report:#}");
        let q = &questions(&report)[&("short.example.com".to_owned(), "A".to_owned())];
        assert_eq!(
            (&q["source"], &q["state"]),
            (&"cache".into(), &"stale".into()),
            "{report:#}"
        );
    });
}

// ---------------------------------------------------------------------------------
// flush NAME

fn flush_name_drops_that_names_entries_and_leaves_the_others_cached() {
    with_zone(ONE_SERVER, |sb, server| {
        let www = "gai www.example.com unspec";
        let other = "gai other.example.com unspec";
        let other_both = format!("ok addrs=inet6:{},inet:{OTHER_V4}", v6(2));
        assert_results(&sb.probe(&[www, other]), &[WWW_BOTH, &other_both]);
        let out = tool(sb, &["flush", "WWW.example.com."]);
        assert!(out.status.success());
        assert_eq!(
            stdout(&out),
            "/run/rustcache/0.v3.cache: flushed 2 entries of www.example.com\n"
        );
        assert_results(&sb.probe(&[www, other]), &[WWW_BOTH, &other_both]);
        assert_eq!(
            asked(server, "www.example.com"),
            (2, 2),
            "www was asked again"
        );
        assert_eq!(
            asked(server, "other.example.com"),
            (1, 1),
            "other stayed cached"
        );
        let out = tool(sb, &["flush", "nothing.example.com"]);
        assert!(out.status.success());
        assert_eq!(
            stdout(&out),
            "/run/rustcache/0.v3.cache: flushed 0 entries of nothing.example.com\n"
        );
        // A running process that has the answer memoised asks again too.
        let (running, _) = std::thread::scope(|scope| {
            let running = scope.spawn(|| sb.probe(&[other, other, "sleep 800", other]));
            std::thread::sleep(Duration::from_millis(300));
            let flush = tool(sb, &["flush", "other.example.com"]);
            (running.join().unwrap(), flush)
        });
        assert_results(&running, &[&other_both, &other_both, "ok", &other_both]);
        assert_eq!(
            asked(server, "other.example.com"),
            (2, 2),
            "asked again after the flush"
        );
    });
}

// ---------------------------------------------------------------------------------
// import-dnsmasq

fn import_dnsmasq_translates_an_amazon_linux_2023_dnsmasq_conf() {
    let dir = std::env::temp_dir().join(format!("rustcache-import-{}", std::process::id()));
    let d = dir.display().to_string();
    std::fs::create_dir_all(dir.join("dnsmasq.d")).unwrap();
    // The VPC resolver, in the file dnsmasq reads (resolv.conf names dnsmasq).
    std::fs::write(
        dir.join("resolv.dnsmasq"),
        "nameserver 169.254.169.253\nnameserver 127.0.0.1\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("dnsmasq.d/blocked.conf"),
        "# ad servers\naddress=/ads.example/\n",
    )
    .unwrap();
    // Left behind by an RPM upgrade, and excluded by the conf-dir line.
    std::fs::write(dir.join("dnsmasq.d/old.conf.rpmsave"), "server=10.9.9.9\n").unwrap();
    let conf = dir.join("dnsmasq.conf");
    std::fs::write(
        &conf,
        format!(
            "# dnsmasq as the local DNS cache of an Amazon Linux 2023 instance\n\
             listen-address=127.0.0.1\n\
             bind-interfaces\n\
             user=dnsmasq\n\
             group=dnsmasq\n\
             resolv-file={d}/resolv.dnsmasq\n\
             strict-order\n\
             domain-needed\n\
             bogus-priv\n\
             stop-dns-rebind\n\
             rebind-domain-ok=/ec2.internal/compute.internal/amazonaws.com/\n\
             cache-size=10000\n\
             neg-ttl=60\n\
             \n\
             # the company's own names, over Direct Connect\n\
             server=/corp.example/10.1.0.2\n\
             server=/corp.example/10.1.0.3#5353\n\
             dhcp-range=192.168.0.50,192.168.0.150,12h\n\
             log-facility=/var/log/dnsmasq.log\n\
             fancy-option=1\n\
             conf-dir={d}/dnsmasq.d,.rpmnew,.rpmsave\n"
        ),
    )
    .unwrap();
    let out = std::process::Command::new(rustcache_cli())
        .arg("import-dnsmasq")
        .arg(&conf)
        .output()
        .unwrap();
    let text = stdout(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let listen = "rustcache listens on no socket: it answers inside each process that resolves a name, through glibc";
    let daemon = "no daemon: rustcache runs in the resolving process, as its user";
    let expected = format!(
        "# rustcache.conf translated from {d}/dnsmasq.conf by `rustcache import-dnsmasq`.\n\
         # Options rustcache needs no equivalent for are kept as comments saying why.\n\
         # listen-address=127.0.0.1: {listen}\n\
         # bind-interfaces: {listen}\n\
         # user=dnsmasq: {daemon}\n\
         # group=dnsmasq: {daemon}\n\
         # resolv-file={d}/resolv.dnsmasq: its servers, as rustcache nameserver lines\n\
         nameserver 169.254.169.253\n\
         # nameserver 127.0.0.1: from {d}/resolv.dnsmasq, left out: on a host that ran dnsmasq that is dnsmasq itself\n\
         # strict-order: rustcache asks the best-ranked server first (configuration order among healthy ones) \
         and hedges to the next only if it is slow or fails, so a dead server costs one hedge delay, not a \
         timeout, and a healthy one is not asked twice\n\
         domain-needed\n\
         bogus-priv\n\
         stop-dns-rebind\n\
         rebind-domain-ok=/ec2.internal/compute.internal/amazonaws.com/\n\
         # cache-size=10000: 10000 names x 2048 bytes (A and AAAA, 512 bytes each, at half load) = 20 MiB; \
         root's file, which every user reads\n\
         cache-size 20\n\
         neg-ttl 60\n\
         server=/corp.example/10.1.0.2\n\
         server=/corp.example/10.1.0.3#5353\n\
         # dhcp-range=192.168.0.50,192.168.0.150,12h: DHCP, TFTP and router advertisements are not a DNS \
         cache's job; keep dnsmasq for them with `port=0` (its DNS off) if you need them\n\
         # log-facility=/var/log/dnsmasq.log: rustcache writes nothing from inside other processes: \
         `rustcache stats`, `dump` and `query` show what it does\n\
         # conf-dir={d}/dnsmasq.d,.rpmnew,.rpmsave: followed: its files are translated below\n\
         # conf-file={d}/dnsmasq.d/blocked.conf: followed\n\
         address=/ads.example/\n\
         # end of {d}/dnsmasq.d/blocked.conf\n"
    );
    assert_eq!(text, expected, "stderr:\n{stderr}");
    assert_eq!(
        stderr,
        format!("{d}/dnsmasq.conf:20: unknown dnsmasq option `fancy-option`: not translated\n")
    );
    assert_eq!(out.status.code(), Some(1), "something was reported");
    // The translation passes `rustcache check` with no problem at all, and
    // every translated rule is in force.
    let translated = dir.join("rustcache.conf");
    std::fs::write(&translated, &text).unwrap();
    let check = std::process::Command::new(rustcache_cli())
        .args(["check", "--resolv-conf"])
        .arg(dir.join("absent-resolv.conf"))
        .arg("--config")
        .arg(&translated)
        .output()
        .unwrap();
    let (check_out, check_err) = (
        stdout(&check),
        String::from_utf8_lossy(&check.stderr).into_owned(),
    );
    assert!(
        check.status.success() && check_err.is_empty(),
        "`rustcache check` refused the translation ({}):\n{check_err}\n{check_out}",
        check.status
    );
    for line in [
        "nameserver     169.254.169.253:53",
        "route          server=/corp.example/10.1.0.2#53",
        "route          server=/corp.example/10.1.0.3#5353",
        "route          address=/ads.example/",
        "route          stop-dns-rebind",
        "route          bogus-priv",
        "route          domain-needed",
        "route          rebind-domain-ok=/ec2.internal/compute.internal/amazonaws.com/",
        "ok: no problems found",
    ] {
        assert!(
            check_out.lines().any(|l| l == line),
            "`{line}` missing:\n{check_out}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

// ---------------------------------------------------------------------------------
// usage

fn help_lists_every_command_and_a_usage_error_exits_2() {
    let run = |args: &[&str]| {
        std::process::Command::new(rustcache_cli())
            .args(args)
            .output()
            .unwrap()
    };
    let help = run(&["help"]);
    assert!(help.status.success());
    let text = stdout(&help);
    for command in [
        "check",
        "enable",
        "disable",
        "stats",
        "dump",
        "query",
        "flush",
        "resolve",
        "import-dnsmasq",
    ] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(command)),
            "{command} missing from\n{text}"
        );
    }
    for bad in [
        &[][..],
        &["frobnicate"],
        &["stats", "--json", "--prometheus"],
        &["query", "www.example.com", "--type", "MX"],
        &["flush", "www.example.com", "--all"],
    ] {
        let out = run(bad);
        assert_eq!(out.status.code(), Some(2), "rustcache {bad:?}");
        assert!(
            out.stdout.is_empty(),
            "rustcache {bad:?}: usage goes to stderr"
        );
    }
}
