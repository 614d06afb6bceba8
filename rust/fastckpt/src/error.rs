//! The one error type of the engine. Every message names the file and, where there is one, the
//! tensor, so that a user facing a broken checkpoint knows where to look.

use std::path::{Path, PathBuf};

/// Everything that can go wrong while reading or writing checkpoint files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system refused an operation on `path` (missing file, permissions, disk full).
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The bytes of `path` do not follow the format.
    #[error("corrupt checkpoint file {path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    /// A tensor's stored crc32c does not match its bytes.
    #[error(
        "checksum mismatch in {path} for tensor '{key}': stored crc32c {stored:#010x}, \
         computed {computed:#010x} over {size} bytes at offset {offset}"
    )]
    Checksum { path: PathBuf, key: String, stored: u32, computed: u32, offset: u64, size: u64 },
    /// A well-formed checkpoint that cannot give what was asked, where TensorFlow answers
    /// InvalidArgument: it was written for a newer reader (its version), or the stored slices of
    /// a partitioned tensor do not cover the part asked for (one shard of a sharded save).
    #[error("{path}: {detail}")]
    Refused { path: PathBuf, detail: String },
    /// The checkpoint has no tensor under this name (TensorFlow's words, and the file).
    #[error("Key {key} not found in checkpoint {path}")]
    KeyNotFound { path: PathBuf, key: String },
    /// Bytes or text that are not a valid protobuf message of the expected type (a graph,
    /// meta graph or SavedModel file, or bytes handed to a parser).
    #[error("{0}")]
    Decode(String),
    /// The caller asked for something the format or the arguments do not allow.
    #[error("{0}")]
    InvalidArgument(String),
    /// Valid data that this library cannot handle (yet).
    #[error("{0}")]
    Unsupported(String),
    /// `import_graph_def` refused a graph. The message is TensorFlow's own text; `kind` says which
    /// Python exception TensorFlow raises with it.
    #[error("{message}")]
    Import { kind: ImportErrorKind, message: String },
}

/// The exception TensorFlow raises for an import error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportErrorKind {
    /// `ValueError`: the graph, an argument or a name is invalid (TensorFlow's InvalidArgument).
    ValueError,
    /// `tf.errors.NotFoundError`: an op type is not registered.
    NotFoundError,
    /// `tf.errors.UnimplementedError`: an op was removed before the graph's producer version.
    UnimplementedError,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    pub fn import_value(message: impl Into<String>) -> Self {
        Error::Import { kind: ImportErrorKind::ValueError, message: message.into() }
    }

    pub fn corrupt(path: &Path, detail: impl Into<String>) -> Self {
        Error::Corrupt { path: path.to_path_buf(), detail: detail.into() }
    }
}

/// Shows a tensor name (arbitrary bytes) readably: UTF-8 as is, other bytes escaped, the key of
/// one slice of a partitioned tensor as its name and slice spec.
pub fn display_key(key: &[u8]) -> String {
    if key.first() == Some(&0) {
        if let Some(slice) = crate::bundle::slices::describe_slice_key(key) {
            return slice;
        }
    }
    match std::str::from_utf8(key) {
        Ok(s) => s.to_owned(),
        Err(_) => key.escape_ascii().to_string(),
    }
}
