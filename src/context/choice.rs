//! The shared shape of every closed set of answers: a `Choice` is an enum whose values are
//! spelled exactly as users type them, parsed with one error message and serialized as that
//! same spelling. The `choice!` macro writes the enum, `FromStr`, `Display` and serde impls
//! from one table of variants; this module never decides anything about a project.

use std::fmt::Write as _;

/// A closed set of values spelled the way users type them.
pub trait Choice: Copy + Eq + 'static {
    /// Every value, in the order questions and help list them.
    const ALL: &'static [Self];

    /// The spelling users type, used by `Display`, serde and the answers file.
    fn as_str(self) -> &'static str;

    /// Help text shown beside the value, e.g. "high (<1M users)".
    fn describe(self) -> &'static str {
        self.as_str()
    }

    /// Other spellings accepted on input (e.g. a head count for a team size).
    #[must_use]
    fn alias(_text: &str) -> Option<Self> {
        None
    }

    /// Parses the exact spelling or an alias; the error lists every valid spelling.
    fn parse_choice(text: &str) -> Result<Self, ChoiceError> {
        let trimmed = text.trim();
        Self::ALL
            .iter()
            .copied()
            .find(|value| value.as_str() == trimmed)
            .or_else(|| Self::alias(trimmed))
            .ok_or_else(|| ChoiceError::new::<Self>(text))
    }
}

/// A value that is not one of a `Choice`'s spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not one of: {valid}")]
pub struct ChoiceError {
    /// What the user typed.
    pub value: String,
    /// The valid spellings, each in backticks, comma separated.
    pub valid: String,
}

impl ChoiceError {
    /// The error for `value` against the spellings of `C`.
    #[must_use]
    pub fn new<C: Choice>(value: &str) -> Self {
        Self {
            value: value.to_owned(),
            valid: backticked(C::ALL.iter().map(|choice| choice.as_str())),
        }
    }

    /// The message without the offending value: "is not one of: …".
    #[must_use]
    pub fn reason(&self) -> String {
        format!("is not one of: {}", self.valid)
    }
}

/// Joins names as "`a`, `b`, `c`", the way every message lists valid values.
pub fn backticked<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (index, name) in names.into_iter().enumerate() {
        if index > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "`{name}`");
    }
    out
}

/// Writes a `Choice` enum: `Variant = "spelling" => "help"` per line (help optional), and an
/// optional `alias = path;` naming a `fn(&str) -> Option<Self>` for extra input spellings.
macro_rules! choice {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal $(=> $help:literal)? ),+ $(,)?
        }
        $( alias = $alias:path; )?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in question order.
            pub const ALL: &'static [Self] = &[$( Self::$variant ),+];
        }

        impl $crate::context::choice::Choice for $name {
            const ALL: &'static [Self] = &[$( Self::$variant ),+];

            fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $text, )+
                }
            }

            fn describe(self) -> &'static str {
                match self {
                    $( Self::$variant => choice!(@help $text $(, $help)?), )+
                }
            }

            $(
                fn alias(text: &str) -> Option<Self> {
                    $alias(text)
                }
            )?
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($crate::context::choice::Choice::as_str(*self))
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::context::choice::ChoiceError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                <Self as $crate::context::choice::Choice>::parse_choice(text)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str($crate::context::choice::Choice::as_str(*self))
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
    (@help $text:literal) => { $text };
    (@help $text:literal, $help:literal) => { $help };
}

pub(crate) use choice;
