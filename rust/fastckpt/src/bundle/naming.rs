//! File names of one checkpoint prefix `P`: `P.index` and `P.data-SSSSS-of-NNNNN` (5 digits at
//! least, shard ids from 0). (Writers' temporary names come from [`crate::atomic_file`].)

use std::ffi::OsString;
use std::path::{Path, PathBuf};

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(prefix.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

pub const INDEX_SUFFIX: &str = ".index";

/// `.data-SSSSS-of-NNNNN`.
pub fn data_suffix(shard: i32, num_shards: i32) -> String {
    format!(".data-{shard:05}-of-{num_shards:05}")
}

pub fn index_path(prefix: &Path) -> PathBuf {
    with_suffix(prefix, INDEX_SUFFIX)
}

pub fn data_path(prefix: &Path, shard: i32, num_shards: i32) -> PathBuf {
    with_suffix(prefix, &data_suffix(shard, num_shards))
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
    }
}
