//! Writing one object from a stream of bytes: buffered until it reaches one part, then a
//! multipart upload whose parts go out while the caller produces the next ones (a bounded number
//! in flight). A small object is one PUT. The object exists only once [`Upload::finish`]
//! succeeded; an upload dropped unfinished is aborted (its parts deleted).
//!
//! ```text
//! write ─▶ pending (< PART) ──full──▶ multipart: part 1 ─▶ part 2 ─▶ … (≤ IN_FLIGHT at once)
//! finish: multipart → last part + complete          no multipart → one PUT of `pending`
//! ```

use std::sync::Mutex;

use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};

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
    /// In a mutex only to make the upload `Sync` (it is used through `&mut self`).
    multipart: Option<Mutex<WriteMultipart>>,
}

impl Upload {
    pub(super) fn new(object: Remote) -> Self {
        Upload { object, pending: Vec::new(), multipart: None }
    }

    pub fn object(&self) -> &Remote {
        &self.object
    }

    /// Appends `bytes`, waiting while [`IN_FLIGHT`] parts are on their way.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let Some(multipart) = self.multipart.as_mut().map(|m| m.get_mut().unwrap_or_else(|p| p.into_inner())) else {
            self.pending.extend_from_slice(bytes);
            if self.pending.len() >= PART {
                let path = self.object.path();
                let started = runtime::block_on(self.object.store.put_multipart(&path));
                let mut multipart =
                    WriteMultipart::new_with_chunk_size(started.map_err(|e| self.object.error(e))?, PART);
                runtime::enter(|| multipart.write(&self.pending));
                self.pending = Vec::new();
                self.multipart = Some(Mutex::new(multipart));
            }
            return Ok(());
        };
        if let Err(e) = runtime::block_on(multipart.wait_for_capacity(IN_FLIGHT)) {
            // A part failed (after the store's retries): the upload is dead, its parts deleted now.
            if let Some(multipart) = self.multipart.take() {
                let multipart = multipart.into_inner().unwrap_or_else(|p| p.into_inner());
                let _ = runtime::block_on(multipart.abort());
            }
            return Err(self.object.error(e));
        }
        runtime::enter(|| multipart.write(bytes));
        Ok(())
    }

    /// Completes the object; on failure the upload is aborted and no object appears.
    pub fn finish(mut self) -> Result<()> {
        let result = match self.multipart.take().map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner())) {
            // `finish` aborts the upload itself when a part or the completion fails.
            Some(multipart) => runtime::block_on(multipart.finish()).map(drop),
            None => {
                let payload = PutPayload::from(std::mem::take(&mut self.pending));
                runtime::block_on(self.object.store.put(&self.object.path(), payload)).map(drop)
            }
        };
        result.map_err(|e| self.object.error(e))
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(multipart) = self.multipart.take().map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner())) {
            // Not waited for: a drop may happen anywhere (with the GIL held, say).
            runtime::spawn(async move {
                let _ = multipart.abort().await;
            });
        }
    }
}
