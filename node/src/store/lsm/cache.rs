//! The block cache: decoded blocks of open runs, by (run, offset), within a byte budget.
//!
//! Eviction is CLOCK (second chance): a block read since the hand last passed it is kept
//! one more turn. Reads of whole runs for merging bypass the cache, so a merge does not
//! push out what the chain reads.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use super::run::Block;

type Key = (u64, u64);

pub struct BlockCache {
    capacity_bytes: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    blocks: HashMap<Key, (Arc<Block>, bool)>,
    /// The clock's ring: every cached key once.
    ring: VecDeque<Key>,
    bytes: usize,
}

impl BlockCache {
    pub fn new(capacity_bytes: usize) -> BlockCache {
        BlockCache {
            capacity_bytes,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn get(&self, run: u64, offset: u64) -> Option<Arc<Block>> {
        let mut inner = self.inner.lock().expect("block cache lock poisoned");
        let (block, referenced) = inner.blocks.get_mut(&(run, offset))?;
        *referenced = true;
        Some(block.clone())
    }

    pub fn insert(&self, run: u64, offset: u64, block: Arc<Block>) {
        let size = block.size();
        let mut inner = self.inner.lock().expect("block cache lock poisoned");
        if inner.blocks.insert((run, offset), (block, false)).is_some() {
            return;
        }
        inner.ring.push_back((run, offset));
        inner.bytes += size;
        while inner.bytes > self.capacity_bytes {
            let Some(key) = inner.ring.pop_front() else {
                break;
            };
            match inner.blocks.get_mut(&key) {
                Some((_, referenced)) if *referenced => {
                    *referenced = false;
                    inner.ring.push_back(key);
                }
                Some(_) => {
                    let (block, _) = inner.blocks.remove(&key).expect("present");
                    inner.bytes -= block.size();
                }
                None => {}
            }
        }
    }

    /// Drops the blocks of a run that is no longer read.
    pub fn forget_run(&self, run: u64) {
        let mut inner = self.inner.lock().expect("block cache lock poisoned");
        let Inner {
            blocks,
            ring,
            bytes,
            ..
        } = &mut *inner;
        ring.retain(|(r, offset)| {
            if *r != run {
                return true;
            }
            if let Some((block, _)) = blocks.remove(&(*r, *offset)) {
                *bytes -= block.size();
            }
            false
        });
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.inner.lock().expect("block cache lock poisoned").bytes
    }
}
