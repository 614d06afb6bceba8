//! Legacy V1 checkpoints: the "TensorSlice" files of `Saver(write_version=SaverDef.V1)` and of
//! the TF-slim model zoo. One file named by the prefix (a sharded save: `P-00000-of-00002`, …,
//! recorded as the pattern `P-?????-of-00002`), in the table format of the V2 index:
//!
//! ```text
//! ""                                  → SavedTensorSlices { meta = 1: SavedTensorSliceMeta {
//!                                         tensor = 1: [SavedSliceMeta { name = 1, shape = 2,
//!                                                       type = 3, slice = 4: [TensorSliceProto] }],
//!                                         versions = 2: VersionDef } }
//! EncodeTensorNameSlice(name, slice)  → SavedTensorSlices { data = 2: SavedSlice { name = 1,
//!                                         slice = 2, data = 3: TensorProto } }
//! ```
//! A slice's elements sit row-major in the typed field of its dtype (`float_val`, `int_val`,
//! `string_val`, …); the TensorProto has no dtype, shape or `tensor_content`. An unsliced tensor
//! is one slice with every extent full. The table's blocks carry crc32c, checked on every read;
//! the values themselves have none.
//!
//! Nothing is read at open but each file's metadata; a tensor's slices are looked up, decoded and
//! assembled when it is asked for. Every count is checked against the bytes that would have to
//! hold it before anything is allocated for it.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use rayon::prelude::*;

use crate::bundle::entry::checked_shape;
use crate::bundle::{slices, DataFile, Tensor, TensorData};
use crate::dtype::DataType;
use crate::error::{display_key, Error, Result};
use crate::graph::tensor::{exact_typed_values, Elements};
use crate::pool;
use crate::proto::schema::TENSOR_PROTO;
use crate::proto::wire::{Decoder, WireError, WireResult};
use crate::proto::{binary, TensorShape, TensorSlice, VersionDef};
use crate::table::handle::{Footer, FOOTER_LEN};
use crate::table::Table;

/// `TF_CHECKPOINT_VERSION` and `TF_CHECKPOINT_VERSION_MIN_PRODUCER` of TensorFlow's version.h.
const CHECKPOINT_VERSION: i32 = 1;
const CHECKPOINT_MIN_PRODUCER: i32 = 0;

/// The dtypes TF 2.21's V1 writer stores (its `Save` op refuses bfloat16, qint16, quint16, uint32
/// and uint64), each in the typed field `SaveTypeTraits` (saved_tensor_slice_util.h) gives it.
const V1_DTYPES: [DataType; 16] = [
    DataType::BOOL,
    DataType::FLOAT,
    DataType::DOUBLE,
    DataType::COMPLEX64,
    DataType::COMPLEX128,
    DataType::INT32,
    DataType::INT64,
    DataType::UINT16,
    DataType::UINT8,
    DataType::INT8,
    DataType::INT16,
    DataType::QINT8,
    DataType::QUINT8,
    DataType::QINT32,
    DataType::HALF,
    DataType::STRING,
];

/// The files of the V1 checkpoint named by `prefix`, if `prefix` names one: the file itself, or
/// for a sharded pattern (`P-?????-of-NNNNN`) every shard. The first file must end in a table
/// footer, so that anything else at the prefix is still reported as a V2 checkpoint without its
/// `.index`.
pub fn files(prefix: &Path) -> Option<Vec<PathBuf>> {
    let name = prefix.file_name()?.to_str();
    let files = match name.and_then(|n| n.split_once("-?????-of-")) {
        Some((stem, count)) => {
            let shards: usize = count.parse().ok().filter(|&n| n > 0 && count.bytes().all(|b| b.is_ascii_digit()))?;
            (0..shards).map(|i| prefix.with_file_name(format!("{stem}-{i:05}-of-{count}"))).collect()
        }
        None => vec![prefix.to_path_buf()],
    };
    ends_in_table_footer(&files[0]).then_some(files)
}

fn ends_in_table_footer(path: &Path) -> bool {
    let read_footer = || -> Option<()> {
        let mut file = File::open(path).ok()?;
        let len = file.metadata().ok().filter(|m| m.is_file())?.len();
        let mut footer = [0u8; FOOTER_LEN];
        file.seek(SeekFrom::Start(len.checked_sub(FOOTER_LEN as u64)?)).ok()?;
        file.read_exact(&mut footer).ok()?;
        Footer::decode(&footer).ok().map(|_| ())
    };
    read_footer().is_some()
}

/// The elements of one stored slice, as [`V1Reader::with_slice`] hands them over.
enum Slice<'a> {
    /// Fixed-size elements in the host's order: borrowed from the table's block when stored as
    /// packed floating-point values.
    Fixed(&'a [u8]),
    /// DT_STRING elements.
    Strings(Vec<Bytes>),
}

/// One tensor as the metadata of all files describe it.
#[derive(Debug)]
struct V1Tensor {
    dtype: DataType,
    dims: Vec<usize>,
    count: usize,
    slices: Vec<StoredSlice>,
}

#[derive(Debug)]
struct StoredSlice {
    slice: TensorSlice,
    /// Per dimension `(start, length)` within the full shape.
    region: Vec<(usize, usize)>,
    /// Which of the reader's files holds it.
    file: usize,
}

impl StoredSlice {
    fn count(&self) -> usize {
        self.region.iter().map(|&(_, len)| len).product()
    }
}

/// One file of a V1 checkpoint, mapped, with its table's index block checked at open.
#[derive(Debug)]
struct V1File {
    data: DataFile,
    index: Vec<u8>,
}

impl V1File {
    fn table(&self) -> Table<'_> {
        Table::with_index(self.data.path(), self.data.bytes(), &self.index)
    }

    /// Takes the pages of `bytes`, read and copied, out of this process's resident set, when
    /// they lie in the mapping (a value of an uncompressed block): reading a checkpoint then
    /// holds the tensors' copies, not the file's pages as well.
    fn release(&self, bytes: &[u8]) {
        let mapping = self.data.bytes().as_ptr_range();
        if mapping.contains(&bytes.as_ptr()) {
            self.data.release(bytes.as_ptr() as usize - mapping.start as usize, bytes.len());
        }
    }
}

/// An open V1 checkpoint.
#[derive(Debug)]
pub struct V1Reader {
    prefix: PathBuf,
    files: Vec<V1File>,
    tensors: BTreeMap<Vec<u8>, V1Tensor>,
}

impl V1Reader {
    /// Opens the V1 checkpoint made of `files` (as [`files`] finds them for `prefix`), reading
    /// the metadata of each.
    pub fn open(prefix: &Path, files: Vec<PathBuf>) -> Result<Self> {
        let mut reader = V1Reader { prefix: prefix.to_path_buf(), files: Vec::new(), tensors: BTreeMap::new() };
        for path in files {
            let file = DataFile::open(path)?;
            let table = Table::open(file.path(), file.bytes())?;
            let corrupt = |detail: String| Error::corrupt(file.path(), detail);
            let meta =
                table.get(b"")?.ok_or_else(|| corrupt("no SavedTensorSlices metadata under the empty key".into()))?;
            let meta = decode_meta(&meta).map_err(|e| corrupt(format!("unable to parse the metadata: {}", e.0)))?;
            meta.versions
                .check("Checkpoint", CHECKPOINT_VERSION, CHECKPOINT_MIN_PRODUCER)
                .map_err(|detail| Error::Refused { path: file.path().to_path_buf(), detail })?;
            let index = table.index().to_vec();
            let at = reader.files.len();
            for tensor in meta.tensors {
                reader.register(at, tensor).map_err(corrupt)?;
            }
            reader.files.push(V1File { data: file, index });
        }
        Ok(reader)
    }

    /// Adds the slices of one metadata entry, checked as TensorFlow's `RegisterTensorSlice` does:
    /// one dtype and shape per name across files, slices within the shape and not overlapping.
    fn register(&mut self, file: usize, meta: SliceMeta) -> Result<(), String> {
        let what = || format!("tensor '{}'", display_key(&meta.name));
        let dtype = meta.dtype;
        if !V1_DTYPES.contains(&dtype) {
            return Err(format!("{} has dtype {}, which a V1 checkpoint cannot hold", what(), dtype.describe()));
        }
        let (dims, count) = checked_shape(&meta.shape).map_err(|e| format!("{}: {e}", what()))?;
        let tensor = self.tensors.entry(meta.name.clone()).or_insert(V1Tensor {
            dtype,
            dims: dims.clone(),
            count,
            slices: Vec::new(),
        });
        if tensor.dtype != dtype || tensor.dims != dims {
            return Err(format!(
                "{} is {} {:?} in one file and {} {dims:?} in another",
                what(),
                tensor.dtype.describe(),
                tensor.dims,
                dtype.describe()
            ));
        }
        for slice in meta.slices {
            let region = slices::resolve(&slice, &dims).map_err(|e| format!("{}: {e}", what()))?;
            if tensor.slices.iter().any(|other| overlap(&other.region, &region)) {
                return Err(format!("{}: two stored slices overlap", what()));
            }
            tensor.slices.push(StoredSlice { slice, region, file });
        }
        Ok(())
    }

    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// The first file, named in errors that concern the checkpoint as a whole.
    pub fn path(&self) -> &Path {
        self.files.first().map_or(&self.prefix, |file| file.data.path())
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &[u8]> {
        self.tensors.keys().map(Vec::as_slice)
    }

    /// Each tensor, sorted by name, with its dtype and dims.
    pub fn listing(&self) -> impl Iterator<Item = (&[u8], DataType, &[usize])> {
        self.tensors.iter().map(|(name, tensor)| (name.as_slice(), tensor.dtype, tensor.dims.as_slice()))
    }

    pub fn contains(&self, name: &[u8]) -> bool {
        self.tensors.contains_key(name)
    }

    fn lookup(&self, name: &[u8]) -> Result<&V1Tensor> {
        self.tensors.get(name).ok_or_else(|| Error::KeyNotFound { path: self.prefix.clone(), key: display_key(name) })
    }

    pub fn dtype_and_shape(&self, name: &[u8]) -> Result<(DataType, Vec<usize>)> {
        let tensor = self.lookup(name)?;
        Ok((tensor.dtype, tensor.dims.clone()))
    }

    /// The byte size of a fixed-size tensor (`None` for strings), once its slices are known to
    /// cover it and to fit in the files that hold them, so that a caller may allocate it.
    pub fn byte_size(&self, name: &[u8]) -> Result<Option<usize>> {
        let tensor = self.lookup(name)?;
        self.check_coverage(name, tensor)?;
        Ok(tensor.dtype.element_size().map(|size| tensor.count * size))
    }

    /// Every stored element takes at least one byte of the files holding its slices; a tensor
    /// claiming more is refused before anything is allocated for it.
    fn check_coverage(&self, name: &[u8], tensor: &V1Tensor) -> Result<()> {
        let stored: usize = tensor.slices.iter().map(StoredSlice::count).sum();
        if stored != tensor.count {
            return Err(
                self.tensor_error(name, format!("the stored slices hold {stored} of its {} elements", tensor.count))
            );
        }
        let mut files: Vec<usize> = tensor.slices.iter().map(|s| s.file).collect();
        files.sort_unstable();
        files.dedup();
        let bytes: usize = files.iter().map(|&f| self.files[f].data.bytes().len()).sum();
        if tensor.count > bytes {
            return Err(self.tensor_error(name, format!("{} elements cannot come from {bytes} bytes", tensor.count)));
        }
        Ok(())
    }

    fn tensor_error(&self, name: &[u8], detail: impl std::fmt::Display) -> Error {
        Error::corrupt(self.path(), format!("tensor '{}': {detail}", display_key(name)))
    }

    /// `f` of the elements of one stored slice: packed floating-point values as the bytes they
    /// are in the table's block (no copy), anything else decoded from its record.
    fn with_slice<R>(
        &self,
        name: &[u8],
        tensor: &V1Tensor,
        stored: &StoredSlice,
        f: impl FnOnce(Slice<'_>) -> Result<R>,
    ) -> Result<R> {
        let file = &self.files[stored.file];
        let key = slices::slice_key(name, &stored.slice);
        let corrupt =
            |detail: String| Error::corrupt(file.data.path(), format!("tensor '{}': {detail}", display_key(&key)));
        let table = file.table();
        let read = |record: &[u8]| -> Result<R> {
            let saved =
                decode_saved_slice(record).map_err(|e| corrupt(format!("unable to parse the record: {}", e.0)))?;
            if saved.name != name || slices::resolve(&saved.slice, &tensor.dims).ok().as_ref() != Some(&stored.region) {
                return Err(corrupt("the record holds another tensor or slice".into()));
            }
            if let Some(bytes) = packed_floats(saved.data, tensor.dtype, stored.count()) {
                let result = f(Slice::Fixed(bytes));
                file.release(bytes);
                return result;
            }
            let proto = binary::decode(&TENSOR_PROTO, Bytes::copy_from_slice(saved.data))
                .map_err(|e| corrupt(format!("unable to parse the slice's TensorProto: {e}")))?;
            match exact_typed_values(&proto, tensor.dtype, stored.count()).map_err(corrupt)? {
                Elements::Owned(bytes) => f(Slice::Fixed(&bytes)),
                Elements::Shared(bytes) => f(Slice::Fixed(&bytes)),
                Elements::Strings { values, .. } => f(Slice::Strings(values)),
            }
        };
        table
            .get_in(&key, read)?
            .unwrap_or_else(|| Err(corrupt("the slice listed in the metadata has no record".into())))
    }

    /// Reads a fixed-size tensor into `out`, which must have exactly its size, assembling slices.
    pub fn read_into(&self, name: &[u8], out: &mut [u8]) -> Result<()> {
        let tensor = self.lookup(name)?;
        let size = self.element_size(name, tensor)?;
        if out.len() != tensor.count * size {
            return Err(Error::InvalidArgument(format!(
                "tensor '{}' needs {} bytes, the buffer has {}",
                display_key(name),
                tensor.count * size,
                out.len()
            )));
        }
        self.check_coverage(name, tensor)?;
        for stored in &tensor.slices {
            self.with_slice(name, tensor, stored, |slice| {
                let Slice::Fixed(src) = slice else {
                    return Err(self.tensor_error(name, "a slice holds no fixed-size elements"));
                };
                slices::for_each_row(&tensor.dims, &stored.region, |s, d, n| {
                    out[d * size..(d + n) * size].copy_from_slice(&src[s * size..(s + n) * size]);
                });
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Reads the box `region` of a fixed-size tensor into `out` (see
    /// [`BundleReader::read_region`](crate::bundle::BundleReader::read_region)): the stored
    /// slices that meet it are decoded and copied, and as in TensorFlow (`RestoreSlice`) they need
    /// cover the region only.
    pub fn read_region(&self, name: &[u8], region: &[(usize, usize)], out: &mut [u8]) -> Result<()> {
        let tensor = self.lookup(name)?;
        let size = self.element_size(name, tensor)?;
        let count = slices::checked_region(name, region, &tensor.dims, size, out.len())?;
        // Stored slices never overlap (checked at open): the parts they share with the region
        // add up to the region exactly when they cover it.
        let meeting: Vec<&StoredSlice> =
            tensor.slices.iter().filter(|stored| slices::overlap(&stored.region, region)).collect();
        let shared = |stored: &StoredSlice| -> usize {
            stored.region.iter().zip(region).map(|(&(a, an), &(b, bn))| (a + an).min(b + bn) - a.max(b)).product()
        };
        if meeting.iter().map(|stored| shared(stored)).sum::<usize>() != count {
            return Err(slices::insufficient(self.path(), name, &slices::region_spec(region), ""));
        }
        for stored in meeting {
            self.with_slice(name, tensor, stored, |slice| {
                let Slice::Fixed(src) = slice else {
                    return Err(self.tensor_error(name, "a slice holds no fixed-size elements"));
                };
                slices::for_each_run(&stored.region, region, |s, d, n| {
                    out[d * size..(d + n) * size].copy_from_slice(&src[s * size..(s + n) * size]);
                });
                Ok(())
            })?;
        }
        Ok(())
    }

    /// The element size of a fixed-size tensor; strings have none.
    fn element_size(&self, name: &[u8], tensor: &V1Tensor) -> Result<usize> {
        tensor.dtype.element_size().ok_or_else(|| {
            Error::InvalidArgument(format!("tensor '{}' of DT_STRING has no fixed element size", display_key(name)))
        })
    }

    /// A tensor in memory of its own (V1 values are always decoded, never mapped).
    pub fn tensor(&self, name: &[u8]) -> Result<Tensor> {
        let tensor = self.lookup(name)?;
        let data = if tensor.dtype.element_size().is_some() {
            let mut out = vec![0u8; self.byte_size(name)?.unwrap_or(0)];
            self.read_into(name, &mut out)?;
            TensorData::Owned(out)
        } else {
            self.check_coverage(name, tensor)?;
            let mut out = vec![Vec::new(); tensor.count];
            for stored in &tensor.slices {
                self.with_slice(name, tensor, stored, |slice| {
                    let Slice::Strings(values) = slice else {
                        return Err(self.tensor_error(name, "a slice holds no strings"));
                    };
                    slices::for_each_row(&tensor.dims, &stored.region, |s, d, n| {
                        for i in 0..n {
                            out[d + i] = values[s + i].to_vec();
                        }
                    });
                    Ok(())
                })?;
            }
            TensorData::Elements(out)
        };
        Ok(Tensor { dtype: tensor.dtype, shape: tensor.dims.clone(), data })
    }

    /// Many tensors at once, in parallel; results in the order of `names`.
    pub fn tensors(&self, names: &[Vec<u8>]) -> Vec<Result<Tensor>> {
        pool::install(|| names.par_iter().map(|n| self.tensor(n)).collect())
    }
}

/// The elements of a floating-point slice as the bytes they already are: TensorFlow writes
/// `float_val` (TensorProto field 5), `double_val` (6), `scomplex_val` (9) and `dcomplex_val` (12)
/// packed, which on a little-endian host is the tensor's own layout. `None` sends anything else
/// (other dtypes, unpacked or repeated records, a wrong count) to the general decoder, which
/// reports what is wrong.
fn packed_floats(proto: &[u8], dtype: DataType, count: usize) -> Option<&[u8]> {
    if cfg!(target_endian = "big") {
        return None;
    }
    let (field, size) = match dtype {
        DataType::FLOAT => (5, 4),
        DataType::DOUBLE => (6, 8),
        DataType::COMPLEX64 => (9, 8),
        DataType::COMPLEX128 => (12, 16),
        _ => return None,
    };
    let mut found = None;
    let mut d = Decoder::new(proto);
    while let Some((f, value)) = d.next_field().ok()? {
        if f == field {
            if found.is_some() {
                return None;
            }
            found = Some(value.as_bytes().ok()?);
        }
    }
    found.filter(|bytes| Some(bytes.len()) == count.checked_mul(size))
}

/// Whether two regions of one tensor share an element.
fn overlap(a: &[(usize, usize)], b: &[(usize, usize)]) -> bool {
    a.iter().zip(b).all(|(&(s1, l1), &(s2, l2))| s1.max(s2) < (s1 + l1).min(s2 + l2))
}

/// One `SavedSliceMeta`.
struct SliceMeta {
    name: Vec<u8>,
    shape: TensorShape,
    dtype: DataType,
    slices: Vec<TensorSlice>,
}

struct Meta {
    tensors: Vec<SliceMeta>,
    versions: VersionDef,
}

/// `SavedTensorSlices.meta` (field 1) of the record under the empty key.
fn decode_meta(buf: &[u8]) -> WireResult<Meta> {
    let mut meta = None;
    let mut d = Decoder::new(buf);
    while let Some((field, value)) = d.next_field()? {
        if field == 1 {
            meta = Some(value.as_bytes()?);
        }
    }
    // A record without `meta` parses in TensorFlow as an empty one: a checkpoint of no tensors.
    let mut out = Meta { tensors: Vec::new(), versions: VersionDef::default() };
    let mut d = Decoder::new(meta.unwrap_or_default());
    while let Some((field, value)) = d.next_field()? {
        match field {
            1 => out.tensors.push(decode_slice_meta(value.as_bytes()?)?),
            2 => out.versions = VersionDef::decode(value.as_bytes()?)?,
            _ => {}
        }
    }
    Ok(out)
}

fn decode_slice_meta(buf: &[u8]) -> WireResult<SliceMeta> {
    let mut meta =
        SliceMeta { name: Vec::new(), shape: TensorShape::default(), dtype: DataType::INVALID, slices: Vec::new() };
    let mut d = Decoder::new(buf);
    while let Some((field, value)) = d.next_field()? {
        match field {
            1 => meta.name = value.as_bytes()?.to_vec(),
            2 => meta.shape = TensorShape::decode(value.as_bytes()?)?,
            3 => meta.dtype = DataType(u32::try_from(value.as_u64()?).map_err(|_| WireError("dtype out of range"))?),
            4 => meta.slices.push(TensorSlice::decode(value.as_bytes()?)?),
            _ => {}
        }
    }
    Ok(meta)
}

/// `SavedTensorSlices.data` (field 2): a `SavedSlice`, its TensorProto left encoded.
struct SavedSlice<'a> {
    name: &'a [u8],
    slice: TensorSlice,
    data: &'a [u8],
}

fn decode_saved_slice(buf: &[u8]) -> WireResult<SavedSlice<'_>> {
    let mut data = None;
    let mut d = Decoder::new(buf);
    while let Some((field, value)) = d.next_field()? {
        if field == 2 {
            data = Some(value.as_bytes()?);
        }
    }
    let mut out = SavedSlice { name: &[], slice: TensorSlice::default(), data: &[] };
    let mut d = Decoder::new(data.ok_or(WireError("the record has no data"))?);
    while let Some((field, value)) = d.next_field()? {
        match field {
            1 => out.name = value.as_bytes()?,
            2 => out.slice = TensorSlice::decode(value.as_bytes()?)?,
            3 => out.data = value.as_bytes()?,
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_floats_are_taken_as_they_are() {
        let packed = [&[0x2A, 8][..], &1f32.to_le_bytes(), &2f32.to_le_bytes()].concat();
        assert_eq!(packed_floats(&packed, DataType::FLOAT, 2), Some(&packed[2..]));
        assert_eq!(packed_floats(&packed, DataType::FLOAT, 3), None, "wrong count");
        assert_eq!(packed_floats(&packed, DataType::INT32, 2), None, "not a float field");
        assert_eq!(packed_floats(&[packed.as_slice(), &packed].concat(), DataType::FLOAT, 2), None, "two records");
        let unpacked = [&[0x2D][..], &1f32.to_le_bytes(), &[0x2D], &2f32.to_le_bytes()].concat();
        assert_eq!(packed_floats(&unpacked, DataType::FLOAT, 2), None);
    }

    #[test]
    fn overlapping_regions() {
        assert!(overlap(&[(0, 2), (0, 3)], &[(1, 2), (2, 1)]));
        assert!(!overlap(&[(0, 2), (0, 3)], &[(2, 2), (0, 3)]));
        assert!(!overlap(&[(0, 0)], &[(0, 4)]), "an empty slice overlaps nothing");
    }

    /// The fixture TF 2.21 wrote (tests/data/make_fixtures.py v1), read through the reader that
    /// picks the format.
    #[test]
    fn reads_the_tensorflow_fixture() {
        let prefix = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/tf1_saver_v1/model.ckpt-3");
        let reader = crate::CheckpointReader::open(&prefix, true).unwrap();
        assert!(matches!(reader, crate::CheckpointReader::V1(_)));
        let names: Vec<&[u8]> = reader.names().collect();
        assert_eq!(names, [&b"global_step"[..], b"labels", b"w"]);
        let w = reader.tensor(b"w").unwrap();
        let floats: Vec<f32> =
            w.data.bytes().unwrap().chunks(4).map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]])).collect();
        assert_eq!((w.dtype, w.shape.as_slice()), (DataType::FLOAT, &[2, 3][..]));
        assert_eq!(floats, [1.0, -2.0, 3.5, 0.0, 0.25, -8.0]);
        let TensorData::Elements(labels) = reader.tensor(b"labels").unwrap().data else { panic!("strings") };
        assert_eq!(labels, [b"cat".to_vec(), Vec::new(), b"dog".to_vec()]);
        let mut step = [0u8; 8];
        reader.read_into(b"global_step", &mut step).unwrap();
        assert_eq!(i64::from_ne_bytes(step), 3);
        assert!(matches!(reader.tensor(b"nope"), Err(Error::KeyNotFound { .. })));
    }

    #[test]
    fn sharded_patterns() {
        let dir = std::env::temp_dir().join(format!("fastckpt-v1-pattern-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(files(&dir.join("m-?????-of-00002")), None, "no files");
        let mut table = Vec::new();
        crate::table::TableBuilder::new(&mut table).finish().unwrap();
        std::fs::write(dir.join("m-00000-of-00002"), &table).unwrap();
        assert_eq!(
            files(&dir.join("m-?????-of-00002")),
            Some(vec![dir.join("m-00000-of-00002"), dir.join("m-00001-of-00002")])
        );
        assert_eq!(files(&dir.join("m-?????-of-0x002")), None);
        std::fs::write(dir.join("plain"), b"not a table, whatever its length is here").unwrap();
        assert_eq!(files(&dir.join("plain")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
