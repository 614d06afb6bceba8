//! The values of a `TensorProto` (a Const node's `value`, a signature's default): what
//! `tf.make_ndarray` and TensorFlow's C++ `Tensor::FromProto` read out of it.
//!
//! ```text
//! TensorProto { dtype: DT_FLOAT, tensor_shape { dim { size: 2 } dim { size: 3 } },
//!               tensor_content: 00 00 80 3F … (24 bytes) }   raw row-major elements, little-endian
//!             | float_val: [1, 2]                             typed values, then the last repeated:
//!                                                             1 2 2 2 2 2
//!             | (no values)                                   all zeros
//! DT_STRING   tensor_content: varint len × N, then the bytes   | string_val: ["a", "b"] (fill rule too)
//! ```
//! `tensor_content`, when present, must hold exactly N × element-size bytes and is handed out as
//! a shared slice of the message's buffer (no copy). Typed fields per dtype: `float_val`,
//! `double_val`, `int_val` (every integer type of 32 bits or less, quantized and int4/int2
//! types, truncated to the element width as C++ does), `int64_val`, `uint32_val`, `uint64_val`,
//! `bool_val`, `scomplex_val`/`dcomplex_val` (re, im pairs), `half_val` (the 16-bit patterns of
//! float16 and bfloat16), `float8_val` (one byte per element: the float8 types and float4),
//! `string_val`. More values than elements: the first N are used (C++; Python's
//! `make_ndarray` fails instead).
//!
//! Encoding ([`make_tensor_proto`]) follows `tf.make_tensor_proto`: `tensor_content` for the dtypes
//! it packs when every element is given and there is more than one, typed fields otherwise.
//!
//! A hostile proto can ask for a vast tensor with one value (`float_val: 0` in a shape of 2^40
//! elements). Expanding values by the fill rule is therefore capped: the result may take at most
//! `max_fill_bytes` (callers pass [`DEFAULT_MAX_FILL_BYTES`], 2 GiB: the size TensorFlow refuses
//! to put in a `tensor_content`, so a bigger splat is no tensor TF would write out in full).
//! Results that do not expand (content, or as many values as elements) are bounded by the input
//! and need no cap.

use bytes::Bytes;

use crate::dtype::{DataType, Layout};
use crate::error::{Error, Result};
use crate::proto::schema::{TENSOR_PROTO, TENSOR_SHAPE_PROTO, TENSOR_SHAPE_PROTO_DIM};
use crate::proto::{List, Message, Value};
use crate::varint::get_varint;

/// The most dimensions TensorFlow gives a tensor.
pub const MAX_DIMS: usize = 254;

/// How many bytes the fill rule may expand a tensor to, unless the caller says otherwise.
pub const DEFAULT_MAX_FILL_BYTES: u64 = 2 << 30;

/// A tensor read out of a `TensorProto`.
#[derive(Debug, Clone)]
pub struct TensorValue {
    pub dtype: DataType,
    pub shape: Vec<usize>,
    pub elements: Elements,
}

/// The elements of a [`TensorValue`], row-major.
#[derive(Debug, Clone)]
pub enum Elements {
    /// Element bytes in host order, shared with the message (`tensor_content` on a
    /// little-endian host).
    Shared(Bytes),
    /// Element bytes in host order, built from the typed fields.
    Owned(Vec<u8>),
    /// DT_STRING: `len` elements; element `i` is `values[min(i, values.len() - 1)]`, or empty when
    /// there are no values (the fill rule, unexpanded).
    Strings { values: Vec<Bytes>, len: usize },
}

fn invalid(detail: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("invalid TensorProto: {detail}"))
}

/// The shape of a `TensorProto` and its element count, checked: known rank, no negative sizes,
/// at most [`MAX_DIMS`] dimensions, a count that fits in memory addresses.
pub fn tensor_shape(t: &Message) -> Result<(Vec<usize>, usize)> {
    let Some(shape) = t.message("tensor_shape") else { return Ok((Vec::new(), 1)) };
    if shape.bool("unknown_rank") {
        return Err(invalid("the shape has an unknown rank"));
    }
    let dims = shape.messages("dim");
    if dims.len() > MAX_DIMS {
        return Err(invalid(format!("{} dimensions (at most {MAX_DIMS})", dims.len())));
    }
    let mut out = Vec::with_capacity(dims.len());
    let mut count: usize = 1;
    for dim in dims {
        let size = dim.int("size");
        let size = usize::try_from(size).map_err(|_| invalid(format!("dimension of size {size}")))?;
        count = count.checked_mul(size).ok_or_else(|| invalid("the shape's element count overflows"))?;
        out.push(size);
    }
    Ok((out, count))
}

/// Reads the elements of a `TensorProto`, refusing to expand values by the fill rule to more
/// than `max_fill_bytes`.
pub fn tensor_value(t: &Message, max_fill_bytes: u64) -> Result<TensorValue> {
    if t.desc() != &TENSOR_PROTO {
        return Err(Error::InvalidArgument(format!("expected a tensorflow.TensorProto, got a {}", t.desc().name)));
    }
    let raw_dtype = t.int("dtype");
    let dtype = DataType(u32::try_from(raw_dtype).map_err(|_| invalid(format!("dtype {raw_dtype}")))?);
    let (shape, count) = tensor_shape(t)?;
    let unsupported = || Error::Unsupported(format!("tensors of {} have no array form", dtype.describe()));
    let layout = dtype.layout().ok_or_else(unsupported)?;
    let content = match t.get("tensor_content") {
        Some(Value::Bytes(b)) => b.clone(),
        _ => Bytes::new(),
    };
    let elements = match layout {
        Layout::String if !content.is_empty() => string_content(&content, count)?,
        Layout::String => {
            let values = t.strings("string_val");
            let n = values.len().min(count);
            if n < count {
                // Each element becomes one slot of the caller's object array.
                check_fill(dtype, count, 8, max_fill_bytes)?;
            }
            Elements::Strings { values: values[..n].to_vec(), len: count }
        }
        Layout::Fixed { size, swap } if !content.is_empty() => {
            let expected = count.checked_mul(size);
            if expected != Some(content.len()) {
                return Err(invalid(format!(
                    "tensor_content holds {} bytes, but {count} elements of {} take {}",
                    content.len(),
                    dtype.describe(),
                    expected.map_or("more than can be addressed".to_owned(), |n| n.to_string())
                )));
            }
            if cfg!(target_endian = "big") && swap > 1 {
                let mut owned = content.to_vec();
                owned.chunks_exact_mut(swap).for_each(<[u8]>::reverse);
                Elements::Owned(owned)
            } else {
                Elements::Shared(content)
            }
        }
        Layout::Fixed { size, .. } => Elements::Owned(typed_values(t, dtype, size, count, max_fill_bytes)?),
        Layout::Variant => return Err(unsupported()),
    };
    Ok(TensorValue { dtype, shape, elements })
}

/// `count` DT_STRING elements in C++'s `tensor_content` coding: every length as a varint, then
/// every element's bytes.
fn string_content(content: &Bytes, count: usize) -> Result<Elements> {
    // Each length takes at least one byte: a count beyond the content is a lie, found before
    // anything is allocated for it.
    if count > content.len() {
        return Err(invalid(format!("tensor_content of {} bytes cannot hold {count} strings", content.len())));
    }
    let mut lens = Vec::with_capacity(count);
    let mut pos = 0;
    for _ in 0..count {
        let (len, n) = get_varint(&content[pos..]).map_err(|e| invalid(format!("string lengths: {}", e.0)))?;
        lens.push(len);
        pos += n;
    }
    let mut values = Vec::with_capacity(count);
    for len in lens {
        let end = usize::try_from(len).ok().and_then(|l| pos.checked_add(l)).filter(|&end| end <= content.len());
        let end = end.ok_or_else(|| invalid("a string runs past the end of tensor_content"))?;
        values.push(content.slice(pos..end));
        pos = end;
    }
    if pos != content.len() {
        return Err(invalid(format!("{} bytes after the last string of tensor_content", content.len() - pos)));
    }
    Ok(Elements::Strings { values, len: count })
}

fn check_fill(dtype: DataType, count: usize, size: usize, max_fill_bytes: u64) -> Result<()> {
    let bytes = (count as u128) * (size as u128);
    if bytes > u128::from(max_fill_bytes) {
        return Err(invalid(format!(
            "{count} elements of {} filled from fewer values would take {bytes} bytes, more than the \
             {max_fill_bytes} allowed",
            dtype.describe()
        )));
    }
    Ok(())
}

/// The values of the typed field that holds a dtype's elements.
enum Typed<'a> {
    F32(&'a [f32]),
    F64(&'a [f64]),
    /// int_val: element bytes are the low bytes of each value.
    I32(&'a [i32]),
    I64(&'a [i64]),
    U32(&'a [u32]),
    U64(&'a [u64]),
    Bool(&'a [bool]),
    /// float8_val: one byte per element.
    Bytes(&'a [u8]),
    /// scomplex_val: (re, im) pairs.
    C64(&'a [f32]),
    /// dcomplex_val: (re, im) pairs.
    C128(&'a [f64]),
}

impl Typed<'_> {
    /// How many elements the values give.
    fn len(&self) -> usize {
        match self {
            Typed::F32(v) => v.len(),
            Typed::F64(v) => v.len(),
            Typed::I32(v) => v.len(),
            Typed::I64(v) => v.len(),
            Typed::U32(v) => v.len(),
            Typed::U64(v) => v.len(),
            Typed::Bool(v) => v.len(),
            Typed::Bytes(v) => v.len(),
            Typed::C64(v) => v.len() / 2,
            Typed::C128(v) => v.len() / 2,
        }
    }

    /// Writes element `i` (host order) into `dst`, which is one element wide.
    fn put(&self, i: usize, dst: &mut [u8]) {
        match self {
            Typed::F32(v) => dst.copy_from_slice(&v[i].to_ne_bytes()),
            Typed::F64(v) => dst.copy_from_slice(&v[i].to_ne_bytes()),
            Typed::I32(v) => {
                let bytes = v[i].to_ne_bytes();
                // The element's low bytes: truncation, as C++'s static_cast.
                let low = if cfg!(target_endian = "big") { &bytes[4 - dst.len()..] } else { &bytes[..dst.len()] };
                dst.copy_from_slice(low);
            }
            Typed::I64(v) => dst.copy_from_slice(&v[i].to_ne_bytes()),
            Typed::U32(v) => dst.copy_from_slice(&v[i].to_ne_bytes()),
            Typed::U64(v) => dst.copy_from_slice(&v[i].to_ne_bytes()),
            Typed::Bool(v) => dst[0] = u8::from(v[i]),
            Typed::Bytes(v) => dst[0] = v[i],
            Typed::C64(v) => {
                dst[..4].copy_from_slice(&v[2 * i].to_ne_bytes());
                dst[4..].copy_from_slice(&v[2 * i + 1].to_ne_bytes());
            }
            Typed::C128(v) => {
                dst[..8].copy_from_slice(&v[2 * i].to_ne_bytes());
                dst[8..].copy_from_slice(&v[2 * i + 1].to_ne_bytes());
            }
        }
    }
}

/// The typed field of a dtype, empty when absent or of an unexpected kind.
fn typed<'a>(t: &'a Message, dtype: DataType) -> Result<Typed<'a>> {
    let list = |name: &str| t.list(name);
    Ok(match dtype {
        DataType::FLOAT => Typed::F32(match list("float_val") {
            Some(List::F32(v)) => v,
            _ => &[],
        }),
        DataType::DOUBLE => Typed::F64(match list("double_val") {
            Some(List::F64(v)) => v,
            _ => &[],
        }),
        DataType::INT64 => Typed::I64(match list("int64_val") {
            Some(List::I64(v)) => v,
            _ => &[],
        }),
        DataType::UINT32 => Typed::U32(match list("uint32_val") {
            Some(List::U32(v)) => v,
            _ => &[],
        }),
        DataType::UINT64 => Typed::U64(match list("uint64_val") {
            Some(List::U64(v)) => v,
            _ => &[],
        }),
        DataType::BOOL => Typed::Bool(match list("bool_val") {
            Some(List::Bool(v)) => v,
            _ => &[],
        }),
        DataType::COMPLEX64 => Typed::C64(match list("scomplex_val") {
            Some(List::F32(v)) => v,
            _ => &[],
        }),
        DataType::COMPLEX128 => Typed::C128(match list("dcomplex_val") {
            Some(List::F64(v)) => v,
            _ => &[],
        }),
        DataType::HALF | DataType::BFLOAT16 => Typed::I32(match list("half_val") {
            Some(List::I32(v)) => v,
            _ => &[],
        }),
        DataType::FLOAT8_E5M2
        | DataType::FLOAT8_E4M3FN
        | DataType::FLOAT8_E4M3FNUZ
        | DataType::FLOAT8_E4M3B11FNUZ
        | DataType::FLOAT8_E5M2FNUZ
        | DataType::FLOAT4_E2M1FN => Typed::Bytes(t.bytes("float8_val")),
        DataType::INT32
        | DataType::UINT8
        | DataType::INT16
        | DataType::INT8
        | DataType::QINT8
        | DataType::QUINT8
        | DataType::QINT32
        | DataType::QINT16
        | DataType::QUINT16
        | DataType::UINT16
        | DataType::INT4
        | DataType::UINT4
        | DataType::INT2
        | DataType::UINT2 => Typed::I32(match list("int_val") {
            Some(List::I32(v)) => v,
            _ => &[],
        }),
        _ => return Err(Error::Unsupported(format!("typed values of {}", dtype.describe()))),
    })
}

/// The elements of a `dtype` tensor of `count` elements held in the typed field of `t` alone (a
/// V1 checkpoint's slices store no dtype, shape or content): exactly `count` values or an error
/// saying how many there are. Fixed-size types come back as element bytes in host order.
pub fn exact_typed_values(t: &Message, dtype: DataType, count: usize) -> Result<Elements, String> {
    if dtype == DataType::STRING {
        let values = t.strings("string_val");
        if values.len() != count {
            return Err(format!("{} strings stored for {count} elements", values.len()));
        }
        return Ok(Elements::Strings { values: values.to_vec(), len: count });
    }
    let size = dtype.element_size().ok_or_else(|| format!("{} has no fixed element size", dtype.describe()))?;
    let values = typed(t, dtype).map_err(|e| e.to_string())?;
    if values.len() != count {
        return Err(format!("{} values stored for {count} elements", values.len()));
    }
    // `count` values were decoded, so the output is bounded by the input's size.
    let mut out = vec![0u8; count * size];
    for (i, dst) in out.chunks_exact_mut(size).enumerate() {
        values.put(i, dst);
    }
    Ok(Elements::Owned(out))
}

/// The element bytes (host order) of a tensor given by its typed field, by the fill rule.
fn typed_values(t: &Message, dtype: DataType, size: usize, count: usize, max_fill_bytes: u64) -> Result<Vec<u8>> {
    let values = typed(t, dtype)?;
    let n = values.len().min(count);
    if n < count {
        check_fill(dtype, count, size, max_fill_bytes)?;
    }
    // Zeroed memory comes from the allocator as untouched pages: an all-default tensor costs
    // nothing until read.
    let total = count.checked_mul(size).ok_or_else(|| invalid("the tensor's size overflows"))?;
    let mut out = vec![0u8; total];
    for (i, dst) in out.chunks_exact_mut(size).take(n).enumerate() {
        values.put(i, dst);
    }
    if n > 0 && n < count {
        // The last value, repeated: copy the run of copies onto itself, doubling it each time.
        let start = (n - 1) * size;
        let mut end = n * size;
        while end < out.len() {
            let len = (end - start).min(out.len() - end);
            out.copy_within(start..start + len, end);
            end += len;
        }
    }
    Ok(out)
}

/// What `tf.make_tensor_proto` is given, once converted to an array.
#[derive(Debug, Clone)]
pub enum ProtoValues {
    /// Fixed-size elements, little-endian, row-major: all of the shape's elements, or fewer (a
    /// reader repeats the last one).
    Fixed(Bytes),
    /// DT_STRING elements.
    Strings(Vec<Bytes>),
}

/// TensorFlow's `_TENSOR_CONTENT_TYPES`: the dtypes `make_tensor_proto` packs into
/// `tensor_content` (complex, bool, uint16 and the int4/int2 types go in typed fields).
fn packs_content(dtype: DataType) -> bool {
    matches!(
        dtype,
        DataType::FLOAT
            | DataType::DOUBLE
            | DataType::INT32
            | DataType::UINT8
            | DataType::INT16
            | DataType::INT8
            | DataType::INT64
            | DataType::QINT8
            | DataType::QUINT8
            | DataType::QINT16
            | DataType::QUINT16
            | DataType::QINT32
            | DataType::UINT32
            | DataType::UINT64
            | DataType::HALF
            | DataType::BFLOAT16
            | DataType::FLOAT8_E5M2
            | DataType::FLOAT8_E4M3FN
            | DataType::FLOAT8_E4M3FNUZ
            | DataType::FLOAT8_E4M3B11FNUZ
            | DataType::FLOAT8_E5M2FNUZ
            | DataType::FLOAT4_E2M1FN
    )
}

/// A `TensorProto` of `dtype` and `shape` holding `values`, encoded as `tf.make_tensor_proto`
/// encodes (and so as TensorFlow's freezing writes constants): `tensor_content` when every
/// element is given, there is more than one and the dtype is packed; otherwise the dtype's
/// typed field (see the module comment) with the elements given.
pub fn make_tensor_proto(dtype: DataType, shape: &[usize], values: ProtoValues) -> Result<Message> {
    let count =
        shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).ok_or_else(|| invalid("the shape is too large"))?;
    let unsupported =
        || Error::Unsupported(format!("Element type not supported in TensorProto: {}", dtype.python_name()));
    let given = match (&values, dtype.layout()) {
        (ProtoValues::Fixed(bytes), Some(Layout::Fixed { size, .. })) if bytes.len() % size == 0 => bytes.len() / size,
        (ProtoValues::Fixed(bytes), Some(Layout::Fixed { size, .. })) => {
            return Err(invalid(format!("{} bytes are not whole {size}-byte elements", bytes.len())))
        }
        (ProtoValues::Strings(strings), Some(Layout::String)) => strings.len(),
        _ => return Err(unsupported()),
    };
    if given > count {
        return Err(Error::InvalidArgument(format!(
            "Too many elements provided. Takes at most {count}, but got {given}."
        )));
    }
    let mut proto = Message::new(&TENSOR_PROTO);
    proto.set("dtype", Value::Enum(i32::try_from(dtype.0).map_err(|_| unsupported())?))?;
    let mut shape_proto = Message::new(&TENSOR_SHAPE_PROTO);
    for &size in shape {
        let mut dim = Message::new(&TENSOR_SHAPE_PROTO_DIM);
        dim.set("size", Value::I64(i64::try_from(size).map_err(|_| invalid("the shape is too large"))?))?;
        shape_proto.push("dim", dim.into())?;
    }
    proto.set("tensor_shape", shape_proto.into())?;
    match values {
        ProtoValues::Strings(strings) if !strings.is_empty() => {
            proto.set("string_val", Value::List(List::Bytes(strings)))?
        }
        ProtoValues::Strings(_) => {}
        ProtoValues::Fixed(bytes) if given == count && count > 1 && packs_content(dtype) => {
            if bytes.len() >= 1 << 31 {
                return Err(Error::InvalidArgument(
                    "Cannot create a tensor proto whose content is larger than 2GB.".into(),
                ));
            }
            proto.set("tensor_content", Value::Bytes(bytes))?;
        }
        ProtoValues::Fixed(bytes) if given > 0 => {
            let (field, value) = typed_field(dtype, bytes).ok_or_else(unsupported)?;
            proto.set(field, value)?;
        }
        ProtoValues::Fixed(_) => {}
    }
    Ok(proto)
}

/// The typed field of `TensorProto` for `dtype` and the elements in little-endian `bytes` as its
/// value (`None` for dtypes without one).
fn typed_field(dtype: DataType, bytes: Bytes) -> Option<(&'static str, Value)> {
    fn each<const N: usize, T>(bytes: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
        bytes.chunks_exact(N).filter_map(|c| c.try_into().ok()).map(f).collect()
    }
    let sign_extend = |bits: u32| move |[b]: [u8; 1]| i32::from(i8::from_le_bytes([b << (8 - bits)]) >> (8 - bits));
    let list = match dtype {
        DataType::FLOAT => ("float_val", List::F32(each(&bytes, f32::from_le_bytes))),
        DataType::DOUBLE => ("double_val", List::F64(each(&bytes, f64::from_le_bytes))),
        DataType::COMPLEX64 => ("scomplex_val", List::F32(each(&bytes, f32::from_le_bytes))),
        DataType::COMPLEX128 => ("dcomplex_val", List::F64(each(&bytes, f64::from_le_bytes))),
        DataType::INT32 | DataType::QINT32 => ("int_val", List::I32(each(&bytes, i32::from_le_bytes))),
        DataType::INT16 | DataType::QINT16 => {
            ("int_val", List::I32(each(&bytes, |b| i32::from(i16::from_le_bytes(b)))))
        }
        DataType::UINT16 | DataType::QUINT16 => {
            ("int_val", List::I32(each(&bytes, |b| i32::from(u16::from_le_bytes(b)))))
        }
        DataType::INT8 | DataType::QINT8 => ("int_val", List::I32(each(&bytes, |b| i32::from(i8::from_le_bytes(b))))),
        DataType::UINT8 | DataType::QUINT8 => ("int_val", List::I32(each(&bytes, |[b]: [u8; 1]| i32::from(b)))),
        DataType::INT4 => ("int_val", List::I32(each(&bytes, sign_extend(4)))),
        DataType::INT2 => ("int_val", List::I32(each(&bytes, sign_extend(2)))),
        DataType::UINT4 => ("int_val", List::I32(each(&bytes, |[b]: [u8; 1]| i32::from(b & 0x0F)))),
        DataType::UINT2 => ("int_val", List::I32(each(&bytes, |[b]: [u8; 1]| i32::from(b & 0x03)))),
        DataType::HALF | DataType::BFLOAT16 => {
            ("half_val", List::I32(each(&bytes, |b| i32::from(u16::from_le_bytes(b)))))
        }
        DataType::INT64 => ("int64_val", List::I64(each(&bytes, i64::from_le_bytes))),
        DataType::UINT32 => ("uint32_val", List::U32(each(&bytes, u32::from_le_bytes))),
        DataType::UINT64 => ("uint64_val", List::U64(each(&bytes, u64::from_le_bytes))),
        DataType::BOOL => ("bool_val", List::Bool(bytes.iter().map(|&b| b != 0).collect())),
        DataType::FLOAT8_E5M2
        | DataType::FLOAT8_E4M3FN
        | DataType::FLOAT8_E4M3FNUZ
        | DataType::FLOAT8_E4M3B11FNUZ
        | DataType::FLOAT8_E5M2FNUZ
        | DataType::FLOAT4_E2M1FN => return Some(("float8_val", Value::Bytes(bytes))),
        _ => return None,
    };
    Some((list.0, Value::List(list.1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(dtype: DataType, shape: &[i64]) -> Message {
        let mut t = Message::new(&TENSOR_PROTO);
        t.set("dtype", Value::Enum(dtype.0 as i32)).unwrap();
        let mut s = Message::new(&TENSOR_SHAPE_PROTO);
        for &size in shape {
            let mut d = Message::new(&TENSOR_SHAPE_PROTO_DIM);
            d.set("size", Value::I64(size)).unwrap();
            s.push("dim", d.into()).unwrap();
        }
        t.set("tensor_shape", s.into()).unwrap();
        t
    }

    fn owned(v: &TensorValue) -> &[u8] {
        match &v.elements {
            Elements::Owned(b) => b,
            Elements::Shared(b) => b,
            Elements::Strings { .. } => panic!("strings"),
        }
    }

    #[test]
    fn fill_rule_repeats_the_last_value() {
        let mut t = tensor(DataType::INT32, &[2, 3]);
        t.set("int_val", Value::List(List::I32(vec![1, 2]))).unwrap();
        let v = tensor_value(&t, DEFAULT_MAX_FILL_BYTES).unwrap();
        let ints: Vec<i32> = owned(&v).chunks(4).map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]])).collect();
        assert_eq!((v.shape.as_slice(), ints.as_slice()), (&[2, 3][..], &[1, 2, 2, 2, 2, 2][..]));
        let t = tensor(DataType::FLOAT, &[3]);
        assert_eq!(owned(&tensor_value(&t, DEFAULT_MAX_FILL_BYTES).unwrap()), &[0u8; 12]);
        let mut t = tensor(DataType::UINT8, &[2]);
        t.set("int_val", Value::List(List::I32(vec![-1, 258, 7]))).unwrap();
        assert_eq!(owned(&tensor_value(&t, DEFAULT_MAX_FILL_BYTES).unwrap()), &[255, 2], "truncated, first N");
    }

    #[test]
    fn content_is_shared_and_checked() {
        let mut t = tensor(DataType::INT16, &[2]);
        let buf = Bytes::from_static(&[1, 0, 2, 0]);
        t.set("tensor_content", Value::Bytes(buf.clone())).unwrap();
        let v = tensor_value(&t, DEFAULT_MAX_FILL_BYTES).unwrap();
        match v.elements {
            Elements::Shared(b) => assert_eq!(b.as_ptr(), buf.as_ptr()),
            other => panic!("{other:?}"),
        }
        t.set("tensor_content", Value::Bytes(Bytes::from_static(&[1, 0, 2]))).unwrap();
        assert!(tensor_value(&t, DEFAULT_MAX_FILL_BYTES).is_err());
    }

    #[test]
    fn strings_from_content_and_values() {
        let mut t = tensor(DataType::STRING, &[3]);
        t.set("tensor_content", Value::Bytes(Bytes::from_static(b"\x02\x00\x01abc"))).unwrap();
        match tensor_value(&t, DEFAULT_MAX_FILL_BYTES).unwrap().elements {
            Elements::Strings { values, len } => {
                assert_eq!((values, len), (vec!["ab".into(), "".into(), "c".into()], 3))
            }
            other => panic!("{other:?}"),
        }
        t.set("tensor_content", Value::Bytes(Bytes::from_static(b"\x02\x00\x05abc"))).unwrap();
        assert!(tensor_value(&t, DEFAULT_MAX_FILL_BYTES).is_err());
        t.set("tensor_content", Value::Bytes(Bytes::from_static(b"\x01\x01"))).unwrap();
        assert!(tensor_value(&t, DEFAULT_MAX_FILL_BYTES).is_err(), "three strings cannot fit in two bytes");
    }

    #[test]
    fn hostile_shapes_and_splats_are_refused() {
        let mut t = tensor(DataType::FLOAT, &[1 << 20, 1 << 20]);
        t.set("float_val", Value::List(List::F32(vec![1.0]))).unwrap();
        let e = tensor_value(&t, DEFAULT_MAX_FILL_BYTES).unwrap_err().to_string();
        assert!(e.contains("allowed"), "{e}");
        assert!(tensor_value(&tensor(DataType::FLOAT, &[-1]), DEFAULT_MAX_FILL_BYTES).is_err());
        assert!(tensor_value(&tensor(DataType::FLOAT, &[1 << 40, 1 << 40]), DEFAULT_MAX_FILL_BYTES).is_err());
        assert!(tensor_value(&tensor(DataType::RESOURCE, &[]), DEFAULT_MAX_FILL_BYTES).is_err());
        assert!(tensor_value(&tensor(DataType(77), &[]), DEFAULT_MAX_FILL_BYTES).is_err());
        let mut strings = tensor(DataType::STRING, &[1 << 40]);
        strings.push("string_val", "x".into()).unwrap();
        assert!(tensor_value(&strings, DEFAULT_MAX_FILL_BYTES).is_err());
    }

    #[test]
    fn complex_half_and_float8() {
        let mut t = tensor(DataType::COMPLEX64, &[2]);
        t.set("scomplex_val", Value::List(List::F32(vec![1.0, 2.0, 3.0]))).unwrap();
        let v = tensor_value(&t, DEFAULT_MAX_FILL_BYTES).unwrap();
        let f: Vec<f32> = owned(&v).chunks(4).map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]])).collect();
        assert_eq!(f, [1.0, 2.0, 1.0, 2.0], "the dangling real part is ignored");
        let mut t = tensor(DataType::HALF, &[]);
        t.set("half_val", Value::List(List::I32(vec![15360]))).unwrap();
        assert_eq!(owned(&tensor_value(&t, DEFAULT_MAX_FILL_BYTES).unwrap()), &15360u16.to_ne_bytes());
        let mut t = tensor(DataType::FLOAT8_E4M3FN, &[3]);
        t.set("float8_val", Value::Bytes(Bytes::from_static(&[0x38, 0x40]))).unwrap();
        assert_eq!(owned(&tensor_value(&t, DEFAULT_MAX_FILL_BYTES).unwrap()), &[0x38, 0x40, 0x40]);
    }
}
