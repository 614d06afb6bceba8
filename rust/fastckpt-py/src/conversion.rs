//! `_fastckpt.convert` and `_fastckpt.Source`: conversions between TF checkpoints, safetensors and
//! npz, run by the engine with the GIL released (taken back only to report progress), and any of
//! these formats opened for reading.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

use fastckpt::bundle::TensorData;
use fastckpt::convert::{self as engine, Format, Options, Pattern, RenameRule, TensorSource};
use fastckpt::{DataType, Tensor};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays;
use crate::errors::IntoPy;
use crate::reader::{self, tensor_key, to_array};

fn dtype_named(py: Python<'_>, name: &str) -> PyResult<DataType> {
    DataType::ALL
        .iter()
        .copied()
        .find(|t| t.python_name() == name)
        .ok_or_else(|| PyValueError::new_err(format!("unknown dtype '{name}'")))
        .and_then(|t| engine::cast::check_target(t).map(|()| t).py_err(py))
}

/// Converts `src` into `dst`; returns the files written and the source names of tensors skipped.
/// `names` maps source names to chosen output names (`None` drops the tensor); `progress` is
/// called with `(name, bytes)` after each tensor.
#[pyfunction]
#[pyo3(signature = (
    src, dst, *, to=None, include=Vec::new(), exclude=Vec::new(), friendly_names=false,
    rename=Vec::new(), names=None, cast=None, max_shard_size=None, alignment=64,
    skip_unsupported=false, progress=None
))]
#[allow(clippy::too_many_arguments)]
pub fn convert(
    py: Python<'_>,
    src: PathBuf,
    dst: PathBuf,
    to: Option<&str>,
    include: Vec<String>,
    exclude: Vec<String>,
    friendly_names: bool,
    rename: Vec<(String, String)>,
    names: Option<HashMap<Vec<u8>, Option<String>>>,
    cast: Option<&str>,
    max_shard_size: Option<u64>,
    alignment: usize,
    skip_unsupported: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<(Vec<OsString>, Vec<String>)> {
    let patterns = |list: &[String]| list.iter().map(|p| Pattern::parse(p)).collect::<fastckpt::Result<Vec<_>>>();
    let options = Options {
        to: to.map(Format::parse).transpose().py_err(py)?,
        include: patterns(&include).py_err(py)?,
        exclude: patterns(&exclude).py_err(py)?,
        friendly_names,
        rename: rename.iter().map(|(p, r)| RenameRule::parse(p, r)).collect::<fastckpt::Result<_>>().py_err(py)?,
        names,
        cast: cast.map(|c| dtype_named(py, c)).transpose()?,
        max_shard_size,
        alignment,
        skip_unsupported,
    };
    let report_progress = |name: &str, bytes: u64| {
        if let Some(callback) = &progress {
            Python::attach(|py| {
                if let Err(error) = callback.call1(py, (name, bytes)) {
                    error.write_unraisable(py, None);
                }
            });
        }
    };
    let progress_fn: &(dyn Fn(&str, u64) + Sync) = &report_progress;
    let report = py.detach(|| engine::convert(&src, &dst, &options, Some(progress_fn))).py_err(py)?;
    // As `str` (a `pathlib.Path` would fold the `//` of an object-store URL).
    Ok((report.files.into_iter().map(PathBuf::into_os_string).collect(), report.skipped))
}

/// A checkpoint in any supported format, read through the engine's conversion sources. The
/// methods are those of `_fastckpt.Reader`.
#[pyclass(frozen, module = "fastckpt._fastckpt")]
#[derive(Debug)]
pub struct Source {
    path: PathBuf,
    format: Format,
    inner: Box<dyn TensorSource>,
}

#[pymethods]
impl Source {
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let (format, _) = engine::detect(&path).py_err(py)?;
        let inner = py.detach(|| engine::open(&path)).py_err(py)?;
        Ok(Source { path, format, inner })
    }

    #[getter]
    fn prefix(&self) -> PathBuf {
        self.path.clone()
    }

    /// `"tf"`, `"safetensors"` or `"npz"`.
    #[getter]
    fn format(&self) -> &'static str {
        self.format.name()
    }

    /// `{name: (dtype enum, shape tuple)}` of every tensor ([`reader::listing`]).
    fn listing<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let entries = self.inner.entries().py_err(py)?;
        reader::listing(py, entries.iter().map(|e| (e.name.as_slice(), e.dtype, e.shape.as_slice())))
    }

    fn has(&self, name: &[u8]) -> bool {
        self.inner.contains(name)
    }

    /// One tensor (`get_tensor`); a scalar as TensorFlow's reader gives it ([`arrays::tf_value`]).
    fn get<'py>(&self, py: Python<'py>, name: &Bound<'py, PyAny>, copy: bool) -> PyResult<Bound<'py, PyAny>> {
        arrays::tf_value(self.read(py, &tensor_key(name)?, copy)?)
    }

    fn get_many<'py>(&self, py: Python<'py>, names: Vec<Vec<u8>>, copy: bool) -> PyResult<Vec<Bound<'py, PyAny>>> {
        names.iter().map(|name| self.read(py, name, copy)).collect()
    }
}

impl Source {
    /// One tensor ([`Source::get`]): a view, or with `copy` an array of its own.
    fn read<'py>(&self, py: Python<'py>, name: &[u8], copy: bool) -> PyResult<Bound<'py, PyAny>> {
        let tensor = py.detach(|| self.inner.tensor(name)).py_err(py)?;
        let tensor = match tensor.data {
            TensorData::Mapped { .. } if copy => {
                let bytes = tensor.data.bytes().unwrap_or_default().to_vec();
                Tensor { data: TensorData::Owned(bytes), ..tensor }
            }
            _ => tensor,
        };
        to_array(py, tensor, None).map_err(|e| reader::unrepresentable(py, &self.path, name, e))
    }
}
