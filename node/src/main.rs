//! `xinbao-node`: the daemon.
fn main() {}
