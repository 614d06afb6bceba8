//! See [`fastckpt_fuzz::state_file`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fastckpt_fuzz::state_file(data, fastckpt_fuzz::scratch_dir()));
