#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| xinbao_fuzz::block_bytes(data));
