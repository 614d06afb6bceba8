//! Bundle round trips and TensorFlow's golden bytes (spec/tensor-bundle.md §10, testdata.md §3).

#![allow(clippy::unwrap_used)] // test helpers, not data paths

use fastckpt::bundle::writer::Payload;
use fastckpt::bundle::{naming, BundleEntry, BundleHeader, Endianness, TensorData};
use fastckpt::proto::{Extent, TensorShape, TensorSlice};
use fastckpt::table::TableBuilder;
use fastckpt::{crc, BundleReader, BundleWriter, DataType, Error};
use std::path::{Path, PathBuf};

/// A scratch folder, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("fastckpt-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[test]
fn golden_savev2_bytes() {
    let dir = scratch("golden");
    let prefix = dir.0.join("g");
    let mut w = BundleWriter::create(&prefix, 1).unwrap();
    w.add(b"a", DataType::FLOAT, &[3], Payload::Fixed(&f32_bytes(&[1.0, 2.0, 3.0]))).unwrap();
    w.add(b"s", DataType::STRING, &[2], Payload::Strings(&[b"ab", b""])).unwrap();
    w.finish().unwrap();

    let data = std::fs::read(naming::data_path(&prefix, 0, 1)).unwrap();
    assert_eq!(data, hex("00 00 80 3F 00 00 00 40 00 00 40 40 02 00 78 27 0B 34 61 62"));
    let mut index = hex("00 00 06 08 01 1A 02 08 01
         00 01 0F 61 08 01 12 04 12 02 08 03 28 0C 35 73 5B 89 71
         00 01 11 73 08 07 12 04 12 02 08 02 20 0C 28 08 35 91 88 B0 4D
         00 00 00 00 01 00 00 00 00 97 7A 0C 0F
         00 00 00 00 01 00 00 00 00 C0 F2 A1 B0
         00 01 02 74 00 39 00 00 00 00 01 00 00 00 00 08 7F 72 58
         3E 08 4B 0E");
    index.extend([0u8; 36]);
    index.extend(hex("57 FB 80 8B 24 75 47 DB"));
    assert_eq!(std::fs::read(naming::index_path(&prefix)).unwrap(), index);

    let r = BundleReader::open(&prefix, true).unwrap();
    let a = r.tensor(b"a").unwrap();
    assert_eq!(a.shape, [3]);
    assert_eq!(a.data.bytes().unwrap(), f32_bytes(&[1.0, 2.0, 3.0]));
    assert!(matches!(a.data, TensorData::Mapped { .. }));
    match r.tensor(b"s").unwrap().data {
        TensorData::Elements(e) => assert_eq!(e, vec![b"ab".to_vec(), vec![]]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn six_thousand_keys_make_tensorflows_two_blocks() {
    // testdata.md §3.2: the index TensorFlow writes is 301,961 bytes with two data blocks.
    let dir = scratch("6000");
    let prefix = dir.0.join("big");
    let mut w = BundleWriter::create(&prefix, 1).unwrap();
    for i in 0..6000 {
        let name = format!("layer_{i:05}/some/long/variable/name/kernel");
        w.add(name.as_bytes(), DataType::FLOAT, &[], Payload::Fixed(&(i as f32).to_le_bytes())).unwrap();
    }
    w.finish().unwrap();
    let index = std::fs::read(naming::index_path(&prefix)).unwrap();
    assert_eq!(index.len(), 301_961);
    let footer = &index[index.len() - 48..];
    // metaindex (301824, 8), index (301837, 71)
    let mut expected = Vec::new();
    for v in [301_824u64, 8, 301_837, 71] {
        fastckpt::varint::put_varint(&mut expected, v);
    }
    assert_eq!(&footer[..expected.len()], expected.as_slice());
    let r = BundleReader::open(&prefix, true).unwrap();
    assert_eq!(r.names().count(), 6000);
    let t = r.tensor(b"layer_05222/some/long/variable/name/kernel").unwrap();
    assert_eq!(t.data.bytes().unwrap(), 5222f32.to_le_bytes());
}

#[test]
fn alignment_pads_between_tensors() {
    let dir = scratch("align");
    let prefix = dir.0.join("p");
    let mut w = BundleWriter::create(&prefix, 64).unwrap();
    w.add(b"x", DataType::INT8, &[3], Payload::Fixed(&[1, 2, 3])).unwrap();
    w.add(b"y", DataType::DOUBLE, &[1], Payload::Fixed(&2.5f64.to_le_bytes())).unwrap();
    w.finish().unwrap();
    let r = BundleReader::open(&prefix, true).unwrap();
    assert_eq!(r.entry(b"y").unwrap().offset, 64);
    assert_eq!(r.tensor(b"y").unwrap().data.bytes().unwrap(), 2.5f64.to_le_bytes());
}

#[test]
fn partitioned_tensors_assemble() {
    let dir = scratch("slices");
    let prefix = dir.0.join("p");
    let mut w = BundleWriter::create(&prefix, 1).unwrap();
    let rows = |lo: i64, len: i64| TensorSlice { extents: vec![Extent { start: lo, length: len }, Extent::FULL] };
    let top: Vec<f32> = (0..12).map(|i| i as f32).collect();
    let bottom: Vec<f32> = (12..24).map(|i| i as f32).collect();
    w.add_slice(b"part", &[4, 6], &rows(2, 2), DataType::FLOAT, Payload::Fixed(&f32_bytes(&bottom))).unwrap();
    w.add_slice(b"part", &[4, 6], &rows(0, 2), DataType::FLOAT, Payload::Fixed(&f32_bytes(&top))).unwrap();
    w.add_slice(
        b"names",
        &[3],
        &TensorSlice { extents: vec![Extent { start: 0, length: 1 }] },
        DataType::STRING,
        Payload::Strings(&[b"a"]),
    )
    .unwrap();
    w.add_slice(
        b"names",
        &[3],
        &TensorSlice { extents: vec![Extent { start: 1, length: 2 }] },
        DataType::STRING,
        Payload::Strings(&[b"b", b"c"]),
    )
    .unwrap();
    w.finish().unwrap();

    let r = BundleReader::open(&prefix, true).unwrap();
    assert_eq!(r.names().collect::<Vec<_>>(), [b"names".as_slice(), b"part"]);
    let all: Vec<f32> = (0..24).map(|i| i as f32).collect();
    assert_eq!(r.tensor(b"part").unwrap().data.bytes().unwrap(), f32_bytes(&all));
    match r.tensor(b"names").unwrap().data {
        TensorData::Elements(e) => assert_eq!(e, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]),
        other => panic!("{other:?}"),
    }
    // The slice key layout of testdata.md §3.3.
    let key = hex("00 70 61 72 74 00 01 01 02 80 82 80 7F");
    assert!(r.raw_entries().any(|(k, _)| k == key.as_slice()));
}

#[test]
fn regions_read_across_any_slicing() {
    let dir = scratch("regions");
    // An [8, 3] tensor stored as row slices 0..3 and 3..8, and a whole [4, 2] tensor.
    let all: Vec<f32> = (0..24).map(|i| i as f32).collect();
    let prefix = dir.0.join("p");
    let mut w = BundleWriter::create(&prefix, 1).unwrap();
    let rows = |lo: i64, len: i64| TensorSlice { extents: vec![Extent { start: lo, length: len }, Extent::FULL] };
    w.add_slice(b"part", &[8, 3], &rows(0, 3), DataType::FLOAT, Payload::Fixed(&f32_bytes(&all[..9]))).unwrap();
    w.add_slice(b"part", &[8, 3], &rows(3, 5), DataType::FLOAT, Payload::Fixed(&f32_bytes(&all[9..]))).unwrap();
    w.add(b"whole", DataType::FLOAT, &[4, 2], Payload::Fixed(&f32_bytes(&all[..8]))).unwrap();
    w.finish().unwrap();
    let r = BundleReader::open(&prefix, true).unwrap();
    let read = |key: &[u8], region: &[(usize, usize)]| {
        let count: usize = region.iter().map(|r| r.1).product();
        let mut out = vec![0u8; count * 4];
        r.read_region(key, region, &mut out).map(|()| out)
    };
    // Rows 2..6, columns 1..3: crosses the boundary between the two stored slices.
    let expected: Vec<f32> = (2..6).flat_map(|row| [row * 3 + 1, row * 3 + 2]).map(|i| i as f32).collect();
    assert_eq!(read(b"part", &[(2, 4), (1, 2)]).unwrap(), f32_bytes(&expected));
    assert_eq!(read(b"part", &[(0, 8), (0, 3)]).unwrap(), f32_bytes(&all));
    assert_eq!(read(b"whole", &[(3, 1), (0, 2)]).unwrap(), f32_bytes(&[6.0, 7.0]));
    let err = read(b"part", &[(6, 3), (0, 3)]).unwrap_err().to_string();
    assert!(err.contains("slice 6,3:0,3 does not fit tensor 'part' of shape [8, 3]"), "{err}");
    let mut short = vec![0u8; 4];
    let err = r.read_region(b"whole", &[(0, 2), (0, 2)], &mut short).unwrap_err().to_string();
    assert!(err.contains("needs 16 bytes, the buffer has 4"), "{err}");
}

/// Writes an index by hand (header and entries given) next to `data`.
fn handmade(prefix: &Path, header: BundleHeader, entries: &[(&[u8], BundleEntry)], data: &[u8]) {
    let mut table = TableBuilder::new(Vec::new());
    table.add(b"", &header.encode()).unwrap();
    for (key, entry) in entries {
        table.add(key, &entry.encode()).unwrap();
    }
    std::fs::write(naming::index_path(prefix), table.finish().unwrap()).unwrap();
    std::fs::write(naming::data_path(prefix, 0, header.num_shards), data).unwrap();
}

#[test]
fn big_endian_bundles_are_swapped_on_read() {
    let dir = scratch("be");
    let prefix = dir.0.join("p");
    let data: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| v.to_be_bytes()).collect();
    let entry = BundleEntry {
        dtype: DataType::FLOAT.0,
        shape: TensorShape::new(vec![2]),
        size: 8,
        crc32c: crc::mask(crc::value(&data)),
        ..Default::default()
    };
    let header = BundleHeader { endianness: Endianness::Big, ..BundleHeader::new(1) };
    handmade(&prefix, header, &[(b"x", entry)], &data);
    let r = BundleReader::open(&prefix, true).unwrap();
    let t = r.tensor(b"x").unwrap();
    assert!(matches!(t.data, TensorData::Owned(_)));
    assert_eq!(t.data.bytes().unwrap(), f32_bytes(&[1.5, -2.0]));
}

#[test]
fn checksum_mismatch_names_file_and_tensor() {
    let dir = scratch("crc");
    let prefix = dir.0.join("p");
    let data = f32_bytes(&[1.0, 2.0]);
    let entry = BundleEntry {
        dtype: DataType::FLOAT.0,
        shape: TensorShape::new(vec![2]),
        size: 8,
        crc32c: crc::mask(crc::value(&data) ^ 1),
        ..Default::default()
    };
    handmade(&prefix, BundleHeader::new(1), &[(b"w", entry)], &data);
    let r = BundleReader::open(&prefix, true).unwrap();
    let err = r.tensor(b"w").unwrap_err();
    assert!(matches!(err, Error::Checksum { .. }));
    let msg = err.to_string();
    assert!(msg.contains("'w'") && msg.contains("p.data-00000-of-00001"), "{msg}");
    // Without verification the bytes are handed out as stored.
    let r = BundleReader::open(&prefix, false).unwrap();
    assert_eq!(r.tensor(b"w").unwrap().data.bytes().unwrap(), data);
}

#[test]
fn failed_writer_leaves_previous_checkpoint() {
    let dir = scratch("atomic");
    let prefix = dir.0.join("p");
    let mut w = BundleWriter::create(&prefix, 1).unwrap();
    w.add(b"v", DataType::INT32, &[1], Payload::Fixed(&7i32.to_le_bytes())).unwrap();
    w.finish().unwrap();
    let mut w = BundleWriter::create(&prefix, 1).unwrap();
    w.add(b"v", DataType::INT32, &[1], Payload::Fixed(&8i32.to_le_bytes())).unwrap();
    assert!(w.add(b"v", DataType::INT32, &[1], Payload::Fixed(&9i32.to_le_bytes())).is_err());
    drop(w);
    let r = BundleReader::open(&prefix, true).unwrap();
    assert_eq!(r.tensor(b"v").unwrap().data.bytes().unwrap(), 7i32.to_le_bytes());
    let leftovers: Vec<_> = std::fs::read_dir(prefix.parent().unwrap())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains("tempstate"))
        .collect();
    assert!(leftovers.is_empty());
}

/// Deterministic bytes of length `n`, different for each `seed`.
fn pattern(seed: u64, n: usize) -> Vec<u8> {
    (0..n as u64).map(|i| i.wrapping_mul(2_654_435_761).wrapping_add(seed).to_le_bytes()[3]).collect()
}

#[test]
fn tensors_across_staging_buffer_boundaries_are_written_in_order() {
    let dir = scratch("staging");
    let prefix = dir.0.join("p");
    // Sizes that are not multiples of the 1 MiB staging buffer, with small tensors between them:
    // buffer boundaries land mid-tensor, and some tensors fit in a buffer's tail.
    let sizes = [3, (3 << 20) + 5, 7, (5 << 20) + 13, 4096, (1 << 20) - 1, 9 << 20];
    let tensors: Vec<(Vec<u8>, Vec<u8>)> =
        sizes.iter().enumerate().map(|(i, &n)| (format!("t{i}").into_bytes(), pattern(i as u64, n))).collect();
    let mut w = BundleWriter::create(&prefix, 1).unwrap();
    for (name, data) in &tensors {
        w.add(name, DataType::UINT8, &[data.len() as i64], Payload::Fixed(data)).unwrap();
    }
    w.finish().unwrap();
    let expected: Vec<u8> = tensors.iter().flat_map(|(_, data)| data.iter().copied()).collect();
    assert!(std::fs::read(naming::data_path(&prefix, 0, 1)).unwrap() == expected, "data file differs");
    let r = BundleReader::open(&prefix, true).unwrap();
    for (name, data) in &tensors {
        assert!(r.tensor(name).unwrap().data.bytes().unwrap() == data.as_slice());
    }
}
