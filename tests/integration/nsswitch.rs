// The documented hosts line: what rustcache answers is final, `dns` is reached only when rustcache cannot work.

use libtest_mimic::Trial;
use rustcache_testkit::dns::{Behaviour, ScriptedServer};
use rustcache_testkit::ns::Sandbox;

use crate::common::{assert_results, with_zone, zone, RESOLV_CONF};

pub fn tests() -> Vec<Trial> {
    trials![
        answers_of_every_kind_never_reach_dns,
        silent_upstreams_are_try_again_and_never_reach_dns,
        unusable_configuration_is_unavailable_and_dns_takes_over,
        bad_config_lines_are_ignored_and_lookups_keep_working,
    ]
}

const HOSTS_LINE: &str = "files rustcache [!UNAVAIL=return] dns";

/// glibc's own `dns` module sends queries without EDNS; rustcache always
/// advertises EDNS0. The log tells who asked.
fn queries_from_glibc_dns(server: &ScriptedServer) -> usize {
    server
        .queries()
        .iter()
        .filter(|q| q.edns_payload.is_none())
        .count()
}

fn answers_of_every_kind_never_reach_dns() {
    with_zone(HOSTS_LINE, |sb, server| {
        let out = sb.probe(&[
            "gai www.example.com unspec",
            "gai nope.example.com unspec",
            "gai v4only.example.com inet6",
            "ghbn nope.example.com",
            "ghbn2 v4only.example.com inet6",
            "ghba 192.0.2.99",
        ]);
        assert_results(
            &out,
            &[
                "ok addrs=inet6:2001:db8::1,inet:192.0.2.1",
                "err EAI_NONAME",
                "err EAI_NODATA",
                "herr HOST_NOT_FOUND",
                "herr NO_DATA",
                "herr HOST_NOT_FOUND",
            ],
        );
        assert!(server.count() > 0);
        assert_eq!(queries_from_glibc_dns(server), 0, "{:?}", server.queries());
    });
}

fn silent_upstreams_are_try_again_and_never_reach_dns() {
    with_zone(HOSTS_LINE, |sb, server| {
        server.set_behaviour(Behaviour::Blackhole);
        let out = sb.probe(&["gai www.example.com unspec", "ghbn www.example.com"]);
        assert_results(&out, &["err EAI_AGAIN", "herr TRY_AGAIN ret=EAGAIN"]);
        assert_eq!(queries_from_glibc_dns(server), 0, "{:?}", server.queries());
        // Same for SERVFAIL from every server.
        server.set_behaviour(Behaviour::ServFail);
        let out = sb.probe(&["gai www.example.com unspec"]);
        assert_results(&out, &["err EAI_AGAIN"]);
        assert_eq!(queries_from_glibc_dns(server), 0, "{:?}", server.queries());
    });
}

fn unusable_configuration_is_unavailable_and_dns_takes_over() {
    Sandbox::run(|sb| {
        let server = ScriptedServer::start("127.0.0.2".parse().unwrap(), zone()).unwrap();
        sb.write_resolv_conf(RESOLV_CONF);
        sb.write_nsswitch(HOSTS_LINE);
        // rustcache is told to use only a link-local server on an interface
        // that does not exist: no socket can reach it, so rustcache is
        // unavailable, and glibc's dns module (reading resolv.conf) answers.
        let conf = sb.write_file("rustcache.conf", "nameserver fe80::53%999\n");
        sb.env("RUSTCACHE_CONF", conf.to_str().unwrap());
        let out = sb.probe(&["gai www.example.com inet", "nss4 www.example.com 4096"]);
        assert_results(
            &out,
            &[
                "ok addrs=inet:192.0.2.1",
                "status=UNAVAIL errno=ENOENT herr=NO_RECOVERY ttl=unset untouched=yes",
            ],
        );
        assert!(queries_from_glibc_dns(&server) > 0, "dns answered");
        assert_eq!(
            server.count(),
            queries_from_glibc_dns(&server),
            "only dns asked"
        );
    });
}

fn bad_config_lines_are_ignored_and_lookups_keep_working() {
    Sandbox::run(|sb| {
        let _dead =
            ScriptedServer::start_with("127.0.0.2".parse().unwrap(), zone(), Behaviour::Blackhole)
                .unwrap();
        let live = ScriptedServer::start("127.0.0.3".parse().unwrap(), zone()).unwrap();
        sb.write_resolv_conf(RESOLV_CONF);
        sb.write_nsswitch("rustcache");
        // Two bad lines around a good override: the good one applies.
        let conf = sb.write_file(
            "rustcache.conf",
            "timeout soon\nnameserver 127.0.0.3\nfrobnicate yes\n",
        );
        sb.env("RUSTCACHE_CONF", conf.to_str().unwrap());
        let out = sb.probe(&["gai www.example.com inet"]);
        assert_results(&out, &["ok addrs=inet:192.0.2.1"]);
        assert_eq!(live.count(), 1);
    });
}
