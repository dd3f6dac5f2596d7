//! std's panic handler and allocation-failure handler, replaced.
//!
//! `build.rs` links the module with `--wrap` for both, so that core's and
//! alloc's calls to them arrive here, and std's own are dropped by the
//! linker with everything only they reach: the panic hook machinery and
//! the backtrace printer (gimli, addr2line, rustc-demangle, miniz_oxide),
//! 45% of the module. The definitions below are hidden aliases, never
//! exported. Where `build.rs` could not find the names in the toolchain's
//! std (`std_entries_replaced` unset), nothing here is used and std's
//! handlers run, with the silenced hook of `guarded`.
//!
//! * A panic unwinds straight to the entry point's `catch_unwind`, which
//!   makes it UNAVAIL (as before): no hook runs, nothing is printed, no
//!   backtrace is captured, and the payload is dropped unread. Where
//!   unwinding is impossible (a panic in a destructor during unwinding,
//!   a `nounwind` function), the unwinder fails and std aborts, as std's
//!   own handler does.
//! * An allocation failure unwinds the same way, so that a host process
//!   short of memory gets UNAVAIL from the module (and the next source on
//!   the hosts line) instead of std's default, which prints and aborts the
//!   whole process. A second failure while the first one unwinds (in this
//!   or another thread) aborts: unwinding itself allocates a few bytes.

use std::sync::atomic::{AtomicBool, Ordering};

/// Where the unwinding of an allocation failure is under way.
static ALLOC_FAILING: AtomicBool = AtomicBool::new(false);

/// core's `panic_impl`: every panic in the module.
#[cfg_attr(not(std_entries_replaced), allow(dead_code))]
fn panic_entry(_info: &core::panic::PanicInfo<'_>) -> ! {
    // A zero-sized payload: unwinding starts without allocating for it.
    std::panic::resume_unwind(Box::new(()))
}

/// alloc's `__rust_alloc_error_handler`: an allocation that failed.
#[cfg_attr(not(std_entries_replaced), allow(dead_code))]
fn alloc_error_entry(_size: usize, _align: usize) -> ! {
    if ALLOC_FAILING.swap(true, Ordering::AcqRel) {
        std::process::abort();
    }
    /// Clears the flag once the unwinding has left this frame.
    struct Unwound;
    impl Drop for Unwound {
        fn drop(&mut self) {
            ALLOC_FAILING.store(false, Ordering::Release);
        }
    }
    let _unwound = Unwound;
    std::panic::resume_unwind(Box::new(()))
}

/// Defines `$name` as a hidden alias of `$target`.
#[allow(unused_macros)]
macro_rules! wrapper {
    ($name:literal, $target:ident) => {
        core::arch::global_asm!(
            concat!(".globl ", $name),
            concat!(".hidden ", $name),
            concat!(".type ", $name, ", %function"),
            concat!(".set ", $name, ", {f}"),
            f = sym $target,
        );
    };
}

// The `wrapper!` lines build.rs wrote for this toolchain (none where it
// found no names).
include!(concat!(env!("OUT_DIR"), "/std_entries.rs"));
