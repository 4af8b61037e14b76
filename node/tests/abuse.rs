//! The HTTP API under abuse, on a real consortium of `xinbao-node` processes: every error
//! is JSON with a stable code; oversized headers and bodies, slow clients and more
//! requests than the node serves at once are refused; and a flood of junk and of duplicate
//! transactions from one client leaves another client's transactions committing.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Devnet;
use ledger::tx::SignedTx;
use serde_json::Value;

/// The suite of the chains these tests make.
const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;

/// Sends `request` on a fresh connection and reads the answer to its end.
fn raw(addr: &str, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the node");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// An error answer's code, after checking it is `{error: {code, message}}` in plain words.
fn code_of(answer: &Value) -> String {
    let message = answer["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("not a JSON error: {answer}"));
    assert!(!message.is_empty());
    // No Rust debug forms such as `UnexpectedEnd { additional: 8 }`.
    assert!(!message.contains(" { "), "{message}");
    answer["error"]["code"].as_str().unwrap().to_string()
}

#[test]
fn the_api_holds_under_abuse_and_keeps_committing_other_clients_transactions() {
    let mut net = Devnet::create_with("abuse", 200, 500, false);
    net.start_all();
    net.wait_height(&[0, 1, 2, 3], 1, Duration::from_secs(90));
    let addr = net.http[0].clone();

    // 1. Every error is JSON with a stable code.
    let cases: [(&str, &str, &[u8], u16, &str); 8] = [
        ("GET", "/v1/blocks/abc", b"", 400, "BadHeight"),
        ("GET", "/v1/chain/-1", b"", 400, "BadHeight"),
        ("GET", "/v1/blocks/99999999", b"", 404, "NotFound"),
        ("GET", "/no/such/route", b"", 404, "NotFound"),
        ("POST", "/v1/status", b"{}", 405, "MethodNotAllowed"),
        ("GET", "/v1/governance?limit=many", b"", 400, "BadQuery"),
        ("POST", "/v1/tx", b"\x01\x02\x03", 400, "Malformed"),
        ("GET", "/v1/tx/xyz", b"", 400, "BadId"),
    ];
    for (method, path, body, status, code) in cases {
        let (got, text) = raw(
            &addr,
            format!(
                "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .as_bytes()
            .iter()
            .chain(body)
            .copied()
            .collect::<Vec<u8>>()
            .as_slice(),
        );
        assert_eq!(got, status, "{method} {path}: {text}");
        let answer: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{text}"));
        assert_eq!(code_of(&answer), code, "{method} {path}");
    }
    // A JSON file that is not a transaction names what is wrong in plain words.
    let (status, answer) = net.post(0, "/v1/tx", "application/json", b"{\"nonce\": 1}");
    assert_eq!(status, 400);
    assert_eq!(code_of(&answer), "Malformed");

    // 2. A body over the limit is refused once the limit is passed, not read to its end.
    //    The answer comes while the client is still sending, so it is read on a thread
    //    of its own (a client that only reads after writing may see a reset instead).
    let stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut reader = stream.try_clone().unwrap();
    let answer = std::thread::spawn(move || {
        let mut answer = Vec::new();
        let mut chunk = [0u8; 4096];
        while let Ok(n) = reader.read(&mut chunk) {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8_lossy(&answer).to_string()
    });
    let big = 2 * 1024 * 1024;
    let mut writer = stream;
    let _ = writer.write_all(
        format!(
            "POST /v1/tx HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n\
             Content-Length: {big}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    for _ in 0..big / 65536 {
        if writer.write_all(&[b'x'; 65536]).is_err() {
            break;
        }
    }
    let answer = answer.join().unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    assert_eq!(code_of(&serde_json::from_str(body).unwrap()), "TooLarge");

    // 3. Oversized headers: 431, and the connection closed.
    let header = format!(
        "GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(32 * 1024)
    );
    let (status, _) = raw(&addr, header.as_bytes());
    assert_eq!(status, 431);

    // 4. A client that never finishes its headers is cut off, not served forever.
    let started = Instant::now();
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    slow.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(25),
        "the node closed a half-sent request after {waited:?}"
    );

    // 5. More requests in flight than the node serves at once: the excess is refused at
    //    once with 503 Overloaded, and the node serves again when they are gone.
    let mut hanging = Vec::new();
    for _ in 0..node::http::REQUESTS_IN_FLIGHT_MAX {
        let mut s = TcpStream::connect(&addr).unwrap();
        // A body announced and never sent keeps its request in flight.
        s.write_all(b"POST /v1/tx HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
            .unwrap();
        hanging.push(s);
    }
    std::thread::sleep(Duration::from_millis(500));
    let (status, text) = raw(
        &addr,
        b"GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 503, "{text}");
    assert_eq!(code_of(&serde_json::from_str(&text).unwrap()), "Overloaded");
    drop(hanging);
    let deadline = Instant::now() + Duration::from_secs(10);
    while net.get(0, "/v1/status").map(|(s, _)| s) != Some(200) {
        assert!(Instant::now() < deadline, "the node did not serve again");
        std::thread::sleep(Duration::from_millis(100));
    }

    // 6. A flood of junk and of duplicates from one client, while another submits.
    let stop = Arc::new(AtomicBool::new(false));
    let flooded = Arc::new(AtomicU64::new(0));
    let duplicate = net.staff_key_tx(0, 1).to_bytes();
    let flooders: Vec<_> = (0..8)
        .map(|t| {
            let (stop, flooded, addr, duplicate) = (
                stop.clone(),
                flooded.clone(),
                addr.clone(),
                duplicate.clone(),
            );
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .timeout_global(Some(Duration::from_secs(10)))
                    .http_status_as_error(false)
                    .build()
                    .into();
                let mut n: u64 = t;
                while !stop.load(Ordering::Relaxed) {
                    n = n
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let body = if n.is_multiple_of(2) {
                        duplicate.clone()
                    } else {
                        n.to_le_bytes().repeat(1 + (n >> 60) as usize)
                    };
                    if agent
                        .post(&format!("http://{addr}/v1/tx"))
                        .header("Content-Type", "application/octet-stream")
                        .send(&body[..])
                        .is_ok()
                    {
                        flooded.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let mut ids = Vec::new();
    for nonce in 0..40 {
        let tx = net.staff_key_tx(1, 100 + nonce);
        let (status, answer) = net.post(0, "/v1/tx", "application/octet-stream", &tx.to_bytes());
        assert_eq!(status, 200, "{answer}");
        ids.push(tx.id(SUITE).to_hex());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for id in &ids {
        loop {
            let (_, answer) = net
                .get(0, &format!("/v1/tx/{id}"))
                .expect("the node answers");
            if answer["status"] == "committed" {
                assert_eq!(answer["receipt"]["outcome"], "Accepted", "{answer}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{id} not committed under the flood: {answer}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for f in flooders {
        f.join().unwrap();
    }
    let flooded = flooded.load(Ordering::Relaxed);
    eprintln!("flood: {flooded} junk and duplicate requests answered");
    assert!(flooded > 100, "the flood did not run: {flooded} requests");
    // The duplicate committed once.
    let id = SignedTx::from_bytes(&duplicate).unwrap().id(SUITE).to_hex();
    let (_, answer) = net.get(0, &format!("/v1/tx/{id}")).unwrap();
    assert_eq!(answer["status"], "committed", "{answer}");
}
