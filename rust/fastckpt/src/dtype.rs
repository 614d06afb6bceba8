//! TensorFlow's `DataType` enum (types.proto) and everything the engine and the bindings know of
//! each value: its enum name, its name in TensorFlow's Python API, how many bytes one element
//! takes in a bundle, how to byte-swap it, and the reference-type rules. The one table of dtypes:
//! the Python package derives its numpy mapping from it (`_fastckpt.dtype_table()`).
//!
//! Sub-byte types (int4, uint4, int2, uint2, float4) take one whole byte per element, value in the
//! low bits. Reference types (`100 + t`, `DT_FLOAT_REF` = 101) only appear in graphs, never in
//! tensor data.

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

/// `DT_X_REF = DT_X + REF_OFFSET`.
const REF_OFFSET: u32 = 100;

/// The table's first row is `DT_INVALID`, the only type without a reference type.
macro_rules! dtypes {
    (
        $invalid:ident = 0, $invalid_name:literal, $invalid_python:literal, $invalid_layout:expr;
        $( $konst:ident = $value:literal, $name:literal, $python:literal, $layout:expr; )*
    ) => {
        dtypes!(@impl
            $invalid = 0, $invalid_name, $invalid_python, $invalid_layout;
            $( $konst = $value, $name, $python, $layout; )*
        );

        /// `(name, value)` of the protobuf enum `tensorflow.DataType`: the types, then their
        /// references.
        pub const ENUM_VALUES: &[(&str, i32)] = &[
            ($invalid_name, 0),
            $( ($name, $value), )*
            $( (concat!($name, "_REF"), $value + REF_OFFSET as i32), )*
        ];
    };
    (@impl $( $konst:ident = $value:literal, $name:literal, $python:literal, $layout:expr; )*) => {
        impl DataType {
            $( pub const $konst: DataType = DataType($value); )*

            /// Every value of the enum (reference types excluded), in enum order.
            pub const ALL: &'static [DataType] = &[$( DataType($value), )*];

            /// `DT_FLOAT`, `DT_BFLOAT16`, … (the enum's own spelling; `None` for reference types).
            pub fn name(self) -> Option<&'static str> {
                match self.0 { $( $value => Some($name), )* _ => None }
            }

            /// The name in TensorFlow's Python API (`tf.DType.name`): `float32`, `float16`,
            /// `bfloat16`, `qint8`, `string`, `resource`, …; reference types excluded.
            fn python_base_name(self) -> Option<&'static str> {
                match self.0 { $( $value => Some($python), )* _ => None }
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
    INVALID = 0, "DT_INVALID", "invalid", None;
    FLOAT = 1, "DT_FLOAT", "float32", fixed(4, 4);
    DOUBLE = 2, "DT_DOUBLE", "float64", fixed(8, 8);
    INT32 = 3, "DT_INT32", "int32", fixed(4, 4);
    UINT8 = 4, "DT_UINT8", "uint8", fixed(1, 1);
    INT16 = 5, "DT_INT16", "int16", fixed(2, 2);
    INT8 = 6, "DT_INT8", "int8", fixed(1, 1);
    STRING = 7, "DT_STRING", "string", Some(Layout::String);
    COMPLEX64 = 8, "DT_COMPLEX64", "complex64", fixed(8, 4);
    INT64 = 9, "DT_INT64", "int64", fixed(8, 8);
    BOOL = 10, "DT_BOOL", "bool", fixed(1, 1);
    QINT8 = 11, "DT_QINT8", "qint8", fixed(1, 1);
    QUINT8 = 12, "DT_QUINT8", "quint8", fixed(1, 1);
    QINT32 = 13, "DT_QINT32", "qint32", fixed(4, 4);
    BFLOAT16 = 14, "DT_BFLOAT16", "bfloat16", fixed(2, 2);
    QINT16 = 15, "DT_QINT16", "qint16", fixed(2, 2);
    QUINT16 = 16, "DT_QUINT16", "quint16", fixed(2, 2);
    UINT16 = 17, "DT_UINT16", "uint16", fixed(2, 2);
    COMPLEX128 = 18, "DT_COMPLEX128", "complex128", fixed(16, 8);
    HALF = 19, "DT_HALF", "float16", fixed(2, 2);
    RESOURCE = 20, "DT_RESOURCE", "resource", None;
    VARIANT = 21, "DT_VARIANT", "variant", Some(Layout::Variant);
    UINT32 = 22, "DT_UINT32", "uint32", fixed(4, 4);
    UINT64 = 23, "DT_UINT64", "uint64", fixed(8, 8);
    FLOAT8_E5M2 = 24, "DT_FLOAT8_E5M2", "float8_e5m2", fixed(1, 1);
    FLOAT8_E4M3FN = 25, "DT_FLOAT8_E4M3FN", "float8_e4m3fn", fixed(1, 1);
    FLOAT8_E4M3FNUZ = 26, "DT_FLOAT8_E4M3FNUZ", "float8_e4m3fnuz", fixed(1, 1);
    FLOAT8_E4M3B11FNUZ = 27, "DT_FLOAT8_E4M3B11FNUZ", "float8_e4m3b11fnuz", fixed(1, 1);
    FLOAT8_E5M2FNUZ = 28, "DT_FLOAT8_E5M2FNUZ", "float8_e5m2fnuz", fixed(1, 1);
    INT4 = 29, "DT_INT4", "int4", fixed(1, 1);
    UINT4 = 30, "DT_UINT4", "uint4", fixed(1, 1);
    INT2 = 31, "DT_INT2", "int2", fixed(1, 1);
    UINT2 = 32, "DT_UINT2", "uint2", fixed(1, 1);
    FLOAT4_E2M1FN = 33, "DT_FLOAT4_E2M1FN", "float4_e2m1fn", fixed(1, 1);
}

impl DataType {
    /// The `DataType` of a protobuf enum field's value (negative values, never valid, become an
    /// unknown value).
    pub fn from_proto(value: i64) -> DataType {
        DataType(u32::try_from(value).unwrap_or(u32::MAX))
    }

    /// Bytes per element for fixed-size types.
    pub fn element_size(self) -> Option<usize> {
        match self.layout()? {
            Layout::Fixed { size, .. } => Some(size),
            _ => None,
        }
    }

    /// Whether this is a reference type (`DT_FLOAT_REF`, …).
    pub fn is_ref(self) -> bool {
        self.0 > REF_OFFSET
    }

    /// The type a reference refers to; other types unchanged.
    pub fn base(self) -> DataType {
        if self.is_ref() {
            DataType(self.0 - REF_OFFSET)
        } else {
            self
        }
    }

    /// The reference type to this type (`None` when it already is one).
    pub fn to_ref(self) -> Option<DataType> {
        if self.is_ref() {
            None
        } else {
            self.0.checked_add(REF_OFFSET).map(DataType)
        }
    }

    /// Whether this is a value of the enum, reference types included (`DT_INVALID_REF`, 100,
    /// is not).
    pub fn is_valid(self) -> bool {
        self.base().name().is_some() && self.0 != REF_OFFSET
    }

    /// Whether a tensor of type `self` may feed an input expecting `expected`: the same type, or a
    /// reference to it.
    pub fn feeds(self, expected: DataType) -> bool {
        self == expected || (self.is_ref() && self.base() == expected)
    }

    /// `DT_FLOAT`, `DT_FLOAT_REF`; `None` outside the enum.
    pub fn enum_name(self) -> Option<String> {
        let name = self.base().name().filter(|_| self.is_valid())?;
        Some(if self.is_ref() { format!("{name}_REF") } else { name.to_owned() })
    }

    /// `tf.DType.name`: `float32`, `float32_ref`, `resource`; `dtype_77` outside the enum.
    pub fn python_name(self) -> String {
        let suffix = if self.is_ref() { "_ref" } else { "" };
        match self.base().python_base_name() {
            Some(name) => format!("{name}{suffix}"),
            None => format!("dtype_{}{suffix}", self.base().0),
        }
    }

    /// TensorFlow's C++ `DataTypeString` (in its error texts): `float`, `int32`, `float_ref`,
    /// `INVALID`.
    pub fn type_string(self) -> String {
        let suffix = if self.is_ref() { "_ref" } else { "" };
        match self.base().name() {
            Some("DT_INVALID") => format!("INVALID{suffix}"),
            Some(name) => format!("{}{suffix}", name["DT_".len()..].to_ascii_lowercase()),
            None => format!("unknown dtype enum ({})", self.0),
        }
    }

    /// A readable name even for values outside the enum (`DataType(77)`).
    pub fn describe(self) -> String {
        match self.name() {
            Some(n) => n.to_owned(),
            None if self.is_valid() => format!("reference type {}", self.0),
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
        assert_eq!(DataType(134).describe(), "unknown dtype 134");
    }

    #[test]
    fn names_and_references() {
        assert_eq!(DataType::FLOAT.python_name(), "float32");
        assert_eq!(DataType::HALF.python_name(), "float16");
        assert_eq!(DataType(101).python_name(), "float32_ref");
        assert_eq!(DataType(77).python_name(), "dtype_77");
        assert_eq!(DataType(101).type_string(), "float_ref");
        assert_eq!(DataType::INVALID.type_string(), "INVALID");
        assert_eq!(DataType(103).enum_name().as_deref(), Some("DT_INT32_REF"));
        assert_eq!(DataType(100).enum_name(), None);
        assert!(DataType(133).is_valid() && !DataType(134).is_valid() && !DataType(100).is_valid());
        assert_eq!(DataType::FLOAT.to_ref(), Some(DataType(101)));
        assert_eq!(DataType(101).to_ref(), None);
        assert!(DataType(101).feeds(DataType::FLOAT) && !DataType::FLOAT.feeds(DataType(101)));
        assert_eq!(DataType::ALL.len(), 34);
        assert!(DataType::ALL.iter().enumerate().all(|(i, t)| t.0 as usize == i));
        assert_eq!(ENUM_VALUES.len(), 67);
        assert_eq!(ENUM_VALUES[66], ("DT_FLOAT4_E2M1FN_REF", 133));
    }
}
