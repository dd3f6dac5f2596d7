// A panic inside the module, or an allocation that fails: caught at the entry point, UNAVAIL, the host process unharmed, in the shipped link configuration (static unwinder, no libgcc_s, std's panic and allocation-error handlers replaced).

use std::path::PathBuf;

use libtest_mimic::Trial;
use rustcache_testkit::ns::{ProbeOutput, Sandbox};

use crate::common::{assert_results, with_zone, WWW_BOTH};

pub fn tests() -> Vec<Trial> {
    trials![
        a_panic_in_a_lookup_is_unavailable_and_the_process_goes_on,
        a_panic_falls_through_to_the_next_source,
        an_allocation_failure_is_unavailable_and_the_process_goes_on,
    ]
}

/// The name on which a `panic-probe` build panics (see the core crate's
/// `panic-probe` feature).
pub const PANIC_NAME: &str = "panic-probe.rustcache.test";
/// The name on which a `panic-probe` build asks for isize::MAX bytes.
pub const OOM_NAME: &str = "oom-probe.rustcache.test";

/// The directory of the `panic-probe` build of the module: the same
/// release profile and build script as the shipped one, one feature more
/// (`make integration` builds it).
pub fn panic_module_dir() -> PathBuf {
    let dir = std::env::var_os("RUSTCACHE_PANIC_MODULE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/panic-probe/release"));
    let module = dir.join("libnss_rustcache.so.2");
    assert!(
        module.is_file(),
        "{} is missing: `make integration` builds it",
        module.display()
    );
    dir
}

fn a_panic_in_a_lookup_is_unavailable_and_the_process_goes_on() {
    with_zone("rustcache", |sb, _| {
        let ghbn = format!("ghbn {PANIC_NAME}");
        let out = unavailable_and_still_answering(sb, PANIC_NAME, &ghbn);
        assert!(out.results()[2].starts_with("herr NO_RECOVERY"), "\n{out}");
        assert!(
            !out.stderr.contains("panic"),
            "the module printed its panic:\n{out}"
        );
    });
}

/// In one process of the panic-probe build: `name` through getaddrinfo and
/// the direct call, `extra`, then a good name, `name` again and the good
/// name again. Every lookup of `name` is UNAVAIL and the good name is
/// answered both times (the configuration lock and cache session were not
/// left poisoned); the process exits normally.
pub fn unavailable_and_still_answering(sb: &Sandbox, name: &str, extra: &str) -> ProbeOutput {
    sb.set_module_dir(panic_module_dir());
    let out = sb.probe(&[
        &format!("gai {name} unspec"),
        &format!("nss4 {name} 1024"),
        extra,
        "gai www.example.com unspec",
        &format!("nss4 {name} 1024"),
        "gai www.example.com unspec",
    ]);
    let results = out.results();
    // glibc's getaddrinfo reports a lone UNAVAIL source as EAI_NONAME;
    // the direct call shows the status itself.
    assert_eq!(results[0], "err EAI_NONAME", "\n{out}");
    assert!(
        results[1].starts_with("status=UNAVAIL errno=") && results[1].contains("herr=NO_RECOVERY"),
        "\n{out}"
    );
    assert_eq!(results[3], WWW_BOTH, "\n{out}");
    assert_eq!(results[4], results[1], "\n{out}");
    assert_eq!(results[5], WWW_BOTH, "\n{out}");
    assert!(out.status.success(), "\n{out}");
    out
}

fn a_panic_falls_through_to_the_next_source() {
    with_zone("files rustcache [!UNAVAIL=return] dns", |sb, server| {
        sb.set_module_dir(panic_module_dir());
        let before = server.count();
        let out = sb.probe(&[&format!("gai {PANIC_NAME} unspec")]);
        // glibc's dns module asked the zone, which has no such name.
        assert_results(&out, &["err EAI_NONAME"]);
        assert!(server.count() > before, "dns never asked");
    });
}

/// std's default on a failed allocation prints a message and aborts the
/// whole process; the module's handler (nss-module/src/std_entries.rs)
/// unwinds to the entry point instead, which answers UNAVAIL, again and
/// again, with nothing printed.
fn an_allocation_failure_is_unavailable_and_the_process_goes_on() {
    with_zone("rustcache", |sb, _| {
        // A panic right after: the failure's unwinding left nothing behind.
        let panic = format!("nss4 {PANIC_NAME} 1024");
        let out = unavailable_and_still_answering(sb, OOM_NAME, &panic);
        assert_eq!(out.results()[2], out.results()[1], "\n{out}");
        assert!(
            !out.stderr.contains("memory allocation"),
            "the module printed the failure:\n{out}"
        );
    });
}
