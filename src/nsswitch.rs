//! Editing the `hosts:` line of nsswitch.conf, for `rustcache enable` and
//! `rustcache disable` (and so for `make install` and the RPM).
//!
//! rustcache goes right before the first DNS source (`resolve` or `dns`)
//! that follows `files`, followed by `[!UNAVAIL=return]`: whatever
//! rustcache answers (an address, "no such name", "try again") is final,
//! and the sources after it are asked only when rustcache cannot work at
//! all. It never goes before `files`, or `/etc/hosts` would be cut off by
//! rustcache's authoritative "not found" (on RHEL 9's `resolve
//! [!UNAVAIL=return] files myhostname dns` it goes before the `dns` after
//! `files`); with no DNS source after `files`, it goes right after `files`.
//! Both edits are idempotent.

/// What rustcache adds to the hosts line.
pub const ENTRY: &str = "rustcache [!UNAVAIL=return]";

/// Returns the file with rustcache on its hosts line, or `None` if it is
/// already there. A file without a hosts line gets
/// `hosts: files rustcache [!UNAVAIL=return] dns`.
pub fn enable(text: &str) -> Option<String> {
    let mut found = false;
    let mut changed = false;
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        match split_hosts_line(line) {
            Some((head, sources)) if !found => {
                found = true;
                let words: Vec<&str> = sources.split_whitespace().collect();
                if words.contains(&"rustcache") {
                    out.push(line.to_owned());
                    continue;
                }
                let at = insertion_point(&words);
                let mut new_words: Vec<&str> = words.get(..at).unwrap_or(&[]).to_vec();
                new_words.push(ENTRY);
                new_words.extend(words.get(at..).unwrap_or(&[]));
                out.push(format!("{head}{}", new_words.join(" ")));
                changed = true;
            }
            _ => out.push(line.to_owned()),
        }
    }
    if !found {
        out.push(format!("hosts:          files {ENTRY} dns"));
        changed = true;
    }
    changed.then(|| out.join("\n") + "\n")
}

/// Where rustcache goes among the words of a hosts line (see the module
/// doc).
fn insertion_point(words: &[&str]) -> usize {
    let after_files = match words.iter().position(|w| *w == "files") {
        // Skip the action block that may follow `files`.
        Some(i) => {
            let mut j = i + 1;
            if words.get(j).is_some_and(|w| w.starts_with('[')) {
                while j < words.len() && !words.get(j).is_some_and(|w| w.ends_with(']')) {
                    j += 1;
                }
                j += 1;
            }
            j.min(words.len())
        }
        None => 0,
    };
    words
        .iter()
        .enumerate()
        .skip(after_files)
        .find(|(_, w)| **w == "dns" || **w == "resolve")
        .map_or(
            // No DNS source after `files`: right after `files`, or at the
            // end of a line without `files`.
            if after_files > 0 {
                after_files
            } else {
                words.len()
            },
            |(i, _)| i,
        )
}

/// Returns the file with rustcache (and its action) removed from the hosts
/// line, or `None` if it was not there.
pub fn disable(text: &str) -> Option<String> {
    let mut changed = false;
    let out: Vec<String> = text
        .lines()
        .map(|line| match split_hosts_line(line) {
            Some((head, sources)) if sources.split_whitespace().any(|w| w == "rustcache") => {
                changed = true;
                let mut kept: Vec<&str> = Vec::new();
                let mut words = sources.split_whitespace().peekable();
                while let Some(word) = words.next() {
                    if word == "rustcache" {
                        // Drop its action block too: `[...]`, possibly
                        // spread over several words.
                        if words.peek().is_some_and(|w| w.starts_with('[')) {
                            for w in words.by_ref() {
                                if w.ends_with(']') {
                                    break;
                                }
                            }
                        }
                        continue;
                    }
                    kept.push(word);
                }
                format!("{head}{}", kept.join(" "))
            }
            _ => line.to_owned(),
        })
        .collect();
    changed.then(|| out.join("\n") + "\n")
}

/// Whether rustcache is on the hosts line.
pub fn is_enabled(text: &str) -> bool {
    text.lines()
        .filter_map(split_hosts_line)
        .any(|(_, sources)| sources.split_whitespace().any(|w| w == "rustcache"))
}

/// Splits `hosts:   files dns` into (`hosts:   `, `files dns`).
fn split_hosts_line(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("hosts:")?;
    let trimmed = rest.trim_start();
    let head_len = line.len() - trimmed.len();
    Some((
        line.get(..head_len)?,
        trimmed.split('#').next().unwrap_or("").trim_end(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enable_goes_before_the_dns_source_and_is_idempotent() {
        let debian = "passwd: files\nhosts:          files dns\nnetworks: files\n";
        let once = enable(debian).unwrap();
        assert_eq!(
            once,
            "passwd: files\nhosts:          files rustcache [!UNAVAIL=return] dns\nnetworks: files\n"
        );
        assert_eq!(enable(&once), None);
        let al2023 = "hosts: files myhostname resolve [!UNAVAIL=return] dns\n";
        assert_eq!(
            enable(al2023).unwrap(),
            "hosts: files myhostname rustcache [!UNAVAIL=return] resolve [!UNAVAIL=return] dns\n"
        );
        assert_eq!(
            enable("hosts: files\n").unwrap(),
            "hosts: files rustcache [!UNAVAIL=return]\n"
        );
        assert!(enable("passwd: files\n")
            .unwrap()
            .contains("hosts:          files rustcache"));
    }

    #[test]
    fn enable_never_goes_before_files() {
        let rhel9 = "hosts: resolve [!UNAVAIL=return] files myhostname dns\n";
        assert_eq!(
            enable(rhel9).unwrap(),
            "hosts: resolve [!UNAVAIL=return] files myhostname rustcache [!UNAVAIL=return] dns\n"
        );
        let files_with_action = "hosts: files [SUCCESS=return] dns\n";
        assert_eq!(
            enable(files_with_action).unwrap(),
            "hosts: files [SUCCESS=return] rustcache [!UNAVAIL=return] dns\n"
        );
        assert_eq!(
            enable("hosts: dns files\n").unwrap(),
            "hosts: dns files rustcache [!UNAVAIL=return]\n"
        );
        assert_eq!(
            enable("hosts: dns\n").unwrap(),
            "hosts: rustcache [!UNAVAIL=return] dns\n"
        );
    }

    #[test]
    fn disable_restores_the_line() {
        let debian = "hosts:          files dns\n";
        let enabled = enable(debian).unwrap();
        assert!(is_enabled(&enabled));
        assert_eq!(disable(&enabled).unwrap(), debian);
        assert_eq!(disable(debian), None);
        assert!(!is_enabled(debian));
    }
}
