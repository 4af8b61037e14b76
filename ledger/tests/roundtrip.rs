//! Every encoded type survives its binary and JSON forms unchanged, and the binary decoder
//! never panics on hostile bytes.

mod common;

use std::collections::BTreeSet;
use std::fmt::Debug;

use bincode::{Decode, Encode};
use ledger::block::{Block, BlockHeader, CommitCertificate, Receipt};
use ledger::codec::{self, CodecError, BLOCK_BYTES_MAX, TX_BYTES_MAX};
use ledger::genesis::Genesis;
use ledger::tx::SignedTx;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The suite of the chains these tests make.
const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;

/// Binary: decode(encode(v)) == v; JSON: from_str(to_string(v)) == v and the JSON text is
/// stable through a second trip.
fn round_trips<T>(value: &T) -> Result<(), TestCaseError>
where
    T: Encode + Decode<()> + Serialize + DeserializeOwned + PartialEq + Debug,
{
    let bytes = codec::encode(value);
    let back: T = codec::decode(&bytes, BLOCK_BYTES_MAX)
        .map_err(|e| TestCaseError::fail(format!("binary decode: {e}")))?;
    prop_assert_eq!(&back, value);
    let json = serde_json::to_string(value).unwrap();
    let back: T = serde_json::from_str(&json)
        .map_err(|e| TestCaseError::fail(format!("json decode: {e}: {json}")))?;
    prop_assert_eq!(&back, value);
    prop_assert_eq!(serde_json::to_string(&back).unwrap(), json);
    Ok(())
}

proptest! {
    #![proptest_config(common::config(96, 0x7862_0001))]

    #[test]
    fn actions(a in common::action()) { round_trips(&a)?; }

    #[test]
    fn tx_bodies(b in common::tx_body()) {
        round_trips(&b)?;
        // The id is a function of the canonical bytes, nothing else.
        prop_assert_eq!(b.id(SUITE).0, *blake3::hash(&codec::encode(&b)).as_bytes());
    }

    #[test]
    fn signed_txs(t in common::signed_tx()) {
        round_trips(&t)?;
        let bytes = t.to_bytes();
        prop_assert_eq!(SignedTx::from_bytes(&bytes).unwrap(), t.clone());
        // The JSON file form has exactly the documented keys.
        let v = serde_json::to_value(&t).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        prop_assert_eq!(keys, vec!["action", "chain_id", "expires_at_height", "nonce", "signatures"]);
        prop_assert_eq!(v["action"]["type"].as_str().unwrap(), t.body.action.type_name());
    }

    #[test]
    fn block_headers(h in common::block_header()) {
        round_trips(&h)?;
        prop_assert_eq!(h.id(SUITE).0, *blake3::hash(&codec::encode(&h)).as_bytes());
    }

    #[test]
    fn blocks(b in common::block()) {
        round_trips(&b)?;
        prop_assert_eq!(Block::from_bytes(&b.to_bytes()).unwrap(), b);
    }

    #[test]
    fn a_blocks_transaction_bounds_cut_its_bytes_into_its_transactions(b in common::block()) {
        let (bytes, bounds) = b.to_bytes_with_bounds();
        prop_assert_eq!(&bytes, &b.to_bytes());
        prop_assert_eq!(bounds.len(), b.txs.len() + 1);
        prop_assert_eq!(bounds[0] as usize, codec::encode(&b.header).len() + 8);
        for (i, tx) in b.txs.iter().enumerate() {
            let range = bounds[i] as usize..bounds[i + 1] as usize;
            prop_assert_eq!(&SignedTx::from_bytes(&bytes[range]).unwrap(), tx);
        }
        prop_assert_eq!(*bounds.last().unwrap() as usize, bytes.len());
    }

    #[test]
    fn receipts(r in common::receipt()) { round_trips(&r)?; }

    #[test]
    fn commit_certificates(c in common::commit_certificate()) {
        round_trips(&c)?;
        prop_assert_eq!(CommitCertificate::from_bytes(&c.to_bytes()).unwrap(), c);
    }

    #[test]
    fn genesis_files(g in common::genesis()) {
        round_trips(&g)?;
        prop_assert_eq!(Genesis::from_json(g.to_json().as_bytes()).unwrap(), g);
    }
}

proptest! {
    #![proptest_config(common::config(512, 0x7862_0002))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = SignedTx::from_bytes(&bytes);
        let _ = Block::from_bytes(&bytes);
        let _ = codec::decode::<BlockHeader>(&bytes, BLOCK_BYTES_MAX);
        let _ = codec::decode::<Receipt>(&bytes, BLOCK_BYTES_MAX);
        let _ = codec::decode::<Genesis>(&bytes, BLOCK_BYTES_MAX);
    }
}

proptest! {
    #![proptest_config(common::config(256, 0x7862_0003))]

    /// Random bytes rarely get past the first field; damaged real encodings reach deep.
    #[test]
    fn damaged_encodings_are_refused_or_canonical(
        t in common::signed_tx(),
        b in common::block(),
        at in any::<proptest::sample::Index>(),
        xor in 1u8..=255,
        cut in any::<proptest::sample::Index>(),
    ) {
        for bytes in [t.to_bytes(), b.to_bytes()] {
            let mut flipped = bytes.clone();
            let i = at.index(flipped.len());
            flipped[i] ^= xor;
            let truncated = &bytes[..cut.index(bytes.len())];
            for candidate in [&flipped[..], truncated] {
                // Whatever decodes must be canonical: re-encoding reproduces the input.
                if let Ok(tx) = SignedTx::from_bytes(candidate) {
                    prop_assert_eq!(tx.to_bytes(), candidate.to_vec());
                }
                if let Ok(block) = Block::from_bytes(candidate) {
                    prop_assert_eq!(block.to_bytes(), candidate.to_vec());
                }
            }
            // A truncated encoding never decodes as the same type.
            prop_assert!(truncated.len() == bytes.len()
                || (SignedTx::from_bytes(truncated).is_err() && Block::from_bytes(truncated).is_err()));
        }
    }
}

#[test]
fn the_action_strategy_covers_every_variant() {
    let mut runner = TestRunner::new(common::config(1, 0x7862_0004));
    let strategy = common::action();
    let mut seen = BTreeSet::new();
    for _ in 0..2000 {
        seen.insert(
            strategy
                .new_tree(&mut runner)
                .unwrap()
                .current()
                .type_name(),
        );
    }
    assert_eq!(seen.len(), common::ACTION_VARIANTS, "{seen:?}");
}

#[test]
fn decode_limits_and_trailing_bytes() {
    let mut runner = TestRunner::new(common::config(1, 0x7862_0005));
    let tx = common::signed_tx().new_tree(&mut runner).unwrap().current();
    let mut bytes = tx.to_bytes();
    bytes.push(0);
    assert_eq!(
        SignedTx::from_bytes(&bytes),
        Err(CodecError::TrailingBytes(1))
    );
    let big = vec![0u8; TX_BYTES_MAX + 1];
    assert_eq!(
        SignedTx::from_bytes(&big),
        Err(CodecError::TooLarge {
            len: TX_BYTES_MAX + 1,
            limit: TX_BYTES_MAX
        })
    );
    // A vector claiming 2^60 elements is refused without allocating them.
    let mut huge = codec::encode(&tx.body);
    huge.extend_from_slice(&(1u64 << 60).to_le_bytes());
    assert!(matches!(
        SignedTx::from_bytes(&huge),
        Err(CodecError::Malformed(_))
    ));
}
