//! Wire-level tests of the scripted server: real UDP and TCP sockets on loopback inside a
//! private network namespace, queries and replies encoded with hickory-proto.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

use super::{qtype, Behaviour, ScriptedServer, Transport, Zone, POISON_V4};
use crate::ns::Sandbox;

const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

fn zone() -> Zone {
    let mut z = Zone::new()
        .soa("example.com", 60)
        .a("www.example.com", 300, Ipv4Addr::new(192, 0, 2, 1))
        .aaaa("www.example.com", 300, "2001:db8::1".parse().unwrap())
        .cname("alias.example.com", 100, "Www.Example.com")
        .a("slow.example.com", 300, Ipv4Addr::new(192, 0, 2, 9));
    for i in 0..40u8 {
        z = z.a("big.example.com", 60, Ipv4Addr::new(198, 51, 100, i));
    }
    z
}

fn query(id: u16, name: &str, qt: RecordType, edns: Option<u16>) -> Vec<u8> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    let mut n = Name::from_ascii(name).unwrap();
    n.set_fqdn(true);
    msg.add_query(Query::query(n, qt));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        msg.set_edns(e);
    }
    msg.to_vec().unwrap()
}

/// Sends one datagram and collects every reply that arrives within `wait`.
fn udp(server: SocketAddr, packet: &[u8], wait: Duration) -> Vec<Message> {
    let bind: SocketAddr = if server.is_ipv4() {
        "127.0.0.1:0".parse().unwrap()
    } else {
        "[::1]:0".parse().unwrap()
    };
    let sock = UdpSocket::bind(bind).unwrap();
    sock.send_to(packet, server).unwrap();
    let deadline = Instant::now() + wait;
    let mut replies = Vec::new();
    let mut buf = [0u8; 65535];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return replies;
        }
        sock.set_read_timeout(Some(left)).unwrap();
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => replies.push(Message::from_vec(&buf[..n]).unwrap()),
            Err(_) => return replies,
        }
    }
}

fn udp_one(server: SocketAddr, packet: &[u8]) -> Message {
    let mut r = udp(server, packet, Duration::from_millis(300));
    assert_eq!(r.len(), 1, "expected exactly one reply");
    r.remove(0)
}

/// Writes all `packets` on one TCP connection (in one write), then reads `expect`
/// length-prefixed replies.
fn tcp(server: SocketAddr, packets: &[Vec<u8>], expect: usize) -> Vec<Message> {
    let mut s = TcpStream::connect(server).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut out = Vec::new();
    for p in packets {
        out.extend_from_slice(&(p.len() as u16).to_be_bytes());
        out.extend_from_slice(p);
    }
    s.write_all(&out).unwrap();
    let mut replies = Vec::new();
    for _ in 0..expect {
        let mut len = [0u8; 2];
        s.read_exact(&mut len).unwrap();
        let mut body = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut body).unwrap();
        replies.push(Message::from_vec(&body).unwrap());
    }
    replies
}

fn a_addrs(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            RData::AAAA(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn answers_echo_the_question_case_and_flags() {
    Sandbox::run(|_| {
        let s = ScriptedServer::start(SERVER, zone()).unwrap();
        let m = udp_one(s.addr(), &query(7, "wWw.ExAmple.COM", RecordType::A, None));
        assert_eq!(m.metadata.id, 7);
        assert_eq!(m.metadata.message_type, MessageType::Response);
        assert!(m.metadata.recursion_available && m.metadata.recursion_desired);
        assert_eq!(m.queries[0].name().to_ascii(), "wWw.ExAmple.COM.");
        assert_eq!(m.answers[0].name.to_ascii(), "wWw.ExAmple.COM.");
        assert_eq!(a_addrs(&m), ["192.0.2.1"]);
        assert!(m.edns.is_none());
        let m6 = udp_one(
            s.addr(),
            &query(8, "www.example.com", RecordType::AAAA, None),
        );
        assert_eq!(a_addrs(&m6), ["2001:db8::1"]);
    });
}

#[test]
fn cname_chain_then_records() {
    Sandbox::run(|_| {
        let s = ScriptedServer::start(SERVER, zone()).unwrap();
        let m = udp_one(
            s.addr(),
            &query(1, "ALIAS.example.com", RecordType::A, None),
        );
        let owners: Vec<String> = m.answers.iter().map(|r| r.name.to_ascii()).collect();
        assert_eq!(owners, ["ALIAS.example.com.", "Www.Example.com."]);
        assert!(matches!(m.answers[0].data, RData::CNAME(_)));
        assert_eq!(a_addrs(&m), ["192.0.2.1"]);
    });
}

#[test]
fn nxdomain_and_nodata_with_soa() {
    Sandbox::run(|_| {
        let s = ScriptedServer::start(SERVER, zone()).unwrap();
        let nx = udp_one(s.addr(), &query(1, "nope.example.com", RecordType::A, None));
        assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
        assert!(nx.answers.is_empty());
        assert_eq!(nx.authorities[0].record_type(), RecordType::SOA);
        let nodata = udp_one(
            s.addr(),
            &query(2, "slow.example.com", RecordType::AAAA, None),
        );
        assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
        assert!(nodata.answers.is_empty());
        assert_eq!(nodata.authorities[0].record_type(), RecordType::SOA);
    });
}

#[test]
fn udp_limit_edns_and_tcp_fallback() {
    Sandbox::run(|_| {
        let s = ScriptedServer::start(SERVER, zone()).unwrap();
        let plain = udp_one(s.addr(), &query(1, "big.example.com", RecordType::A, None));
        assert!(plain.metadata.truncation);
        assert!(plain.answers.is_empty());
        let edns = udp_one(
            s.addr(),
            &query(2, "big.example.com", RecordType::A, Some(1232)),
        );
        assert!(!edns.metadata.truncation);
        assert_eq!(edns.answers.len(), 40);
        assert!(edns.edns.is_some(), "OPT answered with OPT");
        let small = udp_one(
            s.addr(),
            &query(3, "big.example.com", RecordType::A, Some(600)),
        );
        assert!(
            small.metadata.truncation,
            "40 A records do not fit in 600 bytes"
        );
        // Two pipelined queries on one connection, both answered whole.
        let replies = tcp(
            s.addr(),
            &[
                query(4, "big.example.com", RecordType::A, None),
                query(5, "www.example.com", RecordType::AAAA, None),
            ],
            2,
        );
        assert_eq!(replies[0].metadata.id, 4);
        assert_eq!(replies[0].answers.len(), 40);
        assert!(!replies[0].metadata.truncation);
        assert_eq!(replies[1].metadata.id, 5);
        assert_eq!(a_addrs(&replies[1]), ["2001:db8::1"]);
        let log = s.queries();
        assert_eq!(log.len(), 5);
        assert_eq!(log[1].edns_payload, Some(1232));
        assert_eq!(log[0].edns_payload, None);
        assert_eq!(log[3].transport, Transport::Tcp);
        assert_eq!(s.count_transport(Transport::Tcp), 2);
        assert_eq!(s.count_transport(Transport::Udp), 3);
    });
}

#[test]
fn error_behaviours() {
    Sandbox::run(|_| {
        let s = ScriptedServer::start_with(SERVER, zone(), Behaviour::ServFail).unwrap();
        let m = udp_one(s.addr(), &query(1, "www.example.com", RecordType::A, None));
        assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
        assert!(m.answers.is_empty());
        s.set_behaviour(Behaviour::Refused);
        let m = udp_one(s.addr(), &query(2, "www.example.com", RecordType::A, None));
        assert_eq!(m.metadata.response_code, ResponseCode::Refused);
        s.set_behaviour(Behaviour::Blackhole);
        let none = udp(
            s.addr(),
            &query(3, "www.example.com", RecordType::A, None),
            Duration::from_millis(200),
        );
        assert!(none.is_empty());
        assert_eq!(s.count(), 3, "blackholed queries are still logged");
        s.set_behaviour(Behaviour::Answer);
        let m = udp_one(s.addr(), &query(4, "www.example.com", RecordType::A, None));
        assert_eq!(a_addrs(&m), ["192.0.2.1"]);
    });
}

#[test]
fn delay_does_not_block_other_queries() {
    Sandbox::run(|_| {
        let s = ScriptedServer::start(SERVER, zone()).unwrap();
        s.set_name_behaviour(
            "SLOW.example.com",
            Behaviour::Delay(Duration::from_millis(300)),
        );
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let started = Instant::now();
        sock.send_to(&query(1, "slow.example.com", RecordType::A, None), s.addr())
            .unwrap();
        sock.send_to(&query(2, "www.example.com", RecordType::A, None), s.addr())
            .unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = [0u8; 2048];
        let (n, _) = sock.recv_from(&mut buf).unwrap();
        let first = Message::from_vec(&buf[..n]).unwrap();
        assert_eq!(first.metadata.id, 2, "the undelayed answer comes first");
        assert!(started.elapsed() < Duration::from_millis(250));
        let (n, _) = sock.recv_from(&mut buf).unwrap();
        let second = Message::from_vec(&buf[..n]).unwrap();
        assert_eq!(second.metadata.id, 1);
        assert!(started.elapsed() >= Duration::from_millis(300));
        // Over TCP the delay applies too.
        let t = Instant::now();
        let r = tcp(
            s.addr(),
            &[query(3, "slow.example.com", RecordType::A, None)],
            1,
        );
        assert_eq!(a_addrs(&r[0]), ["192.0.2.9"]);
        assert!(t.elapsed() >= Duration::from_millis(300));
        assert_eq!(
            s.name_behaviours(),
            [(
                "slow.example.com".to_string(),
                Behaviour::Delay(Duration::from_millis(300))
            )]
        );
    });
}

#[test]
fn truncate_behaviour_forces_tcp() {
    Sandbox::run(|_| {
        let s = ScriptedServer::start_with(SERVER, zone(), Behaviour::Truncate).unwrap();
        let m = udp_one(
            s.addr(),
            &query(1, "www.example.com", RecordType::A, Some(1232)),
        );
        assert!(m.metadata.truncation);
        assert!(m.answers.is_empty());
        assert_eq!(m.queries.len(), 1);
        let r = tcp(
            s.addr(),
            &[query(2, "www.example.com", RecordType::A, None)],
            1,
        );
        assert!(!r[0].metadata.truncation);
        assert_eq!(a_addrs(&r[0]), ["192.0.2.1"]);
    });
}

#[test]
fn misbehaving_replies() {
    Sandbox::run(|_| {
        let s = ScriptedServer::start_with(SERVER, zone(), Behaviour::WrongIdThenAnswer).unwrap();
        let q = query(0x1111, "www.example.com", RecordType::A, None);
        let r = udp(s.addr(), &q, Duration::from_millis(300));
        assert_eq!(r.len(), 2);
        assert_ne!(r[0].metadata.id, 0x1111);
        assert_eq!(a_addrs(&r[0]), [POISON_V4.to_string()]);
        assert_eq!(r[1].metadata.id, 0x1111);
        assert_eq!(a_addrs(&r[1]), ["192.0.2.1"]);

        s.set_behaviour(Behaviour::WrongQuestionThenAnswer);
        let r = udp(s.addr(), &q, Duration::from_millis(300));
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].metadata.id, 0x1111);
        assert_eq!(r[0].queries[0].name().to_ascii(), "xww.example.com.");
        assert_eq!(a_addrs(&r[0]), [POISON_V4.to_string()]);
        assert_eq!(r[1].queries[0].name().to_ascii(), "www.example.com.");

        s.set_behaviour(Behaviour::WrongIdOnly);
        let r = udp(s.addr(), &q, Duration::from_millis(300));
        assert_eq!(r.len(), 1);
        assert_ne!(r[0].metadata.id, 0x1111);

        s.set_behaviour(Behaviour::WrongQuestionOnly);
        let r = udp(s.addr(), &q, Duration::from_millis(300));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].queries[0].name().to_ascii(), "xww.example.com.");

        s.set_behaviour(Behaviour::WrongIdThenAnswer);
        let r = tcp(s.addr(), std::slice::from_ref(&q), 2);
        assert_ne!(r[0].metadata.id, 0x1111);
        assert_eq!(r[1].metadata.id, 0x1111);
    });
}

#[test]
fn log_counts_and_clear() {
    Sandbox::run(|_| {
        let s = ScriptedServer::start(SERVER, zone()).unwrap();
        udp_one(s.addr(), &query(1, "WWW.example.com", RecordType::A, None));
        udp_one(
            s.addr(),
            &query(2, "www.example.com.", RecordType::AAAA, None),
        );
        udp_one(s.addr(), &query(3, "www.EXAMPLE.com", RecordType::A, None));
        assert_eq!(s.count(), 3);
        assert_eq!(s.count_for("www.example.com", qtype::A), 2);
        assert_eq!(s.count_for("www.example.com.", qtype::AAAA), 1);
        let log = s.queries();
        assert_eq!(log[0].name, "WWW.example.com", "name kept as received");
        assert_eq!(log[0].qtype, qtype::A);
        assert_eq!(log[0].id, 1);
        assert!(log[0].at <= log[2].at);
        s.clear_log();
        assert_eq!(s.count(), 0);
        assert!(s.queries().is_empty());
        s.set_logging(false);
        udp_one(s.addr(), &query(4, "www.example.com", RecordType::A, None));
        assert_eq!(s.count(), 1, "counted without the log");
        assert!(s.queries().is_empty());
        assert!(s.wait_for_count(1, Duration::from_millis(10)));
        assert!(!s.wait_for_count(2, Duration::from_millis(10)));
    });
}

#[test]
fn zone_swap_and_ipv6_listener() {
    Sandbox::run(|_| {
        let s = ScriptedServer::start(IpAddr::V6(Ipv6Addr::LOCALHOST), zone()).unwrap();
        let m = udp_one(s.addr(), &query(1, "www.example.com", RecordType::A, None));
        assert_eq!(a_addrs(&m), ["192.0.2.1"]);
        s.set_zone(Zone::new().a("www.example.com", 5, Ipv4Addr::new(192, 0, 2, 77)));
        let m = udp_one(s.addr(), &query(2, "www.example.com", RecordType::A, None));
        assert_eq!(a_addrs(&m), ["192.0.2.77"]);
        let r = tcp(
            s.addr(),
            &[query(3, "www.example.com", RecordType::A, None)],
            1,
        );
        assert_eq!(a_addrs(&r[0]), ["192.0.2.77"]);
    });
}

#[test]
fn drop_is_prompt_with_idle_connections_and_pending_delays() {
    Sandbox::run(|_| {
        let s =
            ScriptedServer::start_with(SERVER, zone(), Behaviour::Delay(Duration::from_secs(30)))
                .unwrap();
        let _idle = TcpStream::connect(s.addr()).unwrap();
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.send_to(&query(1, "www.example.com", RecordType::A, None), s.addr())
            .unwrap();
        assert!(s.wait_for_count(1, Duration::from_secs(2)));
        let t = Instant::now();
        drop(s);
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "drop took {:?}",
            t.elapsed()
        );
        // The port is free again.
        let again = ScriptedServer::start(SERVER, zone()).unwrap();
        drop(again);
    });
}

#[test]
fn two_servers_on_different_addresses() {
    Sandbox::run(|_| {
        let a = ScriptedServer::start(SERVER, zone()).unwrap();
        let b = ScriptedServer::start(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)), zone()).unwrap();
        udp_one(b.addr(), &query(1, "www.example.com", RecordType::A, None));
        assert_eq!((a.count(), b.count()), (0, 1));
        assert!(
            ScriptedServer::start(SERVER, zone()).is_err(),
            "port in use"
        );
    });
}
