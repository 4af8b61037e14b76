//! The rulebook's replay memory, as the store keeps it.
//!
//! The rulebook remembers every ordered transaction in state until its expiry height has
//! passed: `txid/<id>` → expiry height and `txexp/<expiry><id>` → empty, written by the
//! block that orders it and deleted, a whole expiry bucket at a time, by the block after
//! the expiry height (`contracts::chain`, module notes). Kept as state keys, that is four
//! writes per transaction, about half of all a block makes, for facts the store holds
//! already: the transaction index (`x`) has every committed id, and now its expiry height
//! too, and a block's ids of one expiry height are one record:
//!
//! | key (keyspace `expiry-buckets`)            | value                        |
//! |--------------------------------------------|------------------------------|
//! | expiry height (8 B BE) ‖ height (8 B BE)   | the ids, 32 bytes each       |
//!
//! The state read back is the same. `txid/<id>` is present while the id's expiry height is
//! at least the tip's height: the block after the expiry height deletes it, and heights
//! advance by one. `txexp/<expiry>…` is the `y` records of that expiry height. So a block
//! writes one record per expiry height among its transactions instead of two keys per
//! transaction, and forgets a bucket by removing its few records. [`split`] holds each
//! block's replay writes to exactly that pattern (the one the rulebook follows), so the
//! two readings cannot drift apart unnoticed: a write outside it is refused as corrupt.
//! The state root is untouched: it is computed from the write sets, not from storage.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use contracts::chain::{TXEXP_PREFIX, TXID_PREFIX};
use ledger::codec;
use ledger::state::WriteSet;
use ledger::tx::TxId;

use super::StoreError;

/// A block's replay writes, as the store keeps them.
#[derive(Debug, Default)]
pub(super) struct ReplayWrites {
    /// The expiry height of each id the block orders and remembers (the rulebook
    /// remembers them all).
    pub expiries: HashMap<[u8; 32], u64>,
    /// The ids the block adds to each expiry bucket, in block order.
    pub added: BTreeMap<u64, Vec<[u8; 32]>>,
    /// The bucket the block forgets, if any.
    pub forgotten: Option<u64>,
    /// The ids it forgets.
    pub forgotten_ids: BTreeSet<[u8; 32]>,
}

enum ReplayKey {
    Id([u8; 32]),
    Bucket(u64, [u8; 32]),
}

fn replay_key(k: &[u8]) -> Option<Result<ReplayKey, StoreError>> {
    let malformed = || {
        Some(Err(StoreError::Corrupt(format!(
            "a replay-memory key of unexpected shape: {}",
            hex::encode(k)
        ))))
    };
    if let Some(rest) = k.strip_prefix(TXID_PREFIX) {
        return match <[u8; 32]>::try_from(rest) {
            Ok(id) => Some(Ok(ReplayKey::Id(id))),
            Err(_) => malformed(),
        };
    }
    if let Some(rest) = k.strip_prefix(TXEXP_PREFIX) {
        if rest.len() != 40 {
            return malformed();
        }
        let expiry = u64::from_be_bytes(rest[..8].try_into().expect("eight bytes"));
        let id = rest[8..].try_into().expect("thirty-two bytes");
        return Some(Ok(ReplayKey::Bucket(expiry, id)));
    }
    None
}

/// Whether `k` is a key of the replay memory.
pub(super) fn is_replay_key(k: &[u8]) -> bool {
    k.starts_with(TXID_PREFIX) || k.starts_with(TXEXP_PREFIX)
}

/// Takes the replay writes of block `height`, whose transactions are `ids`, out of
/// `writes`; `due` is the bucket the block may forget (expiry height `height − 1`) as
/// stored. Refuses writes that do not follow the rulebook's pattern (module notes).
pub(super) fn split(
    writes: &WriteSet,
    height: u64,
    ids: &[TxId],
    due: &[[u8; 32]],
) -> Result<ReplayWrites, StoreError> {
    let corrupt = |what: String| Err(StoreError::Corrupt(format!("block {height}: {what}")));
    let mut out = ReplayWrites::default();
    let mut bucket_of: HashMap<[u8; 32], u64> = HashMap::new();
    let mut forgotten_buckets: BTreeMap<u64, BTreeSet<[u8; 32]>> = BTreeMap::new();
    for (k, value) in writes.iter() {
        let Some(parsed) = replay_key(k) else {
            continue;
        };
        match (parsed?, value) {
            (ReplayKey::Id(id), Some(v)) => {
                let expiry: u64 = codec::decode(v, 16).map_err(|e| {
                    StoreError::Corrupt(format!("block {height}: a remembered id's expiry: {e}"))
                })?;
                out.expiries.insert(id, expiry);
            }
            (ReplayKey::Id(id), None) => {
                out.forgotten_ids.insert(id);
            }
            (ReplayKey::Bucket(expiry, id), Some(v)) => {
                if !v.is_empty() {
                    return corrupt("an expiry-index entry with a value".into());
                }
                bucket_of.insert(id, expiry);
            }
            (ReplayKey::Bucket(expiry, id), None) => {
                forgotten_buckets.entry(expiry).or_default().insert(id);
            }
        }
    }
    // An id is remembered only by the block that orders it, with its expiry, in its
    // expiry's bucket.
    if out.expiries.len() != bucket_of.len() {
        return corrupt(format!(
            "{} ids remembered, {} in the expiry index",
            out.expiries.len(),
            bucket_of.len()
        ));
    }
    let mut ordered: HashSet<[u8; 32]> = HashSet::with_capacity(ids.len());
    for id in ids {
        if !ordered.insert(id.0) {
            continue;
        }
        match (out.expiries.get(&id.0), bucket_of.get(&id.0)) {
            (Some(a), Some(b)) if a == b => out.added.entry(*a).or_default().push(id.0),
            (None, None) => {}
            _ => return corrupt(format!("transaction {id} is remembered inconsistently")),
        }
    }
    if out.added.values().map(Vec::len).sum::<usize>() != out.expiries.len() {
        return corrupt("it remembers an id it does not order".into());
    }
    // At most the bucket of the height before, whole, and the same ids.
    if forgotten_buckets.len() > 1 {
        return corrupt("it forgets more than one expiry height".into());
    }
    if let Some((expiry, bucket)) = forgotten_buckets.into_iter().next() {
        if expiry + 1 != height {
            return corrupt(format!("it forgets the ids expiring at {expiry}"));
        }
        let whole: BTreeSet<[u8; 32]> = due.iter().copied().collect();
        if bucket != whole || bucket != out.forgotten_ids {
            return corrupt(format!(
                "it forgets part of the ids expiring at {expiry}, or others"
            ));
        }
        out.forgotten = Some(expiry);
    } else if !out.forgotten_ids.is_empty() {
        return corrupt("it forgets ids outside the expiry index".into());
    }
    Ok(out)
}

/// The key of the record of block `height`'s ids in bucket `expiry`.
pub(super) fn bucket_key(expiry: u64, height: u64) -> Vec<u8> {
    let mut k = bucket_prefix(expiry);
    k.extend_from_slice(&height.to_be_bytes());
    k
}

/// The prefix of the records of bucket `expiry`.
pub(super) fn bucket_prefix(expiry: u64) -> Vec<u8> {
    expiry.to_be_bytes().to_vec()
}

/// The expiry height of a bucket record's key.
pub(super) fn bucket_expiry(k: &[u8]) -> Result<u64, StoreError> {
    match k {
        k if k.len() == 16 => Ok(u64::from_be_bytes(k[..8].try_into().expect("eight bytes"))),
        _ => Err(StoreError::Corrupt(format!(
            "an expiry-bucket key of unexpected shape: {}",
            hex::encode(k)
        ))),
    }
}

/// The ids of a bucket record's value.
pub(super) fn bucket_ids(v: &[u8]) -> Result<impl Iterator<Item = [u8; 32]> + '_, StoreError> {
    if !v.len().is_multiple_of(32) {
        return Err(StoreError::Corrupt(
            "an expiry-bucket record that is not whole ids".into(),
        ));
    }
    Ok(v.chunks_exact(32)
        .map(|c| c.try_into().expect("thirty-two bytes")))
}

/// The ids of a block's bucket record, as stored.
pub(super) fn bucket_value(ids: &[[u8; 32]]) -> Vec<u8> {
    ids.concat()
}

/// The state entries that the bucket of `expiry` holding `id` stands for.
pub(super) fn entries_of(expiry: u64, id: &[u8; 32]) -> [(Vec<u8>, Vec<u8>); 2] {
    [
        ([TXID_PREFIX, &id[..]].concat(), codec::encode(&expiry)),
        (
            [TXEXP_PREFIX, &expiry.to_be_bytes()[..], &id[..]].concat(),
            Vec::new(),
        ),
    ]
}

/// The prefix of the buckets a scan of the state under `prefix` must read: all of them
/// (empty), or the one expiry height that `prefix` names.
pub(super) fn buckets_under(prefix: &[u8]) -> Option<Vec<u8>> {
    let reaches = |family: &[u8]| prefix.starts_with(family) || family.starts_with(prefix);
    if !reaches(TXID_PREFIX) && !reaches(TXEXP_PREFIX) {
        return None;
    }
    match prefix.strip_prefix(TXEXP_PREFIX) {
        Some(rest) if rest.len() >= 8 => Some(rest[..8].to_vec()),
        _ => Some(Vec::new()),
    }
}

/// What the state holds at `k`, a replay-memory key, given the id's expiry height from the
/// transaction index and the tip's height.
pub(super) fn read(k: &[u8], expiry: Option<u64>, tip: u64) -> Option<Vec<u8>> {
    let expiry = expiry.filter(|e| *e >= tip)?;
    match replay_key(k)? {
        Ok(ReplayKey::Id(_)) => Some(codec::encode(&expiry)),
        Ok(ReplayKey::Bucket(bucket, _)) if bucket == expiry => Some(Vec::new()),
        _ => None,
    }
}

/// The id a replay-memory key names, if it is well formed.
pub(super) fn id_of(k: &[u8]) -> Option<[u8; 32]> {
    match replay_key(k)? {
        Ok(ReplayKey::Id(id)) | Ok(ReplayKey::Bucket(_, id)) => Some(id),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> TxId {
        TxId([n; 32])
    }

    fn remember(writes: &mut WriteSet, n: u8, expiry: u64) {
        for (k, v) in entries_of(expiry, &id(n).0) {
            writes.put(k, v);
        }
    }

    fn forget(writes: &mut WriteSet, n: u8, expiry: u64) {
        for (k, _) in entries_of(expiry, &id(n).0) {
            writes.delete(k);
        }
    }

    fn refused(result: Result<ReplayWrites, StoreError>) -> String {
        match result {
            Err(StoreError::Corrupt(why)) => why,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn a_blocks_replay_writes_become_one_record_per_expiry_height() {
        let mut writes = WriteSet::new();
        remember(&mut writes, 1, 9);
        remember(&mut writes, 2, 7);
        remember(&mut writes, 3, 9);
        forget(&mut writes, 4, 5);
        forget(&mut writes, 5, 5);
        writes.put(b"policy/p1".to_vec(), vec![1]);
        let split = split(&writes, 6, &[id(1), id(2), id(3)], &[[5; 32], [4; 32]]).unwrap();
        assert_eq!(split.added[&9], vec![[1; 32], [3; 32]]);
        assert_eq!(split.added[&7], vec![[2; 32]]);
        assert_eq!(split.added.len(), 2);
        assert_eq!(split.forgotten, Some(5));
        assert_eq!(split.expiries[&[3; 32]], 9);
        // The state read back: remembered while the expiry is at least the tip.
        let [(id_key, value), (bucket_key, empty)] = entries_of(9, &[1; 32]);
        assert_eq!(read(&id_key, Some(9), 6).as_deref(), Some(&value[..]));
        assert_eq!(read(&id_key, Some(9), 9).as_deref(), Some(&value[..]));
        assert_eq!(read(&id_key, Some(9), 10), None);
        assert_eq!(read(&bucket_key, Some(9), 6), Some(empty));
        assert_eq!(read(&bucket_key, Some(8), 6), None, "another bucket");
        assert_eq!(read(&id_key, None, 6), None);
    }

    #[test]
    fn replay_writes_outside_the_rulebooks_pattern_are_refused() {
        let none: &[[u8; 32]] = &[];
        // An id the block does not order.
        let mut writes = WriteSet::new();
        remember(&mut writes, 1, 9);
        assert!(refused(split(&writes, 2, &[id(2)], none)).contains("does not order"));
        // Remembered without its bucket, or in another bucket than its expiry.
        let mut writes = WriteSet::new();
        writes.put(entries_of(9, &[1; 32])[0].0.clone(), codec::encode(&9u64));
        assert!(refused(split(&writes, 2, &[id(1)], none)).contains("expiry index"));
        let mut writes = WriteSet::new();
        writes.put(entries_of(9, &[1; 32])[0].0.clone(), codec::encode(&9u64));
        writes.put(entries_of(8, &[1; 32])[1].0.clone(), Vec::new());
        assert!(refused(split(&writes, 2, &[id(1)], none)).contains("inconsistently"));
        // Part of a bucket, a bucket out of turn, an id without its bucket.
        let stored: &[[u8; 32]] = &[[4; 32], [5; 32]];
        let mut writes = WriteSet::new();
        forget(&mut writes, 4, 5);
        assert!(refused(split(&writes, 6, &[], stored)).contains("part of"));
        let mut writes = WriteSet::new();
        forget(&mut writes, 4, 5);
        forget(&mut writes, 5, 5);
        assert!(refused(split(&writes, 7, &[], stored)).contains("expiring at 5"));
        let mut writes = WriteSet::new();
        writes.delete(entries_of(5, &[4; 32])[0].0.clone());
        assert!(refused(split(&writes, 6, &[], stored)).contains("outside"));
        // A key of the family that is not an id.
        let mut writes = WriteSet::new();
        writes.put([TXID_PREFIX, b"short"].concat(), vec![1]);
        assert!(refused(split(&writes, 2, &[], none)).contains("unexpected shape"));
    }
}
