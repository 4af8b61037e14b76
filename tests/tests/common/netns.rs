//! Hosts of their own for the end-to-end tests: the network namespaces of `xinbao-chaos`
//! (`harness::netns`), so that a consortium really crosses a network and
//! not only loopback; everything is removed when the [`Hosts`] is dropped, a failing test
//! included.
//!
//! Making namespaces needs root (CI runs as root). Where it is not possible the test fails
//! with the reason, unless `XINBAO_NO_NETNS=1` says so on purpose, in which case
//! [`Hosts::create`] returns `None` and the caller says it did not run.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Stdio};

use harness::netns as shared;

pub use shared::Host;

/// The test's network: a bridge and the hosts on it (`hosts.hosts`, `hosts.add()`).
pub struct Hosts(shared::Hosts);

impl std::ops::Deref for Hosts {
    type Target = shared::Hosts;
    fn deref(&self) -> &shared::Hosts {
        &self.0
    }
}

impl std::ops::DerefMut for Hosts {
    fn deref_mut(&mut self) -> &mut shared::Hosts {
        &mut self.0
    }
}

impl Hosts {
    /// `count` hosts at 10.213.N.1 … on a bridge at 10.213.N.254, where N is drawn from
    /// this process's id so that runs side by side do not meet.
    pub fn create(count: usize) -> Option<Hosts> {
        if std::env::var_os("XINBAO_NO_NETNS").is_some_and(|v| v == "1") {
            eprintln!("XINBAO_NO_NETNS=1: the network-namespace test does not run");
            return None;
        }
        let pid = std::process::id();
        let tag = format!("xb{}", pid % 100_000);
        let subnet = format!("10.213.{}", pid % 250);
        let network = shared::Hosts::create(&tag, &subnet, count).unwrap_or_else(|e| {
            panic!(
                "this test puts each node in a network namespace of its own, which needs root \
                 and iproute2 ({e}); run the tests as root, or set XINBAO_NO_NETNS=1 to skip it"
            )
        });
        Some(Hosts(network))
    }

    /// Runs `program ARGS` inside `host`'s namespace, its output appended to `log`; the
    /// kernel kills it if the test process dies.
    pub fn spawn(&self, host: &Host, program: &Path, args: &[&str], log: &Path) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let i = self
            .hosts
            .iter()
            .position(|h| h.netns == host.netns)
            .expect("a host of this network");
        self.0
            .command(i, program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start a program in a namespace")
    }
}
