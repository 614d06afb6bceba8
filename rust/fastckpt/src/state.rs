//! The `checkpoint` state file: a text-format `CheckpointState` naming the latest checkpoint of a
//! folder and the ones kept before it.
//!
//! ```text
//! model_checkpoint_path: "model.ckpt-20"
//! all_model_checkpoint_paths: "model.ckpt-10"
//! all_model_checkpoint_paths: "model.ckpt-20"
//! all_model_checkpoint_timestamps: 1795636091.6588638      (CheckpointManager only)
//! last_preserved_timestamp: 1795636080.1234
//! ```
//! Relative paths are relative to the folder holding the file. The file is replaced atomically
//! (temporary name in the same folder, then rename), so a reader sees the old state or the new.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::graph::io::{self, Format};
use crate::proto::message::{List, Message, Value};
use crate::proto::{schema, text};
use crate::storage::{url_scheme, Location};

pub const STATE_FILE: &str = "checkpoint";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckpointState {
    pub model_checkpoint_path: String,
    pub all_model_checkpoint_paths: Vec<String>,
    pub all_model_checkpoint_timestamps: Vec<f64>,
    pub last_preserved_timestamp: f64,
}

impl CheckpointState {
    /// Parses the text format (any spelling the protobuf text grammar allows; a field given twice
    /// keeps its last value, as TensorFlow's reader does).
    pub fn parse(contents: &str) -> Result<Self, String> {
        let msg = Self::parse_message(contents.as_bytes()).map_err(|e| e.to_string())?;
        let utf8 = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| "path is not UTF-8".to_string());
        Ok(CheckpointState {
            model_checkpoint_path: utf8(msg.bytes("model_checkpoint_path"))?,
            all_model_checkpoint_paths: msg
                .strings("all_model_checkpoint_paths")
                .iter()
                .map(|p| utf8(p))
                .collect::<Result<_, _>>()?,
            all_model_checkpoint_timestamps: match msg.list("all_model_checkpoint_timestamps") {
                Some(List::F64(v)) => v.clone(),
                _ => Vec::new(),
            },
            last_preserved_timestamp: msg.float("last_preserved_timestamp"),
        })
    }

    /// Reads `dir/checkpoint`; `Ok(None)` when there is no such file.
    pub fn read(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(STATE_FILE);
        let text = match Location::of(&path)?.read() {
            Ok(t) => t,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let text = String::from_utf8(text).map_err(|_| Error::corrupt(&path, "state file is not UTF-8"))?;
        Self::parse(&text).map(Some).map_err(|e| Error::corrupt(&path, e))
    }

    /// The text parsed into a `CheckpointState` message the way TensorFlow reads the file.
    pub fn parse_message(contents: &[u8]) -> Result<Message, text::TextError> {
        let mut msg = Message::new(&schema::CHECKPOINT_STATE);
        text::merge_replacing_scalars(&mut msg, contents)?;
        Ok(msg)
    }

    /// The message, with the fields TensorFlow leaves unset (empty lists, a zero timestamp)
    /// absent, so that the text is what `text_format.MessageToString` prints for it.
    pub fn to_message(&self) -> Message {
        let mut msg = Message::new(&schema::CHECKPOINT_STATE);
        let set = |msg: &mut Message, name, value| msg.set(name, value).expect("field of CheckpointState");
        set(&mut msg, "model_checkpoint_path", Value::Bytes(self.model_checkpoint_path.clone().into_bytes().into()));
        let paths = self.all_model_checkpoint_paths.iter().map(|p| p.clone().into_bytes().into()).collect();
        set(&mut msg, "all_model_checkpoint_paths", Value::List(List::Bytes(paths)));
        set(
            &mut msg,
            "all_model_checkpoint_timestamps",
            Value::List(List::F64(self.all_model_checkpoint_timestamps.clone())),
        );
        set(&mut msg, "last_preserved_timestamp", Value::F64(self.last_preserved_timestamp));
        msg
    }

    /// The text format, as TensorFlow writes the file.
    pub fn to_text(&self) -> String {
        text::print(&self.to_message())
    }

    /// Replaces the state file at `path` atomically (through the temporary-file-and-rename of
    /// [`io::write`]; a reader never sees a half-written file).
    pub fn write(&self, path: &Path) -> Result<()> {
        io::write(path, &self.to_message(), Format::Text)
    }

    /// The latest checkpoint's prefix, resolved against `dir`.
    pub fn latest(&self, dir: &Path) -> Option<PathBuf> {
        let model = &self.model_checkpoint_path;
        (!model.is_empty()).then(|| match url_scheme(model) {
            Some(_) => PathBuf::from(model),
            None => dir.join(model),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_tensorflow_writes() {
        let text = "model_checkpoint_path: \"/abs/dir/model.ckpt-20\"\n\
                    all_model_checkpoint_paths: \"/abs/dir/model.ckpt-10\"\n\
                    all_model_checkpoint_paths: \"/abs/dir/model.ckpt-20\"\n\
                    all_model_checkpoint_timestamps: 1795636091.6588638\n\
                    last_preserved_timestamp: 1795636080.5\n";
        let s = CheckpointState::parse(text).unwrap();
        assert_eq!(s.model_checkpoint_path, "/abs/dir/model.ckpt-20");
        assert_eq!(s.all_model_checkpoint_paths.len(), 2);
        assert_eq!(s.all_model_checkpoint_timestamps, [1795636091.6588638]);
        assert_eq!(s.latest(Path::new("/x")), Some(PathBuf::from("/abs/dir/model.ckpt-20")));
    }

    #[test]
    fn prints_what_tensorflow_writes_and_reads_it_back() {
        let state = CheckpointState {
            model_checkpoint_path: "model.ckpt-20".into(),
            all_model_checkpoint_paths: vec!["model.ckpt-10".into(), "model.ckpt-20".into()],
            all_model_checkpoint_timestamps: vec![1795636091.6588638, 1795636095.0],
            last_preserved_timestamp: 1795636080.5,
        };
        let text = state.to_text();
        assert_eq!(
            text,
            "model_checkpoint_path: \"model.ckpt-20\"\n\
             all_model_checkpoint_paths: \"model.ckpt-10\"\n\
             all_model_checkpoint_paths: \"model.ckpt-20\"\n\
             all_model_checkpoint_timestamps: 1795636091.6588638\n\
             all_model_checkpoint_timestamps: 1795636095.0\n\
             last_preserved_timestamp: 1795636080.5\n"
        );
        assert_eq!(CheckpointState::parse(&text).unwrap(), state);
        let plain = CheckpointState { model_checkpoint_path: "/d/m".into(), ..Default::default() };
        assert_eq!(plain.to_text(), "model_checkpoint_path: \"/d/m\"\n");
    }

    #[test]
    fn writes_atomically() {
        let dir = std::env::temp_dir().join(format!("fastckpt-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(STATE_FILE);
        let state = CheckpointState { model_checkpoint_path: "a".into(), ..Default::default() };
        state.write(&path).unwrap();
        state.write(&path).unwrap();
        assert_eq!(CheckpointState::read(&dir).unwrap(), Some(state));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary files left");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn general_spellings() {
        let s = CheckpointState::parse("# comment\nmodel_checkpoint_path:'a\\x41' \"\\101b\";").unwrap();
        assert_eq!(s.model_checkpoint_path, "aAAb");
        assert!(CheckpointState::parse("model_checkpoint_path: \"open").is_err());
        assert!(CheckpointState::parse("bogus: 1").is_err());
        let twice = CheckpointState::parse("model_checkpoint_path: 'a'\nmodel_checkpoint_path: 'b'").unwrap();
        assert_eq!(twice.model_checkpoint_path, "b", "the last one wins");
    }
}
