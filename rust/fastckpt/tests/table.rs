//! Table reading beyond what TensorFlow writes: Snappy-compressed blocks.

#![allow(clippy::unwrap_used)] // test helpers, not data paths

use fastckpt::crc;
use fastckpt::table::block_builder::BlockBuilder;
use fastckpt::table::handle::{BlockHandle, Footer};
use fastckpt::table::{Table, SNAPPY_COMPRESSION};
use std::path::Path;

fn push_block(file: &mut Vec<u8>, contents: &[u8], kind: u8) -> BlockHandle {
    let handle = BlockHandle { offset: file.len() as u64, size: contents.len() as u64 };
    file.extend_from_slice(contents);
    file.push(kind);
    file.extend_from_slice(&crc::mask(crc::extend(crc::value(contents), &[kind])).to_le_bytes());
    handle
}

#[test]
fn snappy_blocks_are_accepted() {
    let mut data = BlockBuilder::new(16);
    let keys: Vec<String> = (0..100).map(|i| format!("key{i:03}")).collect();
    for k in &keys {
        data.add(k.as_bytes(), &[b'v'; 50]);
    }
    let raw = data.finish();
    let compressed = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
    assert!(compressed.len() < raw.len());

    let mut file = Vec::new();
    let data_handle = push_block(&mut file, &compressed, SNAPPY_COMPRESSION);
    let metaindex = push_block(&mut file, &BlockBuilder::new(16).finish(), 0);
    let mut index = BlockBuilder::new(1);
    let mut value = Vec::new();
    data_handle.encode(&mut value);
    index.add(b"z", &value);
    let index = push_block(&mut file, &index.finish(), 0);
    file.extend_from_slice(&Footer { metaindex, index }.encode());

    let table = Table::open(Path::new("mem.index"), &file).unwrap();
    assert_eq!(table.get(b"key042").unwrap().unwrap(), [b'v'; 50]);
    let mut n = 0;
    table
        .for_each(|_, _| {
            n += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(n, 100);
}
