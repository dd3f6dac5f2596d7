//! `rustcache resolve`: names looked up the way the module does.

use std::process::ExitCode;

use rustcache::{Family, Outcome, Resolver};

pub fn run(names: &[String]) -> Result<ExitCode, String> {
    let mut code = ExitCode::SUCCESS;
    for name in names {
        match Resolver::global().lookup_host_owned(name.as_bytes(), Family::Any) {
            Outcome::Found(a) => {
                let addrs: Vec<String> =
                    a.v4.iter()
                        .map(ToString::to_string)
                        .chain(a.v6.iter().map(ToString::to_string))
                        .collect();
                let aliases = if a.aliases.is_empty() {
                    String::new()
                } else {
                    format!(" (aliases {})", a.aliases.join(" "))
                };
                println!(
                    "{name}: {} ttl {}{aliases}: {}",
                    a.name,
                    a.ttl,
                    addrs.join(" ")
                );
            }
            other => {
                println!("{name}: {}", describe(&other));
                code = ExitCode::from(1);
            }
        }
    }
    Ok(code)
}

/// What an outcome other than an answer means, in a sentence.
pub fn describe<T>(outcome: &Outcome<T>) -> &'static str {
    match outcome {
        Outcome::Found(_) => "found",
        Outcome::NotFound => "no such name (NXDOMAIN or invalid name)",
        Outcome::NoData => "the name has no addresses",
        Outcome::TryAgain => "no answer from the upstream servers in time",
        Outcome::Unavailable => "rustcache cannot resolve here (no usable server)",
    }
}
