//! `rustcache import-dnsmasq`: placeholder until item 5.

use std::path::Path;
use std::process::ExitCode;

pub fn run(_file: &Path) -> Result<ExitCode, String> {
    Err("import-dnsmasq: not yet".into())
}
