//! The probe as a standalone binary, for benchmarks and shells:
//! `rustcache-probe --rustcache-probe [--timed] 'gai www.example.com unspec' ...`
//! (see `rustcache_testkit::probe` for the operations and the output).

fn main() {
    rustcache_testkit::probe::main_if_probe();
    eprintln!(
        "usage: rustcache-probe {} [--timed] OP... (see the rustcache_testkit::probe docs)",
        rustcache_testkit::probe::PROBE_FLAG
    );
    std::process::exit(2);
}
