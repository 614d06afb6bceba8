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
use object_store::{GetOptions, ObjectStore, ObjectStoreExt, PutPayload};

pub use upload::{Staged, Upload};

use crate::atomic_file::AtomicFile;
use crate::error::{Error, Result};

/// The URL schemes accepted wherever a path is.
pub const SCHEMES: &[&str] = &["s3", "s3a", "gs", "az", "azure", "abfs", "abfss", "memory"];

/// Ranged reads of more than this are split into requests of this size, sent concurrently.
const READ_CHUNK: usize = 8 << 20;
/// Requests of one ranged read in flight at once.
const READ_CONCURRENCY: usize = 8;
/// Wanted ranges at most this far apart are read by one request (the bytes between are dropped):
/// a checkpoint's tensors follow each other, a few bytes of alignment padding apart.
const READ_GAP: u64 = 4 << 10;

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

    /// Whether this is a folder: a local directory, or a key that objects are stored below (an
    /// object store has no folders of its own; `key/…` objects make one, as TensorFlow's
    /// object-store file systems see it).
    pub fn is_folder(&self) -> Result<bool> {
        match self {
            Location::Local(path) => Ok(path.is_dir()),
            Location::Remote(remote) => remote.is_folder(),
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
        self.get_tagged().map(|(bytes, _)| bytes)
    }

    /// The whole object and its entity tag (which changes whenever the object is replaced; `None`
    /// from a store that gives none).
    pub fn get_tagged(&self) -> Result<(Vec<u8>, Option<String>)> {
        runtime::block_on(async {
            let got = self.store.get(&self.path()).await?;
            let tag = got.meta.e_tag.clone();
            Ok((Vec::from(got.bytes().await?), tag))
        })
        .map_err(|e| self.error(e))
    }

    /// The object's size in bytes and its entity tag.
    pub fn head(&self) -> Result<(u64, Option<String>)> {
        runtime::block_on(self.store.head(&self.path())).map(|meta| (meta.size, meta.e_tag)).map_err(|e| self.error(e))
    }

    /// Fills `out` with the bytes at `offset` ([`Remote::read_scattered`] of one piece).
    pub fn read_into(&self, offset: u64, out: &mut [u8], tag: Option<&str>) -> Result<()> {
        self.read_scattered(vec![Piece { id: 0, offset, out }], tag).map_err(|(_, e)| e)
    }

    /// Fills every piece with the object's bytes at its offset, by ranged GETs landing straight
    /// in the pieces: pieces are split into requests of at most [`READ_CHUNK`] bytes, and
    /// neighbours (at most [`READ_GAP`] apart, the gap read and dropped) joined into one request
    /// up to that size; [`READ_CONCURRENCY`] requests are in flight, and each response body is
    /// copied into its pieces as it arrives. With `tag`, the object must still be the one that had
    /// that entity tag (`If-Match`): when it was replaced since, the read fails rather than mixing
    /// two versions. On failure: the `id` of a piece of the failed request, and the error.
    pub fn read_scattered(&self, pieces: Vec<Piece<'_>>, tag: Option<&str>) -> std::result::Result<(), (usize, Error)> {
        let mut split: Vec<Piece<'_>> = Vec::with_capacity(pieces.len());
        for Piece { id, offset, out } in pieces {
            for (i, chunk) in out.chunks_mut(READ_CHUNK).enumerate() {
                split.push(Piece { id, offset: offset + (i * READ_CHUNK) as u64, out: chunk });
            }
        }
        split.sort_by_key(|piece| piece.offset);
        let mut requests: Vec<Vec<Piece<'_>>> = Vec::new();
        for piece in split {
            let joins = requests.last().is_some_and(|request| {
                let (first, end) = (request[0].offset, request[request.len() - 1].end());
                piece.offset >= end && piece.offset - end <= READ_GAP && piece.end() - first <= READ_CHUNK as u64
            });
            match requests.last_mut() {
                Some(request) if joins => request.push(piece),
                _ => requests.push(vec![piece]),
            }
        }
        let path = self.path();
        let fetches = requests.into_iter().map(|request| fetch(&self.store, &path, tag, request));
        runtime::block_on(futures::stream::iter(fetches).buffer_unordered(READ_CONCURRENCY).try_collect::<()>())
            .map_err(|(id, e)| match e {
                object_store::Error::Precondition { .. } => (
                    id,
                    Error::corrupt(
                        &self.display_path(),
                        "the object was replaced after the checkpoint was opened (saved over while being \
                         read?); open the checkpoint again",
                    ),
                ),
                e => (id, self.error(e)),
            })
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

    /// [`Location::is_folder`]: one listing of what is below the key, stopping at the next `/`.
    pub fn is_folder(&self) -> Result<bool> {
        let below = runtime::block_on(self.store.list_with_delimiter(Some(&self.path()))).map_err(|e| self.error(e))?;
        Ok(!below.objects.is_empty() || !below.common_prefixes.is_empty())
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

/// Where the bytes at `offset` of an object go, for [`Remote::read_scattered`]; `id` is the
/// caller's name for it in errors.
#[derive(Debug)]
pub struct Piece<'a> {
    pub id: usize,
    pub offset: u64,
    pub out: &'a mut [u8],
}

impl Piece<'_> {
    pub(crate) fn end(&self) -> u64 {
        self.offset + self.out.len() as u64
    }
}

/// One ranged GET from the first piece's start to the last one's end (pieces sorted, apart),
/// its body copied into the pieces as it streams in.
async fn fetch(
    store: &Arc<dyn ObjectStore>,
    path: &object_store::path::Path,
    tag: Option<&str>,
    mut pieces: Vec<Piece<'_>>,
) -> std::result::Result<(), (usize, object_store::Error)> {
    let id = pieces[0].id;
    let (start, end) = (pieces[0].offset, pieces[pieces.len() - 1].end());
    let options =
        GetOptions { range: Some((start..end).into()), if_match: tag.map(str::to_owned), ..GetOptions::default() };
    let failed = |e| (id, e);
    let mut body = store.get_opts(path, options).await.map_err(failed)?.into_stream();
    let (mut at, mut next) = (start, 0);
    while let Some(bytes) = body.try_next().await.map_err(failed)? {
        let bytes_end = at + bytes.len() as u64;
        if bytes_end > end {
            break;
        }
        for piece in &mut pieces[next..] {
            if piece.offset >= bytes_end {
                break;
            }
            let (from, to) = (at.max(piece.offset), bytes_end.min(piece.end()));
            if from < to {
                #[allow(clippy::cast_possible_truncation, reason = "within one piece or one body chunk")]
                let (dst, src, n) = ((from - piece.offset) as usize, (from - at) as usize, (to - from) as usize);
                piece.out[dst..dst + n].copy_from_slice(&bytes[src..src + n]);
            }
            if piece.end() <= bytes_end {
                next += 1;
            }
        }
        at = bytes_end;
    }
    if at != end {
        let detail = format!("asked for bytes {start}..{end} of the object, got a different amount");
        return Err((id, object_store::Error::Generic { store: "fastckpt", source: detail.into() }));
    }
    Ok(())
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
        let (size, tag) = data.head().unwrap();
        assert_eq!(size, 20);
        let mut out = [0u8; 5];
        data.read_into(3, &mut out, tag.as_deref()).unwrap();
        assert_eq!(out, [7; 5]);
        data.put(&[8; 20]).unwrap();
        let err = data.read_into(3, &mut out, tag.as_deref()).unwrap_err().to_string();
        assert!(err.contains("replaced after the checkpoint was opened"), "{err}");
        data.read_into(3, &mut out, None).unwrap();
        assert_eq!(out, [8; 5]);
        a.delete().unwrap();
        a.delete().unwrap();
        assert!(!a.exists().unwrap());
    }

    #[test]
    fn scattered_reads_land_every_piece_whatever_the_grouping() {
        let object = remote("memory://storage-unit-test/scattered");
        let bytes: Vec<u8> = (0..(READ_CHUNK * 2 + 1000)).map(|i| u8::try_from(i % 251).unwrap()).collect();
        object.put(&bytes).unwrap();
        // Neighbours a few bytes apart (one request), one far away, one larger than a request,
        // two overlapping, one empty; in no particular order.
        let spans = [(10, 100), (0, 7), (200, 50), (READ_CHUNK + 5, 3), (300, READ_CHUNK + 700), (205, 10), (60, 0)];
        let mut outs: Vec<Vec<u8>> = spans.iter().map(|&(_, len)| vec![0; len]).collect();
        let pieces = outs
            .iter_mut()
            .zip(spans)
            .enumerate()
            .map(|(id, (out, (offset, _)))| Piece { id, offset: offset as u64, out })
            .collect();
        object.read_scattered(pieces, None).unwrap();
        for (out, (offset, len)) in outs.iter().zip(spans) {
            assert!(out[..] == bytes[offset..offset + len], "piece at {offset}");
        }
        let mut past = [0u8; 4];
        let (id, err) = object
            .read_scattered(vec![Piece { id: 9, offset: bytes.len() as u64 - 2, out: &mut past }], None)
            .unwrap_err();
        assert_eq!(id, 9);
        assert!(err.to_string().starts_with("memory://storage-unit-test/scattered:"), "{err}");
    }
}
