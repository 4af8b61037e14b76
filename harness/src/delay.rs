//! Message delay for `xinbao-chaos`, which this kernel cannot give (no `netem`): a TCP
//! proxy in each validator's network namespace that every connection to or from the
//! validator crosses, holding the bytes for the delay set at the moment.
//!
//! Inside the namespace, iptables' `nat` table redirects the validator's outgoing
//! connections to the other validators, and the connections coming in from them, to the
//! proxy's port; the proxy reads where each was going (`SO_ORIGINAL_DST`) and opens that
//! connection itself, with a socket mark the redirecting rules pass by. The connection
//! keeps its addresses on the wire, so the partitions' filter rules (by peer address)
//! still cut it. The proxy is in place from the start, with no delay, so that the
//! connections open when a delay begins cross it too.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::netns::Hosts;

/// The mark of the proxy's own connections, which the redirecting rules let pass.
const MARK: &str = "0x58b0";
const MARK_VALUE: u32 = 0x58b0;

/// One validator's proxy; its delay can change at any time.
pub struct DelayProxy {
    delay_ms: Arc<AtomicU64>,
}

impl DelayProxy {
    /// Starts the proxy in host `i`'s namespace and redirects the host's connections to
    /// and from the other hosts through it.
    pub fn start(hosts: &Hosts, i: usize) -> anyhow::Result<DelayProxy> {
        let host = &hosts.hosts[i];
        let netns = host.netns.clone();
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (bound, port) = mpsc::channel();
        let delay = delay_ms.clone();
        std::thread::Builder::new()
            .name(format!("delay-{netns}"))
            .spawn(move || {
                // This thread, and the threads it starts, live in the namespace.
                let listener =
                    enter(&netns).and_then(|()| Ok(TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0))?));
                let listener = match listener {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = bound.send(Err(e));
                        return;
                    }
                };
                let _ = bound.send(listener.local_addr().map(|a| a.port()).map_err(Into::into));
                for client in listener.incoming() {
                    match client {
                        Ok(client) => {
                            let delay = delay.clone();
                            std::thread::spawn(move || relay(client, delay));
                        }
                        // Out of descriptors, say: wait rather than spin.
                        Err(_) => std::thread::sleep(Duration::from_millis(50)),
                    }
                }
            })?;
        let port = port
            .recv()
            .context("the delay proxy's thread")?
            .with_context(|| format!("the delay proxy in {}", host.netns))?
            .to_string();
        let subnet = format!("{}.0/24", hosts.subnet);
        let bridge = hosts.bridge_ip();
        let redirect = |chain: &str, from_or_to: &[&str]| -> anyhow::Result<()> {
            let mut rule = vec!["-t", "nat", "-A", chain, "-p", "tcp"];
            rule.extend_from_slice(from_or_to);
            rule.extend(["-m", "mark", "!", "--mark", MARK]);
            rule.extend(["-j", "REDIRECT", "--to-ports", &port]);
            hosts.iptables(i, &rule).map_err(anyhow::Error::msg)
        };
        // Not the bridge: that is where this run's own HTTP requests come from.
        hosts
            .iptables(
                i,
                &[
                    "-t",
                    "nat",
                    "-A",
                    "PREROUTING",
                    "-s",
                    &bridge,
                    "-j",
                    "RETURN",
                ],
            )
            .map_err(anyhow::Error::msg)?;
        redirect("PREROUTING", &["-s", &subnet])?;
        hosts
            .iptables(
                i,
                &["-t", "nat", "-A", "OUTPUT", "-d", &bridge, "-j", "RETURN"],
            )
            .map_err(anyhow::Error::msg)?;
        redirect("OUTPUT", &["-d", &subnet])?;
        Ok(DelayProxy { delay_ms })
    }

    /// From now on, bytes wait this long in each direction before they are passed on.
    pub fn set(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }
}

/// Moves the calling thread into the network namespace `netns` (`ip netns add`'s).
fn enter(netns: &str) -> anyhow::Result<()> {
    let file = std::fs::File::open(format!("/var/run/netns/{netns}"))
        .with_context(|| format!("network namespace {netns}"))?;
    // SAFETY: setns(2) on a descriptor this function holds open.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        bail!("setns {netns}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// Where a redirected connection was going.
fn original_destination(stream: &TcpStream) -> std::io::Result<SocketAddrV4> {
    let mut address: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: getsockopt(2) writes at most `len` bytes into `address`.
    let done = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_IP,
            libc::SO_ORIGINAL_DST,
            (&mut address as *mut libc::sockaddr_in).cast(),
            &mut len,
        )
    };
    if done != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(address.sin_addr.s_addr)),
        u16::from_be(address.sin_port),
    ))
}

/// A connection to `to` from a socket with the proxy's mark.
fn connect_marked(to: SocketAddrV4) -> std::io::Result<TcpStream> {
    // SAFETY: a new socket, owned by the TcpStream below or closed on failure.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    let mark = MARK_VALUE;
    let address = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: to.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*to.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: setsockopt(2) and connect(2) read the values passed with their sizes.
    unsafe {
        if libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_MARK,
            (&mark as *const u32).cast(),
            std::mem::size_of::<u32>() as libc::socklen_t,
        ) != 0
            || libc::connect(
                fd,
                (&address as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(stream)
}

/// Relays one redirected connection in both directions, each byte held for the delay.
fn relay(client: TcpStream, delay: Arc<AtomicU64>) {
    let Ok(to) = original_destination(&client) else {
        return;
    };
    let Ok(server) = connect_marked(to) else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(client_in), Ok(server_in)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up = {
        let delay = delay.clone();
        std::thread::spawn(move || pump(client_in, server, delay))
    };
    pump(server_in, client, delay);
    let _ = up.join();
}

/// Copies `from` to `to`, each chunk passed on once it has waited the delay.
fn pump(mut from: TcpStream, to: TcpStream, delay: Arc<AtomicU64>) {
    let (send, held) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = std::thread::spawn(move || {
        let mut to = to;
        for (read_at, bytes) in held {
            let due = read_at + Duration::from_millis(delay.load(Ordering::Relaxed));
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if to.write_all(&bytes).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if send.send((Instant::now(), buffer[..n].to_vec())).is_err() {
                    break;
                }
            }
        }
    }
    drop(send);
    let _ = writer.join();
    let _ = from.shutdown(Shutdown::Read);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `work` on a thread inside `netns`.
    fn inside<T: Send + 'static>(
        netns: &str,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let netns = netns.to_string();
        std::thread::spawn(move || {
            enter(&netns).unwrap();
            work()
        })
    }

    /// One request and its answer between the two hosts, through host 0's proxy.
    fn round_trip(hosts: &Hosts, to: SocketAddrV4) -> Duration {
        inside(&hosts.hosts[0].netns, move || {
            let started = Instant::now();
            let mut stream = TcpStream::connect(to).unwrap();
            stream.write_all(b"ping").unwrap();
            let mut answer = [0u8; 4];
            stream.read_exact(&mut answer).unwrap();
            assert_eq!(&answer, b"ping");
            started.elapsed()
        })
        .join()
        .unwrap()
    }

    #[test]
    fn the_proxy_holds_every_byte_for_the_delay_of_the_moment() {
        if std::env::var_os("XINBAO_NO_NETNS").is_some_and(|v| v == "1") {
            eprintln!("XINBAO_NO_NETNS=1: the network-namespace test does not run");
            return;
        }
        let pid = std::process::id();
        let hosts = Hosts::create(&format!("xd{}", pid % 100_000), &format!("10.215.{}", pid % 250), 2)
            .unwrap_or_else(|e| {
                panic!("this test makes network namespaces, which needs root ({e}); run it as root, or set XINBAO_NO_NETNS=1 to skip it")
            });
        let proxy = DelayProxy::start(&hosts, 0).unwrap();
        // An echo server on host 1, which host 0 reaches only through its proxy.
        let ip: Ipv4Addr = hosts.hosts[1].ip.parse().unwrap();
        let listener = inside(&hosts.hosts[1].netns, move || {
            TcpListener::bind((ip, 0)).unwrap()
        })
        .join()
        .unwrap();
        let to = SocketAddrV4::new(ip, listener.local_addr().unwrap().port());
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut bytes = [0u8; 4];
                    if stream.read_exact(&mut bytes).is_ok() {
                        let _ = stream.write_all(&bytes);
                    }
                });
            }
        });
        let direct = round_trip(&hosts, to);
        assert!(
            direct < Duration::from_millis(150),
            "{direct:?} with no delay"
        );
        proxy.set(Duration::from_millis(300));
        let held = round_trip(&hosts, to);
        // Held once each way.
        assert!(
            held >= Duration::from_millis(600),
            "{held:?} with a 300 ms delay"
        );
        assert!(
            held < Duration::from_millis(2_000),
            "{held:?} with a 300 ms delay"
        );
        proxy.set(Duration::ZERO);
        let again = round_trip(&hosts, to);
        assert!(
            again < Duration::from_millis(150),
            "{again:?} once the delay is over"
        );
    }
}
