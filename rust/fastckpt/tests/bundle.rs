//! Bundle round trips and TensorFlow's golden bytes (spec/tensor-bundle.md §10, testdata.md §3).

#![allow(clippy::unwrap_used)] // test helpers, not data paths

use fastckpt::bundle::writer::{NewTensor, Payload};
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

/// Tensors of sizes around the 1 MiB staging buffer and the 64-byte alignment, a string tensor
/// among them.
fn mixed_batch() -> Vec<(Vec<u8>, DataType, Vec<u8>)> {
    let sizes = [0, 1, 63, 64, 65, 4096, 32 << 10, (1 << 20) - 7, 1 << 20, (2 << 20) + 3, 5, 32 << 10];
    let mut tensors: Vec<(Vec<u8>, DataType, Vec<u8>)> = (0..300usize)
        .map(|i| (format!("t{i:03}").into_bytes(), DataType::UINT8, pattern(i as u64, sizes[i % sizes.len()])))
        .collect();
    tensors.insert(150, (b"s".to_vec(), DataType::STRING, Vec::new()));
    tensors
}

fn add_of<'a>(name: &'a [u8], dtype: DataType, shape: &'a [i64], data: &'a [u8]) -> NewTensor<'a> {
    const STRINGS: &[&[u8]] = &[b"ab", b"", b"cde"];
    let payload = if dtype == DataType::STRING { Payload::Strings(STRINGS) } else { Payload::Fixed(data) };
    NewTensor { key: name, dtype, shape, payload }
}

#[test]
fn add_many_writes_what_add_writes() {
    let dir = scratch("add-many");
    let tensors = mixed_batch();
    let shapes: Vec<Vec<i64>> = tensors
        .iter()
        .map(|(_, dtype, data)| vec![if *dtype == DataType::STRING { 3 } else { data.len() as i64 }])
        .collect();
    let batch: Vec<NewTensor<'_>> =
        tensors.iter().zip(&shapes).map(|((name, dtype, data), shape)| add_of(name, *dtype, shape, data)).collect();
    let (one_by_one, many) = (dir.0.join("one"), dir.0.join("many"));
    let mut w = BundleWriter::create(&one_by_one, 64).unwrap();
    for t in &batch {
        w.add(t.key, t.dtype, t.shape, t.payload).unwrap();
    }
    w.finish().unwrap();
    let mut w = BundleWriter::create(&many, 64).unwrap();
    w.add_many(&batch[..7]).unwrap(); // the staging buffer's tail is left partly filled between calls
    w.add_many(&batch[7..]).unwrap();
    w.finish().unwrap();
    for (a, b) in [(naming::data_path(&one_by_one, 0, 1), naming::data_path(&many, 0, 1))]
        .into_iter()
        .chain([(naming::index_path(&one_by_one), naming::index_path(&many))])
    {
        assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "{} differs", b.display());
    }
    let r = BundleReader::open(&many, true).unwrap();
    for (name, dtype, data) in &tensors {
        if *dtype != DataType::STRING {
            assert!(r.tensor(name).unwrap().data.bytes().unwrap() == data.as_slice());
        }
    }
}

#[test]
fn add_many_adds_the_tensors_before_a_refused_one() {
    let dir = scratch("add-many-refused");
    let prefix = dir.0.join("p");
    let big = pattern(1, 3 << 20);
    let one = [1u8];
    let batch = [
        NewTensor { key: b"a", dtype: DataType::UINT8, shape: &[3 << 20], payload: Payload::Fixed(&big) },
        NewTensor { key: b"b", dtype: DataType::UINT8, shape: &[1], payload: Payload::Fixed(&one) },
        NewTensor { key: b"a", dtype: DataType::UINT8, shape: &[1], payload: Payload::Fixed(&one) },
        NewTensor { key: b"c", dtype: DataType::UINT8, shape: &[1], payload: Payload::Fixed(&one) },
    ];
    let mut w = BundleWriter::create(&prefix, 1).unwrap();
    let refused = w.add_many(&batch).unwrap_err().to_string();
    assert!(refused.contains("cannot add tensor 'a'") && refused.contains("already added"), "{refused}");
    let short = NewTensor { key: b"d", dtype: DataType::FLOAT, shape: &[2], payload: Payload::Fixed(&one) };
    let refused = w.add_many(&[batch[3], short]).unwrap_err().to_string();
    assert!(refused.contains("'d'") && refused.contains("1 bytes given for 2 elements"), "{refused}");
    w.finish().unwrap();
    let r = BundleReader::open(&prefix, true).unwrap();
    let names: Vec<&[u8]> = r.names().collect();
    assert_eq!(names, [b"a", b"b", b"c"]);
    assert!(r.tensor(b"a").unwrap().data.bytes().unwrap() == big.as_slice());
    assert_eq!(r.tensor(b"c").unwrap().data.bytes().unwrap(), [1]);
}

/// Drops the clean cached pages of `path` (after writing them back): the next read goes to the
/// disk. Where the kernel keeps them (tmpfs) the reads below are warm, and still must agree.
fn evict(path: &Path) {
    let file = std::fs::File::open(path).unwrap();
    file.sync_all().unwrap();
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: posix_fadvise only reads its integer arguments; `file` is open.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    }
}

#[test]
fn large_tensors_not_in_the_page_cache_are_verified_as_views() {
    let dir = scratch("cold");
    let prefix = dir.0.join("p");
    let big = pattern(5, (9 << 20) + 17);
    let mut w = BundleWriter::create(&prefix, 1).unwrap();
    w.add(b"a", DataType::UINT8, &[3], Payload::Fixed(&[1, 2, 3])).unwrap();
    w.add(b"big", DataType::UINT8, &[big.len() as i64], Payload::Fixed(&big)).unwrap();
    w.finish().unwrap();
    let data = naming::data_path(&prefix, 0, 1);
    evict(&data);
    let r = BundleReader::open(&prefix, true).unwrap();
    let t = r.tensor(b"big").unwrap();
    assert!(matches!(t.data, TensorData::Mapped { .. }));
    assert!(t.data.bytes().unwrap() == big.as_slice());
    drop((t, r));

    // One byte changed on disk, far into the tensor: the streamed check names file and tensor.
    let at = std::fs::metadata(&data).unwrap().len() - 1000;
    let mut byte = [0u8];
    std::os::unix::fs::FileExt::read_exact_at(&std::fs::File::open(&data).unwrap(), &mut byte, at).unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&data).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &[byte[0] ^ 0x40], at).unwrap();
    drop(file);
    evict(&data);
    let r = BundleReader::open(&prefix, true).unwrap();
    let err = r.tensor(b"big").unwrap_err();
    assert!(matches!(err, Error::Checksum { .. }));
    let msg = err.to_string();
    assert!(msg.contains("'big'") && msg.contains("p.data-00000-of-00001"), "{msg}");
    assert_eq!(r.tensor(b"a").unwrap().data.bytes().unwrap(), [1, 2, 3]);
    assert!(BundleReader::open(&prefix, false).unwrap().tensor(b"big").is_ok());
}

/// Reads `keys` with one `read_planned_many`, each into a buffer of its own.
fn read_many(r: &BundleReader, keys: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, Error> {
    let plans: Vec<_> = keys.iter().map(|k| r.plan(k).unwrap().unwrap()).collect();
    let mut outs: Vec<Vec<u8>> = plans.iter().map(|p| vec![0xAA; p.byte_size()]).collect();
    let mut reads: Vec<(&[u8], _, &mut [u8])> =
        keys.iter().zip(&plans).zip(&mut outs).map(|((k, p), o)| (k.as_slice(), p, o.as_mut_slice())).collect();
    r.read_planned_many(&mut reads)?;
    Ok(outs)
}

#[test]
fn batches_of_small_tensors_read_in_runs_land_every_tensor() {
    let dir = scratch("runs");
    let prefix = dir.0.join("p");
    // Sizes that make runs end at every rule: more tensors than one preadv takes buffers, runs
    // that reach the byte limit, empty tensors, padding between neighbours, 8 KiB gaps where a
    // tensor is not asked for, and one tensor read alone in parallel chunks.
    let size = |i: usize| match i % 7 {
        0 => 0,
        1 => 1,
        2 => 8 << 10,
        3 => 100 << 10,
        _ => 37 * (i % 13) + 3,
    };
    let names: Vec<Vec<u8>> = (0..2600).map(|i| format!("t{i:05}").into_bytes()).collect();
    let big = pattern(99, (5 << 20) + 3);
    let mut w = BundleWriter::create(&prefix, 64).unwrap();
    for (i, name) in names.iter().enumerate() {
        let bytes = pattern(i as u64, size(i));
        w.add(name, DataType::UINT8, &[bytes.len() as i64], Payload::Fixed(&bytes)).unwrap();
    }
    w.add(b"zbig", DataType::UINT8, &[big.len() as i64], Payload::Fixed(&big)).unwrap();
    w.finish().unwrap();
    let data = naming::data_path(&prefix, 0, 1);

    // Not in file order, some left out (8 KiB tensors: gaps), one asked for twice.
    let mut asked: Vec<Vec<u8>> =
        names.iter().enumerate().filter(|(i, _)| i % 7 != 2).map(|(_, n)| n.clone()).collect();
    asked.reverse();
    asked.swap(3, 900);
    asked.push(names[10].clone());
    asked.push(b"zbig".to_vec());
    evict(&data);
    let r = BundleReader::open(&prefix, true).unwrap();
    let outs = read_many(&r, &asked).unwrap();
    for (key, out) in asked.iter().zip(&outs) {
        let expected = match names.iter().position(|n| n == key) {
            Some(i) => pattern(i as u64, size(i)),
            None => big.clone(),
        };
        assert!(*out == expected, "tensor {}", String::from_utf8_lossy(key));
    }
    // A second batch of tensors already verified reads the same bytes.
    assert_eq!(read_many(&r, &asked[..50]).unwrap(), outs[..50]);

    // A byte changed in the middle of a run: the checksum error names that tensor.
    let victim = &names[1405]; // 40 bytes, between neighbours of its run
    let at = r.entry(victim).unwrap().offset as u64 + 1;
    assert!(r.entry(victim).unwrap().size > 1);
    let file = std::fs::OpenOptions::new().read(true).write(true).open(&data).unwrap();
    let mut byte = [0u8];
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut byte, at).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &[byte[0] ^ 1], at).unwrap();
    evict(&data);
    let r = BundleReader::open(&prefix, true).unwrap();
    let err = read_many(&r, &asked).unwrap_err();
    assert!(matches!(err, Error::Checksum { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("'t01405'") && msg.contains("p.data-00000-of-00001"), "{msg}");

    // The file cut short inside a tensor after the reader opened it: that tensor is named.
    let r = BundleReader::open(&prefix, false).unwrap();
    assert!(read_many(&r, &names[1990..=2000]).is_ok());
    let cut = r.entry(&names[2000]).unwrap().offset as u64 + 2;
    file.set_len(cut).unwrap();
    let err = read_many(&r, &names[1990..=2000]).unwrap_err().to_string();
    assert!(err.contains("ends before the tensor") && err.contains("'t02000'"), "{err}");
}

/// Single owned reads of mid-size and large tensors are split over the pool's threads: every
/// size around the split points lands whole, and a changed byte in the last piece or a file
/// cut short is still caught and named.
#[test]
fn single_reads_split_over_threads_land_every_byte() {
    let dir = scratch("split");
    let prefix = dir.0.join("p");
    let sizes = [(512 << 10) - 1, 512 << 10, (512 << 10) + 1, (1 << 20) + 7, 4 << 20, (4 << 20) + 4097, (9 << 20) + 13];
    let tensors: Vec<(Vec<u8>, Vec<u8>)> =
        sizes.iter().enumerate().map(|(i, &n)| (format!("t{i}").into_bytes(), pattern(i as u64 + 7, n))).collect();
    let mut w = BundleWriter::create(&prefix, 1).unwrap();
    for (key, bytes) in &tensors {
        w.add(key, DataType::UINT8, &[i64::try_from(bytes.len()).unwrap()], Payload::Fixed(bytes)).unwrap();
    }
    w.finish().unwrap();
    let read = |r: &BundleReader, key: &[u8], len: usize| {
        let mut out = vec![0xAAu8; len];
        r.read_into(key, &mut out).map(|()| out)
    };
    let r = BundleReader::open(&prefix, true).unwrap();
    for (key, bytes) in &tensors {
        assert!(read(&r, key, bytes.len()).unwrap() == *bytes, "tensor {}", String::from_utf8_lossy(key));
    }

    let data = naming::data_path(&prefix, 0, 1);
    let victim = r.entry(b"t3").unwrap();
    let at = victim.offset as u64 + victim.size as u64 - 3;
    let file = std::fs::OpenOptions::new().read(true).write(true).open(&data).unwrap();
    let mut byte = [0u8];
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut byte, at).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &[byte[0] ^ 1], at).unwrap();
    let r = BundleReader::open(&prefix, true).unwrap();
    let err = read(&r, b"t3", sizes[3]).unwrap_err();
    assert!(matches!(err, Error::Checksum { .. }) && err.to_string().contains("'t3'"), "{err}");

    // The file cut short inside the last tensor after the reader opened it.
    let r = BundleReader::open(&prefix, false).unwrap();
    assert!(read(&r, b"t0", sizes[0]).unwrap() == tensors[0].1);
    let last = r.entry(b"t6").unwrap();
    file.set_len(last.offset as u64 + last.size as u64 - 5).unwrap();
    let err = read(&r, b"t6", sizes[6]).unwrap_err().to_string();
    assert!(err.contains("ends before the tensor") && err.contains("'t6'"), "{err}");
}

#[test]
fn files_open_once_every_shard_was_read() {
    let dir = scratch("shards");
    let prefix = dir.0.join("p");
    let data = f32_bytes(&[1.0, 2.0]);
    let entry = |shard_id: i32| BundleEntry {
        dtype: DataType::FLOAT.0,
        shape: TensorShape::new(vec![2]),
        shard_id,
        size: 8,
        crc32c: crc::mask(crc::value(&data)),
        ..Default::default()
    };
    handmade(&prefix, BundleHeader::new(2), &[(b"a", entry(0)), (b"b", entry(1))], &data);
    std::fs::write(naming::data_path(&prefix, 1, 2), &data).unwrap();
    let r = BundleReader::open(&prefix, true).unwrap();
    // A plan opens the data file it needs: until every one is open, planning may wait on a file.
    assert!(!r.files_open());
    assert!(r.plan(b"a").unwrap().is_some());
    assert!(!r.files_open());
    let mut out = vec![0u8; 8];
    r.read_into(b"b", &mut out).unwrap();
    assert_eq!(out, data);
    assert!(r.files_open());
}

#[test]
fn views_in_memory_once_verified_and_open() {
    let dir = scratch("in-memory");
    let prefix = dir.0.join("p");
    let mut w = BundleWriter::create(&prefix, 1).unwrap();
    w.add(b"x", DataType::FLOAT, &[2], Payload::Fixed(&f32_bytes(&[1.0, 2.0]))).unwrap();
    w.add(b"y", DataType::FLOAT, &[2], Payload::Fixed(&f32_bytes(&[3.0, 4.0]))).unwrap();
    w.finish().unwrap();
    let r = BundleReader::open(&prefix, true).unwrap();
    // Neither the file opened nor the crc checked yet: only `tensor` may do that.
    assert!(r.view_in_memory(b"x").is_none());
    assert!(matches!(r.tensor(b"x").unwrap().data, TensorData::Mapped { .. }));
    let view = r.view_in_memory(b"x").unwrap();
    assert_eq!(view.data.bytes().unwrap(), f32_bytes(&[1.0, 2.0]));
    assert!(r.view_in_memory(b"y").is_none(), "not verified yet");
    assert!(r.view_in_memory(b"missing").is_none());
    // Unverified reads need only the open file.
    let r = BundleReader::open(&prefix, false).unwrap();
    assert!(r.view_in_memory(b"y").is_none());
    r.tensor(b"x").unwrap();
    assert_eq!(r.view_in_memory(b"y").unwrap().data.bytes().unwrap(), f32_bytes(&[3.0, 4.0]));
}
