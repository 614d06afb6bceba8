//! DT_STRING tensor data and its two checksums.
//!
//! ```text
//! varint64 len[0] … len[n-1]     element lengths
//! fixed32  mask(C1)              C1 = crc32c of the lengths, each as a u32 (u64 if it does not
//!                                fit) in the bundle's byte order — not of the varint bytes
//! bytes    elem[0] ‖ … ‖ elem[n-1]
//! ```
//! The entry's crc32c is `mask(C)` with `C = extend(extend(C1, stored checksum bytes), elements)`.
//! `["ab", ""]` is `02 00 | 78 27 0B 34 | 61 62`.

use crate::crc;
use crate::varint::{get_varint, put_varint};

/// Why element data (strings here, variants in [`super::variant`]) could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElementsError {
    /// The layout is broken: lengths that lie, data that ends early.
    Malformed(String),
    /// The bytes are laid out fine but do not match the stored checksum (unmasked values).
    Checksum { stored: u32, computed: u32 },
}

impl From<String> for ElementsError {
    fn from(detail: String) -> Self {
        ElementsError::Malformed(detail)
    }
}

impl From<&str> for ElementsError {
    fn from(detail: &str) -> Self {
        ElementsError::Malformed(detail.to_owned())
    }
}

fn length_bytes(len: u64, big_endian: bool) -> ([u8; 8], usize) {
    let mut out = [0u8; 8];
    match (u32::try_from(len), big_endian) {
        (Ok(short), false) => out[..4].copy_from_slice(&short.to_le_bytes()),
        (Ok(short), true) => out[..4].copy_from_slice(&short.to_be_bytes()),
        (Err(_), false) => out.copy_from_slice(&len.to_le_bytes()),
        (Err(_), true) => out.copy_from_slice(&len.to_be_bytes()),
    }
    (out, if u32::try_from(len).is_ok() { 4 } else { 8 })
}

/// Serializes string elements (little-endian); returns the bytes and the masked entry crc32c.
pub fn encode<'a>(elements: impl Iterator<Item = &'a [u8]> + Clone) -> (Vec<u8>, u32) {
    let total: usize = elements.clone().map(|e| e.len() + 10).sum::<usize>() + 4;
    let mut out = Vec::with_capacity(total);
    let mut c1 = 0u32;
    for e in elements.clone() {
        put_varint(&mut out, e.len() as u64);
        let (bytes, width) = length_bytes(e.len() as u64, false);
        c1 = crc::extend(c1, &bytes[..width]);
    }
    let stored = crc::mask(c1).to_le_bytes();
    out.extend_from_slice(&stored);
    let mut c = crc::extend(c1, &stored);
    for e in elements {
        out.extend_from_slice(e);
        c = crc::extend(c, e);
    }
    (out, crc::mask(c))
}

/// Parses `n` string elements from `data`. With `expected_crc` (masked) the entry checksum is
/// verified too; the length checksum is always verified. Errors say what is wrong, without the
/// file and key, which the caller adds.
pub fn decode(
    data: &[u8],
    n: usize,
    big_endian: bool,
    expected_crc: Option<u32>,
) -> Result<Vec<Vec<u8>>, ElementsError> {
    if data.is_empty() {
        return if n == 0 { Ok(Vec::new()) } else { Err(format!("no data for {n} string elements").into()) };
    }
    // Every element needs at least its one-byte length, so a count beyond the data is a lie.
    if n > data.len() {
        return Err(format!("{n} string elements cannot fit in {} bytes", data.len()).into());
    }
    let mut lengths = Vec::with_capacity(n);
    let mut pos = 0;
    let mut c1 = 0u32;
    for _ in 0..n {
        let (len, used) = get_varint(&data[pos..])
            .map_err(|_| format!("string lengths run past the end of the {}-byte tensor data", data.len()))?;
        pos += used;
        let (bytes, width) = length_bytes(len, big_endian);
        c1 = crc::extend(c1, &bytes[..width]);
        lengths.push(len);
    }
    let stored: [u8; 4] = data
        .get(pos..pos + 4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "string data ends before its length checksum".to_string())?;
    pos += 4;
    let stored_c1 = if big_endian { u32::from_be_bytes(stored) } else { u32::from_le_bytes(stored) };
    if crc::unmask(stored_c1) != c1 {
        return Err(format!(
            "the length checksum does not match: expected {:#010x} but actual is {c1:#010x}",
            crc::unmask(stored_c1)
        )
        .into());
    }
    let mut c = crc::extend(c1, &stored);
    let mut elements = Vec::with_capacity(n);
    for len in lengths {
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| pos.checked_add(l))
            .filter(|&end| end <= data.len())
            .ok_or_else(|| format!("string lengths add up to more than the {} bytes stored", data.len()))?;
        let element = &data[pos..end];
        if expected_crc.is_some() {
            c = crc::extend(c, element);
        }
        elements.push(element.to_vec());
        pos = end;
    }
    if let Some(expected) = expected_crc {
        if crc::mask(c) != expected {
            return Err(ElementsError::Checksum { stored: crc::unmask(expected), computed: c });
        }
    }
    Ok(elements)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden() {
        let elems: [&[u8]; 2] = [b"ab", b""];
        let (bytes, _) = encode(elems.iter().copied());
        assert_eq!(bytes, [0x02, 0x00, 0x78, 0x27, 0x0B, 0x34, 0x61, 0x62]);
        // testdata.md §3.6: the empty string tensor still has its checksum.
        let (bytes, entry_crc) = encode(std::iter::empty());
        assert_eq!(bytes, [0xD8, 0xEA, 0x82, 0xA2]);
        assert_eq!(entry_crc.to_le_bytes(), [0xF6, 0xC1, 0x0C, 0x64]);
        // testdata.md §3.8: ["ab", "", "xyz"].
        let three: [&[u8]; 3] = [b"ab", b"", b"xyz"];
        let (bytes, crc32c) = encode(three.iter().copied());
        assert_eq!(bytes, [0x02, 0x00, 0x03, 0x1B, 0x42, 0x8B, 0xCA, 0x61, 0x62, 0x78, 0x79, 0x7A]);
        assert_eq!(decode(&bytes, 3, false, Some(crc32c)).unwrap(), vec![b"ab".to_vec(), vec![], b"xyz".to_vec()]);
    }

    #[test]
    fn lies_are_refused() {
        let three: [&[u8]; 3] = [b"ab", b"", b"xyz"];
        let (mut bytes, crc32c) = encode(three.iter().copied());
        assert!(decode(&bytes, 1_000_000, false, None).is_err());
        assert!(decode(&bytes, 4, false, None).is_err());
        bytes[0] = 0x7F;
        assert!(decode(&bytes, 3, false, Some(crc32c)).is_err());
    }
}
