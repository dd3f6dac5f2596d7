//! The `options` of resolv.conf (and of `RES_OPTIONS`), with glibc's
//! defaults and limits.

use std::time::Duration;

use super::MAX_NDOTS;

/// Resolver options that change what rustcache does. Options glibc knows
/// but that make no difference here (`edns0`, `single-request`, ...) are
/// accepted and ignored, as glibc ignores the ones it does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// A name with at least this many dots is tried as given before the
    /// search list.
    pub ndots: u8,
    /// How long one round over the servers may take.
    pub timeout: Duration,
    /// How many rounds over the servers one lookup may take.
    pub attempts: u8,
    /// Spread the first query of each lookup over the servers instead of
    /// preferring the best one.
    pub rotate: bool,
    /// Never send a dotless name as given (only with a search domain).
    pub no_tld_query: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ndots: 1,
            timeout: Duration::from_secs(5),
            attempts: 2,
            rotate: false,
            no_tld_query: false,
        }
    }
}

/// Options glibc knows that change nothing here: how glibc sends its
/// queries (rustcache always sends A and AAAA together over UDP with EDNS0,
/// TCP only for a truncated answer), its debugging, and `no-aaaa` (glibc
/// 2.36), which is not honoured: AAAA is asked. `rustcache check` lists the
/// ones a configuration holds.
pub const NO_EFFECT: &[&str] = &[
    "debug",
    "edns0",
    "single-request",
    "single-request-reopen",
    "inet6",
    "ip6-bytestring",
    "ip6-dotint",
    "no-ip6-dotint",
    "no-check-names",
    "use-vc",
    "trust-ad",
    "no-reload",
    "no-aaaa",
];

impl Options {
    /// Applies every option word of one `options` line or of
    /// `RES_OPTIONS`. Returns the words that were not understood.
    pub fn apply_words<'a>(&mut self, words: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
        words.filter(|word| !self.apply(word)).collect()
    }

    /// Applies one option word such as `ndots:2`; false if it was not
    /// understood (the option is then left unchanged).
    pub fn apply(&mut self, word: &str) -> bool {
        let (key, value) = match word.split_once(':') {
            Some((key, value)) => (key, Some(value)),
            None => (word, None),
        };
        // Like glibc, numbers are clamped into range rather than refused.
        let number = value.and_then(|v| v.parse::<u32>().ok());
        match (key, number) {
            ("ndots", Some(n)) => self.ndots = n.min(u32::from(MAX_NDOTS)) as u8,
            ("timeout", Some(n)) => self.timeout = Duration::from_secs(u64::from(n.clamp(1, 30))),
            ("attempts", Some(n)) => self.attempts = n.clamp(1, 5) as u8,
            ("rotate", None) => self.rotate = true,
            ("no-tld-query" | "no_tld_query", None) => self.no_tld_query = true,
            (known, None) if NO_EFFECT.contains(&known) => {}
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_applied_and_clamped() {
        let mut o = Options::default();
        let bad = o.apply_words("ndots:20 timeout:0 attempts:9 rotate bogus ndots:x".split(' '));
        assert_eq!(o.ndots, 15);
        assert_eq!(o.timeout, Duration::from_secs(1));
        assert_eq!(o.attempts, 5);
        assert!(o.rotate);
        assert_eq!(bad, vec!["bogus", "ndots:x"]);
    }

    #[test]
    fn options_of_no_effect_are_accepted_and_change_nothing() {
        let mut o = Options::default();
        let bad = o.apply_words(NO_EFFECT.iter().copied());
        assert_eq!(bad, Vec::<&str>::new());
        assert_eq!(o, Options::default());
        // With a value they are not glibc's options.
        assert_eq!(o.apply_words(["use-vc:1"].into_iter()), vec!["use-vc:1"]);
    }
}
