//! The names one lookup tries, in glibc's order (`res_search`).
//!
//! * A name with a trailing dot is tried as given, and only so.
//! * A name with at least `ndots` dots is tried as given first.
//! * Then the name with each search domain appended.
//! * Then, if not tried yet, the name as given, unless it has no dot and
//!   `no-tld-query` is set.

use crate::config::Config;

/// The fully-qualified names to try for `name` (already validated, without
/// its trailing dot), in order, without trailing dots.
pub fn candidates(name: &str, absolute: bool, config: &Config) -> Vec<String> {
    if absolute {
        return vec![name.to_owned()];
    }
    let dots = name.bytes().filter(|&b| b == b'.').count();
    let as_is_first = dots >= usize::from(config.options.ndots);
    let mut out = Vec::with_capacity(config.search.len() + 1);
    if as_is_first {
        out.push(name.to_owned());
    }
    for domain in &config.search {
        let domain = domain.trim_end_matches('.');
        if domain.is_empty() {
            continue;
        }
        let candidate = format!("{name}.{domain}");
        if crate::name::check_host_name(candidate.as_bytes()).is_ok() {
            out.push(candidate);
        }
    }
    let skip_bare = dots == 0 && config.options.no_tld_query;
    if !as_is_first && !skip_bare {
        out.push(name.to_owned());
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

    #[test]
    fn short_names_try_the_search_list_first() {
        let c = config(&["a.example", "b.example"], 1);
        assert_eq!(
            candidates("db", false, &c),
            ["db.a.example", "db.b.example", "db"]
        );
    }

    #[test]
    fn names_with_enough_dots_are_tried_as_given_first() {
        let c = config(&["a.example"], 1);
        assert_eq!(
            candidates("www.test", false, &c),
            ["www.test", "www.test.a.example"]
        );
        let c = config(&["a.example"], 2);
        assert_eq!(
            candidates("www.test", false, &c),
            ["www.test.a.example", "www.test"]
        );
    }

    #[test]
    fn a_trailing_dot_means_exactly_this_name() {
        let c = config(&["a.example"], 1);
        assert_eq!(candidates("db", true, &c), ["db"]);
    }

    #[test]
    fn no_tld_query_skips_the_bare_single_label() {
        let mut c = config(&["a.example"], 1);
        c.options.no_tld_query = true;
        assert_eq!(candidates("db", false, &c), ["db.a.example"]);
    }

    #[test]
    fn search_domains_making_a_name_too_long_are_skipped() {
        let long = "d".repeat(62);
        let domain = [long.as_str(); 4].join(".");
        let c = config(&[domain.as_str(), "ok.example"], 1);
        assert_eq!(candidates("db", false, &c), ["db.ok.example", "db"]);
    }
}
