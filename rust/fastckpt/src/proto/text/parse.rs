//! Parsing the text format in the general grammar Python's `text_format.Parse` accepts (listed in
//! [`super`]).

use std::fmt;

use bytes::Bytes;

use crate::proto::binary::{self, MAX_DEPTH};
use crate::proto::message::{List, MapKey, Message, Value};
use crate::proto::schema::{find_message, FieldDesc, Kind, Label, MessageDesc, ANY};

use super::round_to_f32;

/// The characters of an `Any`'s type URL in the text format: letters, digits, `_` and these.
pub(super) fn is_type_url_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_/.~!$&()*+,;=%".contains(&b)
}

/// `prefix/full.Name` split at its last '/', with a prefix that is not empty and does not start
/// with '/'.
pub(super) fn split_type_url(url: &str) -> Result<(&str, &str), String> {
    let (prefix, name) = url.rsplit_once('/').ok_or("type URL without '/'")?;
    if prefix.is_empty() || prefix.starts_with('/') {
        return Err(format!("invalid type URL prefix '{prefix}'"));
    }
    Ok((prefix, name))
}

/// Why text is not a valid message; line and column are 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for TextError {}

type TextResult<T> = Result<T, TextError>;

/// Parses text into a new message of type `desc`.
pub fn parse(desc: &'static MessageDesc, text: &[u8]) -> TextResult<Message> {
    let mut msg = Message::new(desc);
    merge(&mut msg, text)?;
    Ok(msg)
}

/// Parses text into `msg` (lists appended; a singular field already set is an error, as in
/// Python's `Parse`).
pub fn merge(msg: &mut Message, text: &[u8]) -> TextResult<()> {
    let mut p = Parser { lex: Lexer::new(text), depth: 0, replace_scalars: false };
    p.fields(msg, None)
}

/// As [`merge`], except that a singular scalar given again replaces the earlier value: Python's
/// `text_format.Merge`, which is how TensorFlow reads the `checkpoint` state file.
pub fn merge_replacing_scalars(msg: &mut Message, text: &[u8]) -> TextResult<()> {
    let mut p = Parser { lex: Lexer::new(text), depth: 0, replace_scalars: true };
    p.fields(msg, None)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok<'a> {
    /// `[A-Za-z_][A-Za-z0-9_+-]*`
    Ident(&'a str),
    /// `[0-9+-]…` or `.digit…`: numbers, `-inf`.
    Number(&'a str),
    /// A quoted string, quotes included.
    Str(&'a [u8]),
    Punct(u8),
    End,
}

struct Lexer<'a> {
    text: &'a [u8],
    pos: usize,
    line: usize,
    line_start: usize,
    tok: Tok<'a>,
    /// Where `tok` starts (line, column).
    at: (usize, usize),
    /// A token the lexer could not read.
    bad: Option<&'static str>,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a [u8]) -> Self {
        let mut lex = Lexer { text, pos: 0, line: 1, line_start: 0, tok: Tok::End, at: (1, 1), bad: None };
        lex.advance();
        lex
    }

    fn advance(&mut self) {
        let text = self.text;
        // Whitespace and comments.
        while let Some(&c) = text.get(self.pos) {
            if c == b'#' {
                while text.get(self.pos).is_some_and(|&c| c != b'\n') {
                    self.pos += 1;
                }
            } else if c.is_ascii_whitespace() || c == 0x0B {
                if c == b'\n' {
                    self.line += 1;
                    self.line_start = self.pos + 1;
                }
                self.pos += 1;
            } else {
                break;
            }
        }
        self.at = (self.line, self.pos - self.line_start + 1);
        let start = self.pos;
        let Some(&c) = text.get(start) else {
            self.tok = Tok::End;
            return;
        };
        let word = |from: usize| {
            let mut end = from;
            while text.get(end).is_some_and(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'+' | b'-' | b'.')) {
                end += 1;
            }
            end
        };
        self.tok = if c.is_ascii_alphabetic() || c == b'_' {
            let mut end = start + 1;
            while text.get(end).is_some_and(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'+' | b'-')) {
                end += 1;
            }
            self.pos = end;
            Tok::Ident(std::str::from_utf8(&text[start..end]).unwrap_or_default())
        } else if c.is_ascii_digit()
            || c == b'+'
            || c == b'-'
            || (c == b'.' && text.get(start + 1).is_some_and(u8::is_ascii_digit))
        {
            let end = word(start + 1);
            self.pos = end;
            Tok::Number(std::str::from_utf8(&text[start..end]).unwrap_or_default())
        } else if c == b'"' || c == b'\'' {
            let mut end = start + 1;
            loop {
                match text.get(end) {
                    Some(&b) if b == c => break,
                    Some(b'\\') if text.get(end + 1).is_some_and(|&b| b != b'\n') => end += 2,
                    Some(b'\n') | Some(b'\\') | None => {
                        self.bad = Some("string missing its closing quote");
                        break;
                    }
                    Some(_) => end += 1,
                }
            }
            self.pos = (end + 1).min(text.len());
            Tok::Str(&text[start..self.pos])
        } else {
            self.pos = start + 1;
            Tok::Punct(c)
        };
    }

    fn error(&self, message: impl Into<String>) -> TextError {
        TextError { line: self.at.0, column: self.at.1, message: message.into() }
    }

    fn try_punct(&mut self, c: u8) -> bool {
        if self.tok == Tok::Punct(c) {
            self.advance();
            true
        } else {
            false
        }
    }

    fn punct(&mut self, c: u8) -> TextResult<()> {
        if self.try_punct(c) {
            Ok(())
        } else {
            Err(self.error(format!("expected '{}', found {}", char::from(c), self.describe())))
        }
    }

    fn describe(&self) -> String {
        // Escaped: a message is one line, and a string token may hold line breaks, a stray byte
        // may be a control character.
        match self.tok {
            Tok::Ident(s) | Tok::Number(s) => format!("'{}'", s.escape_debug()),
            Tok::Str(s) => format!("'{}'", String::from_utf8_lossy(s).escape_debug()),
            Tok::Punct(c) => format!("'{}'", char::from(c).escape_debug()),
            Tok::End => "the end of the text".into(),
        }
    }

    /// An identifier or number token's text.
    fn word(&self) -> Option<&'a str> {
        match self.tok {
            Tok::Ident(s) | Tok::Number(s) => Some(s),
            _ => None,
        }
    }
}

struct Parser<'a> {
    lex: Lexer<'a>,
    depth: usize,
    /// A singular scalar given twice: the last wins instead of an error.
    replace_scalars: bool,
}

impl Parser<'_> {
    /// Fields up to `close` (or the end of the text for the top message).
    fn fields(&mut self, msg: &mut Message, close: Option<u8>) -> TextResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.lex.error("messages nested too deeply"));
        }
        loop {
            if let Some(bad) = self.lex.bad {
                return Err(self.lex.error(bad));
            }
            match (self.lex.tok, close) {
                (Tok::End, None) => break,
                (Tok::End, Some(c)) => return Err(self.lex.error(format!("expected '{}'", char::from(c)))),
                (Tok::Punct(c), Some(want)) if c == want => {
                    self.lex.advance();
                    break;
                }
                _ => self.field(msg)?,
            }
        }
        self.depth -= 1;
        Ok(())
    }

    fn field(&mut self, msg: &mut Message) -> TextResult<()> {
        let desc = msg.desc();
        if self.lex.tok == Tok::Punct(b'[') {
            if desc != &ANY {
                return Err(self.lex.error(format!("{} has no extensions", desc.name)));
            }
            self.any(msg)?;
        } else {
            let Tok::Ident(name) = self.lex.tok else {
                return Err(self.lex.error(format!("expected a field name, found {}", self.lex.describe())));
            };
            let index = desc
                .index_of_name(name)
                .ok_or_else(|| self.lex.error(format!("{} has no field named '{name}'", desc.name)))?;
            let field = msg.field_at(index);
            if let Some(other) = field.oneof.and_then(|o| msg.which_oneof(o)).filter(|f| f.number != field.number) {
                return Err(self.lex.error(format!(
                    "field '{}' is given along with '{}', another member of oneof '{}'",
                    field.name,
                    other.name,
                    field.oneof.unwrap_or_default()
                )));
            }
            self.lex.advance();
            if matches!(field.kind, Kind::Message(_)) || field.is_map() {
                self.lex.try_punct(b':');
            } else {
                self.lex.punct(b':')?;
            }
            if !matches!(field.label, Label::Singular) && self.lex.try_punct(b'[') {
                if !self.lex.try_punct(b']') {
                    loop {
                        self.value(msg, index)?;
                        if self.lex.try_punct(b']') {
                            break;
                        }
                        self.lex.punct(b',')?;
                    }
                }
            } else {
                self.value(msg, index)?;
            }
        }
        if !self.lex.try_punct(b',') {
            self.lex.try_punct(b';');
        }
        Ok(())
    }

    /// One value of field `index`: a scalar, a message, or a map entry.
    fn value(&mut self, msg: &mut Message, index: usize) -> TextResult<()> {
        let field = msg.field_at(index);
        let duplicate = || format!("{} should not have multiple '{}' fields", msg.desc().name, field.name);
        match (field.label, field.kind) {
            (Label::Map(key_kind), _) => {
                let close = self.open()?;
                let (key, value) = self.entry(field, key_kind, close)?;
                if let Value::Map(map) = msg.entry(index) {
                    map.insert(key, value);
                }
            }
            (Label::Repeated, Kind::Message(desc)) => {
                let close = self.open()?;
                let mut m = Message::new(desc);
                self.fields(&mut m, Some(close))?;
                if let Value::List(List::Message(list)) = msg.entry(index) {
                    list.push(m);
                }
            }
            (Label::Singular, Kind::Message(desc)) => {
                if msg.get_by_number(field.number).is_some() {
                    return Err(self.lex.error(duplicate()));
                }
                let close = self.open()?;
                let slot = msg.entry(index);
                *slot = Value::from(Message::new(desc));
                if let Value::Message(m) = slot {
                    self.fields(m, Some(close))?;
                }
            }
            (Label::Repeated, kind) => {
                let v = self.scalar(kind)?;
                if let Value::List(list) = msg.entry(index) {
                    let _ = list.push(v);
                }
            }
            (Label::Singular, kind) => {
                if !self.replace_scalars && msg.get_by_number(field.number).is_some() {
                    return Err(self.lex.error(duplicate()));
                }
                let v = self.scalar(kind)?;
                *msg.entry(index) = v;
            }
        }
        Ok(())
    }

    /// `{` or `<`; returns the matching closer.
    fn open(&mut self) -> TextResult<u8> {
        if self.lex.try_punct(b'<') {
            Ok(b'>')
        } else {
            self.lex.punct(b'{')?;
            Ok(b'}')
        }
    }

    /// The body of a map entry after its opening brace.
    fn entry(&mut self, field: &FieldDesc, key_kind: Kind, close: u8) -> TextResult<(MapKey, Value)> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.lex.error("messages nested too deeply"));
        }
        let mut key = None;
        let mut value = None;
        while !self.lex.try_punct(close) {
            if let Some(bad) = self.lex.bad {
                return Err(self.lex.error(bad));
            }
            let name = match self.lex.tok {
                Tok::Ident(name @ ("key" | "value")) => name,
                Tok::End => return Err(self.lex.error(format!("expected '{}'", char::from(close)))),
                _ => return Err(self.lex.error(format!("expected 'key' or 'value', found {}", self.lex.describe()))),
            };
            let taken = if name == "key" { key.is_some() } else { value.is_some() };
            if taken {
                return Err(self.lex.error(format!("map entry of '{}' should not have multiple '{name}'", field.name)));
            }
            self.lex.advance();
            if name == "key" {
                self.lex.punct(b':')?;
                key = Some(self.map_key(key_kind)?);
            } else if let Kind::Message(desc) = field.kind {
                self.lex.try_punct(b':');
                let close = self.open()?;
                let mut m = Message::new(desc);
                self.fields(&mut m, Some(close))?;
                value = Some(Value::from(m));
            } else {
                self.lex.punct(b':')?;
                value = Some(self.scalar(field.kind)?);
            }
            if !self.lex.try_punct(b',') {
                self.lex.try_punct(b';');
            }
        }
        self.depth -= 1;
        Ok((key.unwrap_or_else(|| MapKey::zero(key_kind)), value.unwrap_or_else(|| Value::zero(field.kind))))
    }

    fn map_key(&mut self, kind: Kind) -> TextResult<MapKey> {
        let value = self.scalar(kind)?;
        MapKey::from_value(value).ok_or_else(|| self.lex.error("invalid map key"))
    }

    /// `[prefix/full.Name] { … }` inside an `Any`.
    fn any(&mut self, msg: &mut Message) -> TextResult<()> {
        self.lex.advance();
        let mut url = String::new();
        loop {
            match self.lex.tok {
                Tok::Punct(b']') => break,
                Tok::Ident(s) | Tok::Number(s) => url.push_str(s),
                Tok::Punct(c) if is_type_url_byte(c) => url.push(char::from(c)),
                _ => return Err(self.lex.error(format!("unexpected {} in a type URL", self.lex.describe()))),
            }
            self.lex.advance();
        }
        let (_, name) = split_type_url(&url).map_err(|e| self.lex.error(e))?;
        let desc = find_message(name).ok_or_else(|| self.lex.error(format!("unknown message type '{name}'")))?;
        self.lex.advance();
        self.lex.try_punct(b':');
        let close = self.open()?;
        let mut inner = Message::new(desc);
        self.fields(&mut inner, Some(close))?;
        let fail = |e: crate::error::Error| self.lex.error(e.to_string());
        msg.set("type_url", Value::Bytes(Bytes::from(url.into_bytes()))).map_err(fail)?;
        msg.set("value", Value::Bytes(Bytes::from(binary::encode(&inner)))).map_err(fail)
    }

    fn scalar(&mut self, kind: Kind) -> TextResult<Value> {
        if let Some(bad) = self.lex.bad {
            return Err(self.lex.error(bad));
        }
        let value = match kind {
            Kind::String => return self.text(),
            Kind::Bytes => return self.string().map(Value::Bytes),
            Kind::Int32 => self.int().map(Value::I32),
            Kind::Int64 | Kind::Sint64 => self.int().map(Value::I64),
            Kind::Uint32 | Kind::Fixed32 => self.int().map(Value::U32),
            Kind::Uint64 | Kind::Fixed64 => self.int().map(Value::U64),
            Kind::Float => self.float().map(|v| Value::F32(round_to_f32(v))),
            Kind::Double => self.float().map(Value::F64),
            Kind::Bool => match self.lex.word() {
                Some("true" | "t" | "1" | "True") => Ok(Value::Bool(true)),
                Some("false" | "f" | "0" | "False") => Ok(Value::Bool(false)),
                _ => Err(format!("expected true or false, found {}", self.lex.describe())),
            },
            Kind::Enum(desc) => match self.lex.word() {
                Some(word) => match parse_int(word) {
                    Some(v) => i32::try_from(v).map(Value::Enum).map_err(|_| format!("enum value {word} out of range")),
                    None => desc
                        .number_of(word)
                        .map(Value::Enum)
                        .ok_or_else(|| format!("enum {} has no value named {word}", desc.name)),
                },
                None => Err(format!("expected an enum value, found {}", self.lex.describe())),
            },
            Kind::Message(_) => Err("expected a message".to_string()),
        };
        let value = value.map_err(|m| self.lex.error(m))?;
        self.lex.advance();
        Ok(value)
    }

    /// An integer that must fit `T`.
    fn int<T: TryFrom<i128>>(&self) -> Result<T, String> {
        let word = self.lex.word().ok_or_else(|| format!("expected an integer, found {}", self.lex.describe()))?;
        let v = parse_int(word).ok_or_else(|| format!("'{word}' is not an integer"))?;
        T::try_from(v).map_err(|_| format!("integer {word} out of range"))
    }

    fn float(&self) -> Result<f64, String> {
        let word = self.lex.word().ok_or_else(|| format!("expected a number, found {}", self.lex.describe()))?;
        parse_float(word).ok_or_else(|| format!("'{word}' is not a number"))
    }

    /// The value of a `string` field: as [`string`](Self::string), and valid UTF-8 once joined
    /// (Python's parser refuses anything else, in proto2 messages too).
    fn text(&mut self) -> TextResult<Value> {
        let (line, column) = self.lex.at;
        let text = self.string()?;
        if std::str::from_utf8(&text).is_err() {
            let message = "a string field's value is not valid UTF-8 (raw bytes belong in a bytes field)".into();
            return Err(TextError { line, column, message });
        }
        Ok(Value::Bytes(text))
    }

    /// One or more adjacent quoted strings, unescaped and joined.
    fn string(&mut self) -> TextResult<Bytes> {
        let Tok::Str(_) = self.lex.tok else {
            return Err(self.lex.error(format!("expected a string, found {}", self.lex.describe())));
        };
        let mut out = Vec::new();
        while let Tok::Str(quoted) = self.lex.tok {
            if let Some(bad) = self.lex.bad {
                return Err(self.lex.error(bad));
            }
            unescape(&quoted[1..quoted.len() - 1], &mut out).map_err(|m| self.lex.error(m))?;
            self.lex.advance();
        }
        Ok(Bytes::from(out))
    }
}

/// An integer as Python's text_format reads one: optional sign, then decimal, `0x` hex, `0o`
/// octal, `0b` binary, or C octal (`017`).
fn parse_int(word: &str) -> Option<i128> {
    let (negative, body) = match word.as_bytes().first()? {
        b'-' => (true, &word[1..]),
        b'+' => (false, &word[1..]),
        _ => (false, word),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i128::from_str_radix(digits, radix).ok()?;
    Some(if negative { -v } else { v })
}

/// A float as Python's text_format reads one: what `float()` takes, `inf`/`infinity`/`nan` in
/// any case with an optional `f`, or a number with trailing `f`s. C-octal-looking numbers
/// (`01.5`) are refused.
fn parse_float(word: &str) -> Option<f64> {
    let unsigned = word.strip_prefix('-').unwrap_or(word);
    if unsigned.len() > 1 && unsigned.starts_with('0') && unsigned.as_bytes()[1].is_ascii_digit() {
        return None;
    }
    // Rust's float syntax is Python's float() without underscores (`1e+06`, `.5`, `inf`, `NaN`).
    let plain = |s: &str| s.parse::<f64>().ok();
    if let Some(v) = plain(word) {
        return Some(v);
    }
    let lower = word.to_ascii_lowercase();
    let magnitude = lower.strip_prefix('-').unwrap_or(&lower);
    if matches!(magnitude, "inf" | "inff" | "infinity" | "infinityf") {
        return Some(if lower.starts_with('-') { f64::NEG_INFINITY } else { f64::INFINITY });
    }
    if matches!(lower.as_str(), "nan" | "nanf") {
        return Some(f64::NAN);
    }
    plain(word.trim_end_matches(['f', 'F']))
}

/// Appends the bytes a quoted string (without its quotes) stands for.
fn unescape(s: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = s.get(i) else { return Err("string ends with a backslash".into()) };
        i += 1;
        match e {
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0C),
            b'v' => out.push(0x0B),
            b'\\' | b'\'' | b'"' => out.push(e),
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                let mut n = 1;
                while n < 3 && s.get(i).is_some_and(|c| (b'0'..=b'7').contains(c)) {
                    v = v * 8 + u32::from(s[i] - b'0');
                    i += 1;
                    n += 1;
                }
                out.push(u8::try_from(v).map_err(|_| format!("octal escape \\{v:o} is above \\377"))?);
            }
            b'x' => {
                let n = s[i..].iter().take(2).take_while(|c| c.is_ascii_hexdigit()).count();
                if n == 0 {
                    return Err("\\x without hex digits".into());
                }
                let hex = std::str::from_utf8(&s[i..i + n]).unwrap_or("0");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(0));
                i += n;
            }
            b'u' | b'U' => {
                let n = if e == b'u' { 4 } else { 8 };
                let hex = s.get(i..i + n).and_then(|h| std::str::from_utf8(h).ok());
                let c = hex
                    .filter(|h| h.chars().all(|c| c.is_ascii_hexdigit()))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("invalid \\{} escape", char::from(e)))?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                i += n;
            }
            // Python keeps unknown escapes as they are.
            other => out.extend_from_slice(&[b'\\', other]),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::schema::{ATTR_VALUE, GRAPH_DEF, NODE_DEF, TENSOR_PROTO};

    #[test]
    fn errors_name_line_and_column() {
        let e = parse(&NODE_DEF, b"name: \"a\"\n  nme: \"b\"").unwrap_err();
        assert_eq!((e.line, e.column), (2, 3));
        assert!(e.message.contains("no field named 'nme'"), "{e}");
        let e = parse(&NODE_DEF, b"name: \"a\" name: \"b\"").unwrap_err();
        assert!(e.message.contains("multiple 'name'"), "{e}");
        let e = parse(&ATTR_VALUE, b"i: 1 f: 2").unwrap_err();
        assert!(e.message.contains("oneof"), "{e}");
        let e = parse(&ATTR_VALUE, b"i: 1\nf: \"x").unwrap_err();
        assert_eq!(e.line, 2);
        for bad in [
            &b"name: 'a"[..],
            b"attr { key: 1 }",
            b"attr { key: \"a\" key: \"b\" }",
            b"name {",
            b"device: \"\\400\"",
            b"op: \"\\x\"",
            b"[ext] { }",
            b"name: 3",
            b"}",
        ] {
            assert!(parse(&NODE_DEF, bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        for bad in [&b"version: 2147483648"[..], b"version: 1.0", b"version: 0x", b"versions { producer: 01.5 }"] {
            assert!(parse(&GRAPH_DEF, bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(parse(&TENSOR_PROTO, b"float_val: 01.5").is_err());
        let e = parse(&NODE_DEF, b"name: \"a\"\nattr { key: 'ok\\303' 'x' value { s: '\\377' } }").unwrap_err();
        assert_eq!((e.line, e.column), (2, 13), "{e}");
        assert!(e.message.contains("not valid UTF-8"), "{e}");
        assert!(parse(&NODE_DEF, b"device: \"\\377\"").is_err());
        // Bytes fields take any bytes; a UTF-8 sequence may be split between joined pieces.
        let node = parse(&NODE_DEF, b"name: '\\303' '\\251' attr { key: 's' value { s: '\\377' } }").unwrap();
        assert_eq!(node.bytes("name"), "é".as_bytes());
        assert!(parse(&TENSOR_PROTO, b"dtype: DT_NOPE").is_err());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "args { ".repeat(200) + &"}".repeat(200);
        assert!(parse(&crate::proto::schema::FULL_TYPE_DEF, text.as_bytes()).is_err());
        let text = "args { ".repeat(50) + &"}".repeat(50);
        assert!(parse(&crate::proto::schema::FULL_TYPE_DEF, text.as_bytes()).is_ok());
    }

    #[test]
    fn numbers_parse_like_python() {
        assert_eq!(parse_int("0x1F"), Some(31));
        assert_eq!(parse_int("-017"), Some(-15));
        assert_eq!(parse_int("0o17"), Some(15));
        assert_eq!(parse_int("0b101"), Some(5));
        assert_eq!(parse_int("+5"), Some(5));
        assert_eq!(parse_int("1e5"), None);
        assert_eq!(parse_float("1e+06"), Some(1e6));
        assert_eq!(parse_float("1f"), Some(1.0));
        assert_eq!(parse_float("-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_float("inff"), Some(f64::INFINITY));
        assert!(parse_float("NaNf").is_some_and(f64::is_nan));
        assert_eq!(parse_float("0.5"), Some(0.5));
        assert_eq!(parse_float("0"), Some(0.0));
        assert_eq!(parse_float("0x1"), None);
    }
}
