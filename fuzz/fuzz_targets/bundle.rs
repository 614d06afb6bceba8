//! See [`fastckpt_fuzz::bundle`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fastckpt_fuzz::bundle(data, fastckpt_fuzz::scratch_dir()));
