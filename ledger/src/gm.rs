//! SM2 verification (GB/T 32918.2 §7), on the arithmetic of RustCrypto's `sm2` crate.
//!
//! The crate's own verifier computes `[s]G + [t]P` in constant time, building a lookup
//! table for the generator at every call. A verifier's inputs are all public (the key,
//! the message, the signature), so this one computes it in variable time: interleaved
//! (wNAF) for a key's first verifications, then, once the key has signed
//! [`TABLE_AFTER_USES`] times, `[s]G` from the generator's precomputed table and `[t]P`
//! from the key's own table of multiples, built once, which is what makes SM2
//! verification affordable per transaction for keys that sign all day. The checks are the standard's, in its order: `r` and `s` in
//! `[1, n-1]` (B1, B2), `e = SM3(Z_A ‖ M)` (B3, B4), `t = r + s ≠ 0` (B5),
//! `(x₁, y₁) = [s]G + [t]P` not the point at infinity (B6), `r = e + x₁ mod n` (B7). A test
//! holds every verdict equal to the crate's on random and altered inputs.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::OnceLock;

use primeorder::{LookupTable, Radix16Decomposition, Radix16Digits};
use sm2::elliptic_curve::group::Group;
use sm2::elliptic_curve::ops::{MulByGeneratorVartime, Reduce};
use sm2::elliptic_curve::point::AffineCoordinates;
use sm2::elliptic_curve::BatchNormalize;
use sm2::{AffinePoint, FieldBytes, ProjectivePoint, Scalar};

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
/// with the key needs, computed once per key; and, once the key has signed
/// [`TABLE_AFTER_USES`] times, its table of multiples (see [`KeyTable`]).
pub struct Sm2Key {
    point: ProjectivePoint,
    z: [u8; 32],
    uses: AtomicU32,
    table: OnceLock<Option<KeyTable>>,
}

/// A key gets its table at this many verifications: a staff key that signs all day
/// does, a key seen once does not pay for one.
pub const TABLE_AFTER_USES: u32 = 8;
/// Most keys with a table at once (each about 25 KiB): 25 MiB.
pub const TABLES_MAX: usize = 1_024;
static TABLES: AtomicUsize = AtomicUsize::new(0);

/// Multiples of one point for fixed-base multiplication, laid out as the `sm2` crate lays
/// out the generator's: table `i` holds `±1..8 × 256^i × P`, so `[t]P` is 66 additions from
/// the table instead of 256 doublings and the additions of a wNAF.
struct KeyTable([LookupTable<ProjectivePoint>; 33]);

impl KeyTable {
    fn new(point: ProjectivePoint) -> KeyTable {
        let mut base = point;
        KeyTable(std::array::from_fn(|_| {
            let table = LookupTable::new(base);
            for _ in 0..8 {
                base = base.double();
            }
            table
        }))
    }

    /// `[k]P`, in variable time (`k` is public: a verification's).
    fn mul_vartime(&self, k: &Scalar) -> ProjectivePoint {
        let digits = Radix16Decomposition::<Radix16Digits<sm2::Sm2>>::new(k);
        let mut even = self.0[32].select_vartime(digits[64]);
        let mut odd = ProjectivePoint::IDENTITY;
        for i in (0..32).rev() {
            odd += &self.0[i].select_vartime(digits[i * 2 + 1]);
            even += &self.0[i].select_vartime(digits[i * 2]);
        }
        for _ in 0..4 {
            odd = odd.double();
        }
        even + odd
    }
}

impl Drop for Sm2Key {
    fn drop(&mut self) {
        if matches!(self.table.get(), Some(Some(_))) {
            TABLES.fetch_sub(1, Ordering::Relaxed);
        }
    }
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
            uses: AtomicU32::new(0),
            table: OnceLock::new(),
        })
    }

    /// `[s]G + [t]P`: the generator's table for `[s]G`, and the key's own for `[t]P` once
    /// it has one (else both at once, interleaved, as the crate does).
    fn combination(&self, s: &Scalar, t: &Scalar) -> ProjectivePoint {
        let table = match self.table.get() {
            Some(table) => table.as_ref(),
            None if self.uses.fetch_add(1, Ordering::Relaxed) + 1 >= TABLE_AFTER_USES => self
                .table
                .get_or_init(|| {
                    (TABLES.fetch_add(1, Ordering::Relaxed) < TABLES_MAX)
                        .then(|| KeyTable::new(self.point))
                        .or_else(|| {
                            TABLES.fetch_sub(1, Ordering::Relaxed);
                            None
                        })
                })
                .as_ref(),
            None => None,
        };
        match table {
            Some(table) => ProjectivePoint::mul_by_generator_vartime(s) + table.mul_vartime(t),
            None => ProjectivePoint::mul_by_generator_and_mul_add_vartime(s, t, &self.point),
        }
    }

    /// Whether `signature` (`r ‖ s`) is this key's SM2 signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        self.prepare(message, signature)
            .is_some_and(|prepared| prepared.holds(&prepared.point.to_affine()))
    }

    /// Steps B1–B6 of a verification, up to the point `[s]G + [t]P` in projective
    /// coordinates; None when one of them already refuses the signature.
    fn prepare(&self, message: &[u8], signature: &[u8; 64]) -> Option<Prepared> {
        // B1, B2: r and s in [1, n-1] (the crate's signature type refuses anything else).
        let signature = sm2::dsa::Signature::from_slice(signature).ok()?;
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
            return None;
        }
        // B6: (x1, y1) = [s]G + [t]P, not the point at infinity.
        let point = self.combination(&s, &t);
        (!bool::from(point.is_identity())).then_some(Prepared { r, e, point })
    }
}

/// A verification up to its last step: `r`, `e` and the point whose x decides.
struct Prepared {
    r: Scalar,
    e: Scalar,
    point: ProjectivePoint,
}

impl Prepared {
    /// B7: `r = e + x1 mod n`, with `affine` the point in affine coordinates.
    fn holds(&self, affine: &AffinePoint) -> bool {
        let x = <Scalar as Reduce<FieldBytes>>::reduce(&affine.x());
        self.r == self.e + x
    }
}

/// Several verifications, each verdict the one [`Sm2Key::verifies`] gives: their points
/// are brought to affine coordinates together (Montgomery's trick: one field inversion
/// and three multiplications a point, instead of an inversion each, which is a fifth of a
/// verification).
pub fn verify_each(items: &[(&Sm2Key, &[u8], &[u8; 64])]) -> Vec<bool> {
    let prepared: Vec<Option<Prepared>> = items
        .iter()
        .map(|(key, message, signature)| key.prepare(message, signature))
        .collect();
    let points: Vec<ProjectivePoint> = prepared.iter().flatten().map(|p| p.point).collect();
    let mut affine =
        <ProjectivePoint as BatchNormalize<[ProjectivePoint]>>::batch_normalize(&points)
            .into_iter();
    prepared
        .iter()
        .map(|prepared| match prepared {
            Some(prepared) => {
                let point = affine
                    .next()
                    .expect("one affine point for each prepared one");
                prepared.holds(&point)
            }
            None => false,
        })
        .collect()
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

/// The DER prefix of an SM2 SubjectPublicKeyInfo: `id-ecPublicKey` with the named curve
/// `sm2p256v1` (1.2.156.10197.1.301), then the 65-byte point as a BIT STRING.
const SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d, 0x03, 0x42, 0x00,
];

/// An SM2 public key (an uncompressed point) as a DER SubjectPublicKeyInfo: what
/// `openssl pkey -pubin -inform DER` reads and `openssl pkey -pubout -outform DER` writes.
pub fn public_key_der(point: &[u8; 65]) -> Vec<u8> {
    [&SPKI_PREFIX[..], &point[..]].concat()
}

/// The point of an SM2 SubjectPublicKeyInfo in DER; None for anything else (another
/// curve or algorithm, a compressed point, trailing bytes).
pub fn public_key_from_der(der: &[u8]) -> Option<[u8; 65]> {
    let point = der.strip_prefix(&SPKI_PREFIX[..])?;
    let point: [u8; 65] = point.try_into().ok()?;
    (point[0] == 0x04).then_some(point)
}

/// A signature `r ‖ s` as DER `SEQUENCE { INTEGER r, INTEGER s }`, the form OpenSSL and
/// most SM2 tools read and write.
pub fn signature_der(raw: &[u8; 64]) -> Vec<u8> {
    let integer = |half: &[u8]| {
        let digits = &half[half.iter().take_while(|&&b| b == 0).count().min(31)..];
        let pad = usize::from(digits[0] >= 0x80);
        let mut out = vec![0x02, (digits.len() + pad) as u8];
        out.extend(std::iter::repeat_n(0, pad));
        out.extend_from_slice(digits);
        out
    };
    let body = [integer(&raw[..32]), integer(&raw[32..])].concat();
    [vec![0x30, body.len() as u8], body].concat()
}

/// `r ‖ s` from DER `SEQUENCE { INTEGER r, INTEGER s }`, strictly: minimal, non-negative
/// integers of at most 32 bytes, and nothing after. None otherwise.
pub fn signature_from_der(der: &[u8]) -> Option<[u8; 64]> {
    let (&[0x30, len], body) = der.split_first_chunk::<2>()? else {
        return None;
    };
    if usize::from(len) != body.len() {
        return None;
    }
    let mut raw = [0u8; 64];
    let mut rest = body;
    for half in raw.chunks_exact_mut(32) {
        let (&[0x02, len], after) = rest.split_first_chunk::<2>()? else {
            return None;
        };
        let len = usize::from(len);
        if len == 0 || len > after.len() {
            return None;
        }
        let (digits, next) = after.split_at(len);
        let negative = digits[0] & 0x80 != 0;
        let padded = len > 1 && digits[0] == 0 && digits[1] & 0x80 == 0;
        if negative || padded {
            return None;
        }
        let digits = if digits[0] == 0 && len > 1 {
            &digits[1..]
        } else {
            digits
        };
        if digits.len() > 32 {
            return None;
        }
        half[32 - digits.len()..].copy_from_slice(digits);
        rest = next;
    }
    rest.is_empty().then_some(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keys_table_multiplies_as_the_curve_does() {
        let scalar = |i: u8| {
            let digest = crate::crypto::sm3(&[i]);
            <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(digest))
        };
        let point = ProjectivePoint::generator() * scalar(255);
        let table = KeyTable::new(point);
        let mut scalars = vec![
            Scalar::ZERO,
            Scalar::ONE,
            -Scalar::ONE,
            Scalar::from(256u64),
        ];
        scalars.extend((0..32).map(scalar));
        for k in scalars {
            assert_eq!(table.mul_vartime(&k), point * k);
        }
    }

    #[test]
    fn signatures_round_trip_through_der_and_malformed_der_is_refused() {
        let mut cases = vec![[0u8; 64], [0xff; 64], [0x7f; 64]];
        let mut mixed = [0u8; 64];
        mixed[31] = 1;
        mixed[32] = 0x80;
        cases.push(mixed);
        for raw in cases {
            let der = signature_der(&raw);
            assert_eq!(signature_from_der(&der), Some(raw), "{der:02x?}");
        }
        let good = signature_der(&[0x11; 64]);
        let mut trailing = good.clone();
        trailing.push(0);
        let mut negative = good.clone();
        negative[4] = 0x91;
        let padded = [
            &[0x30, 0x46, 0x02, 0x21, 0x00][..],
            &[0x11; 32],
            &[0x02, 0x21, 0x00],
            &[0x11; 32],
        ]
        .concat();
        for bad in [&good[..good.len() - 1], &trailing, &negative, &padded, &[]] {
            assert_eq!(signature_from_der(bad), None, "{bad:02x?}");
        }
        let point = [4u8; 65];
        assert_eq!(public_key_from_der(&public_key_der(&point)), Some(point));
        let mut compressed = public_key_der(&point);
        compressed[26] = 2;
        assert_eq!(public_key_from_der(&compressed), None);
    }
}
