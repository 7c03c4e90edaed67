//! Operation pools: attestations (naive aggregation and block packing), sync committee messages
//! and contributions (the block's `SyncAggregate`), exits, slashings, BLS-to-execution changes.
//!
//! Everything here holds data whose signatures were already verified by the import pipeline;
//! the pools only combine, bound and choose. Every pool is bounded (see [`PoolBounds`], derived
//! from the memory budget's `OperationPool` share), dropping the oldest entries first.

use super::spec;
use crate::consensus::bls::{self, Signature};
use crate::consensus::primitives::*;
use crate::store::budget::{Consumer, MemoryBudget};
use spec::transition::block::{
    check_attestation, check_attester_slashing, check_bls_to_execution_change,
    check_proposer_slashing, check_voluntary_exit,
};
use spec::transition::helpers::{
    compute_epoch_at_slot, get_attestation_participation_flag_indices, get_beacon_committee,
    get_current_epoch, has_flag,
};
use spec::{
    AggregationBits, Attestation, AttestationData, AttesterSlashing, BeaconState, ProposerSlashing,
    SignedBLSToExecutionChange, SignedVoluntaryExit, SyncAggregate, SyncCommitteeContribution,
};
use ssz_types::{BitList, BitVector};
use std::collections::{BTreeMap, HashMap, HashSet};
use tree_hash::TreeHash;

/// Bytes one pooled attestation entry costs, for the bound: the `AttestationData` (128 B), a
/// committee's bits (up to 2,048 bits mainnet = 256 B), a decompressed signature (~200 B) and
/// map overhead, rounded up.
pub const ATTESTATION_ENTRY_BYTES: u64 = 1024;
/// Bytes of a pooled sync committee message or contribution (root, bits, signature, overhead).
pub const SYNC_ENTRY_BYTES: u64 = 512;
/// Bytes of a pooled exit / BLS change / slashing (an attester slashing can reach ~50 KB on
/// mainnet; the bound for those is a fixed count, see [`PoolBounds`]).
pub const OPERATION_ENTRY_BYTES: u64 = 512;
/// Aggregates kept per (attestation data, committee): more only repeat the same bits.
pub const AGGREGATES_PER_COMMITTEE: usize = 16;

/// The bounds of the pools, in entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolBounds {
    /// Aggregates (over all attestation data and committees). Half of the operation-pool
    /// budget: at 2 GiB that is ~52k entries, about 3 epochs of mainnet's 64 committees × 32
    /// slots even with a dozen aggregates each.
    pub attestations: usize,
    /// Sync committee messages + contributions: a quarter of the budget.
    pub sync: usize,
    /// Exits and BLS changes each: an eighth of the budget each.
    pub operations: usize,
    /// Proposer and attester slashings each: 64 (a block takes at most 16 / 1, and slashings
    /// are rare; attester slashings are large).
    pub slashings: usize,
}

impl PoolBounds {
    pub fn from_budget(budget: &MemoryBudget) -> Self {
        let share = budget.bytes(Consumer::OperationPool);
        let n = |bytes: u64, per: u64| usize::try_from(bytes / per).unwrap_or(usize::MAX).max(16);
        PoolBounds {
            attestations: n(share / 2, ATTESTATION_ENTRY_BYTES),
            sync: n(share / 4, SYNC_ENTRY_BYTES),
            operations: n(share / 8, OPERATION_ENTRY_BYTES),
            slashings: 64,
        }
    }
}

fn decode_signature(bytes: &spec::BLSSignature) -> Option<Signature> {
    Signature::from_bytes(bytes.as_slice()).ok()
}

fn aggregate_two(a: &Signature, b: &Signature) -> Option<Signature> {
    bls::aggregate(&[*a, *b]).ok()
}

/// One committee's aggregate.
#[derive(Debug, Clone)]
struct CommitteeAggregate {
    bits: AggregationBits,
    signature: Signature,
}

impl CommitteeAggregate {
    fn count(&self) -> usize {
        self.bits.num_set_bits()
    }

    fn is_subset_of(&self, other: &CommitteeAggregate) -> bool {
        self.bits.len() == other.bits.len()
            && self
                .bits
                .iter()
                .zip(other.bits.iter())
                .all(|(a, b)| !a || b)
    }

    fn overlaps(&self, other: &CommitteeAggregate) -> bool {
        self.bits.iter().zip(other.bits.iter()).any(|(a, b)| a && b)
    }
}

#[derive(Debug, Clone)]
struct DataEntry {
    data: AttestationData,
    /// Per committee index: the naive aggregate (index 0, grown from single attestations) and
    /// aggregates received whole.
    committees: BTreeMap<CommitteeIndex, Vec<CommitteeAggregate>>,
}

/// Attestations by `AttestationData`, per committee.
#[derive(Debug, Default)]
pub struct AttestationPool {
    by_data: HashMap<Root, DataEntry>,
    entries: usize,
    bound: usize,
}

/// The committee and position of a single attestation's attester (found by the caller from the
/// committee of `data.slot`).
#[derive(Debug, Clone, Copy)]
pub struct SingleVote {
    pub committee_index: CommitteeIndex,
    pub committee_len: usize,
    pub position: usize,
}

impl AttestationPool {
    pub fn new(bound: usize) -> Self {
        Self {
            by_data: HashMap::new(),
            entries: 0,
            bound,
        }
    }

    pub fn len(&self) -> usize {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Naive aggregation: adds one attester's (verified) signature to the pool's aggregate of
    /// its committee for `data`. Returns false if it was already in, or is malformed.
    pub fn insert_single(
        &mut self,
        data: &AttestationData,
        vote: SingleVote,
        signature: &spec::BLSSignature,
    ) -> bool {
        let Some(signature) = decode_signature(signature) else {
            return false;
        };
        let Ok(mut bits) = AggregationBits::with_capacity(vote.committee_len) else {
            return false;
        };
        if bits.set(vote.position, true).is_err() {
            return false;
        }
        let single = CommitteeAggregate { bits, signature };
        self.insert(data, vote.committee_index, single, true)
    }

    /// An aggregate of one committee (an `Attestation` with exactly one committee bit), e.g.
    /// from a `SignedAggregateAndProof`. Returns false if it adds nothing.
    pub fn insert_aggregate(&mut self, attestation: &Attestation) -> bool {
        let committees: Vec<CommitteeIndex> = (0u64..)
            .zip(attestation.committee_bits.iter())
            .filter(|(_, b)| *b)
            .map(|(i, _)| i)
            .collect();
        let [committee_index] = committees[..] else {
            return false;
        };
        let Some(signature) = decode_signature(&attestation.signature) else {
            return false;
        };
        let aggregate = CommitteeAggregate {
            bits: attestation.aggregation_bits.clone(),
            signature,
        };
        self.insert(&attestation.data, committee_index, aggregate, false)
    }

    fn insert(
        &mut self,
        data: &AttestationData,
        committee_index: CommitteeIndex,
        new: CommitteeAggregate,
        naive: bool,
    ) -> bool {
        if new.count() == 0 {
            return false;
        }
        let root = data.tree_hash_root();
        // A new aggregate needs room: the oldest slot older than this one goes (newer votes are
        // worth more); if there is none, the new one is refused.
        let would_add = self.by_data.get(&root).is_none_or(|e| {
            e.committees.get(&committee_index).is_none_or(|list| {
                let covered = list.iter().any(|a| new.is_subset_of(a));
                let merges = naive
                    && list
                        .iter()
                        .any(|a| a.bits.len() == new.bits.len() && !a.overlaps(&new));
                !covered && !merges
            })
        });
        if would_add && self.entries >= self.bound && !self.evict_older_than(data.slot) {
            return false;
        }
        let entry = self.by_data.entry(root).or_insert_with(|| DataEntry {
            data: data.clone(),
            committees: BTreeMap::new(),
        });
        let list = entry.committees.entry(committee_index).or_default();
        if list.iter().any(|a| new.is_subset_of(a)) {
            return false;
        }
        if naive {
            // Grow the first aggregate the new bits do not overlap (all single attestations
            // of honest validators of one committee end up in one aggregate).
            if let Some(existing) = list
                .iter_mut()
                .find(|a| a.bits.len() == new.bits.len() && !a.overlaps(&new))
            {
                let Some(signature) = aggregate_two(&existing.signature, &new.signature) else {
                    return false;
                };
                existing.bits = existing.bits.union(&new.bits);
                existing.signature = signature;
                return true;
            }
        }
        // Drop aggregates the new one covers, keep at most AGGREGATES_PER_COMMITTEE.
        let before = list.len();
        list.retain(|a| !a.is_subset_of(&new));
        self.entries = self.entries.saturating_sub(before - list.len());
        if list.len() >= AGGREGATES_PER_COMMITTEE {
            return false;
        }
        list.push(new);
        self.entries += 1;
        true
    }

    /// Drops every entry of the oldest slot before `slot`; false if there is none.
    fn evict_older_than(&mut self, slot: Slot) -> bool {
        let Some(oldest) = self
            .by_data
            .values()
            .map(|e| e.data.slot)
            .filter(|s| *s < slot)
            .min()
        else {
            return false;
        };
        self.prune_where(|s| s <= oldest);
        true
    }

    fn prune_where(&mut self, drop: impl Fn(Slot) -> bool) {
        let mut removed = 0usize;
        self.by_data.retain(|_, e| {
            if drop(e.data.slot) {
                removed += e.committees.values().map(Vec::len).sum::<usize>();
                false
            } else {
                true
            }
        });
        self.entries = self.entries.saturating_sub(removed);
    }

    /// Drops attestations too old to be included at `current_slot` (EIP-7045: until the end of
    /// the epoch after their target epoch).
    pub fn prune(&mut self, current_slot: Slot) {
        let epoch = compute_epoch_at_slot(current_slot);
        self.prune_where(|slot| compute_epoch_at_slot(slot).saturating_add(1) < epoch);
    }

    /// The best aggregate (most attesters) of `committee_index` for the data with root
    /// `data_root` (validator.md `get_aggregate_attestation`).
    pub fn best_aggregate(
        &self,
        data_root: &Root,
        committee_index: CommitteeIndex,
    ) -> Option<Attestation> {
        let entry = self.by_data.get(data_root)?;
        let best = entry
            .committees
            .get(&committee_index)?
            .iter()
            .max_by_key(|a| a.count())?;
        let mut committee_bits = BitVector::new();
        committee_bits
            .set(usize::try_from(committee_index).ok()?, true)
            .ok()?;
        Some(Attestation {
            aggregation_bits: best.bits.clone(),
            data: entry.data.clone(),
            signature: spec::BLSSignature::from(best.signature.to_bytes()),
            committee_bits,
        })
    }

    /// Distinct attesters pooled for `slot` (summed over data and committees, counting each
    /// committee's best aggregate): the per-slot log's "votes".
    pub fn attesters_at(&self, slot: Slot) -> usize {
        let mut per_committee: HashMap<CommitteeIndex, usize> = HashMap::new();
        for entry in self.by_data.values().filter(|e| e.data.slot == slot) {
            for (index, list) in &entry.committees {
                let best = list
                    .iter()
                    .map(CommitteeAggregate::count)
                    .max()
                    .unwrap_or(0);
                let slot_best = per_committee.entry(*index).or_default();
                *slot_best = (*slot_best).max(best);
            }
        }
        per_committee.values().sum()
    }

    /// The attestations for a block on `state` (at the block's slot): for every pooled
    /// `AttestationData` includable now, the best aggregate of each committee combined into one
    /// on-chain attestation (Electra EIP-7549: committee bits, the committees' bits
    /// concatenated, one aggregate signature); then greedily the most valuable first — value
    /// being the effective balance of attesters the state has not yet credited with a
    /// flag this attestation would set and that no chosen attestation already covers — up to
    /// `MAX_ATTESTATIONS_ELECTRA`. Every result passes `process_attestation`'s checks.
    pub fn pack(&self, state: &BeaconState, max: usize) -> Vec<Attestation> {
        struct Candidate {
            attestation: Attestation,
            attesters: Vec<ValidatorIndex>,
            epoch: Epoch,
            flags: Vec<usize>,
        }
        let current = get_current_epoch(state);
        let mut candidates: Vec<Candidate> = Vec::new();
        for entry in self.by_data.values() {
            let data = &entry.data;
            let epoch = data.target.epoch;
            if epoch != current && epoch.saturating_add(1) != current {
                continue;
            }
            let mut committee_bits = BitVector::new();
            let mut bits: Vec<bool> = Vec::new();
            let mut signatures: Vec<Signature> = Vec::new();
            let mut attesters: Vec<ValidatorIndex> = Vec::new();
            for (&index, list) in &entry.committees {
                let Some(best) = list.iter().max_by_key(|a| a.count()) else {
                    continue;
                };
                let Ok(committee) = get_beacon_committee(state, data.slot, index) else {
                    continue;
                };
                if committee.len() != best.bits.len() {
                    continue;
                }
                let Ok(i) = usize::try_from(index) else {
                    continue;
                };
                if committee_bits.set(i, true).is_err() {
                    continue;
                }
                for (member, bit) in committee.iter().zip(best.bits.iter()) {
                    bits.push(bit);
                    if bit {
                        attesters.push(*member);
                    }
                }
                signatures.push(best.signature);
            }
            if signatures.is_empty() {
                continue;
            }
            let Ok(signature) = bls::aggregate(&signatures) else {
                continue;
            };
            let Ok(mut aggregation_bits) = AggregationBits::with_capacity(bits.len()) else {
                continue;
            };
            for (i, bit) in bits.iter().enumerate() {
                if *bit && aggregation_bits.set(i, true).is_err() {
                    continue;
                }
            }
            let attestation = Attestation {
                aggregation_bits,
                data: data.clone(),
                signature: spec::BLSSignature::from(signature.to_bytes()),
                committee_bits,
            };
            if check_attestation(state, &attestation).is_err() {
                continue;
            }
            let Ok(flags) = get_attestation_participation_flag_indices(
                state,
                data,
                state.slot.saturating_sub(data.slot),
            ) else {
                continue;
            };
            candidates.push(Candidate {
                attestation,
                attesters,
                epoch,
                flags,
            });
        }
        // Whether including `c` would give validator `v` a participation flag it lacks (the
        // flags `process_attestation` would set: `get_attestation_participation_flag_indices`).
        let credited = |c: &Candidate, v: ValidatorIndex| -> bool {
            let Ok(i) = usize::try_from(v) else {
                return true;
            };
            let flags = if c.epoch == current {
                state.current_epoch_participation.get(i)
            } else {
                state.previous_epoch_participation.get(i)
            };
            let Some(flags) = flags else {
                return true;
            };
            c.flags.iter().all(|&f| has_flag(*flags, f))
        };
        let balance = |v: ValidatorIndex| -> Gwei {
            usize::try_from(v)
                .ok()
                .and_then(|i| state.validators.get(i))
                .map_or(0, |val| val.effective_balance)
        };
        let mut covered: HashSet<(Epoch, ValidatorIndex)> = HashSet::new();
        let mut chosen = Vec::new();
        while chosen.len() < max && !candidates.is_empty() {
            let value = |c: &Candidate| -> Gwei {
                c.attesters
                    .iter()
                    .filter(|&&v| !covered.contains(&(c.epoch, v)) && !credited(c, v))
                    .map(|&v| balance(v))
                    .sum()
            };
            let Some((best, best_value)) = candidates
                .iter()
                .enumerate()
                .map(|(i, c)| (i, value(c)))
                .max_by_key(|(_, v)| *v)
            else {
                break;
            };
            if best_value == 0 {
                break;
            }
            let c = candidates.swap_remove(best);
            covered.extend(c.attesters.iter().map(|&v| (c.epoch, v)));
            chosen.push(c.attestation);
        }
        chosen
    }
}

/// Sync committee messages of one (slot, block root), as positions in the current sync
/// committee with their signatures (a validator may sit in several positions: it counts once
/// per position, as in the spec's contributions).
#[derive(Debug, Default)]
struct SyncEntry {
    /// Committee position -> signature.
    positions: BTreeMap<usize, Signature>,
}

/// Sync committee messages and contributions.
#[derive(Debug, Default)]
pub struct SyncPool {
    by_slot_root: BTreeMap<(Slot, Root), SyncEntry>,
    entries: usize,
    bound: usize,
}

impl SyncPool {
    pub fn new(bound: usize) -> Self {
        Self {
            by_slot_root: BTreeMap::new(),
            entries: 0,
            bound,
        }
    }

    pub fn len(&self) -> usize {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Adds a verified message's signature at its committee `positions`.
    pub fn insert_message(
        &mut self,
        slot: Slot,
        root: Root,
        positions: &[usize],
        signature: &spec::BLSSignature,
    ) {
        let Some(signature) = decode_signature(signature) else {
            return;
        };
        self.insert_positions(slot, root, positions.iter().map(|&p| (p, signature)));
    }

    /// Adds a verified contribution: one signature over several positions. Only taken when it
    /// covers positions the pool has no signature for, and then only if none of its positions
    /// is known (its signature cannot be split).
    pub fn insert_contribution(&mut self, contribution: &SyncCommitteeContribution) {
        let Some(signature) = decode_signature(&contribution.signature) else {
            return;
        };
        let size = spec::SyncSubcommitteeSize::to_usize();
        let Ok(base) =
            usize::try_from(contribution.subcommittee_index).map(|i| i.saturating_mul(size))
        else {
            return;
        };
        let positions: Vec<usize> = contribution
            .aggregation_bits
            .iter()
            .enumerate()
            .filter(|(_, b)| *b)
            .map(|(i, _)| base.saturating_add(i))
            .collect();
        if positions.is_empty() {
            return;
        }
        let key = (contribution.slot, contribution.beacon_block_root);
        if let Some(entry) = self.by_slot_root.get(&key) {
            if positions.iter().any(|p| entry.positions.contains_key(p)) {
                return;
            }
        }
        // The aggregate signature is kept on its first position and the other positions hold
        // the identity (skipped when aggregating): summing the entry's signatures still gives
        // each covered position exactly once. Positions are never overwritten afterwards.
        let mut items = vec![];
        for (i, p) in positions.iter().enumerate() {
            items.push((
                *p,
                if i == 0 {
                    signature
                } else {
                    Signature::infinity()
                },
            ));
        }
        self.insert_positions(
            contribution.slot,
            contribution.beacon_block_root,
            items.into_iter(),
        );
    }

    fn insert_positions(
        &mut self,
        slot: Slot,
        root: Root,
        items: impl Iterator<Item = (usize, Signature)>,
    ) {
        while self.entries >= self.bound {
            let Some((&key, _)) = self.by_slot_root.iter().next() else {
                break;
            };
            if let Some(e) = self.by_slot_root.remove(&key) {
                self.entries = self.entries.saturating_sub(e.positions.len());
            }
        }
        let entry = self.by_slot_root.entry((slot, root)).or_default();
        for (position, signature) in items {
            if let std::collections::btree_map::Entry::Vacant(v) = entry.positions.entry(position) {
                v.insert(signature);
                self.entries += 1;
            }
        }
    }

    /// Drops messages older than the previous slot.
    pub fn prune(&mut self, current_slot: Slot) {
        let keep = current_slot.saturating_sub(1);
        let old: Vec<(Slot, Root)> = self
            .by_slot_root
            .keys()
            .filter(|(s, _)| *s < keep)
            .copied()
            .collect();
        for key in old {
            if let Some(e) = self.by_slot_root.remove(&key) {
                self.entries = self.entries.saturating_sub(e.positions.len());
            }
        }
    }

    fn aggregate_positions(
        &self,
        slot: Slot,
        root: Root,
        range: std::ops::Range<usize>,
    ) -> Option<(Vec<usize>, Signature)> {
        let entry = self.by_slot_root.get(&(slot, root))?;
        let mut positions = Vec::new();
        let mut signatures = Vec::new();
        for (&p, s) in entry.positions.range(range) {
            positions.push(p);
            if !s.is_infinity() {
                signatures.push(*s);
            }
        }
        if positions.is_empty() {
            return None;
        }
        let signature = bls::aggregate(&signatures).ok()?;
        Some((positions, signature))
    }

    /// validator.md `get_sync_committee_contribution`-style: the pool's aggregate of
    /// `subcommittee_index` for (`slot`, `root`).
    pub fn contribution(
        &self,
        slot: Slot,
        root: Root,
        subcommittee_index: u64,
    ) -> Option<SyncCommitteeContribution> {
        let size = spec::SyncSubcommitteeSize::to_usize();
        let base = usize::try_from(subcommittee_index)
            .ok()?
            .checked_mul(size)?;
        let (positions, signature) =
            self.aggregate_positions(slot, root, base..base.checked_add(size)?)?;
        let mut aggregation_bits = BitVector::new();
        for p in positions {
            aggregation_bits.set(p.checked_sub(base)?, true).ok()?;
        }
        Some(SyncCommitteeContribution {
            slot,
            beacon_block_root: root,
            subcommittee_index,
            aggregation_bits,
            signature: spec::BLSSignature::from(signature.to_bytes()),
        })
    }

    /// The `SyncAggregate` of a block at `block_slot` whose parent is `parent_root`: the
    /// messages of slot `block_slot - 1` for that root (spec: the sync committee signs the
    /// head of the previous slot). Empty (infinity signature) when there are none.
    pub fn sync_aggregate(&self, block_slot: Slot, parent_root: Root) -> SyncAggregate {
        let empty = SyncAggregate {
            sync_committee_bits: BitVector::new(),
            sync_committee_signature: spec::BLSSignature::from(Signature::infinity().to_bytes()),
        };
        let Some(slot) = block_slot.checked_sub(1) else {
            return empty;
        };
        let size = spec::SyncCommitteeSize::to_usize();
        let Some((positions, signature)) = self.aggregate_positions(slot, parent_root, 0..size)
        else {
            return empty;
        };
        let mut bits = BitVector::new();
        for p in positions {
            if bits.set(p, true).is_err() {
                return empty;
            }
        }
        SyncAggregate {
            sync_committee_bits: bits,
            sync_committee_signature: spec::BLSSignature::from(signature.to_bytes()),
        }
    }
}

use typenum::Unsigned;

/// Exits, slashings and BLS-to-execution changes, checked against the block's state before
/// packing (and dropped once invalid there, e.g. included).
#[derive(Debug, Default)]
pub struct OperationPool {
    pub voluntary_exits: Vec<SignedVoluntaryExit>,
    pub proposer_slashings: Vec<ProposerSlashing>,
    pub attester_slashings: Vec<AttesterSlashing>,
    pub bls_to_execution_changes: Vec<SignedBLSToExecutionChange>,
    bounds: Option<PoolBounds>,
}

fn push_bounded<T>(list: &mut Vec<T>, item: T, bound: usize) {
    if list.len() >= bound {
        list.remove(0);
    }
    list.push(item);
}

/// What a block takes from the operation pool.
#[derive(Debug, Default)]
pub struct PackedOperations {
    pub proposer_slashings: Vec<ProposerSlashing>,
    pub attester_slashings: Vec<AttesterSlashing>,
    pub voluntary_exits: Vec<SignedVoluntaryExit>,
    pub bls_to_execution_changes: Vec<SignedBLSToExecutionChange>,
}

impl OperationPool {
    pub fn new(bounds: PoolBounds) -> Self {
        Self {
            bounds: Some(bounds),
            ..Default::default()
        }
    }

    fn bounds(&self) -> PoolBounds {
        self.bounds.unwrap_or(PoolBounds {
            attestations: 16,
            sync: 16,
            operations: 16,
            slashings: 16,
        })
    }

    pub fn insert_exit(&mut self, exit: SignedVoluntaryExit) {
        if !self.voluntary_exits.contains(&exit) {
            let b = self.bounds().operations;
            push_bounded(&mut self.voluntary_exits, exit, b);
        }
    }

    pub fn insert_proposer_slashing(&mut self, s: ProposerSlashing) {
        if !self.proposer_slashings.contains(&s) {
            let b = self.bounds().slashings;
            push_bounded(&mut self.proposer_slashings, s, b);
        }
    }

    pub fn insert_attester_slashing(&mut self, s: AttesterSlashing) {
        if !self.attester_slashings.contains(&s) {
            let b = self.bounds().slashings;
            push_bounded(&mut self.attester_slashings, s, b);
        }
    }

    pub fn insert_bls_change(&mut self, c: SignedBLSToExecutionChange) {
        if !self.bls_to_execution_changes.contains(&c) {
            let b = self.bounds().operations;
            push_bounded(&mut self.bls_to_execution_changes, c, b);
        }
    }

    /// Operations valid on `state` (the block's pre-state at its slot), within the block's
    /// limits; invalid ones are dropped from the pool. Checks are the state transition's own
    /// (`check_*`), signatures having been verified when pooled. One operation per validator.
    pub fn pack(
        &mut self,
        state: &BeaconState,
        config: &crate::consensus::config::ChainConfig,
    ) -> PackedOperations {
        let preset = spec::PRESET;
        let mut out = PackedOperations::default();
        let mut touched: HashSet<ValidatorIndex> = HashSet::new();
        self.proposer_slashings
            .retain(|s| check_proposer_slashing(state, s).is_ok());
        for s in &self.proposer_slashings {
            if (out.proposer_slashings.len() as u64) < preset.max_proposer_slashings
                && touched.insert(s.signed_header_1.message.proposer_index)
            {
                out.proposer_slashings.push(s.clone());
            }
        }
        self.attester_slashings
            .retain(|s| check_attester_slashing(state, s).is_ok());
        if let Some(s) = self.attester_slashings.first() {
            if preset.max_attester_slashings_electra > 0 {
                out.attester_slashings.push(s.clone());
            }
        }
        self.voluntary_exits
            .retain(|e| check_voluntary_exit(state, config, &e.message).is_ok());
        for e in &self.voluntary_exits {
            if (out.voluntary_exits.len() as u64) < preset.max_voluntary_exits
                && touched.insert(e.message.validator_index)
            {
                out.voluntary_exits.push(e.clone());
            }
        }
        self.bls_to_execution_changes
            .retain(|c| check_bls_to_execution_change(state, &c.message).is_ok());
        for c in &self.bls_to_execution_changes {
            if (out.bls_to_execution_changes.len() as u64) < preset.max_bls_to_execution_changes {
                out.bls_to_execution_changes.push(c.clone());
            }
        }
        out
    }
}

/// Sets bit `i` of a fresh bit list of `len` (tests and the import pipeline).
pub fn single_bit(len: usize, i: usize) -> Option<AggregationBits> {
    let mut bits = BitList::with_capacity(len).ok()?;
    bits.set(i, true).ok()?;
    Some(bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::bls::SecretKey;
    use crate::consensus::config::ChainConfig;
    use crate::consensus::constants::DOMAIN_BEACON_ATTESTER;
    use crate::consensus::pubkey_cache::PubkeyCache;
    use spec::transition::block::process_attestation;
    use spec::transition::genesis::interop_genesis_state;
    use spec::transition::helpers::{
        compute_signing_root, get_committee_count_per_slot, get_domain,
    };
    use spec::transition::signatures::attestation_signature;
    use spec::transition::slot::process_slots;
    use spec::{Checkpoint, SingleAttestation};

    const VALIDATORS: u64 = 64;

    fn chain() -> (BeaconState, Vec<SecretKey>, ChainConfig) {
        let config = ChainConfig::for_preset(spec::PRESET.name).with_forks_at_genesis();
        let pairs = crate::validator::interop::interop_keypairs(0, VALIDATORS).unwrap();
        let pubkeys: Vec<[u8; 48]> = pairs.iter().map(|(_, pk)| pk.to_bytes()).collect();
        let state = interop_genesis_state(&config, &pubkeys, 0).unwrap();
        (state, pairs.into_iter().map(|(sk, _)| sk).collect(), config)
    }

    fn data_at(state: &BeaconState, slot: Slot) -> AttestationData {
        AttestationData {
            slot,
            index: 0,
            beacon_block_root: Root::repeat_byte(slot as u8),
            source: state.current_justified_checkpoint.clone(),
            target: Checkpoint {
                epoch: compute_epoch_at_slot(slot),
                root: Root::ZERO,
            },
        }
    }

    /// Every member of every committee of `slot` signs `data`, one at a time into the pool.
    fn attest_all(
        pool: &mut AttestationPool,
        state: &BeaconState,
        keys: &[SecretKey],
        data: &AttestationData,
    ) -> usize {
        let domain = get_domain(state, DOMAIN_BEACON_ATTESTER, Some(data.target.epoch));
        let root = compute_signing_root(data, domain);
        let mut n = 0;
        for c in 0..get_committee_count_per_slot(state, data.target.epoch) {
            let committee = get_beacon_committee(state, data.slot, c).unwrap();
            for (position, v) in committee.iter().enumerate() {
                let single = SingleAttestation {
                    committee_index: c,
                    attester_index: *v,
                    data: data.clone(),
                    signature: spec::BLSSignature::from(
                        keys[*v as usize].sign(root.as_slice()).to_bytes(),
                    ),
                };
                let vote = SingleVote {
                    committee_index: c,
                    committee_len: committee.len(),
                    position,
                };
                assert!(pool.insert_single(&single.data, vote, &single.signature));
                // The same vote again adds nothing.
                assert!(!pool.insert_single(&single.data, vote, &single.signature));
                n += 1;
            }
        }
        n
    }

    #[test]
    fn naive_aggregation_builds_valid_committee_aggregates() {
        let (mut state, keys, config) = chain();
        process_slots(&mut state, &config, 2).unwrap();
        let mut pool = AttestationPool::new(1000);
        let data = data_at(&state, 1);
        let n = attest_all(&mut pool, &state, &keys, &data);
        assert_eq!(pool.attesters_at(1), n);
        let pubkeys = PubkeyCache::new();
        let committees = get_committee_count_per_slot(&state, 0);
        for c in 0..committees {
            let aggregate = pool.best_aggregate(&data.tree_hash_root(), c).unwrap();
            let size = get_beacon_committee(&state, 1, c).unwrap().len();
            assert_eq!(aggregate.aggregation_bits.num_set_bits(), size);
            assert!(attestation_signature(&state, &pubkeys, &aggregate, 0)
                .unwrap()
                .is_valid());
        }
        // An aggregate received whole that the pool's covers adds nothing.
        let whole = pool.best_aggregate(&data.tree_hash_root(), 0).unwrap();
        assert!(!pool.insert_aggregate(&whole));
    }

    #[test]
    fn packing_combines_committees_and_prefers_new_weight() {
        let (mut state, keys, config) = chain();
        process_slots(&mut state, &config, 3).unwrap();
        let mut pool = AttestationPool::new(1000);
        let d1 = data_at(&state, 1);
        let d2 = data_at(&state, 2);
        attest_all(&mut pool, &state, &keys, &d1);
        attest_all(&mut pool, &state, &keys, &d2);
        let packed = pool.pack(&state, 8);
        assert_eq!(
            packed.len(),
            2,
            "one on-chain aggregate per AttestationData"
        );
        let pubkeys = PubkeyCache::new();
        let committees = get_committee_count_per_slot(&state, 0) as usize;
        for a in &packed {
            assert_eq!(a.committee_bits.num_set_bits(), committees);
            check_attestation(&state, a).unwrap();
            assert!(attestation_signature(&state, &pubkeys, a, 0)
                .unwrap()
                .is_valid());
        }
        // At most `max`, the more valuable first (both are worth the same here).
        assert_eq!(pool.pack(&state, 1).len(), 1);
        // Once the state credits those votes, they are worth nothing.
        for a in &packed {
            process_attestation(&mut state, a, None).unwrap();
        }
        assert!(pool.pack(&state, 8).is_empty());
    }

    #[test]
    fn pools_stay_within_their_bounds() {
        let (mut state, keys, config) = chain();
        process_slots(&mut state, &config, 9).unwrap();
        let committees = get_committee_count_per_slot(&state, 0) as usize;
        let mut pool = AttestationPool::new(committees);
        for slot in 1..=8 {
            let data = data_at(&state, slot);
            attest_all(&mut pool, &state, &keys, &data);
            assert!(pool.len() <= committees, "{} > {committees}", pool.len());
            assert!(pool.attesters_at(slot) > 0);
        }
        // Only the newest slot survived the bound.
        assert_eq!(pool.attesters_at(1), 0);
        pool.prune(spec::PRESET.slots_per_epoch * 3);
        assert!(pool.is_empty());

        let mut sync = SyncPool::new(4);
        let sig = spec::BLSSignature::from(keys[0].sign(b"x").to_bytes());
        for p in 0..10 {
            sync.insert_message(5, Root::ZERO, &[p], &sig);
            assert!(sync.len() <= 4);
        }
    }

    #[test]
    fn sync_messages_make_the_blocks_sync_aggregate() {
        let (state, keys, _) = chain();
        let committee = spec::transition::signatures::get_sync_committee_indices(&state).unwrap();
        let root = Root::repeat_byte(7);
        let mut pool = SyncPool::new(1000);
        let message = b"block root signing root";
        for (position, v) in committee.iter().enumerate().take(10) {
            let sig = spec::BLSSignature::from(keys[*v as usize].sign(message).to_bytes());
            pool.insert_message(3, root, &[position], &sig);
        }
        let aggregate = pool.sync_aggregate(4, root);
        assert_eq!(aggregate.sync_committee_bits.num_set_bits(), 10);
        let pks: Vec<bls::PublicKey> = committee
            .iter()
            .take(10)
            .map(|v| keys[*v as usize].public_key())
            .collect();
        let sig = Signature::from_bytes(aggregate.sync_committee_signature.as_slice()).unwrap();
        assert!(bls::fast_aggregate_verify(&pks, message, &sig));
        // Another root or slot: empty, with the infinity signature.
        let empty = pool.sync_aggregate(4, Root::ZERO);
        assert_eq!(empty.sync_committee_bits.num_set_bits(), 0);
        assert!(pool.sync_aggregate(5, root).sync_committee_bits.is_zero());
        // The contribution of subcommittee 0 has the positions below its size.
        let size = spec::SyncSubcommitteeSize::to_usize();
        let c = pool.contribution(3, root, 0).unwrap();
        assert_eq!(c.aggregation_bits.num_set_bits(), 10.min(size));
    }
}
