//! See [`fastckpt_fuzz::index_table`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fastckpt_fuzz::index_table(data, fastckpt_fuzz::scratch_dir()));
