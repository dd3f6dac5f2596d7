//! The floor module: `bench/floor/nss_floor.c` compiled into `libnss_floor.so.2` in a
//! temporary directory, answering the hit-latency names ([`crate::scenario::hit`])
//! from constants. Probes of the `floor` system find it through `LD_LIBRARY_PATH`.

use std::fs;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::BenchError;
use crate::scenario::hit;
use crate::workspace_root;

/// The compiled module; its directory is removed when dropped.
pub struct FloorModule {
    dir: PathBuf,
}

impl FloorModule {
    /// Compiles the module with `cc`, the names and addresses passed as `-D` macros so
    /// that the benchmark is their only source.
    pub fn build(cc: &Path) -> Result<FloorModule, BenchError> {
        let source = Self::source();
        let dir =
            std::env::temp_dir().join(format!("rustcache-bench-floor-{}", std::process::id()));
        fs::create_dir_all(&dir)
            .map_err(|e| BenchError::io(format!("create {}", dir.display()), e))?;
        let module = FloorModule { dir };
        let out = Command::new(cc)
            .args([
                "-O2",
                "-fPIC",
                "-shared",
                "-fvisibility=hidden",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-Wl,-soname,libnss_floor.so.2",
            ])
            .arg(format!("-DFLOOR_V4_NAME=\"{}\"", hit::V4_ONLY_NAME))
            .arg(format!("-DFLOOR_V4_ADDR={}", v4_bytes(hit::V4_ONLY_ADDR)))
            .arg(format!("-DFLOOR_DUAL_NAME=\"{}\"", hit::DUAL_NAME))
            .arg(format!("-DFLOOR_DUAL_V4={}", v4_bytes(hit::DUAL_V4)))
            .arg(format!("-DFLOOR_DUAL_V6={}", v6_bytes(hit::DUAL_V6)))
            .arg("-o")
            .arg(module.dir.join("libnss_floor.so.2"))
            .arg(&source)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| BenchError::io(format!("run {}", cc.display()), e))?;
        if !out.status.success() {
            return Err(BenchError::Floor {
                output: format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            });
        }
        Ok(module)
    }

    /// The C source, in the workspace.
    pub fn source() -> PathBuf {
        workspace_root()
            .join("bench")
            .join("floor")
            .join("nss_floor.c")
    }

    /// The directory holding `libnss_floor.so.2`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for FloorModule {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
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
