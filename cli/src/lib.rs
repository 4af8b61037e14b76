//! The `xinbao` command's parts, one module per command group, as a library: the
//! command (`main.rs`) dispatches to them, and the test harness (`harness`) starts devnets
//! and talks to nodes with the same code.

pub mod audit;
pub mod bench;
pub mod ceremony;
pub mod chain;
pub mod demo;
pub mod devnet;
pub mod events;
pub mod files;
pub mod keys;
pub mod mirror;
pub mod node_client;
pub mod progress;
pub mod query;
pub mod replay;
pub mod scenario;
pub mod stress;
pub mod tls;
pub mod tx;
pub mod tx_new;
