//! Any TensorFlow checkpoint by its prefix, as `tf.train.load_checkpoint` finds it: a V2 bundle
//! when `P.index` exists, else a legacy V1 (TensorSlice) file at `P` or the shards of the pattern
//! `P-?????-of-NNNNN`. Both answer the same questions; callers need not know which they hold.

use std::path::Path;

use rayon::prelude::*;

use crate::bundle::{naming, BundleReader, ReadPlan, Tensor};
use crate::dtype::DataType;
use crate::error::{Error, Result};
use crate::pool;
use crate::storage::Location;
use crate::v1::{self, V1Reader};

#[derive(Debug)]
#[allow(clippy::large_enum_variant, reason = "one per open checkpoint, never in bulk: boxing would gain nothing")]
pub enum CheckpointReader {
    V2(BundleReader),
    V1(V1Reader),
}

impl CheckpointReader {
    /// Opens the checkpoint at `prefix`. With `verify`, a V2 tensor's crc32c is checked the first
    /// time its bytes are handed out; V1 files have checksums on their table blocks only, and
    /// those are always checked. A URL prefix opens a V2 bundle in an object store.
    pub fn open(prefix: impl AsRef<Path>, verify: bool) -> Result<Self> {
        let prefix = prefix.as_ref();
        if let Location::Remote(remote) = Location::of(prefix)? {
            return Ok(CheckpointReader::V2(BundleReader::open_remote(remote, verify)?));
        }
        if !naming::index_path(prefix).exists() {
            if let Some(files) = v1::files(prefix) {
                return Ok(CheckpointReader::V1(V1Reader::open(prefix, files)?));
            }
            // A file at the prefix itself is what TensorFlow then opens as a V1 checkpoint: a
            // file that is no table is reported as such (DataLoss there), not as a missing index.
            if prefix.is_file() {
                return Err(Error::corrupt(
                    prefix,
                    "not a checkpoint: no .index file beside it, and not a V1 (TensorSlice) file \
                     either (not a table: no footer with its magic number)",
                ));
            }
        }
        Ok(CheckpointReader::V2(BundleReader::open(prefix, verify)?))
    }

    /// Whether a checkpoint of either format exists at `prefix`.
    pub fn exists(prefix: &Path) -> bool {
        if let Ok(Location::Remote(remote)) = Location::of(prefix) {
            return Location::Remote(remote.with_suffix(naming::INDEX_SUFFIX)).exists().unwrap_or(false);
        }
        naming::index_path(prefix).exists() || v1::files(prefix).is_some()
    }

    pub fn prefix(&self) -> &Path {
        match self {
            CheckpointReader::V2(r) => r.prefix(),
            CheckpointReader::V1(r) => r.prefix(),
        }
    }

    /// The file that describes the tensors (`P.index`, or the V1 file), for messages.
    pub fn index_path(&self) -> &Path {
        match self {
            CheckpointReader::V2(r) => r.index_path(),
            CheckpointReader::V1(r) => r.path(),
        }
    }

    /// Tensor names as `tf.train.load_checkpoint` lists them: sorted, slices hidden.
    pub fn names(&self) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        match self {
            CheckpointReader::V2(r) => Box::new(r.names()),
            CheckpointReader::V1(r) => Box::new(r.names()),
        }
    }

    /// Each listed tensor ([`Self::names`]) with its dtype and dims.
    pub fn listing(&self) -> Box<dyn Iterator<Item = (&[u8], DataType, &[usize])> + '_> {
        match self {
            CheckpointReader::V2(r) => Box::new(r.listing()),
            CheckpointReader::V1(r) => Box::new(r.listing()),
        }
    }

    pub fn contains(&self, name: &[u8]) -> bool {
        match self {
            CheckpointReader::V2(r) => r.contains(name),
            CheckpointReader::V1(r) => r.contains(name),
        }
    }

    pub fn dtype_and_shape(&self, name: &[u8]) -> Result<(DataType, Vec<usize>)> {
        match self {
            CheckpointReader::V2(r) => r.dtype_and_shape(name),
            CheckpointReader::V1(r) => r.dtype_and_shape(name),
        }
    }

    /// The byte size of a fixed-size tensor (`None` for strings and variants), checked to be
    /// backed by data on disk.
    pub fn byte_size(&self, name: &[u8]) -> Result<Option<usize>> {
        match self {
            CheckpointReader::V2(r) => r.byte_size(name),
            CheckpointReader::V1(r) => r.byte_size(name),
        }
    }

    /// Reads a fixed-size tensor into `out`, which must have exactly its size.
    pub fn read_into(&self, name: &[u8], out: &mut [u8]) -> Result<()> {
        match self {
            CheckpointReader::V2(r) => r.read_into(name, out),
            CheckpointReader::V1(r) => r.read_into(name, out),
        }
    }

    /// Reads the box `region` of a fixed-size tensor into `out` (see
    /// [`BundleReader::read_region`]).
    pub fn read_region(&self, name: &[u8], region: &[(usize, usize)], out: &mut [u8]) -> Result<()> {
        match self {
            CheckpointReader::V2(r) => r.read_region(name, region, out),
            CheckpointReader::V1(r) => r.read_region(name, region, out),
        }
    }

    /// How a fixed-size V2 tensor is read, resolved once (see [`BundleReader::plan`]); `None` for
    /// strings, variants and every V1 tensor (V1 values are decoded, so [`Self::tensor_owned`]
    /// costs no more than a plan would).
    pub fn plan(&self, name: &[u8]) -> Result<Option<ReadPlan<'_>>> {
        match self {
            CheckpointReader::V2(r) => r.plan(name),
            CheckpointReader::V1(_) => Ok(None),
        }
    }

    /// Whether [`Self::plan`] is a lookup in memory: no file to open, no lock, no I/O (see
    /// [`BundleReader::files_open`]; a V1 reader plans nothing).
    pub fn plans_in_memory(&self) -> bool {
        match self {
            CheckpointReader::V2(r) => r.files_open(),
            CheckpointReader::V1(_) => true,
        }
    }

    /// [`Self::read_planned`] if it cannot wait for a disk, else nothing and `Ok(false)` (see
    /// [`BundleReader::read_planned_cached`]; V1 tensors have no plan).
    pub fn read_planned_cached(&self, name: &[u8], plan: &ReadPlan<'_>, out: &mut [u8]) -> Result<bool> {
        match self {
            CheckpointReader::V2(r) => r.read_planned_cached(name, plan, out),
            CheckpointReader::V1(_) => Ok(false),
        }
    }

    /// [`Self::read_into`] with the plan of `name` already made.
    pub fn read_planned(&self, name: &[u8], plan: &ReadPlan<'_>, out: &mut [u8]) -> Result<()> {
        match self {
            CheckpointReader::V2(r) => r.read_planned(name, plan, out),
            CheckpointReader::V1(r) => r.read_into(name, out),
        }
    }

    /// [`Self::read_planned`] of many tensors, each `(name, plan, out)` (see
    /// [`BundleReader::read_planned_many`]).
    pub fn read_planned_many(&self, reads: &mut [(&[u8], &ReadPlan<'_>, &mut [u8])]) -> Result<()> {
        match self {
            CheckpointReader::V2(r) => r.read_planned_many(reads),
            CheckpointReader::V1(r) => reads.iter_mut().try_for_each(|(name, _, out)| r.read_into(name, out)),
        }
    }

    /// [`Self::read_into`] of many tensors, each `(name, out)`, with the first error (see
    /// [`BundleReader::read_into_many`]); V1 tensors are decoded in parallel.
    pub fn read_into_many(&self, reads: &mut [(&[u8], &mut [u8])]) -> Result<()> {
        match self {
            CheckpointReader::V2(r) => r.read_into_many(reads),
            CheckpointReader::V1(r) => {
                let results: Vec<Result<()>> =
                    pool::install(|| reads.par_iter_mut().map(|(name, out)| r.read_into(name, out)).collect());
                results.into_iter().collect()
            }
        }
    }

    /// A tensor, mapped where the format allows it.
    pub fn tensor(&self, name: &[u8]) -> Result<Tensor> {
        match self {
            CheckpointReader::V2(r) => r.tensor(name),
            CheckpointReader::V1(r) => r.tensor(name),
        }
    }

    /// [`Self::tensor`] when it is a view made without reading anything (see
    /// [`BundleReader::view_in_memory`]); `None` otherwise, and for every V1 tensor.
    pub fn view_in_memory(&self, name: &[u8]) -> Option<Tensor> {
        match self {
            CheckpointReader::V2(r) => r.view_in_memory(name),
            CheckpointReader::V1(_) => None,
        }
    }

    /// A tensor in memory of its own.
    pub fn tensor_owned(&self, name: &[u8]) -> Result<Tensor> {
        match self {
            CheckpointReader::V2(r) => r.tensor_owned(name),
            CheckpointReader::V1(r) => r.tensor(name),
        }
    }

    /// Many tensors at once, in parallel; results in the order of `names`.
    pub fn tensors(&self, names: &[Vec<u8>], owned: bool) -> Vec<Result<Tensor>> {
        match self {
            CheckpointReader::V2(r) => r.tensors(names, owned),
            CheckpointReader::V1(r) => r.tensors(names),
        }
    }
}
