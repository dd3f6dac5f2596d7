//! The C probe: `bench/cprobe/cprobe.c` compiled into a program that links only libc,
//! the fresh process of the loading-cost scenarios (`fresh-process`, `dlopen`,
//! `memory`). The testkit's own probe is a Rust program, which already has
//! `libgcc_s.so.1` loaded: a module needing it would load for free there, and the
//! pages it adds would go unseen. The C source says what each command prints.

use std::path::{Path, PathBuf};

use crate::compile::{bench_source, compile, BuildDir};
use crate::error::BenchError;

/// The compiled program, in a directory of its own (removed when dropped).
pub struct CProbe {
    dir: BuildDir,
}

impl CProbe {
    pub fn build(cc: &Path) -> Result<CProbe, BenchError> {
        let dir = BuildDir::new("cprobe")?;
        compile(cc, &[], &Self::source(), &dir.path().join("cprobe"))?;
        Ok(CProbe { dir })
    }

    /// The C compiler, if installed (the floor module's).
    pub fn compiler() -> Option<PathBuf> {
        crate::system::CC.find()
    }

    pub fn source() -> PathBuf {
        bench_source("cprobe/cprobe.c")
    }

    /// The program.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("cprobe")
    }
}
