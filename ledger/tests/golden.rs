//! Golden vectors: the exact bytes, ids, signatures and roots of fixed values.
//!
//! These are the protocol. If one of these tests fails, the encoding, a hash or a signing
//! domain has changed, and every node and every auditor must change with it: update the
//! vector only on purpose, with a new protocol version.

use ledger::action::{Action, IssuePolicy};
use ledger::block::{receipts_root, Block, BlockHeader, BlockId, Outcome, Receipt};
use ledger::crypto::SecretKey;
use ledger::merkle;
use ledger::tx::{SignedTx, TxBody};
use ledger::{Code, Fen, Id};

/// The suite of the chains these tests make.
const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;

const SEED: [u8; 32] = [0x42; 32];

fn golden_tx() -> SignedTx {
    let mut tx = SignedTx::unsigned(TxBody {
        chain_id: Id::new("xinbao-golden").unwrap(),
        nonce: 1,
        expires_at_height: 1000,
        action: Action::IssuePolicy(IssuePolicy {
            id: Id::new("pol-1").unwrap(),
            programme: Id::new("prog-a").unwrap(),
            enterprise: Id::new("ent-1").unwrap(),
            bank: Id::new("bank-a").unwrap(),
            loan_principal_fen: Fen(100_000_000),
            loan_rate_bps: 565,
            term_months: 12,
            premium_rate_bps: 200,
            financing_doc_hash: None,
        }),
    });
    tx.sign(&SecretKey::from_seed(SEED)).unwrap();
    tx
}

fn golden_header(tx: &SignedTx) -> BlockHeader {
    BlockHeader {
        chain_id: Id::new("xinbao-golden").unwrap(),
        height: 1,
        protocol_version: 1,
        time_ms: 1_767_225_600_000,
        previous: BlockId([0x01; 32]),
        tx_root: ledger::block::tx_root(SUITE, &[tx.id(SUITE)]),
        receipts_root: receipts_root(
            SUITE,
            &[Receipt {
                tx_id: tx.id(SUITE),
                outcome: Outcome::Rejected(Code::RateNotFiled),
            }],
        ),
        state_root: [0x02; 32],
        validator_set_hash: [0x03; 32],
        proposer: SecretKey::from_seed(SEED).public_key(),
    }
}

const PUBLIC_KEY: &str = "2152f8d19b791d24453242e15f2eab6cb7cffa7b6a5ed30097960e069881db12";
const BODY_BYTES: &str =
    "0d0000000000000078696e62616f2d676f6c64656e0100000000000000e803000000000000\
060000000500000000000000706f6c2d31060000000000000070726f672d610500000000000000656e742d31060000\
000000000062616e6b2d6100e1f5050000000035020000000000000c00000000000000c80000000000000000";
const TX_ID: &str = "dbf76d9a8aabe96db4ec4da3d739f45c0b61987e83d8780eee53140a586bff04";
const SIGNATURE: &str = "9e39c086214fd50b0808764aebde7903d7a06ddfec21029b9d2e7b90b4e4f974\
1ee783e59d17336cf857b013faa3d32b4942a361239a1d34b21f0ea212a0e90f";
const JSON: &str = r#"{"chain_id":"xinbao-golden","nonce":1,"expires_at_height":1000,"action":{"type":"IssuePolicy","id":"pol-1","programme":"prog-a","enterprise":"ent-1","bank":"bank-a","loan_principal_fen":100000000,"loan_rate_bps":565,"term_months":12,"premium_rate_bps":200,"financing_doc_hash":null},"signatures":[{"public_key":"ed25519:2152f8d19b791d24453242e15f2eab6cb7cffa7b6a5ed30097960e069881db12","signature":"9e39c086214fd50b0808764aebde7903d7a06ddfec21029b9d2e7b90b4e4f9741ee783e59d17336cf857b013faa3d32b4942a361239a1d34b21f0ea212a0e90f"}]}"#;
const EMPTY_ROOT: &str = "b1c60fb8592aafaf38d71030ba438c1ba7c3f79bf0fbfde88538c3fc9c35f244";
const TX_ROOT: &str = "6fe5402319127c0e2bd901140779f849a0e1367a56b83d09dad76be7df023685";
/// The header carries its protocol version (R12.1) since the header format that
/// introduced protocol versions, and its proposer's key names its algorithm (a tag before
/// the key's bytes) since the format that brought SM2 keys: deliberate changes of this
/// vector.
const HEADER_ID: &str = "3227f64b3e6b7f4e2928244bd88cb46929802547af9ce7a42ed496e8c55bcdb2";

#[test]
fn the_key_signature_scheme_is_standard_ed25519() {
    // RFC 8032 section 7.1, test 1: with an empty domain our signing is plain ed25519.
    let seed: [u8; 32] =
        hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap()
            .try_into()
            .unwrap();
    let key = SecretKey::from_seed(seed);
    assert_eq!(
        key.public_key().to_hex(),
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    );
    let signature = key.sign(b"", b"");
    assert_eq!(
        signature.to_hex(),
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    );
    assert_eq!(key.public_key().verify(b"", b"", &signature), Ok(()));
}

#[test]
fn golden_transaction() {
    let tx = golden_tx();
    assert_eq!(SecretKey::from_seed(SEED).public_key().to_hex(), PUBLIC_KEY);
    assert_eq!(hex::encode(ledger::codec::encode(&tx.body)), BODY_BYTES);
    assert_eq!(tx.id(SUITE).to_hex(), TX_ID);
    assert_eq!(
        tx.id(SUITE).0,
        *blake3::hash(&hex::decode(BODY_BYTES).unwrap()).as_bytes()
    );
    assert_eq!(tx.signatures[0].signature.to_hex(), SIGNATURE);
    // The whole transaction: body, then one (key, signature); the key is its algorithm's
    // tag (0, ed25519, as a little-endian u32) and its bytes.
    let tx_bytes = format!("{BODY_BYTES}010000000000000000000000{PUBLIC_KEY}{SIGNATURE}");
    assert_eq!(hex::encode(tx.to_bytes()), tx_bytes);
    assert_eq!(
        SignedTx::from_bytes(&hex::decode(&tx_bytes).unwrap()).unwrap(),
        tx
    );
    assert_eq!(serde_json::to_string(&tx).unwrap(), JSON);
    let from_json: SignedTx = serde_json::from_str(JSON).unwrap();
    assert_eq!(from_json, tx);
    let chain = Id::new("xinbao-golden").unwrap();
    assert_eq!(
        from_json.verify_signatures(&chain, SUITE).unwrap()[0].to_hex(),
        PUBLIC_KEY
    );
}

#[test]
fn golden_roots_and_block_id() {
    let tx = golden_tx();
    assert_eq!(hex::encode(merkle::root(SUITE, &[])), EMPTY_ROOT);
    let header = golden_header(&tx);
    let block = Block {
        header: header.clone(),
        txs: vec![tx],
    };
    assert_eq!(hex::encode(block.tx_root(SUITE)), TX_ROOT);
    assert_eq!(block.tx_root(SUITE), header.tx_root);
    assert_eq!(header.id(SUITE).to_hex(), HEADER_ID);
    assert_eq!(block.id(SUITE), header.id(SUITE));
}

#[test]
fn block_and_receipt_proofs_check_against_the_header() {
    use ledger::block::receipt_proof;
    let first = golden_tx();
    let mut second = first.clone();
    second.body.nonce = 2;
    let mut third = first.clone();
    third.body.nonce = 3;
    let txs = vec![first, second, third];
    let receipts: Vec<Receipt> = txs
        .iter()
        .enumerate()
        .map(|(i, tx)| Receipt {
            tx_id: tx.id(SUITE),
            outcome: if i == 1 {
                Outcome::Rejected(Code::FundInsufficient)
            } else {
                Outcome::Accepted
            },
        })
        .collect();
    let mut header = golden_header(&txs[0]);
    header.tx_root = ledger::block::tx_root(
        SUITE,
        &txs.iter().map(|tx| tx.id(SUITE)).collect::<Vec<_>>(),
    );
    header.receipts_root = receipts_root(SUITE, &receipts);
    let block = Block { header, txs };
    assert_eq!(block.tx_root(SUITE), block.header.tx_root);
    for i in 0..3 {
        let proof = block.tx_proof(SUITE, i).unwrap();
        let id = block.txs[i].id(SUITE).0;
        assert!(merkle::verify(
            SUITE,
            &block.header.tx_root,
            &id,
            i as u64,
            3,
            &proof,
        ));
        let proof = receipt_proof(SUITE, &receipts, i).unwrap();
        let leaf = receipts[i].hash(SUITE);
        assert!(merkle::verify(
            SUITE,
            &block.header.receipts_root,
            &leaf,
            i as u64,
            3,
            &proof,
        ));
        // A receipt with another outcome is not the one committed.
        let mut forged = receipts[i].clone();
        forged.outcome = Outcome::Rejected(Code::Unauthorized);
        assert!(!merkle::verify(
            SUITE,
            &block.header.receipts_root,
            &forged.hash(SUITE),
            i as u64,
            3,
            &proof,
        ));
    }
    assert_eq!(block.tx_proof(SUITE, 3), None);
    // The order of transactions is part of the root.
    let mut swapped = block.clone();
    swapped.txs.swap(0, 1);
    assert_ne!(swapped.tx_root(SUITE), block.header.tx_root);
}
