//! The verification rule (ZIP-215 after a small-order key check) on adversarial vectors,
//! and batch verification deciding every signature as single verification does.
//!
//! The vectors are cases of "Taming the many EdDSAs" (Chalkias, Garillot, Nikolaenko;
//! novifinancial/ed25519-speccheck `cases.json`), over raw messages: they are checked
//! with an empty domain. Their expected verdicts are ZIP-215's (the speccheck results'
//! Zebra row), except case 0, whose public key has small order and is refused by our own
//! check before ZIP-215 is asked.

use ledger::crypto::{verify_batch, Check, PublicKey, SecretKey, Signature, VerifyError};

struct Case {
    number: u32,
    what: &'static str,
    key: &'static str,
    signature: &'static str,
    message: &'static str,
    verdict: Result<(), VerifyError>,
}

const CASES: &[Case] = &[
    Case {
        number: 0,
        what: "small-order A and R",
        key: "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        signature: "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a0000000000000000000000000000000000000000000000000000000000000000",
        message: "8c93255d71dcab10e8f379c26200f3c7bd5f09d9bc3068d3ef4edeb4853022b6",
        verdict: Err(VerifyError::WeakKey),
    },
    Case {
        number: 2,
        what: "small-order R",
        key: "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        signature: "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa8c4bd45aecaca5b24fb97bc10ac27ac8751a7dfe1baff8b953ec9f5833ca260e",
        message: "aebf3f2601a0c8c5d39cc7d8911642f740b78168218da8471772b35f9d35b9ab",
        verdict: Ok(()),
    },
    Case {
        number: 3,
        what: "mixed-order A and R, cofactorless equation holds",
        key: "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        signature: "9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009",
        message: "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
        verdict: Ok(()),
    },
    Case {
        number: 4,
        what: "mixed-order, only the cofactored equation holds",
        key: "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        signature: "160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed5125ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09",
        message: "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
        verdict: Ok(()),
    },
    Case {
        number: 6,
        what: "S above the group order",
        key: "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
        signature: "e96f66be976d82e60150baecff9906684aebb1ef181f67a7189ac78ea23b6c0e547f7690a0e2ddcd04d87dbc3490dc19b3b3052f7ff0538cb68afb369ba3a514",
        message: "85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
        verdict: Err(VerifyError::BadSignature),
    },
    Case {
        number: 8,
        what: "non-canonical R, passes only if the reduced R is hashed",
        key: "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        signature: "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff03be9678ac102edcd92b0210bb34d7428d12ffc5df5f37e359941266a4e35f0f",
        message: "9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
        verdict: Err(VerifyError::BadSignature),
    },
    Case {
        number: 9,
        what: "non-canonical R, the raw bytes hashed",
        key: "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        signature: "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffca8c5b64cd208982aa38d4936621a4775aa233aa0505711d8fdcfdaa943d4908",
        message: "9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
        verdict: Ok(()),
    },
];

struct Vector {
    key: PublicKey,
    signature: Signature,
    message: Vec<u8>,
}

fn vector(case: &Case) -> Vector {
    let mut key = [0u8; 32];
    hex::decode_to_slice(case.key, &mut key).unwrap();
    let mut signature = [0u8; 64];
    hex::decode_to_slice(case.signature, &mut signature).unwrap();
    Vector {
        key: PublicKey::Ed25519(key),
        signature: Signature(signature),
        message: hex::decode(case.message).unwrap(),
    }
}

fn check(v: &Vector) -> Check<'_> {
    Check {
        key: &v.key,
        domain: b"",
        message: &v.message,
        signature: &v.signature,
    }
}

#[test]
fn each_adversarial_case_gets_the_rules_verdict_alone_and_in_a_batch() {
    let vectors: Vec<Vector> = CASES.iter().map(vector).collect();
    for (case, v) in CASES.iter().zip(&vectors) {
        assert_eq!(
            v.key.verify(b"", &v.message, &v.signature),
            case.verdict,
            "case {} ({})",
            case.number,
            case.what
        );
        assert_eq!(
            verify_batch(&[check(v)]),
            vec![case.verdict],
            "case {} alone in a batch",
            case.number
        );
    }
    // All of them in one batch, valid and invalid mixed: the same verdicts.
    let checks: Vec<Check<'_>> = vectors.iter().map(check).collect();
    let expected: Vec<Result<(), VerifyError>> = CASES.iter().map(|c| c.verdict).collect();
    assert_eq!(verify_batch(&checks), expected);
    // Only the valid ones: the batch passes as one.
    let valid: Vec<Check<'_>> = vectors
        .iter()
        .zip(CASES)
        .filter(|(_, c)| c.verdict.is_ok())
        .map(|(v, _)| check(v))
        .collect();
    assert!(verify_batch(&valid).iter().all(Result::is_ok));
}

#[test]
fn honest_signatures_pass_in_batches_of_any_size_and_one_bad_one_is_named() {
    let keys: Vec<SecretKey> = (1..=40u8).map(|i| SecretKey::from_seed([i; 32])).collect();
    let publics: Vec<PublicKey> = keys.iter().map(SecretKey::public_key).collect();
    let messages: Vec<[u8; 32]> = (0..40u8).map(|i| [i; 32]).collect();
    let mut signatures: Vec<Signature> = keys
        .iter()
        .zip(&messages)
        .map(|(k, m)| k.sign(ledger::crypto::domain::TX, m))
        .collect();
    let checks = |signatures: &[Signature]| -> Vec<Result<(), VerifyError>> {
        let list: Vec<Check<'_>> = (0..signatures.len())
            .map(|i| Check {
                key: &publics[i],
                domain: ledger::crypto::domain::TX,
                message: &messages[i],
                signature: &signatures[i],
            })
            .collect();
        verify_batch(&list)
    };
    for n in [0, 1, 2, 7, 40] {
        assert!(checks(&signatures[..n]).iter().all(Result::is_ok), "{n}");
    }
    signatures[17].0[3] ^= 1;
    let verdicts = checks(&signatures);
    for (i, verdict) in verdicts.iter().enumerate() {
        let single = publics[i].verify(ledger::crypto::domain::TX, &messages[i], &signatures[i]);
        assert_eq!(*verdict, single, "signature {i}");
        assert_eq!(verdict.is_err(), i == 17, "signature {i}");
    }
    // Another domain is another message.
    let other = Check {
        key: &publics[0],
        domain: ledger::crypto::domain::CONSENSUS,
        message: &messages[0],
        signature: &signatures[0],
    };
    assert_eq!(verify_batch(&[other]), vec![Err(VerifyError::BadSignature)]);
}

#[test]
fn every_small_order_key_is_refused_before_the_rule_is_asked() {
    // The eight points of order dividing 8, canonically encoded, and non-canonical
    // encodings of small-order points (ZIP-215 decodes them all).
    let encodings = [
        "0100000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "0100000000000000000000000000000000000000000000000000000000000080",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ];
    for text in encodings {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).unwrap();
        let key = PublicKey::Ed25519(bytes);
        // s = 0 and R = the key itself: valid under ZIP-215 for a small-order key.
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&bytes);
        let signature = Signature(signature);
        assert_eq!(key.check(), Err(VerifyError::WeakKey), "{text}");
        assert_eq!(
            key.verify(b"", b"Zcash", &signature),
            Err(VerifyError::WeakKey),
            "{text}"
        );
        let batch = verify_batch(&[Check {
            key: &key,
            domain: b"",
            message: b"Zcash",
            signature: &signature,
        }]);
        assert_eq!(batch, vec![Err(VerifyError::WeakKey)], "{text}");
    }
}
