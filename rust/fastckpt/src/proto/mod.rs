//! The protobuf messages the engine needs, decoded and encoded by hand on top of [`wire`].

pub mod shape;
pub mod slice;
pub mod version;
pub mod wire;

pub use shape::TensorShape;
pub use slice::{Extent, TensorSlice};
pub use version::VersionDef;
