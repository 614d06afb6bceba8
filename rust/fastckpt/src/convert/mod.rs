//! Conversion between checkpoint formats: TF V2 bundles, safetensors and npz, in any direction,
//! TF → TF included (re-aligned, renamed, cast, filtered).
//!
//! Every input is opened as a [`TensorSource`] (names, dtypes, shapes; per name the bytes, mapped
//! where the format stores them as they are). A conversion first makes a plan — which tensors,
//! under which names, in which dtype — then streams the tensors one by one into the output
//! format's writer. Memory: the largest tensor that has to be materialised (cast, assembled from
//! partitions, byte-swapped) plus fixed buffers; mapped tensors go from the page cache to the
//! output. Outputs are written under temporary names and renamed when complete (for the folder
//! layouts: every shard, then the index), so an interrupted conversion leaves no half file.
//!
//! Tensors a format cannot hold (strings, variants, quantized and complex types in safetensors;
//! those and bfloat16/float8/int4 in npz) are an error naming the tensor, unless
//! `skip_unsupported` is set: then they are left out and listed in the [`Report`]. The object
//! graph of a TF2 checkpoint is TensorFlow's own and is left out of safetensors and npz outputs;
//! its checkpoint keys are recorded in the safetensors metadata instead. A TF output gets the
//! graph with its keys renamed and those left out dropped, so that TensorFlow restores it.

pub mod cast;
pub mod names;
pub mod npy;
pub mod npz;
pub mod safetensors;
pub mod source;
pub mod zip;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::bundle::writer::Payload;
use crate::bundle::{naming, BundleReader, BundleWriter, TensorData};
use crate::dtype::DataType;
use crate::error::{Error, Result};
use crate::state::CheckpointState;
use crate::storage::{Location, Remote};
use crate::Tensor;
pub use names::{Pattern, RenameRule};
pub use source::{Entry, TensorSource};

/// Called after each tensor is written, with its output name and byte size.
pub type Progress<'a> = Option<&'a (dyn Fn(&str, u64) + Sync)>;

/// The formats a conversion reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A TF V2 checkpoint: `P.index` + `P.data-…`, named by its prefix `P`.
    Tf,
    /// A `.safetensors` file, or a folder holding `model.safetensors` or shards and their index.
    Safetensors,
    /// An `np.savez` file.
    Npz,
}

impl Format {
    pub fn parse(name: &str) -> Result<Format> {
        match name {
            "tf" | "tensorflow" => Ok(Format::Tf),
            "safetensors" => Ok(Format::Safetensors),
            "npz" => Ok(Format::Npz),
            other => Err(Error::InvalidArgument(format!(
                "unknown checkpoint format '{other}': the formats are 'tf', 'safetensors' and 'npz'"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Tf => "tf",
            Format::Safetensors => "safetensors",
            Format::Npz => "npz",
        }
    }
}

fn has_extension(path: &Path, extension: &str) -> bool {
    path.extension().is_some_and(|e| e == extension)
}

/// The format of an existing checkpoint at `path`, and the path to open: a folder holding
/// safetensors files is read as such, a folder holding a `checkpoint` state file as its latest
/// TF checkpoint; files by their suffix; anything else is a TF prefix (`P.index` also accepted).
pub fn detect(path: &Path) -> Result<(Format, PathBuf)> {
    if let Location::Remote(remote) = Location::of(path)? {
        return detect_remote(path, &remote);
    }
    if path.is_dir() {
        if path.join(safetensors::INDEX_FILE).is_file() || path.join(safetensors::SINGLE_FILE).is_file() {
            return Ok((Format::Safetensors, path.to_path_buf()));
        }
        let state = CheckpointState::read(path)?;
        return match state.and_then(|s| s.latest(path)) {
            Some(prefix) => Ok((Format::Tf, prefix)),
            None => Err(Error::io(
                path,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the folder holds no model.safetensors, safetensors index or 'checkpoint' state file",
                ),
            )),
        };
    }
    if has_extension(path, "safetensors") {
        return Ok((Format::Safetensors, path.to_path_buf()));
    }
    if has_extension(path, "npz") {
        return Ok((Format::Npz, path.to_path_buf()));
    }
    if has_extension(path, "index") && path.is_file() {
        let prefix = path.with_extension("");
        if !naming::index_path(path).exists() {
            return Ok((Format::Tf, prefix));
        }
    }
    Ok((Format::Tf, path.to_path_buf()))
}

/// [`detect`] for a URL: a TF checkpoint by its prefix (or `P.index`), or the latest one of a
/// "folder" holding a state file. Other formats are read from local files only.
fn detect_remote(path: &Path, remote: &Remote) -> Result<(Format, PathBuf)> {
    if has_extension(path, "safetensors") || has_extension(path, "npz") {
        return Err(Error::Unsupported(format!(
            "{}: safetensors and npz files are read from local paths only; object storage holds TF checkpoints",
            remote.url()
        )));
    }
    if Location::Remote(remote.with_suffix(naming::INDEX_SUFFIX)).exists()? {
        return Ok((Format::Tf, path.to_path_buf()));
    }
    if has_extension(path, "index") {
        return Ok((Format::Tf, path.with_extension("")));
    }
    match CheckpointState::read(path)?.and_then(|s| s.latest(path)) {
        Some(prefix) => Ok((Format::Tf, prefix)),
        None => Ok((Format::Tf, path.to_path_buf())),
    }
}

/// Opens the checkpoint at `path` in whatever format it is (see [`detect`]). TF checkpoints are
/// verified against their checksums as tensors are read.
pub fn open(path: &Path) -> Result<Box<dyn TensorSource>> {
    let (format, path) = detect(path)?;
    Ok(match format {
        Format::Tf => Box::new(BundleReader::open(&path, true)?),
        Format::Safetensors => Box::new(safetensors::SafetensorsSource::open(&path)?),
        Format::Npz => Box::new(npz::NpzSource::open(&path)?),
    })
}

/// How to convert.
#[derive(Debug, Clone)]
pub struct Options {
    /// Output format; `None`: from the destination's suffix (`.safetensors`, `.npz`), else TF.
    pub to: Option<Format>,
    /// Keep only tensors whose source name matches one of these (all when empty).
    pub include: Vec<Pattern>,
    /// Then drop tensors whose source name matches one of these.
    pub exclude: Vec<Pattern>,
    /// Name TF2 tensors by their path through the model (see [`names::FriendlyNames`]), before
    /// the rename rules.
    pub friendly_names: bool,
    /// Applied in order to each name.
    pub rename: Vec<RenameRule>,
    /// Final names chosen by the caller, by source name (`None`: drop the tensor); names not in the
    /// map keep what the rules made of them.
    pub names: Option<HashMap<Vec<u8>, Option<String>>>,
    /// Cast float32/float64 tensors to this float type.
    pub cast: Option<DataType>,
    /// Safetensors folder output: largest shard in bytes.
    pub max_shard_size: Option<u64>,
    /// TF output: every tensor's offset a multiple of this.
    pub alignment: usize,
    /// Leave out tensors the output format cannot hold instead of failing.
    pub skip_unsupported: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            to: None,
            include: Vec::new(),
            exclude: Vec::new(),
            friendly_names: false,
            rename: Vec::new(),
            names: None,
            cast: None,
            max_shard_size: None,
            alignment: 64,
            skip_unsupported: false,
        }
    }
}

/// One tensor of the plan.
#[derive(Debug, Clone)]
pub struct Planned {
    pub source_name: Vec<u8>,
    pub out_name: String,
    pub source_dtype: DataType,
    /// After the cast.
    pub dtype: DataType,
    pub shape: Vec<usize>,
    /// Bytes of a fixed-size tensor after the cast (0 for strings and variants).
    pub byte_len: usize,
}

/// What a conversion did.
#[derive(Debug, Default)]
pub struct Report {
    /// Every file written, in order.
    pub files: Vec<PathBuf>,
    /// Output names of the tensors written.
    pub tensors: Vec<String>,
    /// Source names of tensors left out because the output format cannot hold them.
    pub skipped: Vec<String>,
    /// Bytes of tensor data written.
    pub bytes: u64,
}

/// The output format and whether `dst` is a folder (safetensors' folder layout).
fn output_format(dst: &Path, options: &Options) -> Result<(Format, bool)> {
    let by_suffix = if has_extension(dst, "safetensors") {
        Some(Format::Safetensors)
    } else if has_extension(dst, "npz") {
        Some(Format::Npz)
    } else {
        None
    };
    let format = options.to.or(by_suffix).unwrap_or(Format::Tf);
    let folder = format == Format::Safetensors && by_suffix != Some(Format::Safetensors);
    if options.max_shard_size.is_some() && !folder && format != Format::Tf {
        return Err(Error::InvalidArgument(format!(
            "max_shard_size applies to safetensors written into a folder or to a TF checkpoint; {} is a single {} file",
            dst.display(),
            format.name()
        )));
    }
    if options.alignment == 0 {
        return Err(Error::InvalidArgument("alignment must be at least 1".into()));
    }
    Ok((format, folder))
}

fn supports(format: Format, dtype: DataType) -> bool {
    match format {
        Format::Tf => dtype.layout().is_some(),
        Format::Safetensors => safetensors::to_safetensors(dtype).is_some(),
        Format::Npz => npy::descr(dtype).is_some(),
    }
}

/// Which tensors to write, under which names and dtypes; the names of those skipped.
pub fn plan(source: &dyn TensorSource, format: Format, options: &Options) -> Result<(Vec<Planned>, Vec<String>)> {
    if let Some(target) = options.cast {
        cast::check_target(target)?;
    }
    let mut planned = Vec::new();
    let mut skipped = Vec::new();
    let mut taken: HashMap<String, String> = HashMap::new();
    let friendly = if options.friendly_names { Some(names::FriendlyNames::of(source)?) } else { None };
    for entry in source.entries()? {
        if entry.name == names::OBJECT_GRAPH_KEY && format != Format::Tf {
            continue;
        }
        let name = std::str::from_utf8(&entry.name).map_err(|_| {
            Error::Unsupported(format!(
                "{}: tensor '{}' has a name that is not UTF-8",
                source.path().display(),
                String::from_utf8_lossy(&entry.name)
            ))
        })?;
        if !options.include.is_empty() && !options.include.iter().any(|p| p.matches(name)) {
            continue;
        }
        if options.exclude.iter().any(|p| p.matches(name)) {
            continue;
        }
        let chosen = options.names.as_ref().and_then(|m| m.get(&entry.name));
        if matches!(chosen, Some(None)) {
            continue;
        }
        // TensorFlow finds the object graph by its reserved name: renaming it would turn the
        // output into a name-based checkpoint, so it keeps that name (its keys follow the rules).
        let out = if entry.name == names::OBJECT_GRAPH_KEY {
            name.to_owned()
        } else if let Some(Some(chosen)) = chosen {
            chosen.clone()
        } else {
            let friendly_name = friendly.as_ref().map_or(name, |f| f.get(name));
            options.rename.iter().fold(friendly_name.to_owned(), |out, rule| rule.apply(&out))
        };
        // Both are about the source's names (an npz member or safetensors key may be empty or
        // collide once its '|' becomes '/'), so the error names the source file.
        let refused = |detail: String| Error::Refused { path: source.path().to_path_buf(), detail };
        if out.is_empty() {
            return Err(refused(format!("tensor '{name}' would be renamed to the empty name")));
        }
        let dtype = match options.cast {
            Some(target) if cast::applies(entry.dtype, target) => target,
            _ => entry.dtype,
        };
        if !supports(format, dtype) {
            if options.skip_unsupported {
                skipped.push(name.to_owned());
                continue;
            }
            let dropped = Planned {
                source_name: entry.name.clone(),
                out_name: name.to_owned(),
                source_dtype: entry.dtype,
                dtype,
                shape: entry.shape.clone(),
                byte_len: 0,
            };
            return Err(match format {
                Format::Npz => npz::unsupported(source.path(), &dropped),
                _ => safetensors::unsupported(source.path(), &dropped),
            });
        }
        if let Some(first) = taken.insert(out.clone(), name.to_owned()) {
            return Err(refused(format!("tensors '{first}' and '{name}' would both be named '{out}' in the output")));
        }
        let count = entry.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        let byte_len = dtype.element_size().map_or(Some(0), |size| count.and_then(|c| c.checked_mul(size)));
        let byte_len = byte_len.ok_or_else(|| {
            Error::corrupt(source.path(), format!("tensor '{name}': shape {:?} overflows", entry.shape))
        })?;
        planned.push(Planned {
            source_name: entry.name,
            out_name: out,
            source_dtype: entry.dtype,
            dtype,
            shape: entry.shape,
            byte_len,
        });
    }
    Ok((planned, skipped))
}

/// A planned tensor's bytes, cast if the plan says so.
fn load(source: &dyn TensorSource, planned: &Planned) -> Result<Tensor> {
    let tensor = source.tensor(&planned.source_name)?;
    if planned.dtype == tensor.dtype {
        return Ok(tensor);
    }
    let bytes = tensor.data.bytes().unwrap_or_default();
    let cast = cast::cast(bytes, tensor.dtype, planned.dtype);
    Ok(Tensor { dtype: planned.dtype, shape: tensor.shape, data: TensorData::Owned(cast) })
}

/// Once a mapped tensor is written, its pages leave the resident set (see [`DataFile::release`]):
/// a conversion's RSS stays at about one tensor, not the size of the file read.
///
/// [`DataFile::release`]: crate::bundle::DataFile::release
fn release(tensor: &Tensor) {
    if let TensorData::Mapped { file, offset, len } = &tensor.data {
        file.release(*offset, *len);
    }
}

/// Converts the checkpoint at `src` (any format, see [`detect`]) into `dst`.
pub fn convert(src: &Path, dst: &Path, options: &Options, progress: Progress<'_>) -> Result<Report> {
    let (format, folder) = output_format(dst, options)?;
    if format != Format::Tf && matches!(Location::of(dst)?, Location::Remote(_)) {
        return Err(Error::Unsupported(format!(
            "{}: conversions to object storage write TF checkpoints only (to='tf')",
            dst.display()
        )));
    }
    let (source_format, _) = detect(src)?;
    let source = open(src)?;
    let (planned, skipped) = plan(&*source, format, options)?;
    let graph = if planned.iter().any(|p| p.source_name == names::OBJECT_GRAPH_KEY) {
        let out_names: HashMap<&[u8], &str> =
            planned.iter().map(|p| (p.source_name.as_slice(), p.out_name.as_str())).collect();
        names::rekeyed_object_graph(&*source, |key| out_names.get(key.as_bytes()).map(|&n| n.to_owned()))?
    } else {
        None
    };
    let loader = |p: &Planned| match &graph {
        Some(graph) if p.source_name == names::OBJECT_GRAPH_KEY => {
            Ok(Tensor { dtype: DataType::STRING, shape: Vec::new(), data: TensorData::Elements(vec![graph.clone()]) })
        }
        _ => load(&*source, p),
    };
    let files = match format {
        Format::Tf => write_tf(dst, &planned, options.alignment, options.max_shard_size, &loader, progress)?,
        Format::Npz => npz::write(dst, &planned, &loader, progress)?,
        Format::Safetensors => {
            let metadata = safetensors_metadata(&*source, source_format, &planned);
            safetensors::write(dst, folder, &planned, &metadata, options.max_shard_size, &loader, progress)?
        }
    };
    Ok(Report {
        files,
        bytes: planned.iter().map(|p| p.byte_len as u64).sum(),
        tensors: planned.into_iter().map(|p| p.out_name).collect(),
        skipped,
    })
}

/// `__metadata__` of safetensors outputs: `format` (the framework convention Hugging Face's
/// loaders read: `tf` for TensorFlow sources), `fastckpt.source_format`, and for TF2 sources
/// `fastckpt.checkpoint_keys`, a JSON object from each output name to its object-graph key.
fn safetensors_metadata(
    source: &dyn TensorSource,
    source_format: Format,
    planned: &[Planned],
) -> HashMap<String, String> {
    let mut metadata = HashMap::new();
    let framework = if source_format == Format::Tf { "tf" } else { "np" };
    metadata.insert("format".to_owned(), framework.to_owned());
    metadata.insert("fastckpt.source_format".to_owned(), source_format.name().to_owned());
    if source_format == Format::Tf && source.contains(names::OBJECT_GRAPH_KEY) {
        let keys: BTreeMap<&str, String> = planned
            .iter()
            .map(|p| (p.out_name.as_str(), String::from_utf8_lossy(&p.source_name).into_owned()))
            .collect();
        metadata.insert("fastckpt.checkpoint_keys".to_owned(), serde_json::to_string(&keys).unwrap_or_default());
    }
    metadata
}

/// A TF checkpoint at `dst`: one data file, or with `max_shard_size` as many as the tensors need
/// at that size each (consecutive tensors, a larger tensor alone), written as parts in a
/// temporary folder beside `dst` and merged into one bundle, as TensorFlow's sharded Saver does
/// (on object storage each part uploads its data under its final name; the merge PUTs the index).
fn write_tf(
    dst: &Path,
    tensors: &[Planned],
    alignment: usize,
    max_shard_size: Option<u64>,
    load: &(dyn Fn(&Planned) -> Result<Tensor> + Sync),
    progress: Progress<'_>,
) -> Result<Vec<PathBuf>> {
    let shards = match max_shard_size {
        Some(max) => plan_shards(tensors, max),
        None => vec![tensors.iter().collect()],
    };
    if shards.len() <= 1 {
        write_bundle(BundleWriter::create(dst, alignment)?, tensors.iter(), load, progress)?;
        return Ok(vec![naming::index_path(dst), naming::data_path(dst, 0, 1)]);
    }
    let count = i32::try_from(shards.len())
        .map_err(|_| Error::InvalidArgument(format!("{}: too many data files ({})", dst.display(), shards.len())))?;
    let remote = matches!(Location::of(dst)?, Location::Remote(_));
    let parent = dst.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !remote {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let mut temp_name = dst.file_name().unwrap_or_default().to_os_string();
    temp_name.push(format!("_temp_{}_{}", std::process::id(), unique_suffix()));
    let temp = parent.join(temp_name);
    let parts: Vec<PathBuf> =
        (0..shards.len()).map(|i| temp.join(format!("part-{i:05}-of-{:05}", shards.len()))).collect();
    let mut shard_id = 0;
    let written = shards
        .iter()
        .zip(&parts)
        .try_for_each(|(shard, part)| {
            let writer = if remote {
                BundleWriter::create_part(part, alignment, dst, shard_id, count)?
            } else {
                BundleWriter::create(part, alignment)?
            };
            shard_id += 1;
            write_bundle(writer, shard.iter().copied(), load, progress)
        })
        .and_then(|()| crate::bundle::merge_bundles(&parts, dst, true, false));
    let mut files = vec![naming::index_path(dst)];
    files.extend((0..count).map(|i| naming::data_path(dst, i, count)));
    if remote {
        if written.is_err() {
            // Nothing refers to the data objects already uploaded: no index was PUT.
            let part_indexes = parts.iter().map(|part| naming::index_path(part));
            for object in part_indexes.chain(files[1..].iter().cloned()) {
                let _ = Location::of(&object).and_then(|object| object.delete());
            }
        }
    } else {
        let _ = std::fs::remove_dir_all(&temp);
    }
    written?;
    Ok(files)
}

/// A number for temporary names that another conversion at the same moment will not pick.
fn unique_suffix() -> u64 {
    let mut random = [0u8; 8];
    match getrandom::fill(&mut random) {
        Ok(()) => u64::from_le_bytes(random),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::from(d.subsec_nanos()) ^ d.as_secs()),
    }
}

/// Consecutive tensors (in output order) grouped into shards of at most `max` bytes, as
/// Hugging Face's `split_torch_state_dict_into_shards` does: a tensor larger than `max` gets a
/// shard of its own.
pub(crate) fn plan_shards(tensors: &[Planned], max: u64) -> Vec<Vec<&Planned>> {
    let sizes = tensors.iter().map(|planned| planned.byte_len as u64);
    consecutive_shards(sizes, max).into_iter().map(|shard| shard.into_iter().map(|i| &tensors[i]).collect()).collect()
}

/// The rule of [`plan_shards`] on byte sizes alone: the indices of each shard, in order (also what
/// `fastckpt.save(..., max_shard_size=…)` spreads its data files by).
pub fn consecutive_shards(sizes: impl IntoIterator<Item = u64>, max: u64) -> Vec<Vec<usize>> {
    let mut shards: Vec<Vec<usize>> = Vec::new();
    let mut current = 0u64;
    for (i, size) in sizes.into_iter().enumerate() {
        match shards.last_mut() {
            Some(shard) if current + size <= max => {
                shard.push(i);
                current += size;
            }
            _ => {
                shards.push(vec![i]);
                current = size;
            }
        }
    }
    shards
}

/// `tensors`, read one at a time, into `writer`'s bundle.
fn write_bundle<'a>(
    mut writer: BundleWriter,
    tensors: impl Iterator<Item = &'a Planned>,
    load: &(dyn Fn(&Planned) -> Result<Tensor> + Sync),
    progress: Progress<'_>,
) -> Result<()> {
    for planned in tensors {
        let tensor = load(planned)?;
        let shape: Vec<i64> = tensor.shape.iter().map(|&d| d as i64).collect();
        let elements: Vec<&[u8]>;
        let payload = match &tensor.data {
            TensorData::Elements(values) => {
                elements = values.iter().map(Vec::as_slice).collect();
                if planned.dtype == DataType::VARIANT {
                    Payload::Variants(&elements)
                } else {
                    Payload::Strings(&elements)
                }
            }
            data => Payload::Fixed(data.bytes().unwrap_or_default()),
        };
        writer.add(planned.out_name.as_bytes(), planned.dtype, &shape, payload)?;
        release(&tensor);
        if let Some(progress) = progress {
            progress(&planned.out_name, planned.byte_len as u64);
        }
    }
    writer.finish()
}
