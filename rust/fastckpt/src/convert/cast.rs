//! Casting floating tensors to a narrower float type, element by element, with the results numpy
//! and `ml_dtypes` give for `array.astype(target)`:
//!
//! - float32 → bfloat16: round to nearest, ties to even; NaN becomes the quiet NaN `0x7FC0` with
//!   the sign kept (Eigen's and `ml_dtypes`' rule); ±inf stays ±inf;
//! - float32/float64 → float16: IEEE round to nearest even (the `half` crate, as numpy's
//!   `npy_floatbits_to_halfbits`); a NaN keeps its sign and the top 10 bits of its payload, and a
//!   payload that would vanish becomes 1 (numpy's rule: NaN stays NaN, signalling stays signalling);
//! - float64 → bfloat16 goes through float32, as `ml_dtypes` does;
//! - float64 → float32: Rust's `as`, which rounds to nearest even.

use rayon::prelude::*;

use crate::dtype::DataType;
use crate::error::{Error, Result};
use crate::pool;

/// Elements converted per task of the thread pool.
const CHUNK_ELEMENTS: usize = 1 << 18;

/// The float types a conversion may cast to.
pub fn check_target(target: DataType) -> Result<()> {
    match target {
        DataType::HALF | DataType::BFLOAT16 | DataType::FLOAT => Ok(()),
        other => Err(Error::InvalidArgument(format!(
            "cannot cast to {}: the targets are float16, bfloat16 and float32",
            other.python_name()
        ))),
    }
}

/// Whether a tensor of `dtype` is cast to `target`: float32 and float64 tensors are, when the
/// target is narrower; every other tensor is kept as it is.
pub fn applies(dtype: DataType, target: DataType) -> bool {
    matches!((dtype, target), (DataType::FLOAT, DataType::HALF | DataType::BFLOAT16) | (DataType::DOUBLE, _))
}

/// A double rounded to the nearest float, as numpy's and Eigen's casts round (a double goes to
/// bfloat16 through float, as Eigen's conversion does).
#[allow(clippy::cast_possible_truncation, reason = "rounding to float is the point")]
fn narrow(v: f64) -> f32 {
    v as f32
}

/// numpy's float16 NaN: `0x7C00` plus the payload's top bits (`significand >> shift`), never inf.
#[allow(clippy::cast_possible_truncation, reason = "the payload is a significand's top 10 bits")]
fn f16_nan(negative: bool, payload: u64) -> u16 {
    let bits = 0x7C00 + payload as u16;
    let bits = if bits == 0x7C00 { bits + 1 } else { bits };
    if negative {
        bits | 0x8000
    } else {
        bits
    }
}

fn f16_from_f32(value: f32) -> u16 {
    let bits = value.to_bits();
    if value.is_nan() {
        return f16_nan(bits >> 31 == 1, u64::from((bits & 0x007F_FFFF) >> 13));
    }
    half::f16::from_f32(value).to_bits()
}

fn f16_from_f64(value: f64) -> u16 {
    let bits = value.to_bits();
    if value.is_nan() {
        return f16_nan(bits >> 63 == 1, (bits & 0x000F_FFFF_FFFF_FFFF) >> 42);
    }
    half::f16::from_f64(value).to_bits()
}

pub fn bf16_from_f32(value: f32) -> u16 {
    let bits = value.to_bits();
    if value.is_nan() {
        return if bits >> 31 == 1 { 0xFFC0 } else { 0x7FC0 };
    }
    let lsb = (bits >> 16) & 1;
    ((bits + 0x7FFF + lsb) >> 16) as u16
}

/// Casts little-endian elements of `from` (float32 or float64) to `to`, in parallel.
pub fn cast(bytes: &[u8], from: DataType, to: DataType) -> Vec<u8> {
    let in_size = if from == DataType::DOUBLE { 8 } else { 4 };
    let out_size = if to == DataType::FLOAT { 4 } else { 2 };
    let count = bytes.len() / in_size;
    let mut out = vec![0u8; count * out_size];
    let convert = |input: &[u8], output: &mut [u8]| {
        for (i, o) in input.chunks_exact(in_size).zip(output.chunks_exact_mut(out_size)) {
            // Each width is converted from its own bits: widening a float32 NaN to float64 first
            // would quieten it on x86 and change the float16 result.
            if in_size == 4 {
                let value = f32::from_le_bytes(i.try_into().unwrap_or_default());
                match to {
                    DataType::HALF => o.copy_from_slice(&f16_from_f32(value).to_le_bytes()),
                    DataType::BFLOAT16 => o.copy_from_slice(&bf16_from_f32(value).to_le_bytes()),
                    _ => o.copy_from_slice(&value.to_le_bytes()),
                }
            } else {
                let value = f64::from_le_bytes(i.try_into().unwrap_or_default());
                match to {
                    DataType::HALF => o.copy_from_slice(&f16_from_f64(value).to_le_bytes()),
                    DataType::BFLOAT16 => o.copy_from_slice(&bf16_from_f32(narrow(value)).to_le_bytes()),
                    _ => o.copy_from_slice(&narrow(value).to_le_bytes()),
                }
            }
        }
    };
    pool::install(|| {
        bytes
            .par_chunks(CHUNK_ELEMENTS * in_size)
            .zip(out.par_chunks_mut(CHUNK_ELEMENTS * out_size))
            .for_each(|(i, o)| convert(i, o))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bfloat16_rounds_to_nearest_even() {
        assert_eq!(bf16_from_f32(1.0), 0x3F80);
        // 1 + 2^-8 is halfway between 1 and the next bfloat16: ties go to the even 1.0.
        assert_eq!(bf16_from_f32(f32::from_bits(0x3F80_8000)), 0x3F80);
        assert_eq!(bf16_from_f32(f32::from_bits(0x3F81_8000)), 0x3F82);
        assert_eq!(bf16_from_f32(f32::from_bits(0x3F80_8001)), 0x3F81);
        assert_eq!(bf16_from_f32(f32::INFINITY), 0x7F80);
        assert_eq!(bf16_from_f32(f32::NEG_INFINITY), 0xFF80);
        assert_eq!(bf16_from_f32(f32::MAX), 0x7F80);
        assert_eq!(bf16_from_f32(f32::from_bits(0xFF80_0001)), 0xFFC0);
    }

    #[test]
    fn float16_from_float32_and_float64() {
        let input: Vec<u8> = [1.0f32, 65520.0, f32::NAN].iter().flat_map(|v| v.to_le_bytes()).collect();
        let out = cast(&input, DataType::FLOAT, DataType::HALF);
        assert_eq!(out, [0x00, 0x3C, 0x00, 0x7C, 0x00, 0x7E]);
        let input: Vec<u8> = 1.0f64.to_le_bytes().to_vec();
        assert_eq!(cast(&input, DataType::DOUBLE, DataType::FLOAT), 1.0f32.to_le_bytes());
        // A signalling NaN whose payload lies below float16's bits stays a NaN (numpy: 0x7C01).
        assert_eq!(f16_from_f32(f32::from_bits(0x7F80_0001)), 0x7C01);
        assert_eq!(f16_from_f64(f64::from_bits(0xFFF8_0000_0000_0000)), 0xFE00);
    }
}
