//! `/proc/PID/smaps`, summed: into the few figures the bench's `memory` scenario
//! reports ([`Usage`]), or the resident size of one file's mappings ([`rss_of`], the
//! probe's `rss` op).
//!
//! Why smaps and not smaps_rollup: the rollup cannot tell a page of a `MAP_SHARED`
//! mapping (rustcache's cache file, nscd's database) from a private one. A shared page
//! touched by one process alone counts as that process's `Private_*`, although it is
//! one page of the host's page cache, whoever else maps it.

/// What a process has resident, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    /// `Rss` of every mapping.
    pub rss: f64,
    /// `Private_Dirty` of the private mappings: memory no other process can share
    /// (heap, stacks, written data and relocated pages of libraries). Anonymous
    /// memory that was written is counted here too.
    pub private_dirty: f64,
    /// `Anonymous` of every mapping (a part of `private_dirty`, shown on its own).
    pub anonymous: f64,
    /// `Private_Clean` + `Shared_Clean` of the private mappings: file pages read but
    /// not written (code, read-only data), shareable by every process mapping the file.
    pub file_clean: f64,
    /// `Rss` of the shared mappings.
    pub shared_mappings: f64,
}

impl Usage {
    /// Sums an smaps text; unreadable lines are skipped.
    pub fn parse(text: &str) -> Usage {
        let mut usage = Usage::default();
        let mut shared = false;
        for line in text.lines() {
            if let Some(mapping) = Mapping::header(line) {
                shared = mapping.shared;
                continue;
            }
            let Some((field, kib)) = field(line) else {
                continue;
            };
            let bytes = kib as f64 * 1024.0;
            match field {
                "Rss:" => {
                    usage.rss += bytes;
                    if shared {
                        usage.shared_mappings += bytes;
                    }
                }
                "Private_Dirty:" if !shared => usage.private_dirty += bytes,
                "Private_Clean:" | "Shared_Clean:" if !shared => usage.file_clean += bytes,
                "Anonymous:" => usage.anonymous += bytes,
                _ => {}
            }
        }
        usage
    }

    /// `self - before`, field by field.
    pub fn minus(self, before: Usage) -> Usage {
        Usage {
            rss: self.rss - before.rss,
            private_dirty: self.private_dirty - before.private_dirty,
            anonymous: self.anonymous - before.anonymous,
            file_clean: self.file_clean - before.file_clean,
            shared_mappings: self.shared_mappings - before.shared_mappings,
        }
    }
}

/// `Rss` of every mapping of a file whose path ends with `suffix`, summed, in KiB;
/// `None` when no such file is mapped.
pub fn rss_of(text: &str, suffix: &str) -> Option<u64> {
    let mut inside = false;
    let mut found = false;
    let mut kib = 0;
    for line in text.lines() {
        if let Some(mapping) = Mapping::header(line) {
            inside = mapping.path.ends_with(suffix);
            found |= inside;
        } else if let (true, Some(("Rss:", value))) = (inside, field(line)) {
            kib += value;
        }
    }
    found.then_some(kib)
}

/// A mapping's first line: `START-END PERMS OFFSET DEV INODE [PATH]`.
struct Mapping<'a> {
    /// `MAP_SHARED` (the permissions end in `s`, not `p`).
    shared: bool,
    /// The file mapped (it may hold spaces), a `[name]`, or empty.
    path: &'a str,
}

impl<'a> Mapping<'a> {
    fn header(line: &'a str) -> Option<Mapping<'a>> {
        let mut rest = line;
        let mut fields = [""; 5];
        for field in &mut fields {
            rest = rest.trim_start();
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            (*field, rest) = rest.split_at(end);
        }
        let range = fields[0];
        let is_range =
            range.contains('-') && range.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        is_range.then(|| Mapping {
            shared: fields[1].ends_with('s'),
            path: rest.trim(),
        })
    }
}

/// A `Name:   N kB` line: its name (colon included) and N.
fn field(line: &str) -> Option<(&str, u64)> {
    let mut words = line.split_whitespace();
    let name = words.next().filter(|n| n.ends_with(':'))?;
    Some((name, words.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_shared_mappings_are_told_apart() {
        let text = "\
55d0c0000000-55d0c0021000 rw-p 00000000 00:00 0                          [heap]
Size:                132 kB
Rss:                   8 kB
Private_Clean:         0 kB
Private_Dirty:         8 kB
Anonymous:             8 kB
VmFlags: rd wr mr mw me ac sd
7f0000000000-7f0001000000 rw-s 00000000 00:2d 12                         /run/rustcache/0.v3.cache
Rss:                  12 kB
Private_Clean:         4 kB
Private_Dirty:         8 kB
7f0002000000-7f0002010000 r-xp 00000000 08:01 99                         /usr/lib/libc.so.6
Rss:                  20 kB
Shared_Clean:         16 kB
Private_Clean:         4 kB
";
        let u = Usage::parse(text);
        assert_eq!(u.rss, 40.0 * 1024.0);
        assert_eq!(u.private_dirty, 8.0 * 1024.0);
        assert_eq!(u.anonymous, 8.0 * 1024.0);
        assert_eq!(u.file_clean, 20.0 * 1024.0);
        assert_eq!(u.shared_mappings, 12.0 * 1024.0);
        assert_eq!(rss_of(text, ".v3.cache"), Some(12));
        assert_eq!(rss_of(text, "libc.so.6"), Some(20));
        assert_eq!(rss_of(text, ".v4.cache"), None);
    }

    #[test]
    fn a_path_with_spaces_is_one_path() {
        let text = "\
7f0000000000-7f0000001000 r--s 00000000 00:2d 12                         /tmp/a dir/0.v3.cache
Rss:                   4 kB
";
        assert_eq!(rss_of(text, "dir/0.v3.cache"), Some(4));
        assert_eq!(Usage::parse(text).shared_mappings, 4096.0);
    }
}
