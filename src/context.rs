//! Stand-in for the answer enums the model and requirements read; the real `context` module
//! (same names, variants and serde spellings) replaces this file at merge.

use serde::{Deserialize, Serialize};

/// How far the system must scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scalability {
    /// A few users.
    Low,
    /// Steady growth.
    Moderate,
    /// Large, spiky traffic.
    High,
    /// Internet scale.
    Extreme,
}

/// How much is at stake when the system is wrong or down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// Ordinary web application.
    Standard,
    /// Personal or payment data.
    High,
    /// Regulated, money-moving, or safety-relevant.
    Critical,
}
