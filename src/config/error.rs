//! Configuration errors, each tied to the file and line it came from.

use std::fmt;
use std::path::PathBuf;

/// One problem found in a configuration file. The line is ignored; the rest
/// of the file still applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the line was read from.
    pub path: PathBuf,
    /// 1-based line number, or 0 when the problem is the file as a whole.
    pub line: usize,
    /// What was wrong.
    pub kind: ConfigErrorKind,
}

/// What was wrong with a configuration line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// The file exists but could not be read: the errno of the call that
    /// failed.
    Unreadable(i32),
    /// The keyword is not one this file knows.
    UnknownKey(String),
    /// The keyword needs a value and has none.
    MissingValue(String),
    /// The value could not be parsed for this keyword.
    BadValue {
        /// The keyword.
        key: String,
        /// The value as written.
        value: String,
        /// What a valid value looks like.
        expected: &'static str,
    },
    /// More entries than are kept; the extra ones are ignored.
    TooMany {
        /// The keyword.
        key: String,
        /// How many are kept.
        limit: usize,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path.display(), self.kind)
        } else {
            write!(f, "{}:{}: {}", self.path.display(), self.line, self.kind)
        }
    }
}

impl fmt::Display for ConfigErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigErrorKind::Unreadable(errno) => write!(
                f,
                "cannot read the file: {}",
                std::io::Error::from_raw_os_error(*errno)
            ),
            ConfigErrorKind::UnknownKey(key) => write!(f, "unknown keyword `{key}`"),
            ConfigErrorKind::MissingValue(key) => write!(f, "`{key}` needs a value"),
            ConfigErrorKind::BadValue {
                key,
                value,
                expected,
            } => write!(f, "`{key}`: `{value}` is not {expected}"),
            ConfigErrorKind::TooMany { key, limit } => {
                write!(f, "`{key}`: only the first {limit} are used")
            }
        }
    }
}

impl std::error::Error for ConfigError {}
