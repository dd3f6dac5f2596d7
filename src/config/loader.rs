//! Loading the configuration, and re-loading it when a file changes.
//!
//! glibc notices a changed resolv.conf in running processes; so must we, or
//! a long-lived daemon would keep asking a server that was replaced. Each
//! lookup compares the files' identity (device, inode, size, mtime, ctime)
//! with what it saw last and parses again only when one changed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::clock::{now_ms, Every};
use crate::sys::file;

use super::{parse_overrides, parse_resolv_conf, Config, ConfigError, ConfigErrorKind};

/// Where the configuration comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sources {
    /// glibc's file, `/etc/resolv.conf`.
    pub resolv_conf: PathBuf,
    /// rustcache's file, `/etc/rustcache.conf` (or `RUSTCACHE_CONF`).
    pub rustcache_conf: PathBuf,
    /// `LOCALDOMAIN`: replaces the search list.
    pub local_domain: Option<OsString>,
    /// `RES_OPTIONS`: options applied last.
    pub res_options: Option<OsString>,
}

impl Sources {
    /// The standard files and this process's environment. In AT_SECURE
    /// (setuid, setgid, file-capability) processes no variable is read, as
    /// the environment belongs to a less privileged caller.
    pub fn from_environment() -> Sources {
        let secure = is_secure_process();
        let var = |name: &str| {
            if secure {
                None
            } else {
                std::env::var_os(name)
            }
        };
        Sources {
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            rustcache_conf: var("RUSTCACHE_CONF")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/etc/rustcache.conf")),
            local_domain: var("LOCALDOMAIN"),
            res_options: var("RES_OPTIONS"),
        }
    }

    /// Reads and merges everything, returning every problem met on the way.
    pub fn load_with_diagnostics(&self) -> (Config, Vec<ConfigError>) {
        let (config, errors, _) = self.load();
        (config, errors)
    }

    /// Reads and merges everything; also returns the identity of the files
    /// as read (from `fstat` of the descriptors read, so a first lookup
    /// makes no `stat` calls of its own).
    fn load(&self) -> (Config, Vec<ConfigError>, Stamp) {
        let mut errors = Vec::new();
        let resolv = read_optional(&self.resolv_conf).unwrap_or_else(|error| {
            errors.push(error);
            FileRead::default()
        });
        let (mut config, resolv_errors) =
            parse_resolv_conf(resolv.text.as_deref().unwrap_or(""), &self.resolv_conf);
        errors.extend(resolv_errors);
        let overrides = read_optional(&self.rustcache_conf).unwrap_or_else(|error| {
            errors.push(error);
            FileRead::default()
        });
        if let Some(text) = &overrides.text {
            let (overrides, override_errors) = parse_overrides(text, &self.rustcache_conf);
            overrides.apply(&mut config);
            errors.extend(override_errors);
        }
        if let Some(domains) = self.local_domain.as_ref().and_then(|v| v.to_str()) {
            config.search = domains
                .split_ascii_whitespace()
                .take(super::MAX_SEARCH)
                .map(str::to_owned)
                .collect();
        }
        if let Some(words) = self.res_options.as_ref().and_then(|v| v.to_str()) {
            // glibc ignores options it does not know here too.
            config.options.apply_words(words.split_ascii_whitespace());
        }
        config.finish();
        static LOADS: AtomicU64 = AtomicU64::new(1);
        // SYNC POINT: Relaxed; only uniqueness matters.
        config.load_id = LOADS.fetch_add(1, Ordering::Relaxed);
        (config, errors, Stamp([resolv.stamp, overrides.stamp]))
    }

    fn stamp(&self) -> Stamp {
        Stamp([
            file_stamp(&self.resolv_conf),
            file_stamp(&self.rustcache_conf),
        ])
    }
}

/// More than any real configuration file; the rest of a larger one is
/// ignored.
const MAX_CONFIG_BYTES: usize = 1 << 20;

/// A configuration file as read: its text and identity, both `None` when
/// it is absent.
#[derive(Default)]
struct FileRead {
    text: Option<String>,
    stamp: FileStamp,
}

/// Reads a file that may legitimately be absent: one open, one `fstat`,
/// the reads, one close (through [`crate::sys::file`], which keeps std's
/// file calls and their libc imports out of the module). A first lookup
/// pays for each of these calls, so a file read up to the size `fstat`
/// gave is not read once more for its end.
fn read_optional(path: &Path) -> Result<FileRead, ConfigError> {
    let unreadable = |e: std::io::Error| ConfigError {
        path: path.to_path_buf(),
        line: 0,
        // Only the number: its text (strerror) is looked up when the error
        // is shown, by `rustcache check`, never in a lookup.
        kind: ConfigErrorKind::Unreadable(e.raw_os_error().unwrap_or(libc::EINVAL)),
    };
    let c_path = file::c_path(path).map_err(unreadable)?;
    let fd = match file::open(&c_path, libc::O_RDONLY, 0) {
        Ok(fd) => fd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileRead::default()),
        Err(e) => return Err(unreadable(e)),
    };
    let st = file::fstat(&fd).map_err(unreadable)?;
    // Files of size 0 in `fstat` (procfs and the like) are read to their end.
    // A file that grew after the `fstat` is read up to its old size here; its
    // stamp holds the old size, so the next look at it (within a second)
    // sees the change and reads it again. The read fills the vector's spare
    // room as it is: nothing is zeroed first, and no buffer lands on the
    // caller's stack (a fresh process's first lookup would fault a stack
    // page in for it).
    let size = usize::try_from(st.st_size).unwrap_or(usize::MAX);
    let limit = if size == 0 {
        MAX_CONFIG_BYTES
    } else {
        size.min(MAX_CONFIG_BYTES)
    };
    let mut bytes = Vec::with_capacity(if size == 0 { 0 } else { limit });
    file::read_to_end(&fd, &mut bytes, limit).map_err(unreadable)?;
    let text = String::from_utf8(bytes)
        .unwrap_or_else(|invalid| String::from_utf8_lossy(invalid.as_bytes()).into_owned());
    Ok(FileRead {
        text: Some(text),
        stamp: Some(stamp_of(&st)),
    })
}

/// True in setuid/setgid/capability-raised processes.
fn is_secure_process() -> bool {
    // SAFETY: getauxval has no preconditions; it reads the auxiliary vector.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

/// What identifies one version of a file; `None` when it is absent.
type FileStamp = Option<FileId>;

/// Device, inode, size, mtime (s, ns) and ctime (s, ns) of a file.
type FileId = (u64, u64, u64, i64, i64, i64, i64);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp([FileStamp; 2]);

fn file_stamp(path: &Path) -> FileStamp {
    let c_path = file::c_path(path).ok()?;
    file::stat(&c_path).ok().map(|st| stamp_of(&st))
}

fn stamp_of(st: &libc::stat64) -> FileId {
    // st_dev and st_nlink are u64 on x86_64, and st_dev u64 on aarch64 too:
    // the conversions are for the types each architecture declares.
    #[allow(clippy::useless_conversion)]
    (
        u64::from(st.st_dev),
        u64::from(st.st_ino),
        u64::try_from(st.st_size).unwrap_or(0),
        i64::from(st.st_mtime),
        i64::from(st.st_mtime_nsec),
        i64::from(st.st_ctime),
        i64::from(st.st_ctime_nsec),
    )
}

/// The configuration of this process, re-read when its files change.
///
/// The files are looked at (two `stat` calls) at most once a second, so a
/// cache hit costs no system call; a change is seen within a second, as
/// docs/ARCHITECTURE.md ("Configuration") allows. The lock is only ever
/// tried, never waited on: a thread
/// that finds it taken, or a child forked while it was taken, parses its
/// own copy instead.
pub struct ConfigCache {
    sources: Sources,
    current: RwLock<Option<(Stamp, Arc<Config>)>>,
    /// `load_id` of the configuration in `current` (0: none yet), so the
    /// per-thread memo can be consulted without touching the lock.
    current_id: AtomicU64,
    /// The next look at the files.
    check: Every,
}

impl ConfigCache {
    /// A cache reading from `sources`.
    pub fn new(sources: Sources) -> ConfigCache {
        ConfigCache {
            sources,
            current: RwLock::new(None),
            current_id: AtomicU64::new(0),
            check: Every::new(),
        }
    }

    /// The current configuration.
    pub fn get(&self) -> Arc<Config> {
        let now = now_ms();
        let due = self.check.claim(now);
        if let Ok(guard) = self.current.try_read() {
            if let Some((seen, config)) = guard.as_ref() {
                // Once a second, two stats under the read lock: a writer
                // only ever tries it, so none waits.
                if !due || *seen == self.sources.stamp() {
                    return Arc::clone(config);
                }
            }
        }
        // A first load needs no look at the files beforehand: reading them
        // tells their identity.
        let (config, _, stamp) = self.sources.load();
        let config = Arc::new(config);
        if let Ok(mut guard) = self.current.try_write() {
            *guard = Some((stamp, Arc::clone(&config)));
            // SYNC POINT: Release; a reader of the id then sees a
            // configuration at least this new in `current`.
            self.current_id.store(config.load_id, Ordering::Release);
        }
        config
    }

    /// The `load_id` of the configuration in force, if no look at the
    /// files is due: what a memoised answer must have been looked up
    /// under. `None` means: take the full path ([`get`](Self::get)).
    #[inline]
    pub fn quick_load_id(&self, now: u64) -> Option<u64> {
        // SYNC POINT: Relaxed/Acquire: a stale view of either only sends
        // this lookup down the full path, or matches no memo entry.
        if self.check.is_due(now) {
            return None;
        }
        let id = self.current_id.load(Ordering::Acquire);
        (id != 0).then_some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(dir: &Path) -> Sources {
        Sources {
            resolv_conf: dir.join("resolv.conf"),
            rustcache_conf: dir.join("rustcache.conf"),
            local_domain: None,
            res_options: None,
        }
    }

    fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rustcache-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_changed_file_is_read_again() {
        let dir = tempdir("reload");
        std::fs::write(dir.join("resolv.conf"), "nameserver 127.0.0.2\n").unwrap();
        let cache = ConfigCache::new(sources(&dir));
        assert_eq!(cache.get().servers[0].to_string(), "127.0.0.2:53");
        std::fs::write(dir.join("resolv.conf"), "nameserver 127.0.0.33\n").unwrap();
        // Looked at again at most once a second.
        assert_eq!(cache.get().servers[0].to_string(), "127.0.0.2:53");
        cache.check.reset();
        assert_eq!(cache.get().servers[0].to_string(), "127.0.0.33:53");
        std::fs::write(dir.join("rustcache.conf"), "nameserver 127.0.0.44\n").unwrap();
        cache.check.reset();
        assert_eq!(cache.get().servers[0].to_string(), "127.0.0.44:53");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_file_is_read_to_its_size_across_reads() {
        // More than one 4096-byte read, ending mid-chunk, and a line after
        // the first chunk that only a complete read sees.
        let dir = tempdir("size");
        let mut text = "# padding\n".repeat(500);
        text.push_str("nameserver 127.0.0.9\n");
        std::fs::write(dir.join("resolv.conf"), &text).unwrap();
        let read = read_optional(&dir.join("resolv.conf")).unwrap();
        assert_eq!(read.text.as_deref(), Some(text.as_str()));
        assert_eq!(read.stamp.unwrap().2, text.len() as u64);
        let (c, _) = sources(&dir).load_with_diagnostics();
        assert_eq!(c.servers[0].to_string(), "127.0.0.9:53");
        std::fs::write(dir.join("resolv.conf"), "").unwrap();
        assert_eq!(
            read_optional(&dir.join("resolv.conf"))
                .unwrap()
                .text
                .as_deref(),
            Some("")
        );
        // A file shorter than one read, and one that is not
        // UTF-8 (its bad bytes become U+FFFD, the rest is kept).
        std::fs::write(dir.join("resolv.conf"), "nameserver 127.0.0.8\n").unwrap();
        let read = read_optional(&dir.join("resolv.conf")).unwrap();
        assert_eq!(read.text.as_deref(), Some("nameserver 127.0.0.8\n"));
        std::fs::write(
            dir.join("resolv.conf"),
            b"search \xff.example\nnameserver 127.0.0.7\n",
        )
        .unwrap();
        let read = read_optional(&dir.join("resolv.conf")).unwrap();
        assert_eq!(
            read.text.as_deref(),
            Some("search \u{fffd}.example\nnameserver 127.0.0.7\n")
        );
        // procfs gives size 0 for files that have text: read to the end.
        let proc_file = read_optional(Path::new("/proc/self/status")).unwrap();
        assert!(proc_file.text.unwrap().contains("Pid:"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_unreadable_file_is_reported_with_the_systems_reason_and_the_rest_applies() {
        // A directory where the file should be: open succeeds, read fails
        // (EISDIR), even for root.
        let dir = tempdir("unreadable");
        std::fs::create_dir_all(dir.join("resolv.conf")).unwrap();
        std::fs::write(dir.join("rustcache.conf"), "nameserver 127.0.0.45\n").unwrap();
        let (c, errors) = sources(&dir).load_with_diagnostics();
        assert_eq!(c.servers[0].to_string(), "127.0.0.45:53");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].kind, ConfigErrorKind::Unreadable(libc::EISDIR));
        assert_eq!(
            errors[0].to_string(),
            format!(
                "{}: cannot read the file: {}",
                dir.join("resolv.conf").display(),
                std::io::Error::from_raw_os_error(libc::EISDIR)
            )
        );
        assert!(errors[0].to_string().contains("directory"), "{}", errors[0]);
        // Its identity is still looked at, so a file put there is seen.
        assert!(file_stamp(&dir.join("resolv.conf")).is_some());
        assert!(file_stamp(&dir.join("missing")).is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn environment_overrides_apply_last() {
        let dir = tempdir("env");
        std::fs::write(
            dir.join("resolv.conf"),
            "search a.example\noptions ndots:1\n",
        )
        .unwrap();
        std::fs::write(dir.join("rustcache.conf"), "ndots 3\nbogus line\n").unwrap();
        let mut s = sources(&dir);
        s.local_domain = Some("x.example y.example".into());
        s.res_options = Some("ndots:4 attempts:1".into());
        let (c, errors) = s.load_with_diagnostics();
        assert_eq!(c.search, vec!["x.example", "y.example"]);
        assert_eq!(c.options.ndots, 4);
        assert_eq!(c.options.attempts, 1);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 2);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
