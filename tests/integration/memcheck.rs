// The module under valgrind's memcheck, through real glibc calls: no read of memory it
// does not own or never wrote, no use after free, in a cold process (misses, the cache
// file made, answers stored), a warm one (shared-cache hits), and lookups that panic or
// fail to allocate.

use libtest_mimic::Trial;
use rustcache_testkit::ns::{ProbeOutput, Sandbox, DEFAULT_PROBE_TIMEOUT};

use crate::common::with_zone;
use crate::differential;
use crate::panics::{self, OOM_NAME, PANIC_NAME};

pub fn tests() -> Vec<Trial> {
    trials![
        lookups_are_clean_under_memcheck_cold_and_warm,
        a_panicking_lookup_is_clean_under_memcheck,
    ]
}

/// The exit status memcheck gives a process in which it found an error (the
/// probe's own statuses are 0 and 2).
const ERROR_EXIT: i32 = 97;

/// valgrind, with a distinct exit status for a process in which it found an
/// error. No leak check: a module's caches live as long as the process by
/// design.
fn memcheck_argv() -> Vec<String> {
    vec![
        "valgrind".into(),
        format!("--error-exitcode={ERROR_EXIT}"),
        "--leak-check=no".into(),
        "--track-origins=yes".into(),
    ]
}

/// The direct entry points beside differential's glibc calls: every
/// gethostbyname*_r and gethostbyaddr*_r through glibc's ERANGE retry from a
/// one-byte buffer, a buffer that starts off an 8-byte boundary, a caller-owned
/// tuple, no TTL and no canonical-name pointer.
const DIRECT_OPS: &[&str] = &[
    "nssloop4 big.example.com nottl",
    "nssloop4pat alias.example.com nottl",
    "nssloop3 alias.example.com inet6 nottl",
    "nssloop2 big.example.com inet",
    "nssloop1 www.example.com",
    "nssloopaddr2 192.0.2.1 nottl",
    "nssloopaddr 2001:db8::1",
    "nss4 big.example.com 4096 off=3 nottl",
    "nss3 www.example.com inet 4096 off=5 nottl nocanon",
    "nss4 big.example.com 64 nottl",
];

fn all_ops() -> Vec<&'static str> {
    differential::OPS
        .iter()
        .chain(DIRECT_OPS)
        .copied()
        .collect()
}

/// Runs `probe` (which starts one probe process) with its process under
/// memcheck, and checks memcheck's verdict.
fn under_memcheck(sb: &Sandbox, probe: impl FnOnce() -> ProbeOutput) -> ProbeOutput {
    let argv = memcheck_argv();
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    sb.set_probe_wrapper(&argv);
    // valgrind runs code 20-50 times slower: the lookups' own timeouts are
    // seconds, the probe's is given more.
    sb.set_probe_timeout(std::time::Duration::from_secs(120));
    let out = probe();
    sb.set_probe_wrapper(&[]);
    sb.set_probe_timeout(DEFAULT_PROBE_TIMEOUT);
    assert_ne!(
        out.status.code(),
        Some(ERROR_EXIT),
        "memcheck found an error:\n{out}"
    );
    // Its summary line shows that it ran the probe at all (`make test-deps`
    // installs it).
    assert!(
        out.stderr.contains("Memcheck") && out.stderr.contains("ERROR SUMMARY: 0 errors"),
        "memcheck did not run the probe, or found errors:\n{out}"
    );
    out
}

fn lookups_are_clean_under_memcheck_cold_and_warm() {
    with_zone("rustcache", |sb, server| {
        let ops = all_ops();
        let cold = under_memcheck(sb, || sb.probe(&ops));
        let asked = server.count();
        assert!(asked > 0, "the cold run asked nothing upstream:\n{cold}");
        let warm = under_memcheck(sb, || sb.probe(&ops));
        let asked_warm = server.count() - asked;
        // The reference: the same calls outside valgrind, after both.
        let plain = sb.probe(&ops);
        assert!(plain.success(), "\n{plain}");
        assert_eq!(plain.results().len(), ops.len(), "\n{plain}");
        assert_eq!(cold.results(), plain.results(), "cold, under memcheck");
        assert_eq!(warm.results(), plain.results(), "warm, under memcheck");
        assert!(
            cold.success() && warm.success(),
            "cold:\n{cold}\nwarm:\n{warm}"
        );
        // The warm process was answered from the shared cache: at most the
        // names the cold one found nothing for (NXDOMAIN, NODATA) are asked again.
        assert!(
            asked_warm < asked,
            "the warm run asked {asked_warm} queries after the cold run's {asked}"
        );
    });
}

/// panics.rs's lookups of the panic-probe build (a panic, then an allocation
/// that fails, each unwound to the entry point, between good lookups), with
/// the same checks, under memcheck.
fn a_panicking_lookup_is_clean_under_memcheck() {
    with_zone("rustcache", |sb, _| {
        let ghbn = format!("ghbn {PANIC_NAME}");
        under_memcheck(sb, || {
            panics::unavailable_and_still_answering(sb, PANIC_NAME, &ghbn)
        });
        let panic = format!("nss4 {PANIC_NAME} 1024");
        under_memcheck(sb, || {
            panics::unavailable_and_still_answering(sb, OOM_NAME, &panic)
        });
    });
}
