//! The protobuf messages the engine needs. Checkpoints use a few small typed messages decoded by
//! hand on top of [`wire`]; graphs, meta graphs and SavedModels go through the schema-driven
//! dynamic [`message::Message`], with the [`binary`] codec and the [`text`] format.

pub mod binary;
pub mod message;
pub mod schema;
pub mod shape;
pub mod slice;
pub mod text;
pub mod version;
pub mod wire;

pub use message::{Elem, List, Map, MapKey, Message, Value};
pub use shape::TensorShape;
pub use slice::{Extent, TensorSlice};
pub use version::VersionDef;
