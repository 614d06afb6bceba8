//! Device strings the way TensorFlow's Python `DeviceSpec` reads, merges and writes them.
//!
//! Importing a graph rewrites every node's device through `tf.device` semantics, so a GraphDef's
//! `"/cpu:0"` comes back as `"/device:CPU:0"` and enclosing `tf.device` scopes fill the fields a
//! node leaves open:
//!
//! ```text
//! "/job:w/gpu:1"  → job "w", type GPU, index 1 → "/job:w/device:GPU:1"
//! scope "/job:ps/replica:0" + node "/device:CPU:*" → "/job:ps/replica:0/device:CPU:*"
//! ```
//! Parsing errors carry Python's `ValueError` texts.

/// The five optional parts of a device string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceSpec {
    pub job: Option<String>,
    pub replica: Option<i64>,
    pub task: Option<i64>,
    pub device_type: Option<String>,
    /// `None` is any index (`*`).
    pub device_index: Option<i64>,
}

/// The device types Python's parser recognises in the short form (`/gpu:0`).
const SHORT_TYPES: [&str; 5] = ["CPU", "GPU", "TPU", "CUSTOM", "EPU"];

/// Python's `int(text)`: surrounding whitespace, a sign, digits with single underscores between.
pub(crate) fn python_int(text: &str) -> Result<i64, String> {
    let t = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    let ok = !digits.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.chars().all(|c| c.is_ascii_digit() || c == '_');
    let err = || format!("invalid literal for int() with base 10: {}", python_repr(text));
    if !ok {
        return Err(err());
    }
    digits.replace('_', "").parse::<i64>().map(|v| if t.starts_with('-') { -v } else { v }).map_err(|_| err())
}

/// Python's `repr` of a str.
pub(crate) fn python_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

impl DeviceSpec {
    /// Parses a device string as `DeviceSpec.from_string` does.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let (mut job, mut replica, mut task, mut device_type, mut device_index) = (None, None, None, None, None);
        for part in spec.split('/') {
            let y: Vec<&str> = part.split(':').collect();
            let upper = y[0].to_ascii_uppercase();
            match y.len() {
                2 if y[0] == "job" => job = Some(y[1].to_string()),
                2 if y[0] == "replica" => replica = Some(y[1]),
                2 if y[0] == "task" => task = Some(y[1]),
                1 | 2 if SHORT_TYPES.contains(&upper.as_str()) => {
                    if device_type.is_some() {
                        return Err(multiple(spec));
                    }
                    device_type = Some(upper);
                    if y.len() == 2 && y[1] != "*" {
                        device_index = Some(python_int(y[1])?);
                    }
                }
                3 if y[0] == "device" => {
                    if device_type.is_some() {
                        return Err(multiple(spec));
                    }
                    device_type = Some(y[1].to_string());
                    if y[2] != "*" {
                        device_index = Some(python_int(y[2])?);
                    }
                }
                _ if !y[0].is_empty() => {
                    return Err(format!(
                        "Unknown attribute '{}' is encountered while parsing the device spec: '{spec}'.",
                        y[0]
                    ))
                }
                _ => {}
            }
        }
        let device_type = device_type.map(|t| if t == "cpu" || t == "gpu" { t.to_ascii_uppercase() } else { t });
        Ok(Self {
            job,
            replica: replica.map(python_int).transpose()?,
            task: task.map(python_int).transpose()?,
            device_type,
            device_index,
        })
    }

    /// This spec with the fields `inner` sets taken from `inner` (`make_merged_spec`).
    pub fn merged(&self, inner: &DeviceSpec) -> DeviceSpec {
        DeviceSpec {
            job: inner.job.clone().or_else(|| self.job.clone()),
            replica: inner.replica.or(self.replica),
            task: inner.task.or(self.task),
            device_type: inner.device_type.clone().or_else(|| self.device_type.clone()),
            device_index: inner.device_index.or(self.device_index),
        }
    }
}

fn multiple(spec: &str) -> String {
    format!("Multiple device types are not allowed while parsing the device spec: {spec}.")
}

impl std::fmt::Display for DeviceSpec {
    /// The canonical form: `/job:J/replica:R/task:T/device:TYPE:N`, absent parts left out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(job) = &self.job {
            write!(f, "/job:{job}")?;
        }
        if let Some(r) = self.replica {
            write!(f, "/replica:{r}")?;
        }
        if let Some(t) = self.task {
            write!(f, "/task:{t}")?;
        }
        if let Some(t) = &self.device_type {
            match self.device_index {
                Some(i) => write!(f, "/device:{t}:{i}")?,
                None => write!(f, "/device:{t}:*")?,
            }
        }
        Ok(())
    }
}

/// The device an operation gets inside `tf.device` scopes (`scopes`, outermost first, already
/// parsed) when it asks for `requested`: the innermost non-empty spec wins field by field.
pub fn apply_scopes(scopes: &[DeviceSpec], requested: &str) -> Result<String, String> {
    let mut current = String::new();
    let own = if requested.is_empty() { None } else { Some(DeviceSpec::parse(requested)?) };
    for spec in own.iter().chain(scopes.iter().rev()) {
        if spec.to_string().is_empty() {
            continue;
        }
        let now = DeviceSpec::parse(&current)?;
        current = spec.merged(&now).to_string();
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        let c = |s: &str| DeviceSpec::parse(s).unwrap().to_string();
        assert_eq!(c("/cpu:0"), "/device:CPU:0");
        assert_eq!(c("/job:worker/task:1/gpu:0"), "/job:worker/task:1/device:GPU:0");
        assert_eq!(c("/job:w/replica:1/task:2/device:cpu:3"), "/job:w/replica:1/task:2/device:CPU:3");
        assert_eq!(c("/device:tpu:*"), "/device:tpu:*");
        assert_eq!(c("/task:01"), "/task:1");
        assert_eq!(c(""), "");
        assert_eq!(
            DeviceSpec::parse("/foo:bar").unwrap_err(),
            "Unknown attribute 'foo' is encountered while parsing the device spec: '/foo:bar'."
        );
        assert_eq!(
            DeviceSpec::parse("/cpu:0/gpu:0").unwrap_err(),
            "Multiple device types are not allowed while parsing the device spec: /cpu:0/gpu:0."
        );
        assert_eq!(DeviceSpec::parse("/gpu:x").unwrap_err(), "invalid literal for int() with base 10: 'x'");
    }

    #[test]
    fn scopes_fill_open_fields() {
        let scopes = [DeviceSpec::parse("/job:ps/gpu:3").unwrap()];
        assert_eq!(apply_scopes(&scopes, "/device:CPU:*").unwrap(), "/job:ps/device:CPU:3");
        assert_eq!(apply_scopes(&scopes, "").unwrap(), "/job:ps/device:GPU:3");
        assert_eq!(apply_scopes(&[], "/cpu:0").unwrap(), "/device:CPU:0");
        assert_eq!(python_repr("it's"), "\"it's\"");
    }
}
