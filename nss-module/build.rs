//! Link settings of `libnss_rustcache.so.2`.
//!
//! * The SONAME glibc looks for, and `-Bsymbolic` so that our own symbols
//!   bind to our own definitions, never the host's.
//! * The unwinder linked in statically (`libgcc_eh.a`) instead of
//!   `libgcc_s.so.1`. Unwinding is how a panic inside the module reaches
//!   the `catch_unwind` at its entry point and becomes UNAVAIL, so it must
//!   stay; but loading `libgcc_s.so.1` at dlopen cost a fresh process about
//!   200 µs, more than the rest of the module's load. GCC 12's
//!   `libgcc_eh.a` calls glibc 2.35's `_dl_find_object`, which Amazon Linux
//!   2023's glibc 2.34 lacks: `src/unwind.rs` gives the module a hidden one
//!   of its own, so it needs nothing newer than GLIBC_2.34.
//!
//! * Code that runs only when something has gone wrong (std's backtrace
//!   printer, the unwinder) placed after the rest of `.text` by `cold.ld`,
//!   so that the pages a lookup runs are packed together: the kernel maps
//!   code 64 KiB around every page touched, and this cut the module's
//!   resident code in a process that looks up two names by about 110 KiB.
//!
//! Where the C compiler has no `libgcc_eh.a`, the module falls back to
//! `libgcc_s.so.1` (slower to load, same behaviour) and says so in a
//! build warning.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnss_rustcache.so.2");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-Bsymbolic");
    // A SysV .hash section beside .gnu.hash (which glibc uses): rpmlint
    // counts a shared object without one as an error (missing-hash-section).
    // It costs a few hundred bytes for our handful of dynamic symbols.
    println!("cargo:rustc-cdylib-link-arg=-Wl,--hash-style=both");
    // INSERT AFTER makes it an addition to the linker's default layout
    // (GNU ld and LLD alike), not a replacement of it.
    let cold = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("cold.ld");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-T,{}", cold.display());
    println!("cargo:rerun-if-changed=cold.ld");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    match static_unwinder() {
        Some(archive) => {
            let dir = archive.parent().map(PathBuf::from).unwrap_or_default();
            println!("cargo:rustc-link-search=native={}", dir.display());
            println!("cargo:rustc-link-lib=static:+verbatim=libgcc_eh.a");
        }
        None => println!(
            "cargo:warning=no libgcc_eh.a found: the module will load libgcc_s.so.1 at dlopen"
        ),
    }
}

/// The C compiler's static unwinder archive, if it has one.
fn static_unwinder() -> Option<PathBuf> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let out = Command::new(cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    // An answer without a directory means the compiler does not have it.
    (path.is_absolute() && path.is_file()).then_some(path)
}
