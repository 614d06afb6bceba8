//! See [`fastckpt_fuzz::v1`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fastckpt_fuzz::v1(data, fastckpt_fuzz::scratch_dir()));
