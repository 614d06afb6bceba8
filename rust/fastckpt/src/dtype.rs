//! TensorFlow's `DataType` enum (types.proto) and what the engine needs to know of each value:
//! its name, how many bytes one element takes in a bundle, and how to byte-swap it.
//!
//! Sub-byte types (int4, uint4, int2, uint2, float4) take one whole byte per element, value in the
//! low bits. Reference types (`100 + t`) only appear in graphs, never in tensor data.

/// A `DataType` enum value as read from a file (unknown values are representable, then refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DataType(pub u32);

/// How a dtype's bytes are laid out in a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `size` bytes per element, byte-swapped in `swap`-byte units across endianness.
    Fixed { size: usize, swap: usize },
    /// DT_STRING: varint lengths, a length checksum, then the bytes.
    String,
    /// DT_VARIANT: serialized `VariantTensorDataProto`s, kept opaque.
    Variant,
}

macro_rules! dtypes {
    ($( $konst:ident = $value:literal, $name:literal, $layout:expr; )*) => {
        impl DataType {
            $( pub const $konst: DataType = DataType($value); )*

            /// `DT_FLOAT`, `DT_BFLOAT16`, … (the enum's own spelling).
            pub fn name(self) -> Option<&'static str> {
                match self.0 { $( $value => Some($name), )* _ => None }
            }

            /// How elements of this type are stored, `None` for types that never hold data in a
            /// checkpoint (invalid, resource, references, unknown values).
            pub fn layout(self) -> Option<Layout> {
                match self.0 { $( $value => $layout, )* _ => None }
            }

            pub fn from_name(name: &str) -> Option<DataType> {
                match name { $( $name => Some(DataType($value)), )* _ => None }
            }
        }
    };
}

const fn fixed(size: usize, swap: usize) -> Option<Layout> {
    Some(Layout::Fixed { size, swap })
}

dtypes! {
    INVALID = 0, "DT_INVALID", None;
    FLOAT = 1, "DT_FLOAT", fixed(4, 4);
    DOUBLE = 2, "DT_DOUBLE", fixed(8, 8);
    INT32 = 3, "DT_INT32", fixed(4, 4);
    UINT8 = 4, "DT_UINT8", fixed(1, 1);
    INT16 = 5, "DT_INT16", fixed(2, 2);
    INT8 = 6, "DT_INT8", fixed(1, 1);
    STRING = 7, "DT_STRING", Some(Layout::String);
    COMPLEX64 = 8, "DT_COMPLEX64", fixed(8, 4);
    INT64 = 9, "DT_INT64", fixed(8, 8);
    BOOL = 10, "DT_BOOL", fixed(1, 1);
    QINT8 = 11, "DT_QINT8", fixed(1, 1);
    QUINT8 = 12, "DT_QUINT8", fixed(1, 1);
    QINT32 = 13, "DT_QINT32", fixed(4, 4);
    BFLOAT16 = 14, "DT_BFLOAT16", fixed(2, 2);
    QINT16 = 15, "DT_QINT16", fixed(2, 2);
    QUINT16 = 16, "DT_QUINT16", fixed(2, 2);
    UINT16 = 17, "DT_UINT16", fixed(2, 2);
    COMPLEX128 = 18, "DT_COMPLEX128", fixed(16, 8);
    HALF = 19, "DT_HALF", fixed(2, 2);
    RESOURCE = 20, "DT_RESOURCE", None;
    VARIANT = 21, "DT_VARIANT", Some(Layout::Variant);
    UINT32 = 22, "DT_UINT32", fixed(4, 4);
    UINT64 = 23, "DT_UINT64", fixed(8, 8);
    FLOAT8_E5M2 = 24, "DT_FLOAT8_E5M2", fixed(1, 1);
    FLOAT8_E4M3FN = 25, "DT_FLOAT8_E4M3FN", fixed(1, 1);
    FLOAT8_E4M3FNUZ = 26, "DT_FLOAT8_E4M3FNUZ", fixed(1, 1);
    FLOAT8_E4M3B11FNUZ = 27, "DT_FLOAT8_E4M3B11FNUZ", fixed(1, 1);
    FLOAT8_E5M2FNUZ = 28, "DT_FLOAT8_E5M2FNUZ", fixed(1, 1);
    INT4 = 29, "DT_INT4", fixed(1, 1);
    UINT4 = 30, "DT_UINT4", fixed(1, 1);
    INT2 = 31, "DT_INT2", fixed(1, 1);
    UINT2 = 32, "DT_UINT2", fixed(1, 1);
    FLOAT4_E2M1FN = 33, "DT_FLOAT4_E2M1FN", fixed(1, 1);
}

impl DataType {
    /// Bytes per element for fixed-size types.
    pub fn element_size(self) -> Option<usize> {
        match self.layout()? {
            Layout::Fixed { size, .. } => Some(size),
            _ => None,
        }
    }

    /// A readable name even for values outside the enum (`DataType(77)`).
    pub fn describe(self) -> String {
        match self.name() {
            Some(n) => n.to_owned(),
            None if (101..=133).contains(&self.0) => format!("reference type {}", self.0),
            None => format!("unknown dtype {}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(DataType::FLOAT.element_size(), Some(4));
        assert_eq!(DataType::COMPLEX128.layout(), Some(Layout::Fixed { size: 16, swap: 8 }));
        assert_eq!(DataType::from_name("DT_BFLOAT16"), Some(DataType::BFLOAT16));
        assert_eq!(DataType(101).layout(), None);
        assert_eq!(DataType::RESOURCE.layout(), None);
        assert_eq!(DataType(101).describe(), "reference type 101");
    }
}
