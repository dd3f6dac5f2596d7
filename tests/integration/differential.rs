// Same calls, same upstream: glibc's own `dns` module and rustcache must answer alike.

use libtest_mimic::Trial;

use crate::common::{assert_results, with_zone, with_zone_and_resolv_conf, RESOLV_CONF};

pub fn tests() -> Vec<Trial> {
    trials![
        rustcache_answers_like_glibc_dns,
        rustcache_answers_like_glibc_dns_with_localdomain_and_res_options,
        rustcache_answers_like_glibc_dns_with_domain_ndots_and_no_tld_query,
        invalid_names_are_refused_without_a_query,
    ]
}

/// Every call an application makes, over the whole fixture zone: forward
/// lookups of each shape, the search list and ndots, trailing dots, case,
/// CNAME chains, NODATA and NXDOMAIN, 80-address answers, PTR lookups.
pub const OPS: &[&str] = &[
    "gai www.example.com unspec canon",
    "gai www.example.com inet",
    "gai www.example.com inet6",
    "gai WwW.ExAmple.COM unspec canon",
    "gai www.example.com. unspec canon",
    "gai www unspec canon",
    "gai www. unspec",
    "gai db unspec canon",
    "gai db.corp.example inet",
    "gai alias.example.com unspec canon",
    "gai alias unspec canon",
    "gai dangling.example.com unspec",
    "gai big.example.com unspec",
    "gai v4only.example.com unspec",
    "gai v4only.example.com inet6",
    "gai v6only.example.com inet",
    "gai v4only inet6",
    "gai to-v4only.example.com inet6",
    "gai to-v4only.example.com unspec canon",
    "gai nope.example.com unspec",
    "gai nope unspec",
    "gai tld unspec",
    "gai _svc.example.com inet",
    "ghbn www.example.com",
    "ghbn alias.example.com",
    "ghbn v6only.example.com",
    "ghbn nope.example.com",
    "ghbn2 www.example.com inet6",
    "ghbn2 alias inet6",
    "ghbn2 v4only.example.com inet6",
    "ghbn2 to-v4only.example.com inet6",
    "ghba 192.0.2.1",
    "ghba 2001:db8::1",
    "ghba ::ffff:192.0.2.1",
    "ghba 192.0.2.99",
    "gni 192.0.2.1",
    "gni 2001:db8::1",
    "gni 192.0.2.99",
    // Names no host can have (see INVALID).
    "gai a..example.com unspec",
    "ghbn a..example.com",
    "gai .example.com unspec",
    "ghbn .example.com",
    "gai aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.com unspec",
    "ghbn aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.com",
    "gai bad%20name.example.com unspec",
    "ghbn bad%20name.example.com",
];

/// Where rustcache answers otherwise on purpose (README, "Deliberate
/// differences"): (operation, glibc's `dns`, rustcache). A CNAME to a name
/// without records of the asked type is RFC 2308's NODATA (the name
/// exists); glibc 2.36's `dns` module calls it a name that does not exist
/// (getaddrinfo) or an unrecoverable server failure (gethostbyname2).
/// Both sides are pinned, so a change in either shows.
const EXPECTED_DIFFERENCES: &[(&str, &str, &str)] = &[
    (
        "gai to-v4only.example.com inet6",
        "err EAI_NONAME",
        "err EAI_NODATA",
    ),
    (
        "ghbn2 to-v4only.example.com inet6",
        "herr NO_RECOVERY ret=EAGAIN",
        "herr NO_DATA",
    ),
];

/// The invalid names among OPS: an empty label, a leading dot, a 64-byte
/// label, a space.
const INVALID: &[&str] = &[
    "a..example.com",
    " .example.com",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.",
    "bad%20name",
];

/// Runs OPS under `hosts: dns` and `hosts: rustcache` and compares line by
/// line. Returns both outputs for extra checks.
fn compare(resolv_conf: &str, env: &[(&str, &str)]) {
    let dns = with_zone_and_resolv_conf("dns", resolv_conf, |sb, _| {
        for (k, v) in env {
            sb.env(k, v);
        }
        sb.probe(OPS)
    });
    let ours = with_zone_and_resolv_conf("rustcache", resolv_conf, |sb, _| {
        for (k, v) in env {
            sb.env(k, v);
        }
        sb.probe(OPS)
    });
    assert!(
        dns.success() && ours.success(),
        "dns:\n{dns}\nrustcache:\n{ours}"
    );
    let mut differences = Vec::new();
    for (op, (theirs, mine)) in OPS
        .iter()
        .zip(dns.results().iter().zip(ours.results().iter()))
    {
        let expected = EXPECTED_DIFFERENCES.iter().find(|(o, _, _)| o == op);
        if let Some((_, want_theirs, want_mine)) = expected {
            if (*theirs, *mine) != (*want_theirs, *want_mine) {
                differences.push(format!(
                    "{op} (a deliberate difference)\n   dns:       {theirs} (expected {want_theirs})\n   \
                     rustcache: {mine} (expected {want_mine})"
                ));
            }
        } else if theirs != mine {
            differences.push(format!(
                "{op}\n   dns:       {theirs}\n   rustcache: {mine}"
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "differences:\n{}",
        differences.join("\n")
    );
    assert_eq!(dns.results().len(), OPS.len());
}

fn rustcache_answers_like_glibc_dns() {
    compare(RESOLV_CONF, &[]);
}

fn rustcache_answers_like_glibc_dns_with_localdomain_and_res_options() {
    // LOCALDOMAIN replaces the search list, RES_OPTIONS raises ndots so that
    // one-dot names try the search list first.
    compare(
        RESOLV_CONF,
        &[("LOCALDOMAIN", "corp.example"), ("RES_OPTIONS", "ndots:2")],
    );
}

fn rustcache_answers_like_glibc_dns_with_domain_ndots_and_no_tld_query() {
    // `domain` after `search` replaces it; ndots:2 makes `db.corp.example`
    // try the search list first; no-tld-query never asks a bare label.
    compare(
        "nameserver 127.0.0.2\nsearch nothing.example\ndomain example.com\n\
         options ndots:2 no-tld-query timeout:1 attempts:1\n",
        &[],
    );
}

/// Names no host can have are refused without asking anybody; glibc
/// 2.36's `dns` module refuses them too (the differential above checks the
/// answers are the same), so this only pins that rustcache sends nothing.
fn invalid_names_are_refused_without_a_query() {
    with_zone("rustcache", |sb, server| {
        let ops: Vec<&str> = OPS
            .iter()
            .copied()
            .filter(|op| INVALID.iter().any(|n| op.contains(n)))
            .collect();
        assert_eq!(ops.len(), 2 * INVALID.len());
        let out = sb.probe(&ops);
        let expected: Vec<&str> = INVALID
            .iter()
            .flat_map(|_| ["err EAI_NONAME", "herr HOST_NOT_FOUND"])
            .collect();
        assert_results(&out, &expected);
        assert_eq!(
            server.count(),
            0,
            "no query for an invalid name: {:?}",
            server.queries()
        );
    });
}
