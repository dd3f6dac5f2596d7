//! `rustcache flush`: one name's entries, or a whole cache file.

use std::net::IpAddr;
use std::path::Path;
use std::process::ExitCode;

use rustcache::cache::{FALLBACK_BASE, FILE_SUFFIX};
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
        match files::open(&config, Some(uid), true) {
            Ok((path, mapping)) => {
                mapping.table().flush();
                println!("{}: flushed", path.display());
            }
            Err(e) => {
                eprintln!("rustcache: {e}");
                code = ExitCode::from(1);
            }
        }
    }
    Ok(code)
}

/// Every uid with a cache file: `<uid>.v3.cache` in the cache directory (files
/// of other layouts, `<uid>.cache` of releases before, are other releases'), or a
/// fallback directory `rustcache-<uid>` (containers where the cache
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
        n.strip_suffix(FILE_SUFFIX)?.parse().ok()
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
    let (path, mapping) = files::open(config, uid, true)?;
    let scope = config.route(&key_name).id;
    let removed = mapping.table().remove_name(&key_name, scope, now_ms());
    println!(
        "{}: flushed {removed} {} of {key_name}",
        path.display(),
        if removed == 1 { "entry" } else { "entries" }
    );
    Ok(ExitCode::SUCCESS)
}
