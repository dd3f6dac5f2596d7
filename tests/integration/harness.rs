// The test kit itself, checked against glibc's own `dns` module (hosts: dns): sandbox, scripted upstream, probe.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use libtest_mimic::Trial;
use rustcache_testkit::dns::{qtype, Behaviour, ScriptedServer, Transport, Zone, POISON_V4};
use rustcache_testkit::ns::{ProbeOutput, Sandbox};

pub fn tests() -> Vec<Trial> {
    trials![
        getaddrinfo_returns_aaaa_then_a_from_the_upstream,
        nxdomain_is_eai_noname_and_nodata_is_eai_nodata,
        cname_chain_gives_canonical_name_and_aliases,
        question_case_is_kept_end_to_end,
        truncated_answers_are_retried_over_tcp,
        ptr_lookups_through_gethostbyaddr_and_getnameinfo,
        blackholed_first_server_costs_one_timeout_then_second_answers,
        servfail_and_refused_are_eai_again,
        mismatched_replies_are_ignored,
        direct_calls_decode_glibcs_own_dns_module,
        probe_output_is_identical_across_runs,
        concurrent_probes_each_get_an_answer,
    ]
}

const V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

fn zone() -> Zone {
    let mut z = Zone::new()
        .soa("example.com", 60)
        .a("www.example.com", 300, V4)
        .aaaa("www.example.com", 300, V6)
        .a("v4only.example.com", 300, Ipv4Addr::new(192, 0, 2, 4))
        .cname("alias.example.com", 300, "mid.example.com")
        .cname("mid.example.com", 300, "www.example.com")
        .ptr_for(IpAddr::V4(V4), 300, "www.example.com")
        .ptr_for(IpAddr::V6(V6), 300, "www.example.com");
    for i in 0..40u8 {
        z = z
            .a("big.example.com", 60, Ipv4Addr::new(198, 51, 100, i))
            .aaaa(
                "big.example.com",
                60,
                Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, u16::from(i)),
            );
    }
    z
}

/// A sandbox with the zone on 127.0.0.2 and `hosts: dns`.
fn with_glibc_dns<R: Send>(f: impl FnOnce(&Sandbox, &ScriptedServer) -> R + Send) -> R {
    Sandbox::with_upstream(zone(), |sb, server| {
        sb.write_nsswitch("dns");
        f(sb, server)
    })
}

#[track_caller]
fn assert_results(out: &ProbeOutput, expected: &[&str]) {
    assert_eq!(out.results(), expected, "\n{out}");
}

fn getaddrinfo_returns_aaaa_then_a_from_the_upstream() {
    with_glibc_dns(|sb, server| {
        let out = sb.probe(&[
            "gai www.example.com unspec",
            "gai www.example.com inet",
            "ghbn2 www.example.com inet6",
        ]);
        assert_results(
            &out,
            &[
                // glibc's RFC 6724 sort puts IPv6 first in a namespace that only has lo.
                "ok addrs=inet6:2001:db8::1,inet:192.0.2.1",
                "ok addrs=inet:192.0.2.1",
                "ok name=www.example.com aliases= type=inet6 addrs=2001:db8::1",
            ],
        );
        assert_eq!(server.count_for("www.example.com", qtype::A), 2);
        assert_eq!(server.count_for("www.example.com", qtype::AAAA), 2);
        assert_eq!(server.count_transport(Transport::Tcp), 0);
        assert!(server.queries().iter().all(|q| q.edns_payload.is_none()));
    });
}

fn nxdomain_is_eai_noname_and_nodata_is_eai_nodata() {
    with_glibc_dns(|sb, _| {
        let out = sb.probe(&[
            "gai nope.example.com unspec",
            "ghbn nope.example.com",
            "gai v4only.example.com inet6",
            "ghbn2 v4only.example.com inet6",
            "gai v4only.example.com unspec",
        ]);
        assert_results(
            &out,
            &[
                "err EAI_NONAME",
                "herr HOST_NOT_FOUND",
                "err EAI_NODATA",
                "herr NO_DATA",
                "ok addrs=inet:192.0.2.4",
            ],
        );
    });
}

fn cname_chain_gives_canonical_name_and_aliases() {
    with_glibc_dns(|sb, _| {
        let out = sb.probe(&[
            "gai alias.example.com unspec canon",
            "ghbn alias.example.com",
        ]);
        assert_results(
            &out,
            &[
                "ok canon=www.example.com addrs=inet6:2001:db8::1,inet:192.0.2.1",
                "ok name=www.example.com aliases=alias.example.com,mid.example.com type=inet addrs=192.0.2.1",
            ],
        );
    });
}

fn question_case_is_kept_end_to_end() {
    with_glibc_dns(|sb, server| {
        let out = sb.probe(&["gai WwW.ExAmple.COM inet canon"]);
        // glibc does no 0x20 randomisation: the upstream sees the application's
        // spelling, and the canonical name is the answer's owner, spelled as asked.
        assert_results(&out, &["ok canon=WwW.ExAmple.COM addrs=inet:192.0.2.1"]);
        let names: Vec<String> = server.queries().into_iter().map(|q| q.name).collect();
        assert_eq!(names, ["WwW.ExAmple.COM"]);
    });
}

fn truncated_answers_are_retried_over_tcp() {
    with_glibc_dns(|sb, server| {
        let out = sb
            .probe(&["gai big.example.com unspec"])
            .expect_ok()
            .clone();
        let addrs = out
            .result(0)
            .trim_start_matches("ok addrs=")
            .split(',')
            .count();
        assert_eq!(addrs, 80, "\n{out}");
        let log: Vec<(Transport, u16)> = server
            .queries()
            .into_iter()
            .map(|q| (q.transport, q.qtype))
            .collect();
        // Both queries go out over UDP, come back with TC=1, and are repeated over one
        // TCP connection. glibc then finds its 1 KiB buffer too small for 80 addresses
        // and, on each doubling, asks the upstream again from scratch: three rounds.
        // (The UDP and TCP listeners log on their own threads, so only counts are
        // compared, not the interleaving.)
        for kind in [
            (Transport::Udp, qtype::A),
            (Transport::Udp, qtype::AAAA),
            (Transport::Tcp, qtype::A),
            (Transport::Tcp, qtype::AAAA),
        ] {
            assert_eq!(
                log.iter().filter(|q| **q == kind).count(),
                3,
                "{kind:?} in {log:?}"
            );
        }
        assert_eq!(log.len(), 12, "{log:?}");

        server.clear_log();
        server.set_behaviour(Behaviour::Truncate);
        let out = sb.probe(&["gai www.example.com inet"]);
        assert_results(&out, &["ok addrs=inet:192.0.2.1"]);
        assert_eq!(server.count_transport(Transport::Tcp), 1);
    });
}

fn ptr_lookups_through_gethostbyaddr_and_getnameinfo() {
    with_glibc_dns(|sb, server| {
        let out = sb.probe(&[
            "ghba 192.0.2.1",
            "ghba 2001:db8::1",
            "gni 192.0.2.1",
            "gni 2001:db8::1",
            "ghba 192.0.2.99",
            "gni 192.0.2.99",
        ]);
        assert_results(
            &out,
            &[
                "ok name=www.example.com aliases= type=inet addrs=192.0.2.1",
                "ok name=www.example.com aliases= type=inet6 addrs=2001:db8::1",
                "ok host=www.example.com",
                "ok host=www.example.com",
                "herr HOST_NOT_FOUND",
                "err EAI_NONAME",
            ],
        );
        assert_eq!(server.count_for("1.2.0.192.in-addr.arpa", qtype::PTR), 2);
        let v6_reverse = rustcache_testkit::dns::reverse_name(IpAddr::V6(V6));
        assert_eq!(server.count_for(&v6_reverse, qtype::PTR), 2);
    });
}

fn blackholed_first_server_costs_one_timeout_then_second_answers() {
    Sandbox::run(|sb| {
        let dead =
            ScriptedServer::start_with("127.0.0.2".parse().unwrap(), zone(), Behaviour::Blackhole)
                .unwrap();
        let live = ScriptedServer::start("127.0.0.3".parse().unwrap(), zone()).unwrap();
        sb.write_resolv_conf(
            "nameserver 127.0.0.2\nnameserver 127.0.0.3\noptions timeout:1 attempts:1\n",
        );
        sb.write_nsswitch("dns");
        let out = sb.probe(&["gai www.example.com inet"]);
        assert_results(&out, &["ok addrs=inet:192.0.2.1"]);
        assert_eq!(dead.count(), 1, "the first server was asked");
        assert_eq!(live.count(), 1, "then the second");
        // The whole point of rustcache: glibc waits out the timeout on every lookup.
        assert!(out.elapsed >= Duration::from_millis(950), "{out}");
    });
}

fn servfail_and_refused_are_eai_again() {
    with_glibc_dns(|sb, server| {
        let ops = ["gai www.example.com unspec", "ghbn www.example.com"];
        server.set_behaviour(Behaviour::ServFail);
        assert_results(
            &sb.probe(&ops),
            &["err EAI_AGAIN", "herr TRY_AGAIN ret=EAGAIN"],
        );
        server.set_behaviour(Behaviour::Refused);
        assert_results(
            &sb.probe(&ops),
            &["err EAI_AGAIN", "herr TRY_AGAIN ret=EAGAIN"],
        );
    });
}

fn mismatched_replies_are_ignored() {
    with_glibc_dns(|sb, server| {
        for b in [
            Behaviour::WrongIdThenAnswer,
            Behaviour::WrongQuestionThenAnswer,
        ] {
            server.set_behaviour(b);
            let out = sb.probe(&["gai www.example.com inet"]);
            assert_results(&out, &["ok addrs=inet:192.0.2.1"]);
            assert!(!out.stdout.contains(&POISON_V4.to_string()));
        }
        server.set_behaviour(Behaviour::WrongIdOnly);
        let out = sb.probe(&["gai www.example.com inet"]);
        assert_results(&out, &["err EAI_AGAIN"]);
        assert!(
            out.elapsed >= Duration::from_millis(950),
            "waited for a good reply\n{out}"
        );
    });
}

fn direct_calls_decode_glibcs_own_dns_module() {
    with_glibc_dns(|sb, _| {
        sb.env("RUSTCACHE_PROBE_MODULE", "dns");
        let out = sb.probe(&[
            "nss4 www.example.com 8",
            "nssloop4 www.example.com",
            "nss4 www.example.com 4096 off=3 nottl",
            "nss4 nope.example.com 4096",
            "nss3 alias.example.com inet 4096",
            "nss2 www.example.com inet6 4096",
            "nss1 www.example.com 4096",
            "nssaddr2 192.0.2.1 4096",
            "nssaddr 2001:db8::1 4096",
            "nssaddr 192.0.2.99 4096",
        ]);
        assert_results(
            &out,
            &[
                "status=TRYAGAIN errno=ERANGE herr=NETDB_INTERNAL ttl=300 untouched=yes",
                "status=SUCCESS errno=unset herr=NETDB_SUCCESS ttl=300 aligned=yes overflow=no \
                 tuples=www.example.com/inet:192.0.2.1,(null)/inet6:2001:db8::1 calls=8 buflen=128",
                "status=SUCCESS errno=unset herr=NETDB_SUCCESS ttl=null aligned=yes overflow=no \
                 tuples=www.example.com/inet:192.0.2.1,(null)/inet6:2001:db8::1",
                "status=NOTFOUND errno=unset herr=HOST_NOT_FOUND ttl=unset untouched=yes",
                "status=SUCCESS errno=unset herr=NETDB_SUCCESS ttl=300 canon=www.example.com \
                 aligned=yes overflow=no name=www.example.com \
                 aliases=alias.example.com,mid.example.com type=inet addrs=192.0.2.1",
                "status=SUCCESS errno=unset herr=NETDB_SUCCESS ttl=n/a aligned=yes overflow=no \
                 name=www.example.com aliases= type=inet6 addrs=2001:db8::1",
                "status=SUCCESS errno=unset herr=NETDB_SUCCESS ttl=n/a aligned=yes overflow=no \
                 name=www.example.com aliases= type=inet addrs=192.0.2.1",
                "status=SUCCESS errno=unset herr=NETDB_SUCCESS ttl=300 aligned=yes overflow=no \
                 name=www.example.com aliases= type=inet addrs=192.0.2.1",
                "status=SUCCESS errno=unset herr=NETDB_SUCCESS ttl=n/a aligned=yes overflow=no \
                 name=www.example.com aliases= type=inet6 addrs=2001:db8::1",
                "status=NOTFOUND errno=unset herr=HOST_NOT_FOUND ttl=n/a untouched=yes",
            ],
        );
    });
}

fn probe_output_is_identical_across_runs() {
    with_glibc_dns(|sb, _| {
        let ops = [
            "gai alias.example.com unspec canon",
            "gai big.example.com unspec",
            "ghbn alias.example.com",
            "ghba 2001:db8::1",
            "gni 192.0.2.1",
            "gai nope.example.com unspec",
        ];
        let first = sb.probe(&ops);
        first.expect_ok();
        let second = sb.probe(&ops);
        assert_eq!(first.stdout, second.stdout);
    });
}

fn concurrent_probes_each_get_an_answer() {
    with_glibc_dns(|sb, server| {
        let outs = sb.probe_many(8, &["gai www.example.com unspec"]);
        for out in &outs {
            assert_results(out, &["ok addrs=inet6:2001:db8::1,inet:192.0.2.1"]);
        }
        assert_eq!(server.count(), 16, "no cache: A and AAAA per process");
    });
}
