//! Compiling the benchmark's C sources (the floor module, the C probe) with the
//! system's C compiler into a temporary directory of their own.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::BenchError;
use crate::workspace_root;

/// A temporary directory holding what was compiled; removed when dropped.
pub struct BuildDir {
    dir: PathBuf,
}

impl BuildDir {
    /// Creates `rustcache-bench-WHAT-PID` under the temporary directory.
    pub fn new(what: &str) -> Result<BuildDir, BenchError> {
        let dir =
            std::env::temp_dir().join(format!("rustcache-bench-{what}-{}", std::process::id()));
        fs::create_dir_all(&dir)
            .map_err(|e| BenchError::io(format!("create {}", dir.display()), e))?;
        Ok(BuildDir { dir })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for BuildDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A C source of the benchmark, relative to the workspace's `bench/` directory.
pub fn bench_source(relative: &str) -> PathBuf {
    workspace_root().join("bench").join(relative)
}

/// Runs `cc -O2 -Wall -Wextra -Werror FLAGS -o OUTPUT SOURCE`; the compiler's output
/// becomes the error when it fails (warnings are errors: the sources are ours).
pub fn compile(
    cc: &Path,
    flags: &[OsString],
    source: &Path,
    output: &Path,
) -> Result<(), BenchError> {
    let out = Command::new(cc)
        .args(["-O2", "-Wall", "-Wextra", "-Werror"])
        .args(flags)
        .arg("-o")
        .arg(output)
        .arg(source)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BenchError::io(format!("run {}", cc.display()), e))?;
    if out.status.success() {
        return Ok(());
    }
    Err(BenchError::Compile {
        source: source.to_path_buf(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    })
}
