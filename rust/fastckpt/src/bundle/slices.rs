//! Partitioned tensors: the key each stored slice lives under, and copying slices into place.
//!
//! A slice key is built with TensorFlow's order-preserving "OrderedCode":
//! ```text
//! NumIncreasing(0) ‖ String(name) ‖ NumIncreasing(rank) ‖ (Signed(start) ‖ Signed(length))*rank
//! NumIncreasing(u)  length byte, then u big-endian without leading zeros   (0 → 00, 300 → 02 01 2C)
//! String(s)         bytes with 00 → 00 FF and FF → FF 00, then 00 01
//! Signed(v)         1–10 bytes; the count of leading 1-bits (after inverting negatives) gives the
//!                   length: 0 → 80, -1 → 7F, 64 → C0 40, 8192 → E0 20 00
//! ```
//! A full dimension is written as start 0, length -1. Because the key starts with `00`, slice keys
//! sort before every ordinary tensor name.

use std::path::Path;

use crate::error::{display_key, Error, Result};
use crate::proto::TensorSlice;

#[allow(clippy::cast_possible_truncation, reason = "counts of at most 10 bytes")]
fn byte_count(n: usize) -> u8 {
    n as u8
}

fn num_increasing(out: &mut Vec<u8>, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    out.push(byte_count(8 - skip));
    out.extend_from_slice(&bytes[skip..]);
}

fn string(out: &mut Vec<u8>, s: &[u8]) {
    for &b in s {
        match b {
            0x00 => out.extend_from_slice(&[0x00, 0xFF]),
            0xFF => out.extend_from_slice(&[0xFF, 0x00]),
            b => out.push(b),
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
}

/// The header bits that mark a `Signed` encoding of `len` bytes, for its first two bytes.
const SIGNED_HEADERS: [[u8; 2]; 11] = [
    [0, 0],
    [0x80, 0], // unused: one-byte values are handled directly
    [0xC0, 0x00],
    [0xE0, 0x00],
    [0xF0, 0x00],
    [0xF8, 0x00],
    [0xFC, 0x00],
    [0xFE, 0x00],
    [0xFF, 0x00],
    [0xFF, 0x80],
    [0xFF, 0xC0],
];

fn signed(out: &mut Vec<u8>, v: i64) {
    let x = if v >= 0 { v as u64 } else { !v as u64 };
    let len = (1..=10usize).find(|&n| n == 10 || x < 1u64 << (7 * n - 1)).unwrap_or(10);
    if len == 1 {
        out.push(0x80 ^ v.to_be_bytes()[7]); // |v| < 64: its low byte
        return;
    }
    // `v` as a 10-byte big-endian two's-complement number; keep the last `len` bytes.
    let mut wide = [if v < 0 { 0xFF } else { 0x00 }; 10];
    wide[2..].copy_from_slice(&v.to_be_bytes());
    let mut kept = wide[10 - len..].to_vec();
    kept[0] ^= SIGNED_HEADERS[len][0];
    kept[1] ^= SIGNED_HEADERS[len][1];
    out.extend_from_slice(&kept);
}

/// The index key of the slice `slice` of tensor `name`.
pub fn slice_key(name: &[u8], slice: &TensorSlice) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + 8 + 4 * slice.extents.len());
    num_increasing(&mut key, 0);
    string(&mut key, name);
    num_increasing(&mut key, slice.extents.len() as u64);
    for extent in &slice.extents {
        signed(&mut key, extent.start);
        signed(&mut key, extent.length);
    }
    key
}

/// A slice key shown as people know it: `embedding (slice 0,5:-)`, the tensor's name and the
/// slice in TensorFlow's spec notation (`start,length` per dimension, `-` for a full one, joined
/// by `:`). `None` when `key` is not a well-formed slice key.
pub fn describe_slice_key(key: &[u8]) -> Option<String> {
    let mut rest = key.strip_prefix(&[0x00])?;
    // String(name): escaped bytes up to the terminator 00 01.
    let mut name = Vec::new();
    let mut i = 0;
    loop {
        match (*rest.get(i)?, rest.get(i + 1)) {
            (0x00, Some(0x01)) => break,
            (0x00, Some(0xFF)) => name.push(0x00),
            (0xFF, Some(0x00)) => name.push(0xFF),
            (0x00 | 0xFF, _) => return None,
            (b, _) => {
                name.push(b);
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    rest = &rest[i + 2..];
    let (&rank_len, tail) = rest.split_first()?;
    let rank_bytes = tail.get(..usize::from(rank_len)).filter(|_| rank_len <= 8)?;
    let rank = rank_bytes.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
    rest = &tail[rank_bytes.len()..];
    let mut spec = Vec::new();
    for _ in 0..rank {
        let (start, n) = read_signed(rest)?;
        let (length, m) = read_signed(&rest[n..])?;
        rest = &rest[n + m..];
        spec.push(if length == -1 { "-".to_owned() } else { format!("{start},{length}") });
    }
    rest.is_empty().then(|| format!("{} (slice {})", crate::error::display_key(&name), spec.join(":")))
}

/// Decodes one `Signed` value; returns it and the bytes it took. A negative value is the bitwise
/// complement of a positive encoding, whose leading 1-bits count its bytes.
fn read_signed(bytes: &[u8]) -> Option<(i64, usize)> {
    let negative = bytes.first()? & 0x80 == 0;
    let plain = |b: u8| if negative { !b } else { b };
    let mut len = plain(bytes[0]).leading_ones() as usize;
    if len == 8 {
        len += plain(*bytes.get(1)?).leading_ones() as usize;
    }
    let raw = bytes.get(..len).filter(|_| (1..=10).contains(&len))?;
    let bits = raw.iter().fold(0u128, |acc, &b| acc << 8 | u128::from(plain(b)));
    let magnitude = u64::try_from(bits & ((1u128 << (7 * len)) - 1)).ok().filter(|&x| x <= i64::MAX as u64)?;
    let x = magnitude as i64;
    Some((if negative { !x } else { x }, len))
}

/// A slice resolved against the full shape: per dimension `(start, length)`, all in bounds.
pub fn resolve(slice: &TensorSlice, full_dims: &[usize]) -> Result<Vec<(usize, usize)>, String> {
    if slice.extents.len() != full_dims.len() {
        return Err(format!("slice has {} extents for a tensor of rank {}", slice.extents.len(), full_dims.len()));
    }
    slice
        .extents
        .iter()
        .zip(full_dims)
        .map(|(extent, &dim)| {
            let (start, length) = extent.resolve(dim as i64);
            let fits = usize::try_from(start).ok().zip(usize::try_from(length).ok());
            match fits.filter(|&(s, l)| s.checked_add(l).is_some_and(|end| end <= dim)) {
                Some(region) => Ok(region),
                None => Err(format!("slice extent {start},{length} does not fit a dimension of {dim}")),
            }
        })
        .collect()
}

/// TensorFlow's spelling of a slice (`TensorSlice::DebugString`): `start,length` per dimension,
/// `-` for a whole one, joined by `:` — e.g. `0,2:-`.
pub fn spec(slice: &TensorSlice) -> String {
    let extents: Vec<String> = slice
        .extents
        .iter()
        .map(|e| if e.is_full() { "-".to_string() } else { format!("{},{}", e.start, e.length) })
        .collect();
    extents.join(":")
}

/// A resolved region in TensorFlow's slice spelling (`start,length` per dimension, `:`-joined).
pub fn region_spec(region: &[(usize, usize)]) -> String {
    region.iter().map(|(start, len)| format!("{start},{len}")).collect::<Vec<_>>().join(":")
}

/// TensorFlow's refusal (InvalidArgument) of a read of `spec` (its slice spelling) that the
/// stored slices of partitioned tensor `key` in `path` do not cover: no corruption, the checkpoint
/// holds part of the tensor only (one shard of a sharded save). `detail` follows TF's words.
pub fn insufficient(path: &Path, key: &[u8], spec: &str, detail: &str) -> Error {
    Error::Refused {
        path: path.to_path_buf(),
        detail: format!(
            "Does not have sufficient slices for partitioned tensor {} to restore in slice_spec: {spec}{detail}",
            display_key(key)
        ),
    }
}

/// The element count of the box `region` (per dimension `(start, length)`) of tensor `key` of
/// shape `dims`, which a read fills into a buffer of `out_len` bytes of `element`-byte elements:
/// refused unless the box lies inside the tensor and the buffer has exactly its size.
pub fn checked_region(
    key: &[u8],
    region: &[(usize, usize)],
    dims: &[usize],
    element: usize,
    out_len: usize,
) -> Result<usize> {
    let fits = region.len() == dims.len()
        && region.iter().zip(dims).all(|(&(start, len), &dim)| start.checked_add(len).is_some_and(|end| end <= dim));
    let count = region.iter().try_fold(1usize, |acc, &(_, len)| acc.checked_mul(len));
    let Some(count) = count.filter(|_| fits) else {
        return Err(Error::InvalidArgument(format!(
            "slice {} does not fit tensor '{}' of shape {dims:?}",
            region_spec(region),
            display_key(key)
        )));
    };
    if Some(out_len) != count.checked_mul(element) {
        return Err(Error::InvalidArgument(format!(
            "slice {} of tensor '{}' needs {} bytes, the buffer has {out_len}",
            region_spec(region),
            display_key(key),
            count.saturating_mul(element)
        )));
    }
    Ok(count)
}

/// Whether two resolved slices of one tensor share an element.
pub fn overlap(a: &[(usize, usize)], b: &[(usize, usize)]) -> bool {
    a.iter().zip(b).all(|(&(a0, an), &(b0, bn))| a0 < b0.saturating_add(bn) && b0 < a0.saturating_add(an))
}

/// TensorFlow's message for two stored slices that share elements (`TensorSliceSet::Register`).
pub fn overlap_error(existing: &TensorSlice, new: &TensorSlice) -> String {
    format!("Overlapping slices: existing slice = {}, new slice = {}", spec(existing), spec(new))
}

/// Calls `f(src, dst, len)` for every contiguous row of `region` (in element units): `src`
/// counts through the slice's own row-major data, `dst` is the position in the full tensor.
pub fn for_each_row(full_dims: &[usize], region: &[(usize, usize)], f: impl FnMut(usize, usize, usize)) {
    let whole: Vec<(usize, usize)> = full_dims.iter().map(|&dim| (0, dim)).collect();
    for_each_run(region, &whole, f);
}

/// Calls `f(src, dst, len)` for every contiguous row of the intersection of two boxes of one
/// tensor, each given per dimension as `(start, length)` in the tensor's coordinates: `src` and
/// `dst` are element positions in the row-major data of `src_box` and of `dst_box`. This is how a
/// stored slice is copied into a wanted one, whatever the two slicings:
///
/// ```text
///   src_box rows 0..4     ┌──────┐
///   dst_box rows 2..6     │ src  │   rows 2..4 of the tensor: src rows 2,3 → dst rows 0,1
///                         │  ┌───┼──┐
///                         └──┼───┘  │
///                            └──────┘
/// ```
pub fn for_each_run(src_box: &[(usize, usize)], dst_box: &[(usize, usize)], mut f: impl FnMut(usize, usize, usize)) {
    let rank = src_box.len().min(dst_box.len());
    if rank == 0 {
        f(0, 0, 1);
        return;
    }
    let common: Vec<(usize, usize)> = src_box
        .iter()
        .zip(dst_box)
        .map(|(&(a, an), &(b, bn))| {
            let start = a.max(b);
            (start, a.saturating_add(an).min(b.saturating_add(bn)).saturating_sub(start))
        })
        .collect();
    if common.iter().any(|&(_, len)| len == 0) {
        return;
    }
    let strides = |bx: &[(usize, usize)]| {
        let mut strides = vec![1usize; rank];
        for d in (0..rank - 1).rev() {
            strides[d] = strides[d + 1] * bx[d + 1].1;
        }
        strides
    };
    let (src_strides, dst_strides) = (strides(src_box), strides(dst_box));
    let row = common[rank - 1].1;
    // Position inside `common` of the current row; the last dimension stays 0.
    let mut index = vec![0usize; rank];
    loop {
        let (mut src, mut dst) = (0, 0);
        for d in 0..rank {
            let at = common[d].0 + index[d];
            src += (at - src_box[d].0) * src_strides[d];
            dst += (at - dst_box[d].0) * dst_strides[d];
        }
        f(src, dst, row);
        // Advance the odometer over the leading dimensions.
        let mut d = rank - 1;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            index[d] += 1;
            if index[d] < common[d].1 {
                break;
            }
            index[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Extent;

    fn enc(v: i64) -> Vec<u8> {
        let mut out = Vec::new();
        signed(&mut out, v);
        out
    }

    #[test]
    fn signed_golden() {
        assert_eq!(enc(0), [0x80]);
        assert_eq!(enc(2), [0x82]);
        assert_eq!(enc(-1), [0x7F]);
        assert_eq!(enc(63), [0xBF]);
        assert_eq!(enc(-64), [0x40]);
        assert_eq!(enc(64), [0xC0, 0x40]);
        assert_eq!(enc(275), [0xC1, 0x13]);
        assert_eq!(enc(8191), [0xDF, 0xFF]);
        assert_eq!(enc(8192), [0xE0, 0x20, 0x00]);
        assert_eq!(enc(-65), [0x3F, 0xBF]);
        assert_eq!(enc(1 << 40), [0xFD, 0, 0, 0, 0, 0]);
        assert_eq!(enc(1 << 55), [0xFF, 0x80, 0x80, 0, 0, 0, 0, 0, 0]);
        assert_eq!(enc(1 << 62), [0xFF, 0xC0, 0x40, 0, 0, 0, 0, 0, 0, 0]);
    }

    fn s(extents: &[(i64, i64)]) -> TensorSlice {
        TensorSlice { extents: extents.iter().map(|&(start, length)| Extent { start, length }).collect() }
    }

    #[test]
    fn key_golden() {
        assert_eq!(
            slice_key(b"part", &s(&[(0, 2), (0, -1)])),
            [0x00, 0x70, 0x61, 0x72, 0x74, 0x00, 0x01, 0x01, 0x02, 0x80, 0x82, 0x80, 0x7F]
        );
        assert_eq!(
            slice_key(b"a\0b\xFFc", &s(&[(0, 2)])),
            [0x00, 0x61, 0x00, 0xFF, 0x62, 0xFF, 0x00, 0x63, 0x00, 0x01, 0x01, 0x01, 0x80, 0x82]
        );
        assert_eq!(
            slice_key(b"t0", &s(&[(1 << 40, 10), (0, -1)])),
            [0x00, 0x74, 0x30, 0x00, 0x01, 0x01, 0x02, 0xFD, 0, 0, 0, 0, 0, 0x8A, 0x80, 0x7F]
        );
    }

    #[test]
    fn slice_keys_described() {
        assert_eq!(describe_slice_key(&slice_key(b"part", &s(&[(0, 2), (0, -1)]))).unwrap(), "part (slice 0,2:-)");
        let wide = s(&[(1 << 40, 10), (8192, -1), (-65, 1 << 62)]);
        assert_eq!(
            describe_slice_key(&slice_key(b"a\0b\xFFc", &wide)).unwrap(),
            format!("a\\x00b\\xffc (slice {},10:-:-65,{})", 1i64 << 40, 1i64 << 62)
        );
        for v in [0, 1, -1, 63, -64, 64, -65, 8191, 8192, i64::MAX, i64::MIN + 1, i64::MIN] {
            assert_eq!(read_signed(&enc(v)), Some((v, enc(v).len())), "{v}");
        }
        assert_eq!(describe_slice_key(b"embedding"), None);
        assert_eq!(describe_slice_key(b"\x00part\x00\x01\x01\x01\x80"), None);
        let key = slice_key(b"p", &s(&[(0, 2)]));
        assert_eq!(describe_slice_key(&[key.as_slice(), b"x"].concat()), None);
    }

    #[test]
    fn specs_and_overlaps() {
        assert_eq!(spec(&s(&[(0, 2), (0, -1)])), "0,2:-");
        assert_eq!(spec(&s(&[])), "");
        assert!(overlap(&[(0, 2), (0, 3)], &[(1, 2), (2, 1)]));
        assert!(!overlap(&[(0, 2), (0, 3)], &[(2, 2), (0, 3)]), "adjacent rows");
        assert!(!overlap(&[(0, 4), (0, 1)], &[(0, 4), (1, 2)]), "adjacent columns");
        assert!(!overlap(&[(0, 0)], &[(0, 4)]), "empty");
        assert_eq!(
            overlap_error(&s(&[(0, 2), (0, -1)]), &s(&[(1, 2), (0, -1)])),
            "Overlapping slices: existing slice = 0,2:-, new slice = 1,2:-"
        );
    }

    #[test]
    fn rows() {
        let mut rows = Vec::new();
        for_each_row(&[4, 6], &[(1, 2), (2, 3)], |s, d, n| rows.push((s, d, n)));
        assert_eq!(rows, [(0, 8, 3), (3, 14, 3)]);
        assert!(resolve(&s(&[(3, 2)]), &[4]).is_err());
        assert_eq!(resolve(&s(&[(0, -1), (1, 2)]), &[4, 3]), Ok(vec![(0, 4), (1, 2)]));
    }

    #[test]
    fn runs_between_two_slicings() {
        let mut runs = Vec::new();
        // Rows 0..4 of an [8, 3] tensor stored whole-width; wanted: rows 2..6, columns 1..3.
        for_each_run(&[(0, 4), (0, 3)], &[(2, 4), (1, 2)], |s, d, n| runs.push((s, d, n)));
        assert_eq!(runs, [(7, 0, 2), (10, 2, 2)]);
        runs.clear();
        for_each_run(&[(0, 2), (0, 3)], &[(2, 4), (0, 3)], |s, d, n| runs.push((s, d, n)));
        assert!(runs.is_empty(), "disjoint boxes share no run");
        for_each_run(&[], &[], |s, d, n| runs.push((s, d, n)));
        assert_eq!(runs, [(0, 0, 1)], "a scalar is one run of one element");
    }
}
