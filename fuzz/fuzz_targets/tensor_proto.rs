//! See [`fastckpt_fuzz::tensor_proto`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fastckpt_fuzz::tensor_proto(data));
