//! The bodies of xinbao's fuzz targets: every decoder of bytes that come from outside a
//! node (peers, clients, files). Each function takes arbitrary bytes and must neither
//! panic nor hang; where a decoder accepts, the value must survive the trip back (what is
//! accepted is what would be re-encoded, signed or stored).
//!
//! The same functions run under `cargo fuzz` (coverage-guided, `fuzz_targets/`) and under
//! the seeded random-input harness of `cargo test` (`tests/tests/fuzz_smoke.rs`), so a
//! machine without a nightly toolchain still runs every target. [`seeds`] makes each
//! target's seed inputs from real values.

use std::sync::OnceLock;

use bytes::Bytes;
use ledger::block::{Block, CommitCertificate};
use ledger::export::{ChainEntry, ChainReader};
use ledger::genesis::{Genesis, GenesisFile, GenesisSettings, MemberFile};
use ledger::proof::TxProof;
use ledger::tx::SignedTx;
use malachitebft_codec::Codec;
use malachitebft_core_consensus::{LivenessMsg, ProposedValue, SignedConsensusMsg};
use malachitebft_core_types::{PolkaCertificate, ValidatorProof};
use malachitebft_engine::util::streaming::StreamMessage;
use malachitebft_sync::{Request, Response, Status};
use node::consensus::codec::WireCodec;
use node::consensus::context::{ProposalPart, XinbaoContext};
use node::consensus::parts::Streams;
use node::limits::PROPOSAL_STREAM_BYTES_MAX;

/// The suite of the chains these tests make.
const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target, by name: what `cargo fuzz run NAME` and the smoke harness call.
pub const TARGETS: &[(&str, Target)] = &[
    ("tx_bytes", tx_bytes),
    ("block_bytes", block_bytes),
    ("certificate_bytes", certificate_bytes),
    ("chain_file", chain_file),
    ("proof", proof),
    ("wire", wire),
    ("proposal_parts", proposal_parts),
    ("sync_response", sync_response),
    ("tx_json", tx_json),
    ("scenario", scenario),
    ("genesis_files", genesis_files),
    ("http_body", http_body),
];

/// The worked example every chain-shaped target is built on.
struct Example {
    genesis: Genesis,
    file: Vec<u8>,
    entries: Vec<ChainEntry>,
}

fn example() -> &'static Example {
    static EXAMPLE: OnceLock<Example> = OnceLock::new();
    EXAMPLE.get_or_init(|| {
        let chain = contracts::testkit::scenario_chain(include_str!(
            "../../../network-configs/scenarios/a-ningbo-style.json"
        ));
        Example {
            file: chain.file_bytes(),
            genesis: chain.genesis,
            entries: chain.entries,
        }
    })
}

/// Canonical transaction bytes (`POST /v1/tx`, gossip, blocks).
pub fn tx_bytes(data: &[u8]) {
    if let Ok(tx) = SignedTx::from_bytes(data) {
        assert_eq!(tx.to_bytes(), data, "accepted bytes are canonical");
        let chain_id = tx.body.chain_id.clone();
        let _ = tx.verify(&chain_id, SUITE);
    }
}

/// Canonical block bytes (proposals, sync).
pub fn block_bytes(data: &[u8]) {
    if let Ok(block) = Block::from_bytes(data) {
        assert_eq!(block.to_bytes(), data, "accepted bytes are canonical");
        let _ = block.id(SUITE);
        let _ = contracts::chain::verify_txs(&block.header.chain_id, SUITE, &block.txs);
    }
}

/// Commit certificates, checked against the example's validators.
pub fn certificate_bytes(data: &[u8]) {
    if let Ok(certificate) = CommitCertificate::from_bytes(data) {
        assert_eq!(certificate.to_bytes(), data, "accepted bytes are canonical");
        let genesis = &example().genesis;
        let validators = genesis.validator_set().expect("the example's validators");
        let block = &example().entries[0].block;
        let _ = certificate.verify(&genesis.chain_id, 1, &block.id(SUITE), &validators);
    }
}

/// A chain file, read and audited from the example's genesis (`audit verify`).
pub fn chain_file(data: &[u8]) {
    let Ok(mut reader) = ChainReader::open(data) else {
        return;
    };
    let header = reader.header().clone();
    let entries = std::iter::from_fn(|| reader.next_entry().transpose());
    let _ = contracts::audit::verify_chain(&example().genesis, &header, entries, |_| {});
}

/// A settlement proof, in its binary and its JSON form (`audit check-proof`).
pub fn proof(data: &[u8]) {
    if let Ok(proof) = TxProof::from_bytes(data) {
        let _ = proof.verify(&example().genesis);
    }
    if let Ok(proof) = TxProof::from_json(data) {
        let _ = proof.verify(&example().genesis);
    }
}

fn roundtrip<T>(bytes: Bytes)
where
    WireCodec: Codec<T>,
{
    if let Ok(value) = Codec::<T>::decode(&WireCodec, bytes) {
        let again = Codec::<T>::encode(&WireCodec, &value).expect("a decoded message encodes");
        assert!(
            Codec::<T>::decode(&WireCodec, again).is_ok(),
            "a re-encoded message decodes"
        );
    }
}

/// The consensus wire codec: the first byte picks the message type.
pub fn wire(data: &[u8]) {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let bytes = Bytes::copy_from_slice(rest);
    match kind % 9 {
        0 => roundtrip::<ProposalPart>(bytes),
        1 => roundtrip::<SignedConsensusMsg<XinbaoContext>>(bytes),
        2 => roundtrip::<LivenessMsg<XinbaoContext>>(bytes),
        3 => roundtrip::<StreamMessage<ProposalPart>>(bytes),
        4 => roundtrip::<Status<XinbaoContext>>(bytes),
        5 => roundtrip::<Request<XinbaoContext>>(bytes),
        6 => roundtrip::<ProposedValue<XinbaoContext>>(bytes),
        7 => roundtrip::<PolkaCertificate<XinbaoContext>>(bytes),
        _ => roundtrip::<ValidatorProof<XinbaoContext>>(bytes),
    }
}

/// Proposal-part reassembly: frames of `[publisher, length (2 bytes LE), message]`, each
/// message a wire-encoded stream message, fed to one reassembler.
pub fn proposal_parts(data: &[u8]) {
    let mut streams = Streams::new();
    let mut rest = data;
    while rest.len() >= 3 {
        let publisher = vec![rest[0] % 4];
        let len = (u16::from_le_bytes([rest[1], rest[2]]) as usize).min(rest.len() - 3);
        let frame = &rest[3..3 + len];
        rest = &rest[3 + len..];
        let Ok(message) =
            Codec::<StreamMessage<ProposalPart>>::decode(&WireCodec, Bytes::copy_from_slice(frame))
        else {
            continue;
        };
        if let Some(complete) = streams.insert(publisher, message) {
            assert!(complete.bytes.len() <= PROPOSAL_STREAM_BYTES_MAX);
            let _ = Block::from_bytes(&complete.bytes);
        }
        assert!(streams.len() <= node::consensus::parts::STREAMS_MAX);
    }
}

/// Sync responses and the blocks they carry.
pub fn sync_response(data: &[u8]) {
    if let Ok(Response::ValueResponse(response)) =
        Codec::<Response<XinbaoContext>>::decode(&WireCodec, Bytes::copy_from_slice(data))
    {
        for value in &response.values {
            let _ = Block::from_bytes(&value.value_bytes);
        }
    }
}

/// Transaction files (`xinbao tx sign|submit`, `POST /v1/tx` as JSON).
pub fn tx_json(data: &[u8]) {
    if let Ok(tx) = serde_json::from_slice::<SignedTx>(data) {
        let bytes = tx.to_bytes();
        let back = SignedTx::from_bytes(&bytes).expect("a transaction file has canonical bytes");
        assert_eq!(back, tx, "the canonical bytes are the file's transaction");
        let json = serde_json::to_vec(&tx).expect("a transaction prints as JSON");
        let again: SignedTx = serde_json::from_slice(&json).expect("its JSON reads back");
        assert_eq!(again, tx);
    }
}

/// Scenario files, run through the rulebook (`xinbao scenario run`).
pub fn scenario(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = contracts::scenario::run(text);
    }
}

/// Genesis files with approvals, bare geneses, member files and assembly.
pub fn genesis_files(data: &[u8]) {
    if let Ok(file) = GenesisFile::from_json(data) {
        if file.genesis.validate().is_ok() {
            let _ = file.genesis.hash();
            let _ = file.check_approved();
            let _ = file.genesis.roster();
        }
    }
    if let Ok(genesis) = Genesis::from_json(data) {
        if genesis.validate().is_ok() {
            let _ = contracts::chain::genesis_state(&genesis);
        }
    }
    if let Ok(member) = MemberFile::from_json(data) {
        let chain = ledger::Id::new("fuzz").expect("a valid id");
        let _ = ledger::genesis::assemble(chain, &[member], &GenesisSettings::default());
    }
}

/// HTTP request bodies of `POST /v1/tx` and `POST /v1/txs`: the first byte says JSON or
/// binary.
pub fn http_body(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    let is_json = kind & 1 == 1;
    let _ = node::intake::parse_one(is_json, body);
    if let Ok(items) = node::intake::parse_batch(is_json, body) {
        assert!(items.len() <= node::limits::SUBMIT_BATCH_TXS_MAX);
    }
}

/// Seed inputs for `target`, made from real values of the worked example.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let example = example();
    let txs: Vec<&SignedTx> = example
        .entries
        .iter()
        .flat_map(|e| e.block.txs.iter())
        .collect();
    match target {
        "tx_bytes" => txs.iter().take(4).map(|tx| tx.to_bytes()).collect(),
        "block_bytes" => example
            .entries
            .iter()
            .take(3)
            .map(|e| e.block.to_bytes())
            .collect(),
        "certificate_bytes" => vec![example.entries[0].certificate.to_bytes()],
        "chain_file" => vec![example.file.clone()],
        "proof" => {
            let proof =
                TxProof::from_entry(SUITE, &example.entries[0], 0).expect("a first transaction");
            vec![proof.to_bytes(), proof.to_json().into_bytes()]
        }
        "wire" | "proposal_parts" => wire_seeds(target, &example.entries[0]),
        "sync_response" => vec![sync_seed(&example.entries[0])],
        "tx_json" => txs
            .iter()
            .take(4)
            .map(|tx| serde_json::to_vec(tx).expect("JSON"))
            .collect(),
        "scenario" => {
            vec![include_bytes!("../../../network-configs/scenarios/b-yunnan-style.json").to_vec()]
        }
        "genesis_files" => vec![
            GenesisFile::unapproved(example.genesis.clone())
                .to_json()
                .into_bytes(),
            example.genesis.to_json().into_bytes(),
        ],
        "http_body" => {
            let mut binary = vec![0u8];
            binary.extend(ledger::codec::encode(
                &txs.iter()
                    .take(2)
                    .map(|tx| tx.to_bytes())
                    .collect::<Vec<_>>(),
            ));
            let mut json = vec![1u8];
            json.extend(serde_json::to_vec(&txs.iter().take(2).collect::<Vec<_>>()).expect("JSON"));
            vec![binary, json]
        }
        _ => Vec::new(),
    }
}

/// A sync response carrying the example's first block, certified by one signature.
fn sync_seed(entry: &ChainEntry) -> Vec<u8> {
    use malachitebft_core_types::{ExtendedCommitCertificate, ExtendedCommitSignature, Round};
    use malachitebft_sync::{RawDecidedValue, ValueResponse};
    use node::consensus::context::{Address, BlockHash, Height};
    let key = contracts::testkit::validator_key(0);
    let certificate = ExtendedCommitCertificate {
        height: Height(1),
        round: Round::new(0),
        value_id: BlockHash(entry.block.id(SUITE).0),
        commit_signatures: vec![ExtendedCommitSignature::new(
            Address(key.public_key()),
            node::consensus::signing::ConsensusSignature([7; 64]),
            None,
        )],
    };
    let response = Response::ValueResponse(ValueResponse::new(
        Height(1),
        vec![RawDecidedValue::new(
            Bytes::from(entry.block.to_bytes()),
            certificate,
        )],
    ));
    Codec::<Response<XinbaoContext>>::encode(&WireCodec, &response)
        .expect("encodes")
        .to_vec()
}

/// The proposal parts of the example's first block, as wire messages.
fn wire_seeds(target: &str, entry: &ChainEntry) -> Vec<Vec<u8>> {
    use malachitebft_core_types::Round;
    use node::consensus::context::{Address, BlockHash, Height};
    use node::consensus::parts::{split, Init};
    let key = contracts::testkit::validator_key(0);
    let proposer = Address(key.public_key());
    let init = Init {
        height: Height(1),
        round: Round::new(0),
        pol_round: Round::Nil,
        proposer,
    };
    let hash = BlockHash(entry.block.id(SUITE).0);
    let signature = node::consensus::signing::ConsensusSignature([0; 64]);
    let messages = split(init, &entry.block.to_bytes(), hash, signature);
    let encoded: Vec<Vec<u8>> = messages
        .iter()
        .map(|m| {
            Codec::<StreamMessage<ProposalPart>>::encode(&WireCodec, m)
                .expect("encodes")
                .to_vec()
        })
        .collect();
    if target == "wire" {
        encoded
            .into_iter()
            .map(|m| std::iter::once(3u8).chain(m).collect())
            .collect()
    } else {
        let mut framed = Vec::new();
        for m in encoded {
            framed.push(0);
            framed.extend((m.len() as u16).to_le_bytes());
            framed.extend(m);
        }
        vec![framed]
    }
}
