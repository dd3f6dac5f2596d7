//! A module as `make install` puts it on a host: a copy stripped the way `install -s`
//! does it (`strip` with no options), in a directory of its own that probes'
//! `LD_LIBRARY_PATH` can point at. The `dlopen`, `memory`, `module-facts`,
//! `hit-latency` and `direct-call` scenarios measure this copy, not the build's
//! (which carries debug information, and whose page-cache pages are whatever
//! the build left: see scenario/hit.rs).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rustcache_testkit::ns::module_path;

use crate::compile::BuildDir;
use crate::error::BenchError;
use crate::system::System;

pub struct Installed {
    dir: BuildDir,
    file: PathBuf,
}

impl Installed {
    /// The copy the scenarios that measure the installed module load for
    /// `system`: the stripped build for rustcache, none for the others.
    pub fn for_system(system: System) -> Result<Option<Installed>, BenchError> {
        match system {
            System::Rustcache => Installed::strip(&module_path().0).map(Some),
            _ => Ok(None),
        }
    }

    /// Strips a copy of `module` into a new directory, under the same file name.
    pub fn strip(module: &Path) -> Result<Installed, BenchError> {
        let name = module.file_name().unwrap_or(module.as_os_str());
        let dir = BuildDir::new(&format!("installed-{}", name.to_string_lossy()))?;
        let file = dir.path().join(name);
        let out = Command::new("strip")
            .arg("-o")
            .arg(&file)
            .arg(module)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| BenchError::io("run strip (binutils)".to_string(), e))?;
        if !out.status.success() {
            return Err(BenchError::io(
                format!(
                    "strip {}: {}",
                    module.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                std::io::ErrorKind::Other.into(),
            ));
        }
        // Write the copy back to disk before anything maps it. Pages of a file
        // written a moment ago are still dirty in the page cache, and smaps counts
        // every such page a process maps as its Private_Dirty: the memory scenario
        // would charge the whole module to each process, which an installed module
        // (on disk long before) never costs.
        std::fs::File::open(&file)
            .and_then(|f| f.sync_all())
            .map_err(|e| BenchError::io(format!("sync {}", file.display()), e))?;
        Ok(Installed { dir, file })
    }

    /// The directory holding the stripped copy.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The stripped copy.
    pub fn file(&self) -> &Path {
        &self.file
    }
}
