//! The "source of named tensors" every input format is read through: a sorted list of entries
//! and, per name, a [`Tensor`] — mapped bytes where the format stores them as they are, owned bytes
//! where they had to be assembled or swapped. TF V2 bundles are read by [`BundleReader`] itself.

use std::path::Path;

use crate::bundle::BundleReader;
use crate::dtype::DataType;
use crate::error::Result;
use crate::Tensor;

/// One tensor of a source, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: Vec<u8>,
    pub dtype: DataType,
    pub shape: Vec<usize>,
}

/// A checkpoint in any supported format, opened for reading.
pub trait TensorSource: Send + Sync + std::fmt::Debug {
    /// The file or folder read, for messages.
    fn path(&self) -> &Path;

    /// Every tensor, sorted by name.
    fn entries(&self) -> Result<Vec<Entry>>;

    /// One tensor's bytes (verified against its checksum where the format has one).
    fn tensor(&self, name: &[u8]) -> Result<Tensor>;

    /// Whether `name` is a tensor of this source.
    fn contains(&self, name: &[u8]) -> bool;
}

impl TensorSource for BundleReader {
    fn path(&self) -> &Path {
        self.prefix()
    }

    fn entries(&self) -> Result<Vec<Entry>> {
        Ok(self
            .listing()
            .map(|(name, dtype, dims)| Entry { name: name.to_vec(), dtype, shape: dims.to_vec() })
            .collect())
    }

    fn tensor(&self, name: &[u8]) -> Result<Tensor> {
        BundleReader::tensor(self, name)
    }

    fn contains(&self, name: &[u8]) -> bool {
        BundleReader::contains(self, name)
    }
}
