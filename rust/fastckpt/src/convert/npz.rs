//! npz files: numpy's `np.savez` format, a zip archive of stored (uncompressed) `NAME.npy`
//! members (see [`super::zip`] and [`super::npy`]).
//!
//! Reading maps the archive and hands out each array's bytes as a range of the mapping; members
//! compressed by `np.savez_compressed` are refused. Writing streams member by member: the CRC-32
//! of a member is computed over its bytes, then header and bytes are written, so one tensor at
//! most is in memory.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::source::{Entry, TensorSource};
use super::zip::{self, ZipWriter};
use super::{npy, Planned, Progress};
use crate::atomic_file::AtomicFile;
use crate::bundle::reader::DataFile;
use crate::bundle::TensorData;
use crate::dtype::DataType;
use crate::error::{Error, Result};
use crate::Tensor;

const MEMBER_SUFFIX: &str = ".npy";
const WRITE_BUFFER: usize = 1 << 20;

#[derive(Debug)]
struct Located {
    dtype: DataType,
    shape: Vec<usize>,
    start: usize,
    len: usize,
}

/// An npz file, mapped.
#[derive(Debug)]
pub struct NpzSource {
    file: Arc<DataFile>,
    arrays: BTreeMap<String, Located>,
}

impl NpzSource {
    pub fn open(path: &Path) -> Result<Self> {
        let file = Arc::new(DataFile::open(path.to_path_buf())?);
        let bytes = file.bytes();
        let corrupt = |detail: String| Error::corrupt(path, detail);
        let mut arrays = BTreeMap::new();
        for member in zip::members(bytes).map_err(corrupt)? {
            let name = member.name.strip_suffix(MEMBER_SUFFIX).unwrap_or(&member.name).to_owned();
            if member.compressed {
                return Err(Error::Unsupported(format!(
                    "{}: array '{name}' is compressed (np.savez_compressed); only np.savez files can be read",
                    path.display()
                )));
            }
            let content = &bytes[member.data_start..member.data_start + member.size];
            let header = npy::parse(content).map_err(|e| corrupt(format!("array '{name}': {e}")))?;
            let element = header.dtype.element_size().unwrap_or(1);
            let len = header.shape.iter().try_fold(element, |n, &d| n.checked_mul(d));
            if len.is_none_or(|len| header.data_offset + len > content.len()) {
                return Err(corrupt(format!("array '{name}': the data is shorter than its shape says")));
            }
            let located = Located {
                dtype: header.dtype,
                shape: header.shape,
                start: member.data_start + header.data_offset,
                len: len.unwrap_or(0),
            };
            if arrays.insert(name.clone(), located).is_some() {
                return Err(corrupt(format!("array '{name}' is stored twice")));
            }
        }
        Ok(NpzSource { file, arrays })
    }
}

impl TensorSource for NpzSource {
    fn path(&self) -> &Path {
        self.file.path()
    }

    fn entries(&self) -> Result<Vec<Entry>> {
        Ok(self
            .arrays
            .iter()
            .map(|(name, a)| Entry { name: name.as_bytes().to_vec(), dtype: a.dtype, shape: a.shape.clone() })
            .collect())
    }

    fn tensor(&self, name: &[u8]) -> Result<Tensor> {
        let array = std::str::from_utf8(name).ok().and_then(|n| self.arrays.get(n)).ok_or_else(|| {
            Error::KeyNotFound { path: self.file.path().to_path_buf(), key: String::from_utf8_lossy(name).into_owned() }
        })?;
        Ok(Tensor {
            dtype: array.dtype,
            shape: array.shape.clone(),
            data: TensorData::Mapped { file: self.file.clone(), offset: array.start, len: array.len },
        })
    }

    fn contains(&self, name: &[u8]) -> bool {
        std::str::from_utf8(name).is_ok_and(|n| self.arrays.contains_key(n))
    }
}

pub fn unsupported(source: &Path, planned: &Planned) -> Error {
    Error::Unsupported(format!(
        "{}: tensor '{}' is {}, which an npz file cannot hold as a numpy array (skip such tensors with \
         skip_unsupported)",
        source.display(),
        planned.out_name,
        planned.dtype.python_name()
    ))
}

/// Writes `tensors` as the npz file `dst` (under a temporary name, renamed when complete).
pub fn write(
    dst: &Path,
    tensors: &[Planned],
    load: &(dyn Fn(&Planned) -> Result<Tensor> + Sync),
    progress: Progress<'_>,
) -> Result<Vec<PathBuf>> {
    for planned in tensors {
        if npy::descr(planned.dtype).is_none() {
            return Err(unsupported(dst, planned));
        }
    }
    if let Some(dir) = dst.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut out = AtomicFile::create(dst)?;
    write_members(dst, out.file(), tensors, load, progress)?;
    out.commit(false)?;
    Ok(vec![dst.to_path_buf()])
}

fn write_members(
    path: &Path,
    file: &mut File,
    tensors: &[Planned],
    load: &(dyn Fn(&Planned) -> Result<Tensor> + Sync),
    progress: Progress<'_>,
) -> Result<()> {
    let io = |e| Error::io(path, e);
    let mut zip = ZipWriter::new(BufWriter::with_capacity(WRITE_BUFFER, file));
    for planned in tensors {
        let tensor = load(planned)?;
        let bytes = tensor.data.bytes().unwrap_or_default();
        let header = npy::header(npy::descr(planned.dtype).unwrap_or_default(), &planned.shape);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&header);
        crc.update(bytes);
        zip.add(&format!("{}{MEMBER_SUFFIX}", planned.out_name), crc.finalize(), &[&header, bytes]).map_err(io)?;
        super::release(&tensor);
        if let Some(progress) = progress {
            progress(&planned.out_name, bytes.len() as u64);
        }
    }
    let out = zip.finish().map_err(io)?;
    out.into_inner().map_err(|e| io(e.into_error()))?;
    Ok(())
}
