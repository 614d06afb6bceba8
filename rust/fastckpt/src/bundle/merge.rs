//! Merging bundles into one, as TensorFlow's `MergeV2Checkpoints`: the way several writers (threads
//! of a sharded save, or processes) each write part of one checkpoint.
//!
//! ```text
//! A.index  A.data-00000-of-00001 ─rename─▶ P.data-00000-of-00002
//! B.index  B.data-00000-of-00001 ─rename─▶ P.data-00001-of-00002
//!                                          P.index = A's and B's entries, shard ids re-pointed
//! ```
//! Data files are renamed, never copied; shard ids follow the order the inputs' data files are
//! first referenced. A key may appear in several inputs only as the full entry of a partitioned
//! tensor, whose slice lists are then concatenated; together they must cover the tensor exactly
//! once (each input may hold part of it, the output must hold all of it). The inputs' index files
//! are deleted.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::entry::{checked_shape, BundleEntry};
use super::header::{BundleHeader, Endianness};
use super::writer::write_index;
use super::{naming, slices, BundleReader};
use crate::error::{display_key, Error, Result};

/// Whether `path` is written as a URL (object stores have no rename to merge with).
fn is_remote(path: &Path) -> bool {
    path.to_str().and_then(crate::storage::url_scheme).is_some()
}

/// Merges the bundles at `prefixes` into one at `output` (TF's `MergeBundles`). Fails, leaving
/// the inputs untouched, on a key two inputs hold as whole tensors, slices of one tensor that
/// disagree on dtype or full shape, slices of one tensor that overlap or leave part of it
/// uncovered, or inputs of different byte order. With `delete_dirs`, the
/// inputs' folders are removed afterwards when they are empty (TF's `delete_old_dirs`). With
/// `sync`, the new index and the output's folder (which holds the renamed data files) are
/// flushed to the device before this returns; the data files' contents are their writers' to sync.
pub fn merge_bundles(prefixes: &[PathBuf], output: &Path, delete_dirs: bool, sync: bool) -> Result<()> {
    if prefixes.is_empty() {
        return Err(Error::InvalidArgument("At least one prefix checkpoint file must exist, but none existed.".into()));
    }
    if let Some(url) = prefixes.iter().map(PathBuf::as_path).chain([output]).find(|p| is_remote(p)) {
        return Err(Error::Unsupported(format!(
            "{}: merging checkpoints moves files, which object stores cannot do; merge on a local path",
            url.display()
        )));
    }
    let mut entries: BTreeMap<Vec<u8>, BundleEntry> = BTreeMap::new();
    // Input data file → its shard id in the output, in order of first reference.
    let mut shards: HashMap<PathBuf, i32> = HashMap::new();
    let mut renames: Vec<PathBuf> = Vec::new();
    let mut endianness: Option<Endianness> = None;
    for prefix in prefixes {
        let reader = BundleReader::open(prefix, false)?;
        let header = reader.header();
        match endianness {
            None => endianness = Some(header.endianness),
            Some(e) if e != header.endianness => {
                return Err(Error::InvalidArgument(
                    "Merging bundles with conflicting endianness; inputs corrupted?".into(),
                ))
            }
            Some(_) => {}
        }
        for (key, entry) in reader.raw_entries() {
            let duplicate = || {
                Error::InvalidArgument(format!(
                    "Duplicate tensor keyed by {} encountered, when merging prefix: {}",
                    display_key(key),
                    prefix.display()
                ))
            };
            if let Some(existing) = entries.get_mut(key) {
                if existing.slices.is_empty() || entry.slices.is_empty() {
                    return Err(duplicate());
                }
                if existing.dtype != entry.dtype || existing.shape != entry.shape {
                    return Err(Error::InvalidArgument(format!(
                        "slices of tensor {} disagree on dtype or shape, when merging prefix: {}",
                        display_key(key),
                        prefix.display()
                    )));
                }
                existing.slices.extend(entry.slices.iter().cloned());
                continue;
            }
            let mut entry = entry.clone();
            if entry.slices.is_empty() {
                let data = naming::data_path(prefix, entry.shard_id, header.num_shards);
                let next = shard_number(shards.len())?;
                entry.shard_id = *shards.entry(data.clone()).or_insert_with(|| {
                    renames.push(data);
                    next
                });
            }
            entries.insert(key.to_vec(), entry);
        }
    }
    for (key, entry) in &entries {
        check_partition(key, entry)?;
    }
    let num_shards = shard_number(renames.len().max(1))?;
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    for (shard, from) in renames.iter().enumerate() {
        let to = naming::data_path(output, shard_number(shard)?, num_shards);
        std::fs::rename(from, &to).map_err(|e| Error::io(from, e))?;
    }
    let header =
        BundleHeader { num_shards, endianness: endianness.unwrap_or(Endianness::Little), ..BundleHeader::new(1) };
    let index = naming::index_path(output);
    write_index(&index, &header, &entries)?.commit(sync)?;
    for prefix in prefixes {
        let input_index = naming::index_path(prefix);
        if input_index != index {
            let _ = std::fs::remove_file(input_index);
        }
        if delete_dirs {
            if let Some(dir) = prefix.parent().filter(|d| !d.as_os_str().is_empty() && Some(*d) != output.parent()) {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
    Ok(())
}

/// Refuses a partitioned tensor whose slices, gathered from all inputs, overlap or do not cover
/// it whole: no reader could assemble it.
fn check_partition(key: &[u8], entry: &BundleEntry) -> Result<()> {
    if entry.slices.is_empty() {
        return Ok(());
    }
    let refuse = |detail: String| Error::InvalidArgument(format!("partitioned tensor {}: {detail}", display_key(key)));
    let (dims, count) = checked_shape(&entry.shape).map_err(refuse)?;
    let mut regions: Vec<Vec<(usize, usize)>> = Vec::with_capacity(entry.slices.len());
    let mut covered = 0usize;
    for slice in &entry.slices {
        let region = slices::resolve(slice, &dims).map_err(refuse)?;
        if let Some(i) = regions.iter().position(|r| slices::overlap(r, &region)) {
            return Err(refuse(slices::overlap_error(&entry.slices[i], slice)));
        }
        covered = covered.saturating_add(region.iter().map(|&(_, len)| len).product());
        regions.push(region);
    }
    if covered != count {
        return Err(refuse(format!("the merged slices hold {covered} of its {count} elements")));
    }
    Ok(())
}

/// A data file's number as the header and the file names hold it (an `i32`).
fn shard_number(n: usize) -> Result<i32> {
    i32::try_from(n).map_err(|_| Error::InvalidArgument(format!("too many data files to merge: {n}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::writer::Payload;
    use crate::proto::{Extent, TensorSlice};
    use crate::{BundleWriter, DataType};

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fastckpt-merge-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn part(prefix: &Path, whole: &[(&str, f32)], row: Option<i64>) {
        let mut w = BundleWriter::create(prefix, 1).unwrap().with_partial_slices(true);
        for (name, value) in whole {
            w.add(name.as_bytes(), DataType::FLOAT, &[1], Payload::Fixed(&value.to_le_bytes())).unwrap();
        }
        if let Some(r) = row {
            let slice = TensorSlice { extents: vec![Extent { start: r, length: 1 }] };
            let bytes = (r as f32).to_le_bytes();
            w.add_slice(b"part", &[2], &slice, DataType::FLOAT, Payload::Fixed(&bytes)).unwrap();
        }
        w.finish().unwrap();
    }

    #[test]
    fn renames_data_files_and_repoints_entries() {
        let dir = scratch("ok");
        part(&dir.join("in/a"), &[("x", 1.0)], Some(0));
        part(&dir.join("in/b"), &[("y", 2.0)], Some(1));
        merge_bundles(&[dir.join("in/a"), dir.join("in/b")], &dir.join("out"), true, false).unwrap();
        assert!(!dir.join("in").exists(), "inputs moved and their empty folder removed");
        let r = BundleReader::open(dir.join("out"), true).unwrap();
        assert_eq!(r.header().num_shards, 2);
        let value = |k: &[u8]| r.tensor_owned(k).unwrap().data.bytes().unwrap().to_vec();
        assert_eq!(value(b"x"), 1f32.to_le_bytes());
        assert_eq!(value(b"y"), 2f32.to_le_bytes());
        assert_eq!(value(b"part"), [0f32.to_le_bytes(), 1f32.to_le_bytes()].concat());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_duplicates_and_leaves_inputs() {
        let dir = scratch("dup");
        part(&dir.join("a"), &[("x", 1.0)], None);
        part(&dir.join("b"), &[("x", 2.0)], None);
        let err = merge_bundles(&[dir.join("a"), dir.join("b")], &dir.join("out"), true, false).unwrap_err();
        assert!(err.to_string().starts_with("Duplicate tensor keyed by x encountered, when merging prefix: "), "{err}");
        assert!(BundleReader::open(dir.join("a"), true).is_ok() && BundleReader::open(dir.join("b"), true).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_partitions_not_covered_exactly_once() {
        let dir = scratch("cover");
        part(&dir.join("a"), &[], Some(0));
        let err = merge_bundles(&[dir.join("a")], &dir.join("out"), true, false).unwrap_err();
        assert_eq!(err.to_string(), "partitioned tensor part: the merged slices hold 1 of its 2 elements");
        // Rows 0..2 of a [3] tensor in "c", row 0 in "d": row 0 held twice, row 2 by none.
        let rows = |prefix: PathBuf, start: i64, length: usize| {
            let mut w = BundleWriter::create(prefix, 1).unwrap().with_partial_slices(true);
            let slice = TensorSlice { extents: vec![Extent { start, length: length as i64 }] };
            w.add_slice(b"v", &[3], &slice, DataType::FLOAT, Payload::Fixed(&vec![0; 4 * length])).unwrap();
            w.finish().unwrap();
        };
        rows(dir.join("c"), 0, 2);
        rows(dir.join("d"), 0, 1);
        let err = merge_bundles(&[dir.join("c"), dir.join("d")], &dir.join("out"), true, false).unwrap_err();
        assert!(err.to_string().ends_with("Overlapping slices: existing slice = 0,2, new slice = 0,1"), "{err}");
        assert!(BundleReader::open(dir.join("a"), true).is_ok(), "inputs left as they were");
        assert!(!naming::index_path(&dir.join("out")).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
