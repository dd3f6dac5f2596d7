//! `/proc/PID/smaps`, summed into the few figures the `memory` scenario reports.
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
            let mut fields = line.split_whitespace();
            let (Some(first), Some(second)) = (fields.next(), fields.next()) else {
                continue;
            };
            if first.contains('-') && !first.ends_with(':') {
                // A mapping's header: `START-END PERMS OFFSET DEV INODE [PATH]`.
                shared = second.ends_with('s');
                continue;
            }
            let Ok(kib) = second.parse::<f64>() else {
                continue;
            };
            let bytes = kib * 1024.0;
            match first {
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
    }
}
