//! A validator whose consensus key lives in a PKCS#11 module: SoftHSM2 makes the key, the
//! consortium admits the node with the transport key the module's key binds, and the
//! node, started with a `pkcs11:` URI for its consensus key, votes: blocks are certified
//! with the module's signatures. The secret never leaves the module.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::txs::{fetch, ok, s, sign_and_commit};
use common::{binaries, free_port_pair, serial, text, Devnet};
use harness::softhsm::Token;

const START: Duration = Duration::from_secs(60);
const VOTES: Duration = Duration::from_secs(90);

/// `xinbao ARGS` beside the SoftHSM2 token `token`.
fn xinbao_hsm(token: &Token, args: &[&str]) -> Output {
    token
        .command(&binaries().xinbao)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run xinbao")
}

fn must(output: Output) -> String {
    assert!(
        output.status.success(),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_validator_whose_consensus_key_is_in_softhsm2_certifies_blocks() {
    let _one = serial();
    let mut net = Devnet::init("hsm", &[], false);
    net.start_all();
    let all: Vec<usize> = (0..net.len()).collect();
    net.wait_height(&all, 1, START);

    // A SoftHSM2 token of its own, and an ed25519 key made inside it.
    let token = Token::init(&net.dir.join("hsm"), "validator");
    let uri = token.uri("consensus");
    let public = must(xinbao_hsm(&token, &["keys", "new", "--out", &uri]))
        .trim()
        .to_string();
    assert!(public.starts_with("ed25519:"), "{public}");

    // Its transport key, bound by the module's key.
    let node_dir = net.dir.join("nodes").join("node4-hsm");
    std::fs::create_dir_all(&node_dir).unwrap();
    let transport = node_dir.join("transport.key");
    let binding = node_dir.join("transport.json");
    must(xinbao_hsm(
        &token,
        &[
            "keys",
            "bind-transport",
            "--consensus-key",
            &uri,
            "--transport-key",
            s(&transport),
            "--out",
            s(&binding),
        ],
    ));

    // The consortium adds the node.
    let p2p_port = free_port_pair();
    let http_port = free_port_pair();
    let address = format!("/ip4/127.0.0.1/tcp/{p2p_port}");
    let add = node_dir.join("add.json");
    ok(&[
        "tx",
        "new",
        "AddValidator",
        "--org",
        "bank",
        "--consensus-key",
        &public,
        "--voting-power",
        "1",
        "--address",
        &address,
        "--transport",
        s(&binding),
        "--node",
        &net.urls[0],
        "--out",
        s(&add),
    ]);
    let approvers: Vec<PathBuf> = ["bank", "insurer", "regulator"]
        .iter()
        .map(|org| net.admin_key(org))
        .collect();
    let added = sign_and_commit(&add, &approvers, &net.urls[0]);
    assert!(added.accepted(), "{}", added.out);
    // Two blocks later the roster holds it, pinned by its transport key.
    let deadline = Instant::now() + START;
    while !fetch(&net.urls[0], "/v1/status")["validators"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["consensus_key"] == public.as_str() && v["transport_key"].is_string())
    {
        assert!(Instant::now() < deadline, "the roster never held the node");
        std::thread::sleep(Duration::from_millis(200));
    }

    // The node, its consensus key a URI: every vote is signed in the module.
    let config = node_dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "moniker = \"node4-hsm\"\ndata_dir = \"data\"\ngenesis = \"../../genesis.json\"\n\
             consensus_key = \"{uri}\"\ntransport_key = \"transport.key\"\n\
             http_listen = \"127.0.0.1:{http_port}\"\np2p_listen = \"{address}\"\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(node_dir.join("node.log")).unwrap();
    let node = KillOnDrop(
        Command::new(&binaries().node)
            .env("SOFTHSM2_CONF", &token.conf)
            .args(["--config", s(&config)])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start xinbao-node"),
    );

    // Blocks certified with the module's signature, the node among their signers.
    let deadline = Instant::now() + VOTES;
    let mut checked = added.height;
    let certified = loop {
        let tip = fetch(&net.urls[1], "/v1/status")["height"]
            .as_u64()
            .unwrap();
        let found = (checked + 1..=tip).find(|h| {
            fetch(&net.urls[1], &format!("/v1/blocks/{h}"))["signed_by"]
                .as_array()
                .unwrap()
                .iter()
                .any(|signer| signer["validator"] == public.as_str())
        });
        checked = tip;
        if let Some(height) = found {
            break height;
        }
        assert!(
            Instant::now() < deadline,
            "no block certified by the module's key within {VOTES:?}; the node's log:\n{}",
            std::fs::read_to_string(node_dir.join("node.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(certified > added.height);
    // It follows the chain as the others do.
    let url = format!("http://127.0.0.1:{http_port}");
    let deadline = Instant::now() + START;
    while common::get(&url, "/v1/status")
        .and_then(|(_, status)| status["height"].as_u64())
        .is_none_or(|height| height < certified)
    {
        assert!(
            Instant::now() < deadline,
            "the node did not commit {certified}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let own = fetch(&url, &format!("/v1/blocks/{certified}"));
    let other = fetch(&net.urls[2], &format!("/v1/blocks/{certified}"));
    assert_eq!(own["block_id"], other["block_id"]);
    drop(node);
}
