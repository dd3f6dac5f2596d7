//! Why a run stopped.

use std::fmt;
use std::io;
use std::path::PathBuf;

use rustcache_testkit::ns::ProbeOutput;

/// Why a run stopped.
#[derive(Debug)]
pub enum BenchError {
    /// The command line is wrong.
    Usage(String),
    /// `libnss_rustcache.so.2` is not where probes would load it from.
    ModuleMissing(PathBuf),
    /// A system call or file operation failed.
    Io { what: String, source: io::Error },
    /// A probe failed, timed out or answered wrong.
    Probe { what: String, output: ProbeOutput },
    /// A daemon did not start, or died during a scenario; `log` is what it printed.
    Daemon { what: String, log: String },
    /// A C source of the benchmark did not compile; `output` is the compiler's.
    Compile { source: PathBuf, output: String },
}

impl BenchError {
    pub fn io(what: String, source: io::Error) -> BenchError {
        BenchError::Io { what, source }
    }
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Usage(msg) => f.write_str(msg),
            BenchError::ModuleMissing(path) => write!(
                f,
                "{} does not exist: run `make build` first (or set RUSTCACHE_MODULE_DIR)",
                path.display()
            ),
            BenchError::Io { what, source } => write!(f, "cannot {what}: {source}"),
            BenchError::Probe { what, output } => write!(f, "{what}\n{output}"),
            BenchError::Daemon { what, log } => {
                write!(f, "{what}\n--- its output ---\n{}", log.trim_end())
            }
            BenchError::Compile { source, output } => write!(
                f,
                "cannot compile {}:\n{}",
                source.display(),
                output.trim_end()
            ),
        }
    }
}

impl std::error::Error for BenchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BenchError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
