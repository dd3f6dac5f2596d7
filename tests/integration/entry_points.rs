// The six entry points called directly, as glibc calls them: ERANGE contract, layout, status mapping.

use libtest_mimic::Trial;

use crate::common::{assert_results, with_zone};

pub fn tests() -> Vec<Trial> {
    trials![
        gethostbyname4_needs_exactly_its_measured_size,
        gethostbyname4_copies_into_a_caller_tuple,
        gethostbyname4_retry_loop_ends_in_success_with_80_addresses,
        failures_write_nothing_but_status_errno_and_h_errno,
        hostent_entry_points_measure_exactly,
        hostent_entry_points_fill_names_aliases_ttl_and_canon,
        gethostbyname_r_answers_ipv4_only,
        reverse_entry_points_fill_a_hostent,
        retry_loops_succeed_for_every_entry_point,
        getaddrinfo_returns_an_80_address_answer_whole,
        other_databases_answer_unavailable_as_a_missing_function_does,
    ]
}

/// `www.example.com` has one A and one AAAA record: two 40-byte tuples and
/// the 16-byte name, 96 bytes from an 8-byte boundary.
const WWW_TUPLES: &str = "tuples=www.example.com/inet:192.0.2.1,www.example.com/inet6:2001:db8::1";
const ERANGE: &str = "status=TRYAGAIN errno=ERANGE herr=NETDB_INTERNAL ttl=unset untouched=yes";

fn gethostbyname4_needs_exactly_its_measured_size() {
    with_zone("rustcache", |sb, _| {
        let ok = format!("status=SUCCESS errno=unset herr=NETDB_SUCCESS ttl=300 aligned=yes overflow=no {WWW_TUPLES}");
        let out = sb.probe(&[
            "nss4 www.example.com 0",
            "nss4 www.example.com 95",
            "nss4 www.example.com 96",
            // 3 bytes past a boundary: 5 bytes of padding first.
            "nss4 www.example.com 100 off=3",
            "nss4 www.example.com 101 off=3",
        ]);
        assert_results(&out, &[ERANGE, ERANGE, &ok, ERANGE, &ok]);
    });
}

fn gethostbyname4_copies_into_a_caller_tuple() {
    with_zone("rustcache", |sb, _| {
        let out = sb.probe(&["nss4pat www.example.com 4096", "nss4pat www.example.com 8"]);
        assert_results(
            &out,
            &[
                &format!("status=SUCCESS errno=unset herr=NETDB_SUCCESS ttl=300 aligned=yes overflow=no copied=yes {WWW_TUPLES}"),
                ERANGE,
            ],
        );
    });
}

fn gethostbyname4_retry_loop_ends_in_success_with_80_addresses() {
    with_zone("rustcache", |sb, _| {
        let out = sb.probe(&["nssloop4 big.example.com nottl"]);
        let line = out.result(0);
        // 80 tuples of 40 bytes and the name: 3216 bytes, so 4096 after
        // doubling from 1 (13 calls).
        assert!(
            line.starts_with(
                "status=SUCCESS errno=unset herr=NETDB_SUCCESS ttl=null aligned=yes overflow=no "
            ),
            "{out}"
        );
        assert!(line.ends_with(" calls=13 buflen=4096"), "{out}");
        assert_eq!(line.matches("big.example.com/inet:").count(), 40, "{out}");
        assert_eq!(line.matches("big.example.com/inet6:").count(), 40, "{out}");
    });
}

fn failures_write_nothing_but_status_errno_and_h_errno() {
    with_zone("rustcache", |sb, _| {
        let out = sb.probe(&[
            "nss4 nope.example.com 4096",
            "nss3 v4only.example.com inet6 4096",
            "nss2 nope.example.com inet 4096",
            "nss1 v6only.example.com 4096",
            "nssaddr2 192.0.2.99 4096",
            "nss4 a..b 4096",
        ]);
        let not_found = "errno=ENOENT herr=HOST_NOT_FOUND";
        let no_data = "errno=ENOENT herr=NO_DATA";
        assert_results(
            &out,
            &[
                &format!("status=NOTFOUND {not_found} ttl=unset untouched=yes"),
                &format!("status=NOTFOUND {no_data} ttl=unset canon=unset untouched=yes"),
                &format!("status=NOTFOUND {not_found} ttl=n/a untouched=yes"),
                &format!("status=NOTFOUND {no_data} ttl=n/a untouched=yes"),
                &format!("status=NOTFOUND {not_found} ttl=unset untouched=yes"),
                &format!("status=NOTFOUND {not_found} ttl=unset untouched=yes"),
            ],
        );
    });
}

fn hostent_entry_points_measure_exactly() {
    with_zone("rustcache", |sb, _| {
        // gethostbyname_r for www: alias array (1 pointer), address list (2
        // pointers), 4 address bytes, "www.example.com\0": 44 bytes.
        let ok = "status=SUCCESS errno=unset herr=NETDB_SUCCESS ttl=n/a aligned=yes overflow=no \
                  name=www.example.com aliases= type=inet addrs=192.0.2.1";
        let erange = "status=TRYAGAIN errno=ERANGE herr=NETDB_INTERNAL ttl=n/a untouched=yes";
        let out = sb.probe(&[
            "nss1 www.example.com 43",
            "nss1 www.example.com 44",
            // 5 bytes past a boundary: 3 bytes of padding first.
            "nss1 www.example.com 47 off=5",
            "nss1 www.example.com 46 off=5",
        ]);
        assert_results(&out, &[erange, ok, ok, erange]);
    });
}

fn hostent_entry_points_fill_names_aliases_ttl_and_canon() {
    with_zone("rustcache", |sb, _| {
        let out = sb.probe(&[
            "nss3 alias.example.com inet 4096",
            "nss3 alias.example.com inet6 4096 off=1 nottl nocanon",
            "nss2 WwW.ExAmple.COM inet6 4096",
        ]);
        assert_results(
            &out,
            &[
                // TTL: the smallest along the chain (CNAMEs 120 and 200, A 300).
                "status=SUCCESS errno=unset herr=NETDB_SUCCESS ttl=120 canon=www.example.com \
                 aligned=yes overflow=no name=www.example.com \
                 aliases=alias.example.com,mid.example.com type=inet addrs=192.0.2.1",
                "status=SUCCESS errno=unset herr=NETDB_SUCCESS ttl=null aligned=yes overflow=no \
                 name=www.example.com aliases=alias.example.com,mid.example.com type=inet6 \
                 addrs=2001:db8::1",
                "status=SUCCESS errno=unset herr=NETDB_SUCCESS ttl=n/a aligned=yes overflow=no \
                 name=WwW.ExAmple.COM aliases= type=inet6 addrs=2001:db8::1",
            ],
        );
    });
}

fn gethostbyname_r_answers_ipv4_only() {
    with_zone("rustcache", |sb, server| {
        let out = sb.probe(&["nss1 www.example.com 4096", "ghbn v6only.example.com"]);
        assert_results(
            &out,
            &[
                "status=SUCCESS errno=unset herr=NETDB_SUCCESS ttl=n/a aligned=yes overflow=no \
                 name=www.example.com aliases= type=inet addrs=192.0.2.1",
                "herr NO_DATA",
            ],
        );
        let aaaa = server
            .queries()
            .iter()
            .filter(|q| q.qtype == rustcache_testkit::dns::qtype::AAAA)
            .count();
        assert_eq!(aaaa, 0, "gethostbyname_r asks for A only");
    });
}

fn reverse_entry_points_fill_a_hostent() {
    with_zone("rustcache", |sb, _| {
        let out = sb.probe(&[
            "nssaddr2 192.0.2.1 4096",
            "nssaddr 2001:db8::1 4096 off=7",
            // IPv4-mapped: looked up under in-addr.arpa, answered as IPv4.
            "nssaddr ::ffff:192.0.2.1 4096",
            "nssaddr2 192.0.2.1 8",
        ]);
        assert_results(
            &out,
            &[
                "status=SUCCESS errno=unset herr=NETDB_SUCCESS ttl=300 aligned=yes overflow=no \
                 name=www.example.com aliases= type=inet addrs=192.0.2.1",
                "status=SUCCESS errno=unset herr=NETDB_SUCCESS ttl=n/a aligned=yes overflow=no \
                 name=www.example.com aliases= type=inet6 addrs=2001:db8::1",
                "status=SUCCESS errno=unset herr=NETDB_SUCCESS ttl=n/a aligned=yes overflow=no \
                 name=www.example.com aliases= type=inet addrs=192.0.2.1",
                ERANGE,
            ],
        );
    });
}

fn retry_loops_succeed_for_every_entry_point() {
    with_zone("rustcache", |sb, _| {
        let out = sb.probe(&[
            "nssloop4pat alias.example.com",
            "nssloop3 alias.example.com inet6",
            "nssloop2 big.example.com inet",
            "nssloop1 alias.example.com",
            "nssloopaddr2 2001:db8::1",
            "nssloopaddr 192.0.2.1",
        ]);
        for line in out.results() {
            assert!(line.starts_with("status=SUCCESS "), "{out}");
            assert!(line.contains(" aligned=yes overflow=no "), "{out}");
        }
    });
}

fn getaddrinfo_returns_an_80_address_answer_whole() {
    with_zone("rustcache", |sb, server| {
        let out = sb.probe(&["gai big.example.com unspec"]);
        let line = out.result(0);
        assert_eq!(line.matches("inet:198.51.100.").count(), 40, "{out}");
        assert_eq!(line.matches("inet6:2001:db8:1::").count(), 40, "{out}");
        // One A and one AAAA query per buffer size getaddrinfo tried: with
        // no cache yet, each ERANGE retry asks again (glibc's dns module
        // does the same, and over TCP, since it does not use EDNS0).
        assert!(server.count() >= 2, "{:?}", server.queries());
    });
}

/// The module exports the other databases' functions too (glibc looks every
/// one up when it loads a module; see nss-module/src/other_databases.rs),
/// answering UNAVAIL: `[UNAVAIL=return]` stops at them, `[NOTFOUND=return]`
/// does not, and `files` after them answers as before.
fn other_databases_answer_unavailable_as_a_missing_function_does() {
    with_zone("rustcache", |sb, _| {
        sb.write_file(
            "nsswitch.conf",
            "passwd: rustcache [NOTFOUND=return] files\n\
             group: rustcache [UNAVAIL=return] files\n\
             shadow: files\n\
             hosts: rustcache\n\
             services: rustcache files\n",
        );
        let getent = |args: &[&str]| {
            let out = sb.command("getent").args(args).output().unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            )
        };
        let (code, text) = getent(&["passwd", "root"]);
        assert_eq!(code, Some(0), "passwd: the next source answers");
        assert!(text.starts_with("root:"), "{text}");
        let (code, text) = getent(&["group", "root"]);
        assert_eq!(code, Some(2), "group: [UNAVAIL=return] stops: {text}");
        // The hosts line still resolves through the module.
        assert_results(
            &sb.probe(&["gai www.example.com unspec"]),
            &["ok addrs=inet6:2001:db8::1,inet:192.0.2.1"],
        );
    });
}
