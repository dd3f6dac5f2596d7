//! The floor module: `bench/floor/nss_floor.c` compiled into `libnss_floor.so.2` in a
//! temporary directory, answering the hit-latency names ([`crate::scenario::hit`])
//! from constants. Probes of the `floor` system find it through `LD_LIBRARY_PATH`.

use std::ffi::OsString;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use crate::compile::{bench_source, compile, BuildDir};
use crate::error::BenchError;
use crate::scenario::hit;

/// The compiled module, in a directory of its own (removed when dropped).
pub struct FloorModule {
    dir: BuildDir,
}

impl FloorModule {
    /// Compiles the module with `cc`, the names and addresses passed as `-D` macros so
    /// that the benchmark is their only source.
    pub fn build(cc: &Path) -> Result<FloorModule, BenchError> {
        let dir = BuildDir::new("floor")?;
        let flags: Vec<OsString> = [
            "-fPIC".to_string(),
            "-shared".to_string(),
            "-fvisibility=hidden".to_string(),
            "-Wl,-soname,libnss_floor.so.2".to_string(),
            format!("-DFLOOR_V4_NAME=\"{}\"", hit::V4_ONLY_NAME),
            format!("-DFLOOR_V4_ADDR={}", v4_bytes(hit::V4_ONLY_ADDR)),
            format!("-DFLOOR_DUAL_NAME=\"{}\"", hit::DUAL_NAME),
            format!("-DFLOOR_DUAL_V4={}", v4_bytes(hit::DUAL_V4)),
            format!("-DFLOOR_DUAL_V6={}", v6_bytes(hit::DUAL_V6)),
        ]
        .map(OsString::from)
        .into();
        compile(cc, &flags, &Self::source(), &dir.path().join(Self::FILE))?;
        Ok(FloorModule { dir })
    }

    /// The file glibc loads for `hosts: floor`.
    pub const FILE: &'static str = "libnss_floor.so.2";

    /// The C source, in the workspace.
    pub fn source() -> PathBuf {
        bench_source("floor/nss_floor.c")
    }

    /// The directory holding `libnss_floor.so.2`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// `198,19,0,1`: an initialiser for `unsigned char[4]`.
fn v4_bytes(addr: Ipv4Addr) -> String {
    addr.octets().map(|b| b.to_string()).join(",")
}

/// `0x20,0x01,...`: an initialiser for `unsigned char[16]`.
fn v6_bytes(addr: Ipv6Addr) -> String {
    addr.octets().map(|b| format!("{b:#04x}")).join(",")
}
