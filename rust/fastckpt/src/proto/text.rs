//! The protobuf text format (`.pbtxt`, the `checkpoint` file): printed exactly as Python's
//! `text_format.MessageToString` prints it (what `tf.io.write_graph(as_text=True)` writes), and
//! parsed in the general grammar Python's `text_format.Parse` accepts.
//!
//! ```text
//! node {                         message fields: `name {`, two more spaces per level, `}`
//!   name: "a"                    scalars: `name: value`, in field-number order
//!   attr {                       map entries: sorted by key, as `key` / `value` sub-messages
//!     key: "value"
//!     value {
//!       tensor {
//!         dtype: DT_FLOAT        enums by name (numbers the enum does not list as numbers)
//!         float_val: 0.1         floats: the shortest of 6..9 significant digits that gives the
//!       }                        float back; doubles as Python's repr; nan, inf, -inf
//!     }
//!   }
//! }
//! ```
//! Strings: `\n \r \t \" \' \\` escaped, other bytes below 0x20 and 0x7F as three-digit octal;
//! `bytes` fields escape every byte ≥ 0x80 too, `string` fields keep valid non-ASCII UTF-8 (the
//! default of protobuf 4+; [`PrintOptions::ascii`] escapes it). `Any` values whose type is known
//! print expanded: `[type.googleapis.com/tensorflow.X] { … }`. Unknown fields are not printed
//! unless asked for.
//!
//! The parser takes fields in any order, `:` optional before a message, `{}` or `<>`, `#`
//! comments, `,` or `;` after a field, `[a, b]` lists for repeated fields, either quote, adjacent
//! strings joined, C escapes (`\n`, `\ooo`, `\xHH`, `\uHHHH`, `\UHHHHHHHH`), integers in decimal,
//! hex, octal (`0x1F`, `017`, `0o17`), floats like `1e+06`, `.5`, `1f`, `inf`, `-Infinity`,
//! `nan`, bools as `true/false/True/False/t/f/1/0`, enums by name or number, and expanded
//! `Any`s. Like Python's `Parse`, it refuses a singular field given twice and two members of one
//! oneof. Errors name the line and column.

use std::fmt::{self, Write as _};

use bytes::Bytes;

use super::binary::{self, MAX_DEPTH};
use super::message::{Elem, List, MapKey, Message, Value};
use super::schema::{find_message, FieldDesc, Kind, Label, MessageDesc, ANY};
use super::wire::{get_varint, FIXED32, FIXED64, LEN, VARINT};

// ------------------------------------------------------------------------------------------
// Printing

/// Choices that Python's `MessageToString` offers and TensorFlow leaves at their defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct PrintOptions {
    /// Escape non-ASCII UTF-8 in `string` fields as octal (`as_utf8=False`).
    pub ascii: bool,
    /// Print unknown fields by number (`print_unknown_fields=True`).
    pub unknown_fields: bool,
}

/// The text form TensorFlow writes (`text_format.MessageToString` with its defaults).
pub fn print(msg: &Message) -> String {
    print_with(msg, PrintOptions::default())
}

pub fn print_with(msg: &Message, options: PrintOptions) -> String {
    let mut p = Printer { out: String::new(), indent: 0, options };
    p.message(msg);
    p.out
}

struct Printer {
    out: String,
    indent: usize,
    options: PrintOptions,
}

impl Printer {
    fn message(&mut self, msg: &Message) {
        if msg.desc() == &ANY && self.expanded_any(msg) {
            return;
        }
        for (field, value) in msg.fields() {
            match value {
                Value::Map(map) => {
                    let Label::Map(key_kind) = field.label else { continue };
                    let mut entries: Vec<_> = map.iter().collect();
                    entries.sort_by(|a, b| a.0.cmp(b.0));
                    for (key, value) in entries {
                        // An entry prints like a message: a key or scalar value at its default
                        // is left out (unless the map's message is proto2), a message value
                        // never is.
                        self.open(field.name);
                        if field.explicit || *key != MapKey::zero(key_kind) {
                            self.scalar_line("key", key_kind, key.elem(key_kind));
                        }
                        if let Some(e) = value.elem().filter(|e| field.explicit || !is_default(*e)) {
                            self.elem(field, "value", e);
                        }
                        self.close();
                    }
                }
                Value::List(list) => list.iter().for_each(|e| self.elem(field, field.name, e)),
                value => {
                    if let Some(e) = value.elem() {
                        self.elem(field, field.name, e);
                    }
                }
            }
        }
        if self.options.unknown_fields {
            for record in msg.unknown() {
                self.unknown_record(record);
            }
        }
    }

    /// `[type_url] { … }` for an `Any` whose type is described and whose value decodes (and
    /// that is not nested absurdly deep: `Any`s inside `Any`s each restart the decoder's depth).
    fn expanded_any(&mut self, msg: &Message) -> bool {
        if self.indent > 4 * MAX_DEPTH {
            return false;
        }
        let url = msg.bytes("type_url");
        let Some(slash) = url.iter().rposition(|&b| b == b'/') else { return false };
        let Some(desc) = std::str::from_utf8(&url[slash + 1..]).ok().and_then(find_message) else { return false };
        let value = match msg.get("value") {
            Some(Value::Bytes(b)) => b.clone(),
            _ => Bytes::new(),
        };
        let Ok(inner) = binary::decode(desc, value) else { return false };
        self.pad();
        self.out.push('[');
        self.out.push_str(&String::from_utf8_lossy(url));
        self.out.push_str("] {\n");
        self.indent += 2;
        self.message(&inner);
        self.close();
        true
    }

    fn elem(&mut self, field: &FieldDesc, name: &str, e: Elem<'_>) {
        match e {
            Elem::Message(m) => {
                self.open(name);
                self.message(m);
                self.close();
            }
            e => self.scalar_line(name, field.kind, e),
        }
    }

    fn scalar_line(&mut self, name: &str, kind: Kind, e: Elem<'_>) {
        self.pad();
        self.out.push_str(name);
        self.out.push_str(": ");
        self.scalar(kind, e);
        self.out.push('\n');
    }

    fn scalar(&mut self, kind: Kind, e: Elem<'_>) {
        let out = &mut self.out;
        // Writing into a String cannot fail.
        let _ = match e {
            Elem::I32(v) => write!(out, "{v}"),
            Elem::I64(v) => write!(out, "{v}"),
            Elem::U32(v) => write!(out, "{v}"),
            Elem::U64(v) => write!(out, "{v}"),
            Elem::Bool(v) => write!(out, "{v}"),
            Elem::F32(v) => write!(out, "{}", float_text(v)),
            Elem::F64(v) => write!(out, "{}", double_text(v)),
            Elem::Enum(v) => match kind {
                Kind::Enum(desc) => match desc.name_of(v) {
                    Some(name) => write!(out, "{name}"),
                    None => write!(out, "{v}"),
                },
                _ => write!(out, "{v}"),
            },
            Elem::Bytes(b) => {
                out.push('"');
                escape(b, matches!(kind, Kind::String) && !self.options.ascii, out);
                out.push('"');
                Ok(())
            }
            Elem::Message(_) => Ok(()),
        };
    }

    /// An unknown record as Python prints it: by number, a length-delimited payload that parses
    /// as fields shown as a message, else as a string.
    fn unknown_record(&mut self, record: &[u8]) {
        let Ok((tag, n)) = get_varint(record) else { return };
        let body = &record[n..];
        let number = tag >> 3;
        self.pad();
        let _ = write!(self.out, "{number}");
        let _ = match (tag & 7) as u8 {
            VARINT => get_varint(body).map_or(Ok(()), |(v, _)| writeln!(self.out, ": {v}")),
            FIXED64 => writeln!(self.out, ": {}", u64::from_le_bytes(pad8(body))),
            FIXED32 => writeln!(self.out, ": {}", u32::from_le_bytes(pad4(body))),
            LEN => {
                let payload = get_varint(body).ok().and_then(|(_, k)| body.get(k..)).unwrap_or_default();
                match split_records(payload) {
                    Some(records) => {
                        self.out.push_str(" {\n");
                        self.indent += 2;
                        records.into_iter().for_each(|r| self.unknown_record(r));
                        self.close();
                    }
                    None => {
                        self.out.push_str(": \"");
                        escape(payload, false, &mut self.out);
                        self.out.push_str("\"\n");
                    }
                }
                Ok(())
            }
            _ => writeln!(self.out, " {{\n{}}}", " ".repeat(self.indent)),
        };
    }

    fn open(&mut self, name: &str) {
        self.pad();
        self.out.push_str(name);
        self.out.push_str(" {\n");
        self.indent += 2;
    }

    fn close(&mut self) {
        self.indent -= 2;
        self.pad();
        self.out.push_str("}\n");
    }

    fn pad(&mut self) {
        self.out.extend(std::iter::repeat_n(' ', self.indent));
    }
}

/// Whether a scalar is its kind's default (floats by bits: -0.0 is not); messages never are.
fn is_default(e: Elem<'_>) -> bool {
    match e {
        Elem::I32(v) | Elem::Enum(v) => v == 0,
        Elem::I64(v) => v == 0,
        Elem::U32(v) => v == 0,
        Elem::U64(v) => v == 0,
        Elem::Bool(v) => !v,
        Elem::F32(v) => v.to_bits() == 0,
        Elem::F64(v) => v.to_bits() == 0,
        Elem::Bytes(b) => b.is_empty(),
        Elem::Message(_) => false,
    }
}

fn pad8(b: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    let n = b.len().min(8);
    out[..n].copy_from_slice(&b[..n]);
    out
}

fn pad4(b: &[u8]) -> [u8; 4] {
    let mut out = [0u8; 4];
    let n = b.len().min(4);
    out[..n].copy_from_slice(&b[..n]);
    out
}

/// Splits bytes into whole records (tag and payload each); `None` unless they parse completely.
fn split_records(mut data: &[u8]) -> Option<Vec<&[u8]>> {
    let mut records = Vec::new();
    while !data.is_empty() {
        let (tag, mut n) = get_varint(data).ok()?;
        if tag >> 3 == 0 {
            return None;
        }
        n += match (tag & 7) as u8 {
            VARINT => get_varint(&data[n..]).ok()?.1,
            FIXED64 => 8,
            FIXED32 => 4,
            LEN => {
                let (len, k) = get_varint(&data[n..]).ok()?;
                k.checked_add(usize::try_from(len).ok()?)?
            }
            _ => return None,
        };
        let record = data.get(..n)?;
        records.push(record);
        data = &data[n..];
    }
    Some(records)
}

/// C-style escaping as Python's text_format does it. With `utf8`, valid non-ASCII UTF-8 stays as
/// is and only invalid bytes are escaped.
fn escape(data: &[u8], utf8: bool, out: &mut String) {
    let ascii = |b: u8, out: &mut String| match b {
        b'\n' => out.push_str("\\n"),
        b'\r' => out.push_str("\\r"),
        b'\t' => out.push_str("\\t"),
        b'"' => out.push_str("\\\""),
        b'\'' => out.push_str("\\'"),
        b'\\' => out.push_str("\\\\"),
        0x20..=0x7E => out.push(char::from(b)),
        _ => {
            let _ = write!(out, "\\{b:03o}");
        }
    };
    if !utf8 {
        data.iter().for_each(|&b| ascii(b, out));
        return;
    }
    for chunk in data.utf8_chunks() {
        for c in chunk.valid().chars() {
            match u8::try_from(c) {
                Ok(b) if b.is_ascii() => ascii(b, out),
                _ => out.push(c),
            }
        }
        chunk.invalid().iter().for_each(|&b| ascii(b, out));
    }
}

/// A float as Python prints a float field: the value rounded to the fewest significant digits
/// (at least 6) that still gives the same float, shown as Python shows that double.
pub fn float_text(v: f32) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    let exact = f64::from(v);
    for digits in 6..=9 {
        let rounded: f64 = format!("{:.*e}", digits - 1, exact).parse().unwrap_or(exact);
        if rounded as f32 == v {
            return double_text(rounded);
        }
    }
    double_text(exact)
}

/// A double as Python's `repr` shows it: the shortest digits that give the double back, in
/// positional notation for exponents -5 < e < 16 (with `.0` when whole), else `1e-05`, `1e+16`.
pub fn double_text(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // `{:e}` gives the shortest round-trip digits: `-1.2345e-7`.
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-5 < exp) && (exp < 16) {
        let point = exp + 1;
        let (int, frac) = if point <= 0 {
            (String::from("0"), format!("{}{digits}", "0".repeat((-point) as usize)))
        } else {
            let point = point as usize;
            if digits.len() <= point {
                (format!("{digits}{}", "0".repeat(point - digits.len())), String::new())
            } else {
                (digits[..point].to_string(), digits[point..].to_string())
            }
        };
        let frac = if frac.is_empty() { "0".to_string() } else { frac };
        format!("{sign}{int}.{frac}")
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{rest}e{esign}{:02}", exp.unsigned_abs())
    }
}

// ------------------------------------------------------------------------------------------
// Parsing

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
        match self.tok {
            Tok::Ident(s) | Tok::Number(s) => format!("'{s}'"),
            Tok::Str(s) => format!("'{}'", String::from_utf8_lossy(s)),
            Tok::Punct(c) => format!("'{}'", char::from(c)),
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
                Tok::Punct(c) if b"/.~!$&()*+,;=%".contains(&c) => url.push(char::from(c)),
                _ => return Err(self.lex.error(format!("unexpected {} in a type URL", self.lex.describe()))),
            }
            self.lex.advance();
        }
        let (prefix, name) = url.rsplit_once('/').ok_or_else(|| self.lex.error("type URL without '/'"))?;
        if prefix.is_empty() || prefix.starts_with('/') {
            return Err(self.lex.error(format!("invalid type URL prefix '{prefix}'")));
        }
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
            Kind::String | Kind::Bytes => return self.string().map(Value::Bytes),
            Kind::Int32 => self.int(i64::from(i32::MIN), i64::from(i32::MAX)).map(|v| Value::I32(v as i32)),
            Kind::Int64 | Kind::Sint64 => self.int(i64::MIN, i64::MAX).map(|v| Value::I64(v as i64)),
            Kind::Uint32 | Kind::Fixed32 => self.int(0, i64::from(u32::MAX)).map(|v| Value::U32(v as u32)),
            Kind::Uint64 | Kind::Fixed64 => self.int(0, u64::MAX).map(|v| Value::U64(v as u64)),
            Kind::Float => self.float().map(|v| Value::F32(v as f32)),
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

    fn int(&self, min: impl Into<i128>, max: impl Into<i128>) -> Result<i128, String> {
        let word = self.lex.word().ok_or_else(|| format!("expected an integer, found {}", self.lex.describe()))?;
        let v = parse_int(word).ok_or_else(|| format!("'{word}' is not an integer"))?;
        if v < min.into() || v > max.into() {
            return Err(format!("integer {word} out of range"));
        }
        Ok(v)
    }

    fn float(&self) -> Result<f64, String> {
        let word = self.lex.word().ok_or_else(|| format!("expected a number, found {}", self.lex.describe()))?;
        parse_float(word).ok_or_else(|| format!("'{word}' is not a number"))
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
    fn floats_print_as_python_does() {
        let cases: &[(f32, &str)] = &[
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e-7, "1e-07"),
            (1e20, "1e+20"),
            (f32::INFINITY, "inf"),
            (f32::NEG_INFINITY, "-inf"),
            (f32::NAN, "nan"),
            (-0.0, "-0.0"),
            (1e-45, "1.4013e-45"),
            (123456789.0, "123456790.0"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (1.5e-5, "1.5e-05"),
        ];
        for &(v, text) in cases {
            assert_eq!(float_text(v), text, "{v:e}");
        }
        assert_eq!(double_text(1795636091.6588638), "1795636091.6588638");
        assert_eq!(double_text(5e-324), "5e-324");
        assert_eq!(double_text(1.7976931348623157e308), "1.7976931348623157e+308");
        assert_eq!(double_text(123456789012345678.0), "1.2345678901234568e+17");
        assert_eq!(double_text(-12.5), "-12.5");
    }

    #[test]
    fn strings_escape_like_python() {
        let mut out = String::new();
        escape("a\nb\"'\\\u{7f}\u{1}é".as_bytes(), true, &mut out);
        assert_eq!(out, "a\\nb\\\"\\'\\\\\\177\\001é");
        out.clear();
        escape("é\u{ff}".as_bytes(), false, &mut out);
        assert_eq!(out, "\\303\\251\\303\\277");
        out.clear();
        escape(b"ok\xc3", true, &mut out);
        assert_eq!(out, "ok\\303");
    }

    #[test]
    fn prints_nested_messages_and_maps() {
        let node = parse(&NODE_DEF, br#"name: "a" attr { key: "T" value { type: DT_FLOAT } }"#).unwrap();
        let text = print(&node);
        assert_eq!(text, "name: \"a\"\nattr {\n  key: \"T\"\n  value {\n    type: DT_FLOAT\n  }\n}\n");
        assert_eq!(parse(&NODE_DEF, text.as_bytes()).unwrap(), node);
    }

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
