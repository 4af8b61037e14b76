//! Test tooling kept out of the product binaries: the chaos runner (`xinbao-chaos`), the
//! network namespaces and the delay proxy it builds a network from, the one seeded
//! generator the tests and the runner draw from, a SoftHSM2 token for the tests of keys in
//! a module, and (a binary of its own) a file system that loses what was not synced.

pub mod chaos;
pub mod delay;
pub mod netns;
pub mod rng;
pub mod softhsm;
