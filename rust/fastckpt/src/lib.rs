//! fastckpt: TensorFlow's checkpoint files, read and written without TensorFlow.
//!
//! The data path reads top to bottom: [`bundle`] (what a checkpoint is) sits on [`table`] (the
//! sorted string table of its index), which sits on [`proto`] and [`crc`]. [`v1`] reads the
//! legacy single-file format through the same table; [`reader`] opens whichever a prefix names.

pub mod atomic_file;
pub mod bundle;
pub mod checkpoint;
pub mod convert;
pub mod crc;
pub mod dtype;
pub mod error;
pub mod graph;
pub mod pool;
pub mod proto;
pub mod reader;
pub mod state;
pub mod storage;
pub mod table;
pub mod v1;
pub mod varint;

pub use bundle::{BundleReader, BundleWriter, Tensor, TensorData};
pub use dtype::DataType;
pub use error::{Error, Result};
pub use reader::CheckpointReader;
