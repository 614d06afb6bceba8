//! safetensors files, through Hugging Face's `safetensors` crate.
//!
//! ```text
//! u64 LE n | n bytes of JSON {"__metadata__": {..}, "name": {"dtype", "shape", "data_offsets": [b, e]}, ..} | data
//! ```
//!
//! Reading: the crate parses and validates the header of a file we mapped; tensors are ranges of
//! that mapping. Writing: the crate's serializer is handed one lazy view per tensor, which reads
//! (and casts, if asked) its tensor only when the serializer writes it, so one tensor at most is
//! in memory. A folder in Hugging Face's sharded layout holds `model-00001-of-0000N.safetensors`
//! files and `model.safetensors.index.json` (`{"metadata": {"total_size": …}, "weight_map":
//! {name: file}}`), written last.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use safetensors::tensor::{Dtype, SafeTensors, View};

use super::source::{Entry, TensorSource};
use super::{plan_shards, Planned, Progress};
use crate::atomic_file::AtomicFile;
use crate::bundle::reader::DataFile;
use crate::bundle::TensorData;
use crate::dtype::DataType;
use crate::error::{Error, Result};
use crate::Tensor;

pub const SINGLE_FILE: &str = "model.safetensors";
pub const INDEX_FILE: &str = "model.safetensors.index.json";

/// TensorFlow's dtypes that safetensors has, both ways.
const DTYPES: &[(DataType, Dtype)] = &[
    (DataType::BOOL, Dtype::BOOL),
    (DataType::UINT8, Dtype::U8),
    (DataType::INT8, Dtype::I8),
    (DataType::FLOAT8_E5M2, Dtype::F8_E5M2),
    (DataType::FLOAT8_E4M3FN, Dtype::F8_E4M3),
    (DataType::FLOAT8_E4M3FNUZ, Dtype::F8_E4M3FNUZ),
    (DataType::FLOAT8_E5M2FNUZ, Dtype::F8_E5M2FNUZ),
    (DataType::INT16, Dtype::I16),
    (DataType::UINT16, Dtype::U16),
    (DataType::HALF, Dtype::F16),
    (DataType::BFLOAT16, Dtype::BF16),
    (DataType::INT32, Dtype::I32),
    (DataType::UINT32, Dtype::U32),
    (DataType::FLOAT, Dtype::F32),
    (DataType::COMPLEX64, Dtype::C64),
    (DataType::DOUBLE, Dtype::F64),
    (DataType::INT64, Dtype::I64),
    (DataType::UINT64, Dtype::U64),
];

pub fn to_safetensors(dtype: DataType) -> Option<Dtype> {
    DTYPES.iter().find(|(t, _)| *t == dtype).map(|(_, d)| *d)
}

fn from_safetensors(dtype: Dtype) -> Option<DataType> {
    DTYPES.iter().find(|(_, d)| *d == dtype).map(|(t, _)| *t)
}

/// Where one tensor lives.
#[derive(Debug)]
struct Located {
    file: usize,
    dtype: DataType,
    shape: Vec<usize>,
    start: usize,
    len: usize,
}

/// A safetensors file, or a folder of them (sharded with an index, or one `model.safetensors`).
#[derive(Debug)]
pub struct SafetensorsSource {
    path: PathBuf,
    files: Vec<Arc<DataFile>>,
    tensors: BTreeMap<String, Located>,
}

impl SafetensorsSource {
    pub fn open(path: &Path) -> Result<Self> {
        let files: Vec<PathBuf> = if path.is_dir() {
            let index = path.join(INDEX_FILE);
            if index.exists() {
                shard_files(&index)?
            } else {
                vec![path.join(SINGLE_FILE)]
            }
        } else {
            vec![path.to_path_buf()]
        };
        let mut source = SafetensorsSource { path: path.to_path_buf(), files: Vec::new(), tensors: BTreeMap::new() };
        for (i, file) in files.into_iter().enumerate() {
            let mapped = Arc::new(DataFile::open(file)?);
            source.add_file(i, &mapped)?;
            source.files.push(mapped);
        }
        Ok(source)
    }

    fn add_file(&mut self, index: usize, file: &DataFile) -> Result<()> {
        let corrupt = |detail: String| Error::corrupt(file.path(), detail);
        let bytes = file.bytes();
        let (header_len, metadata) =
            SafeTensors::read_metadata(bytes).map_err(|e| corrupt(format!("not a valid safetensors file: {e}")))?;
        let data_start = header_len + 8;
        for (name, info) in metadata.tensors() {
            let dtype = from_safetensors(info.dtype).ok_or_else(|| {
                corrupt(format!("tensor '{name}': safetensors dtype {:?} has no TensorFlow equivalent", info.dtype))
            })?;
            let (begin, end) = info.data_offsets;
            let start = data_start.checked_add(begin);
            if start.zip(data_start.checked_add(end)).is_none_or(|(_, e)| e > bytes.len()) || end < begin {
                return Err(corrupt(format!("tensor '{name}' runs past the end of the file")));
            }
            let located =
                Located { file: index, dtype, shape: info.shape.clone(), start: data_start + begin, len: end - begin };
            if self.tensors.insert(name.clone(), located).is_some() {
                return Err(corrupt(format!("tensor '{name}' is stored in more than one shard")));
            }
        }
        Ok(())
    }
}

/// The distinct shard files named by an index, in order of first mention.
fn shard_files(index: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read(index).map_err(|e| Error::io(index, e))?;
    let json: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| Error::corrupt(index, format!("not valid JSON: {e}")))?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| Error::corrupt(index, "no \"weight_map\" object"))?;
    let folder = index.parent().unwrap_or(Path::new("."));
    let mut files: Vec<PathBuf> = Vec::new();
    for (name, file) in map {
        let file =
            file.as_str().ok_or_else(|| Error::corrupt(index, format!("weight_map['{name}'] is not a file name")))?;
        if file.contains('/') || file.contains('\\') || file == ".." {
            return Err(Error::corrupt(index, format!("weight_map['{name}'] = '{file}' is not a file of the folder")));
        }
        let path = folder.join(file);
        if !files.contains(&path) {
            files.push(path);
        }
    }
    Ok(files)
}

impl TensorSource for SafetensorsSource {
    fn path(&self) -> &Path {
        &self.path
    }

    fn entries(&self) -> Result<Vec<Entry>> {
        Ok(self
            .tensors
            .iter()
            .map(|(name, t)| Entry { name: name.as_bytes().to_vec(), dtype: t.dtype, shape: t.shape.clone() })
            .collect())
    }

    fn tensor(&self, name: &[u8]) -> Result<Tensor> {
        let located = std::str::from_utf8(name).ok().and_then(|n| self.tensors.get(n)).ok_or_else(|| {
            Error::KeyNotFound { path: self.path.clone(), key: String::from_utf8_lossy(name).into_owned() }
        })?;
        let file = self.files[located.file].clone();
        Ok(Tensor {
            dtype: located.dtype,
            shape: located.shape.clone(),
            data: TensorData::Mapped { file, offset: located.start, len: located.len },
        })
    }

    fn contains(&self, name: &[u8]) -> bool {
        std::str::from_utf8(name).is_ok_and(|n| self.tensors.contains_key(n))
    }
}

/// A tensor the serializer asks for when it writes it. Mapped bytes are kept (they cost no
/// memory of their own) so that the serializer can borrow them; owned ones are handed over and
/// freed once written. The serializer writes each tensor before asking for the next, so the pages
/// of the one before (`written`) leave the resident set then.
struct LazyView<'a> {
    planned: &'a Planned,
    dtype: Dtype,
    load: &'a (dyn Fn(&Planned) -> Result<Tensor> + Sync),
    mapped: OnceLock<Tensor>,
    written: &'a Mutex<Option<(Arc<DataFile>, usize, usize)>>,
    failure: &'a Mutex<Option<Error>>,
    progress: Progress<'a>,
}

impl View for LazyView<'_> {
    fn dtype(&self) -> Dtype {
        self.dtype
    }

    fn shape(&self) -> &[usize] {
        &self.planned.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        release_written(self.written);
        let expected = self.planned.byte_len;
        let loaded = (self.load)(self.planned).and_then(|tensor| match tensor.data.bytes() {
            Some(bytes) if bytes.len() == expected => Ok(tensor),
            _ => {
                Err(Error::InvalidArgument(format!("tensor '{}' did not have the size listed", self.planned.out_name)))
            }
        });
        if let Some(progress) = self.progress {
            progress(&self.planned.out_name, expected as u64);
        }
        match loaded {
            Ok(tensor) => match tensor.data {
                TensorData::Owned(bytes) => Cow::Owned(bytes),
                mapped => {
                    if let TensorData::Mapped { file, offset, len } = &mapped {
                        *self.written.lock().unwrap_or_else(|p| p.into_inner()) = Some((file.clone(), *offset, *len));
                    }
                    let kept = self.mapped.get_or_init(|| Tensor { data: mapped, ..tensor });
                    Cow::Borrowed(kept.data.bytes().unwrap_or_default())
                }
            },
            Err(error) => {
                let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
                failure.get_or_insert(error);
                Cow::Owned(vec![0; expected])
            }
        }
    }

    fn data_len(&self) -> usize {
        self.planned.byte_len
    }
}

fn release_written(written: &Mutex<Option<(Arc<DataFile>, usize, usize)>>) {
    if let Some((file, offset, len)) = written.lock().unwrap_or_else(|p| p.into_inner()).take() {
        file.release(offset, len);
    }
}

/// Writes one safetensors file at `path` (under a temporary name, renamed when complete).
fn write_file(
    path: &Path,
    tensors: &[&Planned],
    metadata: &HashMap<String, String>,
    load: &(dyn Fn(&Planned) -> Result<Tensor> + Sync),
    progress: Progress<'_>,
) -> Result<()> {
    let failure = Mutex::new(None);
    let written = Mutex::new(None);
    let views = tensors.iter().map(|planned| {
        let dtype = to_safetensors(planned.dtype).ok_or_else(|| unsupported(path, planned))?;
        Ok((
            planned.out_name.clone(),
            LazyView { planned, dtype, load, mapped: OnceLock::new(), written: &written, failure: &failure, progress },
        ))
    });
    let views = views.collect::<Result<Vec<_>>>()?;
    let out = AtomicFile::create(path)?;
    // The crate writes a private (0600) temporary file of its own and renames it over ours; the
    // output keeps the permissions of the file created here, which follow the umask.
    let permissions = out.file_metadata()?.permissions();
    let serialized = safetensors::tensor::serialize_to_file(views, Some(metadata.clone()), out.temp_path())
        .map_err(|e| Error::InvalidArgument(format!("cannot write {}: {e}", path.display())));
    release_written(&written);
    serialized?;
    if let Some(error) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(error);
    }
    std::fs::set_permissions(out.temp_path(), permissions).map_err(|e| Error::io(path, e))?;
    out.commit(false)
}

pub fn unsupported(source: &Path, planned: &Planned) -> Error {
    Error::Unsupported(format!(
        "{}: tensor '{}' is {}, which safetensors cannot hold (skip such tensors with skip_unsupported)",
        source.display(),
        planned.out_name,
        planned.dtype.python_name()
    ))
}

/// Writes `tensors` as one file (`dst` ending in `.safetensors`) or, into the folder `dst`, as
/// `model.safetensors` or shards of at most `max_shard_size` bytes plus their index. Returns the
/// files written.
pub fn write(
    dst: &Path,
    folder: bool,
    tensors: &[Planned],
    metadata: &HashMap<String, String>,
    max_shard_size: Option<u64>,
    load: &(dyn Fn(&Planned) -> Result<Tensor> + Sync),
    progress: Progress<'_>,
) -> Result<Vec<PathBuf>> {
    if !folder {
        if let Some(dir) = dst.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        write_file(dst, &tensors.iter().collect::<Vec<_>>(), metadata, load, progress)?;
        return Ok(vec![dst.to_path_buf()]);
    }
    std::fs::create_dir_all(dst).map_err(|e| Error::io(dst, e))?;
    let shards = plan_shards(tensors, max_shard_size.unwrap_or(u64::MAX));
    if shards.len() <= 1 {
        let path = dst.join(SINGLE_FILE);
        write_file(&path, &tensors.iter().collect::<Vec<_>>(), metadata, load, progress)?;
        return Ok(vec![path]);
    }
    let count = shards.len();
    let mut written = Vec::with_capacity(count + 1);
    let mut weight_map = serde_json::Map::new();
    for (i, shard) in shards.iter().enumerate() {
        let name = format!("model-{:05}-of-{count:05}.safetensors", i + 1);
        let path = dst.join(&name);
        write_file(&path, shard, metadata, load, progress)?;
        for planned in shard {
            weight_map.insert(planned.out_name.clone(), serde_json::Value::String(name.clone()));
        }
        written.push(path);
    }
    let total_size: u64 = tensors.iter().map(|t| t.byte_len as u64).sum();
    let index = serde_json::json!({ "metadata": { "total_size": total_size }, "weight_map": weight_map });
    let index_path = dst.join(INDEX_FILE);
    let text = serde_json::to_string_pretty(&index).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    let mut out = AtomicFile::create(&index_path)?;
    out.file().write_all((text + "\n").as_bytes()).map_err(|e| Error::io(&index_path, e))?;
    out.commit(false)?;
    written.push(index_path);
    Ok(written)
}
