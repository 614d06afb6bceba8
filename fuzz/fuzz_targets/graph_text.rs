//! See [`fastckpt_fuzz::graph_text`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fastckpt_fuzz::graph_text(data));
