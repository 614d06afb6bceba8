//! The V2 checkpoint ("tensor bundle"): `P.index`, a table mapping tensor names to entries, and
//! `P.data-SSSSS-of-NNNNN` shards holding the raw tensor bytes.
//!
//! ```text
//! P.index                    ""        → BundleHeaderProto (num_shards, endianness, version)
//!                            <name>    → BundleEntryProto (dtype, shape, shard, offset, size, crc)
//!                            \0<slice> → entry of one stored slice of a partitioned tensor
//! P.data-00000-of-00001      tensor bytes back to back, each optionally padded to an alignment
//! ```

pub mod entry;
pub mod header;
pub mod merge;
pub mod naming;
pub mod reader;
pub mod slices;
pub mod strings;
pub mod variant;
pub mod writer;

pub use entry::BundleEntry;
pub use header::{BundleHeader, Endianness};
pub use merge::merge_bundles;
pub use reader::{BundleReader, DataFile, Tensor, TensorData};
pub use writer::BundleWriter;
