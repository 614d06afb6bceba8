//! numpy's `.npy` header, the part of each npz member before the raw array bytes:
//!
//! ```text
//! \x93NUMPY  major minor  header_len (u16 LE in 1.0, u32 LE in 2.0/3.0)
//! {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }   spaces…\n
//! ```
//!
//! The whole preamble is padded to a multiple of 64 bytes, so the data that follows is aligned.
//! Only the dtypes numpy has natively are mapped; C order only.

use crate::dtype::DataType;

const MAGIC: &[u8] = b"\x93NUMPY";
const ALIGN: usize = 64;

/// The `descr` of a dtype (`None` for dtypes numpy cannot hold without extensions: bfloat16,
/// float8, int4, strings, quantized types, variants).
pub fn descr(dtype: DataType) -> Option<&'static str> {
    Some(match dtype {
        DataType::BOOL => "|b1",
        DataType::UINT8 => "|u1",
        DataType::INT8 => "|i1",
        DataType::INT16 => "<i2",
        DataType::UINT16 => "<u2",
        DataType::HALF => "<f2",
        DataType::INT32 => "<i4",
        DataType::UINT32 => "<u4",
        DataType::FLOAT => "<f4",
        DataType::INT64 => "<i8",
        DataType::UINT64 => "<u8",
        DataType::DOUBLE => "<f8",
        DataType::COMPLEX64 => "<c8",
        DataType::COMPLEX128 => "<c16",
        _ => return None,
    })
}

fn dtype_of(descr: &str) -> Option<DataType> {
    // `=` (native) and `<` are the same on the little-endian hosts we build for; one-byte types may
    // be written with any order character.
    let normalized = match descr.as_bytes().first() {
        Some(b'|' | b'<' | b'=') => &descr[1..],
        _ => return None,
    };
    [
        DataType::BOOL,
        DataType::UINT8,
        DataType::INT8,
        DataType::INT16,
        DataType::UINT16,
        DataType::HALF,
        DataType::INT32,
        DataType::UINT32,
        DataType::FLOAT,
        DataType::INT64,
        DataType::UINT64,
        DataType::DOUBLE,
        DataType::COMPLEX64,
        DataType::COMPLEX128,
    ]
    .into_iter()
    .find(|&t| descr_of_body(t) == Some(normalized))
}

fn descr_of_body(dtype: DataType) -> Option<&'static str> {
    descr(dtype).map(|d| &d[1..])
}

/// The preamble (magic through padding) for an array of `dtype` and `shape`.
pub fn header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims = match shape {
        [one] => format!("({one},)"),
        dims => format!("({})", dims.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
    };
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}");
    // Version 1.0 holds a header of up to 65535 bytes; 2.0 has a 4-byte length.
    let (version, len_bytes) = if dict.len() + 1 + MAGIC.len() + 4 < 65536 { (1u8, 2) } else { (2u8, 4) };
    let preamble = MAGIC.len() + 2 + len_bytes;
    let total = (preamble + dict.len() + 1).next_multiple_of(ALIGN);
    let header_len = total - preamble;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    if len_bytes == 2 {
        // Version 1.0 was chosen above only for headers that fit 16 bits.
        out.extend_from_slice(&u16::try_from(header_len).unwrap_or(u16::MAX).to_le_bytes());
    } else {
        out.extend_from_slice(&u32::try_from(header_len).unwrap_or(u32::MAX).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    out
}

/// What a member's header says.
#[derive(Debug, PartialEq, Eq)]
pub struct ArrayHeader {
    pub dtype: DataType,
    pub shape: Vec<usize>,
    /// Bytes from the start of the member to the array data.
    pub data_offset: usize,
}

/// Parses the header at the start of `member`.
pub fn parse(member: &[u8]) -> Result<ArrayHeader, String> {
    if !member.starts_with(MAGIC) || member.len() < MAGIC.len() + 4 {
        return Err("not a .npy array (no \\x93NUMPY magic)".into());
    }
    let major = member[MAGIC.len()];
    let (len, start) = match major {
        1 => (u16::from_le_bytes([member[8], member[9]]) as usize, 10usize),
        2 | 3 if member.len() >= 12 => {
            (u32::from_le_bytes([member[8], member[9], member[10], member[11]]) as usize, 12)
        }
        _ => return Err(format!(".npy format version {major} is not supported")),
    };
    let end = start.checked_add(len).filter(|&e| e <= member.len()).ok_or("the .npy header runs past the member")?;
    let text = std::str::from_utf8(&member[start..end]).map_err(|_| "the .npy header is not text")?;
    let descr = quoted_value(text, "descr").ok_or("the .npy header has no 'descr' string")?;
    let dtype = dtype_of(descr).ok_or_else(|| format!("numpy dtype '{descr}' is not supported"))?;
    match literal_value(text, "fortran_order") {
        Some(v) if v.starts_with("False") => {}
        Some(v) if v.starts_with("True") => return Err("Fortran-ordered arrays are not supported".into()),
        _ => return Err("the .npy header has no 'fortran_order'".into()),
    }
    let shape_text = literal_value(text, "shape")
        .and_then(|v| v.strip_prefix('('))
        .and_then(|v| v.split_once(')'))
        .map(|(inside, _)| inside)
        .ok_or("the .npy header has no 'shape' tuple")?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse::<usize>().map_err(|_| format!("bad dimension '{d}' in the .npy shape")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ArrayHeader { dtype, shape, data_offset: end })
}

/// The text after `'key':`, leading spaces skipped.
fn literal_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let at = text.find(&format!("'{key}'"))? + key.len() + 2;
    Some(text[at..].trim_start().strip_prefix(':')?.trim_start())
}

fn quoted_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let value = literal_value(text, key)?;
    let quote = value.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    value[1..].split(quote).next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_padded_and_parses_back() {
        for shape in [vec![], vec![5], vec![2, 3, 4]] {
            let h = header("<f4", &shape);
            assert_eq!(h.len() % 64, 0);
            assert_eq!(*h.last().unwrap(), b'\n');
            let parsed = parse(&h).unwrap();
            assert_eq!(parsed, ArrayHeader { dtype: DataType::FLOAT, shape, data_offset: h.len() });
        }
        assert!(header("|b1", &[5])[10..].starts_with(b"{'descr': '|b1', 'fortran_order': False, 'shape': (5,), }   "));
    }

    #[test]
    fn refuses_what_it_cannot_map() {
        let member =
            |dict: &str| [MAGIC, &[1, 0], &u16::try_from(dict.len()).unwrap().to_le_bytes(), dict.as_bytes()].concat();
        let fortran = member("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }");
        assert!(parse(&fortran).unwrap_err().contains("Fortran"));
        let big = member("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }");
        assert!(parse(&big).unwrap_err().contains(">f4"));
        assert!(parse(b"PK\x03\x04").is_err());
    }
}
