//! Transaction signatures: what verifies, and every way a signature is refused.

use ed25519_dalek::Verifier;
use ledger::action::{Action, FundTopUp};
use ledger::crypto::{domain, Algorithm, PublicKey, SecretKey, Signature, Suite, VerifyError};
use ledger::tx::{SignOutcome, SignedTx, TxBody, TxError, TxSignature, TX_SIGNATURES_MAX};
use ledger::{Fen, Id, Text};

/// The suite of the chains these tests make.
const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;

fn chain() -> Id {
    Id::new("xinbao-test").unwrap()
}

fn body() -> TxBody {
    TxBody {
        chain_id: chain(),
        nonce: 7,
        expires_at_height: 100,
        action: Action::FundTopUp(FundTopUp {
            fund: Id::new("fund-a").unwrap(),
            amount_fen: Fen(50_000_000),
            reference: Text::new("budget 2026").unwrap(),
        }),
    }
}

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed([n; 32])
}

/// The order ℓ of the ed25519 base point, little-endian.
const ELL: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn add_le(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0);
    out
}

#[test]
fn two_signers_verify_in_order() {
    let mut tx = SignedTx::unsigned(body());
    assert_eq!(tx.sign(&key(1)).unwrap(), SignOutcome::Added);
    assert_eq!(tx.sign(&key(2)).unwrap(), SignOutcome::Added);
    let signers = tx.verify_signatures(&chain(), SUITE).unwrap();
    assert_eq!(signers, vec![key(1).public_key(), key(2).public_key()]);
    let verified = tx.clone().verify(&chain(), SUITE).unwrap();
    assert_eq!(verified.id(), tx.id(SUITE));
    assert_eq!(verified.signers(), &signers[..]);
    assert_eq!(verified.tx(), &tx);
}

#[test]
fn signing_twice_with_one_key_is_idempotent() {
    let mut tx = SignedTx::unsigned(body());
    tx.sign(&key(1)).unwrap();
    let before = tx.clone();
    assert_eq!(tx.sign(&key(1)).unwrap(), SignOutcome::AlreadySigned);
    assert_eq!(tx, before);
    // After the body changes, signing again replaces the stale signature.
    tx.body.nonce += 1;
    assert!(tx.verify_signatures(&chain(), SUITE).is_err());
    assert_eq!(tx.sign(&key(1)).unwrap(), SignOutcome::Replaced);
    assert_eq!(tx.signatures.len(), 1);
    assert!(tx.verify_signatures(&chain(), SUITE).is_ok());
}

#[test]
fn the_signature_is_over_the_domain_and_the_id() {
    let tx = {
        let mut tx = SignedTx::unsigned(body());
        tx.sign(&key(1)).unwrap();
        tx
    };
    let id = tx.id(SUITE);
    let expected = key(1).sign(domain::TX, &id.0);
    assert_eq!(tx.signatures[0].signature, expected);
    // The same key over the bare id, or under another domain, gives another signature.
    assert_ne!(key(1).sign(b"", &id.0), expected);
    assert_ne!(key(1).sign(domain::CONSENSUS, &id.0), expected);
    assert_eq!(
        key(1)
            .public_key()
            .verify(domain::CONSENSUS, &id.0, &expected),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn wrong_chain_is_refused() {
    let mut tx = SignedTx::unsigned(body());
    tx.sign(&key(1)).unwrap();
    let other = Id::new("another-chain").unwrap();
    assert_eq!(
        tx.verify_signatures(&other, SUITE),
        Err(TxError::WrongChain {
            expected: other.clone(),
            found: chain()
        })
    );
    assert!(tx.verify(&other, SUITE).is_err());
}

#[test]
fn tampered_body_is_refused() {
    let mut tx = SignedTx::unsigned(body());
    tx.sign(&key(1)).unwrap();
    let Action::FundTopUp(top_up) = &mut tx.body.action else {
        unreachable!()
    };
    top_up.amount_fen = Fen(top_up.amount_fen.0 + 1);
    assert_eq!(
        tx.verify_signatures(&chain(), SUITE),
        Err(TxError::BadSignature {
            index: 0,
            key: key(1).public_key(),
            reason: VerifyError::BadSignature
        })
    );
}

#[test]
fn wrong_key_is_refused() {
    let mut tx = SignedTx::unsigned(body());
    tx.sign(&key(1)).unwrap();
    tx.sign(&key(2)).unwrap();
    // Key 2's signature presented as key 3's.
    tx.signatures[1].public_key = key(3).public_key();
    assert_eq!(
        tx.verify_signatures(&chain(), SUITE),
        Err(TxError::BadSignature {
            index: 1,
            key: key(3).public_key(),
            reason: VerifyError::BadSignature
        })
    );
    let verdicts = tx.signature_verdicts();
    assert_eq!(verdicts[0].1, Ok(()));
    assert_eq!(verdicts[1].1, Err(VerifyError::BadSignature));
}

#[test]
fn same_key_twice_is_refused() {
    let mut tx = SignedTx::unsigned(body());
    tx.sign(&key(1)).unwrap();
    let again = tx.signatures[0].clone();
    tx.signatures.push(again);
    assert_eq!(
        tx.verify_signatures(&chain(), SUITE),
        Err(TxError::DuplicateSigner(key(1).public_key()))
    );
}

#[test]
fn no_signature_is_refused() {
    let tx = SignedTx::unsigned(body());
    assert_eq!(
        tx.verify_signatures(&chain(), SUITE),
        Err(TxError::Unsigned)
    );
}

#[test]
fn too_many_signatures_are_refused() {
    let mut tx = SignedTx::unsigned(body());
    for n in 0..TX_SIGNATURES_MAX {
        tx.sign(&SecretKey::from_seed([n as u8 + 1; 32])).unwrap();
    }
    assert_eq!(
        tx.verify_signatures(&chain(), SUITE).unwrap().len(),
        TX_SIGNATURES_MAX
    );
    assert!(matches!(
        tx.sign(&key(200)),
        Err(TxError::TooManySignatures { .. })
    ));
    let extra = {
        let mut other = SignedTx::unsigned(body());
        other.sign(&key(200)).unwrap();
        other.signatures[0].clone()
    };
    tx.signatures.push(extra);
    assert_eq!(
        tx.verify_signatures(&chain(), SUITE),
        Err(TxError::TooManySignatures {
            count: TX_SIGNATURES_MAX + 1
        })
    );
}

#[test]
fn a_small_order_key_is_refused_though_lax_verification_accepts_it() {
    // The identity point (y = 1) with R = identity and s = 0 "signs" every message under
    // the lax equation [s]B = R + [k]A. Strict verification must refuse it.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut forged = [0u8; 64];
    forged[..32].copy_from_slice(&identity);
    let mut tx = SignedTx::unsigned(body());
    tx.signatures.push(TxSignature {
        public_key: PublicKey::Ed25519(identity),
        signature: Signature(forged),
    });
    let message = [domain::TX, &tx.id(SUITE).0[..]].concat();
    let lax = ed25519_dalek::VerifyingKey::from_bytes(&identity).unwrap();
    assert!(
        lax.verify(&message, &ed25519_dalek::Signature::from_bytes(&forged))
            .is_ok(),
        "the forgery works against lax verification"
    );
    assert_eq!(
        tx.verify_signatures(&chain(), SUITE),
        Err(TxError::BadSignature {
            index: 0,
            key: PublicKey::Ed25519(identity),
            reason: VerifyError::WeakKey
        })
    );
}

#[test]
fn an_all_zero_key_is_refused() {
    let mut tx = SignedTx::unsigned(body());
    tx.signatures.push(TxSignature {
        public_key: PublicKey::Ed25519([0; 32]),
        signature: Signature([0; 64]),
    });
    assert!(matches!(
        tx.verify_signatures(&chain(), SUITE),
        Err(TxError::BadSignature {
            index: 0,
            reason: VerifyError::WeakKey,
            ..
        })
    ));
    // (0, 0) encodes a point of order 4.
    assert_eq!(
        PublicKey::Ed25519([0; 32]).check(),
        Err(VerifyError::WeakKey)
    );
}

#[test]
fn a_key_that_is_not_a_point_is_refused() {
    // y = 2 is not the y-coordinate of any curve point.
    let mut bytes = [0u8; 32];
    bytes[0] = 2;
    assert_eq!(
        PublicKey::Ed25519(bytes).check(),
        Err(VerifyError::MalformedKey)
    );
}

#[test]
fn a_non_canonical_signature_is_refused() {
    let mut tx = SignedTx::unsigned(body());
    tx.sign(&key(1)).unwrap();
    assert!(tx.verify_signatures(&chain(), SUITE).is_ok());
    // s + ℓ is the same scalar mod ℓ: the lax equation still holds, the encoding is not
    // canonical, and accepting it would give a second valid signature for free.
    let mut bytes = tx.signatures[0].signature.0;
    let s: [u8; 32] = bytes[32..].try_into().unwrap();
    bytes[32..].copy_from_slice(&add_le(&s, &ELL));
    tx.signatures[0].signature = Signature(bytes);
    assert_eq!(
        tx.verify_signatures(&chain(), SUITE),
        Err(TxError::BadSignature {
            index: 0,
            key: key(1).public_key(),
            reason: VerifyError::BadSignature
        })
    );
}

#[test]
fn domains_are_distinct_and_none_prefixes_another() {
    for (i, a) in domain::ALL.iter().enumerate() {
        for (j, b) in domain::ALL.iter().enumerate() {
            if i != j {
                assert!(!b.starts_with(a), "{:?} prefixes {:?}", a, b);
            }
        }
    }
}

#[test]
fn secret_key_files_round_trip_and_are_private() {
    let dir = std::env::temp_dir().join(format!("xinbao-keytest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("k.secret");
    let _ = std::fs::remove_file(&path);
    let secret = SecretKey::generate();
    secret.write_new_file(&path).unwrap();
    let back = SecretKey::read_file(&path).unwrap();
    assert_eq!(back.public_key(), secret.public_key());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(matches!(
        SecretKey::generate().write_new_file(&path),
        Err(ledger::crypto::KeyError::Exists { .. })
    ));
    assert_eq!(
        SecretKey::read_file(&path).unwrap().public_key(),
        secret.public_key()
    );
    std::fs::write(&path, "not hex").unwrap();
    assert!(matches!(
        SecretKey::read_file(&path),
        Err(ledger::crypto::KeyError::Format { .. })
    ));
    // The secret never appears in debug output.
    assert!(!format!("{secret:?}").contains(&secret.to_hex()));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_json_file_form_is_exact() {
    let unsigned = r#"{"chain_id":"xinbao-test","nonce":7,"expires_at_height":100,
        "action":{"type":"FundTopUp","fund":"fund-a","amount_fen":50000000,"reference":"budget 2026"}}"#;
    let tx: SignedTx = serde_json::from_str(unsigned).unwrap();
    assert_eq!(tx, SignedTx::unsigned(body()));
    // A field the body does not have is refused: a signer must see all the file says.
    let extra = unsigned.replacen("\"nonce\":7", "\"nonce\":7,\"memo\":\"pay twice\"", 1);
    assert!(serde_json::from_str::<SignedTx>(&extra)
        .unwrap_err()
        .to_string()
        .contains("memo"));
    let missing = unsigned.replacen("\"nonce\":7,", "", 1);
    assert!(serde_json::from_str::<SignedTx>(&missing).is_err());
}

#[test]
fn verifying_many_at_once_gives_each_the_verdict_of_verifying_it_alone() {
    let good = {
        let mut tx = SignedTx::unsigned(body());
        tx.sign(&key(1)).unwrap();
        tx.sign(&key(2)).unwrap();
        tx
    };
    let mut bad = good.clone();
    bad.signatures[1].signature.0[5] ^= 1;
    let mut foreign = SignedTx::unsigned(TxBody {
        chain_id: Id::new("another-chain").unwrap(),
        ..body()
    });
    foreign.sign(&key(1)).unwrap();
    let mut twice = SignedTx::unsigned(body());
    twice.sign(&key(3)).unwrap();
    twice.signatures.push(twice.signatures[0].clone());
    let unsigned = SignedTx::unsigned(body());
    let mut other = SignedTx::unsigned(TxBody { nonce: 8, ..body() });
    other.sign(&key(4)).unwrap();
    let all = vec![good, bad, foreign, twice, unsigned, other];
    let alone: Vec<Result<Vec<PublicKey>, TxError>> = all
        .iter()
        .map(|tx| {
            tx.clone()
                .verify(&chain(), SUITE)
                .map(|v| v.signers().to_vec())
        })
        .collect();
    let together: Vec<Result<Vec<PublicKey>, TxError>> = SignedTx::verify_all(all, &chain(), SUITE)
        .into_iter()
        .map(|v| v.map(|v| v.signers().to_vec()))
        .collect();
    assert_eq!(together, alone);
    assert!(together[0].is_ok() && together[5].is_ok());
    assert!(matches!(
        together[1],
        Err(TxError::BadSignature { index: 1, .. })
    ));
}

/// Keys, signatures and ids are named in hex in state keys and on the wire: the text
/// must be lower-case, two digits a byte, and read back to the same bytes.
#[test]
fn hex_text_is_lower_case_and_reads_back() {
    let mut bytes = [0u8; 64];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37).wrapping_add(11);
    }
    bytes[0] = 0x00;
    bytes[1] = 0xff;
    bytes[2] = 0xa5;
    let text = ledger::crypto::lower_hex(&bytes);
    assert_eq!(text, hex::encode(bytes));
    assert!(text.starts_with("00ffa5"));
    let signature = Signature(bytes);
    assert_eq!(Signature::from_hex(&signature.to_hex()).unwrap(), signature);
    for algorithm in Algorithm::ALL {
        let public = SecretKey::from_seed_for(algorithm, [3; 32]).public_key();
        assert_eq!(public.to_hex(), hex::encode(public.as_bytes()));
        assert_eq!(
            public.to_string(),
            format!("{algorithm}:{}", public.to_hex())
        );
        assert_eq!(PublicKey::parse(&public.to_string()).unwrap(), public);
    }
    // Bare hex of 32 bytes is an ed25519 key, as text was before keys named their algorithm.
    let public = key(3).public_key();
    assert_eq!(PublicKey::parse(&public.to_hex()).unwrap(), public);
}

/// The chain signs with ed25519: a transaction signed (validly) with an SM2 key is refused
/// before any signature is checked, alone and in a batch.
#[test]
fn a_key_of_another_algorithm_is_refused() {
    let mut tx = SignedTx::unsigned(body());
    tx.sign(&key(1)).unwrap();
    let sm2 = SecretKey::from_seed_for(Algorithm::Sm2, [2; 32]);
    // A signer never adds a key of another suite than the signers' before it ...
    let refused = TxError::WrongAlgorithm {
        index: 1,
        key: sm2.public_key(),
        expected: Algorithm::Ed25519,
    };
    assert_eq!(tx.sign(&sm2), Err(refused));
    assert_eq!(tx.signatures.len(), 1);
    // ... but a file can be made with one, valid over its own suite's id.
    tx.signatures.push(TxSignature {
        public_key: sm2.public_key(),
        signature: sm2.sign(domain::TX, &tx.id(Suite::Sm2Sm3).0),
    });
    assert_eq!(
        tx.signature_verdicts()[1],
        (sm2.public_key(), Ok(())),
        "the SM2 signature itself verifies"
    );
    let expected = TxError::WrongAlgorithm {
        index: 1,
        key: sm2.public_key(),
        expected: Algorithm::Ed25519,
    };
    assert_eq!(tx.verify_signatures(&chain(), SUITE), Err(expected.clone()));
    assert_eq!(
        SignedTx::verify_all(vec![tx], &chain(), SUITE)
            .pop()
            .unwrap()
            .unwrap_err(),
        expected
    );
}
