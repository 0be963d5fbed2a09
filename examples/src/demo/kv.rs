//! KV-aware routing: workers keep a cache of fixed-size blocks of prompt tokens and publish
//! what enters and leaves it; the router keeps an index of which worker holds which blocks,
//! sends a request where most of its prompt is cached and the load is light, and times
//! each stage (hashing, finding matches, scheduling).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Instant;

use dynamo_metrics::builtin::router::{
    KvEventLabels, KvEventStatus, KvEventType, KvIndexerMetrics, RouterLabels,
    RouterOverheadMetrics,
};

/// KV cache block size of the mock models, in tokens.
pub const BLOCK_SIZE: usize = 16;

/// The hash of each whole block of `tokens`, by its own contents.
pub fn block_hashes(tokens: &[u64]) -> Vec<u64> {
    tokens
        .chunks_exact(BLOCK_SIZE)
        .map(|block| {
            let mut h = DefaultHasher::new();
            block.hash(&mut h);
            h.finish()
        })
        .collect()
}

/// Each block's hash chained with every block before it: equal only where whole prefixes
/// are equal, so a block's sequence hash names the prompt prefix that ends with it.
pub fn sequence_hashes(blocks: &[u64]) -> Vec<u64> {
    let mut parent = 0u64;
    blocks
        .iter()
        .map(|b| {
            let mut h = DefaultHasher::new();
            (parent, b).hash(&mut h);
            parent = h.finish();
            parent
        })
        .collect()
}

/// What changed in a worker's cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvEvent {
    /// `blocks` entered the cache after `parent` (the block before the first of them).
    Stored {
        /// The block before the first stored one, `None` at a prompt's start.
        parent: Option<u64>,
        /// Sequence hashes, prefix order.
        blocks: Vec<u64>,
    },
    /// `blocks` left the cache.
    Removed {
        /// Sequence hashes.
        blocks: Vec<u64>,
    },
    /// The cache was dropped whole.
    Cleared,
}

/// A worker's KV cache: at most `capacity` blocks, the least recently used leaving first.
#[derive(Debug)]
pub struct KvCache {
    capacity: usize,
    /// Sequence hash -> the tick it was last used at.
    blocks: HashMap<u64, u64>,
    /// (tick, hash) in use order; stale entries are skipped when evicting.
    order: VecDeque<(u64, u64)>,
    tick: u64,
}

impl KvCache {
    /// An empty cache of `capacity` blocks.
    pub fn new(capacity: usize) -> Self {
        KvCache {
            capacity,
            blocks: HashMap::new(),
            order: VecDeque::new(),
            tick: 0,
        }
    }

    /// Blocks held.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Total blocks it can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Takes a prompt of sequence hashes `seq`: how many of its first blocks were cached,
    /// and the events of what was stored and evicted to make room.
    pub fn admit(&mut self, seq: &[u64]) -> (usize, Vec<KvEvent>) {
        let cached = seq
            .iter()
            .take_while(|h| self.blocks.contains_key(h))
            .count();
        let mut events = Vec::new();
        for h in seq {
            self.tick += 1;
            self.blocks.insert(*h, self.tick);
            self.order.push_back((self.tick, *h));
        }
        let stored = &seq[cached..];
        if !stored.is_empty() {
            events.push(KvEvent::Stored {
                parent: cached.checked_sub(1).map(|i| seq[i]),
                blocks: stored.to_vec(),
            });
        }
        let mut removed = Vec::new();
        while self.blocks.len() > self.capacity {
            let Some((tick, h)) = self.order.pop_front() else {
                break;
            };
            if self.blocks.get(&h) == Some(&tick) {
                self.blocks.remove(&h);
                removed.push(h);
            }
        }
        if !removed.is_empty() {
            events.push(KvEvent::Removed { blocks: removed });
        }
        (cached, events)
    }
}

/// The router's index: which workers hold each block, from the workers' events.
#[derive(Debug, Default)]
pub struct KvIndex {
    holders: HashMap<u64, BTreeSet<usize>>,
}

impl KvIndex {
    /// Applies `event` of `worker` and says how it went.
    pub fn apply(&mut self, worker: usize, event: &KvEvent) -> (KvEventType, KvEventStatus) {
        match event {
            KvEvent::Stored { parent, blocks } => {
                let status = if blocks.is_empty() {
                    KvEventStatus::InvalidBlock
                } else if parent.is_some_and(|p| !self.held_by(p, worker)) {
                    KvEventStatus::ParentBlockNotFound
                } else {
                    for b in blocks {
                        self.holders.entry(*b).or_default().insert(worker);
                    }
                    KvEventStatus::Ok
                };
                (KvEventType::Stored, status)
            }
            KvEvent::Removed { blocks } => {
                let mut status = KvEventStatus::Ok;
                for b in blocks {
                    let held = self
                        .holders
                        .get_mut(b)
                        .map(|w| (w.remove(&worker), w.is_empty()));
                    match held {
                        Some((true, now_empty)) => {
                            if now_empty {
                                self.holders.remove(b);
                            }
                        }
                        _ => status = KvEventStatus::BlockNotFound,
                    }
                }
                (KvEventType::Removed, status)
            }
            KvEvent::Cleared => {
                self.holders.retain(|_, workers| {
                    workers.remove(&worker);
                    !workers.is_empty()
                });
                (KvEventType::Cleared, KvEventStatus::Ok)
            }
        }
    }

    fn held_by(&self, block: u64, worker: usize) -> bool {
        self.holders
            .get(&block)
            .is_some_and(|w| w.contains(&worker))
    }

    /// How many of the first blocks of `seq` each of `workers` workers holds.
    pub fn overlaps(&self, seq: &[u64], workers: usize) -> Vec<usize> {
        let mut overlap = vec![0; workers];
        let mut alive: BTreeSet<usize> = (0..workers).collect();
        for h in seq {
            let Some(holders) = self.holders.get(h) else {
                break;
            };
            alive.retain(|w| holders.contains(w));
            if alive.is_empty() {
                break;
            }
            for w in &alive {
                overlap[*w] += 1;
            }
        }
        overlap
    }
}

/// Where a request goes, and what the router knew.
#[derive(Clone, Debug)]
pub struct Routed {
    /// The chosen worker.
    pub worker: usize,
    /// Whole prompt blocks.
    pub blocks: usize,
    /// Of those, the ones the chosen worker holds.
    pub cached_blocks: usize,
}

/// Picks a worker for a prompt of `tokens`: the lowest cost of the blocks it must prefill
/// plus the blocks it is already decoding (`load`), timing each stage into `overhead`.
pub fn route(
    index: &KvIndex,
    tokens: &[u64],
    load: &[usize],
    overhead: &RouterOverheadMetrics,
    router: &RouterLabels,
) -> Routed {
    let ms = |start: Instant| start.elapsed().as_secs_f64() * 1000.0;
    let started = Instant::now();
    let blocks = block_hashes(tokens);
    overhead
        .overhead_block_hashing_ms
        .observe(router, ms(started));
    let t = Instant::now();
    let seq = sequence_hashes(&blocks);
    overhead.overhead_seq_hashing_ms.observe(router, ms(t));
    let t = Instant::now();
    let overlaps = index.overlaps(&seq, load.len());
    overhead
        .overhead_indexer_find_matches_ms
        .observe(router, ms(t));
    let t = Instant::now();
    let worker = (0..load.len())
        .min_by_key(|w| (seq.len() - overlaps[*w]) + load[*w])
        .unwrap_or(0);
    overhead.overhead_scheduling_ms.observe(router, ms(t));
    overhead.overhead_total_ms.observe(router, ms(started));
    Routed {
        worker,
        blocks: seq.len(),
        cached_blocks: overlaps.get(worker).copied().unwrap_or(0),
    }
}

/// Applies `event` of `worker` to `index`, counted by type and outcome.
pub fn apply(index: &mut KvIndex, metrics: &KvIndexerMetrics, worker: usize, event: &KvEvent) {
    let (event_type, status) = index.apply(worker, event);
    metrics
        .kv_cache_events_applied
        .inc(&KvEventLabels { event_type, status });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(words: std::ops::Range<u64>) -> Vec<u64> {
        words.collect()
    }

    #[test]
    fn a_repeated_prefix_goes_to_the_worker_that_has_it() {
        let mut caches = [KvCache::new(64), KvCache::new(64)];
        let mut index = KvIndex::default();
        let tokens = prompt(0..64);
        let seq = sequence_hashes(&block_hashes(&tokens));
        assert_eq!(seq.len(), 4);
        let (cached, events) = caches[1].admit(&seq);
        assert_eq!(cached, 0);
        for e in &events {
            assert_eq!(index.apply(1, e).1, KvEventStatus::Ok);
        }
        assert_eq!(index.overlaps(&seq, 2), [0, 4]);
        // The same prefix and more: worker 1 holds the first four blocks.
        let longer = sequence_hashes(&block_hashes(&prompt(0..96)));
        assert_eq!(index.overlaps(&longer, 2), [0, 4]);
        let (cached, _) = caches[1].admit(&longer);
        assert_eq!(cached, 4);
        // A prompt that differs in its first block shares nothing.
        let other = sequence_hashes(&block_hashes(&prompt(1..65)));
        assert_eq!(index.overlaps(&other, 2), [0, 0]);
    }

    #[test]
    fn events_keep_the_index_right() {
        let mut cache = KvCache::new(4);
        let mut index = KvIndex::default();
        let a = sequence_hashes(&block_hashes(&prompt(0..64)));
        let b = sequence_hashes(&block_hashes(&prompt(100..164)));
        for seq in [&a, &b] {
            let (_, events) = cache.admit(seq);
            for e in &events {
                assert_eq!(index.apply(0, e).1, KvEventStatus::Ok, "{e:?}");
            }
        }
        // `a` was evicted to make room for `b`: the index no longer sends `a` to worker 0.
        assert_eq!(cache.len(), 4);
        assert_eq!(index.overlaps(&a, 1), [0]);
        assert_eq!(index.overlaps(&b, 1), [4]);
        // A block removed twice, or stored after a parent the worker never had.
        let removed = KvEvent::Removed { blocks: vec![a[0]] };
        assert_eq!(index.apply(0, &removed).1, KvEventStatus::BlockNotFound);
        let orphan = KvEvent::Stored {
            parent: Some(a[2]),
            blocks: vec![a[3]],
        };
        assert_eq!(
            index.apply(0, &orphan).1,
            KvEventStatus::ParentBlockNotFound
        );
        let empty = KvEvent::Stored {
            parent: None,
            blocks: vec![],
        };
        assert_eq!(index.apply(0, &empty).1, KvEventStatus::InvalidBlock);
        assert_eq!(
            index.apply(0, &KvEvent::Cleared),
            (KvEventType::Cleared, KvEventStatus::Ok)
        );
        assert_eq!(index.overlaps(&b, 1), [0]);
    }
}
