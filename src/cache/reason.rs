//! Why a cache file or directory was not used, kept so that `rustcache
//! check` and `rustcache stats` can say which path failed which check,
//! instead of the process silently running uncached.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use super::map::MapError;

/// A trust check that a cache file or a fallback directory failed
/// (docs/ARCHITECTURE.md, "Trust model").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// A symbolic link where a file or directory was expected; it is never
    /// followed.
    Symlink,
    /// Not a regular file.
    NotRegular,
    /// Not a directory.
    NotDirectory,
    /// Owned by another uid than the one whose file or directory it is.
    Owner {
        /// The owner the kernel reports.
        found: u32,
        /// The owner required.
        expected: u32,
    },
    /// A cache file writable by group or others.
    FileMode {
        /// The permission bits found.
        found: u32,
    },
    /// A fallback directory that group or others may enter or write.
    DirMode {
        /// The permission bits found.
        found: u32,
    },
    /// A cache file with more than one hard link.
    Links {
        /// The link count found.
        found: u64,
    },
    /// A file too small for a header and the fewest slots, or too large.
    Size,
    /// No magic number: not initialised, or not a cache file.
    Magic,
    /// A file of another layout version (another rustcache release).
    LayoutVersion {
        /// The version the header says.
        found: u32,
    },
    /// The header's geometry does not match the file.
    Geometry,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::Symlink => write!(f, "a symbolic link (never followed)"),
            Check::NotRegular => write!(f, "not a regular file"),
            Check::NotDirectory => write!(f, "not a directory"),
            Check::Owner { found, expected } => {
                write!(f, "owned by uid {found}, not {expected}")
            }
            Check::FileMode { found } => {
                write!(f, "mode {found:04o}: writable by group or others")
            }
            Check::DirMode { found } => {
                write!(f, "mode {found:04o}: open to group or others (0700 needed)")
            }
            Check::Links { found } => write!(f, "{found} hard links (one needed)"),
            Check::Size => write!(f, "size fits no cache geometry"),
            Check::Magic => write!(f, "header: not initialised, or not a cache file"),
            Check::LayoutVersion { found } => {
                write!(
                    f,
                    "header: layout version {found}, this module uses another"
                )
            }
            Check::Geometry => write!(f, "header: geometry does not match the file"),
        }
    }
}

/// What went wrong at one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A system call failed with this errno.
    Os(i32),
    /// The path exists and failed a trust check.
    Refused(Check),
    /// Another process is making the file (it is used from the next look
    /// at the files on).
    BeingMade,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Os(errno) => write!(f, "{}", io::Error::from_raw_os_error(*errno)),
            Problem::Refused(check) => write!(f, "not used: {check}"),
            Problem::BeingMade => write!(f, "being made by another process, not there yet"),
        }
    }
}

impl Problem {
    /// The problem an I/O error stands for.
    pub fn from_io(error: &io::Error) -> Problem {
        Problem::Os(error.raw_os_error().unwrap_or(libc::EINVAL))
    }

    /// The problem a failure to map a file stands for.
    pub fn from_map(error: &MapError) -> Problem {
        match error {
            MapError::Io(e) => Problem::from_io(e),
            MapError::Untrusted(check) => Problem::Refused(*check),
            MapError::Busy => Problem::BeingMade,
        }
    }
}

/// A path and what went wrong there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The file or directory.
    pub path: PathBuf,
    /// What went wrong.
    pub problem: Problem,
}

impl Failure {
    /// `problem` at `path`.
    pub fn new(path: &Path, problem: Problem) -> Failure {
        Failure {
            path: path.to_path_buf(),
            problem,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.problem)
    }
}

/// Why a process runs without its own cache file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoCache {
    /// `cache no` in rustcache.conf.
    Disabled,
    /// No lookup has looked for the files yet.
    NotLooked,
    /// The file in the cache directory could not be used, and neither
    /// could the fallback place (`None`: it was not tried, because the
    /// file in the cache directory exists and failed a check).
    Failed {
        /// What went wrong in the cache directory.
        primary: Failure,
        /// What went wrong in the fallback place, if it was tried.
        fallback: Option<Failure>,
    },
}

impl fmt::Display for NoCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoCache::Disabled => write!(f, "the cache is off (`cache no`)"),
            NoCache::NotLooked => write!(f, "not looked for yet"),
            NoCache::Failed { primary, fallback } => {
                write!(f, "{primary}")?;
                match (fallback, &primary.problem) {
                    (Some(fallback), _) => write!(f, "; fallback {fallback}"),
                    (None, Problem::Refused(_)) => {
                        write!(f, " (no fallback: the file is there, and refused)")
                    }
                    (None, Problem::Os(_) | Problem::BeingMade) => Ok(()),
                }
            }
        }
    }
}
