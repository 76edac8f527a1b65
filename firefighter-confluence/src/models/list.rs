//! Lists of Confluence Cloud's REST API v2 (`MultiEntityResult<T>`: `results`
//! and `_links.next`, the relative URL of the next page of results), and
//! the entities listed: spaces, page summaries, labels.

use serde::Deserialize;

/// One page of a list.
#[derive(Deserialize)]
pub(crate) struct MultiEntity<T> {
    #[serde(default = "Vec::new")]
    pub(crate) results: Vec<T>,
    #[serde(default, rename = "_links")]
    pub(crate) links: Option<ListLinks>,
}

#[derive(Deserialize)]
pub(crate) struct ListLinks {
    #[serde(default)]
    pub(crate) next: Option<String>,
}

impl<T> MultiEntity<T> {
    /// The relative URL of the next page, when there is one.
    pub(crate) fn next(&self) -> Option<&str> {
        self.links
            .as_ref()
            .and_then(|l| l.next.as_deref())
            .filter(|n| !n.is_empty())
    }
}

/// A space (`SpaceBulk`).
#[derive(Deserialize)]
pub(crate) struct SpaceWire {
    pub(crate) id: serde_json::Value,
    #[serde(default)]
    pub(crate) key: String,
}

/// A page in a list (`PageBulk`, `ChildPage`), without body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PageSummary {
    /// Page id.
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    /// Title.
    #[serde(default)]
    pub title: String,
    /// Its space's id.
    #[serde(default, rename = "spaceId", deserialize_with = "opt_id_string")]
    pub space_id: Option<String>,
    /// Its parent's id.
    #[serde(default, rename = "parentId", deserialize_with = "opt_id_string")]
    pub parent_id: Option<String>,
    /// Its links.
    #[serde(default, rename = "_links")]
    pub links: PageSummaryLinks,
}

/// The links of a listed page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PageSummaryLinks {
    /// Its web address, relative to the site's `/wiki`.
    #[serde(default)]
    pub webui: Option<String>,
}

/// A label (`Label`).
#[derive(Deserialize)]
pub(crate) struct LabelWire {
    #[serde(default)]
    pub(crate) name: String,
}

/// Ids are strings in v2, numbers in some answers: either is taken.
pub(crate) fn id_to_string(value: serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

fn id_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    serde_json::Value::deserialize(d).map(id_to_string)
}

fn opt_id_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<serde_json::Value>::deserialize(d)?
        .filter(|v| !v.is_null())
        .map(id_to_string))
}
