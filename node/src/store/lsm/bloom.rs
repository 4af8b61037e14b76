//! A blocked Bloom filter: each key sets [`PROBES`] bits inside one 64-byte block, so a
//! lookup touches one cache line whatever the filter's size. With [`BITS_PER_KEY`] bits a
//! key, about 1 % to 2 % of the keys a run does not hold pass it; none that it holds fail.
//!
//! The filter is written into run files, so its hash is part of the file format: a fixed
//! function of the key's bytes, never a seeded one.

/// Bits of filter per key.
pub const BITS_PER_KEY: usize = 10;
/// Bits set (and tested) per key.
const PROBES: u32 = 7;
/// Bytes in one block: a cache line.
const BLOCK_BYTES: usize = 64;

/// A 64-bit hash of `bytes`, stable across machines and releases (it is on disk): eight
/// bytes at a time folded by multiplication, finished with MurmurHash3's mixer.
pub fn hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        h = (h ^ word).wrapping_mul(K).rotate_left(29);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(last))
            .wrapping_mul(K)
            .rotate_left(29);
    }
    // fmix64
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The filter's bytes: whole blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bloom {
    bytes: Vec<u8>,
}

impl Bloom {
    /// An empty filter sized for `keys` keys.
    pub fn with_capacity(keys: usize) -> Bloom {
        let blocks = (keys * BITS_PER_KEY).div_ceil(BLOCK_BYTES * 8).max(1);
        Bloom {
            bytes: vec![0; blocks * BLOCK_BYTES],
        }
    }

    /// A filter read back from a run file; `None` when the length is not whole blocks.
    pub fn from_bytes(bytes: Vec<u8>) -> Option<Bloom> {
        (!bytes.is_empty() && bytes.len() % BLOCK_BYTES == 0).then_some(Bloom { bytes })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The block and the bit positions within it of a key of hash `h`.
    fn probes(&self, h: u64) -> (usize, impl Iterator<Item = usize>) {
        let blocks = (self.bytes.len() / BLOCK_BYTES) as u64;
        // The high bits pick the block (a multiply-shift, not a modulo), the low bits the
        // positions within it, by double hashing.
        let block = ((u128::from(h >> 32) * u128::from(blocks)) >> 32) as usize;
        let (mut a, b) = (h as u32, (h as u32).rotate_right(15) | 1);
        let positions = (0..PROBES).map(move |_| {
            let bit = (a % (BLOCK_BYTES as u32 * 8)) as usize;
            a = a.wrapping_add(b);
            bit
        });
        (block * BLOCK_BYTES, positions)
    }

    pub fn insert(&mut self, h: u64) {
        let (base, positions) = self.probes(h);
        for bit in positions {
            self.bytes[base + bit / 8] |= 1 << (bit % 8);
        }
    }

    /// False when the key of hash `h` was certainly never inserted.
    pub fn may_contain(&self, h: u64) -> bool {
        let (base, mut positions) = self.probes(h);
        positions.all(|bit| self.bytes[base + bit / 8] & (1 << (bit % 8)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_inserted_key_passes_and_few_others_do() {
        let keys: Vec<Vec<u8>> = (0..20_000u32)
            .map(|i| format!("s/policy/pol-{i}").into_bytes())
            .collect();
        let mut bloom = Bloom::with_capacity(keys.len());
        for k in &keys {
            bloom.insert(hash(k));
        }
        assert!(keys.iter().all(|k| bloom.may_contain(hash(k))));
        let others = (0..20_000u32)
            .filter(|i| bloom.may_contain(hash(format!("s/policy/other-{i}").as_bytes())))
            .count();
        // About 1–2 % at ten bits a key; a broken filter passes far more (or none).
        assert!(others < 600, "{others} of 20000 absent keys passed");
        let read = Bloom::from_bytes(bloom.as_bytes().to_vec()).unwrap();
        assert_eq!(read, bloom);
    }

    #[test]
    fn the_hash_is_fixed_because_it_is_on_disk() {
        // Changing the function would make every run file's filter wrong.
        assert_eq!(hash(b""), 0);
        assert_eq!(hash(b"s/policy/pol-1"), 7_049_422_065_164_011_319);
        assert_ne!(hash(b"xinbao"), hash(b"xinbap"));
        assert_ne!(hash(b"abcdefgh"), hash(b"abcdefgh\0"));
    }
}
