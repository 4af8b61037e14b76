//! The state store: an ordered map of byte keys to byte values, and the state root.
//!
//! The rulebook reads state through [`StateView`] and answers with a [`WriteSet`]; it never
//! writes directly. A block's write set is the union of its transactions' write sets in
//! order. The state root after block `h` is
//! `blake3("xinbao/state/v1" ‖ root(h−1) ‖ canonical write set of h)`: a chain over every
//! change ever made, so two nodes with the same root have applied the same changes in the
//! same order. [`MemoryStore`] is the in-memory store (scenarios, tests, the auditor); the
//! node keeps the same map in sled behind the same trait.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use bincode::{Decode, Encode};

/// A 32-byte digest.
pub type Hash32 = [u8; 32];

/// Read access to state, in key order.
pub trait StateView {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>>;

    /// Every entry whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)>;

    /// Call `f` with each key that starts with `prefix`, in key order, lent where the
    /// store can: for indexes, whose values are empty.
    fn for_each_key(&self, prefix: &[u8], f: &mut dyn FnMut(&[u8])) {
        for (key, _) in self.scan_prefix(prefix) {
            f(&key);
        }
    }

    /// Call `f` with the value at `key`, lent rather than copied where the store holds it
    /// in memory; false (and `f` not called) when there is none.
    fn read_with(&self, key: &[u8], f: &mut dyn FnMut(&[u8])) -> bool {
        match self.get(key) {
            Some(value) => {
                f(&value);
                true
            }
            None => false,
        }
    }
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

    /// Its entries, by key, each a put (`Some`) or a delete (`None`).
    pub fn into_entries(self) -> impl Iterator<Item = (Vec<u8>, Option<Vec<u8>>)> {
        self.entries.into_iter()
    }
}

/// The state root after applying `writes` on top of `previous` (see the module notes).
pub fn chain_root(suite: crate::crypto::Suite, previous: &Hash32, writes: &WriteSet) -> Hash32 {
    let mut hasher = suite.hasher();
    hasher
        .update(crate::crypto::domain::STATE)
        .update(previous)
        .update(&crate::codec::encode(writes));
    hasher.finalize()
}

/// The whole state in memory: values by key in a hash map for point reads, and the keys
/// in order beside it for prefix scans. Nothing iterates the hash map (not even `Debug`,
/// which lists the entries in key order), so its order cannot leak into a result. The
/// map's hash is foldhash, seeded at random per process: a read costs a fraction of
/// SipHash's, and the seed keeps keys from being chosen to collide.
#[derive(Clone, Default)]
pub struct MemoryStore {
    map: HashMap<Vec<u8>, Vec<u8>, foldhash::fast::RandomState>,
    order: BTreeSet<Vec<u8>>,
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

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        if let Some(slot) = self.map.get_mut(&key) {
            *slot = value;
        } else {
            self.order.insert(key.clone());
            self.map.insert(key, value);
        }
    }

    fn delete(&mut self, key: &[u8]) {
        if self.map.remove(key).is_some() {
            self.order.remove(key);
        }
    }

    /// [`StateStore::apply`] without copying what the write set already owns.
    pub fn apply_owned(&mut self, writes: WriteSet) {
        for (key, value) in writes.into_entries() {
            match value {
                Some(v) => self.put(key, v),
                None => self.delete(&key),
            }
        }
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.order.iter().map(|k| (k, &self.map[k])))
            .finish()
    }
}

impl StateView for MemoryStore {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.map.get(key).cloned()
    }

    fn read_with(&self, key: &[u8], f: &mut dyn FnMut(&[u8])) -> bool {
        match self.map.get(key) {
            Some(value) => {
                f(value);
                true
            }
            None => false,
        }
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.order
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|k| k.starts_with(prefix))
            .map(|k| (k.clone(), self.map[k].clone()))
            .collect()
    }

    fn for_each_key(&self, prefix: &[u8], f: &mut dyn FnMut(&[u8])) {
        for key in self
            .order
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|k| k.starts_with(prefix))
        {
            f(key);
        }
    }
}

impl StateStore for MemoryStore {
    fn apply(&mut self, writes: &WriteSet) {
        for (key, value) in writes.iter() {
            match value {
                Some(v) => self.put(key.clone(), v.clone()),
                None => self.delete(key),
            }
        }
    }
}

/// A view of `base` with `writes` laid over it: how a block's later transactions see the
/// effects of its earlier ones before anything is committed.
pub struct Overlay<'a, S: StateView + ?Sized> {
    base: &'a S,
    writes: std::borrow::Cow<'a, WriteSet>,
}

impl<'a, S: StateView + ?Sized> Overlay<'a, S> {
    pub fn new(base: &'a S) -> Self {
        Overlay {
            base,
            writes: std::borrow::Cow::Owned(WriteSet::new()),
        }
    }

    /// `writes` laid over `base` without copying them (until the overlay is written to).
    pub fn over(base: &'a S, writes: &'a WriteSet) -> Self {
        Overlay {
            base,
            writes: std::borrow::Cow::Borrowed(writes),
        }
    }

    pub fn apply(&mut self, writes: WriteSet) {
        self.writes.to_mut().extend(writes);
    }

    /// One write laid over the base.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.to_mut().put(key, value);
    }

    /// One deletion laid over the base.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.writes.to_mut().delete(key);
    }

    pub fn writes(&self) -> &WriteSet {
        &self.writes
    }

    pub fn into_writes(self) -> WriteSet {
        self.writes.into_owned()
    }
}

impl<S: StateView + ?Sized> StateView for Overlay<'_, S> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.writes.get(key) {
            Some(value) => value.clone(),
            None => self.base.get(key),
        }
    }

    fn read_with(&self, key: &[u8], f: &mut dyn FnMut(&[u8])) -> bool {
        match self.writes.get(key) {
            Some(Some(value)) => {
                f(value);
                true
            }
            Some(None) => false,
            None => self.base.read_with(key, f),
        }
    }

    fn for_each_key(&self, prefix: &[u8], f: &mut dyn FnMut(&[u8])) {
        let mut own = self
            .writes
            .entries
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix));
        if own.next().is_none() {
            return self.base.for_each_key(prefix, f);
        }
        for (key, _) in self.scan_prefix(prefix) {
            f(&key);
        }
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut own = self
            .writes
            .entries
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .peekable();
        if own.peek().is_none() {
            return self.base.scan_prefix(prefix);
        }
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> =
            self.base.scan_prefix(prefix).into_iter().collect();
        for (key, value) in own {
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

/// A view of `base` that remembers what it reads, for a base that does not change while
/// the view is in use (the committed state while one block is executed, or stored): a
/// block's transactions read the same few records over and over (the programme, its rate
/// filings, the signers' keys), and a second read of one costs a hash lookup, not a
/// store's. It answers exactly what the base answers, so nothing it feeds can differ.
/// Prefix scans are remembered only when short; a long one (a programme's loans) is read
/// from the base each time rather than held.
pub struct ReadCache<'a, S: StateView + ?Sized> {
    base: &'a S,
    values: RefCell<HashMap<Vec<u8>, Option<Vec<u8>>, foldhash::fast::RandomState>>,
    scans: RefCell<HashMap<Vec<u8>, Entries, foldhash::fast::RandomState>>,
}

/// Entries of a prefix scan, key and value, in key order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// The longest scan a [`ReadCache`] keeps.
const CACHED_SCAN_ENTRIES_MAX: usize = 64;

impl<'a, S: StateView + ?Sized> ReadCache<'a, S> {
    pub fn new(base: &'a S) -> Self {
        ReadCache {
            base,
            values: RefCell::default(),
            scans: RefCell::default(),
        }
    }
}

impl<S: StateView + ?Sized> StateView for ReadCache<'_, S> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let mut found = None;
        self.read_with(key, &mut |v| found = Some(v.to_vec()));
        found
    }

    fn read_with(&self, key: &[u8], f: &mut dyn FnMut(&[u8])) -> bool {
        if let Some(value) = self.values.borrow().get(key) {
            return match value {
                Some(v) => {
                    f(v);
                    true
                }
                None => false,
            };
        }
        let mut value = None;
        self.base.read_with(key, &mut |v| value = Some(v.to_vec()));
        let found = match &value {
            Some(v) => {
                f(v);
                true
            }
            None => false,
        };
        self.values.borrow_mut().insert(key.to_vec(), value);
        found
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        if let Some(entries) = self.scans.borrow().get(prefix) {
            return entries.clone();
        }
        let entries = self.base.scan_prefix(prefix);
        if entries.len() <= CACHED_SCAN_ENTRIES_MAX {
            self.scans
                .borrow_mut()
                .insert(prefix.to_vec(), entries.clone());
        }
        entries
    }

    fn for_each_key(&self, prefix: &[u8], f: &mut dyn FnMut(&[u8])) {
        match self.scans.borrow().get(prefix) {
            Some(entries) => entries.iter().for_each(|(k, _)| f(k)),
            None => self.base.for_each_key(prefix, f),
        }
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
        // Lent values agree with copied ones, written, deleted or from the base.
        for key in [&b"a/1"[..], b"a/2", b"a/3", b"b/1", b"c/1"] {
            let mut lent = None;
            let found = overlay.read_with(key, &mut |v| lent = Some(v.to_vec()));
            assert_eq!(lent, overlay.get(key), "{key:?}");
            assert_eq!(found, lent.is_some());
        }
        let mut owned = MemoryStore::new();
        owned.apply_owned(w.clone());
        owned.apply_owned(overlay.writes().clone());
        let mut copied = MemoryStore::new();
        copied.apply(&w);
        copied.apply(overlay.writes());
        assert_eq!(owned.scan_prefix(b""), copied.scan_prefix(b""));
        assert_eq!(owned.get(b"a/1"), None);
        let keys: Vec<_> = overlay
            .scan_prefix(b"a/")
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, vec![b"a/2".to_vec(), b"a/3".to_vec()]);
        let keys_of = |view: &dyn StateView, prefix: &[u8]| {
            let mut seen = Vec::new();
            view.for_each_key(prefix, &mut |k| seen.push(k.to_vec()));
            seen
        };
        assert_eq!(keys_of(&overlay, b"a/"), keys);
        assert_eq!(
            keys_of(&base, b"a/"),
            vec![b"a/1".to_vec(), b"a/2".to_vec()]
        );
        assert_eq!(keys_of(&Overlay::new(&base), b"b"), vec![b"b/1".to_vec()]);
        assert_eq!(base.scan_prefix(b"a/").len(), 2);
    }

    /// Counts the reads that reach it.
    struct Counting<'a> {
        base: &'a MemoryStore,
        reads: std::cell::Cell<usize>,
    }

    impl StateView for Counting<'_> {
        fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
            self.reads.set(self.reads.get() + 1);
            self.base.get(key)
        }

        fn scan_prefix(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
            self.reads.set(self.reads.get() + 1);
            self.base.scan_prefix(prefix)
        }
    }

    #[test]
    fn a_read_cache_answers_as_its_base_and_reads_each_thing_once() {
        let mut base = MemoryStore::new();
        let mut w = WriteSet::new();
        for i in 0..100u32 {
            w.put(format!("big/{i:03}").into_bytes(), vec![i as u8]);
        }
        w.put(b"a/1".to_vec(), b"one".to_vec());
        w.put(b"a/2".to_vec(), b"two".to_vec());
        base.apply(&w);
        let counting = Counting {
            base: &base,
            reads: std::cell::Cell::new(0),
        };
        let cache = ReadCache::new(&counting);
        for _ in 0..3 {
            for key in [&b"a/1"[..], b"a/2", b"absent", b"big/050"] {
                assert_eq!(cache.get(key), base.get(key), "{key:?}");
                let mut lent = None;
                let found = cache.read_with(key, &mut |v| lent = Some(v.to_vec()));
                assert_eq!((found, lent), (base.get(key).is_some(), base.get(key)));
            }
            assert_eq!(cache.scan_prefix(b"a/"), base.scan_prefix(b"a/"));
            let mut keys = Vec::new();
            cache.for_each_key(b"a/", &mut |k| keys.push(k.to_vec()));
            assert_eq!(keys, vec![b"a/1".to_vec(), b"a/2".to_vec()]);
        }
        assert_eq!(
            counting.reads.get(),
            5,
            "four keys and one scan, each read once"
        );
        // A long scan is not kept: read from the base each time.
        for _ in 0..2 {
            assert_eq!(cache.scan_prefix(b"big/"), base.scan_prefix(b"big/"));
        }
        assert_eq!(counting.reads.get(), 7);
    }

    #[test]
    fn root_depends_on_every_write_and_on_history() {
        let mut w = WriteSet::new();
        w.put(b"k".to_vec(), b"v".to_vec());
        let s = crate::crypto::Suite::Ed25519Blake3;
        let r1 = chain_root(s, &[0; 32], &w);
        let mut w2 = WriteSet::new();
        w2.put(b"k".to_vec(), b"V".to_vec());
        assert_ne!(r1, chain_root(s, &[0; 32], &w2));
        assert_ne!(r1, chain_root(s, &[1; 32], &w));
        assert_eq!(r1, chain_root(s, &[0; 32], &w));
        assert_ne!(r1, chain_root(crate::crypto::Suite::Sm2Sm3, &[0; 32], &w));
    }
}
