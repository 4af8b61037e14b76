//! Hosts of their own on one machine: one Linux network namespace per node, each with its
//! own address, joined by veth pairs to a bridge in the caller's namespace, so that a
//! consortium really crosses a network (its own interfaces, routes and addresses, and
//! iptables rules of its own) and not only loopback. Traffic stays inside what was made
//! here, and everything is removed when the [`Hosts`] is dropped.
//!
//! `xinbao-chaos` and the end-to-end tests share it. Making namespaces needs root.

use std::ffi::OsStr;
use std::process::Command;

/// One namespace: its name and its address on the network.
#[derive(Debug, Clone)]
pub struct Host {
    pub netns: String,
    pub ip: String,
    host_side: String,
}

/// The network: a bridge at `subnet.254` and the hosts on it, at `subnet.1`, `subnet.2`, …
pub struct Hosts {
    tag: String,
    pub subnet: String,
    bridge: String,
    pub hosts: Vec<Host>,
}

/// Runs `ip ARGS`, with its complaint as the error.
fn ip(args: &[&str]) -> Result<(), String> {
    run("ip", args)
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program} {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Hosts {
    /// `count` hosts on a bridge of `subnet` (three octets, such as `10.213.7`), their
    /// interfaces and namespaces named after `tag` (short: interface names hold 15
    /// bytes). Two runs side by side need different tags and subnets.
    pub fn create(tag: &str, subnet: &str, count: usize) -> Result<Hosts, String> {
        let mut hosts = Hosts {
            tag: tag.to_string(),
            subnet: subnet.to_string(),
            bridge: format!("{tag}br"),
            hosts: Vec::new(),
        };
        ip(&["link", "add", &hosts.bridge, "type", "bridge"])?;
        ip(&[
            "addr",
            "add",
            &format!("{subnet}.254/24"),
            "dev",
            &hosts.bridge,
        ])?;
        ip(&["link", "set", &hosts.bridge, "up"])?;
        for _ in 0..count {
            hosts.add()?;
        }
        Ok(hosts)
    }

    /// One more host on the network.
    pub fn add(&mut self) -> Result<Host, String> {
        let i = self.hosts.len() + 1;
        let netns = format!("{}n{i}", self.tag);
        let host_side = format!("{}h{i}", self.tag);
        let inside = format!("{}i{i}", self.tag);
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
        let cidr = format!("{address}/24");
        ip(&["-n", &netns, "addr", "add", &cidr, "dev", &inside])?;
        ip(&["-n", &netns, "link", "set", &inside, "up"])?;
        ip(&["-n", &netns, "link", "set", "lo", "up"])?;
        ip(&["link", "set", &host_side, "master", &self.bridge])?;
        ip(&["link", "set", &host_side, "up"])?;
        Ok(host)
    }

    /// The address of the bridge, which every host sees as the rest of the network.
    pub fn bridge_ip(&self) -> String {
        format!("{}.254", self.subnet)
    }

    /// A command that runs `program` in host `i`'s namespace: `ip netns exec` execs it, so
    /// the child is the program itself, and the kernel kills it if this process dies.
    pub fn command(&self, i: usize, program: impl AsRef<OsStr>) -> Command {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.hosts[i].netns])
            .arg(program);
        // SAFETY: only prctl(2), async-signal-safe, runs between fork and exec.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        command
    }

    /// Runs `iptables ARGS` in host `i`'s namespace.
    pub fn iptables(&self, i: usize, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["netns", "exec", self.hosts[i].netns.as_str(), "iptables"];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Removes every filter rule of host `i`'s namespace.
    pub fn heal(&self, i: usize) {
        let _ = self.iptables(i, &["-F", "INPUT"]);
        let _ = self.iptables(i, &["-F", "OUTPUT"]);
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
