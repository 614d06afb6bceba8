//! File names of one checkpoint prefix `P`: `P.index` and `P.data-SSSSS-of-NNNNN` (5 digits at
//! least, shard ids from 0), plus the temporary names writers use before renaming into place.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(prefix.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

pub fn index_path(prefix: &Path) -> PathBuf {
    with_suffix(prefix, ".index")
}

pub fn data_path(prefix: &Path, shard: i32, num_shards: i32) -> PathBuf {
    with_suffix(prefix, &format!(".data-{shard:05}-of-{num_shards:05}"))
}

/// `<final name>.tempstate<random>`, as TensorFlow names its in-progress files; readers ignore them.
pub fn temp_path(final_path: &Path) -> PathBuf {
    let mut random = [0u8; 8];
    // A clock-derived fallback keeps names distinct enough if the OS has no entropy to give.
    let n = match getrandom::fill(&mut random) {
        Ok(()) => u64::from_le_bytes(random),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::from(d.subsec_nanos()) ^ d.as_secs().rotate_left(30) ^ u64::from(std::process::id())),
    };
    with_suffix(final_path, &format!(".tempstate{n}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let p = Path::new("/d/model.ckpt-100");
        assert_eq!(index_path(p), Path::new("/d/model.ckpt-100.index"));
        assert_eq!(data_path(p, 0, 1), Path::new("/d/model.ckpt-100.data-00000-of-00001"));
        assert_eq!(data_path(p, 3, 123456), Path::new("/d/model.ckpt-100.data-00003-of-123456"));
        assert!(temp_path(&index_path(p)).to_string_lossy().starts_with("/d/model.ckpt-100.index.tempstate"));
    }
}
