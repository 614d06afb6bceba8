//! Property tests: whatever is written reads back the same, and whatever garbage a file holds,
//! reading it returns an error instead of panicking.

#![allow(clippy::unwrap_used)] // test helpers, not data paths

use fastckpt::bundle::writer::Payload;
use fastckpt::bundle::{naming, TensorData};
use fastckpt::table::{Table, TableBuilder};
use fastckpt::{BundleReader, BundleWriter, DataType};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A scratch folder, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch() -> Scratch {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!("fastckpt-prop-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let dir = std::env::temp_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

/// A tensor to write: name, dtype and shape, and its contents.
#[derive(Debug, Clone)]
enum Contents {
    Fixed(DataType, Vec<i64>, Vec<u8>),
    Strings(Vec<i64>, Vec<Vec<u8>>),
}

fn shape() -> impl Strategy<Value = Vec<i64>> {
    prop::collection::vec(0i64..5, 0..4)
}

fn contents() -> impl Strategy<Value = Contents> {
    let fixed = (
        prop::sample::select(vec![DataType::FLOAT, DataType::INT8, DataType::COMPLEX128, DataType::BFLOAT16]),
        shape(),
    )
        .prop_flat_map(|(dtype, shape)| {
            let n = usize::try_from(shape.iter().product::<i64>()).unwrap() * dtype.element_size().unwrap();
            prop::collection::vec(any::<u8>(), n).prop_map(move |bytes| Contents::Fixed(dtype, shape.clone(), bytes))
        });
    let strings = shape().prop_flat_map(|shape| {
        let n = usize::try_from(shape.iter().product::<i64>()).unwrap();
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), n)
            .prop_map(move |elements| Contents::Strings(shape.clone(), elements))
    });
    prop_oneof![fixed, strings]
}

fn write(prefix: &std::path::Path, alignment: usize, tensors: &BTreeMap<Vec<u8>, Contents>) {
    let mut w = BundleWriter::create(prefix, alignment).unwrap();
    for (name, c) in tensors {
        match c {
            Contents::Fixed(dtype, shape, bytes) => w.add(name, *dtype, shape, Payload::Fixed(bytes)).unwrap(),
            Contents::Strings(shape, elements) => {
                let refs: Vec<&[u8]> = elements.iter().map(Vec::as_slice).collect();
                w.add(name, DataType::STRING, shape, Payload::Strings(&refs)).unwrap()
            }
        }
    }
    w.finish().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn tables_round_trip(
        entries in prop::collection::btree_map(prop::collection::vec(any::<u8>(), 0..12), prop::collection::vec(any::<u8>(), 0..40), 0..200),
        block_size in 16usize..2048,
    ) {
        let mut b = TableBuilder::with_block_size(Vec::new(), block_size);
        for (k, v) in &entries {
            b.add(k, v).unwrap();
        }
        let file = b.finish().unwrap();
        let table = Table::open(std::path::Path::new("mem"), &file).unwrap();
        let mut read = BTreeMap::new();
        table.for_each(|k, v| { read.insert(k.to_vec(), v.to_vec()); Ok(()) }).unwrap();
        prop_assert_eq!(&read, &entries);
        for (k, v) in &entries {
            prop_assert_eq!(table.get(k).unwrap(), Some(v.clone()));
        }
    }

    #[test]
    fn bundles_round_trip(
        tensors in prop::collection::btree_map(prop::collection::vec(1u8..=255, 1..10), contents(), 0..12),
        alignment in prop::sample::select(vec![1usize, 8, 64]),
    ) {
        let dir = scratch();
        let prefix = dir.0.join("p");
        write(&prefix, alignment, &tensors);
        let r = BundleReader::open(&prefix, true).unwrap();
        prop_assert_eq!(r.names().count(), tensors.len());
        for (name, c) in &tensors {
            let t = r.tensor_owned(name).unwrap();
            match (c, t.data) {
                (Contents::Fixed(dtype, shape, bytes), data) => {
                    prop_assert_eq!(t.dtype, *dtype);
                    prop_assert_eq!(t.shape.iter().map(|&d| d as i64).collect::<Vec<_>>(), shape.clone());
                    prop_assert_eq!(data.bytes().unwrap(), bytes.as_slice());
                }
                (Contents::Strings(_, elements), TensorData::Elements(read)) => prop_assert_eq!(&read, elements),
                (_, other) => prop_assert!(false, "unexpected {:?}", other),
            }
        }
    }

    #[test]
    fn damaged_files_never_panic(
        tensors in prop::collection::btree_map(prop::collection::vec(1u8..=255, 1..6), contents(), 1..6),
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        truncate in any::<Option<prop::sample::Index>>(),
        in_index in any::<bool>(),
    ) {
        let dir = scratch();
        let prefix = dir.0.join("p");
        write(&prefix, 1, &tensors);
        let path = if in_index { naming::index_path(&prefix) } else { naming::data_path(&prefix, 0, 1) };
        let mut bytes = std::fs::read(&path).unwrap();
        if !bytes.is_empty() {
            for (at, value) in &damage {
                let i = at.index(bytes.len());
                bytes[i] ^= value | 1;
            }
            if let Some(at) = truncate {
                bytes.truncate(at.index(bytes.len()));
            }
        }
        std::fs::write(&path, &bytes).unwrap();
        for verify in [true, false] {
            if let Ok(r) = BundleReader::open(&prefix, verify) {
                for name in tensors.keys() {
                    let _ = r.tensor(name);
                    let _ = r.tensor_owned(name);
                }
            }
        }
    }
}
