//! `module-facts`: what the module brings into every process that loads it, read from
//! the files (no timing): its size stripped as `install -s` strips it, the libraries
//! it needs, the newest glibc symbol version it needs (Amazon Linux 2023 has 2.34),
//! and the crates linked into it.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use rustcache_testkit::ns::module_path;

use crate::error::BenchError;
use crate::floor::FloorModule;
use crate::installed::Installed;
use crate::system::System;
use crate::table::{find, Check, Row, Value};
use crate::{workspace_root, Context};

const NEEDED: &str = "NEEDED (readelf -d)";
const LIBGCC: &str = "libgcc_s.so.1 NEEDED";
const GLIBC: &str = "newest GLIBC_ version needed";
const CRATES: &str = "crates linked (nss-rustcache itself included)";
/// The glibc of Amazon Linux 2023, the target platform.
const TARGET_GLIBC: &str = "2.34";

pub fn describe() -> String {
    format!(
        "Issue 6: facts about each module file, no timing. Sizes: the file as built and a \
         copy stripped with `strip` (what `install -s` in `make install` does). `{NEEDED}`: \
         the libraries the dynamic loader maps with it. `{GLIBC}`: from its version-needs \
         section (readelf -V). `{CRATES}`: `cargo tree -p nss-rustcache -e \
         normal,no-proc-macro --prefix none`, deduplicated by name (procedural macros and \
         build-time crates are not linked). Targets: no libgcc_s.so.1, nothing newer than \
         GLIBC_{TARGET_GLIBC}."
    )
}

pub fn module_facts(system: System, ctx: &Context<'_>) -> Result<Vec<Row>, BenchError> {
    let built = match (system, ctx.floor) {
        (System::Rustcache, _) => module_path().0,
        (System::Floor, Some(floor)) => floor.dir().join(FloorModule::FILE),
        _ => return Ok(Vec::new()),
    };
    let stripped = Installed::strip(&built)?;
    let size = |p: &Path| {
        fs::metadata(p)
            .map(|m| m.len() as f64)
            .map_err(|e| BenchError::io(format!("stat {}", p.display()), e))
    };
    let needed = readelf(&["-d"], stripped.file())?
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split('[').nth(1)?.trim_end_matches(']').to_string()))
        .collect::<Vec<_>>();
    let has_libgcc = needed.iter().any(|n| n.starts_with("libgcc_s.so"));
    let mut rows = vec![
        Row::bytes("file size, as built", system, vec![size(&built)?]),
        Row::bytes("file size, stripped", system, vec![size(stripped.file())?]),
        Row::fact(NEEDED, system, needed.join(", ")),
        Row::fact(LIBGCC, system, if has_libgcc { "yes" } else { "no" }),
        Row::fact(
            GLIBC,
            system,
            newest_glibc(&readelf(&["-V", "--wide"], stripped.file())?)
                .map_or_else(|| "none".to_string(), |v| format!("GLIBC_{v}")),
        ),
    ];
    eprint!(".");
    if system == System::Rustcache {
        let crates = linked_crates();
        rows.push(Row::fact(
            CRATES,
            system,
            match &crates {
                Ok(names) => names.len().to_string(),
                Err(why) => format!("unknown ({why})"),
            },
        ));
        if let Ok(names) = crates {
            rows.push(Row::fact("crates linked, names", system, names.join(" ")));
        }
    }
    Ok(rows)
}

fn readelf(args: &[&str], file: &Path) -> Result<String, BenchError> {
    let out = Command::new("readelf")
        .args(args)
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BenchError::io("run readelf (binutils)".to_string(), e))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The newest `GLIBC_x.y[.z]` version named in readelf output, as `x.y[.z]`.
fn newest_glibc(text: &str) -> Option<String> {
    let key = |v: &str| -> Vec<u32> { v.split('.').filter_map(|p| p.parse().ok()).collect() };
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .filter_map(|word| word.strip_prefix("GLIBC_"))
        .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
        .max_by_key(|v| key(v))
        .map(str::to_string)
}

/// The names of the crates `cargo tree` says the module links, sorted.
fn linked_crates() -> Result<Vec<String>, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(workspace_root())
        .args(["tree", "--locked", "--offline", "-p", "nss-rustcache"])
        .args(["-e", "normal,no-proc-macro", "--prefix", "none"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cargo: {e}"))?;
    if !out.status.success() {
        return Err("cargo tree failed".to_string());
    }
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

fn fact<'a>(rows: &'a [Row], metric: &str) -> Option<&'a str> {
    match &find(rows, metric, System::Rustcache)?.value {
        Value::Fact(text) => Some(text),
        _ => None,
    }
}

pub fn checks(rows: &[Row]) -> Vec<Check> {
    let mut checks = Vec::new();
    if let Some(libgcc) = fact(rows, LIBGCC) {
        checks.push(Check::target(
            format!("rustcache: {LIBGCC}: {libgcc}, target no (issue 6)"),
            libgcc == "no",
        ));
    }
    if let Some(glibc) = fact(rows, GLIBC) {
        let wanted = format!("GLIBC_{TARGET_GLIBC}");
        let newest = newest_glibc(&format!("{glibc} {wanted}"));
        checks.push(Check::target(
            format!("rustcache: {GLIBC}: {glibc}, at most {wanted} (Amazon Linux 2023)"),
            newest.as_deref() == Some(TARGET_GLIBC),
        ));
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_versions_compare_as_numbers() {
        let text =
            "Name: GLIBC_2.2.5 Flags: none\n Name: GLIBC_2.34\n Name: GLIBC_2.4 GLIBC_PRIVATE";
        assert_eq!(newest_glibc(text).as_deref(), Some("2.34"));
        assert_eq!(newest_glibc("nothing"), None);
    }
}
