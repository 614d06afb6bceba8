//! Which tensors a conversion keeps and what it calls them.
//!
//! - include / exclude patterns: a glob (`*` any run of characters, `/` included; `?` one
//!   character; `[...]` a class) matched against the whole name, or a regular expression written
//!   `re:EXPR` that may match anywhere in the name (as Python's `re.search`);
//! - TF2 friendly names: each tensor named by its object's path through the model, as the
//!   checkpoint's object graph gives it ([`ObjectGraph::friendly_names`]), so that a Keras 3 kernel
//!   stored as `optimizer/_trainable_variables/0/.ATTRIBUTES/VARIABLE_VALUE` is called
//!   `model/…/_kernel`; sources without an object graph: `/.ATTRIBUTES/VARIABLE_VALUE` stripped;
//! - rename rules, applied in order, each to the result of the one before: a regular expression and
//!   its replacement, written as in Python's `re.sub` (`\1`, `\g<name>`) or as in Rust (`$1`,
//!   `${name}`).

use std::collections::HashMap;

use regex::Regex;

use crate::bundle::TensorData;
use crate::checkpoint::{self, ObjectGraph};
use crate::error::{Error, Result};

use super::TensorSource;

/// What TensorFlow 2's object-based checkpoints append to the path of a variable's value.
pub const TF2_VALUE_SUFFIX: &str = "/.ATTRIBUTES/VARIABLE_VALUE";

/// The tensor holding a TF2 checkpoint's object graph ([`checkpoint::OBJECT_GRAPH_KEY`]).
pub const OBJECT_GRAPH_KEY: &[u8] = checkpoint::OBJECT_GRAPH_KEY.as_bytes();

/// One include/exclude pattern.
#[derive(Debug, Clone)]
pub struct Pattern(Regex);

impl Pattern {
    pub fn parse(text: &str) -> Result<Self> {
        let expr = match text.strip_prefix("re:") {
            Some(expr) => expr.to_owned(),
            None => glob_to_regex(text),
        };
        Regex::new(&expr)
            .map(Pattern)
            .map_err(|e| Error::InvalidArgument(format!("invalid name pattern '{text}': {e}")))
    }

    pub fn matches(&self, name: &str) -> bool {
        self.0.is_match(name)
    }
}

fn glob_to_regex(glob: &str) -> String {
    let mut out = String::from("^(?s:");
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '[' => {
                // A class is copied as it is (`[!...]` negates, as in fnmatch), up to its `]`.
                let mut class = String::from("[");
                if chars.peek() == Some(&'!') {
                    chars.next();
                    class.push('^');
                }
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == ']' && class.len() > 1 {
                        closed = true;
                        break;
                    }
                    if c == '\\' || c == '[' {
                        class.push('\\');
                    }
                    class.push(c);
                }
                if closed {
                    out.push_str(&class);
                    out.push(']');
                } else {
                    out.push_str(&regex::escape(&format!("[{}", &class[1..])));
                }
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push_str(")$");
    out
}

/// One rename rule.
#[derive(Debug, Clone)]
pub struct RenameRule {
    pattern: Regex,
    replacement: String,
}

impl RenameRule {
    pub fn parse(pattern: &str, replacement: &str) -> Result<Self> {
        let pattern = Regex::new(pattern)
            .map_err(|e| Error::InvalidArgument(format!("invalid rename pattern '{pattern}': {e}")))?;
        Ok(RenameRule { pattern, replacement: python_replacement(replacement) })
    }

    pub fn apply(&self, name: &str) -> String {
        self.pattern.replace_all(name, self.replacement.as_str()).into_owned()
    }
}

/// Python's replacement syntax (`\1`, `\g<1>`, `\g<name>`, `\\`) in the regex crate's (`${1}`,
/// `${name}`, `$$` for a literal `$`). `$1` and `${name}` written directly keep their meaning.
fn python_replacement(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        if c != '\\' {
            out.push(c);
            continue;
        }
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if !digits.is_empty() {
            out.push_str(&format!("${{{digits}}}"));
            rest = &rest[digits.len()..];
        } else if let Some(group) = rest.strip_prefix("g<").and_then(|r| r.split_once('>')) {
            out.push_str(&format!("${{{}}}", group.0));
            rest = group.1;
        } else if let Some(r) = rest.strip_prefix('\\') {
            out.push('\\');
            rest = r;
        } else {
            out.push('\\');
        }
    }
    out
}

/// The source's TF2 object graph, if it has one.
fn object_graph(source: &dyn TensorSource) -> Result<Option<ObjectGraph>> {
    if !source.contains(OBJECT_GRAPH_KEY) {
        return Ok(None);
    }
    let invalid =
        |detail: String| Error::corrupt(source.path(), format!("tensor '_CHECKPOINTABLE_OBJECT_GRAPH': {detail}"));
    let serialized = match source.tensor(OBJECT_GRAPH_KEY)?.data {
        TensorData::Elements(mut elements) if elements.len() == 1 => elements.swap_remove(0),
        _ => return Err(invalid("not a scalar string".into())),
    };
    ObjectGraph::decode(&serialized).map(Some).map_err(|e| invalid(e.to_string()))
}

/// The serialized object graph to write beside tensors renamed or left out: `out_name` gives
/// each source key's output name (`None`: not written). `None` when the source has no graph or
/// its graph already names the output's keys, so that it is copied as it is.
pub fn rekeyed_object_graph(
    source: &dyn TensorSource,
    out_name: impl Fn(&str) -> Option<String>,
) -> Result<Option<Vec<u8>>> {
    let Some(graph) = object_graph(source)? else {
        return Ok(None);
    };
    let rekeyed = graph.rekeyed(out_name);
    Ok((rekeyed != graph).then(|| rekeyed.encode()))
}

/// `model/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE` → `model/dense/kernel`; other names unchanged.
pub fn friendly_name(name: &str) -> &str {
    name.strip_suffix(TF2_VALUE_SUFFIX).unwrap_or(name)
}

/// The friendly names of one source's tensors: from its object graph where it has one, else
/// (and for keys the graph does not list) by [`friendly_name`].
#[derive(Debug, Default)]
pub struct FriendlyNames(HashMap<String, String>);

impl FriendlyNames {
    pub fn of(source: &dyn TensorSource) -> Result<Self> {
        let graph = object_graph(source)?.unwrap_or_default();
        Ok(FriendlyNames(graph.friendly_names().into_iter().collect()))
    }

    pub fn get<'a>(&'a self, key: &'a str) -> &'a str {
        self.0.get(key).map_or_else(|| friendly_name(key), String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names() {
        let p = Pattern::parse("optimizer/*").unwrap();
        assert!(p.matches("optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE"));
        assert!(!p.matches("model/optimizer/x"));
        let p = Pattern::parse("layer_[!0]/?").unwrap();
        assert!(p.matches("layer_1/b") && !p.matches("layer_0/b") && !p.matches("layer_1/bb"));
        assert!(Pattern::parse("a.b").unwrap().matches("a.b") && !Pattern::parse("a.b").unwrap().matches("axb"));
    }

    #[test]
    fn regexes_search() {
        let p = Pattern::parse("re:OPTIMIZER_SLOT|global_step").unwrap();
        assert!(p.matches("x/.OPTIMIZER_SLOT/opt/m") && p.matches("global_step") && !p.matches("kernel"));
        assert!(Pattern::parse("re:(").is_err());
    }

    #[test]
    fn rename_rules_take_python_and_rust_syntax() {
        assert_eq!(
            RenameRule::parse(r"^model/(\w+)/", r"m.\1.").unwrap().apply("model/dense/kernel"),
            "m.dense.kernel"
        );
        assert_eq!(RenameRule::parse(r"(?P<l>\w+)/kernel", r"\g<l>.weight").unwrap().apply("d/kernel"), "d.weight");
        assert_eq!(RenameRule::parse("/", "$1.").unwrap().apply("a/b"), "a.b");
        assert_eq!(RenameRule::parse("x", r"\\$").unwrap().apply("x"), "\\$");
    }

    #[test]
    fn friendly_names_strip_the_value_suffix() {
        assert_eq!(friendly_name("model/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"), "model/dense/kernel");
        assert_eq!(friendly_name("global_step"), "global_step");
    }
}
