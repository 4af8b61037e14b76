//! `xinbao`: the command-line interface.
fn main() {}
