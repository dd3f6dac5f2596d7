//! rustcache's integration tests: real glibc calls in probe processes inside private
//! namespaces, against scripted upstream servers. One binary; each module covers one
//! area and exposes `pub fn tests() -> Vec<Trial>`.
//!
//! Run as root (the sandboxes need CAP_SYS_ADMIN): `cargo test --test integration`.
//! Tests that load the module need `libnss_rustcache.so.2` in `$RUSTCACHE_MODULE_DIR`
//! (default `target/release`, built by `make build`).
//!
//! The binary doubles as the probe: `main` first hands over to
//! `rustcache_testkit::probe::main_if_probe`, which runs probe operations and exits when
//! the sandbox re-executes this binary with `--rustcache-probe`; and as the cache stress
//! worker (`--cache-stress`, see `stress`).

// The workspace denies these for library code; tests may unwrap and panic (STYLE.md),
// and a harness = false target is not `cfg(test)`, so clippy's test exemption misses it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use libtest_mimic::{Arguments, Trial};

/// `trials![f, g, ...]`: one [`Trial`] per test function, named `module::function`.
macro_rules! trials {
    ($($f:ident),* $(,)?) => {
        vec![$($crate::trial(module_path!(), stringify!($f), $f)),*]
    };
}

mod cache;
mod cancel;
mod cli;
mod common;
mod differential;
mod entry_points;
mod fallback;
mod harness;
mod linkage;
mod memcheck;
mod nsswitch;
mod panics;
mod routing;
mod stack;
mod stress;
mod tool;
mod upstream;

/// A trial running `f`; a panic fails it (libtest-mimic catches it).
fn trial(module_path: &str, name: &str, f: fn()) -> Trial {
    let module = module_path.rsplit("::").next().unwrap_or(module_path);
    Trial::test(format!("{module}::{name}"), move || {
        f();
        Ok(())
    })
}

fn main() {
    stress::main_if_worker();
    rustcache_testkit::probe::main_if_probe();
    let args = Arguments::from_args();
    let mut tests = Vec::new();
    tests.extend(harness::tests());
    tests.extend(differential::tests());
    tests.extend(entry_points::tests());
    tests.extend(nsswitch::tests());
    tests.extend(panics::tests());
    tests.extend(cancel::tests());
    tests.extend(linkage::tests());
    tests.extend(memcheck::tests());
    tests.extend(cli::tests());
    tests.extend(tool::tests());
    tests.extend(upstream::tests());
    tests.extend(cache::tests());
    tests.extend(fallback::tests());
    tests.extend(routing::tests());
    tests.extend(stack::tests());
    libtest_mimic::run(&args, tests).exit();
}
