//! Where bytes live: a local path, or an object in a store named by URL (through the
//! `object_store` crate; credentials and endpoints from the environment variables its `from_env`
//! builders read: `AWS_*`, `GOOGLE_*`, `AZURE_*`).
//!
//! ```text
//! "/data/run/ckpt-10", "ckpt"          → Location::Local
//! "file:///data/run/ckpt-10"           → Location::Local("/data/run/ckpt-10")
//! "s3://bucket/run/ckpt-10"            → Location::Remote { store of s3://bucket, key "run/ckpt-10" }
//!  (also s3a://, gs://, az://, azure://, abfs://, abfss://, memory://)
//! "ftp://host/x"                       → error: unsupported URL scheme (never a local path)
//! ```
//! Object stores have no folders and no rename: a "folder" is a key prefix, and an object
//! appears whole when its PUT (or the completion of its multipart upload) succeeds. Writers use
//! that: the `.index` of a checkpoint is PUT after every data file completed.

mod runtime;
mod upload;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

pub use upload::Upload;

use crate::atomic_file::AtomicFile;
use crate::error::{Error, Result};

/// The URL schemes accepted wherever a path is.
pub const SCHEMES: &[&str] = &["s3", "s3a", "gs", "az", "azure", "abfs", "abfss", "memory"];

/// Ranged reads of more than this are split into requests of this size, sent concurrently.
const READ_CHUNK: usize = 8 << 20;
/// Requests of one ranged read in flight at once.
const READ_CONCURRENCY: usize = 8;

/// A local path or a remote object.
#[derive(Debug, Clone)]
pub enum Location {
    Local(PathBuf),
    Remote(Remote),
}

/// An object (or a key prefix) in a store: `root` is `scheme://bucket`, `key` the rest.
#[derive(Clone)]
pub struct Remote {
    store: Arc<dyn ObjectStore>,
    root: String,
    key: String,
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url())
    }
}

/// The scheme of `text` when it is written as a URL (`scheme://…`; one letter before the colon is
/// a Windows drive, not a scheme).
pub fn url_scheme(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once("://")?;
    let mut chars = scheme.chars();
    let valid = scheme.len() > 1
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

impl Location {
    /// Reads a path or a URL. A URL of an unsupported scheme is an error, never a local path.
    pub fn parse(text: &str) -> Result<Self> {
        let Some(scheme) = url_scheme(text) else { return Ok(Location::Local(PathBuf::from(text))) };
        let lower = scheme.to_ascii_lowercase();
        let rest = &text[scheme.len() + 3..];
        if lower == "file" {
            return Ok(Location::Local(PathBuf::from(rest)));
        }
        if !SCHEMES.contains(&lower.as_str()) {
            return Err(Error::InvalidArgument(format!(
                "unsupported URL scheme '{scheme}' in {text}: fastckpt reads and writes local paths, \
                 file://, {}",
                SCHEMES.iter().map(|s| format!("{s}://")).collect::<Vec<_>>().join(", ")
            )));
        }
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::InvalidArgument(format!("{text}: the URL names no bucket")));
        }
        let key = key.trim_matches('/');
        if key.split('/').any(|part| matches!(part, "." | "..")) || key.contains("//") {
            return Err(Error::InvalidArgument(format!(
                "{text}: '.', '..' and empty parts are not allowed in object keys"
            )));
        }
        let root = format!("{lower}://{bucket}");
        let store =
            runtime::store(&lower, bucket, env_prefix(&lower), |retry| -> object_store::Result<Arc<dyn ObjectStore>> {
                Ok(match lower.as_str() {
                    "s3" | "s3a" => Arc::new(AmazonS3Builder::from_env().with_url(&root).with_retry(retry).build()?),
                    "gs" => Arc::new(GoogleCloudStorageBuilder::from_env().with_url(&root).with_retry(retry).build()?),
                    _ => Arc::new(MicrosoftAzureBuilder::from_env().with_url(&root).with_retry(retry).build()?),
                })
            })
            .map_err(|e| Error::InvalidArgument(format!("{text}: cannot set up the object store: {e}")))?;
        Ok(Location::Remote(Remote { store, root, key: key.to_owned() }))
    }

    /// [`Location::parse`] of a path given as such (a path that is not UTF-8 is local).
    pub fn of(path: &Path) -> Result<Self> {
        match path.to_str() {
            Some(text) => Self::parse(text),
            None => Ok(Location::Local(path.to_path_buf())),
        }
    }

    /// The path or URL, for messages and for handing back to callers.
    pub fn display(&self) -> String {
        match self {
            Location::Local(path) => path.display().to_string(),
            Location::Remote(remote) => remote.url(),
        }
    }

    /// The location named by appending `suffix` to this one's name (`P` → `P.index`).
    pub fn with_suffix(&self, suffix: &str) -> Location {
        match self {
            Location::Local(path) => {
                let mut name = path.clone().into_os_string();
                name.push(suffix);
                Location::Local(name.into())
            }
            Location::Remote(remote) => Location::Remote(remote.with_suffix(suffix)),
        }
    }

    /// The whole content.
    pub fn read(&self) -> Result<Vec<u8>> {
        match self {
            Location::Local(path) => std::fs::read(path).map_err(|e| Error::io(path, e)),
            Location::Remote(remote) => remote.get(),
        }
    }

    /// Replaces the content: a local file through a temporary file and a rename, an object by
    /// one PUT (objects appear whole).
    pub fn write(&self, bytes: &[u8], sync: bool) -> Result<()> {
        match self {
            Location::Local(path) => {
                let mut file = AtomicFile::create(path)?;
                std::io::Write::write_all(file.file(), bytes).map_err(|e| Error::io(path, e))?;
                file.commit(sync)
            }
            Location::Remote(remote) => remote.put(bytes),
        }
    }

    pub fn exists(&self) -> Result<bool> {
        match self {
            Location::Local(path) => Ok(path.exists()),
            Location::Remote(remote) => remote.exists(),
        }
    }

    /// Deletes the file or object; one that does not exist is no error.
    pub fn delete(&self) -> Result<()> {
        match self {
            Location::Local(path) => match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, e)),
                _ => Ok(()),
            },
            Location::Remote(remote) => remote.delete(),
        }
    }

    /// Every file beside this location whose name starts with this location's name (`P` lists
    /// `P.index`, `P.data-…`), as paths or URLs, sorted.
    pub fn list_prefixed(&self) -> Result<Vec<String>> {
        match self {
            Location::Local(path) => {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
                let entries = match std::fs::read_dir(dir) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(e) => return Err(Error::io(dir, e)),
                };
                let mut found = Vec::new();
                for entry in entries {
                    let entry = entry.map_err(|e| Error::io(dir, e))?;
                    if entry.file_name().to_string_lossy().starts_with(&name) && entry.path().is_file() {
                        let parent = path.parent().unwrap_or(Path::new(""));
                        found.push(parent.join(entry.file_name()).display().to_string());
                    }
                }
                found.sort();
                Ok(found)
            }
            Location::Remote(remote) => remote.list_prefixed(),
        }
    }
}

fn env_prefix(scheme: &str) -> &'static str {
    match scheme {
        "s3" | "s3a" => "AWS_",
        "gs" => "GOOGLE_",
        "memory" => "FASTCKPT_MEMORY_",
        _ => "AZURE_",
    }
}

impl Remote {
    pub fn url(&self) -> String {
        if self.key.is_empty() {
            self.root.clone()
        } else {
            format!("{}/{}", self.root, self.key)
        }
    }

    /// The URL as a path-like name, for errors and for code that names files by `PathBuf`
    /// (never opened as a local file).
    pub fn display_path(&self) -> PathBuf {
        PathBuf::from(self.url())
    }

    pub fn with_suffix(&self, suffix: &str) -> Remote {
        Remote { key: format!("{}{suffix}", self.key), ..self.clone() }
    }

    fn path(&self) -> object_store::path::Path {
        object_store::path::Path::from(self.key.as_str())
    }

    fn error(&self, e: object_store::Error) -> Error {
        use std::io::ErrorKind;
        let kind = match &e {
            object_store::Error::NotFound { .. } => ErrorKind::NotFound,
            object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
                ErrorKind::PermissionDenied
            }
            _ => ErrorKind::Other,
        };
        Error::io(self.display_path(), std::io::Error::new(kind, e))
    }

    /// The whole object.
    pub fn get(&self) -> Result<Vec<u8>> {
        runtime::block_on(async {
            let got = self.store.get(&self.path()).await?;
            got.bytes().await
        })
        .map(Vec::from)
        .map_err(|e| self.error(e))
    }

    /// The object's size in bytes.
    pub fn size(&self) -> Result<u64> {
        runtime::block_on(self.store.head(&self.path())).map(|meta| meta.size).map_err(|e| self.error(e))
    }

    /// Fills `out` with the bytes at `offset`: ranged GETs of at most [`READ_CHUNK`] bytes,
    /// [`READ_CONCURRENCY`] in flight, each copied into its place as it arrives.
    pub fn read_into(&self, offset: u64, out: &mut [u8]) -> Result<()> {
        let path = self.path();
        let store = &self.store;
        let requests = out.chunks_mut(READ_CHUNK).enumerate().map(|(i, dst)| {
            let start = offset + (i * READ_CHUNK) as u64;
            let path = &path;
            async move {
                let bytes = store.get_range(path, start..start + dst.len() as u64).await?;
                if bytes.len() != dst.len() {
                    return Err(object_store::Error::Generic {
                        store: "fastckpt",
                        source: format!("asked for {} bytes at offset {start}, got {}", dst.len(), bytes.len()).into(),
                    });
                }
                dst.copy_from_slice(&bytes);
                Ok(())
            }
        });
        runtime::block_on(futures::stream::iter(requests).buffer_unordered(READ_CONCURRENCY).try_collect::<()>())
            .map_err(|e| self.error(e))
    }

    /// Writes the object in one PUT.
    pub fn put(&self, bytes: &[u8]) -> Result<()> {
        let payload = PutPayload::from(bytes.to_vec());
        runtime::block_on(self.store.put(&self.path(), payload)).map(drop).map_err(|e| self.error(e))
    }

    pub fn exists(&self) -> Result<bool> {
        match runtime::block_on(self.store.head(&self.path())) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.error(e)),
        }
    }

    pub fn delete(&self) -> Result<()> {
        match runtime::block_on(self.store.delete(&self.path())) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(e)),
        }
    }

    /// URLs of the objects beside this one whose key starts with its key (not descending into
    /// deeper "folders"), sorted.
    pub fn list_prefixed(&self) -> Result<Vec<String>> {
        let (dir, _) = self.key.rsplit_once('/').unwrap_or(("", &self.key));
        let dir_path = (!dir.is_empty()).then(|| object_store::path::Path::from(dir));
        let listed = runtime::block_on(self.store.list_with_delimiter(dir_path.as_ref())).map_err(|e| self.error(e))?;
        let wanted = self.path();
        let mut found: Vec<String> = listed
            .objects
            .iter()
            .filter(|meta| meta.location.as_ref().starts_with(wanted.as_ref()))
            .map(|meta| format!("{}/{}", self.root, meta.location.as_ref()))
            .collect();
        found.sort();
        Ok(found)
    }

    /// A multipart upload (or a single PUT, for small objects) to this object.
    pub fn upload(&self) -> Upload {
        Upload::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(text: &str) -> Remote {
        match Location::parse(text) {
            Ok(Location::Remote(r)) => r,
            other => panic!("{text} parsed as {other:?}"),
        }
    }

    #[test]
    fn urls_are_never_local_paths() {
        assert!(matches!(Location::parse("/tmp/x/ckpt"), Ok(Location::Local(p)) if p == Path::new("/tmp/x/ckpt")));
        assert!(matches!(Location::parse("rel/ckpt"), Ok(Location::Local(_))));
        assert!(matches!(Location::parse("C://x"), Ok(Location::Local(_))));
        assert!(matches!(Location::parse("file:///tmp/a"), Ok(Location::Local(p)) if p == Path::new("/tmp/a")));
        let err = Location::parse("ftp://host/ckpt").unwrap_err().to_string();
        assert!(err.contains("unsupported URL scheme 'ftp'") && err.contains("s3://"), "{err}");
        assert!(Location::parse("memory:///ckpt").is_err());
        assert_eq!(remote("memory://b/dir/ckpt/").url(), "memory://b/dir/ckpt");
        assert_eq!(remote("MEMORY://b/ckpt").with_suffix(".index").url(), "memory://b/ckpt.index");
    }

    #[test]
    fn memory_objects_round_trip_and_list() {
        let dir = "memory://storage-unit-test/run";
        let a = Location::parse(&format!("{dir}/ckpt-1.index")).unwrap();
        assert!(!a.exists().unwrap());
        let err = a.read().unwrap_err().to_string();
        assert!(err.starts_with("memory://storage-unit-test/run/ckpt-1.index:"), "{err}");
        a.write(b"abc", false).unwrap();
        Location::parse(&format!("{dir}/ckpt-1.data-00000-of-00001")).unwrap().write(&[7; 20], false).unwrap();
        Location::parse(&format!("{dir}/ckpt-10.index")).unwrap().write(b"", false).unwrap();
        Location::parse(&format!("{dir}/ckpt-1/deeper")).unwrap().write(b"", false).unwrap();
        assert_eq!(a.read().unwrap(), b"abc");
        let prefix = remote(&format!("{dir}/ckpt-1"));
        assert_eq!(
            prefix.list_prefixed().unwrap(),
            [
                format!("{dir}/ckpt-1.data-00000-of-00001"),
                format!("{dir}/ckpt-1.index"),
                format!("{dir}/ckpt-10.index")
            ]
        );
        let data = prefix.with_suffix(".data-00000-of-00001");
        assert_eq!(data.size().unwrap(), 20);
        let mut out = [0u8; 5];
        data.read_into(3, &mut out).unwrap();
        assert_eq!(out, [7; 5]);
        a.delete().unwrap();
        a.delete().unwrap();
        assert!(!a.exists().unwrap());
    }
}
