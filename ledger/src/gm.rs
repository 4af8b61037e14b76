//! SM2 verification (GB/T 32918.2 §7), on the arithmetic of RustCrypto's `sm2` crate.
//!
//! The crate's own verifier computes `[s]G + [t]P` in constant time, building a lookup
//! table for the generator at every call. A verifier's inputs are all public (the key,
//! the message, the signature), so this one computes it in variable time, `[s]G` from the
//! generator's precomputed table and `[t]P` by wNAF, which is what makes SM2 verification
//! affordable per transaction. The checks are the standard's, in its order: `r` and `s` in
//! `[1, n-1]` (B1, B2), `e = SM3(Z_A ‖ M)` (B3, B4), `t = r + s ≠ 0` (B5),
//! `(x₁, y₁) = [s]G + [t]P` not the point at infinity (B6), `r = e + x₁ mod n` (B7). A test
//! holds every verdict equal to the crate's on random and altered inputs.

use sm2::elliptic_curve::group::Group;
use sm2::elliptic_curve::ops::{MulByGeneratorVartime, Reduce};
use sm2::elliptic_curve::point::AffineCoordinates;
use sm2::{FieldBytes, ProjectivePoint, Scalar};

use crate::crypto::SM2_DISTID;

/// The curve's coefficients and generator (GB/T 32918.5), as `Z_A` hashes them.
const A: [u8; 32] = hex32("fffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffc");
const B: [u8; 32] = hex32("28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93");
const GX: [u8; 32] = hex32("32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7");
const GY: [u8; 32] = hex32("bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0");

const fn hex32(text: &str) -> [u8; 32] {
    let digits = text.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nibble(digits[2 * i]) << 4) | nibble(digits[2 * i + 1]);
        i += 1;
    }
    out
}

const fn nibble(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => panic!("not a lower-case hex digit"),
    }
}

/// A decoded SM2 public key and its `Z_A` under [`SM2_DISTID`]: what every verification
/// with the key needs, computed once per key.
pub struct Sm2Key {
    point: ProjectivePoint,
    z: [u8; 32],
}

impl Sm2Key {
    /// The key whose uncompressed SEC1 encoding is `bytes`; `None` unless it is a point on
    /// the curve other than the point at infinity. (Only the uncompressed form is a key: a
    /// compressed or hybrid encoding of the same point would be a second name for it.)
    pub fn new(bytes: &[u8; 65]) -> Option<Sm2Key> {
        if bytes[0] != 0x04 {
            return None;
        }
        let public = sm2::PublicKey::from_sec1_bytes(bytes).ok()?;
        Some(Sm2Key {
            point: public.to_projective(),
            z: z_a(bytes),
        })
    }

    /// Whether `signature` (`r ‖ s`) is this key's SM2 signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        // B1, B2: r and s in [1, n-1] (the crate's signature type refuses anything else).
        let Ok(signature) = sm2::dsa::Signature::from_slice(signature) else {
            return false;
        };
        let (r, s) = (*signature.r(), *signature.s());
        // B3, B4: e = SM3(Z_A ‖ M).
        let e = {
            use sm3::Digest;
            let mut hasher = sm3::Sm3::new();
            hasher.update(self.z);
            hasher.update(message);
            let digest: [u8; 32] = hasher.finalize().into();
            <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(digest))
        };
        // B5: t = r + s, not 0.
        let t = r + s;
        if bool::from(t.is_zero()) {
            return false;
        }
        // B6: (x1, y1) = [s]G + [t]P, not the point at infinity.
        let point = ProjectivePoint::mul_by_generator_and_mul_add_vartime(&s, &t, &self.point);
        if bool::from(point.is_identity()) {
            return false;
        }
        // B7: r = e + x1 mod n.
        let x = <Scalar as Reduce<FieldBytes>>::reduce(&point.to_affine().x());
        r == e + x
    }
}

/// `Z_A = SM3(ENTL_A ‖ ID_A ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A)` of the uncompressed point
/// `point` (`04 ‖ x_A ‖ y_A`), with the identifier [`SM2_DISTID`].
pub fn z_a(point: &[u8; 65]) -> [u8; 32] {
    use sm3::Digest;
    let mut hasher = sm3::Sm3::new();
    let bits = u16::try_from(SM2_DISTID.len() * 8).expect("a short identifier");
    hasher.update(bits.to_be_bytes());
    hasher.update(SM2_DISTID.as_bytes());
    for part in [&A, &B, &GX, &GY] {
        hasher.update(part);
    }
    hasher.update(&point[1..]);
    hasher.finalize().into()
}
