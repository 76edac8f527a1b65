//! Wire types: the only serde types mirroring Confluence's API. Fields
//! Confluence may leave out are optional, unknown fields are ignored.

mod list;
mod page;

pub(crate) use list::{LabelWire, MultiEntity, SpaceWire, id_to_string};
pub use list::{PageSummary, PageSummaryLinks};
pub use page::Page;
pub(crate) use page::{BodyWrite, PageCreate, PageUpdate, PageWire, VersionWrite};
