//! `rustcache enable` / `disable`: rustcache on the hosts line of
//! nsswitch.conf, or off it.

use std::path::Path;
use std::process::ExitCode;

use rustcache::nsswitch;

pub fn edit(given: &Path, on: bool) -> Result<ExitCode, String> {
    // A symlinked nsswitch.conf is edited where it points, and stays a
    // link; one managed by authselect is not ours to edit.
    let path = std::fs::canonicalize(given).unwrap_or_else(|_| given.to_path_buf());
    if path.starts_with("/etc/authselect") {
        return Err(format!(
            "{} is managed by authselect ({}); add rustcache to the hosts line of your \
             authselect profile instead, see nss-rustcache(8)",
            given.display(),
            path.display()
        ));
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let edited = if on {
        nsswitch::enable(&text)
    } else {
        nsswitch::disable(&text)
    };
    match edited {
        None => println!(
            "{}: already {}",
            path.display(),
            if on { "enabled" } else { "disabled" }
        ),
        Some(new_text) => {
            write_atomically(&path, &new_text).map_err(|e| format!("{}: {e}", path.display()))?;
            let line = new_text
                .lines()
                .find(|l| l.starts_with("hosts:"))
                .unwrap_or("");
            println!("{}: {line}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Replaces a file by renaming a complete copy over it, keeping its mode,
/// so a reader never sees half a file. A file that is a mount point (a
/// bind mount, as containers have for files under /etc) cannot be renamed
/// over; it is rewritten in place instead.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("rustcache-tmp");
    std::fs::write(&tmp, text)?;
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(&tmp, meta.permissions())?;
    }
    match std::fs::rename(&tmp, path) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY) | Some(libc::EXDEV)) => {
            let _ = std::fs::remove_file(&tmp);
            std::fs::write(path, text)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}
