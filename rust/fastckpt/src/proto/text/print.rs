//! Printing the text format as Python's `text_format.MessageToString` does (layout and escapes
//! drawn in [`super`]).

use std::fmt::Write as _;

use bytes::Bytes;

use crate::proto::binary::{self, MAX_DEPTH};
use crate::proto::message::{Elem, MapKey, Message, Value};
use crate::proto::schema::{find_message, FieldDesc, Kind, Label, ANY};
use crate::proto::wire::{FIXED32, FIXED64, LEN, VARINT};
use crate::varint::get_varint;

use super::parse::{is_type_url_byte, split_type_url};
use super::round_to_f32;

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
        // Only a URL the parser reads back unchanged goes between brackets; any other prints as
        // the plain fields (protobuf would print it expanded, as text no parser accepts).
        let url = msg.bytes("type_url");
        let Some(url) = std::str::from_utf8(url).ok().filter(|u| u.bytes().all(is_type_url_byte)) else { return false };
        let Some(desc) = split_type_url(url).ok().and_then(|(_, name)| find_message(name)) else { return false };
        let value = match msg.get("value") {
            Some(Value::Bytes(b)) => b.clone(),
            _ => Bytes::new(),
        };
        let Ok(inner) = binary::decode(desc, value) else { return false };
        self.pad();
        self.out.push('[');
        self.out.push_str(url);
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

/// absl's `CEscape` (TensorFlow's error messages quote names with it): C escapes for quotes,
/// backslash and control characters, octal for the rest outside printable ASCII — the text
/// format's escaping of bytes.
pub fn c_escape(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len());
    escape(data, false, &mut out);
    out
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
        if round_to_f32(rounded) == v {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::schema::NODE_DEF;
    use crate::proto::text::parse;

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
}
