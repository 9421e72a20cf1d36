//! The template tree: the built-in one embedded from `templates/`, a user's overlay directory
//! read from disk, and the export of the built-in tree for editing. An overlay file replaces
//! the built-in file at the same relative path; new files are added.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};

use crate::error::Error;
use crate::plan::Mode;

static BUILTIN: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// Suffix of files rendered with Tera; it is dropped from the output path.
pub const TERA_SUFFIX: &str = ".tera";

/// Where a template came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Builtin,
    /// From an overlay directory; holds the file's path on disk.
    Overlay(PathBuf),
}

/// One template file.
#[derive(Debug, Clone)]
pub struct Template {
    pub source: Vec<u8>,
    pub mode: Mode,
    pub origin: Origin,
}

/// Templates by relative path (`/` separators), sorted.
#[derive(Debug, Clone, Default)]
pub struct TemplateSet {
    pub files: BTreeMap<String, Template>,
}

impl TemplateSet {
    /// The templates embedded in this binary.
    #[must_use]
    pub fn builtin() -> Self {
        let mut files = BTreeMap::new();
        collect_builtin(&BUILTIN, &mut files);
        Self { files }
    }

    /// These templates with `overlay`'s files replacing or adding to them.
    #[must_use]
    pub fn overlaid(mut self, overlay: Self) -> Self {
        self.files.extend(overlay.files);
        self
    }

    /// Reads every file under `dir` as an overlay.
    pub fn load_overlay(dir: &Path) -> Result<Self, Error> {
        let bad = |reason: String| Error::BadTemplatesDir {
            path: dir.to_owned(),
            reason,
        };
        let meta = fs::metadata(dir).map_err(|err| bad(format!("cannot be read ({err})")))?;
        if !meta.is_dir() {
            return Err(bad(
                "is not a directory; pass a directory made by `arch-init templates export DIR`"
                    .into(),
            ));
        }
        let mut files = BTreeMap::new();
        collect_overlay(dir, dir, &mut files).map_err(|err| bad(err.to_string()))?;
        if files.is_empty() {
            return Err(bad(
                "has no files; start from `arch-init templates export DIR`".into(),
            ));
        }
        Ok(Self { files })
    }

    /// Writes these templates under `dir`, which must be absent or empty.
    pub fn export(&self, dir: &Path) -> Result<usize, Error> {
        if dir.exists() {
            let mut entries = fs::read_dir(dir).map_err(|source| io("read", dir, source))?;
            if entries.next().is_some() {
                return Err(Error::ExportNotEmpty {
                    path: dir.to_owned(),
                });
            }
        }
        let mut plan = crate::plan::FilePlan::default();
        for (path, template) in &self.files {
            plan.insert(path.clone(), template.source.clone(), template.mode);
        }
        crate::write::write(
            &plan,
            dir,
            crate::write::Overwrite::Refuse,
            crate::write::Git::Skip,
        )
        .map(|w| w.files)
    }
}

/// The mode a built-in file is written with: shell scripts are executable.
fn builtin_mode(path: &str) -> Mode {
    let output = path.strip_suffix(TERA_SUFFIX).unwrap_or(path);
    if Path::new(output)
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("sh"))
    {
        Mode::Executable
    } else {
        Mode::Regular
    }
}

fn collect_builtin(dir: &Dir<'_>, files: &mut BTreeMap<String, Template>) {
    for file in dir.files() {
        let path = file.path().to_string_lossy().replace('\\', "/");
        let mode = builtin_mode(&path);
        files.insert(
            path,
            Template {
                source: file.contents().to_vec(),
                mode,
                origin: Origin::Builtin,
            },
        );
    }
    for sub in dir.dirs() {
        collect_builtin(sub, files);
    }
}

fn collect_overlay(
    root: &Path,
    dir: &Path,
    files: &mut BTreeMap<String, Template>,
) -> std::io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        if entry.file_name() == ".git" {
            continue;
        }
        if path.is_dir() {
            collect_overlay(root, &path, files)?;
            continue;
        }
        let relative = path.strip_prefix(root).map_err(std::io::Error::other)?;
        let key = relative.to_string_lossy().replace('\\', "/");
        let source = fs::read(&path)?;
        files.insert(
            key,
            Template {
                source,
                mode: disk_mode(&path)?,
                origin: Origin::Overlay(path),
            },
        );
    }
    Ok(())
}

#[cfg(unix)]
fn disk_mode(path: &Path) -> std::io::Result<Mode> {
    use std::os::unix::fs::PermissionsExt;
    let executable = fs::metadata(path)?.permissions().mode() & 0o111 != 0;
    Ok(if executable {
        Mode::Executable
    } else {
        Mode::Regular
    })
}

#[cfg(not(unix))]
fn disk_mode(_: &Path) -> std::io::Result<Mode> {
    Ok(Mode::Regular)
}

fn io(action: &'static str, path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        action,
        path: path.to_owned(),
        source,
    }
}
