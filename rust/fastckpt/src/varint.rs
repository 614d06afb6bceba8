//! Base-128 varints, as protobuf messages and the index's SSTable (block entries, block handles)
//! both use them, and the bundle for string and variant lengths.
//!
//! ```text
//! 300 = 0b10_0101100  →  1010_1100 0000_0010   7 bits a byte, low group first,
//!                        ^ more     ^ last      bit 7 set on every byte but the last; ≤ 10 bytes
//! ```

/// Why bytes are not a varint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VarintError(pub &'static str);

/// Appends `v` as a varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(low_seven_bits(v) | 0x80);
        v >>= 7;
    }
    out.push(low_seven_bits(v));
}

#[allow(clippy::cast_possible_truncation, reason = "masked to 7 bits")]
fn low_seven_bits(v: u64) -> u8 {
    (v & 0x7F) as u8
}

/// How many bytes `put_varint` takes for `v`.
pub fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Decodes a varint at the start of `buf`, returning the value and the bytes used. Inlined for
/// the one-byte case (tags, dtypes, small dims: most varints of an index or a graph).
#[inline]
pub fn get_varint(buf: &[u8]) -> Result<(u64, usize), VarintError> {
    match buf.first() {
        Some(&b) if b < 0x80 => Ok((u64::from(b), 1)),
        _ => get_long_varint(buf),
    }
}

fn get_long_varint(buf: &[u8]) -> Result<(u64, usize), VarintError> {
    let mut v: u64 = 0;
    for (i, &b) in buf.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7F) << (7 * i);
        if b < 0x80 {
            if i == 9 && b > 1 {
                return Err(VarintError("varint overflows 64 bits"));
            }
            return Ok((v, i + 1));
        }
    }
    Err(VarintError(if buf.len() < 10 { "truncated varint" } else { "varint longer than 10 bytes" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refusals() {
        for v in [0u64, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v));
            assert_eq!(get_varint(&b), Ok((v, b.len())));
        }
        let mut b = Vec::new();
        put_varint(&mut b, 300);
        assert_eq!(b, [0xAC, 0x02]);
        assert!(get_varint(&[0x80, 0x80]).is_err());
        assert!(get_varint(&[0xFF; 11]).is_err());
        assert!(get_varint(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02]).is_err());
    }
}
