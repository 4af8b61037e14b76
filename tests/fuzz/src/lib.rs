//! The fuzz targets' bodies are the workspace crate `xinbao-fuzz-targets`
//! (`tests/fuzz-targets`), which `cargo test` runs too (`tests/tests/fuzz_smoke.rs`);
//! this crate gives them to libFuzzer.

pub use xinbao_fuzz_targets::*;
