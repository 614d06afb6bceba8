//! Files that hold one protobuf message: graphs (`.pb`, `.pbtxt`), meta graphs (`.meta`),
//! `saved_model.pb` / `saved_model.pbtxt`.
//!
//! ```text
//! read   file ──mmap──▶ Bytes ──binary::decode──▶ Message     strings and bytes fields are slices
//!                         └──(not binary)──text::parse──▶      of the mapping: nothing is copied
//! write  Message ──binary (TensorFlow's deterministic order) | text──▶ AtomicFile ──rename──▶ P
//! A URL is read with one GET and written with one PUT (see [`crate::storage`]).
//! ```
//! Detection is TensorFlow's (`read_meta_graph_file` and friends): the bytes are parsed as binary
//! first, and only when that fails as text. Written files never replace a file in place: a reader
//! that has the old file mapped keeps seeing it whole.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use bytes::Bytes;
use memmap2::Mmap;

use crate::atomic_file::AtomicFile;
use crate::error::{Error, Result};
use crate::proto::binary::{self, MapOrder};
use crate::proto::schema::MessageDesc;
use crate::proto::{text, Message};
use crate::storage::Location;

/// How a message is written in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The protobuf binary format.
    Binary,
    /// The protobuf text format.
    Text,
}

/// The bytes of a file: mapped (or empty: an empty file cannot be mapped).
pub fn map_file(path: &Path) -> Result<Bytes> {
    if let Location::Remote(remote) = Location::of(path)? {
        return Ok(Bytes::from(Location::Remote(remote).read()?));
    }
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    if len == 0 {
        return Ok(Bytes::new());
    }
    // SAFETY: the mapping is read-only, and TensorFlow and fastckpt replace these files by
    // renaming new ones over them, which leaves the mapped pages intact. (A file truncated in
    // place while slices of it are alive would fault on access, as any mapped file would.)
    let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
    Ok(Bytes::from_owner(map))
}

/// Decodes `data` as a message of type `desc` in `format`, or, with `None`, as binary and then
/// as text if binary fails. `what` names the data in errors (a path, "bytes").
pub fn decode(
    desc: &'static MessageDesc,
    data: Bytes,
    format: Option<Format>,
    what: &str,
) -> Result<(Message, Format)> {
    let binary_error = match format {
        Some(Format::Text) => None,
        _ => match binary::decode(desc, data.clone()) {
            Ok(msg) => return Ok((msg, Format::Binary)),
            Err(e) => Some(e),
        },
    };
    if format == Some(Format::Binary) {
        let e = binary_error.map_or_else(String::new, |e| e.to_string());
        return Err(Error::Decode(format!("cannot parse {what} as a binary {}: {e}", desc.name)));
    }
    text::parse(desc, &data).map(|msg| (msg, Format::Text)).map_err(|text_error| {
        let detail = match binary_error {
            Some(b) => format!("neither the binary format ({b}) nor the text format ({text_error})"),
            None => format!("the text format: {text_error}"),
        };
        Error::Decode(format!("cannot parse {what} as a {}: {detail}", desc.name))
    })
}

/// Reads the message in the file at `path` (see [`decode`] for `format`).
pub fn read(path: &Path, desc: &'static MessageDesc, format: Option<Format>) -> Result<(Message, Format)> {
    let data = map_file(path)?;
    decode(desc, data, format, &path.display().to_string())
}

/// Writes `msg` to `path` through a temporary file in the same folder: binary in TensorFlow's
/// deterministic order (`SerializeToString(deterministic=True)`), or text as
/// `text_format.MessageToString` prints it.
pub fn write(path: &Path, msg: &Message, format: Format) -> Result<()> {
    if let remote @ Location::Remote(_) = Location::of(path)? {
        let mut out = Vec::new();
        match format {
            Format::Binary => binary::encode_to(msg, MapOrder::TensorFlow, &mut out),
            Format::Text => out.write_all(text::print(msg).as_bytes()),
        }
        .map_err(|e| Error::io(path, e))?;
        return remote.write(&out, false);
    }
    let mut file = AtomicFile::create(path)?;
    let mut out = BufWriter::with_capacity(1 << 20, file.file());
    match format {
        Format::Binary => binary::encode_to(msg, MapOrder::TensorFlow, &mut out),
        Format::Text => out.write_all(text::print(msg).as_bytes()),
    }
    .and_then(|()| out.flush())
    .map_err(|e| Error::io(path, e))?;
    drop(out);
    file.commit(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::schema::{GRAPH_DEF, NODE_DEF};

    fn graph() -> Message {
        let mut node = Message::new(&NODE_DEF);
        node.set("name", "a".into()).unwrap();
        node.set("op", "NoOp".into()).unwrap();
        let mut g = Message::new(&GRAPH_DEF);
        g.push("node", node.into()).unwrap();
        g
    }

    #[test]
    fn round_trips_in_both_formats_and_detects_them() {
        let dir = std::env::temp_dir().join(format!("fastckpt-graph-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for format in [Format::Binary, Format::Text] {
            let path = dir.join("g");
            write(&path, &graph(), format).unwrap();
            let (back, detected) = read(&path, &GRAPH_DEF, None).unwrap();
            assert_eq!((back, detected), (graph(), format));
            let forced = if format == Format::Binary { Format::Text } else { Format::Binary };
            assert!(read(&path, &GRAPH_DEF, Some(forced)).is_err());
        }
        std::fs::write(dir.join("bad"), b"node { name: ").unwrap();
        let e = read(&dir.join("bad"), &GRAPH_DEF, None).unwrap_err();
        assert!(matches!(e, Error::Decode(_)), "{e}");
        std::fs::write(dir.join("empty"), b"").unwrap();
        assert_eq!(read(&dir.join("empty"), &GRAPH_DEF, None).unwrap().0, Message::new(&GRAPH_DEF));
        assert!(matches!(read(&dir.join("missing"), &GRAPH_DEF, None), Err(Error::Io { .. })));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 3, "no temporary files left");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
