//! The `.index` file: TensorFlow's LevelDB-style sorted string table, without filter blocks.
//!
//! ```text
//! [data block 0][trailer] … [data block k][trailer]
//! [metaindex block][trailer]        always the empty block
//! [index block][trailer]            one entry per data block: separator key → block handle
//! [footer, 48 bytes]                handles of the metaindex and index blocks, padding, magic
//! ```
//! A trailer is 5 bytes: compression type (0 none, 1 Snappy) and the masked crc32c of the block
//! contents followed by that type byte.

pub mod block;
pub mod block_builder;
pub mod builder;
pub mod handle;
pub mod reader;

pub use builder::TableBuilder;
pub use reader::Table;

/// Bytes after every block: compression type and masked crc32c.
pub const BLOCK_TRAILER_LEN: usize = 5;
pub const NO_COMPRESSION: u8 = 0;
pub const SNAPPY_COMPRESSION: u8 = 1;
