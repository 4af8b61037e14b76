//! End-to-end tests of xinbao live in `tests/tests/`; this library is empty on purpose.
//!
//! They run real `xinbao-node` processes on loopback, made with `xinbao devnet init`, and
//! drive them with the `xinbao` command. Both programs are built by the tests themselves
//! (`cargo build -p node -p cli` into the target directory the test runs from, once per
//! test binary; see `tests/tests/common/mod.rs`), so `cargo test -p tests` always tests
//! the current code. One devnet runs at a time, every process is killed when its test
//! ends, failing or not, and each test takes well under a minute.
