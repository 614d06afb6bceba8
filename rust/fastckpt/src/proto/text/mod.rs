//! The protobuf text format (`.pbtxt`, the `checkpoint` file): printed exactly as Python's
//! `text_format.MessageToString` prints it (what `tf.io.write_graph(as_text=True)` writes), and
//! parsed in the general grammar Python's `text_format.Parse` accepts.
//!
//! ```text
//! node {                         message fields: `name {`, two more spaces per level, `}`
//!   name: "a"                    scalars: `name: value`, in field-number order
//!   attr {                       map entries: sorted by key, as `key` / `value` sub-messages
//!     key: "value"
//!     value {
//!       tensor {
//!         dtype: DT_FLOAT        enums by name (numbers the enum does not list as numbers)
//!         float_val: 0.1         floats: the shortest of 6..9 significant digits that gives the
//!       }                        float back; doubles as Python's repr; nan, inf, -inf
//!     }
//!   }
//! }
//! ```
//! Strings: `\n \r \t \" \' \\` escaped, other bytes below 0x20 and 0x7F as three-digit octal;
//! `bytes` fields escape every byte ≥ 0x80 too, `string` fields keep valid non-ASCII UTF-8 (the
//! default of protobuf 4+; [`PrintOptions::ascii`] escapes it). `Any` values whose type is known
//! print expanded: `[type.googleapis.com/tensorflow.X] { … }`. Unknown fields are not printed
//! unless asked for.
//!
//! The parser takes fields in any order, `:` optional before a message, `{}` or `<>`, `#`
//! comments, `,` or `;` after a field, `[a, b]` lists for repeated fields, either quote, adjacent
//! strings joined, C escapes (`\n`, `\ooo`, `\xHH`, `\uHHHH`, `\UHHHHHHHH`), integers in decimal,
//! hex, octal (`0x1F`, `017`, `0o17`), floats like `1e+06`, `.5`, `1f`, `inf`, `-Infinity`,
//! `nan`, bools as `true/false/True/False/t/f/1/0`, enums by name or number, and expanded
//! `Any`s. Like Python's `Parse`, it refuses a singular field given twice and two members of one
//! oneof. Errors name the line and column.

mod parse;
mod print;

pub use parse::{merge, merge_replacing_scalars, parse, TextError};
pub use print::{c_escape, double_text, float_text, print, print_with, PrintOptions};

/// The float nearest a double, as a float field stores one.
#[allow(clippy::cast_possible_truncation, reason = "rounding to float is the point")]
pub(crate) fn round_to_f32(v: f64) -> f32 {
    v as f32
}
