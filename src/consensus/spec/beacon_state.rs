//! `BeaconState` for Electra and Fulu: one struct, fork-tagged by its shape.
//!
//! Representation (chosen for a mainnet state of 2.3M validator records): every large field is a
//! milhouse persistent tree (`List`/`Vector`), so `clone()` costs a few `Arc` increments and
//! shares all unchanged nodes, and each tree caches its internal hashes so that the state root
//! after a block re-hashes only the paths that changed. Small fields are plain values.
//!
//! Fulu appends `proposer_lookahead` (EIP-7917); Electra states have `None` there. SSZ decoding
//! tells the two layouts apart by the container's fixed-part length (the first offset), so a
//! state decodes without being told its fork; the spec code asks [`BeaconState::fork_name`].

use super::transition::caches::StateCaches;
use super::*;
use crate::consensus::primitives::*;
use milhouse::{List, Vector};
use serde::Serialize;
use ssz::{Decode, DecodeError, Encode, SszDecoderBuilder, SszEncoder};
use ssz_types::BitVector;
use std::collections::BTreeMap;
use std::sync::Arc;
use tree_hash::{TreeHash, TreeHashType};

/// A registry-sized list (one entry per validator) whose pending writes are kept in a
/// [`RegistryUpdates`] (a `BTreeMap`): milhouse's default update map is a `Vec<Option<T>>` as
/// long as the highest index written, so one write near index 2.3M allocated and zeroed ~300 MB
/// (validators) or ~37 MB (balances, scores) and `apply_updates` scanned all of it.
pub type RegistryList<T> = List<T, ValidatorRegistryLimit, RegistryUpdates<T>>;

/// Pending writes of a [`RegistryList`]: a `BTreeMap`, plus, while milhouse applies many of
/// them, a sorted copy that answers its range queries.
///
/// Applying updates asks, at every tree node on a path to a written leaf, whether each child's
/// index range holds a write (two range queries per node). Against a `BTreeMap` each query
/// searches the map from its root; the epoch's write-back of ~46k scattered inactivity scores
/// makes ~500k such queries. The sorted copy, built on the first range query of a large map
/// (the map cannot change while milhouse holds it by shared reference: every change takes
/// `&mut self` and drops the copy), finds the answer by a short search from where the last
/// query ended, since the walk visits ranges in near-index order.
#[derive(Debug)]
pub struct RegistryUpdates<T> {
    map: BTreeMap<usize, T>,
    sorted: std::sync::OnceLock<Vec<(usize, T)>>,
    /// Position in `sorted` where the last range query started (a search hint only).
    hint: std::sync::atomic::AtomicUsize,
}

/// Maps smaller than this answer range queries from the `BTreeMap` itself.
const SORTED_UPDATES_MIN: usize = 256;

impl<T> Default for RegistryUpdates<T> {
    fn default() -> Self {
        RegistryUpdates {
            map: BTreeMap::new(),
            sorted: std::sync::OnceLock::new(),
            hint: std::sync::atomic::AtomicUsize::new(0),
        }
    }
}

impl<T: Clone> Clone for RegistryUpdates<T> {
    fn clone(&self) -> Self {
        RegistryUpdates {
            map: self.map.clone(),
            sorted: std::sync::OnceLock::new(),
            hint: std::sync::atomic::AtomicUsize::new(0),
        }
    }
}

impl<T: PartialEq> PartialEq for RegistryUpdates<T> {
    fn eq(&self, other: &Self) -> bool {
        self.map == other.map
    }
}

impl<T: Clone> RegistryUpdates<T> {
    /// The map, for a change: the sorted copy no longer holds.
    fn map_mut(&mut self) -> &mut BTreeMap<usize, T> {
        self.sorted.take();
        &mut self.map
    }

    /// Position of the first entry of `sorted` with index `>= start`, searched outwards from
    /// `hint`.
    fn lower_bound(sorted: &[(usize, T)], hint: usize, start: usize) -> usize {
        let len = sorted.len();
        let hint = hint.min(len);
        let below = |i: usize| sorted.get(i).is_some_and(|(k, _)| *k < start);
        if below(hint) {
            // Gallop right: find `hi` with sorted[hi] >= start (or len).
            let (mut lo, mut step) = (hint, 1usize);
            let mut hi = hint.saturating_add(step).min(len);
            while hi < len && below(hi) {
                lo = hi;
                step = step.saturating_mul(2);
                hi = hi.saturating_add(step).min(len);
            }
            let window = sorted.get(lo..hi).unwrap_or_default();
            lo.saturating_add(window.partition_point(|(k, _)| *k < start))
        } else {
            // sorted[hint] >= start (or hint == len): gallop left.
            let (mut hi, mut step) = (hint, 1usize);
            let mut lo = hint.saturating_sub(step);
            while lo > 0 && !below(lo) {
                hi = lo;
                step = step.saturating_mul(2);
                lo = lo.saturating_sub(step);
            }
            let window = sorted.get(lo..hi).unwrap_or_default();
            lo.saturating_add(window.partition_point(|(k, _)| *k < start))
        }
    }
}

impl<T: Clone> milhouse::UpdateMap<T> for RegistryUpdates<T> {
    fn get(&self, k: usize) -> Option<&T> {
        self.map.get(&k)
    }

    fn get_mut_with<F>(&mut self, k: usize, f: F) -> Option<&mut T>
    where
        F: FnOnce(usize) -> Option<T>,
    {
        milhouse::UpdateMap::get_mut_with(self.map_mut(), k, f)
    }

    fn get_cow_with<'a, F>(&'a mut self, k: usize, f: F) -> Option<milhouse::Cow<'a, T>>
    where
        F: FnOnce(usize) -> Option<&'a T>,
        T: 'a,
    {
        milhouse::UpdateMap::get_cow_with(self.map_mut(), k, f)
    }

    fn insert(&mut self, k: usize, value: T) -> Option<T> {
        self.map_mut().insert(k, value)
    }

    fn for_each_range<F, E>(&self, start: usize, end: usize, mut f: F) -> Result<(), E>
    where
        F: FnMut(usize, &T) -> std::ops::ControlFlow<(), Result<(), E>>,
    {
        if self.map.len() < SORTED_UPDATES_MIN {
            return milhouse::UpdateMap::for_each_range(&self.map, start, end, f);
        }
        let sorted = self
            .sorted
            .get_or_init(|| self.map.iter().map(|(k, v)| (*k, v.clone())).collect());
        let hint = self.hint.load(std::sync::atomic::Ordering::Relaxed);
        let first = Self::lower_bound(sorted, hint, start);
        self.hint.store(first, std::sync::atomic::Ordering::Relaxed);
        for (key, value) in sorted.get(first..).unwrap_or_default() {
            if *key >= end {
                break;
            }
            match f(*key, value) {
                std::ops::ControlFlow::Continue(res) => res?,
                std::ops::ControlFlow::Break(()) => break,
            }
        }
        Ok(())
    }

    fn max_index(&self) -> Option<usize> {
        self.map.keys().next_back().copied()
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

macro_rules! beacon_state {
    ($($(#[$meta:meta])* $field:ident: $ty:ty,)*) => {
        /// The spec's `BeaconState` (Fulu shape; Electra without `proposer_lookahead`).
        #[derive(Debug, Clone, PartialEq, Serialize)]
        pub struct BeaconState {
            $($(#[$meta])* pub $field: $ty,)*
            /// [New in Fulu:EIP7917] `None` in an Electra state.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub proposer_lookahead: Option<Vector<ValidatorIndex, ProposerLookaheadLength>>,
            /// Derived data (committees, total active balance, pubkey index): not part of the
            /// state's SSZ, root, equality or JSON.
            #[serde(skip)]
            pub caches: StateCaches,
        }

        impl BeaconState {
            /// Length of the SSZ fixed part (fixed fields plus one offset per variable field).
            fn ssz_fixed_part_len(fork: ForkName) -> usize {
                let common: usize = [$(field_fixed_len::<$ty>()),*].iter().sum();
                match fork {
                    ForkName::Electra => common,
                    ForkName::Fulu => common.saturating_add(
                        field_fixed_len::<Vector<ValidatorIndex, ProposerLookaheadLength>>(),
                    ),
                }
            }

            fn from_ssz_bytes_as(bytes: &[u8], fork: ForkName) -> Result<Self, DecodeError> {
                let mut builder = SszDecoderBuilder::new(bytes);
                $(builder.register_type::<$ty>()?;)*
                if fork >= ForkName::Fulu {
                    builder.register_type::<Vector<ValidatorIndex, ProposerLookaheadLength>>()?;
                }
                let mut decoder = builder.build()?;
                Ok(BeaconState {
                    $($field: decoder.decode_next()?,)*
                    proposer_lookahead: if fork >= ForkName::Fulu {
                        Some(decoder.decode_next()?)
                    } else {
                        None
                    },
                    caches: StateCaches::default(),
                })
            }

            /// Roots of the container's fields in order (the leaves of `hash_tree_root`).
            fn field_roots(&self) -> Vec<Hash256> {
                let mut roots = vec![$(self.$field.tree_hash_root(),)*];
                if let Some(lookahead) = &self.proposer_lookahead {
                    roots.push(lookahead.tree_hash_root());
                }
                roots
            }

            /// Applies the pending writes of every persistent tree; required before hashing.
            pub fn apply_pending_updates(&mut self) -> Result<(), milhouse::Error> {
                $(self.$field.apply_pending()?;)*
                if let Some(lookahead) = &mut self.proposer_lookahead {
                    lookahead.apply_updates()?;
                }
                Ok(())
            }
        }

        impl Encode for BeaconState {
            fn is_ssz_fixed_len() -> bool {
                false
            }

            fn ssz_bytes_len(&self) -> usize {
                let mut len: usize = [$(field_bytes_len(&self.$field)),*].iter().sum();
                if let Some(lookahead) = &self.proposer_lookahead {
                    len = len.saturating_add(field_bytes_len(lookahead));
                }
                len
            }

            fn ssz_append(&self, buf: &mut Vec<u8>) {
                let mut encoder = SszEncoder::container(buf, Self::ssz_fixed_part_len(self.fork_name()));
                $(encoder.append(&self.$field);)*
                if let Some(lookahead) = &self.proposer_lookahead {
                    encoder.append(lookahead);
                }
                encoder.finalize();
            }
        }
    };
}

beacon_state! {
    genesis_time: u64,
    genesis_validators_root: Root,
    slot: Slot,
    fork: Fork,
    latest_block_header: BeaconBlockHeader,
    block_roots: Vector<Root, SlotsPerHistoricalRoot>,
    state_roots: Vector<Root, SlotsPerHistoricalRoot>,
    historical_roots: List<Root, HistoricalRootsLimit>,
    eth1_data: Eth1Data,
    eth1_data_votes: List<Eth1Data, SlotsPerEth1VotingPeriod>,
    eth1_deposit_index: u64,
    validators: RegistryList<Validator>,
    balances: RegistryList<Gwei>,
    randao_mixes: Vector<Bytes32, EpochsPerHistoricalVector>,
    slashings: Vector<Gwei, EpochsPerSlashingsVector>,
    previous_epoch_participation: List<ParticipationFlags, ValidatorRegistryLimit>,
    current_epoch_participation: List<ParticipationFlags, ValidatorRegistryLimit>,
    justification_bits: BitVector<JustificationBitsLength>,
    previous_justified_checkpoint: Checkpoint,
    current_justified_checkpoint: Checkpoint,
    finalized_checkpoint: Checkpoint,
    inactivity_scores: RegistryList<u64>,
    /// Shared between states: sync committees change once per period.
    current_sync_committee: Arc<SyncCommittee>,
    next_sync_committee: Arc<SyncCommittee>,
    latest_execution_payload_header: ExecutionPayloadHeader,
    next_withdrawal_index: WithdrawalIndex,
    next_withdrawal_validator_index: ValidatorIndex,
    historical_summaries: List<HistoricalSummary, HistoricalRootsLimit>,
    deposit_requests_start_index: u64,
    deposit_balance_to_consume: Gwei,
    exit_balance_to_consume: Gwei,
    earliest_exit_epoch: Epoch,
    consolidation_balance_to_consume: Gwei,
    earliest_consolidation_epoch: Epoch,
    pending_deposits: List<PendingDeposit, PendingDepositsLimit>,
    pending_partial_withdrawals: List<PendingPartialWithdrawal, PendingPartialWithdrawalsLimit>,
    pending_consolidations: List<PendingConsolidation, PendingConsolidationsLimit>,
}

fn field_fixed_len<T: Encode>() -> usize {
    if T::is_ssz_fixed_len() {
        T::ssz_fixed_len()
    } else {
        ssz::BYTES_PER_LENGTH_OFFSET
    }
}

fn field_bytes_len<T: Encode>(value: &T) -> usize {
    if T::is_ssz_fixed_len() {
        T::ssz_fixed_len()
    } else {
        ssz::BYTES_PER_LENGTH_OFFSET.saturating_add(value.ssz_bytes_len())
    }
}

/// Lets the state's field macro flush pending writes uniformly; plain values have none.
trait ApplyPending {
    fn apply_pending(&mut self) -> Result<(), milhouse::Error> {
        Ok(())
    }
}

impl<T: milhouse::Value, N: typenum::Unsigned, U: milhouse::UpdateMap<T>> ApplyPending
    for List<T, N, U>
{
    fn apply_pending(&mut self) -> Result<(), milhouse::Error> {
        self.apply_updates()
    }
}

impl<T: milhouse::Value, N: typenum::Unsigned> ApplyPending for Vector<T, N> {
    fn apply_pending(&mut self) -> Result<(), milhouse::Error> {
        self.apply_updates()
    }
}

macro_rules! no_pending_updates {
    ($($ty:ty),*) => { $(impl ApplyPending for $ty {})* };
}

no_pending_updates!(
    u64,
    Hash256,
    Fork,
    BeaconBlockHeader,
    Eth1Data,
    BitVector<JustificationBitsLength>,
    Checkpoint,
    Arc<SyncCommittee>,
    ExecutionPayloadHeader
);

impl BeaconState {
    /// The fork whose state layout this is.
    pub fn fork_name(&self) -> ForkName {
        if self.proposer_lookahead.is_some() {
            ForkName::Fulu
        } else {
            ForkName::Electra
        }
    }

    /// Decodes a state of a known fork.
    pub fn from_ssz_bytes_for_fork(bytes: &[u8], fork: ForkName) -> Result<Self, DecodeError> {
        Self::from_ssz_bytes_as(bytes, fork)
    }
}

impl Decode for BeaconState {
    fn is_ssz_fixed_len() -> bool {
        false
    }

    /// Picks the layout whose fixed-part length matches the first offset; the two differ by
    /// the size of `proposer_lookahead`, so at most one can match.
    fn from_ssz_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        // `historical_roots`, the first variable-size field, follows only fixed fields: its
        // offset sits at a known position and equals the fixed-part length.
        let position = first_variable_offset_position();
        let end = position.saturating_add(ssz::BYTES_PER_LENGTH_OFFSET);
        let offset = bytes
            .get(position..end)
            .ok_or(DecodeError::InvalidByteLength {
                len: bytes.len(),
                expected: end,
            })?;
        let fork = if ssz::read_offset(offset)? == Self::ssz_fixed_part_len(ForkName::Electra) {
            ForkName::Electra
        } else {
            ForkName::Fulu
        };
        Self::from_ssz_bytes_as(bytes, fork)
    }
}

/// Byte position of the offset of `historical_roots`, the first variable-size field.
fn first_variable_offset_position() -> usize {
    [
        field_fixed_len::<u64>(),
        field_fixed_len::<Root>(),
        field_fixed_len::<Slot>(),
        field_fixed_len::<Fork>(),
        field_fixed_len::<BeaconBlockHeader>(),
        field_fixed_len::<Vector<Root, SlotsPerHistoricalRoot>>(),
        field_fixed_len::<Vector<Root, SlotsPerHistoricalRoot>>(),
    ]
    .iter()
    .sum()
}

impl TreeHash for BeaconState {
    fn tree_hash_type() -> TreeHashType {
        TreeHashType::Container
    }

    fn tree_hash_packed_encoding(&self) -> tree_hash::PackedEncoding {
        unreachable!("a container is never packed")
    }

    fn tree_hash_packing_factor() -> usize {
        unreachable!("a container is never packed")
    }

    /// Requires [`BeaconState::apply_pending_updates`] first (milhouse hashes applied trees).
    fn tree_hash_root(&self) -> Hash256 {
        let roots = self.field_roots();
        let mut leaves = Vec::with_capacity(roots.len().saturating_mul(32));
        for root in &roots {
            leaves.extend_from_slice(root.as_slice());
        }
        tree_hash::merkle_root(&leaves, roots.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Many scattered writes (sorted copy answering the range queries) and few (the map
    /// itself) give the same list as writing the values into a `Vec`.
    #[test]
    fn registry_updates_apply_like_a_vec() {
        for (n, stride) in [
            (5000usize, 7usize),
            (5000, 1),
            (5000, 97),
            (40, 3),
            (70_001, 13),
        ] {
            let mut expected: Vec<u64> = (0..n as u64).collect();
            let mut list: RegistryList<u64> = List::new(expected.clone()).unwrap();
            let mut updates = RegistryUpdates::default();
            for i in (0..n).step_by(stride) {
                let value = (i as u64).wrapping_mul(31).wrapping_add(5);
                milhouse::UpdateMap::insert(&mut updates, i, value);
                expected[i] = value;
            }
            list.bulk_update(updates).unwrap();
            list.apply_updates().unwrap();
            assert_eq!(list.iter().copied().collect::<Vec<_>>(), expected, "n={n}");
            // Writes through get_mut, then an append.
            for i in (1..n).step_by(stride.saturating_mul(3)) {
                *list.get_mut(i).unwrap() = 1;
                expected[i] = 1;
            }
            list.push(9).unwrap();
            expected.push(9);
            list.apply_updates().unwrap();
            assert_eq!(list.iter().copied().collect::<Vec<_>>(), expected, "n={n}");
            let fresh: RegistryList<u64> = List::new(expected.clone()).unwrap();
            assert_eq!(list.tree_hash_root(), fresh.tree_hash_root(), "n={n}");
        }
    }

    #[test]
    fn registry_updates_lower_bound() {
        let sorted: Vec<(usize, ())> = [2usize, 3, 5, 9, 20, 21, 40]
            .iter()
            .map(|&k| (k, ()))
            .collect();
        for hint in 0..=sorted.len() + 2 {
            for start in 0..45 {
                let expected = sorted.partition_point(|(k, _)| *k < start);
                assert_eq!(
                    RegistryUpdates::<()>::lower_bound(&sorted, hint, start),
                    expected,
                    "hint {hint} start {start}"
                );
            }
        }
    }
}
