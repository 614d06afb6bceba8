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
//!
//! On object storage nothing can be renamed: the parts were written with their data already
//! under the output's names ([`BundleWriter::create_part`](super::BundleWriter::create_part)),
//! and the merge keeps their shard ids, checks that every data object they point at is there,
//! and PUTs the joined index (the commit point). No data is copied. The requests per part (GET
//! of its index, HEAD of its data object, DELETE of its index) wait on the network, so they go
//! out [`REQUESTS_IN_FLIGHT`] at a time.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::entry::{checked_shape, BundleEntry};
use super::header::BundleHeader;
use super::writer::{encode_index, write_index};
use super::{naming, slices, BundleReader};
use crate::error::{display_key, Error, Result};
use crate::storage::{Location, Remote};

/// Requests to the object store a merge keeps in flight.
const REQUESTS_IN_FLIGHT: usize = 16;

/// Merges the bundles at `prefixes` into one at `output` (TF's `MergeBundles`). Fails, leaving
/// the inputs untouched, on a key two inputs hold as whole tensors, slices of one tensor that
/// disagree on dtype or full shape, slices of one tensor that overlap or leave part of it
/// uncovered, or inputs of different byte order. With `delete_dirs`, the
/// inputs' folders are removed afterwards when they are empty (TF's `delete_old_dirs`). With
/// `sync`, the new index and the output's folder (which holds the renamed data files) are
/// flushed to the device before this returns; the data files' contents are their writers' to sync.
/// An `output` on object storage takes parts written by `BundleWriter::create_part` for it.
pub fn merge_bundles(prefixes: &[PathBuf], output: &Path, delete_dirs: bool, sync: bool) -> Result<()> {
    if prefixes.is_empty() {
        return Err(Error::InvalidArgument("At least one prefix checkpoint file must exist, but none existed.".into()));
    }
    let remote_output = match Location::of(output)? {
        Location::Remote(remote) => Some(remote),
        Location::Local(_) => None,
    };
    for prefix in prefixes {
        let remote_part = matches!(Location::of(prefix)?, Location::Remote(_));
        if remote_part != remote_output.is_some() {
            return Err(Error::Unsupported(format!(
                "{}: cannot merge into {}: the parts and the merged checkpoint must all be local paths or all \
                 be on object storage (data files are renamed or written in place, never copied)",
                prefix.display(),
                output.display()
            )));
        }
    }
    match remote_output {
        Some(remote) => merge_in_place(prefixes, &remote),
        None => merge_by_renaming(prefixes, output, delete_dirs, sync),
    }
}

/// The entries of the bundles `readers` (opened from `prefixes`) joined: slice lists of a
/// partitioned tensor concatenated, every other key held by one input only, each entry's shard
/// id given by `shard_of(input number, reader, entry)` (a partitioned tensor's: by the first
/// input holding it). Every partitioned tensor must come out whole. Also the header the output
/// takes over: the first input's, whose byte order and format version every input must share.
fn join_entries(
    prefixes: &[PathBuf],
    readers: &[BundleReader],
    mut shard_of: impl FnMut(usize, &BundleReader, &BundleEntry) -> Result<i32>,
) -> Result<(BTreeMap<Vec<u8>, BundleEntry>, BundleHeader)> {
    let mut entries: BTreeMap<Vec<u8>, BundleEntry> = BTreeMap::new();
    let mut first: Option<&BundleHeader> = None;
    for (input, (prefix, reader)) in prefixes.iter().zip(readers).enumerate() {
        let header = reader.header();
        let first = *first.get_or_insert(header);
        if header.endianness != first.endianness {
            return Err(Error::InvalidArgument(
                "Merging bundles with conflicting endianness; inputs corrupted?".into(),
            ));
        }
        if header.version != first.version {
            return Err(Error::InvalidArgument(format!(
                "Merging bundles with different format versions: {} has {:?}, {} has {:?}",
                prefixes[0].display(),
                first.version,
                prefix.display(),
                header.version
            )));
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
            // The full entry of a partitioned tensor holds no data, but TensorFlow re-points its
            // shard id all the same (to its input's data file): so do we, for the same bytes.
            let mut entry = entry.clone();
            entry.shard_id = shard_of(input, reader, &entry)?;
            entries.insert(key.to_vec(), entry);
        }
    }
    for (key, entry) in &entries {
        check_partition(key, entry)?;
    }
    Ok((entries, first.cloned().unwrap_or_else(|| BundleHeader::new(1))))
}

/// Local parts: their data files renamed to `output.data-…`, numbered in order of first reference.
fn merge_by_renaming(prefixes: &[PathBuf], output: &Path, delete_dirs: bool, sync: bool) -> Result<()> {
    // Input data file → its shard id in the output, in order of first reference.
    let mut shards: HashMap<PathBuf, i32> = HashMap::new();
    let mut renames: Vec<PathBuf> = Vec::new();
    let readers = prefixes.iter().map(|prefix| BundleReader::open(prefix, false)).collect::<Result<Vec<_>>>()?;
    let (entries, header) = join_entries(prefixes, &readers, |input, reader, entry| {
        let data = naming::data_path(&prefixes[input], entry.shard_id, reader.header().num_shards);
        let next = shard_number(shards.len())?;
        Ok(*shards.entry(data.clone()).or_insert_with(|| {
            renames.push(data);
            next
        }))
    })?;
    let num_shards = shard_number(renames.len().max(1))?;
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    for (shard, from) in renames.iter().enumerate() {
        let to = naming::data_path(output, shard_number(shard)?, num_shards);
        std::fs::rename(from, &to).map_err(|e| Error::io(from, e))?;
    }
    let header = BundleHeader { num_shards, ..header };
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

/// Parts on object storage, whose data objects already carry `output`'s names: the parts must
/// agree on the number of data objects and each data object must belong to one part; the
/// objects the entries point at must exist and be long enough. Then `output.index` is PUT and
/// the parts' indexes deleted.
fn merge_in_place(prefixes: &[PathBuf], output: &Remote) -> Result<()> {
    let mut num_shards: Option<(i32, usize)> = None;
    // Data object → the part that wrote it, and how many bytes its entries need.
    let mut owners: BTreeMap<i32, (usize, u64)> = BTreeMap::new();
    let readers =
        concurrently(prefixes, |prefix| BundleReader::open(prefix, false)).into_iter().collect::<Result<Vec<_>>>()?;
    let (entries, header) = join_entries(prefixes, &readers, |input, reader, entry| {
        let n = reader.header().num_shards;
        match num_shards {
            None => num_shards = Some((n, input)),
            Some((first, other)) if first != n => {
                return Err(Error::InvalidArgument(format!(
                    "cannot merge {} into {}: it is a part of a checkpoint of {n} data files, {} of one of {first}",
                    prefixes[input].display(),
                    output.url(),
                    prefixes[other].display()
                )))
            }
            Some(_) => {}
        }
        if !entry.slices.is_empty() {
            return Ok(entry.shard_id); // no data of its own, so no data object to claim
        }
        let end = u64::try_from(entry.offset.saturating_add(entry.size)).unwrap_or(0);
        let owner = owners.entry(entry.shard_id).or_insert((input, 0));
        if owner.0 != input {
            return Err(Error::InvalidArgument(format!(
                "cannot merge into {}: {} and {} both hold tensors of data file {}",
                output.url(),
                prefixes[owner.0].display(),
                prefixes[input].display(),
                naming::data_suffix(entry.shard_id, n)
            )));
        }
        owner.1 = owner.1.max(end);
        Ok(entry.shard_id)
    })?;
    let num_shards = num_shards.map_or(1, |(n, _)| n);
    let owners: Vec<(i32, usize, u64)> =
        owners.into_iter().map(|(shard, (input, needed))| (shard, input, needed)).collect();
    let sizes = concurrently(&owners, |&(shard, ..)| {
        output.with_suffix(&naming::data_suffix(shard, num_shards)).head().map(|(size, _)| size)
    });
    for (&(shard, input, needed), size) in owners.iter().zip(sizes) {
        let data = output.with_suffix(&naming::data_suffix(shard, num_shards));
        let size = match size {
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::InvalidArgument(format!(
                    "cannot merge {} into {}: its data object {} does not exist; on object storage a part \
                     writes its data under the merged checkpoint's names (BundleWriter::create_part), since \
                     objects cannot be renamed",
                    prefixes[input].display(),
                    output.url(),
                    data.url()
                )))
            }
            size => size?,
        };
        if size < needed {
            return Err(Error::InvalidArgument(format!(
                "cannot merge {} into {}: its entries need {needed} bytes of {}, which holds {size}",
                prefixes[input].display(),
                output.url(),
                data.url()
            )));
        }
    }
    let header = BundleHeader { num_shards, ..header };
    let index = output.with_suffix(naming::INDEX_SUFFIX);
    let mut bytes = Vec::new();
    encode_index(&mut bytes, &header, &entries).map_err(|e| Error::io(index.display_path(), e))?;
    Location::Remote(index.clone()).write(&bytes, false)?;
    concurrently(prefixes, |prefix| {
        let part_index = Location::of(prefix)?.with_suffix(naming::INDEX_SUFFIX);
        if part_index.display() != index.url() {
            part_index.delete()?;
        }
        Ok::<_, Error>(())
    });
    Ok(())
}

/// `op` on every item, on up to [`REQUESTS_IN_FLIGHT`] threads (each taking a run of items),
/// the results in the items' order.
fn concurrently<T: Sync, R: Send>(items: &[T], op: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let run = items.len().div_ceil(REQUESTS_IN_FLIGHT).max(1);
    std::thread::scope(|scope| {
        let op = &op;
        let threads: Vec<_> =
            items.chunks(run).map(|run| scope.spawn(move || run.iter().map(op).collect::<Vec<R>>())).collect();
        threads
            .into_iter()
            .flat_map(|thread| thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect::<Vec<R>>()
    })
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
    fn object_store_parts_are_joined_in_place() {
        let (dir, out) = ("memory://merge-unit/run/ckpt_temp", "memory://merge-unit/run/ckpt");
        let parts: Vec<PathBuf> = (0..3).map(|i| PathBuf::from(format!("{dir}/part-{i}"))).collect();
        for (i, part) in (0..3).zip(&parts) {
            let mut w = BundleWriter::create_part(part, 1, out, i, 3).unwrap().with_partial_slices(true);
            let value = i as f32;
            w.add(format!("own_{i}").as_bytes(), DataType::FLOAT, &[1], Payload::Fixed(&value.to_le_bytes())).unwrap();
            let slice = TensorSlice { extents: vec![Extent { start: i64::from(i), length: 1 }] };
            w.add_slice(b"part", &[3], &slice, DataType::FLOAT, Payload::Fixed(&value.to_le_bytes())).unwrap();
            w.finish().unwrap();
        }
        let object = |suffix: &str| Location::parse(&format!("{out}{suffix}")).unwrap();
        assert!(!object(".index").exists().unwrap(), "no index before the merge");
        merge_bundles(&parts, Path::new(out), true, false).unwrap();
        let r = BundleReader::open(out, true).unwrap();
        assert_eq!(r.header().num_shards, 3);
        for i in 0..3 {
            let got = r.tensor_owned(format!("own_{i}").as_bytes()).unwrap();
            assert_eq!(got.data.bytes().unwrap(), (i as f32).to_le_bytes());
            assert!(object(&naming::data_suffix(i, 3)).exists().unwrap());
            assert!(!Location::parse(&format!("{dir}/part-{i}.index")).unwrap().exists().unwrap());
        }
        let whole = r.tensor_owned(b"part").unwrap();
        assert_eq!(whole.data.bytes().unwrap(), [0f32, 1., 2.].map(f32::to_le_bytes).concat());
    }

    #[test]
    fn object_store_parts_with_their_own_data_names_are_refused() {
        let (part, out) = ("memory://merge-unit/own/part-0", "memory://merge-unit/own/ckpt");
        let mut w = BundleWriter::create(part, 1).unwrap();
        w.add(b"x", DataType::FLOAT, &[1], Payload::Fixed(&1f32.to_le_bytes())).unwrap();
        w.finish().unwrap();
        let err = merge_bundles(&[PathBuf::from(part)], Path::new(out), true, false).unwrap_err().to_string();
        assert!(
            err.contains("its data object memory://merge-unit/own/ckpt.data-00000-of-00001 does not exist"),
            "{err}"
        );
        assert!(!Location::parse(&format!("{out}.index")).unwrap().exists().unwrap());
        let err = merge_bundles(&[PathBuf::from("/tmp/local-part")], Path::new(out), true, false).unwrap_err();
        assert!(err.to_string().contains("must all be local paths or all be on object storage"), "{err}");
        let err = BundleWriter::create_part("/tmp/p", 1, "/tmp/q", 0, 1).unwrap_err();
        assert!(err.to_string().contains("are for object storage"), "{err}");
        let err = BundleWriter::create_part(part, 1, out, 2, 2).unwrap_err();
        assert!(err.to_string().contains("shard 2 is not one of the 2 data files"), "{err}");
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
