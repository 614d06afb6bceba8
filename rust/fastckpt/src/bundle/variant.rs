//! DT_VARIANT tensor data, kept as opaque serialized `VariantTensorDataProto`s.
//!
//! ```text
//! per element:  varint64 L | proto[L] | fixed32 mask(C)
//! ```
//! `C` runs over the whole tensor: L as 8 little-endian bytes, the proto, and the checksums
//! stored before it. The entry's crc32c is the mask of the final `C`.

use super::strings::ElementsError;
use crate::crc;
use crate::proto::binary;
use crate::proto::schema::VARIANT_TENSOR_DATA_PROTO;
use crate::varint::{get_varint, put_varint};

/// DT_VARIANT data: per element `varint64 L | proto[L] | fixed32 mask(running crc)`; the running
/// crc covers L as 8 LE bytes, the proto and the stored checksums before it.
pub fn decode(data: &[u8], n: usize, expected: Option<u32>) -> Result<Vec<Vec<u8>>, ElementsError> {
    if n > data.len() {
        return Err(format!("{n} variant elements cannot fit in {} bytes", data.len()).into());
    }
    let mut out = Vec::with_capacity(n);
    let mut pos = 0;
    let mut running = 0u32;
    for _ in 0..n {
        let (len, used) = get_varint(&data[pos..]).map_err(|_| "bad element length".to_string())?;
        pos += used;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| pos.checked_add(l)?.checked_add(4))
            .filter(|&end| end <= data.len())
            .ok_or("element runs past the end of the data")?;
        let proto = &data[pos..end - 4];
        let stored = &data[end - 4..end];
        running = crc::extend(crc::extend(running, &len.to_le_bytes()), proto);
        if expected.is_some() && stored != crc::mask(running).to_le_bytes() {
            let stored = crc::unmask(u32::from_le_bytes([stored[0], stored[1], stored[2], stored[3]]));
            return Err(ElementsError::Checksum { stored, computed: running });
        }
        running = crc::extend(running, stored);
        out.push(proto.to_vec());
        pos = end;
    }
    if let Some(expected) = expected {
        if crc::mask(running) != expected {
            return Err(ElementsError::Checksum { stored: crc::unmask(expected), computed: running });
        }
    }
    Ok(out)
}

/// Checks that every element parses as a `VariantTensorDataProto`, as TensorFlow's reader requires
/// ("Unable to parse VariantTensorDataProto"); says which element does not. Whether TensorFlow has
/// a decoder for its `type_name` is not checked: that depends on the TensorFlow build.
pub fn check(elements: &[&[u8]]) -> Result<(), String> {
    for (i, element) in elements.iter().enumerate() {
        binary::decode(&VARIANT_TENSOR_DATA_PROTO, bytes::Bytes::copy_from_slice(element))
            .map_err(|e| format!("variant element {i} is not a serialized VariantTensorDataProto: {e}"))?;
    }
    Ok(())
}

/// Serializes variant elements (opaque `VariantTensorDataProto` bytes); returns the bytes and the
/// masked entry crc32c.
pub fn encode(elements: &[&[u8]]) -> (Vec<u8>, u32) {
    let mut out = Vec::new();
    let mut running = 0u32;
    for proto in elements {
        put_varint(&mut out, proto.len() as u64);
        out.extend_from_slice(proto);
        running = crc::extend(crc::extend(running, &(proto.len() as u64).to_le_bytes()), proto);
        let stored = crc::mask(running).to_le_bytes();
        out.extend_from_slice(&stored);
        running = crc::extend(running, &stored);
    }
    (out, crc::mask(running))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_must_be_variant_tensor_data_protos() {
        let type_name: &[u8] = b"\x0a\x01x"; // type_name: "x"
        assert_eq!(check(&[type_name, b""]), Ok(()));
        let e = check(&[type_name, b"\xff\xff"]).unwrap_err();
        assert!(e.starts_with("variant element 1 is not a serialized VariantTensorDataProto"), "{e}");
        assert!(check(&[b"\x0a\x05x"]).is_err(), "a length past the end");
        assert!(check(&[b"\x1a\x02\x08\x80"]).is_err(), "a nested TensorProto cut short");
    }
}
