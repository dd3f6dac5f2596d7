//! Gives the shared object the SONAME glibc looks for.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnss_rustcache.so.2");
    // Bind our own symbols to our own definitions, never the host's.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-Bsymbolic");
    println!("cargo:rerun-if-changed=build.rs");
}
