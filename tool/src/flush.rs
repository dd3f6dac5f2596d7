//! `rustcache flush`: one name's entries, or a whole cache file.

use std::net::IpAddr;
use std::process::ExitCode;

use rustcache::clock::now_ms;
use rustcache::name::{check_host_name, reverse_name};

use crate::files;

pub fn run(name: Option<&str>, uid: Option<u32>, all: bool) -> Result<ExitCode, String> {
    let config = files::config();
    if let Some(name) = name {
        return flush_name(&config, name, uid);
    }
    let uids: Vec<u32> = if all {
        let entries = std::fs::read_dir(&config.cache.dir)
            .map_err(|e| format!("{}: {e}", config.cache.dir.display()))?;
        entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".cache")?.parse().ok())
            .collect()
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
