//! See [`fastckpt_fuzz::graph_def`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fastckpt_fuzz::graph_def(data));
