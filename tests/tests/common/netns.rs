//! Hosts of their own for the end-to-end tests: one Linux network namespace per node, each
//! with its own address, joined by veth pairs to a bridge in the test's namespace, so that
//! a consortium really crosses a network (its own interfaces, routes and addresses) and
//! not only loopback. Traffic stays inside what the test made; everything is removed when
//! the [`Hosts`] is dropped, a failing test included.
//!
//! Making namespaces needs root (CI runs as root). Where it is not possible the test fails
//! with the reason, unless `XINBAO_NO_NETNS=1` says so on purpose, in which case
//! [`Hosts::create`] returns `None` and the caller says it did not run.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// One namespace: its name and its address on the test's network.
#[derive(Debug, Clone)]
pub struct Host {
    pub netns: String,
    pub ip: String,
    host_side: String,
}

/// The test's network: a bridge and the hosts on it.
pub struct Hosts {
    tag: String,
    subnet: String,
    bridge: String,
    pub hosts: Vec<Host>,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
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
        let tag = format!("{}", pid % 100_000);
        let subnet = format!("10.213.{}", pid % 250);
        let bridge = format!("xb{tag}br");
        let mut hosts = Hosts {
            tag,
            subnet,
            bridge,
            hosts: Vec::new(),
        };
        let setup = || -> Result<(), String> {
            ip(&["link", "add", &hosts.bridge, "type", "bridge"])?;
            ip(&[
                "addr",
                "add",
                &format!("{}.254/24", hosts.subnet),
                "dev",
                &hosts.bridge,
            ])?;
            ip(&["link", "set", &hosts.bridge, "up"])
        };
        if let Err(e) = setup() {
            panic!(
                "this test puts each node in a network namespace of its own, which needs root \
                 and iproute2 ({e}); run the tests as root, or set XINBAO_NO_NETNS=1 to skip it"
            );
        }
        for _ in 0..count {
            hosts
                .add()
                .unwrap_or_else(|e| panic!("a network namespace: {e}"));
        }
        Some(hosts)
    }

    /// One more host on the network.
    pub fn add(&mut self) -> Result<Host, String> {
        let i = self.hosts.len() + 1;
        let netns = format!("xb{}n{i}", self.tag);
        let host_side = format!("xb{}h{i}", self.tag);
        let inside = format!("xb{}i{i}", self.tag);
        let address = format!("{}.{i}", self.subnet);
        ip(&["netns", "add", &netns])?;
        let host = Host {
            netns: netns.clone(),
            ip: address.clone(),
            host_side: host_side.clone(),
        };
        // Recorded before the rest, so that a failure half-way is still cleaned up.
        self.hosts.push(host.clone());
        ip(&[
            "link", "add", &host_side, "type", "veth", "peer", "name", &inside,
        ])?;
        ip(&["link", "set", &inside, "netns", &netns])?;
        ip(&[
            "-n",
            &netns,
            "addr",
            "add",
            &format!("{address}/24"),
            "dev",
            &inside,
        ])?;
        ip(&["-n", &netns, "link", "set", &inside, "up"])?;
        ip(&["-n", &netns, "link", "set", "lo", "up"])?;
        ip(&["link", "set", &host_side, "master", &self.bridge])?;
        ip(&["link", "set", &host_side, "up"])?;
        Ok(host)
    }

    /// Runs `program ARGS` inside `host`'s namespace, its output appended to `log`; the
    /// kernel kills it if the test process dies (`ip netns exec` becomes the program).
    pub fn spawn(&self, host: &Host, program: &Path, args: &[&str], log: &Path) -> Child {
        use std::os::unix::process::CommandExt;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &host.netns])
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        // SAFETY: only prctl(2), async-signal-safe, runs between fork and exec.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        command.spawn().expect("start a program in a namespace")
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for host in &self.hosts {
            let _ = ip(&["netns", "del", &host.netns]);
            let _ = ip(&["link", "del", &host.host_side]);
        }
        let _ = ip(&["link", "del", &self.bridge]);
    }
}
