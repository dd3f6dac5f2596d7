// Upstream queries through glibc with `hosts: rustcache`: hedging, failover, TCP fallback, reply checks, EDNS0, IDs and ports, deadlines, resolv.conf reloads, query budget, descriptors, silence.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::process::CommandExt;
use std::time::Duration;

use crate::common::{with_module, WWW_BOTH, WWW_V4 as V4, WWW_V6 as V6};
use libtest_mimic::Trial;
use rustcache_testkit::dns::{
    qtype, Behaviour, LoggedQuery, ScriptedServer, Transport, Zone, POISON_V4, POISON_V6,
};
use rustcache_testkit::ns::{ProbeOutput, Sandbox};

pub fn tests() -> Vec<Trial> {
    trials![
        blackholed_first_server_is_passed_over_long_before_the_timeout,
        a_process_stops_asking_a_server_it_found_dead,
        a_recovered_server_is_probed_once_and_then_preferred_again,
        servfail_moves_to_the_next_server_at_once_asking_the_first_once,
        refused_moves_to_the_next_server_at_once_asking_the_first_once,
        icmp_unreachable_moves_to_the_next_server_at_once,
        an_unreachable_server_is_not_waited_for_even_when_it_was_slow,
        truncated_udp_answers_are_asked_again_over_tcp_and_come_back_whole,
        a_server_whose_tcp_never_answers_does_not_hold_up_the_others,
        answers_larger_than_the_edns_payload_come_back_whole_over_tcp,
        replies_with_a_wrong_id_or_question_are_ignored,
        only_wrong_replies_end_in_eai_again_at_the_deadline,
        a_and_aaaa_sharing_one_query_id_both_get_their_answers,
        queries_advertise_edns0_with_a_1232_byte_payload,
        a_and_aaaa_are_in_flight_together,
        query_ids_and_source_ports_vary,
        silent_servers_give_eai_again_and_try_again_within_the_deadline,
        an_ipv6_nameserver_is_used,
        a_running_process_follows_a_changed_resolv_conf,
        steady_state_costs_at_most_five_percent_extra_queries,
        a_second_healthy_server_is_never_asked,
        no_descriptor_outlives_a_lookup,
        lookups_work_with_only_two_descriptors_left,
        nothing_is_printed,
    ]
}

/// Default resolv.conf options (timeout 5 s, attempts 2): a lookup that waits for a
/// timeout shows.
const TWO_SERVERS_DEFAULT_TIMEOUT: &str = "nameserver 127.0.0.2\nnameserver 127.0.0.3\n";
/// Generous upper bound for "did not wait for a timeout" (the timeout being 5 s).
const NO_WAITING: Duration = Duration::from_secs(2);
/// Slack allowed past a lookup's deadline (process scheduling on a loaded host).
const DEADLINE_SLACK: Duration = Duration::from_millis(1500);
/// Names with one A and one AAAA each: `h0.example.com` ... .
const MANY: usize = 200;

/// `www` (one A, one AAAA), `big` (40 A + 40 AAAA: fits 1232 bytes), `huge` (100 AAAA:
/// does not), `v4only`, a PTR for `V4`, and `h0` ... `h199` with one A and one AAAA each.
fn zone() -> Zone {
    zone_with_www(V4, V6)
}

fn zone_with_www(v4: Ipv4Addr, v6: Ipv6Addr) -> Zone {
    let mut z = Zone::new()
        .soa("example.com", 60)
        .a("www.example.com", 300, v4)
        .aaaa("www.example.com", 300, v6)
        .a("v4only.example.com", 300, Ipv4Addr::new(192, 0, 2, 4))
        .ptr_for(IpAddr::V4(V4), 300, "www.example.com");
    for i in 0..40u8 {
        z = z
            .a("big.example.com", 60, Ipv4Addr::new(198, 51, 100, i))
            .aaaa("big.example.com", 60, big_v6(u16::from(i)));
    }
    for i in 0..100u16 {
        z = z.aaaa("huge.example.com", 60, big_v6(i));
    }
    for i in 0..MANY {
        let [hi, lo] = u16::try_from(i).unwrap().to_be_bytes();
        z = z
            .a(&many(i), 300, Ipv4Addr::new(203, 0, hi, lo))
            .aaaa(&many(i), 300, many_v6(i));
    }
    z
}

fn many_v6(i: usize) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, u16::try_from(i).unwrap())
}

fn big_v6(i: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, i)
}

/// The i-th of the many one-address names.
fn many(i: usize) -> String {
    format!("h{i}.example.com")
}

/// A scripted server on `addr` port 53 serving [`zone`].
fn server(addr: &str, behaviour: Behaviour) -> ScriptedServer {
    ScriptedServer::start_with(addr.parse().unwrap(), zone(), behaviour)
        .unwrap_or_else(|e| panic!("cannot start a server on {addr}: {e}"))
}

#[track_caller]
fn assert_results(out: &ProbeOutput, expected: &[&str]) {
    assert_eq!(out.results(), expected, "\n{out}");
}

/// How long the `i`-th `time`-prefixed operation of a probe took.
#[track_caller]
fn took(out: &ProbeOutput, i: usize) -> Duration {
    match out.timings().get(i) {
        Some((_, d)) => *d,
        None => panic!("no timing for operation {i}:\n{out}"),
    }
}

/// The log of `server`, one line per query, for failure messages.
fn log_text(server: &ScriptedServer) -> String {
    let lines: Vec<String> = server
        .queries()
        .iter()
        .map(LoggedQuery::to_string)
        .collect();
    lines.join("\n")
}

/// The addresses of a `gai` result line, in order.
fn addrs(result: &str) -> Vec<&str> {
    match result.strip_prefix("ok addrs=") {
        Some(list) => list.split(',').collect(),
        None => Vec::new(),
    }
}

fn blackholed_first_server_is_passed_over_long_before_the_timeout() {
    with_module(TWO_SERVERS_DEFAULT_TIMEOUT, |sb| {
        let dead = server("127.0.0.2", Behaviour::Blackhole);
        let live = server("127.0.0.3", Behaviour::Answer);
        let out = sb.probe(&["time gai www.example.com unspec"]);
        assert_results(&out, &[WWW_BOTH]);
        // glibc's dns module waits 5 s here on every lookup, for ever.
        assert!(took(&out, 0) < NO_WAITING, "waited for the timeout\n{out}");
        assert_eq!(
            dead.count(),
            2,
            "the first server is asked first (A and AAAA)"
        );
        assert_eq!(live.count(), 2, "then the second one answers both");
    });
}

fn a_process_stops_asking_a_server_it_found_dead() {
    with_module(TWO_SERVERS_DEFAULT_TIMEOUT, |sb| {
        let dead = server("127.0.0.2", Behaviour::Blackhole);
        let live = server("127.0.0.3", Behaviour::Answer);
        let ops: Vec<String> = std::iter::once("gai www.example.com unspec".to_string())
            .chain((0..10).map(|i| format!("gai {} unspec", many(i))))
            .collect();
        let ops: Vec<&str> = ops.iter().map(String::as_str).collect();
        let out = sb.probe(&ops);
        out.expect_ok();
        assert!(
            out.results().iter().all(|r| r.starts_with("ok addrs=")),
            "{out}"
        );
        let asked: Vec<String> = dead.queries().into_iter().map(|q| q.name).collect();
        assert_eq!(
            asked,
            ["www.example.com", "www.example.com"],
            "only the first lookup may meet the dead server\n{}",
            log_text(&dead)
        );
        assert_eq!(live.count(), 22, "{}", log_text(&live));
    });
}

fn a_recovered_server_is_probed_once_and_then_preferred_again() {
    with_module(TWO_SERVERS_DEFAULT_TIMEOUT, |sb| {
        let first = server("127.0.0.2", Behaviour::Blackhole);
        let second = server("127.0.0.3", Behaviour::Answer);
        // One process: meet the dead server, find it still down, then (the
        // test revives it during the sleep, past its 0.5 s down interval)
        // probe it with a copy of a real query, then prefer it again. The
        // second server answers 40 ms late from then on: the probe's grace
        // is as long as the answer took, and a grace of the 2 ms minimum
        // let a loaded 2-core CI host miss the revived server's reply.
        let ops = [
            "gai h0.example.com unspec",
            "gai h1.example.com unspec",
            "sleep 1500",
            "gai h2.example.com unspec",
            "gai h3.example.com unspec",
        ];
        let out = std::thread::scope(|scope| {
            let probe = scope.spawn(|| sb.probe(&ops));
            std::thread::sleep(Duration::from_millis(700));
            second.set_behaviour(Behaviour::Delay(Duration::from_millis(40)));
            first.set_behaviour(Behaviour::Answer);
            probe.join().unwrap()
        });
        out.expect_ok();
        let names = |s: &ScriptedServer| -> Vec<String> {
            let mut n: Vec<String> = s.queries().into_iter().map(|q| q.name).collect();
            n.dedup();
            n
        };
        assert_eq!(
            names(&first),
            [many(0), many(2), many(3)],
            "met, skipped while down, probed with h2, preferred for h3\n{}",
            log_text(&first)
        );
        assert_eq!(
            names(&second),
            [many(0), many(1), many(2)],
            "the second answers while the first is down and during the probe\n{}",
            log_text(&second)
        );
    });
}

/// The first server fails every question with `behaviour`; the second answers.
fn failing_first_server_hands_over_at_once(behaviour: Behaviour) {
    with_module(TWO_SERVERS_DEFAULT_TIMEOUT, |sb| {
        let failing = server("127.0.0.2", behaviour);
        let live = server("127.0.0.3", Behaviour::Answer);
        let out = sb.probe(&["time gai www.example.com unspec"]);
        assert_results(&out, &[WWW_BOTH]);
        assert!(
            took(&out, 0) < NO_WAITING,
            "waited after {behaviour}\n{out}"
        );
        for q in [qtype::A, qtype::AAAA] {
            assert_eq!(
                failing.count_for("www.example.com", q),
                1,
                "the failing server is asked each question once\n{}",
                log_text(&failing)
            );
            assert_eq!(
                live.count_for("www.example.com", q),
                1,
                "{}",
                log_text(&live)
            );
        }
    });
}

fn servfail_moves_to_the_next_server_at_once_asking_the_first_once() {
    failing_first_server_hands_over_at_once(Behaviour::ServFail);
}

fn refused_moves_to_the_next_server_at_once_asking_the_first_once() {
    failing_first_server_hands_over_at_once(Behaviour::Refused);
}

fn icmp_unreachable_moves_to_the_next_server_at_once() {
    with_module(TWO_SERVERS_DEFAULT_TIMEOUT, |sb| {
        // Nothing listens on 127.0.0.2: the kernel answers port unreachable.
        let live = server("127.0.0.3", Behaviour::Answer);
        let out = sb.probe(&[
            "time gai www.example.com unspec",
            "time gai v4only.example.com inet",
        ]);
        assert_results(&out, &[WWW_BOTH, "ok addrs=inet:192.0.2.4"]);
        for i in 0..2 {
            assert!(
                took(&out, i) < NO_WAITING,
                "waited on an unreachable server\n{out}"
            );
        }
        assert_eq!(live.count(), 3, "{}", log_text(&live));
    });
}

fn an_unreachable_server_is_not_waited_for_even_when_it_was_slow() {
    with_module(TWO_SERVERS_DEFAULT_TIMEOUT, |sb| {
        // First the process learns that 127.0.0.2 answers, slowly: its hedge delay grows
        // to the 1 s cap. 127.0.0.3 says nothing yet (it is asked after 40 ms and left
        // suspect).
        let slow = server("127.0.0.2", Behaviour::Delay(Duration::from_millis(600)));
        let second = server("127.0.0.3", Behaviour::Blackhole);
        let out = std::thread::scope(|scope| {
            let probe = scope.spawn(|| {
                sb.probe(&[
                    "gai www.example.com unspec",
                    "sleep 1500",
                    "time gai www.example.com unspec",
                ])
            });
            assert!(
                slow.wait_for_count(2, Duration::from_secs(10)),
                "never asked"
            );
            // Once its delayed answers are out, 127.0.0.2 goes away (the kernel answers
            // port unreachable) and 127.0.0.3 starts answering.
            std::thread::sleep(Duration::from_millis(900));
            drop(slow);
            second.set_behaviour(Behaviour::Answer);
            probe.join().unwrap()
        });
        assert_results(&out, &[WWW_BOTH, "ok", WWW_BOTH]);
        // Port unreachable is an answer: nothing is gained by waiting the 1 s hedge
        // delay of the server that sent it.
        assert!(
            took(&out, 0) < Duration::from_millis(500),
            "waited on an unreachable server\n{out}"
        );
    });
}

/// The set of addresses `big.example.com` has, as `gai` prints them.
fn big_addrs() -> HashSet<String> {
    (0..40u8)
        .map(|i| format!("inet:198.51.100.{i}"))
        .chain((0..40u16).map(|i| format!("inet6:{}", big_v6(i))))
        .collect()
}

fn truncated_udp_answers_are_asked_again_over_tcp_and_come_back_whole() {
    with_module(
        "nameserver 127.0.0.2\noptions timeout:1 attempts:1\n",
        |sb| {
            let truncating = server("127.0.0.2", Behaviour::Truncate);
            let out = sb.probe(&["gai big.example.com unspec"]);
            out.expect_ok();
            let got: Vec<&str> = addrs(out.result(0));
            assert_eq!(got.len(), 80, "\n{out}");
            let got: HashSet<String> = got.into_iter().map(str::to_string).collect();
            assert_eq!(got, big_addrs(), "\n{out}");
            // The server saw each question over UDP (answered TC=1), then over TCP: the
            // same server, as it is the only one. glibc may call the module again with
            // a larger buffer, so count pairs rather than exact numbers.
            let log = truncating.queries();
            let count = |t: Transport, q: u16| {
                log.iter()
                    .filter(|l| l.transport == t && l.is_for("big.example.com", q))
                    .count()
            };
            for q in [qtype::A, qtype::AAAA] {
                assert!(count(Transport::Tcp, q) >= 1, "{}", log_text(&truncating));
                assert_eq!(
                    count(Transport::Udp, q),
                    count(Transport::Tcp, q),
                    "each truncated UDP answer is asked again over TCP once\n{}",
                    log_text(&truncating)
                );
            }
        },
    );
}

/// Answers every UDP query on `socket` with its own question, TC=1 and no records,
/// until `stop` is set; returns how many it answered.
fn truncate_every_udp_query(
    socket: std::net::UdpSocket,
    stop: &std::sync::atomic::AtomicBool,
) -> usize {
    use std::sync::atomic::Ordering;
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut answered = 0;
    let mut buf = [0u8; 1500];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, peer)) = socket.recv_from(&mut buf) else {
            continue;
        };
        if n < 12 {
            continue;
        }
        let reply = &mut buf[..n];
        reply[2] |= 0x80 | 0x02; // QR, TC
        reply[3] = 0x80; // RA, NOERROR
        socket.send_to(reply, peer).unwrap();
        answered += 1;
    }
    answered
}

fn a_server_whose_tcp_never_answers_does_not_hold_up_the_others() {
    // Deadline: timeout 1 s x attempts 1; glibc's dns module gives up on the first
    // server's TCP after the timeout and asks the second in the next attempt.
    with_module(
        "nameserver 127.0.0.2\nnameserver 127.0.0.3\noptions timeout:1 attempts:1\n",
        |sb| {
            use std::sync::atomic::{AtomicBool, Ordering};
            // 127.0.0.2 truncates every UDP answer, and its TCP port takes connections
            // (the kernel completes them) and queries, and never answers.
            let tcp = std::net::TcpListener::bind(("127.0.0.2", 53)).unwrap();
            let stop = AtomicBool::new(false);
            let live = server("127.0.0.3", Behaviour::Answer);
            // Bound before the probe starts, so the first query finds it.
            let udp = std::net::UdpSocket::bind(("127.0.0.2", 53)).unwrap();
            let (out, truncated) = std::thread::scope(|scope| {
                let fake = scope.spawn(|| truncate_every_udp_query(udp, &stop));
                let out = sb.probe(&["gai www.example.com unspec"]);
                stop.store(true, Ordering::Relaxed);
                (out, fake.join().unwrap())
            });
            drop(tcp);
            assert!(truncated >= 1, "the first server was not asked");
            assert_results(&out, &[WWW_BOTH]);
            assert_eq!(live.count(), 2, "{}", log_text(&live));
        },
    );
}

fn answers_larger_than_the_edns_payload_come_back_whole_over_tcp() {
    with_module(
        "nameserver 127.0.0.2\noptions timeout:1 attempts:1\n",
        |sb| {
            // 100 AAAA records (about 2.9 KB) do not fit the 1232 bytes advertised: the
            // server sets TC=1 on its own.
            let upstream = server("127.0.0.2", Behaviour::Answer);
            let out = sb.probe(&["gai huge.example.com inet6"]);
            out.expect_ok();
            let got: HashSet<&str> = addrs(out.result(0)).into_iter().collect();
            let want: Vec<String> = (0..100u16)
                .map(|i| format!("inet6:{}", big_v6(i)))
                .collect();
            assert_eq!(got, want.iter().map(String::as_str).collect(), "\n{out}");
            assert!(
                upstream.count_transport(Transport::Tcp) >= 1,
                "{}",
                log_text(&upstream)
            );
        },
    );
}

fn replies_with_a_wrong_id_or_question_are_ignored() {
    with_module(
        "nameserver 127.0.0.2\noptions timeout:1 attempts:1\n",
        |sb| {
            let upstream = server("127.0.0.2", Behaviour::Answer);
            for b in [
                Behaviour::WrongIdThenAnswer,
                Behaviour::WrongQuestionThenAnswer,
            ] {
                upstream.set_behaviour(b);
                let out = sb.probe(&[
                    "gai www.example.com unspec",
                    "ghbn www.example.com",
                    "ghba 192.0.2.1",
                ]);
                assert_results(
                    &out,
                    &[
                        WWW_BOTH,
                        "ok name=www.example.com aliases= type=inet addrs=192.0.2.1",
                        "ok name=www.example.com aliases= type=inet addrs=192.0.2.1",
                    ],
                );
                assert!(!out.stdout.contains(&POISON_V4.to_string()), "{b}\n{out}");
                assert!(!out.stdout.contains(&POISON_V6.to_string()), "{b}\n{out}");
            }
        },
    );
}

fn only_wrong_replies_end_in_eai_again_at_the_deadline() {
    // Deadline: timeout 1 s x attempts 1.
    with_module(
        "nameserver 127.0.0.2\noptions timeout:1 attempts:1\n",
        |sb| {
            let upstream = server("127.0.0.2", Behaviour::Answer);
            for b in [Behaviour::WrongIdOnly, Behaviour::WrongQuestionOnly] {
                upstream.set_behaviour(b);
                let out = sb.probe(&["time gai www.example.com unspec"]);
                assert_results(&out, &["err EAI_AGAIN"]);
                assert!(
                    took(&out, 0) < Duration::from_secs(1) + DEADLINE_SLACK,
                    "{b}: past the deadline\n{out}"
                );
            }
        },
    );
}

/// A preload library whose `getrandom` fills the buffer with zeros: every query ID the
/// module draws is 0, as two random IDs are once in 65536 lookups.
fn zero_getrandom(sb: &Sandbox) -> std::path::PathBuf {
    crate::common::compile_c(
        sb,
        "zero-getrandom.so",
        "#include <string.h>\n#include <sys/types.h>\n\
         ssize_t getrandom(void *buf, size_t len, unsigned int flags) {\n\
         (void)flags; memset(buf, 0, len); return (ssize_t)len; }\n",
        &["-shared", "-fPIC"],
    )
}

fn a_and_aaaa_sharing_one_query_id_both_get_their_answers() {
    with_module(
        "nameserver 127.0.0.2\noptions timeout:1 attempts:1\n",
        |sb| {
            let upstream = server("127.0.0.2", Behaviour::Answer);
            sb.env("LD_PRELOAD", zero_getrandom(sb));
            let out = sb.probe(&["gai www.example.com unspec"]);
            let mut ids: Vec<u16> = upstream.queries().iter().map(|q| q.id).collect();
            ids.sort_unstable();
            // Both draws were 0 (the preload took); the module keeps the two
            // IDs of one server apart so each reply matches one question.
            assert_eq!(
                ids,
                [0, 1],
                "the preload did not take, or the IDs were not kept apart\n{}",
                log_text(&upstream)
            );
            assert_results(&out, &[WWW_BOTH]);
        },
    );
}

fn queries_advertise_edns0_with_a_1232_byte_payload() {
    with_module(
        "nameserver 127.0.0.2\noptions timeout:1 attempts:1\n",
        |sb| {
            let upstream = server("127.0.0.2", Behaviour::Answer);
            let out = sb.probe(&["gai www.example.com unspec", "ghba 192.0.2.1"]);
            out.expect_ok();
            let log = upstream.queries();
            assert_eq!(log.len(), 3, "A, AAAA and PTR\n{}", log_text(&upstream));
            for q in &log {
                assert_eq!(q.edns_payload, Some(1232), "{q}");
            }
        },
    );
}

fn a_and_aaaa_are_in_flight_together() {
    with_module(
        "nameserver 127.0.0.2\noptions timeout:5 attempts:1\n",
        |sb| {
            // Every answer leaves the server a second after its query arrived: if the
            // AAAA query arrives within that second, it was sent without waiting for
            // the A answer.
            let delay = Duration::from_secs(1);
            let upstream = server("127.0.0.2", Behaviour::Delay(delay));
            let out = sb.probe(&["gai www.example.com unspec"]);
            assert_results(&out, &[WWW_BOTH]);
            let log = upstream.queries();
            let first = |q: u16| {
                log.iter()
                    .find(|l| l.is_for("www.example.com", q))
                    .unwrap_or_else(|| panic!("type {q} never asked\n{}", log_text(&upstream)))
                    .at
            };
            let (a, aaaa) = (first(qtype::A), first(qtype::AAAA));
            let apart = if a > aaaa { a - aaaa } else { aaaa - a };
            assert!(
                apart < delay,
                "A and AAAA were asked {apart:?} apart\n{}",
                log_text(&upstream)
            );
        },
    );
}

fn query_ids_and_source_ports_vary() {
    with_module(
        "nameserver 127.0.0.2\noptions timeout:1 attempts:1\n",
        |sb| {
            let upstream = server("127.0.0.2", Behaviour::Answer);
            let lookups = 16;
            let ops: Vec<String> = (0..lookups)
                .map(|i| format!("gai {} unspec", many(i)))
                .collect();
            let ops: Vec<&str> = ops.iter().map(String::as_str).collect();
            sb.probe(&ops).expect_ok();
            let log = upstream.queries();
            assert_eq!(log.len(), 2 * lookups, "{}", log_text(&upstream));
            // 32 random 16-bit IDs collide about once in 130 runs; three collisions
            // would be a broken generator, not bad luck.
            let ids: Vec<u16> = log.iter().map(|q| q.id).collect();
            let distinct: HashSet<u16> = ids.iter().copied().collect();
            assert!(distinct.len() >= ids.len() - 2, "IDs repeat: {ids:?}");
            let steps: HashSet<u16> = ids.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
            assert!(steps.len() > 2, "IDs follow a sequence: {ids:?}");
            // A fresh socket per lookup gets a fresh ephemeral port from the kernel.
            let ports: HashSet<u16> = log.iter().map(|q| q.peer.port()).collect();
            assert!(
                ports.len() >= lookups - 2,
                "source ports are reused across lookups\n{}",
                log_text(&upstream)
            );
        },
    );
}

fn silent_servers_give_eai_again_and_try_again_within_the_deadline() {
    // Deadline: timeout 1 s x attempts 2.
    let deadline = Duration::from_secs(2);
    with_module(
        "nameserver 127.0.0.2\nnameserver 127.0.0.3\noptions timeout:1 attempts:2\n",
        |sb| {
            let first = server("127.0.0.2", Behaviour::Blackhole);
            let second = server("127.0.0.3", Behaviour::Blackhole);
            let out = sb.probe(&[
                "time gai www.example.com unspec",
                "time ghbn www.example.com",
            ]);
            assert_results(&out, &["err EAI_AGAIN", "herr TRY_AGAIN ret=EAGAIN"]);
            for i in 0..2 {
                assert!(
                    took(&out, i) < deadline + DEADLINE_SLACK,
                    "operation {i} ran past the deadline\n{out}"
                );
            }
            assert!(first.count() >= 1 && second.count() >= 1, "both were asked");
        },
    );
}

fn an_ipv6_nameserver_is_used() {
    with_module("nameserver ::1\noptions timeout:1 attempts:1\n", |sb| {
        let upstream = server("::1", Behaviour::Answer);
        let out = sb.probe(&["gai www.example.com unspec", "ghbn www.example.com"]);
        assert_results(
            &out,
            &[
                WWW_BOTH,
                "ok name=www.example.com aliases= type=inet addrs=192.0.2.1",
            ],
        );
        // A and AAAA; gethostbyname's A is then a cache hit.
        assert_eq!(upstream.count(), 2, "{}", log_text(&upstream));
        assert!(upstream.queries().iter().all(|q| q.peer.is_ipv6()));
    });
}

fn a_running_process_follows_a_changed_resolv_conf() {
    with_module(
        "nameserver 127.0.0.2\noptions timeout:1 attempts:1\n",
        |sb| {
            let old = server("127.0.0.2", Behaviour::Answer);
            let new = ScriptedServer::start(
                "127.0.0.3".parse().unwrap(),
                zone_with_www(
                    Ipv4Addr::new(192, 0, 2, 2),
                    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2),
                ),
            )
            .unwrap();
            let out = std::thread::scope(|scope| {
                let probe = scope.spawn(|| {
                    sb.probe(&[
                        "gai www.example.com unspec",
                        "sleep 1500",
                        "gai www.example.com unspec",
                    ])
                });
                // While the probe sleeps after its first lookup, point it elsewhere.
                assert!(
                    old.wait_for_count(2, Duration::from_secs(10)),
                    "the first lookup never reached the old server"
                );
                sb.write_resolv_conf("nameserver 127.0.0.3\noptions timeout:1 attempts:1\n");
                probe.join().unwrap()
            });
            assert_results(
                &out,
                &[WWW_BOTH, "ok", "ok addrs=inet6:2001:db8::2,inet:192.0.2.2"],
            );
            assert_eq!(old.count(), 2, "{}", log_text(&old));
            assert_eq!(new.count(), 2, "{}", log_text(&new));
        },
    );
}

/// `MANY` lookups of distinct names, each asking A and AAAA, in one probe.
fn many_distinct_lookups(sb: &Sandbox) {
    let ops: Vec<String> = (0..MANY)
        .map(|i| format!("gai {} unspec", many(i)))
        .collect();
    let ops: Vec<&str> = ops.iter().map(String::as_str).collect();
    let out = sb.probe(&ops);
    out.expect_ok();
    for (i, r) in out.results().iter().enumerate() {
        let [hi, lo] = u16::try_from(i).unwrap().to_be_bytes();
        let want = format!("ok addrs=inet6:{},inet:203.0.{hi}.{lo}", many_v6(i));
        assert_eq!(*r, want, "lookup {i}");
    }
}

fn steady_state_costs_at_most_five_percent_extra_queries() {
    with_module("nameserver 127.0.0.2\n", |sb| {
        let upstream = server("127.0.0.2", Behaviour::Answer);
        upstream.set_logging(false);
        many_distinct_lookups(sb);
        let needed = 2 * MANY;
        assert!(
            upstream.count() * 100 <= needed * 105,
            "{} queries for {needed} questions",
            upstream.count()
        );
    });
}

fn a_second_healthy_server_is_never_asked() {
    with_module("nameserver 127.0.0.2\nnameserver 127.0.0.3\n", |sb| {
        let first = server("127.0.0.2", Behaviour::Answer);
        let second = server("127.0.0.3", Behaviour::Answer);
        many_distinct_lookups(sb);
        if second.count() > 0 {
            // What the first server saw of the same names, to tell a slow answer from
            // one the client dropped.
            let hedged: HashSet<String> = second.queries().into_iter().map(|q| q.name).collect();
            let seen: Vec<String> = first
                .queries()
                .iter()
                .filter(|q| hedged.contains(&q.name))
                .map(LoggedQuery::to_string)
                .collect();
            panic!(
                "the second server was asked:\n{}\nthe first server saw:\n{}",
                log_text(&second),
                seen.join("\n")
            );
        }
        assert!(first.count() * 100 <= 2 * MANY * 105, "{}", first.count());
    });
}

fn no_descriptor_outlives_a_lookup() {
    with_module(
        "nameserver 127.0.0.2\nnameserver 127.0.0.3\noptions timeout:1 attempts:1\n",
        |sb| {
            let first = server("127.0.0.2", Behaviour::Answer);
            first.set_name_behaviour("big.example.com", Behaviour::Truncate);
            first.set_name_behaviour("v4only.example.com", Behaviour::ServFail);
            first.set_name_behaviour("h1.example.com", Behaviour::Blackhole);
            first.set_name_behaviour("h2.example.com", Behaviour::WrongIdOnly);
            let second = server("127.0.0.3", Behaviour::Blackhole);
            second.set_name_behaviour("v4only.example.com", Behaviour::Answer);
            let ops = [
                "fds",
                "gai www.example.com unspec",
                "gai big.example.com unspec",
                "gai v4only.example.com inet",
                "gai nope.example.com unspec",
                "gai h1.example.com unspec",
                "gai h2.example.com inet6",
                "ghbn www.example.com",
                "ghbn2 www.example.com inet6",
                "ghba 192.0.2.1",
                "gni 192.0.2.1",
                "fds",
            ];
            let out = sb.probe(&ops);
            out.expect_ok();
            let results = out.results();
            assert_eq!(results[1], WWW_BOTH, "{out}");
            assert_eq!(addrs(results[2]).len(), 80, "{out}");
            assert_eq!(results[3], "ok addrs=inet:192.0.2.4", "{out}");
            assert_eq!(results[4], "err EAI_NONAME", "{out}");
            assert_eq!(results[5], "err EAI_AGAIN", "{out}");
            assert_eq!(results[6], "err EAI_AGAIN", "{out}");
            assert!(results[0].starts_with("ok count="), "{out}");
            assert_eq!(
                results[0],
                results[ops.len() - 1],
                "descriptors left open by lookups\n{out}"
            );
        },
    );
}

fn lookups_work_with_only_two_descriptors_left() {
    /// stdin, stdout, stderr, and two more.
    const LIMIT: libc::rlim_t = 5;
    with_module(
        "nameserver 127.0.0.2\noptions timeout:1 attempts:1\n",
        |sb| {
            let _upstream = server("127.0.0.2", Behaviour::Answer);
            let ops = [
                "fds",
                "gai www.example.com unspec",
                "gai big.example.com unspec",
                "ghbn www.example.com",
                "ghba 192.0.2.1",
            ];
            let out = sb.probe_with(&ops, |cmd| {
                // SAFETY: setrlimit is async-signal-safe and touches no memory of the
                // parent; it runs in the child between fork and exec.
                unsafe {
                    cmd.pre_exec(|| {
                        let limit = libc::rlimit {
                            rlim_cur: LIMIT,
                            rlim_max: LIMIT,
                        };
                        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
            });
            out.expect_ok();
            let results = out.results();
            // Descriptors the probe inherited may sit above the limit; below it, only
            // 0, 1 and 2 are taken.
            let below_limit = results[0]
                .split_once(" fds=")
                .map_or("", |(_, list)| list)
                .split(',')
                .filter_map(|entry| entry.split_once('=')?.0.parse::<u32>().ok())
                .filter(|fd| *fd < LIMIT as u32)
                .count();
            assert_eq!(below_limit, 3, "{out}");
            assert_eq!(results[1], WWW_BOTH, "{out}");
            assert_eq!(addrs(results[2]).len(), 80, "{out}");
            assert_eq!(
                &results[3..],
                [
                    "ok name=www.example.com aliases= type=inet addrs=192.0.2.1",
                    "ok name=www.example.com aliases= type=inet addrs=192.0.2.1",
                ],
                "{out}"
            );
        },
    );
}

fn nothing_is_printed() {
    with_module(
        "nameserver 127.0.0.2\nnameserver 127.0.0.3\noptions timeout:1 attempts:1\n",
        |sb| {
            let first = server("127.0.0.2", Behaviour::Answer);
            first.set_name_behaviour("big.example.com", Behaviour::Truncate);
            first.set_name_behaviour("v4only.example.com", Behaviour::ServFail);
            first.set_name_behaviour("h1.example.com", Behaviour::WrongQuestionOnly);
            let _second = server("127.0.0.3", Behaviour::Refused);
            let ops = [
                "gai www.example.com unspec",
                "gai big.example.com unspec",
                "gai v4only.example.com inet",
                "gai nope.example.com unspec",
                "gai h1.example.com unspec",
                "gai bad..name unspec",
                "ghbn www.example.com",
                "ghba 192.0.2.99",
                "gni 192.0.2.1",
            ];
            let out = sb.probe(&ops);
            out.expect_ok();
            assert_eq!(out.stderr, "", "the module wrote to stderr\n{out}");
            assert_eq!(out.results()[0], WWW_BOTH, "{out}");
        },
    );
}
