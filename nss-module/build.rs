//! Gives the shared object the SONAME glibc looks for.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnss_rustcache.so.2");
    // Bind our own symbols to our own definitions, never the host's.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-Bsymbolic");
    // A SysV .hash section beside .gnu.hash (which glibc uses): rpmlint
    // counts a shared object without one as an error (missing-hash-section).
    // It costs a few hundred bytes for our handful of dynamic symbols.
    println!("cargo:rustc-cdylib-link-arg=-Wl,--hash-style=both");
    println!("cargo:rerun-if-changed=build.rs");
}
