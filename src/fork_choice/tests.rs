//! The proto-array store against a literal transcription of the spec's `get_head`
//! (`filter_block_tree`, `get_weight` by `is_ancestor` over every latest message) on random
//! trees, votes, balances, checkpoints, boosts, equivocations and pruning.

use std::collections::{HashMap, HashSet};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::consensus::primitives::Hash256;

const SPE: u64 = 8;

fn config() -> ForkChoiceConfig {
    ForkChoiceConfig {
        slots_per_epoch: SPE,
        min_seed_lookahead: 1,
        slot_duration_ms: 6000,
        proposer_score_boost: 40,
        reorg_head_weight_threshold: 20,
        reorg_parent_weight_threshold: 160,
        reorg_max_epochs_since_finalization: 2,
        proposer_reorg_cutoff_bps: 1667,
        attestation_due_bps: 3333,
        prune_threshold: 4,
    }
}

fn root(i: u64) -> Hash256 {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&i.to_be_bytes());
    // Spread the tie-break order.
    b[8] = (i.wrapping_mul(0x9e37_79b9) >> 7) as u8;
    Hash256::from(b)
}

/// The spec's store, literally.
#[derive(Clone)]
struct Naive {
    blocks: HashMap<Hash256, BlockSummary>,
    justified: Checkpoint,
    finalized: Checkpoint,
    current_epoch: u64,
    boost: Hash256,
    balances: Vec<u64>,
    total_active: u64,
    latest: HashMap<u64, (u64, Hash256)>,
    equivocating: HashSet<u64>,
}

impl Naive {
    fn ancestor(&self, r: Hash256, slot: u64) -> Option<Hash256> {
        let b = self.blocks.get(&r)?;
        if b.slot > slot {
            self.ancestor(b.parent_root, slot)
        } else {
            Some(r)
        }
    }
    fn is_ancestor(&self, r: Hash256, a: Hash256) -> bool {
        self.ancestor(r, self.blocks[&a].slot) == Some(a)
    }
    fn weight(&self, node: Hash256) -> u64 {
        let mut w = 0;
        for (i, (_, r)) in &self.latest {
            if self.equivocating.contains(i) {
                continue;
            }
            if self.is_ancestor(*r, node) {
                w += self.balances.get(*i as usize).copied().unwrap_or(0);
            }
        }
        if self.boost != Hash256::ZERO && self.is_ancestor(self.boost, node) {
            w += self.total_active / SPE * 40 / 100;
        }
        w
    }
    fn filter(&self, r: Hash256, out: &mut HashSet<Hash256>) -> bool {
        let children: Vec<Hash256> = self
            .blocks
            .values()
            .filter(|b| b.parent_root == r && b.root != r)
            .map(|b| b.root)
            .collect();
        if !children.is_empty() {
            let res: Vec<bool> = children.iter().map(|c| self.filter(*c, out)).collect();
            if res.iter().any(|x| *x) {
                out.insert(r);
                return true;
            }
            return false;
        }
        let b = &self.blocks[&r];
        let vs = if self.current_epoch > b.slot / SPE {
            b.unrealized_justified_checkpoint
        } else {
            b.justified_checkpoint
        };
        let cj = self.justified.epoch == 0
            || vs.epoch == self.justified.epoch
            || vs.epoch + 2 >= self.current_epoch;
        let cf = self.finalized.epoch == 0
            || self.ancestor(r, self.finalized.epoch * SPE) == Some(self.finalized.root);
        if cj && cf {
            out.insert(r);
            true
        } else {
            false
        }
    }
    /// `get_viable_for_head_checks`: leaves of the filtered tree reached from the justified root.
    fn viable_leaves(&self) -> Vec<(Hash256, u64)> {
        let mut viable = HashSet::new();
        self.filter(self.justified.root, &mut viable);
        let mut pending = vec![self.justified.root];
        let mut leaves = Vec::new();
        while let Some(node) = pending.pop() {
            let children: Vec<Hash256> = self
                .blocks
                .values()
                .filter(|b| b.parent_root == node && viable.contains(&b.root))
                .map(|b| b.root)
                .collect();
            if children.is_empty() {
                leaves.push((node, self.weight(node)));
            } else {
                pending.extend(children);
            }
        }
        leaves.sort();
        leaves
    }

    fn head(&self) -> Hash256 {
        let mut viable = HashSet::new();
        self.filter(self.justified.root, &mut viable);
        let mut head = self.justified.root;
        loop {
            let children: Vec<Hash256> = self
                .blocks
                .values()
                .filter(|b| b.parent_root == head && viable.contains(&b.root))
                .map(|b| b.root)
                .collect();
            if children.is_empty() {
                return head;
            }
            head = children
                .into_iter()
                .max_by_key(|c| (self.weight(*c), *c))
                .unwrap();
        }
    }
}

fn cp(rng: &mut StdRng, blocks: &[BlockSummary], max_epoch: u64) -> Checkpoint {
    let b = blocks[rng.gen_range(0..blocks.len())];
    Checkpoint::new(rng.gen_range(0..=max_epoch), b.root)
}

#[test]
fn proto_array_head_equals_spec_head() {
    for seed in 0..300_u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let validators = rng.gen_range(1..40_usize);
        let anchor = BlockSummary {
            root: root(0),
            parent_root: Hash256::repeat_byte(0xee),
            slot: 0,
            proposer_index: 0,
            justified_checkpoint: Checkpoint::new(0, root(0)),
            finalized_checkpoint: Checkpoint::new(0, root(0)),
            unrealized_justified_checkpoint: Checkpoint::new(0, root(0)),
            unrealized_finalized_checkpoint: Checkpoint::new(0, root(0)),
        };
        let balances: Vec<u64> = (0..validators)
            .map(|_| rng.gen_range(0..5) * 1000)
            .collect();
        let jb = |cp: Checkpoint, balances: &Vec<u64>| JustifiedBalances {
            checkpoint: cp,
            effective_balances: balances.clone(),
            total_active_balance: balances.iter().sum::<u64>().max(1),
        };
        let mut fc = ForkChoice::get_forkchoice_store(
            config(),
            anchor.root,
            anchor.parent_root,
            0,
            0,
            0,
            anchor.justified_checkpoint,
            anchor.finalized_checkpoint,
            100,
            jb(anchor.justified_checkpoint, &balances),
        )
        .unwrap();
        let mut naive = Naive {
            blocks: HashMap::from([(anchor.root, anchor)]),
            justified: anchor.justified_checkpoint,
            finalized: anchor.finalized_checkpoint,
            current_epoch: 0,
            boost: Hash256::ZERO,
            balances: balances.clone(),
            total_active: balances.iter().sum::<u64>().max(1),
            latest: HashMap::new(),
            equivocating: HashSet::new(),
        };
        let mut all: Vec<BlockSummary> = vec![anchor];
        let mut next = 1_u64;
        for step in 0..60 {
            match rng.gen_range(0..10) {
                0..=3 => {
                    // A block on a random live parent.
                    let parents: Vec<&BlockSummary> =
                        all.iter().filter(|b| fc.contains_block(&b.root)).collect();
                    let parent = *parents[rng.gen_range(0..parents.len())];
                    let slot = parent.slot + rng.gen_range(1..6);
                    let max_epoch = slot / SPE;
                    let b = BlockSummary {
                        root: root(next),
                        parent_root: parent.root,
                        slot,
                        proposer_index: rng.gen_range(0..3),
                        justified_checkpoint: cp(&mut rng, &all, max_epoch),
                        finalized_checkpoint: cp(&mut rng, &all, max_epoch),
                        unrealized_justified_checkpoint: cp(&mut rng, &all, max_epoch),
                        unrealized_finalized_checkpoint: cp(&mut rng, &all, max_epoch),
                    };
                    next += 1;
                    // Time must have reached the slot.
                    let t = 100 + (slot * 6).max(fc.time() - 100);
                    fc.on_tick(t).unwrap();
                    if fc.justified_balances_checkpoint() != Some(fc.justified_checkpoint()) {
                        fc.set_justified_balances(jb(fc.justified_checkpoint(), &naive.balances));
                    }
                    if !fc.contains_block(&fc.justified_checkpoint().root) {
                        break;
                    }
                    naive.justified = fc.justified_checkpoint();
                    naive.finalized = fc.finalized_checkpoint();
                    naive.boost = fc.proposer_boost_root();
                    naive.current_epoch = fc.get_current_store_epoch().unwrap();
                    let head_before = naive.head();
                    fc.on_block(&b).unwrap();
                    // `on_block` computed the head before adding the block.
                    let _ = head_before;
                    naive.blocks.insert(b.root, b);
                    all.push(b);
                }
                4..=6 => {
                    // Votes.
                    let live: Vec<&BlockSummary> =
                        all.iter().filter(|b| fc.contains_block(&b.root)).collect();
                    for _ in 0..rng.gen_range(1..10) {
                        let v = rng.gen_range(0..validators as u64);
                        let target = *live[rng.gen_range(0..live.len())];
                        let epoch = rng.gen_range(0..6);
                        fc.update_latest_messages([v], epoch, &target.root).unwrap();
                        if !naive.equivocating.contains(&v) {
                            let e = naive.latest.get(&v);
                            if e.is_none() || epoch > e.unwrap().0 {
                                naive.latest.insert(v, (epoch, target.root));
                            }
                        }
                    }
                }
                7 => {
                    // Move justified/finalized (descending from each other, as the store does
                    // in practice, or not).
                    let live: Vec<BlockSummary> = all
                        .iter()
                        .filter(|b| fc.contains_block(&b.root))
                        .copied()
                        .collect();
                    let j = live[rng.gen_range(0..live.len())];
                    let jcp = Checkpoint::new(fc.justified_checkpoint().epoch + 1, j.root);
                    let f = if rng.gen_bool(0.7) {
                        // An ancestor of j.
                        let mut f = j;
                        for _ in 0..rng.gen_range(0..4) {
                            if let Some(p) = naive.blocks.get(&f.parent_root) {
                                if fc.contains_block(&p.root) {
                                    f = *p;
                                }
                            }
                        }
                        f
                    } else {
                        live[rng.gen_range(0..live.len())]
                    };
                    let fcp = Checkpoint::new(
                        (fc.finalized_checkpoint().epoch + 1).max(f.slot.div_ceil(SPE)),
                        f.root,
                    );
                    fc.update_checkpoints(jcp, fcp);
                    naive.justified = fc.justified_checkpoint();
                    naive.finalized = fc.finalized_checkpoint();
                    let nb: Vec<u64> = (0..validators)
                        .map(|_| rng.gen_range(0..5) * 1000)
                        .collect();
                    fc.set_justified_balances(jb(fc.justified_checkpoint(), &nb));
                    naive.total_active = nb.iter().sum::<u64>().max(1);
                    naive.balances = nb;
                }
                8 => {
                    let v = rng.gen_range(0..validators as u64);
                    fc.add_equivocating_indices([v]);
                    naive.equivocating.insert(v);
                }
                _ => {
                    let t = fc.time() + rng.gen_range(0..20);
                    fc.on_tick(t).unwrap();
                    naive.justified = fc.justified_checkpoint();
                    naive.finalized = fc.finalized_checkpoint();
                    if fc.justified_balances_checkpoint() != Some(fc.justified_checkpoint()) {
                        fc.set_justified_balances(jb(fc.justified_checkpoint(), &naive.balances));
                    }
                    if rng.gen_bool(0.3) {
                        let pruned = fc.prune().unwrap();
                        let _ = pruned;
                    }
                }
            }
            naive.justified = fc.justified_checkpoint();
            naive.finalized = fc.finalized_checkpoint();
            naive.boost = fc.proposer_boost_root();
            naive.current_epoch = fc.get_current_store_epoch().unwrap();
            if fc.justified_balances_checkpoint() != Some(fc.justified_checkpoint()) {
                fc.set_justified_balances(jb(fc.justified_checkpoint(), &naive.balances));
            }
            if !fc.contains_block(&naive.justified.root) {
                break;
            }
            let expected = naive.head();
            let got = fc.get_head().unwrap();
            assert_eq!(got, expected, "seed {seed} step {step}");
            let mut leaves = fc.get_viable_for_head_roots_and_weights().unwrap();
            leaves.sort();
            assert_eq!(
                leaves,
                naive.viable_leaves(),
                "leaves seed {seed} step {step}"
            );
            // Weights of every live block.
            let live: Vec<BlockSummary> = all
                .iter()
                .filter(|b| fc.contains_block(&b.root))
                .copied()
                .collect();
            for b in &live {
                let pruned_ancestry = naive.finalized.epoch > 0
                    && !fc
                        .is_ancestor(&b.root, &naive.finalized.root)
                        .unwrap_or(false);
                if !pruned_ancestry {
                    assert_eq!(
                        fc.get_weight(&b.root).unwrap(),
                        naive.weight(b.root),
                        "weight seed {seed} step {step}"
                    );
                }
            }
        }
    }
}

#[test]
fn on_tick_resets_boost_and_pulls_up_at_epoch_boundary() {
    let a = root(0);
    let cp0 = Checkpoint::new(0, a);
    let mut fc = ForkChoice::get_forkchoice_store(
        config(),
        a,
        Hash256::ZERO,
        0,
        0,
        0,
        cp0,
        cp0,
        1000,
        JustifiedBalances {
            checkpoint: cp0,
            effective_balances: vec![32; 4],
            total_active_balance: 128,
        },
    )
    .unwrap();
    assert_eq!(fc.time(), 1000);
    let b = BlockSummary {
        root: root(1),
        parent_root: a,
        slot: 1,
        proposer_index: 1,
        justified_checkpoint: cp0,
        finalized_checkpoint: cp0,
        unrealized_justified_checkpoint: Checkpoint::new(1, root(1)),
        unrealized_finalized_checkpoint: cp0,
    };
    fc.on_tick(1006).unwrap();
    fc.on_block(&b).unwrap();
    assert_eq!(
        fc.proposer_boost_root(),
        b.root,
        "timely first block is boosted"
    );
    assert_eq!(fc.unrealized_justified_checkpoint().epoch, 1);
    assert_eq!(
        fc.justified_checkpoint().epoch,
        0,
        "not realized within the epoch"
    );
    fc.on_tick(1011).unwrap();
    assert_eq!(
        fc.proposer_boost_root(),
        b.root,
        "same slot keeps the boost"
    );
    fc.on_tick(1012).unwrap();
    assert_eq!(fc.proposer_boost_root(), Hash256::ZERO);
    fc.on_tick(1000 + 6 * 8 + 100).unwrap();
    assert_eq!(fc.justified_checkpoint(), Checkpoint::new(1, root(1)));
    assert!(matches!(
        fc.get_head(),
        Err(ForkChoiceError::JustifiedBalancesMissing { .. })
    ));
}

#[test]
fn rejects_bad_attestations() {
    let a = root(0);
    let cp0 = Checkpoint::new(0, a);
    let mut fc = ForkChoice::get_forkchoice_store(
        config(),
        a,
        Hash256::ZERO,
        0,
        0,
        0,
        cp0,
        cp0,
        0,
        JustifiedBalances {
            checkpoint: cp0,
            effective_balances: vec![32; 4],
            total_active_balance: 128,
        },
    )
    .unwrap();
    let att = AttestationInfo {
        slot: 0,
        beacon_block_root: a,
        target: cp0,
    };
    assert!(matches!(
        fc.validate_on_attestation(&att, false),
        Err(ForkChoiceError::AttestationTooEarly { .. })
    ));
    fc.on_tick(6).unwrap();
    fc.validate_on_attestation(&att, false).unwrap();
    let unknown = AttestationInfo {
        beacon_block_root: root(9),
        ..att
    };
    assert!(matches!(
        fc.validate_on_attestation(&unknown, false),
        Err(ForkChoiceError::AttestationUnknownHeadBlock(_))
    ));
    let wrong_epoch = AttestationInfo {
        target: Checkpoint::new(1, a),
        ..att
    };
    assert!(matches!(
        fc.validate_on_attestation(&wrong_epoch, true),
        Err(ForkChoiceError::AttestationTargetEpochMismatch { .. })
    ));
    fc.on_tick(6 * 8 * 3).unwrap();
    assert!(matches!(
        fc.validate_on_attestation(&att, false),
        Err(ForkChoiceError::AttestationTargetEpochNotCurrentOrPrevious { .. })
    ));
    fc.validate_on_attestation(&att, true).unwrap();
}
