//! Impacts: how badly each audience is hit, and the priority they suggest.

use serde::{Deserialize, Serialize};

/// How badly an audience is hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ImpactLevel {
    /// Suggests P1.
    #[serde(rename = "HT")]
    Highest,
    /// Suggests P2.
    #[serde(rename = "HI")]
    High,
    /// Suggests P3.
    #[serde(rename = "MD")]
    Medium,
    /// Suggests P4.
    #[serde(rename = "LO")]
    Low,
    /// Suggests P5.
    #[serde(rename = "LT")]
    Lowest,
    /// No impact.
    #[serde(rename = "NO")]
    None,
}

impl ImpactLevel {
    /// Every level, worst first.
    pub const ALL: [ImpactLevel; 6] = [
        ImpactLevel::Highest,
        ImpactLevel::High,
        ImpactLevel::Medium,
        ImpactLevel::Low,
        ImpactLevel::Lowest,
        ImpactLevel::None,
    ];

    /// The stored two-letter code.
    pub const fn code(self) -> &'static str {
        match self {
            ImpactLevel::Highest => "HT",
            ImpactLevel::High => "HI",
            ImpactLevel::Medium => "MD",
            ImpactLevel::Low => "LO",
            ImpactLevel::Lowest => "LT",
            ImpactLevel::None => "NO",
        }
    }

    /// Parses the two-letter code.
    pub fn from_code(code: &str) -> Option<ImpactLevel> {
        ImpactLevel::ALL.into_iter().find(|l| l.code() == code)
    }

    /// The priority value this level suggests; `None` for no impact.
    pub const fn suggested_priority(self) -> Option<i32> {
        match self {
            ImpactLevel::Highest => Some(1),
            ImpactLevel::High => Some(2),
            ImpactLevel::Medium => Some(3),
            ImpactLevel::Low => Some(4),
            ImpactLevel::Lowest => Some(5),
            ImpactLevel::None => None,
        }
    }
}

/// An audience that can be impacted (business, customers, sellers, employees...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImpactType {
    /// Unique slug (`customers_impact`).
    pub value: String,
    /// Name.
    pub name: String,
    /// Shown before the name.
    pub emoji: String,
    /// Help shown in forms.
    pub help_text: String,
    /// Sort order.
    pub order: i32,
    /// The levels that may be chosen for it, with their guidance.
    pub levels: Vec<ImpactLevelOption>,
}

/// A level offered for an impact type, with what it means for that audience.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImpactLevelOption {
    /// The level.
    pub level: ImpactLevel,
    /// Name shown.
    pub name: String,
    /// Guidance.
    pub description: String,
}

/// The priority value suggested by a set of impacts: the most severe level wins.
/// `None` when nothing is impacted, in which case there is no incident to declare.
pub fn suggest_priority(levels: impl IntoIterator<Item = ImpactLevel>) -> Option<i32> {
    levels
        .into_iter()
        .filter_map(ImpactLevel::suggested_priority)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_impact_wins() {
        assert_eq!(
            suggest_priority([ImpactLevel::Low, ImpactLevel::High, ImpactLevel::None]),
            Some(2)
        );
        assert_eq!(
            suggest_priority([ImpactLevel::None, ImpactLevel::None]),
            None
        );
        assert_eq!(suggest_priority([]), None);
    }

    #[test]
    fn codes_round_trip() {
        for l in ImpactLevel::ALL {
            assert_eq!(ImpactLevel::from_code(l.code()), Some(l));
        }
    }
}
