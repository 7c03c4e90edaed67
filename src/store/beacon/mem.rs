//! Real memory of a `BeaconState`, structural sharing included, through milhouse's
//! [`MemoryTracker`]: a tree node shared by two states is counted once.
//!
//! What is counted: the state struct, every node and leaf of its persistent trees, the values
//! in them, and the two `Arc<SyncCommittee>`s. Not counted: the derived caches beside the state
//! (`state.caches`: committee shufflings, the pubkey -> index map). Those are `Arc`s shared by
//! every state of a chain (one shuffling per epoch, one map per registry), so they do not grow
//! with the number of cached states; the budget carries them under its `Pubkeys` (the map) and
//! `WorkingStates` (shufflings: 16 B per active validator per epoch) shares.

use super::spec::*;
use milhouse::mem::{MemorySize, MemoryTracker};

/// Containers stored by value in a tree leaf: no heap data of their own.
macro_rules! flat_memory_size {
    ($($t:ty),* $(,)?) => {$(
        impl MemorySize for $t {
            fn self_pointer(&self) -> usize {
                self as *const _ as usize
            }
            fn subtrees(&self) -> Vec<&dyn MemorySize> {
                vec![]
            }
            fn intrinsic_size(&self) -> usize {
                std::mem::size_of::<Self>()
            }
        }
    )*};
}

flat_memory_size!(
    Validator,
    Eth1Data,
    HistoricalSummary,
    PendingDeposit,
    PendingPartialWithdrawal,
    PendingConsolidation,
);

impl MemorySize for SyncCommittee {
    fn self_pointer(&self) -> usize {
        self as *const _ as usize
    }
    fn subtrees(&self) -> Vec<&dyn MemorySize> {
        vec![]
    }
    fn intrinsic_size(&self) -> usize {
        // The pubkeys live in a heap vector.
        std::mem::size_of::<Self>().saturating_add(
            self.pubkeys
                .len()
                .saturating_mul(std::mem::size_of::<BLSPubkey>()),
        )
    }
}

/// Newtype so the state (a type of this crate) can be measured without exposing the impl.
pub struct MeasuredState<'a>(pub &'a BeaconState);

impl MemorySize for MeasuredState<'_> {
    fn self_pointer(&self) -> usize {
        self.0 as *const BeaconState as usize
    }

    fn subtrees(&self) -> Vec<&dyn MemorySize> {
        let s = self.0;
        let mut out: Vec<&dyn MemorySize> = vec![
            &s.block_roots,
            &s.state_roots,
            &s.historical_roots,
            &s.eth1_data_votes,
            &s.validators,
            &s.balances,
            &s.randao_mixes,
            &s.slashings,
            &s.previous_epoch_participation,
            &s.current_epoch_participation,
            &s.inactivity_scores,
            // The committee inside the `Arc`: its address is shared by every state holding it.
            &*s.current_sync_committee as &SyncCommittee,
            &*s.next_sync_committee as &SyncCommittee,
            &s.historical_summaries,
            &s.pending_deposits,
            &s.pending_partial_withdrawals,
            &s.pending_consolidations,
        ];
        if let Some(lookahead) = &s.proposer_lookahead {
            out.push(lookahead);
        }
        out
    }

    fn intrinsic_size(&self) -> usize {
        std::mem::size_of::<BeaconState>()
    }
}

/// Bytes `state` occupies on its own (no sharing with anything else counted).
pub fn state_memory(state: &BeaconState) -> usize {
    let mut tracker = Tracker::default();
    tracker.track_item(&MeasuredState(state));
    tracker.total_size()
}

/// The same with milhouse's own [`MemoryTracker`] (a cross-check of [`Tracker`]).
pub fn state_memory_milhouse(state: &BeaconState) -> usize {
    let mut tracker = MemoryTracker::default();
    tracker.track_item(&MeasuredState(state));
    tracker.total_size()
}

/// Hasher for node addresses: one multiply and two xor-shifts (addresses are already unique;
/// SipHash's DoS resistance buys nothing here and made measuring a 1M-validator state 3x
/// slower).
#[derive(Default)]
pub struct AddressHasher(u64);

impl std::hash::Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        let mut h = self.0 ^ (self.0 >> 29);
        h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^ (h >> 32)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = n as u64;
    }
}

type AddressMap =
    std::collections::HashMap<usize, usize, std::hash::BuildHasherDefault<AddressHasher>>;

/// milhouse's [`MemoryTracker`] algorithm (same [`MemorySize`] model: a subtree met again is
/// counted once), with a fast address hash.
#[derive(Default)]
pub struct Tracker {
    subtree_sizes: AddressMap,
    total_size: usize,
}

impl Tracker {
    /// Tracks `item`; returns (its size ignoring sharing, the bytes it added to the total).
    pub fn track_item(&mut self, item: &dyn MemorySize) -> (usize, usize) {
        let ptr = item.self_pointer();
        if let Some(&total) = self.subtree_sizes.get(&ptr) {
            return (total, 0);
        }
        let intrinsic = item.intrinsic_size();
        let (mut total, mut differential) = (intrinsic, intrinsic);
        for subtree in item.subtrees() {
            let (t, d) = self.track_item(subtree);
            total = total.saturating_add(t);
            differential = differential.saturating_add(d);
        }
        self.subtree_sizes.insert(ptr, total);
        self.total_size = self.total_size.saturating_add(intrinsic);
        (total, differential)
    }

    /// Bytes of everything tracked, shared subtrees once.
    pub fn total_size(&self) -> usize {
        self.total_size
    }
}
