//! The state store: an ordered map of byte keys to byte values, and the state root.
//!
//! The rulebook reads state through [`StateView`] and answers with a [`WriteSet`]; it never
//! writes directly. A block's write set is the union of its transactions' write sets in
//! order. The state root after block `h` is
//! `blake3("xinbao/state/v1" ‖ root(h−1) ‖ canonical write set of h)`: a chain over every
//! change ever made, so two nodes with the same root have applied the same changes in the
//! same order. [`MemoryStore`] is the in-memory store (scenarios, tests, the auditor); the
//! node keeps the same map in sled behind the same trait.

use std::collections::BTreeMap;
use std::ops::Bound;

use bincode::{Decode, Encode};

/// A 32-byte digest.
pub type Hash32 = [u8; 32];

/// Read access to state, in key order.
pub trait StateView {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>>;

    /// Every entry whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)>;
}

/// A store that can also apply write sets.
pub trait StateStore: StateView {
    fn apply(&mut self, writes: &WriteSet);
}

/// Puts (`Some`) and deletes (`None`), ordered by key. Writing a key twice keeps the last.
#[derive(Debug, Clone, Default, PartialEq, Eq, Encode, Decode)]
pub struct WriteSet {
    entries: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl WriteSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.entries.insert(key, Some(value));
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.entries.insert(key, None);
    }

    /// Later writes win.
    pub fn extend(&mut self, later: WriteSet) {
        self.entries.extend(later.entries);
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &Option<Vec<u8>>)> {
        self.entries.iter()
    }

    pub fn get(&self, key: &[u8]) -> Option<&Option<Vec<u8>>> {
        self.entries.get(key)
    }
}

/// The state root after applying `writes` on top of `previous` (see the module notes).
pub fn chain_root(previous: &Hash32, writes: &WriteSet) -> Hash32 {
    let mut hasher = blake3::Hasher::new();
    hasher.update(crate::crypto::domain::STATE);
    hasher.update(previous);
    hasher.update(&crate::codec::encode(writes));
    *hasher.finalize().as_bytes()
}

/// The whole state in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    map: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl StateView for MemoryStore {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.map.get(key).cloned()
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.map
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

impl StateStore for MemoryStore {
    fn apply(&mut self, writes: &WriteSet) {
        for (key, value) in writes.iter() {
            match value {
                Some(v) => {
                    self.map.insert(key.clone(), v.clone());
                }
                None => {
                    self.map.remove(key);
                }
            }
        }
    }
}

/// A view of `base` with `writes` laid over it: how a block's later transactions see the
/// effects of its earlier ones before anything is committed.
pub struct Overlay<'a, S: StateView + ?Sized> {
    base: &'a S,
    writes: WriteSet,
}

impl<'a, S: StateView + ?Sized> Overlay<'a, S> {
    pub fn new(base: &'a S) -> Self {
        Overlay {
            base,
            writes: WriteSet::new(),
        }
    }

    pub fn apply(&mut self, writes: WriteSet) {
        self.writes.extend(writes);
    }

    pub fn writes(&self) -> &WriteSet {
        &self.writes
    }

    pub fn into_writes(self) -> WriteSet {
        self.writes
    }
}

impl<S: StateView + ?Sized> StateView for Overlay<'_, S> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.writes.get(key) {
            Some(value) => value.clone(),
            None => self.base.get(key),
        }
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> =
            self.base.scan_prefix(prefix).into_iter().collect();
        for (key, value) in self
            .writes
            .entries
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
        {
            match value {
                Some(v) => {
                    merged.insert(key.clone(), v.clone());
                }
                None => {
                    merged.remove(key);
                }
            }
        }
        merged.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_sees_its_writes_and_deletes() {
        let mut base = MemoryStore::new();
        let mut w = WriteSet::new();
        w.put(b"a/1".to_vec(), b"one".to_vec());
        w.put(b"a/2".to_vec(), b"two".to_vec());
        w.put(b"b/1".to_vec(), b"bee".to_vec());
        base.apply(&w);

        let mut overlay = Overlay::new(&base);
        let mut w2 = WriteSet::new();
        w2.delete(b"a/1".to_vec());
        w2.put(b"a/3".to_vec(), b"three".to_vec());
        overlay.apply(w2);

        assert_eq!(overlay.get(b"a/1"), None);
        assert_eq!(overlay.get(b"b/1"), Some(b"bee".to_vec()));
        let keys: Vec<_> = overlay
            .scan_prefix(b"a/")
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, vec![b"a/2".to_vec(), b"a/3".to_vec()]);
        assert_eq!(base.scan_prefix(b"a/").len(), 2);
    }

    #[test]
    fn root_depends_on_every_write_and_on_history() {
        let mut w = WriteSet::new();
        w.put(b"k".to_vec(), b"v".to_vec());
        let r1 = chain_root(&[0; 32], &w);
        let mut w2 = WriteSet::new();
        w2.put(b"k".to_vec(), b"V".to_vec());
        assert_ne!(r1, chain_root(&[0; 32], &w2));
        assert_ne!(r1, chain_root(&[1; 32], &w));
        assert_eq!(r1, chain_root(&[0; 32], &w));
    }
}
