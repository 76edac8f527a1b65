//! Pages of Confluence Cloud's REST API v2 (`/wiki/api/v2/pages`): what is
//! read (`PageWire`, turned into a [`Page`]) and what is written (`PageUpdate`).

use serde::{Deserialize, Serialize};

/// A page with its storage-format body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Page id.
    pub id: String,
    /// Title.
    pub title: String,
    /// `current`, `draft`...
    pub status: String,
    /// Version number.
    pub version: i64,
    /// The message of that version.
    pub version_message: String,
    /// The body, in storage format (XHTML).
    pub body: String,
}

/// A page as Confluence returns it.
#[derive(Deserialize)]
pub(crate) struct PageWire {
    id: serde_json::Value,
    #[serde(default, rename = "spaceId")]
    pub(crate) space_id: Option<serde_json::Value>,
    #[serde(default, rename = "_links")]
    pub(crate) links: Option<PageLinksWire>,
    #[serde(default)]
    title: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    version: Option<VersionWire>,
    #[serde(default)]
    body: Option<BodyWire>,
}

/// A page's links (`AbstractPageLinks`): the web address, relative to the site's `/wiki`.
#[derive(Deserialize)]
pub(crate) struct PageLinksWire {
    #[serde(default)]
    pub(crate) webui: Option<String>,
}

#[derive(Deserialize)]
struct VersionWire {
    #[serde(default)]
    number: i64,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct BodyWire {
    #[serde(default)]
    storage: Option<StorageWire>,
}

#[derive(Deserialize)]
struct StorageWire {
    #[serde(default)]
    value: Option<String>,
}

/// A new page, as Confluence takes it (`POST /pages`).
#[derive(Serialize)]
pub(crate) struct PageCreate<'a> {
    #[serde(rename = "spaceId")]
    pub(crate) space_id: &'a str,
    pub(crate) status: &'static str,
    pub(crate) title: &'a str,
    #[serde(rename = "parentId")]
    pub(crate) parent_id: &'a str,
    pub(crate) body: BodyWrite<'a>,
}

/// A page's new version, as Confluence takes it.
#[derive(Serialize)]
pub(crate) struct PageUpdate<'a> {
    pub(crate) id: &'a str,
    pub(crate) status: &'a str,
    pub(crate) title: &'a str,
    pub(crate) body: BodyWrite<'a>,
    pub(crate) version: VersionWrite<'a>,
}

#[derive(Serialize)]
pub(crate) struct BodyWrite<'a> {
    pub(crate) representation: &'static str,
    pub(crate) value: &'a str,
}

#[derive(Serialize)]
pub(crate) struct VersionWrite<'a> {
    pub(crate) number: i64,
    pub(crate) message: &'a str,
}

impl PageWire {
    pub(crate) fn into_page(self) -> Page {
        Page {
            id: super::list::id_to_string(self.id),
            title: self.title,
            status: self.status.unwrap_or_else(|| "current".into()),
            version: self.version.as_ref().map_or(0, |v| v.number),
            version_message: self.version.and_then(|v| v.message).unwrap_or_default(),
            body: self
                .body
                .and_then(|b| b.storage)
                .and_then(|s| s.value)
                .unwrap_or_default(),
        }
    }
}
