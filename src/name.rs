//! The project name: it names the target directory and titles the README, ADR and
//! architecture document, so it must be a safe directory name and read as an identifier.

use std::fmt;

/// Why a `--name` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`--name` {shown}: {reason}; use letters, digits, `-` and `_`, starting with a letter (e.g. `ecommerce-platform`)"
)]
pub struct NameError {
    shown: String,
    reason: String,
}

/// A validated project name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct ProjectName(String);

/// Longest name accepted: long enough for any real project, short enough for a title.
pub(crate) const MAX_LEN: usize = 48;

impl ProjectName {
    /// Accepts `name` if it can be a directory, a package prefix and an image name.
    pub fn parse(name: &str) -> Result<Self, NameError> {
        let refuse = |reason: &str| {
            Err(NameError {
                shown: if name.is_empty() {
                    "is empty".to_owned()
                } else {
                    format!("`{name}`")
                },
                reason: reason.to_owned(),
            })
        };
        if name.is_empty() {
            return refuse("a name is required");
        }
        if name.contains(['/', '\\']) {
            return refuse(
                "a name cannot contain a path separator (use `--output DIR` to choose where it goes)",
            );
        }
        if name == ".." || name.starts_with('.') {
            return refuse("a name cannot start with `.`");
        }
        if name.starts_with('-') {
            return refuse("a name cannot start with `-`");
        }
        if name.chars().count() > MAX_LEN {
            return refuse(&format!("a name can have at most {MAX_LEN} characters"));
        }
        if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return refuse("a name must start with a letter");
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return refuse("a name cannot contain spaces or other symbols");
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as typed.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::ProjectName;

    #[test]
    fn accepts_the_names_people_use() {
        for ok in ["ecommerce-platform", "shop", "Shop_2", "a"] {
            assert_eq!(ProjectName::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_names_that_are_unsafe_as_a_path_or_package() {
        for (bad, says) in [
            ("", "a name is required"),
            ("a/b", "path separator"),
            ("..", "cannot start with `.`"),
            (".hidden", "cannot start with `.`"),
            ("-rf", "cannot start with `-`"),
            ("1shop", "must start with a letter"),
            ("my shop", "spaces"),
            ("shöp", "spaces or other symbols"),
        ] {
            let err = ProjectName::parse(bad).unwrap_err().to_string();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }
}
