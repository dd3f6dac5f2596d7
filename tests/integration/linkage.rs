// What the module is made of: the crates it links, the libraries it needs and the glibc it runs on.

use std::collections::BTreeSet;
use std::process::Command;

use libtest_mimic::Trial;
use rustcache_testkit::ns::module_path;

use crate::panics::panic_module_dir;

pub fn tests() -> Vec<Trial> {
    trials![
        the_module_links_libc_and_our_two_crates_only,
        the_core_library_links_libc_only_whatever_the_command_uses,
        the_module_needs_no_libgcc_s_and_nothing_newer_than_glibc_2_34,
        the_lookup_code_is_laid_out_first_and_the_panic_code_last,
        std_s_panic_handler_hook_and_backtrace_printer_are_left_out,
        the_module_imports_only_the_libc_symbols_it_must,
        the_data_relocated_at_dlopen_is_one_page,
    ]
}

/// Every crate linked into a host process is listed, with its reason, in
/// README.md ("What the module links"): a new one must be added there and
/// here, on purpose.
fn the_module_links_libc_and_our_two_crates_only() {
    assert_eq!(
        normal_crates("nss-rustcache"),
        set(&["libc", "nss-rustcache", "rustcache"])
    );
}

/// The command (package rustcache-tool) uses clap and serde_json; the core
/// library it shares with the module must not gain them (nor anything).
fn the_core_library_links_libc_only_whatever_the_command_uses() {
    assert_eq!(normal_crates("rustcache"), set(&["libc", "rustcache"]));
    let tool = normal_crates("rustcache-tool");
    for used in ["clap", "serde_json", "rustcache"] {
        assert!(tool.contains(used), "{tool:?}");
    }
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

/// The crates `package` links (normal dependencies, transitively).
fn normal_crates(package: &str) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--locked", "--offline", "-p", package])
        .args(["-e", "normal", "--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cannot run cargo tree");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn the_module_needs_no_libgcc_s_and_nothing_newer_than_glibc_2_34() {
    let (shipped, built) = module_path();
    assert!(built, "{} is missing: run `make build`", shipped.display());
    for module in [shipped, panic_module_dir().join("libnss_rustcache.so.2")] {
        let dynamic = tool_output("readelf", &["-d", "-W"], &module);
        let needed: Vec<&str> = dynamic
            .lines()
            .filter(|l| l.contains("(NEEDED)"))
            .filter_map(|l| l.split('[').nth(1)?.split(']').next())
            .collect();
        assert!(
            !needed.iter().any(|n| n.starts_with("libgcc_s")),
            "{} needs {needed:?}",
            module.display()
        );
        let symbols = tool_output("objdump", &["-T"], &module);
        let newest = symbols
            .split("GLIBC_")
            .skip(1)
            .filter_map(|rest| {
                let version: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.')
                    .collect();
                let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
                Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
            })
            .max();
        assert!(
            newest.is_some_and(|v| v <= (2, 34)),
            "{} needs GLIBC_{newest:?}",
            module.display()
        );
    }
}

/// nss-module/hot.ld and cold.ld took effect (a linker that ignored them
/// would still build a working module, with a fresh process's RSS back up
/// by ~200 KiB): the PLT and getaddrinfo's entry point in `.text.hot`, before
/// `.text`; the unwinder in `.text.cold`, after it; the exception tables
/// after `.rodata`.
fn the_lookup_code_is_laid_out_first_and_the_panic_code_last() {
    let (shipped, built) = module_path();
    assert!(built, "{} is missing: run `make build`", shipped.display());
    for module in [shipped, panic_module_dir().join("libnss_rustcache.so.2")] {
        let headers = tool_output("readelf", &["-S", "-W"], &module);
        let section = |name: &str| section_range(&headers, name, &module);
        let (hot, text, cold) = (
            section(".text.hot"),
            section(".text"),
            section(".text.cold"),
        );
        assert!(hot.1 <= text.0 && text.1 <= cold.0, "{headers}");
        assert!(
            section(".rodata").1 <= section(".gcc_except_table").0,
            "{headers}"
        );
        let symbols = tool_output("nm", &[], &module);
        let at = |name: &str| -> u64 {
            symbols
                .lines()
                .find_map(|l| {
                    let mut words = l.split_whitespace();
                    let addr = words.next()?;
                    words.next()?;
                    (words.next()? == name).then(|| u64::from_str_radix(addr, 16).ok())?
                })
                .unwrap_or_else(|| panic!("no symbol {name} in {}", module.display()))
        };
        let within = |addr: u64, (lo, hi): (u64, u64)| lo <= addr && addr < hi;
        // getaddrinfo's entry point (the profiled path; gethostbyname3_r is not).
        let entry = at("_nss_rustcache_gethostbyname4_r");
        assert!(within(entry, hot), "gethostbyname4_r outside .text.hot");
        // hot.ld takes the PLT's input into .text.hot: no .plt section of its
        // own is left behind the cold code.
        assert!(
            !headers.contains(" .plt "),
            "a .plt outside .text.hot:\n{headers}"
        );
        for cold_one in ["_Unwind_RaiseException", "rust_eh_personality"] {
            assert!(within(at(cold_one), cold), "{cold_one} outside .text.cold");
        }
    }
}

/// The address range of section `name` in `readelf -S -W` output.
fn section_range(headers: &str, name: &str, module: &std::path::Path) -> (u64, u64) {
    headers
        .lines()
        .find_map(|l| {
            let l = l.split(']').nth(1)?;
            let mut words = l.split_whitespace();
            (words.next()? == name).then_some(())?;
            let addr = u64::from_str_radix(words.nth(1)?, 16).ok()?;
            let size = u64::from_str_radix(words.nth(1)?, 16).ok()?;
            Some((addr, addr + size))
        })
        .unwrap_or_else(|| panic!("no {name} in {}:\n{headers}", module.display()))
}

fn tool_output(tool: &str, args: &[&str], file: &std::path::Path) -> String {
    let out = Command::new(tool)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool} (binutils): {e}"));
    assert!(out.status.success(), "{tool} failed on {}", file.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// nss-module/build.rs wrapped std's panic and allocation-error handlers
/// (src/std_entries.rs): core's and alloc's calls reach the module's own,
/// and std's handlers, its panic hook and its backtrace printer are not in
/// the module at all (they were 45% of it). Both builds: the shipped one and
/// the panic-probe one the panic tests load.
fn std_s_panic_handler_hook_and_backtrace_printer_are_left_out() {
    let (shipped, built) = module_path();
    assert!(built, "{} is missing: run `make build`", shipped.display());
    for module in [shipped, panic_module_dir().join("libnss_rustcache.so.2")] {
        let symbols = tool_output("nm", &["-C"], &module);
        let names: Vec<&str> = symbols
            .lines()
            .filter_map(|l| l.splitn(3, ' ').nth(2))
            .collect();
        for wrapper in ["rust_begin_unwind", "__rust_alloc_error_handler"] {
            assert!(
                names
                    .iter()
                    .any(|n| n.starts_with("__wrap_") && n.ends_with(wrapper)),
                "no wrapper of {wrapper} in {}",
                module.display()
            );
        }
        // Functions only std's handlers reach (names as nm -C prints them;
        // identical-code folding may leave an alias such as a RawVec of a
        // gimli type, so whole paths of functions are matched).
        for gone in [
            "std::panicking::default_hook",
            "std::panicking::rust_panic_with_hook",
            "std::panicking::begin_panic_handler",
            "std::sys::backtrace::_print_fmt",
            "std::alloc::default_alloc_error_hook",
            "addr2line::Context",
            "rustc_demangle::demangle",
            "miniz_oxide::inflate::core::decompress",
        ] {
            let found: Vec<&&str> = names.iter().filter(|n| n.starts_with(gone)).collect();
            assert!(
                found.is_empty(),
                "{gone} in {}: {found:?}",
                module.display()
            );
        }
    }
}

/// ld.so looks each imported symbol up at every `dlopen` (the module is
/// linked `-z now`), in every process: about 0.1 us apiece (measured on a
/// do-nothing module given 31 more). Each one here is there for a reason;
/// a new one (std's file calls came back with a `std::fs` in the lookup
/// path, say) is added here on purpose or the change is made another way
/// (src/sys.rs). Both builds. The list is x86_64's, where it was drawn up;
/// on another architecture the compiler's and unwinder's imports may differ
/// and the test says so instead of failing.
fn the_module_imports_only_the_libc_symbols_it_must() {
    if !cfg!(target_arch = "x86_64") {
        eprintln!("imports list drawn up on x86_64: not checked on this architecture");
        return;
    }
    let allowed = set(&[
        // The C runtime's objects (crtbeginS.o).
        "__cxa_finalize",
        "__gmon_start__",
        "_ITM_deregisterTMCloneTable",
        "_ITM_registerTMCloneTable",
        // What the compiler calls for copies and comparisons.
        "bcmp",
        "memcpy",
        "memmove",
        "memset",
        "strlen",
        // std's allocator.
        "calloc",
        "free",
        "malloc",
        "posix_memalign",
        "realloc",
        // Thread-locals of a dlopen'd object.
        "__tls_get_addr",
        // The static unwinder (libgcc_eh.a).
        "__pthread_key_create",
        "abort",
        "dl_iterate_phdr",
        "pthread_mutex_lock",
        "pthread_mutex_unlock",
        "pthread_once",
        // std: errno of its futex and clock calls, the abort message,
        // the environment (RUSTCACHE_CONF, LOCALDOMAIN, RES_OPTIONS).
        "__errno_location",
        "getenv",
        "write",
        // The module's own: the vDSO clock, every other system call, the
        // two the tests stand in for with an LD_PRELOAD, AT_SECURE, and
        // cancellation held off during a lookup.
        "clock_gettime",
        "getauxval",
        "getrandom",
        "posix_fallocate",
        "pthread_setcancelstate",
        "syscall",
    ]);
    let (shipped, built) = module_path();
    assert!(built, "{} is missing: run `make build`", shipped.display());
    for module in [shipped, panic_module_dir().join("libnss_rustcache.so.2")] {
        let symbols = tool_output("readelf", &["--dyn-syms", "-W"], &module);
        let imported: BTreeSet<String> = symbols
            .lines()
            .filter_map(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                (words.len() >= 8 && words[6] == "UND")
                    .then(|| words[7].split('@').next().unwrap_or("").to_owned())
            })
            .collect();
        let extra: Vec<&String> = imported.difference(&allowed).collect();
        assert!(
            extra.is_empty(),
            "{} imports {extra:?} beyond the list",
            module.display()
        );
        assert!(imported.contains("syscall"), "{imported:?}");
    }
}

/// The RELRO segment (the GOT, vtables, the panic locations, the dynamic
/// section: what ld.so relocates and then write-protects) fits one page, so
/// a `dlopen` copies one page for it, not two (measured, 4 x 300
/// interleaved fresh processes: dlopen -1.9 to -3.4 us when it shrank from
/// 4,456 to 3,816 bytes). It holds, among others, one 24-byte location per
/// panic site and the vtables of everything formatted: what std's
/// `Instant` and `File` brought in was most of the excess (src/clock.rs).
/// The dynamic section is on that page, which ld.so writes first (its
/// zero-fill past the segment's end), so reading it costs no fault either
/// (nss-module/dynamic.ld).
fn the_data_relocated_at_dlopen_is_one_page() {
    let (shipped, built) = module_path();
    assert!(built, "{} is missing: run `make build`", shipped.display());
    let segments = tool_output("readelf", &["-l", "-W"], &shipped);
    let relro = segments
        .lines()
        .find(|l| l.trim_start().starts_with("GNU_RELRO"))
        .unwrap_or_else(|| panic!("no GNU_RELRO segment:\n{segments}"));
    let words: Vec<u64> = relro
        .split_whitespace()
        .skip(1)
        .take(5)
        .map(|w| u64::from_str_radix(w.trim_start_matches("0x"), 16).unwrap())
        .collect();
    let (start, file_size) = (words[1], words[3]);
    let end = start + file_size;
    // One page, wherever the linker starts it (LLD on a page boundary, GNU
    // ld so that it ends on one).
    assert!(
        file_size > 0 && start / 4096 == (end - 1) / 4096,
        "RELRO is {file_size} bytes from {start:#x}, on more than one page: \
         trim what it holds (see this test's comment)\n{relro}"
    );
    let headers = tool_output("readelf", &["-S", "-W"], &shipped);
    let (dynamic, _) = section_range(&headers, ".dynamic", &shipped);
    assert!(
        start <= dynamic && dynamic < end,
        ".dynamic at {dynamic:#x} outside RELRO {start:#x}..{end:#x}"
    );
}
