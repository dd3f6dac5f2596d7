//! The programs the systems need (nscd, dnsmasq, unbound, a C compiler for the floor
//! module): where they are, their versions, and which systems must be skipped because
//! one is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::system::System;

/// A program a system needs, and the Debian package that provides it.
#[derive(Clone, Copy, Debug)]
pub struct Tool {
    /// The program's name, looked up in `PATH` and the sbin directories.
    pub program: &'static str,
    /// The Debian 12 package to install when it is missing.
    pub package: &'static str,
    /// The argument that makes it print its version on the first line.
    pub version_arg: &'static str,
}

/// Directories searched after `PATH` (daemons live in sbin, which a non-login root
/// shell may not have in `PATH`).
const EXTRA_DIRS: [&str; 3] = ["/usr/sbin", "/sbin", "/usr/local/sbin"];

impl Tool {
    /// The program's path, if it is installed.
    pub fn find(&self) -> Option<PathBuf> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain(EXTRA_DIRS.iter().map(PathBuf::from))
            .map(|dir| dir.join(self.program))
            .find(|p| is_executable(p))
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The first line a program prints with its version argument (on stdout or stderr).
fn version_line(tool: &Tool, path: &Path) -> String {
    let out = Command::new(path)
        .arg(tool.version_arg)
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(out) => {
            let text = if out.stdout.is_empty() {
                out.stderr
            } else {
                out.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .find(|l| !l.trim().is_empty())
                .map_or_else(|| "version unknown".to_string(), |l| l.trim().to_string())
        }
        Err(e) => format!("version unknown ({e})"),
    }
}

/// For every selected system: the program it needs (if any) or why it is skipped.
pub struct Availability {
    entries: Vec<(System, Found)>,
}

/// A system's program: `Ok(None)` when it needs none, `Err(why)` when it is missing.
type Found = Result<Option<(Tool, PathBuf)>, String>;

impl Availability {
    /// Looks for the program of every system in `systems`.
    pub fn probe(systems: &[System]) -> Availability {
        let entries = systems
            .iter()
            .map(|&system| {
                let found = match system.tool() {
                    None => Ok(None),
                    Some(tool) => match tool.find() {
                        Some(path) => Ok(Some((tool, path))),
                        None => Err(format!(
                            "`{}` not found; install the Debian package {}",
                            tool.program, tool.package
                        )),
                    },
                };
                (system, found)
            })
            .collect();
        Availability { entries }
    }

    /// True when `system` was selected and has what it needs.
    pub fn available(&self, system: System) -> bool {
        self.entries.iter().any(|(s, r)| *s == system && r.is_ok())
    }

    /// The program `system` runs, if it needs one and it was found.
    pub fn program(&self, system: System) -> Option<&Path> {
        self.entries.iter().find_map(|(s, r)| match r {
            Ok(Some((_, path))) if *s == system => Some(path.as_path()),
            _ => None,
        })
    }

    /// `(system, reason)` for every selected system that cannot run.
    pub fn skipped(&self) -> Vec<(System, String)> {
        self.entries
            .iter()
            .filter_map(|(s, r)| r.as_ref().err().map(|why| (*s, why.clone())))
            .collect()
    }

    /// `program: version` of every program found, for the report's header.
    pub fn versions(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter_map(|(_, r)| match r {
                Ok(Some((tool, path))) => {
                    Some(format!("{}: {}", path.display(), version_line(tool, path)))
                }
                _ => None,
            })
            .collect()
    }
}
