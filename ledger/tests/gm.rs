//! The 国密 primitives against their standards and against OpenSSL 3: SM3's vectors
//! (GB/T 32905), SM2's signature example (GB/T 32918.5 / GM/T 0003.5, Annex A), signatures
//! made by OpenSSL verified here and ours verified by OpenSSL, and every malformed key or
//! signature refused.

use std::path::Path;
use std::process::Command;

use ledger::action::{Action, FundTopUp};
use ledger::crypto::{
    self, domain, verify_batch, Algorithm, Check, PublicKey, SecretKey, Signature, VerifyError,
    SM2_DISTID,
};
use ledger::tx::{SignedTx, TxBody};
use ledger::{Fen, Id, Text};

/// The suite of the chains these tests make.
const SUITE: ledger::crypto::Suite = ledger::crypto::Suite::Ed25519Blake3;

fn unhex<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).expect("valid hex of the right length");
    out
}

/// The order n of the SM2 curve's base point, big-endian.
const N: &str = "fffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123";

/// GB/T 32918.5-2017 Annex A (GM/T 0003.5-2012): the example signature on the recommended
/// curve, with the default identifier.
const EXAMPLE_SECRET: &str = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8";
const EXAMPLE_PUBLIC: &str = "0409f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020\
                              ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13";
const EXAMPLE_MESSAGE: &[u8] = b"message digest";
const EXAMPLE_SIGNATURE: &str = "f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3\
                                 b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa";

#[test]
fn sm3_gives_the_vectors_of_gbt_32905() {
    assert_eq!(
        hex::encode(crypto::sm3(b"abc")),
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    );
    assert_eq!(
        hex::encode(crypto::sm3(&b"abcd".repeat(16))),
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    );
}

#[test]
fn the_gbt_32918_example_signature_verifies_and_its_key_derives() {
    assert_eq!(SM2_DISTID, "1234567812345678");
    let public = PublicKey::Sm2(unhex(EXAMPLE_PUBLIC));
    let secret = SecretKey::from_bytes(Algorithm::Sm2, &unhex(EXAMPLE_SECRET)).unwrap();
    assert_eq!(secret.public_key(), public);
    let signature = Signature(unhex(EXAMPLE_SIGNATURE));
    // The standard signs the message itself: an empty domain.
    assert_eq!(public.verify(b"", EXAMPLE_MESSAGE, &signature), Ok(()));
    assert_eq!(
        public.verify(b"", b"message digesT", &signature),
        Err(VerifyError::BadSignature)
    );
    for byte in [0, 31, 32, 63] {
        let mut altered = signature;
        altered.0[byte] ^= 0x01;
        assert_eq!(
            public.verify(b"", EXAMPLE_MESSAGE, &altered),
            Err(VerifyError::BadSignature),
            "byte {byte} altered"
        );
    }
    // Our own signature of the same message (another nonce) verifies too.
    let ours = secret.sign(b"", EXAMPLE_MESSAGE);
    assert_eq!(public.verify(b"", EXAMPLE_MESSAGE, &ours), Ok(()));
}

#[test]
fn sm2_signing_is_deterministic_and_domain_separated() {
    let key = SecretKey::from_seed_for(Algorithm::Sm2, [4; 32]);
    assert_eq!(key.algorithm(), Algorithm::Sm2);
    let public = key.public_key();
    let a = key.sign(domain::TX, b"id");
    assert_eq!(key.sign(domain::TX, b"id"), a);
    assert_eq!(public.verify(domain::TX, b"id", &a), Ok(()));
    assert_eq!(
        public.verify(domain::CONSENSUS, b"id", &a),
        Err(VerifyError::BadSignature)
    );
    let other = SecretKey::from_seed_for(Algorithm::Sm2, [5; 32]).public_key();
    assert_ne!(other, public);
    assert_eq!(
        other.verify(domain::TX, b"id", &a),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn malformed_sm2_keys_are_refused() {
    let good: [u8; 65] = unhex(EXAMPLE_PUBLIC);
    let signature = Signature(unhex(EXAMPLE_SIGNATURE));
    let mut off_curve = good;
    off_curve[64] ^= 0x01;
    let mut compressed = good;
    compressed[0] = 0x02 | (good[64] & 1);
    let mut hybrid = good;
    hybrid[0] = 0x06 | (good[64] & 1);
    let mut coordinates_over_p = good;
    coordinates_over_p[1..33].fill(0xff);
    for (what, bytes) in [
        ("off the curve", off_curve),
        ("a compressed tag", compressed),
        ("a hybrid tag", hybrid),
        ("all zero", [0u8; 65]),
        ("x not below p", coordinates_over_p),
    ] {
        let key = PublicKey::Sm2(bytes);
        assert_eq!(key.check(), Err(VerifyError::MalformedKey), "{what}");
        assert_eq!(
            key.verify(b"", EXAMPLE_MESSAGE, &signature),
            Err(VerifyError::MalformedKey),
            "{what}"
        );
    }
    assert_eq!(PublicKey::Sm2(good).check(), Ok(()));
}

#[test]
fn sm2_signatures_with_r_or_s_out_of_range_are_refused() {
    let public = PublicKey::Sm2(unhex(EXAMPLE_PUBLIC));
    let good: [u8; 64] = unhex(EXAMPLE_SIGNATURE);
    let n: [u8; 32] = unhex(N);
    let mut cases = Vec::new();
    for half in [0..32, 32..64] {
        for value in [[0u8; 32], n, [0xff; 32]] {
            let mut bytes = good;
            bytes[half.clone()].copy_from_slice(&value);
            cases.push(bytes);
        }
    }
    for bytes in cases {
        assert_eq!(
            public.verify(b"", EXAMPLE_MESSAGE, &Signature(bytes)),
            Err(VerifyError::BadSignature),
            "{}",
            hex::encode(bytes)
        );
    }
}

#[test]
fn sm2_secrets_outside_one_to_n_minus_two_are_refused() {
    let n: [u8; 32] = unhex(N);
    let mut n_minus_one = n;
    n_minus_one[31] -= 1;
    let mut n_minus_two = n;
    n_minus_two[31] -= 2;
    for bad in [[0u8; 32], n_minus_one, n, [0xff; 32]] {
        assert!(
            SecretKey::from_bytes(Algorithm::Sm2, &bad).is_err(),
            "{}",
            hex::encode(bad)
        );
    }
    let top = SecretKey::from_bytes(Algorithm::Sm2, &n_minus_two).unwrap();
    let signature = top.sign(domain::TX, b"m");
    assert_eq!(
        top.public_key().verify(domain::TX, b"m", &signature),
        Ok(())
    );
}

#[test]
fn key_text_and_files_name_their_algorithm() {
    let dir = tempdir("key-files");
    for algorithm in Algorithm::ALL {
        let key = SecretKey::generate_for(algorithm);
        let path = dir.join(format!("{algorithm}.secret"));
        key.write_new_file(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(&format!("{algorithm}:")), "{text}");
        let read = SecretKey::read_file(&path).unwrap();
        assert_eq!(read.public_key(), key.public_key());
        assert_eq!(read.public_key().algorithm(), algorithm);
        let public = key.public_key();
        let json = serde_json::to_string(&public).unwrap();
        assert_eq!(json, format!("\"{algorithm}:{}\"", public.to_hex()));
        assert_eq!(serde_json::from_str::<PublicKey>(&json).unwrap(), public);
    }
    // A key file of bare hex is an ed25519 seed, as files were before they named it.
    let bare = dir.join("bare.secret");
    std::fs::write(&bare, format!("{}\n", hex::encode([9u8; 32]))).unwrap();
    assert_eq!(
        SecretKey::read_file(&bare).unwrap().public_key(),
        SecretKey::from_seed([9; 32]).public_key()
    );
    std::fs::remove_dir_all(&dir).unwrap();
    for bad in [
        "rsa:00",
        "sm2:0409",
        "ed25519:zz",
        "sm2:",
        &format!("sm2:{}", hex::encode([1u8; 32])),
    ] {
        assert!(PublicKey::parse(bad).is_err(), "{bad}");
    }
    assert!(SecretKey::from_hex("dsa:00").is_err());
    let binary =
        ledger::codec::encode(&SecretKey::from_seed_for(Algorithm::Sm2, [1; 32]).public_key());
    assert_eq!(binary.len(), 4 + 65, "a tag and the SEC1 point");
}

#[test]
fn a_batch_of_both_algorithms_gives_each_signature_its_own_verdict() {
    let ed = SecretKey::from_seed([1; 32]);
    let sm = SecretKey::from_seed_for(Algorithm::Sm2, [2; 32]);
    let (ed_public, sm_public) = (ed.public_key(), sm.public_key());
    let messages: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 8]).collect();
    let mut signatures: Vec<Signature> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| if i % 2 == 0 { &ed } else { &sm }.sign(domain::TX, m))
        .collect();
    signatures[3].0[5] ^= 1; // an SM2 signature spoiled
    signatures[4].0[5] ^= 1; // an ed25519 one
    let checks: Vec<Check<'_>> = (0..6)
        .map(|i| Check {
            key: if i % 2 == 0 { &ed_public } else { &sm_public },
            domain: domain::TX,
            message: &messages[i],
            signature: &signatures[i],
        })
        .collect();
    let verdicts = verify_batch(&checks);
    let bad: Vec<usize> = (0..6).filter(|&i| verdicts[i].is_err()).collect();
    assert_eq!(bad, vec![3, 4]);
}

/// A large batch of SM2 checks (spread over the cores, their points made affine together)
/// gives each the verdict it gets alone: good, altered, r = 0, another key's, a malformed
/// key, keys fresh and keys with their own tables.
#[test]
fn a_large_sm2_batch_gives_each_check_the_verdict_it_gets_alone() {
    let keys: Vec<SecretKey> = (0..5u8)
        .map(|i| SecretKey::from_seed_for(Algorithm::Sm2, [0x30 + i; 32]))
        .collect();
    let publics: Vec<PublicKey> = keys.iter().map(SecretKey::public_key).collect();
    let mut off_curve = [0u8; 65];
    off_curve[0] = 4;
    off_curve[64] = 1;
    let malformed = PublicKey::Sm2(off_curve);
    let messages: Vec<Vec<u8>> = (0..120u32).map(|i| i.to_be_bytes().repeat(3)).collect();
    let mut signatures = Vec::new();
    let mut signers = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let k = if i < 100 { i % 5 } else { i % 2 };
        let mut signature = keys[k].sign(domain::TX, message);
        match i % 11 {
            3 => signature.0[(i * 7) % 64] ^= 0x10,
            5 => signature.0[..32].fill(0),
            7 => signature = keys[(k + 1) % 5].sign(domain::TX, message),
            _ => {}
        }
        signatures.push(signature);
        signers.push(if i % 13 == 9 { &malformed } else { &publics[k] });
    }
    let checks: Vec<Check<'_>> = (0..messages.len())
        .map(|i| Check {
            key: signers[i],
            domain: domain::TX,
            message: &messages[i],
            signature: &signatures[i],
        })
        .collect();
    let alone: Vec<Result<(), VerifyError>> = checks
        .iter()
        .map(|c| c.key.verify(c.domain, c.message, c.signature))
        .collect();
    assert_eq!(verify_batch(&checks), alone);
    let good = alone.iter().filter(|v| v.is_ok()).count();
    assert!(good > 60 && good < 110, "{good} good of {}", alone.len());
    assert!(alone.contains(&Err(VerifyError::MalformedKey)));
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("xinbao-gm-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A signed transaction's message: what an SM2 chain's signers sign.
fn transaction_message() -> Vec<u8> {
    let tx = SignedTx::unsigned(TxBody {
        chain_id: Id::new("xinbao-gm").unwrap(),
        nonce: 1,
        expires_at_height: 50,
        action: Action::FundTopUp(FundTopUp {
            fund: Id::new("fund-a").unwrap(),
            amount_fen: Fen(100),
            reference: Text::new("interop").unwrap(),
        }),
    });
    [domain::TX, &tx.id(SUITE).0[..]].concat()
}

fn openssl(dir: &Path, args: &[&str]) -> std::process::Output {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl 3 is installed (Debian's openssl)");
    output
}

fn must(output: std::process::Output) -> std::process::Output {
    assert!(
        output.status.success(),
        "openssl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn openssl_signatures_verify_here_and_ours_verify_in_openssl() {
    let dir = tempdir("openssl");
    let message = transaction_message();
    std::fs::write(dir.join("message"), &message).unwrap();
    let distid = format!("distid:{SM2_DISTID}");

    // OpenSSL's key and signature, checked here.
    must(openssl(
        &dir,
        &["genpkey", "-algorithm", "SM2", "-out", "theirs.pem"],
    ));
    must(openssl(
        &dir,
        &[
            "pkey",
            "-in",
            "theirs.pem",
            "-pubout",
            "-outform",
            "DER",
            "-out",
            "theirs.der",
        ],
    ));
    let der = std::fs::read(dir.join("theirs.der")).unwrap();
    let their_key = PublicKey::Sm2(der[der.len() - 65..].try_into().unwrap());
    assert_eq!(
        ledger::gm::public_key_from_der(&der).map(PublicKey::Sm2),
        Some(their_key)
    );
    for (id, file) in [
        (distid.as_str(), "theirs.sig"),
        ("distid:ALICE123@YAHOO.COM", "other-id.sig"),
    ] {
        must(openssl(
            &dir,
            &[
                "pkeyutl",
                "-sign",
                "-rawin",
                "-digest",
                "sm3",
                "-pkeyopt",
                id,
                "-inkey",
                "theirs.pem",
                "-in",
                "message",
                "-out",
                file,
            ],
        ));
    }
    let der_signature = |file: &str| {
        Signature(ledger::gm::signature_from_der(&std::fs::read(dir.join(file)).unwrap()).unwrap())
    };
    let signature = der_signature("theirs.sig");
    assert_eq!(
        their_key.verify(domain::TX, &message[domain::TX.len()..], &signature),
        Ok(())
    );
    let other_id = der_signature("other-id.sig");
    assert_eq!(
        their_key.verify(domain::TX, &message[domain::TX.len()..], &other_id),
        Err(VerifyError::BadSignature),
        "a signature made with another distinguishing identifier"
    );

    // Our key and signature, checked by OpenSSL.
    let ours = SecretKey::generate_for(Algorithm::Sm2);
    let signature = ours.sign(domain::TX, &message[domain::TX.len()..]);
    let PublicKey::Sm2(point) = ours.public_key() else {
        unreachable!("an SM2 key")
    };
    std::fs::write(dir.join("ours.der"), ledger::gm::public_key_der(&point)).unwrap();
    std::fs::write(
        dir.join("ours.sig"),
        ledger::gm::signature_der(&signature.0),
    )
    .unwrap();
    let verify = |id: &str| {
        openssl(
            &dir,
            &[
                "pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pkeyopt", id, "-pubin",
                "-keyform", "DER", "-inkey", "ours.der", "-in", "message", "-sigfile", "ours.sig",
            ],
        )
    };
    let accepted = verify(&distid);
    assert!(
        accepted.status.success(),
        "OpenSSL refused our signature: {}{}",
        String::from_utf8_lossy(&accepted.stdout),
        String::from_utf8_lossy(&accepted.stderr)
    );
    assert!(String::from_utf8_lossy(&accepted.stdout).contains("Verified Successfully"));
    assert!(!verify("distid:1234567812345679").status.success());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn z_a_of_the_gbt_32918_example_key_is_the_published_one() {
    assert_eq!(
        hex::encode(ledger::gm::z_a(&unhex(EXAMPLE_PUBLIC))),
        "b2e14c5c79c6df5b85f4fe7ed8db7a262b9da7e07ccb0ea9f4747b8ccda8a4f3"
    );
}

/// xinbao's variable-time SM2 verifier gives every verdict RustCrypto's constant-time
/// verifier gives: valid signatures, each byte of a signature or a message altered, a
/// signature checked under another key, and r or s out of range.
#[test]
fn the_fast_sm2_verifier_agrees_with_the_crates() {
    use sm2::dsa::signature::Verifier;
    let mut seed = [0u8; 32];
    for round in 0u8..24 {
        seed[0] = round;
        let key = SecretKey::from_seed_for(Algorithm::Sm2, seed);
        let other = SecretKey::from_seed_for(Algorithm::Sm2, [round ^ 0xff; 32]);
        let PublicKey::Sm2(point) = key.public_key() else {
            unreachable!("an SM2 key")
        };
        let theirs = sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DISTID, &point).unwrap();
        let message: Vec<u8> = (0..(round as usize * 7)).map(|i| i as u8 ^ round).collect();
        let signature = key.sign(b"", &message);
        let mut cases = vec![(message.clone(), signature)];
        for at in [0, 17, 31, 32, 50, 63] {
            let mut altered = signature;
            altered.0[at] ^= 1 << (round % 8);
            cases.push((message.clone(), altered));
        }
        if !message.is_empty() {
            let mut altered = message.clone();
            altered[round as usize % message.len()] ^= 0x40;
            cases.push((altered, signature));
        }
        let mut r_zero = signature;
        r_zero.0[..32].fill(0);
        cases.push((message.clone(), r_zero));
        cases.push((message.clone(), other.sign(b"", &message)));
        // Twice over: the key's first verifications are interleaved, its later ones use
        // its own table (ledger::gm::TABLE_AFTER_USES).
        assert!(2 * cases.len() > ledger::gm::TABLE_AFTER_USES as usize + 4);
        for (m, s) in cases.iter().chain(&cases) {
            let (m, s) = (m.clone(), *s);
            let crate_verdict = sm2::dsa::Signature::from_slice(&s.0)
                .is_ok_and(|parsed| theirs.verify(&m, &parsed).is_ok());
            let ours = key.public_key().verify(b"", &m, &s).is_ok();
            assert_eq!(ours, crate_verdict, "round {round}: {}", hex::encode(s.0));
        }
        assert!(key.public_key().verify(b"", &message, &signature).is_ok());
    }
}
