//! Wire types: the only serde types mirroring Confluence's API. Fields
//! Confluence may leave out are optional, unknown fields are ignored.

mod page;

pub use page::Page;
pub(crate) use page::{BodyWrite, PageUpdate, PageWire, VersionWrite};
