//! The template tree: the built-in one embedded from `templates/`, and a user's overlay
//! directory read from disk. An overlay file replaces the built-in file at the same relative
//! path; new files are added.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};
use walkdir::WalkDir;

use crate::error::Error;
use crate::plan::Mode;

static BUILTIN: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// Suffix of files rendered with Tera; it is dropped from the output path.
pub(crate) const TERA_SUFFIX: &str = ".tera";

/// Where a template came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    Builtin,
    /// From an overlay directory; holds the file's path on disk.
    Overlay(PathBuf),
}

/// One template file.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    pub(crate) source: Vec<u8>,
    pub(crate) mode: Mode,
    pub(crate) origin: Origin,
}

/// Templates by relative path (`/` separators), sorted.
#[derive(Debug, Clone, Default)]
pub struct TemplateSet {
    pub(crate) files: BTreeMap<String, Template>,
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
    /// An overlay file replaces the built-in one that renders to the same path, whether
    /// either of them is a `.tera` template or a plain file.
    pub(crate) fn overlaid(mut self, overlay: Self) -> Self {
        for path in overlay.files.keys() {
            let output = path.strip_suffix(TERA_SUFFIX).unwrap_or(path);
            self.files.remove(output);
            self.files.remove(&format!("{output}{TERA_SUFFIX}"));
        }
        self.files.extend(overlay.files);
        self
    }

    /// Reads every file under `dir` as an overlay.
    pub(crate) fn load_overlay(dir: &Path) -> Result<Self, Error> {
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
        let files = collect_overlay(dir).map_err(bad)?;
        if files.is_empty() {
            return Err(bad(
                "has no files; start from `arch-init templates export DIR`".into(),
            ));
        }
        Ok(Self { files })
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

/// Reads every file below `root`, following links; a link back up the tree is reported
/// (walkdir detects the loop) instead of followed forever. `.git` directories are skipped.
fn collect_overlay(root: &Path) -> Result<BTreeMap<String, Template>, String> {
    let mut files = BTreeMap::new();
    let walk = WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| entry.file_name() != ".git");
    for entry in walk {
        let entry = entry.map_err(|err| match (err.loop_ancestor(), err.path()) {
            (Some(_), Some(link)) => format!(
                "`{}` links back to a directory already read",
                link.display()
            ),
            (_, Some(path)) => format!("cannot read `{}` ({err})", path.display()),
            (_, None) => err.to_string(),
        })?;
        if entry.file_type().is_dir() {
            continue;
        }
        let path = entry.path();
        let relative = path
            .strip_prefix(root)
            .ok()
            .and_then(Path::to_str)
            .ok_or_else(|| format!("`{}` has a name that is not UTF-8", path.display()))?;
        let unreadable = |err: std::io::Error| format!("cannot read `{}` ({err})", path.display());
        let source = fs::read(path).map_err(unreadable)?;
        let mode = disk_mode(path).map_err(unreadable)?;
        files.insert(
            relative.replace('\\', "/"),
            Template {
                source,
                mode,
                origin: Origin::Overlay(path.to_owned()),
            },
        );
    }
    Ok(files)
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
