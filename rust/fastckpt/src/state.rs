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
//! Relative paths are relative to the folder holding the file.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::proto::message::List;
use crate::proto::{schema, text};

pub const STATE_FILE: &str = "checkpoint";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckpointState {
    pub model_checkpoint_path: String,
    pub all_model_checkpoint_paths: Vec<String>,
    pub all_model_checkpoint_timestamps: Vec<f64>,
    pub last_preserved_timestamp: f64,
}

impl CheckpointState {
    /// Parses the text format (any spelling the protobuf text grammar allows).
    pub fn parse(contents: &str) -> Result<Self, String> {
        let msg = text::parse(&schema::CHECKPOINT_STATE, contents.as_bytes()).map_err(|e| e.to_string())?;
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
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let text = String::from_utf8(text).map_err(|_| Error::corrupt(&path, "state file is not UTF-8"))?;
        Self::parse(&text).map(Some).map_err(|e| Error::corrupt(&path, e))
    }

    /// The latest checkpoint's prefix, resolved against `dir`.
    pub fn latest(&self, dir: &Path) -> Option<PathBuf> {
        (!self.model_checkpoint_path.is_empty()).then(|| dir.join(&self.model_checkpoint_path))
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
    fn general_spellings() {
        let s = CheckpointState::parse("# comment\nmodel_checkpoint_path:'a\\x41' \"\\101b\";").unwrap();
        assert_eq!(s.model_checkpoint_path, "aAAb");
        assert!(CheckpointState::parse("model_checkpoint_path: \"open").is_err());
        assert!(CheckpointState::parse("bogus: 1").is_err());
    }
}
