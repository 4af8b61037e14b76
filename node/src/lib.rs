//! `node`: the xinbao validator daemon.
//!
//! The only crate that knows tokio, libp2p (through the Malachite engine), fjall and axum.
//! It decides blocks with Malachite ([`consensus`]), executes them with the rulebook
//! before voting ([`chain`]) on a thread of its own ([`chain_worker`]), stores them with
//! their readers' indexes ([`index`]) in one embedded engine ([`store`]), gathers verified
//! transactions in a bounded [`mempool`] through [`intake`], sends them to the other
//! validators over its own authenticated p2p network ([`gossip`]) and serves the HTTP
//! [`api`] to its own organisation's staff. [`run`] wires these together from
//! the [`config`] file; [`shared`] is what they share.

pub mod access;
pub mod api;
pub mod chain;
pub mod chain_worker;
pub mod config;
pub mod consensus;
pub mod console;
pub mod events;
pub mod gossip;
pub mod history;
pub mod http;
pub mod index;
pub mod intake;
pub mod keys;
pub mod limits;
pub mod mempool;
pub mod metrics;
pub mod openapi;
pub mod reply;
pub mod run;
pub mod shared;
pub mod store;
pub mod tls;
pub mod views;
