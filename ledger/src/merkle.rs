//! Binary Merkle trees over 32-byte leaves (transaction ids, receipt hashes), with
//! inclusion proofs.
//!
//! The rules, fixed once because roots go into block headers:
//! - `H` is the chain's suite's hash (blake3 or SM3);
//! - a leaf hashes as `H(MERKLE_LEAF ‖ leaf)`, an interior node as
//!   `H(MERKLE_NODE ‖ left ‖ right)`; the two prefixes differ and have the same
//!   length, so a node can never pose as a leaf or the reverse;
//! - levels are built pairwise from the left; an odd node at the end of a level is carried
//!   up unchanged (never duplicated, so two different lists never share a root);
//! - the root is `H(MERKLE_ROOT ‖ count as u64 little-endian ‖ top)`, so it commits to
//!   the number of leaves; the root of the empty list is `H(MERKLE_ROOT ‖ 0u64)`.
//!
//! A proof for leaf `index` of `count` is the list of sibling hashes from the bottom up,
//! skipping the levels where the node was carried up. The verifier needs the leaf, its
//! index and the count; a proof is at most [`PROOF_LEN_MAX`] hashes.

use crate::crypto::{domain, Suite};
use crate::state::Hash32;

/// Enough for 2^64 leaves.
pub const PROOF_LEN_MAX: usize = 64;

fn hash_leaf(suite: Suite, leaf: &Hash32) -> Hash32 {
    let mut hasher = suite.hasher();
    hasher.update(domain::MERKLE_LEAF).update(leaf);
    hasher.finalize()
}

fn hash_node(suite: Suite, left: &Hash32, right: &Hash32) -> Hash32 {
    let mut hasher = suite.hasher();
    hasher
        .update(domain::MERKLE_NODE)
        .update(left)
        .update(right);
    hasher.finalize()
}

fn hash_root(suite: Suite, count: u64, top: Option<&Hash32>) -> Hash32 {
    let mut hasher = suite.hasher();
    hasher.update(domain::MERKLE_ROOT);
    hasher.update(&count.to_le_bytes());
    if let Some(top) = top {
        hasher.update(top);
    }
    hasher.finalize()
}

/// The next level up: pairs hashed, an odd last node carried up.
fn level_up(suite: Suite, level: &[Hash32]) -> Vec<Hash32> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [left, right] => hash_node(suite, left, right),
            [single] => *single,
            _ => unreachable!("chunks(2) yields one or two items"),
        })
        .collect()
}

/// The root of `leaves` (see the module notes).
pub fn root(suite: Suite, leaves: &[Hash32]) -> Hash32 {
    let count = leaves.len() as u64;
    if leaves.is_empty() {
        return hash_root(suite, 0, None);
    }
    let mut level: Vec<Hash32> = leaves.iter().map(|leaf| hash_leaf(suite, leaf)).collect();
    while level.len() > 1 {
        level = level_up(suite, &level);
    }
    hash_root(suite, count, Some(&level[0]))
}

/// The proof that `leaves[index]` is in the tree, or `None` if `index` is out of range.
pub fn prove(suite: Suite, leaves: &[Hash32], index: usize) -> Option<Vec<Hash32>> {
    if index >= leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    let mut level: Vec<Hash32> = leaves.iter().map(|leaf| hash_leaf(suite, leaf)).collect();
    let mut i = index;
    while level.len() > 1 {
        let sibling = i ^ 1;
        if sibling < level.len() {
            proof.push(level[sibling]);
        }
        level = level_up(suite, &level);
        i /= 2;
    }
    Some(proof)
}

/// Whether `proof` shows that `leaf` is leaf `index` of the `count` leaves under `root`.
pub fn verify(
    suite: Suite,
    root: &Hash32,
    leaf: &Hash32,
    index: u64,
    count: u64,
    proof: &[Hash32],
) -> bool {
    if index >= count || proof.len() > PROOF_LEN_MAX {
        return false;
    }
    let mut node = hash_leaf(suite, leaf);
    let mut i = index;
    let mut width = count;
    let mut siblings = proof.iter();
    while width > 1 {
        let sibling_index = i ^ 1;
        if sibling_index < width {
            let Some(sibling) = siblings.next() else {
                return false;
            };
            node = if i.is_multiple_of(2) {
                hash_node(suite, &node, sibling)
            } else {
                hash_node(suite, sibling, &node)
            };
        }
        i /= 2;
        width = width.div_ceil(2);
    }
    siblings.next().is_none() && hash_root(suite, count, Some(&node)) == *root
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<Hash32> {
        (0..n)
            .map(|i| *blake3::hash(&(i as u64).to_le_bytes()).as_bytes())
            .collect()
    }

    #[test]
    fn empty_and_single_roots_are_defined_and_distinct() {
        for s in Suite::ALL {
            let empty = root(s, &[]);
            assert_eq!(empty, hash_root(s, 0, None));
            let one = root(s, &leaves(1));
            assert_ne!(empty, one);
            assert_eq!(one, hash_root(s, 1, Some(&hash_leaf(s, &leaves(1)[0]))));
            assert_eq!(prove(s, &[], 0), None);
            assert!(!verify(s, &empty, &[0; 32], 0, 0, &[]));
        }
    }

    #[test]
    fn every_leaf_proves_at_its_index_only() {
        for s in Suite::ALL {
            for n in 1..=33usize {
                let l = leaves(n);
                let r = root(s, &l);
                for i in 0..n {
                    let proof = prove(s, &l, i).unwrap();
                    assert!(
                        verify(s, &r, &l[i], i as u64, n as u64, &proof),
                        "n={n} i={i}"
                    );
                    for j in 0..n {
                        if j != i {
                            assert!(
                                !verify(s, &r, &l[i], j as u64, n as u64, &proof),
                                "n={n} i={i} j={j}"
                            );
                        }
                    }
                    for m in 1..=34u64 {
                        if m != n as u64 {
                            assert!(
                                !verify(s, &r, &l[i], i as u64, m, &proof),
                                "n={n} i={i} m={m}"
                            );
                        }
                    }
                }
                assert_eq!(prove(s, &l, n), None);
            }
        }
    }

    #[test]
    fn wrong_leaf_root_or_proof_fails() {
        for s in Suite::ALL {
            let l = leaves(7);
            let r = root(s, &l);
            let proof = prove(s, &l, 3).unwrap();
            assert!(verify(s, &r, &l[3], 3, 7, &proof));
            assert!(!verify(s, &r, &l[4], 3, 7, &proof), "wrong leaf");
            assert!(
                !verify(s, &root(s, &leaves(8)), &l[3], 3, 7, &proof),
                "wrong root"
            );
            let mut bent = proof.clone();
            bent[0][0] ^= 1;
            assert!(!verify(s, &r, &l[3], 3, 7, &bent), "altered sibling");
            assert!(!verify(s, &r, &l[3], 3, 7, &proof[1..]), "short proof");
            let mut long = proof.clone();
            long.push([0; 32]);
            assert!(!verify(s, &r, &l[3], 3, 7, &long), "long proof");
            assert!(!verify(s, &r, &l[3], 7, 7, &proof), "index past the end");
        }
    }

    #[test]
    fn the_suites_give_different_roots_of_the_same_leaves() {
        let l = leaves(5);
        assert_ne!(root(Suite::Ed25519Blake3, &l), root(Suite::Sm2Sm3, &l));
        let proof = prove(Suite::Sm2Sm3, &l, 2).unwrap();
        assert!(verify(
            Suite::Sm2Sm3,
            &root(Suite::Sm2Sm3, &l),
            &l[2],
            2,
            5,
            &proof
        ));
        assert!(!verify(
            Suite::Ed25519Blake3,
            &root(Suite::Sm2Sm3, &l),
            &l[2],
            2,
            5,
            &proof
        ));
    }

    #[test]
    fn a_node_cannot_pose_as_a_leaf() {
        for s in Suite::ALL {
            // The top node of a two-leaf tree offered as a single leaf gives another root.
            let l = leaves(2);
            let node = hash_node(s, &hash_leaf(s, &l[0]), &hash_leaf(s, &l[1]));
            assert_ne!(root(s, &[node]), root(s, &l));
            // The odd leaf is carried up, not duplicated: [a, b, c] and [a, b, c, c] differ.
            let mut three = leaves(3);
            let r3 = root(s, &three);
            three.push(three[2]);
            assert_ne!(r3, root(s, &three));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 64,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x6d65_726b_6c65),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn random_trees_prove_and_reject(
            raw in proptest::collection::vec(any::<[u8; 32]>(), 1..80),
            pick in any::<proptest::sample::Index>(),
            flip in any::<proptest::sample::Index>(),
            suite in 0..2usize,
        ) {
            let s = Suite::ALL[suite];
            let i = pick.index(raw.len());
            let r = root(s, &raw);
            let proof = prove(s, &raw, i).unwrap();
            prop_assert!(verify(s, &r, &raw[i], i as u64, raw.len() as u64, &proof));
            let mut other = raw[i];
            other[flip.index(32)] ^= 0x80;
            prop_assert!(!verify(s, &r, &other, i as u64, raw.len() as u64, &proof));
            let mut changed = raw.clone();
            changed[i] = other;
            prop_assert_ne!(root(s, &changed), r);
        }
    }
}
