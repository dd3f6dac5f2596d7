//! The names one lookup tries, in glibc's order (`res_search`).
//!
//! * A name with a trailing dot is tried as given, and only so.
//! * A name with at least `ndots` dots is tried as given first.
//! * Then the name with each search domain appended.
//! * Then, if not tried yet, the name as given, unless it has no dot and
//!   `no-tld-query` is set.
//!
//! Candidates are built in a buffer on the stack (or borrowed from the
//! name): the hit path allocates nothing.

use crate::config::Config;
use crate::name::check_body;
use crate::name::validate::MAX_NAME_LEN;

/// One candidate name, on the stack.
#[derive(Clone, Copy)]
pub struct NameBuf {
    bytes: [u8; MAX_NAME_LEN],
    len: usize,
}

impl NameBuf {
    /// The parts joined, if that makes a valid name.
    fn from_parts(parts: &[&str]) -> Option<NameBuf> {
        let mut out = NameBuf {
            bytes: [0; MAX_NAME_LEN],
            len: 0,
        };
        for part in parts {
            let dst = out.bytes.get_mut(out.len..out.len + part.len())?;
            dst.copy_from_slice(part.as_bytes());
            out.len += part.len();
        }
        check_body(out.bytes.get(..out.len)?).ok()?;
        Some(out)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        let bytes = self.bytes.get(..self.len).unwrap_or(&[]);
        // SAFETY: the bytes were copied from whole `&str` values only (and
        // checked as host names, which are ASCII), so they are valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }
}

impl std::fmt::Debug for NameBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The candidates of one name. Position `i` of the list is produced on
/// demand into a caller's buffer (or borrowed from the name itself), so
/// walking the list moves no large value around.
pub struct Candidates<'a> {
    name: &'a str,
    search: &'a [String],
    as_is_first: bool,
    as_is_last: bool,
}

/// What position `i` of the list holds.
pub enum Candidate<'b> {
    /// Try this name.
    Name(&'b str),
    /// This search domain makes no valid name: go on with the next one.
    Skip,
    /// The list is over.
    End,
}

impl<'a> Candidates<'a> {
    /// The candidates for `name` (already checked by `check_host_name`,
    /// without its trailing dot).
    pub fn new(name: &'a str, absolute: bool, config: &'a Config) -> Candidates<'a> {
        // Only "at least ndots dots" matters: stop counting there.
        let ndots = usize::from(config.options.ndots);
        let mut dots = name.bytes().filter(|&b| b == b'.');
        let enough_dots = ndots == 0 || dots.nth(ndots - 1).is_some();
        let as_is_first = absolute || enough_dots;
        let bare_refused = config.options.no_tld_query && !name.contains('.');
        Candidates {
            name,
            search: if absolute { &[] } else { &config.search },
            as_is_first,
            as_is_last: !absolute && !as_is_first && !bare_refused,
        }
    }

    /// Position `i`, built in `buf` when it is a search-list name (the
    /// buffer is made only then: the common as-is name costs nothing).
    pub fn get<'b>(&'b self, i: usize, buf: &'b mut Option<NameBuf>) -> Candidate<'b> {
        let i = if self.as_is_first {
            if i == 0 {
                return Candidate::Name(self.name);
            }
            i - 1
        } else {
            i
        };
        match self.search.get(i) {
            Some(domain) => {
                let domain = domain.trim_end_matches('.');
                match NameBuf::from_parts(&[self.name, ".", domain]) {
                    Some(joined) if !domain.is_empty() => {
                        Candidate::Name(buf.insert(joined).as_str())
                    }
                    _ => Candidate::Skip,
                }
            }
            None if i == self.search.len() && self.as_is_last => Candidate::Name(self.name),
            None => Candidate::End,
        }
    }
}

/// The candidates for `name` as owned strings (tools and tests).
pub fn candidates(name: &str, absolute: bool, config: &Config) -> Vec<String> {
    let list = Candidates::new(name, absolute, config);
    let mut buf = None;
    let mut out = Vec::new();
    for i in 0.. {
        match list.get(i, &mut buf) {
            Candidate::Name(n) => out.push(n.to_owned()),
            Candidate::Skip => {}
            Candidate::End => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(search: &[&str], ndots: u8) -> Config {
        let mut c = Config {
            search: search.iter().map(|s| (*s).to_owned()).collect(),
            ..Config::default()
        };
        c.options.ndots = ndots;
        c
    }

    fn list(name: &str, absolute: bool, c: &Config) -> Vec<String> {
        candidates(name, absolute, c)
    }

    #[test]
    fn short_names_try_the_search_list_first() {
        let c = config(&["a.example", "b.example"], 1);
        assert_eq!(
            list("db", false, &c),
            ["db.a.example", "db.b.example", "db"]
        );
    }

    #[test]
    fn names_with_enough_dots_are_tried_as_given_first() {
        let c = config(&["a.example"], 1);
        assert_eq!(
            list("www.test", false, &c),
            ["www.test", "www.test.a.example"]
        );
        let c = config(&["a.example"], 2);
        assert_eq!(
            list("www.test", false, &c),
            ["www.test.a.example", "www.test"]
        );
    }

    #[test]
    fn a_trailing_dot_means_exactly_this_name() {
        let c = config(&["a.example"], 1);
        assert_eq!(list("db", true, &c), ["db"]);
    }

    #[test]
    fn no_tld_query_skips_the_bare_single_label() {
        let mut c = config(&["a.example"], 1);
        c.options.no_tld_query = true;
        assert_eq!(list("db", false, &c), ["db.a.example"]);
    }

    #[test]
    fn search_domains_making_a_name_too_long_are_skipped() {
        let long = "d".repeat(62);
        let domain = [long.as_str(); 4].join(".");
        let c = config(&[domain.as_str(), "ok.example"], 1);
        assert_eq!(list("db", false, &c), ["db.ok.example", "db"]);
    }
}
