//! `FilePlan`: the whole generated repository in memory, path → bytes and mode. Rendering
//! produces it; `write` puts it on disk; `--dry-run` prints it.

use std::collections::BTreeMap;

use serde::Serialize;

/// Whether a file is written executable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Regular,
    Executable,
}

impl Mode {
    /// The Unix permission bits the file is written with.
    #[must_use]
    pub fn bits(self) -> u32 {
        match self {
            Self::Regular => 0o644,
            Self::Executable => 0o755,
        }
    }
}

/// One file of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    pub contents: Vec<u8>,
    pub mode: Mode,
}

/// Every file to write, by relative path with `/` separators, in sorted order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilePlan {
    files: BTreeMap<String, PlannedFile>,
}

impl FilePlan {
    /// Adds or replaces the file at `path`.
    pub fn insert(&mut self, path: impl Into<String>, contents: impl Into<Vec<u8>>, mode: Mode) {
        self.files.insert(
            path.into(),
            PlannedFile {
                contents: contents.into(),
                mode,
            },
        );
    }

    /// Adds every file of `other`, replacing files at the same paths.
    pub fn extend(&mut self, other: FilePlan) {
        self.files.extend(other.files);
    }

    /// The file at `path`, if planned.
    #[must_use]
    pub fn get(&self, path: &str) -> Option<&PlannedFile> {
        self.files.get(path)
    }

    /// The file at `path` as text, if planned and UTF-8.
    #[must_use]
    pub fn text(&self, path: &str) -> Option<&str> {
        self.get(path)
            .and_then(|file| std::str::from_utf8(&file.contents).ok())
    }

    /// Every path, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// Every file, sorted by path.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &PlannedFile)> {
        self.files.iter().map(|(path, file)| (path.as_str(), file))
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.files.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Total bytes of all files.
    #[must_use]
    pub fn total_bytes(&self) -> usize {
        self.files.values().map(|file| file.contents.len()).sum()
    }

    /// The `--dry-run --format json` document: every file with its mode, size and contents
    /// (text as a string; anything else is reported as binary with its size only).
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        let files: Vec<_> = self
            .iter()
            .map(|(path, file)| {
                serde_json::json!({
                    "path": path,
                    "mode": file.mode,
                    "bytes": file.contents.len(),
                    "contents": std::str::from_utf8(&file.contents).ok(),
                })
            })
            .collect();
        serde_json::json!({ "files": files })
    }
}
