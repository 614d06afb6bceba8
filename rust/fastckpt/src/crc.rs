//! CRC-32C (Castagnoli) as stored in every checkpoint file: always *masked*, so that a CRC computed
//! over data that itself contains CRCs does not degenerate.
//!
//! ```text
//! mask(c)   = rotate_right(c, 15) + 0xA282EAD8
//! unmask(m) = rotate_left(m - 0xA282EAD8, 15)
//! ```

use rayon::prelude::*;

use crate::pool;

const MASK_DELTA: u32 = 0xA282_EAD8;

/// Below this size a buffer is checksummed on the calling thread; above it, in parallel chunks.
const PARALLEL_CHUNK: usize = 8 << 20;

pub fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

pub fn unmask(masked: u32) -> u32 {
    masked.wrapping_sub(MASK_DELTA).rotate_left(15)
}

/// crc32c of `data` (unmasked).
pub fn value(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}

/// Continues `crc` over more bytes: `extend(value(a), b) == value(a ‖ b)`.
pub fn extend(crc: u32, data: &[u8]) -> u32 {
    crc32c::crc32c_append(crc, data)
}

/// crc32c of a large buffer, computed in chunks on all cores and combined.
pub fn value_parallel(data: &[u8]) -> u32 {
    if data.len() <= PARALLEL_CHUNK {
        return value(data);
    }
    pool::install(|| data.par_chunks(PARALLEL_CHUNK).map(|chunk| (value(chunk), chunk.len())).collect::<Vec<_>>())
        .into_iter()
        .fold(0, |acc, (crc, len)| crc32c::crc32c_combine(acc, crc, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values() {
        assert_eq!(value(b"123456789"), 0xE306_9283);
        assert_eq!(value(b""), 0);
        assert_eq!(mask(0), 0xA282_EAD8);
        assert_eq!(mask(value(b"a")), 0x28E4_6E78);
        assert_eq!(unmask(mask(0xDEAD_BEEF)), 0xDEAD_BEEF);
        assert_eq!(extend(value(b"1234"), b"56789"), value(b"123456789"));
    }

    #[test]
    fn parallel_matches_serial() {
        let data: Vec<u8> = (0..(PARALLEL_CHUNK * 3 + 12345)).map(|i| (i * 31 % 251).to_le_bytes()[0]).collect();
        assert_eq!(value_parallel(&data), value(&data));
    }
}
