//! The C probe: `bench/cprobe/cprobe.c` compiled into a program that links only libc,
//! the fresh process of the loading-cost scenarios (`fresh-process`, `dlopen`,
//! `memory`). The testkit's own probe is a Rust program, which already has
//! `libgcc_s.so.1` loaded: a module needing it would load for free there, and the
//! pages it adds would go unseen. The C source says what each command prints.
//!
//! The same source is also linked against curl's own libcurl, when curl is installed:
//! a process with libcurl's thirty-odd libraries loaded ahead of the module, as curl
//! itself has. There every symbol the module imports is looked up through more
//! libraries when it is loaded, so a module's load costs more than in the bare probe.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::compile::{bench_source, compile, BuildDir};
use crate::error::BenchError;
use crate::tools::Tool;

/// curl, whose libcurl the second probe links.
pub const CURL: Tool = Tool {
    program: "curl",
    package: "curl",
    version_arg: "--version",
};

/// The compiled programs, in a directory of their own (removed when dropped).
pub struct CProbe {
    dir: BuildDir,
    /// `cprobe-libcurl` and the libcurl it links, or why it was not built.
    libcurl: Result<(PathBuf, PathBuf), String>,
}

impl CProbe {
    pub fn build(cc: &Path) -> Result<CProbe, BenchError> {
        let dir = BuildDir::new("cprobe")?;
        compile(cc, &[], &Self::source(), &dir.path().join("cprobe"))?;
        let libcurl = curl_library().and_then(|lib| {
            let out = dir.path().join("cprobe-libcurl");
            // --no-as-needed: the probe calls nothing of libcurl's, and the point is
            // that libcurl (and through it its own libraries) is loaded, in curl's
            // order: the program, libcurl, libc, then libcurl's libraries.
            let flags = [
                OsString::from("-Wl,--no-as-needed"),
                lib.clone().into_os_string(),
            ];
            compile(cc, &flags, &Self::source(), &out)
                .map(|()| (out, lib.clone()))
                .map_err(|e| format!("linking against {} failed: {e}", lib.display()))
        });
        Ok(CProbe { dir, libcurl })
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

    /// The program linked against libcurl and the libcurl it links, or why there is
    /// none.
    pub fn libcurl(&self) -> Result<(&Path, &Path), &str> {
        match &self.libcurl {
            Ok((program, library)) => Ok((program, library)),
            Err(why) => Err(why),
        }
    }
}

/// The libcurl that the installed curl loads, as `ldd` resolves it.
fn curl_library() -> Result<PathBuf, String> {
    let curl = CURL
        .find()
        .ok_or_else(|| format!("curl is not installed (Debian package {})", CURL.package))?;
    let out = Command::new("ldd")
        .arg(&curl)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ldd {}: {e}", curl.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|line| line.trim().split_once(" => "))
        .find(|(name, _)| name.starts_with("libcurl.so"))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .map(PathBuf::from)
        .ok_or_else(|| format!("ldd {} names no libcurl", curl.display()))
}
