//! See [`fastckpt_fuzz::meta_graph`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fastckpt_fuzz::meta_graph(data));
