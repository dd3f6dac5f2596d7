//! `rustcache flush`: one name's entries, or a whole cache file.
//!
//! Either way another release's files of the same user (another layout,
//! in use by processes started before an upgrade) are removed: this
//! release cannot read them, and their processes, which look at the name
//! again every second, move to a new, empty file, so a flush reaches them
//! too.

use std::net::IpAddr;
use std::path::Path;
use std::process::ExitCode;

use rustcache::cache::{parse_file_name, FALLBACK_BASE};
use rustcache::clock::now_ms;
use rustcache::name::{check_host_name, reverse_name};

use crate::files;

pub fn run(name: Option<&str>, uid: Option<u32>, all: bool) -> Result<ExitCode, String> {
    let config = files::config();
    if let Some(name) = name {
        return flush_name(&config, name, uid);
    }
    let uids: Vec<u32> = if all {
        every_uid(&config)?
    } else {
        vec![uid.unwrap_or_else(files::effective_uid)]
    };
    let mut code = ExitCode::SUCCESS;
    for uid in uids {
        let (others, failed) = remove_other_releases_files(&config, uid);
        match files::open(&config, Some(uid), true) {
            Ok((path, mapping)) => {
                mapping.table().flush();
                println!("{}: flushed", path.display());
            }
            // Only processes of another release have run for this user.
            Err(_) if others > 0 => {}
            Err(e) => {
                eprintln!("rustcache: {e}");
                code = ExitCode::from(1);
            }
        }
        if failed {
            code = ExitCode::from(1);
        }
    }
    Ok(code)
}

/// `uid`'s files of other releases, in both places, removed (see the module
/// comment), each reported: how many went, and whether one could not.
fn remove_other_releases_files(config: &rustcache::config::Config, uid: u32) -> (usize, bool) {
    let mut removed = 0;
    let mut failed = false;
    for path in files::other_releases(config, uid) {
        match std::fs::remove_file(&path) {
            Ok(()) => {
                println!(
                    "{}: removed: another release's file (its processes start a new one)",
                    path.display()
                );
                removed += 1;
            }
            Err(e) => {
                eprintln!("rustcache: {}: {e}", path.display());
                failed = true;
            }
        }
    }
    (removed, failed)
}

/// Every uid with a cache file (this release's or another's) in the cache
/// directory, or a fallback directory `rustcache-<uid>` (containers where the cache
/// directory could not be made). Each is then flushed where that uid's
/// processes find it. An error only when neither place can be read.
fn every_uid(config: &rustcache::config::Config) -> Result<Vec<u32>, String> {
    let listed = |dir: &Path, parse: fn(&str) -> Option<u32>| {
        std::fs::read_dir(dir).map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| parse(e.file_name().to_str()?))
                .collect::<Vec<u32>>()
        })
    };
    let primary = listed(&config.cache.dir, |n| {
        parse_file_name(n).map(|(uid, _)| uid)
    });
    let fallback = listed(Path::new(FALLBACK_BASE), |n| {
        n.strip_prefix("rustcache-")?.parse().ok()
    });
    let mut uids = match (primary, fallback) {
        (Err(e), Err(_)) => return Err(format!("{}: {e}", config.cache.dir.display())),
        (p, f) => [p.unwrap_or_default(), f.unwrap_or_default()].concat(),
    };
    uids.sort_unstable();
    uids.dedup();
    Ok(uids)
}

/// Drops the entries cached under `name` exactly (every type; an address
/// stands for its PTR name). Names the search list would try for it are
/// other names, flushed by naming them.
fn flush_name(
    config: &rustcache::config::Config,
    name: &str,
    uid: Option<u32>,
) -> Result<ExitCode, String> {
    let key_name = match name.parse::<IpAddr>() {
        Ok(addr) => reverse_name(addr),
        Err(_) => {
            let (checked, _) = check_host_name(name.as_bytes())
                .map_err(|e| format!("`{name}` is not a host name: {e}"))?;
            checked.to_ascii_lowercase()
        }
    };
    let (others, failed) =
        remove_other_releases_files(config, uid.unwrap_or_else(files::effective_uid));
    let (path, mapping) = match files::open(config, uid, true) {
        Ok(opened) => opened,
        Err(_) if others > 0 && !failed => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(e),
    };
    let scope = config.route(&key_name).id;
    let removed = mapping.table().remove_name(&key_name, scope, now_ms());
    println!(
        "{}: flushed {removed} {} of {key_name}",
        path.display(),
        if removed == 1 { "entry" } else { "entries" }
    );
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
