//! Writing one object from a stream of bytes, in two phases so that a checkpoint can choose the
//! moment its objects appear: [`Upload::stage`] sends every byte without making the object
//! visible, [`Staged::complete`] makes it appear whole (replacing any object of that name in one
//! step). A small object is held in memory and PUT at completion; a larger one is a multipart
//! upload whose parts go out while the caller produces the next ones (a bounded number in flight),
//! and whose completion is one request. An upload or a staged object dropped unfinished is aborted
//! (its parts deleted).
//!
//! ```text
//! write ─▶ pending (< PART) ──full──▶ multipart: part 1 ─▶ part 2 ─▶ … (≤ IN_FLIGHT at once)
//! stage:    multipart → last part, wait for every part       no multipart → keep `pending`
//! complete: multipart → CompleteMultipartUpload              no multipart → one PUT of `pending`
//! ```

use std::sync::{Mutex, PoisonError};

use object_store::{MultipartUpload, ObjectStoreExt, PutPayload};
use tokio::task::JoinSet;

use super::{runtime, Remote};
use crate::error::Result;

/// Size of each part (S3 wants at least 5 MiB for every part but the last).
const PART: usize = 8 << 20;
/// Parts being uploaded at once; bounds the memory of an upload to `PART * IN_FLIGHT`.
const IN_FLIGHT: usize = 8;

#[derive(Debug)]
pub struct Upload {
    object: Remote,
    pending: Vec<u8>,
    multipart: Option<Multipart>,
}

/// A started multipart upload and its parts on their way.
#[derive(Debug)]
struct Multipart {
    /// In a mutex only to make the upload `Sync` (it is used through `&mut self`).
    upload: Mutex<Box<dyn MultipartUpload>>,
    parts: JoinSet<object_store::Result<()>>,
}

impl Multipart {
    fn upload(&mut self) -> &mut Box<dyn MultipartUpload> {
        self.upload.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until at most `in_flight` parts are on their way; the first failed part fails it.
    async fn wait(&mut self, in_flight: usize) -> object_store::Result<()> {
        while self.parts.len() > in_flight {
            match self.parts.join_next().await {
                Some(Ok(result)) => result?,
                Some(Err(join)) => {
                    return Err(object_store::Error::Generic { store: "fastckpt", source: Box::new(join) })
                }
                None => break,
            }
        }
        Ok(())
    }

    /// Deletes the parts sent so far (best effort: a store also expires forgotten uploads).
    async fn abort(mut self) {
        self.parts.shutdown().await;
        let _ = self.upload().abort().await;
    }
}

/// An object whose bytes are all with the store (or, when small, in memory), not yet visible.
#[derive(Debug)]
pub struct Staged {
    object: Remote,
    pending: Vec<u8>,
    multipart: Option<Multipart>,
}

impl Upload {
    pub(super) fn new(object: Remote) -> Self {
        Upload { object, pending: Vec::new(), multipart: None }
    }

    pub fn object(&self) -> &Remote {
        &self.object
    }

    /// Appends `bytes`, waiting while [`IN_FLIGHT`] parts are on their way.
    pub fn write(&mut self, mut bytes: &[u8]) -> Result<()> {
        while !bytes.is_empty() {
            let take = bytes.len().min(PART - self.pending.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.pending.len() == PART {
                let part = std::mem::replace(&mut self.pending, Vec::with_capacity(PART));
                self.send(part)?;
            }
        }
        Ok(())
    }

    /// Starts the multipart upload if needed, then sends `part` once fewer than [`IN_FLIGHT`]
    /// are on their way. A failed part (after the store's retries) kills the upload: its parts
    /// are deleted now.
    fn send(&mut self, part: Vec<u8>) -> Result<()> {
        let multipart = match &mut self.multipart {
            Some(multipart) => multipart,
            None => {
                let path = self.object.path();
                let upload =
                    runtime::block_on(self.object.store.put_multipart(&path)).map_err(|e| self.object.error(e))?;
                self.multipart.insert(Multipart { upload: Mutex::new(upload), parts: JoinSet::new() })
            }
        };
        if let Err(e) = runtime::block_on(multipart.wait(IN_FLIGHT - 1)) {
            if let Some(multipart) = self.multipart.take() {
                runtime::block_on(multipart.abort());
            }
            return Err(self.object.error(e));
        }
        let sending = multipart.upload().put_part(PutPayload::from(part));
        runtime::enter(|| multipart.parts.spawn(sending));
        Ok(())
    }

    /// Sends what is left and waits until the store holds every part; the object does not exist
    /// (under this name, any older one is untouched) until [`Staged::complete`]. On failure the
    /// upload is aborted.
    pub fn stage(mut self) -> Result<Staged> {
        if self.multipart.is_some() && !self.pending.is_empty() {
            let last = std::mem::take(&mut self.pending);
            self.send(last)?;
        }
        if let Some(multipart) = &mut self.multipart {
            if let Err(e) = runtime::block_on(multipart.wait(0)) {
                if let Some(multipart) = self.multipart.take() {
                    runtime::block_on(multipart.abort());
                }
                return Err(self.object.error(e));
            }
        }
        let (pending, multipart) = (std::mem::take(&mut self.pending), self.multipart.take());
        Ok(Staged { object: self.object.clone(), pending, multipart })
    }
}

impl Staged {
    /// Makes the object appear, whole, replacing any object of its name. On failure the upload
    /// is aborted and nothing of it appears.
    pub fn complete(mut self) -> Result<()> {
        let result = match self.multipart.take() {
            Some(mut multipart) => match runtime::block_on(multipart.upload().complete()) {
                Ok(_) => Ok(()),
                Err(e) => {
                    runtime::block_on(multipart.abort());
                    Err(e)
                }
            },
            None => {
                let payload = PutPayload::from(std::mem::take(&mut self.pending));
                runtime::block_on(self.object.store.put(&self.object.path(), payload)).map(drop)
            }
        };
        result.map_err(|e| self.object.error(e))
    }
}

/// Not waited for: a drop may happen anywhere (with the GIL held, say).
fn abort_later(multipart: Option<Multipart>) {
    if let Some(multipart) = multipart {
        runtime::spawn(multipart.abort());
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        abort_later(self.multipart.take());
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        abort_later(self.multipart.take());
    }
}
