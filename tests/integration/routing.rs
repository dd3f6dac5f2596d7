// Per-domain servers, local answers, rebinding protection, bogus-priv, domain-needed, one cache per configuration, and packets per second per server, through real glibc calls.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use libtest_mimic::Trial;
use rustcache_testkit::dns::{qtype, Behaviour, ScriptedServer, Zone};
use rustcache_testkit::ns::{ProbeOutput, Sandbox};

use crate::common::{with_module, WWW_V4, WWW_V6};

pub fn tests() -> Vec<Trial> {
    trials![
        two_configurations_alternating_on_one_host_share_no_answers_and_flush_nothing,
        the_longest_server_domain_wins_and_the_default_servers_are_never_asked,
        each_search_list_candidate_goes_to_the_servers_of_its_own_name,
        a_dead_server_in_a_domain_group_is_hedged_past,
        a_dead_domain_group_does_not_starve_the_public_candidates,
        a_reverse_zone_routes_getnameinfo_and_gethostbyaddr,
        local_answers_need_no_query,
        stop_dns_rebind_refuses_private_answers_uncached_and_counts_them,
        rebind_localhost_ok_and_rebind_domain_ok_let_answers_through,
        bogus_priv_answers_private_reverse_lookups_without_a_query,
        domain_needed_never_sends_a_bare_label,
        stats_shows_packets_per_second_for_default_and_routed_servers,
    ]
}

const DEFAULT: &str = "127.0.0.2";
const CORP: &str = "127.0.0.5";
const LAB: &str = "127.0.0.6";
const RESOLV: &str = "nameserver 127.0.0.2\noptions timeout:1 attempts:1\n";

/// The default servers' data: also a `db.corp.example`, so that a name sent
/// there by mistake is answered (and seen in the test's result).
fn public_zone() -> Zone {
    let mut z = Zone::new();
    for i in 0..60u8 {
        z = z.a(
            &format!("h{i}.example.com"),
            300,
            Ipv4Addr::new(198, 51, 100, i),
        );
    }
    z.soa("example.com", 60)
        .soa("corp.example", 60)
        .a("www.example.com", 300, WWW_V4)
        .a("db.corp.example", 300, Ipv4Addr::new(192, 0, 2, 30))
        .a("priv.example.com", 300, Ipv4Addr::new(10, 0, 0, 1))
        .a("lo.example.com", 300, Ipv4Addr::new(127, 0, 0, 1))
        .a("tld", 300, Ipv4Addr::new(192, 0, 2, 50))
        .ptr_for(IpAddr::V4(WWW_V4), 300, "www.example.com")
        .ptr_for("10.1.2.3".parse().unwrap(), 300, "public-view.example.com")
}

/// The on-premises servers' data.
fn corp_zone() -> Zone {
    Zone::new()
        .soa("corp.example", 60)
        .soa("2.0.192.in-addr.arpa", 60)
        .a("db.corp.example", 300, Ipv4Addr::new(10, 1, 0, 30))
        .a("www.corp.example", 300, Ipv4Addr::new(10, 1, 0, 80))
        .ptr_for(IpAddr::V4(WWW_V4), 300, "www.corp.example")
        .ptr_for(IpAddr::V6(WWW_V6), 300, "www6.corp.example")
        .ptr_for("10.1.2.3".parse().unwrap(), 300, "db3.corp.example")
}

fn lab_zone() -> Zone {
    Zone::new().soa("lab.corp.example", 60).a(
        "x.lab.corp.example",
        300,
        Ipv4Addr::new(10, 2, 0, 60),
    )
}

fn start(addr: &str, zone: Zone) -> ScriptedServer {
    ScriptedServer::start(addr.parse().unwrap(), zone).unwrap()
}

fn conf(sb: &Sandbox, name: &str, text: &str) -> PathBuf {
    sb.write_file(name, text)
}

/// A probe with `RUSTCACHE_CONF` pointing at `conf`.
fn probe(sb: &Sandbox, conf: &Path, ops: &[&str]) -> ProbeOutput {
    let conf = conf.to_path_buf();
    sb.probe_with(ops, move |cmd| {
        cmd.env("RUSTCACHE_CONF", &conf);
    })
}

#[track_caller]
fn assert_results(out: &ProbeOutput, expected: &[&str]) {
    assert_eq!(out.results(), expected, "\n{out}");
}

fn v4(addr: &str) -> String {
    format!("ok addrs=inet:{addr}")
}

fn two_configurations_alternating_on_one_host_share_no_answers_and_flush_nothing() {
    with_module(RESOLV, |sb| {
        let three = start(
            "127.0.0.3",
            Zone::new().a("www.example.com", 300, Ipv4Addr::new(192, 0, 2, 3)),
        );
        let four = start(
            "127.0.0.4",
            Zone::new().a("www.example.com", 300, Ipv4Addr::new(192, 0, 2, 4)),
        );
        let a = conf(sb, "a.conf", "nameserver 127.0.0.3\n");
        let b = conf(sb, "b.conf", "nameserver 127.0.0.4\n");
        let www = ["gai www.example.com inet"];
        for _ in 0..3 {
            assert_results(&probe(sb, &a, &www), &[&v4("192.0.2.3")]);
            assert_results(&probe(sb, &b, &www), &[&v4("192.0.2.4")]);
        }
        // Each configuration asked its own server once; every later lookup was a hit
        // in the one shared file, neither flushed the other.
        assert_eq!(three.count_for("www.example.com", qtype::A), 1);
        assert_eq!(four.count_for("www.example.com", qtype::A), 1);
        // `rustcache dump` under each configuration shows its own answer and
        // says the other's entry is there, unshown.
        for (c, addr) in [(&a, "192.0.2.3"), (&b, "192.0.2.4")] {
            let out = sb
                .command(crate::common::rustcache_cli())
                .env("RUSTCACHE_CONF", c)
                .arg("dump")
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{text}");
            let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("www.")).collect();
            assert_eq!(rows.len(), 1, "{text}");
            assert!(rows[0].ends_with(addr), "{text}");
            assert!(
                text.ends_with(
                    "1 entry (1 more of other configurations, or being written, not shown)\n"
                ),
                "{text}"
            );
        }
    });
}

fn routed_conf() -> &'static str {
    "server=/corp.example/127.0.0.5\nserver=/lab.corp.example/127.0.0.6\n\
     server=/pub.corp.example/#\n"
}

fn the_longest_server_domain_wins_and_the_default_servers_are_never_asked() {
    with_module(RESOLV, |sb| {
        let public = start(
            DEFAULT,
            public_zone().a("www.pub.corp.example", 300, Ipv4Addr::new(192, 0, 2, 77)),
        );
        let corp = start(CORP, corp_zone());
        let lab = start(LAB, lab_zone());
        let c = conf(sb, "rustcache.conf", routed_conf());
        let out = probe(
            sb,
            &c,
            &[
                "gai db.corp.example inet",
                "gai x.lab.corp.example inet",
                "gai www.example.com inet",
                "gai www.pub.corp.example inet",
            ],
        );
        assert_results(
            &out,
            &[
                &v4("10.1.0.30"),
                &v4("10.2.0.60"),
                &v4("192.0.2.1"),
                &v4("192.0.2.77"),
            ],
        );
        assert_eq!(public.count_for("db.corp.example", qtype::A), 0);
        assert_eq!(public.count_for("x.lab.corp.example", qtype::A), 0);
        assert_eq!(corp.count_for("x.lab.corp.example", qtype::A), 0);
        assert_eq!(lab.count(), 1, "x.lab: A");
        assert_eq!(corp.count(), 1, "db.corp: A");
    });
}

fn each_search_list_candidate_goes_to_the_servers_of_its_own_name() {
    let resolv =
        "nameserver 127.0.0.2\nsearch corp.example example.com\noptions timeout:1 attempts:1\n";
    with_module(resolv, |sb| {
        let public = start(DEFAULT, public_zone());
        let corp = start(CORP, corp_zone());
        let c = conf(sb, "rustcache.conf", "server=/corp.example/127.0.0.5\n");
        // `db` is found on its first candidate, at the corp servers; `www` on its
        // second, at the default ones, after corp said NXDOMAIN for the first.
        let out = probe(sb, &c, &["gai db inet", "gai tld inet"]);
        assert_results(&out, &[&v4("10.1.0.30"), &v4("192.0.2.50")]);
        assert_eq!(corp.count_for("db.corp.example", qtype::A), 1);
        assert_eq!(public.count_for("db.corp.example", qtype::A), 0);
        assert_eq!(corp.count_for("tld.corp.example", qtype::A), 1);
        assert_eq!(public.count_for("tld.corp.example", qtype::A), 0);
        assert_eq!(public.count_for("tld.example.com", qtype::A), 1);
        assert_eq!(corp.count_for("tld.example.com", qtype::A), 0);
    });
}

fn a_dead_server_in_a_domain_group_is_hedged_past() {
    with_module("nameserver 127.0.0.2\n", |sb| {
        let _public = start(DEFAULT, public_zone());
        let dead = ScriptedServer::start_with(
            "127.0.0.7".parse().unwrap(),
            corp_zone(),
            Behaviour::Blackhole,
        )
        .unwrap();
        let corp = start(CORP, corp_zone());
        let c = conf(
            sb,
            "rustcache.conf",
            "server=/corp.example/127.0.0.7\nserver=/corp.example/127.0.0.5\n",
        );
        let out = probe(sb, &c, &["time gai db.corp.example inet"]);
        assert_results(&out, &[&v4("10.1.0.30")]);
        assert!(out.timings()[0].1 < Duration::from_secs(2), "waited\n{out}");
        assert!(dead.count() >= 1, "the first of the group was asked first");
        assert_eq!(corp.count_for("db.corp.example", qtype::A), 1);
    });
}

fn a_dead_domain_group_does_not_starve_the_public_candidates() {
    // Default deadline 5 s x 2: the dead group may take half of what is left.
    let resolv =
        "nameserver 127.0.0.2\nsearch corp.example example.com\noptions timeout:2 attempts:1\n";
    with_module(resolv, |sb| {
        let public = start(DEFAULT, public_zone());
        let _dead =
            ScriptedServer::start_with(CORP.parse().unwrap(), corp_zone(), Behaviour::Blackhole)
                .unwrap();
        let c = conf(sb, "rustcache.conf", "server=/corp.example/127.0.0.5\n");
        let out = probe(sb, &c, &["time gai www inet"]);
        assert_results(&out, &[&v4("192.0.2.1")]);
        assert!(out.timings()[0].1 < Duration::from_millis(1900), "\n{out}");
        assert_eq!(public.count_for("www.example.com", qtype::A), 1);
    });
}

fn a_reverse_zone_routes_getnameinfo_and_gethostbyaddr() {
    with_module(RESOLV, |sb| {
        let public = start(
            DEFAULT,
            public_zone().ptr_for(IpAddr::V6(WWW_V6), 300, "www.example.com"),
        );
        let _corp = start(CORP, corp_zone());
        let c = conf(
            sb,
            "rustcache.conf",
            "server=/2.0.192.in-addr.arpa/127.0.0.5\nserver=/8.b.d.0.1.0.0.2.ip6.arpa/127.0.0.5\n",
        );
        let out = probe(
            sb,
            &c,
            &["gni 192.0.2.1", "ghba 192.0.2.1", "gni 2001:db8::1"],
        );
        assert_results(
            &out,
            &[
                "ok host=www.corp.example",
                "ok name=www.corp.example aliases= type=inet addrs=192.0.2.1",
                "ok host=www6.corp.example",
            ],
        );
        assert_eq!(public.count(), 0);
    });
}

fn local_answers_need_no_query() {
    with_module(RESOLV, |sb| {
        let public = start(DEFAULT, public_zone());
        let c = conf(
            sb,
            "rustcache.conf",
            "address=/lan.example/192.168.1.10\naddress=/lan.example/192.168.1.11\n\
             address=/lan.example/fd00::10\naddress=/v6.example/fd00::6\naddress=/ads.example/\n",
        );
        let out = probe(
            sb,
            &c,
            &[
                "gai lan.example inet",
                "gai host.sub.lan.example inet6",
                "gai v6.example inet",
                "gai ads.example unspec",
                "gai tracker.ads.example unspec",
                "ghbn lan.example",
            ],
        );
        assert_results(
            &out,
            &[
                "ok addrs=inet:192.168.1.10,inet:192.168.1.11",
                "ok addrs=inet6:fd00::10",
                "err EAI_NODATA",
                "err EAI_NONAME",
                "err EAI_NONAME",
                "ok name=lan.example aliases= type=inet addrs=192.168.1.10,192.168.1.11",
            ],
        );
        assert_eq!(public.count(), 0);
    });
}

fn stop_dns_rebind_refuses_private_answers_uncached_and_counts_them() {
    with_module(RESOLV, |sb| {
        let public = start(DEFAULT, public_zone());
        let c = conf(sb, "rustcache.conf", "stop-dns-rebind\n");
        let ops = [
            "gai priv.example.com inet",
            "gai lo.example.com inet",
            "gai www.example.com inet",
        ];
        let expected = ["err EAI_NONAME", "err EAI_NONAME", &v4("192.0.2.1")];
        assert_results(&probe(sb, &c, &ops), &expected);
        assert_results(&probe(sb, &c, &ops), &expected);
        // Refused answers were not cached: asked again; the good one was.
        assert_eq!(public.count_for("priv.example.com", qtype::A), 2);
        assert_eq!(public.count_for("www.example.com", qtype::A), 1);
        let stats = sb
            .command(crate::common::rustcache_cli())
            .arg("stats")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&stats.stdout);
        let refused = text
            .lines()
            .find_map(|l| l.strip_prefix("rebind_refused"))
            .map(str::trim);
        assert_eq!(
            refused,
            Some("4"),
            "two processes, two refused each:\n{text}"
        );
    });
}

fn rebind_localhost_ok_and_rebind_domain_ok_let_answers_through() {
    with_module(RESOLV, |sb| {
        let _public = start(DEFAULT, public_zone());
        let c = conf(
            sb,
            "rustcache.conf",
            "stop-dns-rebind\nrebind-localhost-ok\nrebind-domain-ok=/priv.example.com/\n",
        );
        let out = probe(
            sb,
            &c,
            &["gai lo.example.com inet", "gai priv.example.com inet"],
        );
        assert_results(&out, &[&v4("127.0.0.1"), &v4("10.0.0.1")]);
    });
}

fn bogus_priv_answers_private_reverse_lookups_without_a_query() {
    with_module(RESOLV, |sb| {
        let public = start(DEFAULT, public_zone());
        let corp = start(CORP, corp_zone());
        let plain = conf(sb, "plain.conf", "bogus-priv\n");
        let out = probe(sb, &plain, &["gni 10.1.2.3 nofqdn", "gni 192.0.2.1"]);
        assert_eq!(out.results()[1], "ok host=www.example.com", "\n{out}");
        assert_ne!(
            out.results()[0],
            "ok host=public-view.example.com",
            "\n{out}"
        );
        assert_eq!(public.count_for("3.2.1.10.in-addr.arpa", qtype::PTR), 0);
        let routed = conf(
            sb,
            "routed.conf",
            "bogus-priv\nserver=/10.in-addr.arpa/127.0.0.5\n",
        );
        let out = probe(sb, &routed, &["gni 10.1.2.3"]);
        assert_results(&out, &["ok host=db3.corp.example"]);
        assert_eq!(corp.count_for("3.2.1.10.in-addr.arpa", qtype::PTR), 1);
        // Named with `#`: the default servers are asked after all.
        let default = conf(
            sb,
            "default.conf",
            "bogus-priv\nserver=/10.in-addr.arpa/#\n",
        );
        let out = probe(sb, &default, &["gni 10.1.2.3"]);
        assert_results(&out, &["ok host=public-view.example.com"]);
        assert_eq!(public.count_for("3.2.1.10.in-addr.arpa", qtype::PTR), 1);
    });
}

fn domain_needed_never_sends_a_bare_label() {
    let resolv = "nameserver 127.0.0.2\nsearch example.com\noptions timeout:1 attempts:1\n";
    with_module(resolv, |sb| {
        let public = start(DEFAULT, public_zone());
        let c = conf(sb, "rustcache.conf", "domain-needed\n");
        let out = probe(sb, &c, &["gai tld inet", "gai www inet", "gai tld. inet"]);
        assert_results(
            &out,
            &["err EAI_NONAME", &v4("192.0.2.1"), "err EAI_NONAME"],
        );
        assert_eq!(public.count_for("tld", qtype::A), 0);
        assert_eq!(
            public.count_for("tld.example.com", qtype::A),
            1,
            "expansions still go"
        );
    });
}

/// `rustcache stats`'s line for `server`.
fn stats_line(sb: &Sandbox, server: &str) -> String {
    let out = sb
        .command(crate::common::rustcache_cli())
        .arg("stats")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find(|l| l.starts_with(&format!("server {server}:53 ")))
        .unwrap_or_else(|| panic!("no line for {server}:\n{text}"))
        .to_owned()
}

/// The peak packets per second a stats line shows.
fn peak(line: &str) -> u32 {
    let before = line
        .strip_suffix(" peak")
        .unwrap_or_else(|| panic!("{line}"));
    before.rsplit(' ').next().unwrap().parse().unwrap()
}

fn stats_shows_packets_per_second_for_default_and_routed_servers() {
    with_module(RESOLV, |sb| {
        let public = start(DEFAULT, public_zone());
        let _corp = start(CORP, corp_zone());
        let c = conf(sb, "rustcache.conf", "server=/corp.example/127.0.0.5\n");
        sb.env("RUSTCACHE_CONF", &c);
        let names: Vec<String> = (0..60)
            .map(|i| format!("gai h{i}.example.com inet"))
            .collect();
        let mut ops: Vec<&str> = names.iter().map(String::as_str).collect();
        ops.push("gai db.corp.example inet");
        let out = sb.probe(&ops);
        assert_eq!(out.results().len(), 61, "\n{out}");
        assert_eq!(public.count(), 60);
        // 60 one-packet lookups take well under the three seconds that would
        // spread them below 20 a second.
        let line = stats_line(sb, DEFAULT);
        assert!(peak(&line) >= 20, "{line}");
        assert!(peak(&stats_line(sb, CORP)) >= 1);
    });
}
