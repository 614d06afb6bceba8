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

pub const STATE_FILE: &str = "checkpoint";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckpointState {
    pub model_checkpoint_path: String,
    pub all_model_checkpoint_paths: Vec<String>,
    pub all_model_checkpoint_timestamps: Vec<f64>,
    pub last_preserved_timestamp: f64,
}

impl CheckpointState {
    /// Parses the text format (comments, either quote, adjacent string concatenation and C
    /// escapes accepted; unknown fields refused).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut state = CheckpointState::default();
        let mut lex = Lexer { s: text.as_bytes(), pos: 0 };
        while let Some(field) = lex.ident()? {
            lex.expect(b':')?;
            match field.as_str() {
                "model_checkpoint_path" => state.model_checkpoint_path = lex.string()?,
                "all_model_checkpoint_paths" => state.all_model_checkpoint_paths.push(lex.string()?),
                "all_model_checkpoint_timestamps" => state.all_model_checkpoint_timestamps.push(lex.number()?),
                "last_preserved_timestamp" => state.last_preserved_timestamp = lex.number()?,
                other => return Err(format!("unknown field '{other}'")),
            }
        }
        Ok(state)
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

struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Lexer<'_> {
    fn skip_space(&mut self) {
        while let Some(&c) = self.s.get(self.pos) {
            if c == b'#' {
                while self.s.get(self.pos).is_some_and(|&c| c != b'\n') {
                    self.pos += 1;
                }
            } else if c.is_ascii_whitespace() || c == b',' || c == b';' {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn ident(&mut self) -> Result<Option<String>, String> {
        self.skip_space();
        let start = self.pos;
        while self.s.get(self.pos).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_') {
            self.pos += 1;
        }
        if start == self.pos {
            return match self.s.get(self.pos) {
                None => Ok(None),
                Some(&c) => Err(format!("unexpected '{}' at byte {}", c as char, self.pos)),
            };
        }
        Ok(Some(String::from_utf8_lossy(&self.s[start..self.pos]).into_owned()))
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        self.skip_space();
        if self.s.get(self.pos) == Some(&c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", c as char, self.pos))
        }
    }

    fn number(&mut self) -> Result<f64, String> {
        self.skip_space();
        let start = self.pos;
        while self.s.get(self.pos).is_some_and(|c| c.is_ascii_alphanumeric() || b"+-.".contains(c)) {
            self.pos += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("");
        text.parse::<f64>().map_err(|_| format!("bad number '{text}' at byte {start}"))
    }

    /// One or more adjacent quoted strings, unescaped and concatenated.
    fn string(&mut self) -> Result<String, String> {
        let mut out = Vec::new();
        self.skip_space();
        while let Some(&quote) = self.s.get(self.pos).filter(|&&c| c == b'"' || c == b'\'') {
            self.pos += 1;
            loop {
                let c = *self.s.get(self.pos).ok_or("unterminated string")?;
                self.pos += 1;
                match c {
                    _ if c == quote => break,
                    b'\n' => return Err("newline in string".into()),
                    b'\\' => out.push(self.escape()?),
                    c => out.push(c),
                }
            }
            self.skip_space();
        }
        String::from_utf8(out).map_err(|_| "path is not UTF-8".to_string())
    }

    fn escape(&mut self) -> Result<u8, String> {
        let c = *self.s.get(self.pos).ok_or("unterminated escape")?;
        self.pos += 1;
        Ok(match c {
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'a' => 0x07,
            b'b' => 0x08,
            b'f' => 0x0C,
            b'v' => 0x0B,
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                for _ in 0..2 {
                    match self.s.get(self.pos) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                u8::try_from(v).map_err(|_| "octal escape out of range")?
            }
            b'x' => {
                let mut v = 0u32;
                let mut digits = 0;
                while let Some(d) = self.s.get(self.pos).and_then(|&d| (d as char).to_digit(16)).filter(|_| digits < 2)
                {
                    v = v * 16 + d;
                    self.pos += 1;
                    digits += 1;
                }
                if digits == 0 {
                    return Err("\\x without hex digits".into());
                }
                v as u8
            }
            other => other,
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
    fn general_spellings() {
        let s = CheckpointState::parse("# comment\nmodel_checkpoint_path:'a\\x41' \"\\101b\";").unwrap();
        assert_eq!(s.model_checkpoint_path, "aAAb");
        assert!(CheckpointState::parse("model_checkpoint_path: \"open").is_err());
        assert!(CheckpointState::parse("bogus: 1").is_err());
    }
}
