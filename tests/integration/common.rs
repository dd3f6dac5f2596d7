// Shared fixtures of the rustcache tests: one zone, and sandboxes wired to it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rustcache_testkit::dns::{ScriptedServer, Zone};
use rustcache_testkit::ns::{ProbeOutput, Sandbox};

pub const WWW_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const WWW_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
/// What `gai www.example.com unspec` prints for [`WWW_V4`] and [`WWW_V6`]
/// (glibc's RFC 6724 sort puts IPv6 first in a namespace that only has `lo`).
pub const WWW_BOTH: &str = "ok addrs=inet6:2001:db8::1,inet:192.0.2.1";

/// The upstream data most tests use: plain names, a CNAME chain, a name
/// with 40 A and 40 AAAA records, names in a second search domain, PTRs,
/// a CNAME to a name without AAAA records.
pub fn zone() -> Zone {
    let mut z = Zone::new()
        .soa("example.com", 60)
        .soa("corp.example", 60)
        .soa("2.0.192.in-addr.arpa", 60)
        .a("www.example.com", 300, WWW_V4)
        .aaaa("www.example.com", 300, WWW_V6)
        .a("v4only.example.com", 300, Ipv4Addr::new(192, 0, 2, 4))
        .aaaa(
            "v6only.example.com",
            300,
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 6),
        )
        .cname("alias.example.com", 120, "mid.example.com")
        .cname("mid.example.com", 200, "www.example.com")
        .cname("dangling.example.com", 300, "nope.example.com")
        // A CNAME to a name that has an A record only: NODATA for AAAA.
        .cname("to-v4only.example.com", 300, "v4only.example.com")
        .a("db.corp.example", 30, Ipv4Addr::new(192, 0, 2, 30))
        .a("_svc.example.com", 300, Ipv4Addr::new(192, 0, 2, 40))
        .a(
            "www.example.com.corp.example",
            300,
            Ipv4Addr::new(192, 0, 2, 99),
        )
        // A single-label name: reached only by asking the bare label.
        .a("tld", 300, Ipv4Addr::new(192, 0, 2, 50))
        .ptr_for(IpAddr::V4(WWW_V4), 300, "www.example.com")
        .ptr_for(IpAddr::V6(WWW_V6), 300, "www.example.com");
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

/// The resolv.conf of the shared fixture: one server on 127.0.0.2, a
/// two-domain search list, short timeouts.
pub const RESOLV_CONF: &str =
    "nameserver 127.0.0.2\nsearch example.com corp.example\noptions timeout:1 attempts:1\n";

/// A sandbox with the zone on 127.0.0.2 and the given hosts line.
pub fn with_zone<R: Send>(hosts: &str, f: impl FnOnce(&Sandbox, &ScriptedServer) -> R + Send) -> R {
    with_zone_and_resolv_conf(hosts, RESOLV_CONF, f)
}

/// The same with another resolv.conf.
pub fn with_zone_and_resolv_conf<R: Send>(
    hosts: &str,
    resolv_conf: &str,
    f: impl FnOnce(&Sandbox, &ScriptedServer) -> R + Send,
) -> R {
    Sandbox::run(|sb| {
        let server = ScriptedServer::start("127.0.0.2".parse().unwrap(), zone()).unwrap();
        sb.write_resolv_conf(resolv_conf);
        sb.write_nsswitch(hosts);
        f(sb, &server)
    })
}

#[track_caller]
pub fn assert_results(out: &ProbeOutput, expected: &[&str]) {
    assert_eq!(out.results(), expected, "\n{out}");
}

/// A sandbox whose hosts line is `rustcache` alone (every answer comes from
/// the module, no fallback hides a failure) and whose resolv.conf is
/// `resolv_conf`; the built module must exist.
pub fn with_module<R: Send>(resolv_conf: &str, f: impl FnOnce(&Sandbox) -> R + Send) -> R {
    let (path, built) = rustcache_testkit::ns::module_path();
    assert!(
        built,
        "{} is missing: run `make build` first",
        path.display()
    );
    Sandbox::run(|sb| {
        sb.write_nsswitch("rustcache");
        sb.write_resolv_conf(resolv_conf);
        f(sb)
    })
}

/// The `rustcache` command built by `make build` (package `rustcache-tool`,
/// so not one of this package's `CARGO_BIN_EXE_*`): beside the module in
/// `$RUSTCACHE_MODULE_DIR` (default `target/release`).
pub fn rustcache_cli() -> std::path::PathBuf {
    let (module, _) = rustcache_testkit::ns::module_path();
    let cli = module.with_file_name("rustcache");
    assert!(
        cli.is_file(),
        "{} is missing: run `make build` first",
        cli.display()
    );
    cli
}

/// Compiles `source`, a C program of a test, with `cc -O2 -Wall -Werror
/// -pthread` into the sandbox's directory as `name`; returns its path.
pub fn compile_c_program(sb: &Sandbox, name: &str, source: &str) -> std::path::PathBuf {
    compile_c(sb, name, source, &[])
}

/// The same with `extra` flags before the output (`-shared -fPIC` for a
/// preload library).
pub fn compile_c(sb: &Sandbox, name: &str, source: &str, extra: &[&str]) -> std::path::PathBuf {
    let file = sb.write_file(format!("{name}.c"), source);
    let program = sb.dir().join(name);
    let status = std::process::Command::new("cc")
        .args(["-O2", "-Wall", "-Werror", "-pthread"])
        .args(extra)
        .arg("-o")
        .arg(&program)
        .arg(&file)
        .status()
        .unwrap_or_else(|e| panic!("cannot run cc: {e}"));
    assert!(status.success(), "cc failed on {name}.c");
    program
}
