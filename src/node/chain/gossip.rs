//! Gossip validation: every topic's `[IGNORE]`/`[REJECT]` conditions of the p2p-interface spec
//! (Fulu, with the Electra/Deneb/Capella/Altair/Phase0 topics it keeps), in the spec's order
//! (the executable form is `validate_*_gossip` in the consolidated pyspec), the "first seen"
//! caches those conditions refer to ([`GossipCaches`]), the node's subscriptions
//! ([`initial_topics`]) and the publishing of its own messages ([`publish`]).
//!
//! A batch is validated in three passes, all but the last on the blocking pool: (1) decode and
//! the checks before the signatures; (2) every signature of the batch in one multi-pairing
//! (`bls::batch_verify`), one by one only if that fails, to name the bad messages; (3) in input
//! order, the checks the spec puts after the signatures, the "seen" caches (checked again, so
//! two copies in one batch are one Accept and one Ignore) and, for the accepted, the pools and
//! fork choice (the same pooling `Chain::publish_*` does for the in-process validator).
//!
//! The `state` of the spec's functions is the head state (advanced to the message's epoch when
//! the head is behind, cached per head and epoch); blocks and data columns use their parent's
//! state from the store for the expected proposer. "The block has been seen" is the fork-choice
//! tree of the snapshot (the writer owns fork choice; readers never lock it).

use super::spec;
use super::{
    lock, to_attestation, transition_error, validator_pubkey, Chain, Msg, SingleVote, Snapshot,
};
use crate::consensus::bls;
use crate::consensus::config::ChainConfig;
use crate::consensus::constants::*;
use crate::consensus::primitives::*;
use crate::network::{GossipKind, GossipTopic, PeerAction};
use crate::node::clock::now_ms;
use crate::node::{blocking, NodeError};
use crate::store::budget::{Consumer, MemoryBudget};
use spec::transition::helpers::{
    compute_epoch_at_slot, compute_start_slot_at_epoch, compute_time_at_slot, get_beacon_committee,
    get_beacon_proposer_index, get_committee_count_per_slot, get_committee_indices,
    get_current_epoch, is_active_validator, is_slashable_attestation_data, is_slashable_validator,
};
use spec::transition::signatures::{
    attestation_signature, attester_slashing_signatures, block_proposal_signature,
    bls_to_execution_change_signature, proposer_slashing_signatures, voluntary_exit_signature,
    SignatureCheck,
};
use spec::transition::slot::process_slots;
use spec::{
    Attestation, AttesterSlashing, BeaconState, DataColumnSidecar, ProposerSlashing,
    SignedAggregateAndProof, SignedBLSToExecutionChange, SignedBeaconBlock,
    SignedContributionAndProof, SignedVoluntaryExit, SingleAttestation, SyncCommitteeMessage,
};
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use tree_hash::TreeHash;
use typenum::Unsigned;

// ------------------------------------------------------------------------------ outcome

/// The verdict on one gossip message (the router maps it to gossipsub's acceptance and, on
/// `Reject`, reports the peer).
#[derive(Debug, Clone)]
pub enum GossipOutcome {
    /// Valid: relay it. Attestations, aggregates, sync messages, contributions and operations
    /// are already pooled (and attestations handed to fork choice).
    Accept,
    /// Valid up to the proposer signature and the parent's checks: relay it, then the router
    /// imports it (`chain.import_block`).
    AcceptBlock(Arc<SignedBeaconBlock>),
    /// An `[IGNORE]` condition: not relayed, the sender not penalised.
    Ignore(String),
    /// A `[REJECT]` condition: not relayed, the sender penalised.
    Reject(String, PeerAction),
    /// `[IGNORE]` the block's parent has not been seen: the router quarantines the block.
    UnknownParent(Arc<SignedBeaconBlock>),
    /// `[IGNORE]` the block voted for (or a sidecar's parent) has not been seen: the router
    /// may look it up.
    UnknownBlock(Root),
}

impl GossipOutcome {
    pub fn acceptance(&self) -> crate::network::MessageAcceptance {
        use crate::network::MessageAcceptance as A;
        match self {
            GossipOutcome::Accept | GossipOutcome::AcceptBlock(_) => A::Accept,
            GossipOutcome::Reject(..) => A::Reject,
            GossipOutcome::Ignore(_)
            | GossipOutcome::UnknownParent(_)
            | GossipOutcome::UnknownBlock(_) => A::Ignore,
        }
    }
}

fn ignore(reason: impl Into<String>) -> GossipOutcome {
    GossipOutcome::Ignore(reason.into())
}

/// A structural or semantic violation an honest client never sends (a peer on the same
/// fork sends these only if broken or malicious).
fn reject(reason: impl Into<String>) -> GossipOutcome {
    GossipOutcome::Reject(reason.into(), PeerAction::LowToleranceError)
}

/// Conditions an honest but out-of-sync peer can trip (views of the chain that differ:
/// wrong target on a fork, committee computed from another shuffling).
fn reject_mild(reason: impl Into<String>) -> GossipOutcome {
    GossipOutcome::Reject(reason.into(), PeerAction::HighToleranceError)
}

// ------------------------------------------------------------------------------ caches

/// Bytes one key of a "seen" set costs: the key (at most 48 bytes: slot, root, index) is held
/// in the hash set and in the eviction queue, plus the hash table's control bytes and slack.
pub const SEEN_KEY_BYTES: u64 = 128;
/// Bytes one remembered aggregation bitfield costs: up to 2,048 bits (a mainnet committee) =
/// 256 bytes, its key, and overhead.
pub const SEEN_BITS_BYTES: u64 = 512;

/// A bounded set of keys, each with the slot it belongs to: the oldest inserted go first when
/// full, and everything before a slot is pruned as it ages out of the spec's windows.
#[derive(Debug)]
struct SeenSet<K> {
    set: HashSet<K>,
    order: VecDeque<(Slot, K)>,
    bound: usize,
}

impl<K: Hash + Eq + Clone> SeenSet<K> {
    fn new(bound: usize) -> Self {
        Self {
            set: HashSet::new(),
            order: VecDeque::new(),
            bound: bound.max(1),
        }
    }

    fn contains(&self, key: &K) -> bool {
        self.set.contains(key)
    }

    fn insert(&mut self, slot: Slot, key: K) {
        if self.set.contains(&key) {
            return;
        }
        while self.order.len() >= self.bound {
            match self.order.pop_front() {
                Some((_, old)) => {
                    self.set.remove(&old);
                }
                None => break,
            }
        }
        self.set.insert(key.clone());
        self.order.push_back((slot, key));
    }

    /// Drops keys of slots before `min_slot` (insertion order is nearly slot order; a stray
    /// old key behind a newer one waits for the next prune or the bound).
    fn prune(&mut self, min_slot: Slot) {
        while let Some((slot, _)) = self.order.front() {
            if *slot >= min_slot {
                break;
            }
            if let Some((_, old)) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }

    fn len(&self) -> usize {
        self.set.len()
    }
}

/// An aggregation bitfield, packed (for the "non-strict superset already seen" rules).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bits {
    len: usize,
    words: Vec<u64>,
}

impl Bits {
    fn from_iter(bits: impl Iterator<Item = bool>) -> Self {
        let mut words = Vec::new();
        let mut len = 0usize;
        for (i, bit) in bits.enumerate() {
            if i % 64 == 0 {
                words.push(0u64);
            }
            if bit {
                if let Some(w) = words.last_mut() {
                    *w |= 1u64 << (i % 64);
                }
            }
            len = i + 1;
        }
        Bits { len, words }
    }

    /// Every bit of `other` is set here (spec `is_non_strict_superset` for one prior).
    fn covers(&self, other: &Bits) -> bool {
        self.len == other.len
            && self
                .words
                .iter()
                .zip(&other.words)
                .all(|(mine, theirs)| theirs & !mine == 0)
    }
}

/// Bitfields seen per key, bounded in total entries (the oldest keys go first).
#[derive(Debug)]
struct SeenBits<K> {
    map: HashMap<K, Vec<Bits>>,
    order: VecDeque<(Slot, K)>,
    entries: usize,
    bound: usize,
}

impl<K: Hash + Eq + Clone> SeenBits<K> {
    fn new(bound: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            entries: 0,
            bound: bound.max(1),
        }
    }

    /// Spec `is_non_strict_superset(seen_bits, new_bits)`.
    fn is_covered(&self, key: &K, bits: &Bits) -> bool {
        self.map
            .get(key)
            .is_some_and(|list| list.iter().any(|prior| prior.covers(bits)))
    }

    fn insert(&mut self, slot: Slot, key: K, bits: Bits) {
        while self.entries >= self.bound {
            if !self.pop_oldest() {
                break;
            }
        }
        let list = self.map.entry(key.clone()).or_default();
        if list.is_empty() {
            self.order.push_back((slot, key));
        }
        list.push(bits);
        self.entries += 1;
    }

    fn pop_oldest(&mut self) -> bool {
        match self.order.pop_front() {
            Some((_, key)) => {
                if let Some(list) = self.map.remove(&key) {
                    self.entries = self.entries.saturating_sub(list.len());
                }
                true
            }
            None => false,
        }
    }

    fn prune(&mut self, min_slot: Slot) {
        while self.order.front().is_some_and(|(slot, _)| *slot < min_slot) {
            self.pop_oldest();
        }
    }
}

/// The spec's `Seen` (p2p-interface "first seen" conditions), one lock for all of it (held
/// only for lookups and inserts, never across a signature check).
#[derive(Debug)]
struct Seen {
    /// `proposer_slots`: (proposer, slot) of blocks with a valid signature.
    proposer_slots: SeenSet<(ValidatorIndex, Slot)>,
    /// `attestation_validator_epochs`: (attester, target epoch).
    attestation_validator_epochs: SeenSet<(ValidatorIndex, Epoch)>,
    /// `aggregator_epochs`: (aggregator, target epoch).
    aggregator_epochs: SeenSet<(ValidatorIndex, Epoch)>,
    /// `aggregate_data_roots`: (data root, committee) → aggregation bits.
    aggregate_data_roots: SeenBits<(Root, CommitteeIndex)>,
    /// `sync_message_validator_slots`: (slot, validator, subnet).
    sync_message_validator_slots: SeenSet<(Slot, ValidatorIndex, u64)>,
    /// `sync_contribution_aggregator_slots`: (aggregator, slot, subcommittee).
    sync_contribution_aggregator_slots: SeenSet<(ValidatorIndex, Slot, u64)>,
    /// `sync_contribution_data`: (slot, block root, subcommittee) → bits.
    sync_contribution_data: SeenBits<(Slot, Root, u64)>,
    voluntary_exit_indices: SeenSet<ValidatorIndex>,
    proposer_slashing_indices: SeenSet<ValidatorIndex>,
    attester_slashing_indices: SeenSet<ValidatorIndex>,
    bls_to_execution_change_indices: SeenSet<ValidatorIndex>,
    /// `data_column_sidecar_tuples`: (slot, proposer, column index).
    data_column_sidecar_tuples: SeenSet<(Slot, ValidatorIndex, ColumnIndex)>,
    /// The slot of the last prune.
    pruned_at: Slot,
}

/// The head state advanced to an epoch, kept for the next batches of that epoch (advancing
/// through an epoch transition is the expensive part of validating an attestation).
type AdvancedState = (Root, Epoch, Arc<BeaconState>);

/// A sync committee (by its aggregate pubkey) and its members' validator indices.
type SyncIndices = (spec::BLSPubkey, Arc<Vec<ValidatorIndex>>);

/// The "first seen" caches of gossip validation, bounded from the memory budget. Cheap to
/// clone (shared).
#[derive(Debug, Clone)]
pub struct GossipCaches {
    seen: Arc<Mutex<Seen>>,
    advanced: Arc<Mutex<Option<AdvancedState>>>,
    /// The sync committee's validator indices, keyed by the committee's aggregate pubkey (an
    /// index lookup by pubkey is a scan of the registry; the committee changes once a period).
    sync_indices: Arc<Mutex<Option<SyncIndices>>>,
    /// Topics the node subscribed to for its validators' duties (subscribed once).
    duty_topics: Arc<Mutex<HashSet<GossipKind>>>,
}

/// The bounds of the caches, in entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GossipCacheBounds {
    /// (attester, epoch): half of the caches' share — one per active validator per epoch is
    /// the steady state, two epochs are live (current and previous).
    pub attestations: usize,
    /// Aggregation bitfields (aggregates and contributions): an eighth each.
    pub bitfields: usize,
    /// Every other set (blocks, aggregators, sync messages and contributions, operations,
    /// columns): a sixteenth each at most, small in practice.
    pub other: usize,
}

impl GossipCacheBounds {
    /// A quarter of the `GossipQueues` share (the rest is the network's inbound queues and the
    /// writer's pending attestations): at the 2 GiB default, 25 MiB — 100k attesters (two
    /// epochs of 50k validators; a larger network forgets the oldest and at worst relays a
    /// duplicate once, which gossipsub's own seen cache mostly stops anyway).
    pub fn from_budget(budget: &MemoryBudget) -> Self {
        let share = budget.bytes(Consumer::GossipQueues) / 4;
        let n = |bytes: u64, per: u64| usize::try_from(bytes / per).unwrap_or(usize::MAX).max(64);
        GossipCacheBounds {
            attestations: n(share / 2, SEEN_KEY_BYTES),
            bitfields: n(share / 8, SEEN_BITS_BYTES),
            other: n(share / 16, SEEN_KEY_BYTES),
        }
    }
}

impl GossipCaches {
    pub fn new(budget: &MemoryBudget) -> Self {
        Self::with_bounds(GossipCacheBounds::from_budget(budget))
    }

    pub fn with_bounds(b: GossipCacheBounds) -> Self {
        let seen = Seen {
            proposer_slots: SeenSet::new(b.other),
            attestation_validator_epochs: SeenSet::new(b.attestations),
            aggregator_epochs: SeenSet::new(b.other),
            aggregate_data_roots: SeenBits::new(b.bitfields),
            sync_message_validator_slots: SeenSet::new(b.other),
            sync_contribution_aggregator_slots: SeenSet::new(b.other),
            sync_contribution_data: SeenBits::new(b.bitfields),
            voluntary_exit_indices: SeenSet::new(b.other),
            proposer_slashing_indices: SeenSet::new(b.other),
            attester_slashing_indices: SeenSet::new(b.other),
            bls_to_execution_change_indices: SeenSet::new(b.other),
            data_column_sidecar_tuples: SeenSet::new(b.other),
            pruned_at: 0,
        };
        GossipCaches {
            seen: Arc::new(Mutex::new(seen)),
            advanced: Arc::new(Mutex::new(None)),
            sync_indices: Arc::new(Mutex::new(None)),
            duty_topics: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        lock(&self.seen)
    }

    /// Forgets what no rule can match any more: blocks, columns and sync messages before the
    /// finalized-ish horizon of two epochs, attestations and aggregates of target epochs before
    /// the previous one. Once per slot.
    pub fn prune(&self, current_slot: Slot) {
        let mut seen = self.seen();
        if seen.pruned_at == current_slot {
            return;
        }
        seen.pruned_at = current_slot;
        let epoch = compute_epoch_at_slot(current_slot);
        let two_epochs_ago = compute_start_slot_at_epoch(epoch.saturating_sub(2)).unwrap_or(0);
        let previous = compute_start_slot_at_epoch(epoch.saturating_sub(1)).unwrap_or(0);
        seen.proposer_slots.prune(two_epochs_ago);
        seen.data_column_sidecar_tuples.prune(two_epochs_ago);
        seen.attestation_validator_epochs.prune(previous);
        seen.aggregator_epochs.prune(previous);
        seen.aggregate_data_roots.prune(previous);
        let recent = current_slot.saturating_sub(2);
        seen.sync_message_validator_slots.prune(recent);
        seen.sync_contribution_aggregator_slots.prune(recent);
        seen.sync_contribution_data.prune(recent);
    }

    /// Records the node's own block (so a copy from a peer is a duplicate).
    pub fn record_block(&self, proposer: ValidatorIndex, slot: Slot) {
        self.seen().proposer_slots.insert(slot, (proposer, slot));
    }

    /// Records the node's own attestation.
    pub fn record_attestation(&self, attester: ValidatorIndex, slot: Slot, target_epoch: Epoch) {
        self.seen()
            .attestation_validator_epochs
            .insert(slot, (attester, target_epoch));
    }

    /// Records the node's own aggregate.
    pub fn record_aggregate(&self, signed: &SignedAggregateAndProof) {
        let aggregate = &signed.message.aggregate;
        let slot = aggregate.data.slot;
        let mut seen = self.seen();
        seen.aggregator_epochs.insert(
            slot,
            (signed.message.aggregator_index, aggregate.data.target.epoch),
        );
        if let [committee] = get_committee_indices(&aggregate.committee_bits)[..] {
            seen.aggregate_data_roots.insert(
                slot,
                (aggregate.data.tree_hash_root(), committee),
                Bits::from_iter(aggregate.aggregation_bits.iter()),
            );
        }
    }

    /// Records the node's own sync committee message on `subnet`.
    pub fn record_sync_message(&self, message: &SyncCommitteeMessage, subnet: u64) {
        self.seen().sync_message_validator_slots.insert(
            message.slot,
            (message.slot, message.validator_index, subnet),
        );
    }

    /// Records the node's own contribution.
    pub fn record_contribution(&self, signed: &SignedContributionAndProof) {
        let c = &signed.message.contribution;
        let mut seen = self.seen();
        seen.sync_contribution_aggregator_slots.insert(
            c.slot,
            (
                signed.message.aggregator_index,
                c.slot,
                c.subcommittee_index,
            ),
        );
        seen.sync_contribution_data.insert(
            c.slot,
            (c.slot, c.beacon_block_root, c.subcommittee_index),
            Bits::from_iter(c.aggregation_bits.iter()),
        );
    }

    /// Whether the node still has to subscribe to `kind` for a duty (true once per topic).
    pub fn needs_duty_subscription(&self, kind: GossipKind) -> bool {
        lock(&self.duty_topics).insert(kind)
    }

    /// Entries held (tests, metrics).
    pub fn len(&self) -> usize {
        let seen = self.seen();
        seen.proposer_slots.len()
            + seen.attestation_validator_epochs.len()
            + seen.aggregator_epochs.len()
            + seen.aggregate_data_roots.entries
            + seen.sync_message_validator_slots.len()
            + seen.sync_contribution_aggregator_slots.len()
            + seen.sync_contribution_data.entries
            + seen.voluntary_exit_indices.len()
            + seen.proposer_slashing_indices.len()
            + seen.attester_slashing_indices.len()
            + seen.bls_to_execution_change_indices.len()
            + seen.data_column_sidecar_tuples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// ------------------------------------------------------------------------------ time

/// The wall clock as the spec's gossip time conditions read it (`current_time_ms`).
#[derive(Debug, Clone, Copy)]
struct Time {
    now_ms: u64,
    genesis_time: u64,
    slot_ms: u64,
    disparity_ms: u64,
}

impl Time {
    /// Spec `compute_time_at_slot_ms`.
    fn slot_start_ms(&self, slot: Slot) -> u64 {
        self.genesis_time
            .saturating_mul(1000)
            .saturating_add(slot.saturating_mul(self.slot_ms))
    }

    /// Spec `is_not_from_future_slot`.
    fn is_not_from_future_slot(&self, slot: Slot) -> bool {
        self.now_ms.saturating_add(self.disparity_ms) >= self.slot_start_ms(slot)
    }

    /// Spec `is_within_slot_range`: now is within `[slot, slot + range]` (± disparity).
    fn is_within_slot_range(&self, slot: Slot, range: u64) -> bool {
        let now = self.now_ms;
        if now.saturating_add(self.disparity_ms) < self.slot_start_ms(slot) {
            return false;
        }
        let end = self.slot_start_ms(slot.saturating_add(range).saturating_add(1));
        end.saturating_add(self.disparity_ms) >= now
    }

    /// Spec `is_current_slot`.
    fn is_current_slot(&self, slot: Slot) -> bool {
        self.is_within_slot_range(slot, 0)
    }

    /// Spec `is_within_epoch`.
    fn is_within_epoch(&self, epoch: Epoch) -> bool {
        compute_start_slot_at_epoch(epoch).is_ok_and(|start| {
            self.is_within_slot_range(start, spec::PRESET.slots_per_epoch.saturating_sub(1))
        })
    }

    /// Spec `is_current_or_previous_epoch`.
    fn is_current_or_previous_epoch(&self, epoch: Epoch) -> bool {
        self.is_within_epoch(epoch) || self.is_within_epoch(epoch.saturating_add(1))
    }

    fn current_slot(&self) -> Slot {
        self.now_ms
            .saturating_sub(self.genesis_time.saturating_mul(1000))
            .checked_div(self.slot_ms)
            .unwrap_or(0)
    }
}

// ------------------------------------------------------------------------------ fork choice view

/// The fork-choice tree of a snapshot: root → (parent, slot).
struct Tree {
    nodes: HashMap<Root, (Option<Root>, Slot)>,
    finalized_epoch: Epoch,
    finalized_root: Root,
}

impl Tree {
    fn new(snapshot: &Snapshot) -> Self {
        Tree {
            nodes: snapshot
                .fork_choice_nodes
                .iter()
                .map(|n| (n.root, (n.parent_root, n.slot)))
                .collect(),
            finalized_epoch: snapshot.finalized.epoch,
            finalized_root: snapshot.finalized.root,
        }
    }

    fn contains(&self, root: &Root) -> bool {
        self.nodes.contains_key(root)
    }

    /// Spec `get_checkpoint_block(store, root, epoch)`: the ancestor of `root` at the epoch's
    /// start slot (the tree's anchor when the walk leaves the tree, i.e. at or before the
    /// finalized block).
    fn checkpoint_block(&self, root: Root, epoch: Epoch) -> Option<Root> {
        let start = compute_start_slot_at_epoch(epoch).ok()?;
        let mut current = root;
        loop {
            let (parent, slot) = self.nodes.get(&current)?;
            if *slot <= start {
                return Some(current);
            }
            match parent {
                Some(p) if self.nodes.contains_key(p) => current = *p,
                _ => return Some(current),
            }
        }
    }

    /// The finalized checkpoint is an ancestor of `root`.
    fn descends_from_finalized(&self, root: Root) -> bool {
        self.checkpoint_block(root, self.finalized_epoch) == Some(self.finalized_root)
    }
}

// ------------------------------------------------------------------------------ batch

/// One signature to check: key, signing root, signature.
struct Check {
    pubkey: bls::PublicKey,
    message: [u8; 32],
    signature: bls::Signature,
}

impl From<SignatureCheck> for Check {
    fn from(c: SignatureCheck) -> Self {
        Check {
            pubkey: c.pubkey,
            message: c.message,
            signature: c.signature,
        }
    }
}

impl Check {
    fn is_valid(&self) -> bool {
        bls::verify(&self.pubkey, &self.message, &self.signature)
    }
}

/// A message past its pre-signature checks, with what the later passes need. (Variants differ
/// in size; each lives for one batch and is moved once, so boxing would only add allocations.)
#[allow(clippy::large_enum_variant)]
enum Item {
    Block(Arc<SignedBeaconBlock>),
    Attestation {
        attestation: Attestation,
        vote: SingleVote,
        attester: ValidatorIndex,
    },
    Aggregate {
        signed: SignedAggregateAndProof,
        committee_index: CommitteeIndex,
        bits: Bits,
    },
    SyncMessage {
        message: SyncCommitteeMessage,
        subnet: u64,
        positions: Vec<usize>,
    },
    Contribution {
        signed: SignedContributionAndProof,
        bits: Bits,
    },
    Exit(SignedVoluntaryExit),
    ProposerSlashing(ProposerSlashing),
    AttesterSlashing {
        slashing: AttesterSlashing,
        intersection: Vec<ValidatorIndex>,
    },
    BlsChange(SignedBLSToExecutionChange),
    Column(Box<DataColumnSidecar>),
}

#[allow(clippy::large_enum_variant)]
enum Stage {
    Done(GossipOutcome),
    Checked { item: Item, checks: Vec<Check> },
}

fn decode<T: ssz::Decode>(bytes: &[u8]) -> Result<T, GossipOutcome> {
    T::from_ssz_bytes(bytes).map_err(|e| {
        GossipOutcome::Reject(
            format!("SSZ does not decode: {e:?}"),
            PeerAction::LowToleranceError,
        )
    })
}

/// What the passes share.
struct Context<'a> {
    chain: &'a Chain,
    caches: &'a GossipCaches,
    snapshot: &'a Snapshot,
    tree: Tree,
    time: Time,
    config: &'a ChainConfig,
}

impl Context<'_> {
    fn head(&self) -> &BeaconState {
        &self.snapshot.head_state
    }

    /// The head state at `epoch` (advanced when the head is behind; cached per head root and
    /// epoch). `None` when it cannot be advanced.
    fn state_at_epoch(&self, epoch: Epoch) -> Option<Arc<BeaconState>> {
        let head = &self.snapshot.head_state;
        if get_current_epoch(head) >= epoch {
            return Some(head.clone());
        }
        let key = self.snapshot.head_root;
        if let Some((root, e, state)) = lock(&self.caches.advanced).as_ref() {
            if *root == key && *e == epoch {
                return Some(state.clone());
            }
        }
        // Only up to the wall clock's epoch (a message from further ahead fails the time
        // checks anyway; this bounds the work a peer can cause).
        if epoch > compute_epoch_at_slot(self.time.current_slot()).saturating_add(1) {
            return None;
        }
        let mut state = (**head).clone();
        let slot = compute_start_slot_at_epoch(epoch).ok()?;
        process_slots(&mut state, self.config, slot).ok()?;
        let state = Arc::new(state);
        *lock(&self.caches.advanced) = Some((key, epoch, state.clone()));
        Some(state)
    }

    /// The committee chosen by `compute_subnets_for_sync_committee` / spec
    /// `get_sync_subcommittee_pubkeys` (the next one in the last slot of a period), as
    /// validator indices.
    fn sync_committee_indices(&self) -> Option<Arc<Vec<ValidatorIndex>>> {
        let state = self.head();
        let period = |e: Epoch| spec::validator::compute_sync_committee_period(e);
        let next_slot_epoch = compute_epoch_at_slot(state.slot.saturating_add(1));
        let committee = if period(get_current_epoch(state)) == period(next_slot_epoch) {
            &state.current_sync_committee
        } else {
            &state.next_sync_committee
        };
        if let Some((key, indices)) = lock(&self.caches.sync_indices).as_ref() {
            if *key == committee.aggregate_pubkey {
                return Some(indices.clone());
            }
        }
        let by_pubkey: HashMap<&spec::BLSPubkey, ValidatorIndex> = (0u64..)
            .zip(state.validators.iter())
            .map(|(i, v)| (&v.pubkey, i))
            .collect();
        let indices: Option<Vec<ValidatorIndex>> = committee
            .pubkeys
            .iter()
            .map(|pk| by_pubkey.get(pk).copied())
            .collect();
        let indices = Arc::new(indices?);
        *lock(&self.caches.sync_indices) = Some((committee.aggregate_pubkey, indices.clone()));
        Some(indices)
    }

    fn pubkey(&self, state: &BeaconState, index: ValidatorIndex) -> Option<bls::PublicKey> {
        validator_pubkey(state, self.chain.pubkeys(), index)
    }

    fn single_check(
        &self,
        state: &BeaconState,
        index: ValidatorIndex,
        root: Root,
        signature: &spec::BLSSignature,
    ) -> Result<Check, GossipOutcome> {
        let pubkey = self
            .pubkey(state, index)
            .ok_or_else(|| reject(format!("validator {index} has no valid public key")))?;
        let signature = bls::Signature::from_bytes(signature.as_slice())
            .map_err(|_| reject("signature is not a valid G2 point"))?;
        Ok(Check {
            pubkey,
            message: root.0,
            signature,
        })
    }
}

/// Validates a batch of gossip messages (topic kind and snappy-decompressed SSZ bytes) and
/// applies the accepted ones (pools, fork choice). One outcome per message, in input order.
pub async fn validate_gossip_batch(
    chain: &Arc<Chain>,
    caches: &GossipCaches,
    messages: Vec<(GossipKind, Vec<u8>)>,
) -> Vec<GossipOutcome> {
    validate_gossip_batch_at(chain, caches, messages, now_ms()).await
}

/// [`validate_gossip_batch`] at a given wall-clock time (ms since the Unix epoch).
pub async fn validate_gossip_batch_at(
    chain: &Arc<Chain>,
    caches: &GossipCaches,
    messages: Vec<(GossipKind, Vec<u8>)>,
    now_ms: u64,
) -> Vec<GossipOutcome> {
    let count = messages.len();
    let worker = chain.clone();
    let shared = caches.clone();
    let result = blocking(chain.single_thread, move || {
        validate_batch_blocking(&worker, &shared, messages, now_ms)
    })
    .await;
    match result {
        Ok((outcomes, for_fork_choice)) => {
            if !for_fork_choice.is_empty() {
                if let Err(e) = chain.send(Msg::Attestations(for_fork_choice)).await {
                    tracing::warn!(error = %e, "gossip attestations not sent to fork choice");
                }
            }
            outcomes
        }
        Err(e) => {
            tracing::warn!(error = %e, "gossip batch validation failed");
            (0..count)
                .map(|_| ignore(format!("internal error: {e}")))
                .collect()
        }
    }
}

fn validate_batch_blocking(
    chain: &Chain,
    caches: &GossipCaches,
    messages: Vec<(GossipKind, Vec<u8>)>,
    now_ms: u64,
) -> (Vec<GossipOutcome>, Vec<Attestation>) {
    let snapshot = chain.snapshot();
    let time = Time {
        now_ms,
        genesis_time: snapshot.genesis_time,
        slot_ms: chain.config.slot_duration_ms.max(1),
        disparity_ms: chain.config.maximum_gossip_clock_disparity,
    };
    caches.prune(time.current_slot());
    let cx = Context {
        chain,
        caches,
        snapshot: &snapshot,
        tree: Tree::new(&snapshot),
        time,
        config: &chain.config,
    };
    // Pass 1: decode and the checks before the signatures.
    let stages: Vec<Stage> = messages
        .iter()
        .map(|(kind, bytes)| match pre_checks(&cx, *kind, bytes) {
            Ok((item, checks)) => Stage::Checked { item, checks },
            Err(outcome) => Stage::Done(outcome),
        })
        .collect();
    // Pass 2: every signature of the batch at once; one by one only if that fails.
    let all: Vec<bls::SignatureSet<'_>> = stages
        .iter()
        .filter_map(|s| match s {
            Stage::Checked { checks, .. } => Some(checks),
            Stage::Done(_) => None,
        })
        .flatten()
        .map(|c| bls::SignatureSet::single(&c.signature, &c.pubkey, c.message))
        .collect();
    let batch_ok = all.is_empty() || bls::batch_verify(&all);
    drop(all);
    // Pass 3: in order, the checks after the signatures, the caches, the pools.
    let mut outcomes = Vec::with_capacity(stages.len());
    let mut for_fork_choice = Vec::new();
    for stage in stages {
        let outcome = match stage {
            Stage::Done(outcome) => outcome,
            Stage::Checked { item, checks } => {
                if !batch_ok && !checks.iter().all(Check::is_valid) {
                    invalid_signature(&item)
                } else {
                    post_checks(&cx, item, &mut for_fork_choice)
                }
            }
        };
        outcomes.push(outcome);
    }
    if !for_fork_choice.is_empty() {
        chain.metrics.attestations_verified.fetch_add(
            for_fork_choice.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
    (outcomes, for_fork_choice)
}

/// The spec's reason for a failed signature, per topic.
fn invalid_signature(item: &Item) -> GossipOutcome {
    reject(match item {
        Item::Block(_) => "invalid proposer signature",
        Item::Attestation { .. } => "invalid attestation signature",
        Item::Aggregate { .. } => "invalid selection proof, aggregator or aggregate signature",
        Item::SyncMessage { .. } => "invalid sync committee message signature",
        Item::Contribution { .. } => {
            "invalid selection proof, aggregator or contribution signature"
        }
        Item::Exit(_) => "invalid voluntary exit signature",
        Item::ProposerSlashing(_) => "invalid proposer slashing signature",
        Item::AttesterSlashing { .. } => "invalid indexed attestation signature",
        Item::BlsChange(_) => "invalid BLS to execution change signature",
        Item::Column(_) => "invalid proposer signature on sidecar block header",
    })
}

type Pre = Result<(Item, Vec<Check>), GossipOutcome>;

fn pre_checks(cx: &Context<'_>, kind: GossipKind, bytes: &[u8]) -> Pre {
    match kind {
        GossipKind::BeaconBlock => pre_block(cx, decode(bytes)?),
        GossipKind::BeaconAttestation(subnet) => pre_attestation(cx, decode(bytes)?, subnet),
        GossipKind::BeaconAggregateAndProof => pre_aggregate(cx, decode(bytes)?),
        GossipKind::SyncCommittee(subnet) => pre_sync_message(cx, decode(bytes)?, subnet),
        GossipKind::SyncCommitteeContributionAndProof => pre_contribution(cx, decode(bytes)?),
        GossipKind::VoluntaryExit => pre_exit(cx, decode(bytes)?),
        GossipKind::ProposerSlashing => pre_proposer_slashing(cx, decode(bytes)?),
        GossipKind::AttesterSlashing => pre_attester_slashing(cx, decode(bytes)?),
        GossipKind::BlsToExecutionChange => pre_bls_change(cx, decode(bytes)?),
        GossipKind::DataColumnSidecar(subnet) => pre_column(cx, decode(bytes)?, subnet),
    }
}

// ------------------------------------------------------------------------------ beacon_block

/// p2p-interface `beacon_block` up to the proposer signature (spec `validate_beacon_block_gossip`).
fn pre_block(cx: &Context<'_>, block: SignedBeaconBlock) -> Pre {
    let message = &block.message;
    // [IGNORE] The block is not from a future slot.
    if !cx.time.is_not_from_future_slot(message.slot) {
        return Err(ignore("block is from a future slot"));
    }
    // [IGNORE] The block is from a slot greater than the latest finalized slot.
    let finalized_slot = compute_start_slot_at_epoch(cx.tree.finalized_epoch).unwrap_or(0);
    if message.slot <= finalized_slot {
        return Err(ignore(
            "block is not from a slot greater than the latest finalized slot",
        ));
    }
    // [IGNORE] The block is the first block with valid signature received for the proposer
    // for the slot.
    if cx
        .caches
        .seen()
        .proposer_slots
        .contains(&(message.proposer_index, message.slot))
    {
        return Err(ignore(
            "block is not the first valid block for this proposer and slot",
        ));
    }
    // Already imported (e.g. through sync or from another peer first): nothing new.
    if cx.tree.contains(&message.tree_hash_root()) {
        return Err(ignore("block already known"));
    }
    // [REJECT] The proposer index is a valid validator index.
    let state = cx.head();
    if usize::try_from(message.proposer_index).map_or(true, |i| i >= state.validators.len()) {
        return Err(reject("proposer index out of range"));
    }
    // [REJECT] The proposer signature is valid (domain of the block's epoch).
    let check = block_proposal_signature_at(cx, state, &block)?;
    Ok((Item::Block(Arc::new(block)), vec![check]))
}

/// `block_proposal_signature` with the domain of the block's epoch (the spec's
/// `get_domain(state, DOMAIN_BEACON_PROPOSER, compute_epoch_at_slot(block.slot))`).
fn block_proposal_signature_at(
    cx: &Context<'_>,
    state: &BeaconState,
    block: &SignedBeaconBlock,
) -> Result<Check, GossipOutcome> {
    let epoch = compute_epoch_at_slot(block.message.slot);
    if epoch == get_current_epoch(state) {
        return block_proposal_signature(
            state,
            cx.chain.pubkeys(),
            &block.message,
            &block.signature,
        )
        .map(Check::from)
        .map_err(|e| reject(format!("proposer signature: {e}")));
    }
    let domain = spec::transition::helpers::get_domain(state, DOMAIN_BEACON_PROPOSER, Some(epoch));
    let root = spec::transition::helpers::compute_signing_root(&block.message, domain);
    cx.single_check(state, block.message.proposer_index, root, &block.signature)
}

/// The parent's state at `slot` (the store's state cache; advanced when `slot` is later).
fn parent_state_at(
    chain: &Chain,
    parent_state_root: &Root,
    slot: Slot,
) -> Result<BeaconState, NodeError> {
    let mut state = chain.store.load_state(parent_state_root)?;
    if state.slot < slot {
        process_slots(&mut state, &chain.config, slot).map_err(transition_error)?;
    }
    Ok(state)
}

fn post_block(cx: &Context<'_>, block: Arc<SignedBeaconBlock>) -> GossipOutcome {
    let message = &block.message;
    let key = (message.proposer_index, message.slot);
    if cx.caches.seen().proposer_slots.contains(&key) {
        return ignore("block is not the first valid block for this proposer and slot");
    }
    // [IGNORE] The block's parent has been seen (the router queues it and fetches the parent).
    let parent = match cx.chain.store.block_meta(&message.parent_root) {
        Ok(Some(meta)) => meta,
        Ok(None) => return GossipOutcome::UnknownParent(block),
        Err(e) => return ignore(format!("store: {e}")),
    };
    // [REJECT] The block's execution payload timestamp is correct with respect to the slot.
    match compute_time_at_slot(cx.head(), cx.config, message.slot) {
        Ok(t) if t == message.body.execution_payload.timestamp => {}
        Ok(_) => return reject("incorrect execution payload timestamp"),
        Err(e) => return ignore(format!("slot time: {e}")),
    }
    // The store only holds blocks that passed validation: the spec's "parent failed
    // validation" conditions cannot arise.
    // [REJECT] The block is from a higher slot than its parent.
    if message.slot <= parent.slot {
        return reject("block is not from a higher slot than its parent");
    }
    // [REJECT] The current finalized checkpoint is an ancestor of the block.
    if cx.tree.contains(&message.parent_root)
        && !cx.tree.descends_from_finalized(message.parent_root)
    {
        return reject("finalized checkpoint is not an ancestor of block");
    }
    if !cx.tree.contains(&message.parent_root) {
        // Stored but pruned from fork choice: at or before the finalized block.
        return reject("finalized checkpoint is not an ancestor of block");
    }
    // [REJECT] The number of KZG commitments is within the epoch's blob limit (EIP-7892).
    let max_blobs = spec::transition::block::get_blob_parameters(
        cx.config,
        compute_epoch_at_slot(message.slot),
    )
    .max_blobs_per_block;
    if u64::try_from(message.body.blob_kzg_commitments.len()).unwrap_or(u64::MAX) > max_blobs {
        return reject("too many blob kzg commitments");
    }
    // [REJECT] The block is proposed by the expected proposer for the slot.
    let expected = parent_state_at(cx.chain, &parent.state_root, message.slot)
        .map_err(|e| e.to_string())
        .and_then(|s| get_beacon_proposer_index(&s).map_err(|e| e.to_string()));
    match expected {
        Ok(p) if p == message.proposer_index => {}
        Ok(_) => return reject("block proposer_index does not match expected proposer"),
        // Shuffling unavailable: IGNORE, as the spec allows.
        Err(e) => return ignore(format!("expected proposer unknown: {e}")),
    }
    cx.caches.seen().proposer_slots.insert(message.slot, key);
    GossipOutcome::AcceptBlock(block)
}

// ------------------------------------------------------------------------------ beacon_attestation

/// p2p-interface `beacon_attestation_{subnet_id}` (Electra `SingleAttestation`) up to the
/// signature (spec `validate_beacon_attestation_gossip`).
fn pre_attestation(cx: &Context<'_>, single: SingleAttestation, subnet: u64) -> Pre {
    let data = &single.data;
    let target_epoch = data.target.epoch;
    // [REJECT] The attestation's data index is zero.
    if data.index != 0 {
        return Err(reject("attestation data index is non-zero"));
    }
    // Not a subnet of this network at all.
    if subnet >= cx.config.attestation_subnet_count {
        return Err(reject("attestation subnet out of range"));
    }
    // The time checks come before the committee ones here (the spec puts the committee-range
    // and subnet checks first; they need a state of the target epoch, which a message from
    // far in the future or past must not make us compute). The verdicts are the same for
    // every message that is not both mistimed and malformed.
    // [IGNORE] The attestation's slot is not from a future slot.
    if !cx.time.is_not_from_future_slot(data.slot) {
        return Err(ignore("attestation slot is from a future slot"));
    }
    // [IGNORE] The attestation's epoch is either the current or previous epoch.
    if !cx
        .time
        .is_current_or_previous_epoch(compute_epoch_at_slot(data.slot))
    {
        return Err(ignore("attestation epoch is not current or previous epoch"));
    }
    // [REJECT] The attestation's epoch matches its target.
    if target_epoch != compute_epoch_at_slot(data.slot) {
        return Err(reject("attestation epoch does not match target epoch"));
    }
    let state = cx
        .state_at_epoch(target_epoch)
        .ok_or_else(|| ignore("no state for the attestation's epoch"))?;
    // [REJECT] The committee index is within the expected range.
    let committees_per_slot = get_committee_count_per_slot(&state, target_epoch);
    if single.committee_index >= committees_per_slot {
        return Err(reject("committee index out of range"));
    }
    // [REJECT] The attestation is for the correct subnet.
    let expected = spec::p2p::compute_subnet_for_attestation(
        cx.config,
        committees_per_slot,
        data.slot,
        single.committee_index,
    )
    .map_err(|e| ignore(format!("subnet: {e}")))?;
    if expected != subnet {
        return Err(reject("attestation is for wrong subnet"));
    }
    // [REJECT] The attester is a member of the committee.
    let (attestation, vote) = to_attestation(&state, &single).map_err(reject_mild)?;
    // [IGNORE] No other valid attestation seen for this validator and target epoch.
    if cx
        .caches
        .seen()
        .attestation_validator_epochs
        .contains(&(single.attester_index, target_epoch))
    {
        return Err(ignore(
            "already seen attestation from this validator for this epoch",
        ));
    }
    // [REJECT] The attestation signature is valid.
    let check = attestation_signature(&state, cx.chain.pubkeys(), &attestation, 0)
        .map_err(|e| reject(format!("attestation signature: {e}")))?;
    Ok((
        Item::Attestation {
            attestation,
            vote,
            attester: single.attester_index,
        },
        vec![check.into()],
    ))
}

/// The checks on the block voted for, shared by attestations and aggregates.
fn voted_block_checks(cx: &Context<'_>, data: &spec::AttestationData) -> Option<GossipOutcome> {
    let root = data.beacon_block_root;
    // [IGNORE] The block being voted for has been seen.
    if !cx.tree.contains(&root) {
        return Some(match cx.chain.store.block_meta(&root) {
            // Stored but pruned from fork choice: before the finalized block.
            Ok(Some(_)) => ignore("finalized checkpoint is not an ancestor of block"),
            _ => GossipOutcome::UnknownBlock(root),
        });
    }
    // [REJECT] The block being voted for passes validation: fork choice holds valid blocks only.
    // [REJECT] The target block is an ancestor of the LMD vote block.
    if cx.tree.checkpoint_block(root, data.target.epoch) != Some(data.target.root) {
        return Some(reject_mild(
            "target block is not an ancestor of LMD vote block",
        ));
    }
    // [IGNORE] The current finalized checkpoint is an ancestor of the block.
    if !cx.tree.descends_from_finalized(root) {
        return Some(ignore("finalized checkpoint is not an ancestor of block"));
    }
    None
}

fn post_attestation(
    cx: &Context<'_>,
    attestation: Attestation,
    vote: SingleVote,
    attester: ValidatorIndex,
    for_fork_choice: &mut Vec<Attestation>,
) -> GossipOutcome {
    let key = (attester, attestation.data.target.epoch);
    if cx.caches.seen().attestation_validator_epochs.contains(&key) {
        return ignore("already seen attestation from this validator for this epoch");
    }
    if let Some(outcome) = voted_block_checks(cx, &attestation.data) {
        return outcome;
    }
    cx.caches
        .seen()
        .attestation_validator_epochs
        .insert(attestation.data.slot, key);
    lock(&cx.chain.attestation_pool).insert_single(&attestation.data, vote, &attestation.signature);
    for_fork_choice.push(attestation);
    GossipOutcome::Accept
}

// ------------------------------------------------------------------------------ aggregates

/// p2p-interface `beacon_aggregate_and_proof` up to the signatures (spec
/// `validate_beacon_aggregate_and_proof_gossip`).
fn pre_aggregate(cx: &Context<'_>, signed: SignedAggregateAndProof) -> Pre {
    let message = &signed.message;
    let aggregate = &message.aggregate;
    let data = &aggregate.data;
    // [REJECT] The aggregate attestation's data index is zero.
    if data.index != 0 {
        return Err(reject("aggregate data index is non-zero"));
    }
    // [REJECT] Exactly one committee is specified by the committee bits.
    let [index] = get_committee_indices(&aggregate.committee_bits)[..] else {
        return Err(reject(
            "aggregate committee bits must specify exactly one committee",
        ));
    };
    // As for attestations, the time checks first (they bound the state work).
    // [IGNORE] The aggregate attestation's slot is not from a future slot.
    if !cx.time.is_not_from_future_slot(data.slot) {
        return Err(ignore("aggregate slot is from a future slot"));
    }
    // [IGNORE] The aggregate attestation's epoch is either the current or previous epoch.
    if !cx
        .time
        .is_current_or_previous_epoch(compute_epoch_at_slot(data.slot))
    {
        return Err(ignore("aggregate epoch is not current or previous epoch"));
    }
    // [REJECT] The aggregate attestation's epoch matches its target.
    if data.target.epoch != compute_epoch_at_slot(data.slot) {
        return Err(reject("attestation epoch does not match target epoch"));
    }
    let state = cx
        .state_at_epoch(data.target.epoch)
        .ok_or_else(|| ignore("no state for the aggregate's epoch"))?;
    // [REJECT] The committee index is within the expected range.
    if index >= get_committee_count_per_slot(&state, data.target.epoch) {
        return Err(reject("committee index out of range"));
    }
    // [REJECT] The number of aggregation bits matches the committee size.
    let committee = get_beacon_committee(&state, data.slot, index)
        .map_err(|e| ignore(format!("committee: {e}")))?;
    if aggregate.aggregation_bits.len() != committee.len() {
        return Err(reject(
            "aggregation bits length does not match committee size",
        ));
    }
    // [REJECT] The aggregate attestation has participants.
    if aggregate.aggregation_bits.is_zero() {
        return Err(reject("aggregate has no participants"));
    }
    // [IGNORE] A valid aggregate with a superset of aggregation bits has not been seen.
    let bits = Bits::from_iter(aggregate.aggregation_bits.iter());
    let data_key = (data.tree_hash_root(), index);
    {
        let seen = cx.caches.seen();
        if seen.aggregate_data_roots.is_covered(&data_key, &bits) {
            return Err(ignore("already seen aggregate for this data"));
        }
        // [IGNORE] This is the first valid aggregate for this aggregator in this epoch.
        if seen
            .aggregator_epochs
            .contains(&(message.aggregator_index, data.target.epoch))
        {
            return Err(ignore(
                "already seen aggregate from this aggregator for this epoch",
            ));
        }
    }
    // [REJECT] The selection proof selects the validator as an aggregator.
    let selected = spec::validator::is_aggregator_in_committee_of_length(
        committee.len() as u64,
        &message.selection_proof,
    )
    .unwrap_or(false);
    if !selected {
        return Err(reject("validator is not selected as aggregator"));
    }
    // [REJECT] The aggregator's validator index is within the committee.
    if !committee.contains(&message.aggregator_index) {
        return Err(reject("aggregator index not in committee"));
    }
    // [REJECT] The selection proof, the aggregator signature, the aggregate signature.
    let selection = cx.single_check(
        &state,
        message.aggregator_index,
        spec::validator::get_slot_signature(&state, data.slot),
        &message.selection_proof,
    )?;
    let aggregator = cx.single_check(
        &state,
        message.aggregator_index,
        spec::validator::get_aggregate_and_proof_signature(&state, message),
        &signed.signature,
    )?;
    let aggregate_check = attestation_signature(&state, cx.chain.pubkeys(), aggregate, 0)
        .map_err(|e| reject(format!("aggregate signature: {e}")))?;
    Ok((
        Item::Aggregate {
            signed,
            committee_index: index,
            bits,
        },
        vec![selection, aggregator, aggregate_check.into()],
    ))
}

fn post_aggregate(
    cx: &Context<'_>,
    signed: SignedAggregateAndProof,
    committee_index: CommitteeIndex,
    bits: Bits,
    for_fork_choice: &mut Vec<Attestation>,
) -> GossipOutcome {
    let aggregate = &signed.message.aggregate;
    let data = &aggregate.data;
    let data_key = (data.tree_hash_root(), committee_index);
    let aggregator_key = (signed.message.aggregator_index, data.target.epoch);
    {
        let seen = cx.caches.seen();
        if seen.aggregate_data_roots.is_covered(&data_key, &bits) {
            return ignore("already seen aggregate for this data");
        }
        if seen.aggregator_epochs.contains(&aggregator_key) {
            return ignore("already seen aggregate from this aggregator for this epoch");
        }
    }
    if let Some(outcome) = voted_block_checks(cx, data) {
        return outcome;
    }
    {
        let mut seen = cx.caches.seen();
        seen.aggregator_epochs.insert(data.slot, aggregator_key);
        seen.aggregate_data_roots.insert(data.slot, data_key, bits);
    }
    lock(&cx.chain.attestation_pool).insert_aggregate(aggregate);
    for_fork_choice.push(aggregate.clone());
    GossipOutcome::Accept
}

// ------------------------------------------------------------------------------ sync committee

/// p2p-interface `sync_committee_{subnet_id}` up to the signature (spec
/// `validate_sync_committee_message_gossip`).
fn pre_sync_message(cx: &Context<'_>, message: SyncCommitteeMessage, subnet: u64) -> Pre {
    // [IGNORE] The message's slot is for the current slot.
    if !cx.time.is_current_slot(message.slot) {
        return Err(ignore("message is not for the current slot"));
    }
    let state = cx.head();
    // [REJECT] The validator index is valid.
    if usize::try_from(message.validator_index).map_or(true, |i| i >= state.validators.len()) {
        return Err(reject("validator index out of range"));
    }
    // [REJECT] The subnet_id is valid for the given validator.
    let committee = cx
        .sync_committee_indices()
        .ok_or_else(|| ignore("sync committee members not in the registry"))?;
    let size = spec::SyncSubcommitteeSize::to_usize();
    let positions: Vec<usize> = committee
        .iter()
        .enumerate()
        .filter(|(i, v)| **v == message.validator_index && (*i / size) as u64 == subnet)
        .map(|(i, _)| i)
        .collect();
    if positions.is_empty() {
        return Err(reject("subnet_id is not valid for the validator"));
    }
    // [IGNORE] No other valid message for the slot, validator and subnet.
    if cx.caches.seen().sync_message_validator_slots.contains(&(
        message.slot,
        message.validator_index,
        subnet,
    )) {
        return Err(ignore(
            "already seen message from this validator for this slot and subnet",
        ));
    }
    // [REJECT] The signature is valid.
    let root = spec::validator::get_sync_committee_message_signing_root(
        state,
        message.slot,
        message.beacon_block_root,
    );
    let check = cx.single_check(state, message.validator_index, root, &message.signature)?;
    Ok((
        Item::SyncMessage {
            message,
            subnet,
            positions,
        },
        vec![check],
    ))
}

fn post_sync_message(
    cx: &Context<'_>,
    message: SyncCommitteeMessage,
    subnet: u64,
    positions: Vec<usize>,
) -> GossipOutcome {
    let key = (message.slot, message.validator_index, subnet);
    {
        let mut seen = cx.caches.seen();
        if seen.sync_message_validator_slots.contains(&key) {
            return ignore("already seen message from this validator for this slot and subnet");
        }
        seen.sync_message_validator_slots.insert(message.slot, key);
    }
    lock(&cx.chain.sync_pool).insert_message(
        message.slot,
        message.beacon_block_root,
        &positions,
        &message.signature,
    );
    GossipOutcome::Accept
}

/// p2p-interface `sync_committee_contribution_and_proof` up to the signatures (spec
/// `validate_sync_committee_contribution_and_proof_gossip`).
fn pre_contribution(cx: &Context<'_>, signed: SignedContributionAndProof) -> Pre {
    let message = &signed.message;
    let contribution = &message.contribution;
    // [IGNORE] The contribution's slot is for the current slot.
    if !cx.time.is_current_slot(contribution.slot) {
        return Err(ignore("contribution is not for the current slot"));
    }
    // [REJECT] The subcommittee index is in the allowed range.
    if contribution.subcommittee_index >= spec::p2p::SYNC_COMMITTEE_SUBNET_COUNT {
        return Err(reject("subcommittee index out of range"));
    }
    // [REJECT] The contribution has participants.
    if contribution.aggregation_bits.is_zero() {
        return Err(reject("contribution has no participants"));
    }
    // [REJECT] The selection_proof selects the validator as an aggregator for the slot.
    if !spec::validator::is_sync_committee_aggregator(&message.selection_proof) {
        return Err(reject("validator is not selected as aggregator"));
    }
    let state = cx.head();
    // [REJECT] The aggregator index is valid.
    if usize::try_from(message.aggregator_index).map_or(true, |i| i >= state.validators.len()) {
        return Err(reject("aggregator index out of range"));
    }
    // [REJECT] The aggregator's validator index is in the declared subcommittee.
    let committee = cx
        .sync_committee_indices()
        .ok_or_else(|| ignore("sync committee members not in the registry"))?;
    let size = spec::SyncSubcommitteeSize::to_usize();
    let base = usize::try_from(contribution.subcommittee_index)
        .unwrap_or(usize::MAX)
        .saturating_mul(size);
    let subcommittee: Vec<ValidatorIndex> =
        committee.iter().skip(base).take(size).copied().collect();
    if !subcommittee.contains(&message.aggregator_index) {
        return Err(reject("aggregator not in subcommittee"));
    }
    // [IGNORE] A contribution whose bits are a non-strict superset has not been seen, and
    // this is the aggregator's first for the slot and subcommittee.
    let bits = Bits::from_iter(contribution.aggregation_bits.iter());
    {
        let seen = cx.caches.seen();
        let data_key = (
            contribution.slot,
            contribution.beacon_block_root,
            contribution.subcommittee_index,
        );
        if seen.sync_contribution_data.is_covered(&data_key, &bits) {
            return Err(ignore("already seen contribution for this data"));
        }
        if seen.sync_contribution_aggregator_slots.contains(&(
            message.aggregator_index,
            contribution.slot,
            contribution.subcommittee_index,
        )) {
            return Err(ignore("already seen contribution from this aggregator"));
        }
    }
    // [REJECT] The selection proof, the aggregator signature, the aggregate signature.
    let selection = cx.single_check(
        state,
        message.aggregator_index,
        spec::validator::get_sync_committee_selection_proof(
            state,
            contribution.slot,
            contribution.subcommittee_index,
        ),
        &message.selection_proof,
    )?;
    let aggregator = cx.single_check(
        state,
        message.aggregator_index,
        spec::validator::get_contribution_and_proof_signature(state, message),
        &signed.signature,
    )?;
    let mut keys = Vec::new();
    for (member, bit) in subcommittee
        .iter()
        .zip(contribution.aggregation_bits.iter())
    {
        if bit {
            keys.push(
                cx.pubkey(state, *member)
                    .ok_or_else(|| reject("participant has no valid public key"))?,
            );
        }
    }
    let pubkey =
        bls::eth_aggregate_pubkeys(&keys).map_err(|e| reject(format!("participants: {e}")))?;
    let signature = bls::Signature::from_bytes(contribution.signature.as_slice())
        .map_err(|_| reject("contribution signature is not a valid G2 point"))?;
    let aggregate_check = Check {
        pubkey,
        message: spec::validator::get_sync_committee_message_signing_root(
            state,
            contribution.slot,
            contribution.beacon_block_root,
        )
        .0,
        signature,
    };
    Ok((
        Item::Contribution { signed, bits },
        vec![selection, aggregator, aggregate_check],
    ))
}

fn post_contribution(
    cx: &Context<'_>,
    signed: SignedContributionAndProof,
    bits: Bits,
) -> GossipOutcome {
    let c = &signed.message.contribution;
    let data_key = (c.slot, c.beacon_block_root, c.subcommittee_index);
    let aggregator_key = (
        signed.message.aggregator_index,
        c.slot,
        c.subcommittee_index,
    );
    {
        let mut seen = cx.caches.seen();
        if seen.sync_contribution_data.is_covered(&data_key, &bits) {
            return ignore("already seen contribution for this data");
        }
        if seen
            .sync_contribution_aggregator_slots
            .contains(&aggregator_key)
        {
            return ignore("already seen contribution from this aggregator");
        }
        seen.sync_contribution_aggregator_slots
            .insert(c.slot, aggregator_key);
        seen.sync_contribution_data.insert(c.slot, data_key, bits);
    }
    lock(&cx.chain.sync_pool).insert_contribution(c);
    GossipOutcome::Accept
}

// ------------------------------------------------------------------------------ operations

/// p2p-interface `voluntary_exit` (spec `validate_voluntary_exit_gossip`).
fn pre_exit(cx: &Context<'_>, signed: SignedVoluntaryExit) -> Pre {
    let exit = &signed.message;
    let index = exit.validator_index;
    // [IGNORE] The first valid voluntary exit received for the validator.
    if cx.caches.seen().voluntary_exit_indices.contains(&index) {
        return Err(ignore("already seen voluntary exit for this validator"));
    }
    let state = cx.head();
    // [REJECT] The validator index is valid.
    let validator = usize::try_from(index)
        .ok()
        .and_then(|i| state.validators.get(i))
        .ok_or_else(|| reject("validator index out of range"))?;
    let current_epoch = get_current_epoch(state);
    // [REJECT] The validator is active.
    if !is_active_validator(validator, current_epoch) {
        return Err(reject("validator is not active"));
    }
    // [REJECT] The validator has not already initiated exit.
    if validator.exit_epoch != FAR_FUTURE_EPOCH {
        return Err(reject("validator has already initiated exit"));
    }
    // [REJECT] The voluntary exit epoch is not in the future.
    if current_epoch < exit.epoch {
        return Err(reject("voluntary exit epoch is in the future"));
    }
    // [REJECT] The validator has been active long enough.
    if current_epoch
        < validator
            .activation_epoch
            .saturating_add(cx.config.shard_committee_period)
    {
        return Err(reject("validator has not been active long enough"));
    }
    // Electra: no pending partial withdrawals (process_voluntary_exit) — left to packing,
    // which drops exits the state transition would refuse.
    // [REJECT] The signature is valid (Capella domain, EIP-7044).
    let check = voluntary_exit_signature(state, cx.config, cx.chain.pubkeys(), &signed, 0)
        .map_err(|e| reject(format!("voluntary exit signature: {e}")))?;
    Ok((Item::Exit(signed), vec![check.into()]))
}

/// p2p-interface `proposer_slashing` (spec `validate_proposer_slashing_gossip`).
fn pre_proposer_slashing(cx: &Context<'_>, slashing: ProposerSlashing) -> Pre {
    let h1 = &slashing.signed_header_1.message;
    let h2 = &slashing.signed_header_2.message;
    let index = h1.proposer_index;
    // [IGNORE] The first valid proposer slashing received for this proposer.
    if cx.caches.seen().proposer_slashing_indices.contains(&index) {
        return Err(ignore("already seen proposer slashing for this proposer"));
    }
    // [REJECT] The header slots match, the proposer indices match, the headers differ.
    if h1.slot != h2.slot {
        return Err(reject("header slots do not match"));
    }
    if h1.proposer_index != h2.proposer_index {
        return Err(reject("header proposer indices do not match"));
    }
    if h1 == h2 {
        return Err(reject("headers are not different"));
    }
    let state = cx.head();
    // [REJECT] The proposer index is valid and the proposer slashable.
    let proposer = usize::try_from(index)
        .ok()
        .and_then(|i| state.validators.get(i))
        .ok_or_else(|| reject("proposer index out of range"))?;
    if !is_slashable_validator(proposer, get_current_epoch(state)) {
        return Err(reject_mild("proposer is not slashable"));
    }
    // [REJECT] The signatures are valid.
    let checks = proposer_slashing_signatures(state, cx.chain.pubkeys(), &slashing, 0)
        .map_err(|e| reject(format!("proposer slashing signature: {e}")))?;
    Ok((
        Item::ProposerSlashing(slashing),
        checks.into_iter().map(Check::from).collect(),
    ))
}

/// p2p-interface `attester_slashing` (spec `validate_attester_slashing_gossip`).
fn pre_attester_slashing(cx: &Context<'_>, slashing: AttesterSlashing) -> Pre {
    let a1 = &slashing.attestation_1;
    let a2 = &slashing.attestation_2;
    let set2: HashSet<ValidatorIndex> = a2.attesting_indices.iter().copied().collect();
    let intersection: Vec<ValidatorIndex> = a1
        .attesting_indices
        .iter()
        .copied()
        .filter(|i| set2.contains(i))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    // [IGNORE] At least one index in the intersection has not yet been seen.
    {
        let seen = cx.caches.seen();
        if intersection
            .iter()
            .all(|i| seen.attester_slashing_indices.contains(i))
        {
            return Err(ignore("all attester slashing indices already seen"));
        }
    }
    // [REJECT] The attestation data is slashable (double vote or surround vote).
    if !is_slashable_attestation_data(&a1.data, &a2.data) {
        return Err(reject("attestation data is not slashable"));
    }
    let state = cx.head();
    let registry = state.validators.len() as u64;
    // [REJECT] All validator indices are valid; the indexed attestations are valid
    // (structure here, signatures in the batch).
    if a1.attesting_indices.iter().any(|i| *i >= registry) {
        return Err(reject(
            "validator index out of range in indexed attestation 1",
        ));
    }
    if a2.attesting_indices.iter().any(|i| *i >= registry) {
        return Err(reject(
            "validator index out of range in indexed attestation 2",
        ));
    }
    let checks = attester_slashing_signatures(state, cx.chain.pubkeys(), &slashing, 0)
        .map_err(|e| reject(format!("invalid indexed attestation: {e}")))?;
    Ok((
        Item::AttesterSlashing {
            slashing,
            intersection,
        },
        checks.into_iter().map(Check::from).collect(),
    ))
}

/// p2p-interface `bls_to_execution_change` (spec `validate_bls_to_execution_change_gossip`).
fn pre_bls_change(cx: &Context<'_>, signed: SignedBLSToExecutionChange) -> Pre {
    let change = &signed.message;
    let index = change.validator_index;
    // [IGNORE] The current epoch is at or after the Capella fork epoch.
    if compute_epoch_at_slot(cx.time.current_slot()) < cx.config.capella_fork_epoch {
        return Err(ignore("current epoch is pre-capella"));
    }
    // [IGNORE] The first valid change received for the validator.
    if cx
        .caches
        .seen()
        .bls_to_execution_change_indices
        .contains(&index)
    {
        return Err(ignore(
            "already seen BLS to execution change for this validator",
        ));
    }
    let state = cx.head();
    // [REJECT] The validator index is valid.
    let validator = usize::try_from(index)
        .ok()
        .and_then(|i| state.validators.get(i))
        .ok_or_else(|| reject("validator index out of range"))?;
    // [REJECT] The validator has BLS withdrawal credentials, for this pubkey.
    let credentials = validator.withdrawal_credentials.as_slice();
    if credentials.first() != Some(&BLS_WITHDRAWAL_PREFIX) {
        return Err(reject("validator does not have BLS withdrawal credentials"));
    }
    let hashed = ethereum_hashing::hash_fixed(change.from_bls_pubkey.as_slice());
    if credentials.get(1..) != hashed.get(1..) {
        return Err(reject(
            "pubkey does not match validator withdrawal credentials",
        ));
    }
    // [REJECT] The signature is valid.
    let check = bls_to_execution_change_signature(state, cx.config, &signed, 0)
        .map_err(|e| reject(format!("BLS to execution change signature: {e}")))?;
    Ok((Item::BlsChange(signed), vec![check.into()]))
}

fn post_operation(cx: &Context<'_>, item: Item) -> GossipOutcome {
    let slot = cx.time.current_slot();
    let mut seen = cx.caches.seen();
    match item {
        Item::Exit(exit) => {
            let index = exit.message.validator_index;
            if seen.voluntary_exit_indices.contains(&index) {
                return ignore("already seen voluntary exit for this validator");
            }
            seen.voluntary_exit_indices.insert(slot, index);
            drop(seen);
            lock(&cx.chain.operation_pool).insert_exit(exit);
        }
        Item::ProposerSlashing(slashing) => {
            let index = slashing.signed_header_1.message.proposer_index;
            if seen.proposer_slashing_indices.contains(&index) {
                return ignore("already seen proposer slashing for this proposer");
            }
            seen.proposer_slashing_indices.insert(slot, index);
            drop(seen);
            lock(&cx.chain.operation_pool).insert_proposer_slashing(slashing);
        }
        Item::AttesterSlashing {
            slashing,
            intersection,
        } => {
            if intersection
                .iter()
                .all(|i| seen.attester_slashing_indices.contains(i))
            {
                return ignore("all attester slashing indices already seen");
            }
            // [REJECT] At least one validator in the intersection is slashable.
            let state = cx.head();
            let epoch = get_current_epoch(state);
            let slashable = intersection.iter().any(|i| {
                usize::try_from(*i)
                    .ok()
                    .and_then(|i| state.validators.get(i))
                    .is_some_and(|v| is_slashable_validator(v, epoch))
            });
            if !slashable {
                return reject_mild("no slashable validators in intersection");
            }
            for i in &intersection {
                seen.attester_slashing_indices.insert(slot, *i);
            }
            drop(seen);
            lock(&cx.chain.operation_pool).insert_attester_slashing(slashing);
        }
        Item::BlsChange(change) => {
            let index = change.message.validator_index;
            if seen.bls_to_execution_change_indices.contains(&index) {
                return ignore("already seen BLS to execution change for this validator");
            }
            seen.bls_to_execution_change_indices.insert(slot, index);
            drop(seen);
            lock(&cx.chain.operation_pool).insert_bls_change(change);
        }
        _ => return ignore("not an operation"),
    }
    GossipOutcome::Accept
}

// ------------------------------------------------------------------------------ data columns

/// p2p-interface (Fulu) `data_column_sidecar_{subnet_id}` up to the header signature (spec
/// `validate_data_column_sidecar_gossip`).
fn pre_column(cx: &Context<'_>, sidecar: DataColumnSidecar, subnet: u64) -> Pre {
    let header = &sidecar.signed_block_header.message;
    // [IGNORE] The first sidecar for (slot, proposer, index).
    if cx.caches.seen().data_column_sidecar_tuples.contains(&(
        header.slot,
        header.proposer_index,
        sidecar.index,
    )) {
        return Err(ignore(
            "already seen sidecar from this proposer for this slot and index",
        ));
    }
    // [REJECT] verify_data_column_sidecar.
    if !spec::p2p::verify_data_column_sidecar(cx.config, &sidecar) {
        return Err(reject("invalid sidecar"));
    }
    // [REJECT] The sidecar is for the correct subnet.
    if spec::p2p::compute_subnet_for_data_column_sidecar(cx.config, sidecar.index) != subnet {
        return Err(reject("sidecar is for wrong subnet"));
    }
    // [IGNORE] Not from a future slot.
    if !cx.time.is_not_from_future_slot(header.slot) {
        return Err(ignore("sidecar is from a future slot"));
    }
    // [IGNORE] From a slot greater than the latest finalized slot.
    let finalized_slot = compute_start_slot_at_epoch(cx.tree.finalized_epoch).unwrap_or(0);
    if header.slot <= finalized_slot {
        return Err(ignore(
            "sidecar is not from a slot greater than the latest finalized slot",
        ));
    }
    let state = cx.head();
    // [REJECT] The proposer index is valid.
    if usize::try_from(header.proposer_index).map_or(true, |i| i >= state.validators.len()) {
        return Err(reject("proposer index out of range"));
    }
    // [REJECT] The proposer signature of the header is valid.
    let domain = spec::transition::helpers::get_domain(
        state,
        DOMAIN_BEACON_PROPOSER,
        Some(compute_epoch_at_slot(header.slot)),
    );
    let root = spec::transition::helpers::compute_signing_root(header, domain);
    let check = cx.single_check(
        state,
        header.proposer_index,
        root,
        &sidecar.signed_block_header.signature,
    )?;
    Ok((Item::Column(Box::new(sidecar)), vec![check]))
}

fn post_column(cx: &Context<'_>, sidecar: Box<DataColumnSidecar>) -> GossipOutcome {
    let header = &sidecar.signed_block_header.message;
    let key = (header.slot, header.proposer_index, sidecar.index);
    if cx.caches.seen().data_column_sidecar_tuples.contains(&key) {
        return ignore("already seen sidecar from this proposer for this slot and index");
    }
    // [IGNORE] The sidecar's block's parent has been seen.
    let parent = match cx.chain.store.block_meta(&header.parent_root) {
        Ok(Some(meta)) => meta,
        Ok(None) => return GossipOutcome::UnknownBlock(header.parent_root),
        Err(e) => return ignore(format!("store: {e}")),
    };
    // [REJECT] The sidecar is from a higher slot than its parent.
    if header.slot <= parent.slot {
        return reject("sidecar is not from a higher slot than its parent");
    }
    // [REJECT] The current finalized checkpoint is an ancestor of the sidecar's block.
    if !cx.tree.contains(&header.parent_root)
        || !cx.tree.descends_from_finalized(header.parent_root)
    {
        return reject("finalized checkpoint is not an ancestor of sidecar's block");
    }
    // [REJECT] verify_data_column_sidecar_inclusion_proof.
    if !spec::p2p::verify_data_column_sidecar_inclusion_proof(&sidecar) {
        return reject("invalid sidecar inclusion proof");
    }
    // [REJECT] verify_data_column_sidecar_kzg_proofs.
    if !spec::p2p::verify_data_column_sidecar_kzg_proofs(&sidecar) {
        return reject("invalid sidecar kzg proofs");
    }
    // [REJECT] The sidecar is proposed by the expected proposer.
    let expected = parent_state_at(cx.chain, &parent.state_root, header.slot)
        .map_err(|e| e.to_string())
        .and_then(|s| get_beacon_proposer_index(&s).map_err(|e| e.to_string()));
    match expected {
        Ok(p) if p == header.proposer_index => {}
        Ok(_) => return reject("sidecar proposer_index does not match expected proposer"),
        Err(e) => return ignore(format!("expected proposer unknown: {e}")),
    }
    cx.caches
        .seen()
        .data_column_sidecar_tuples
        .insert(header.slot, key);
    // Accepted for relay; the node does not store columns yet (blocks import with their
    // availability assumed, see `AssumeAvailable`).
    GossipOutcome::Accept
}

fn post_checks(
    cx: &Context<'_>,
    item: Item,
    for_fork_choice: &mut Vec<Attestation>,
) -> GossipOutcome {
    match item {
        Item::Block(block) => post_block(cx, block),
        Item::Attestation {
            attestation,
            vote,
            attester,
        } => post_attestation(cx, attestation, vote, attester, for_fork_choice),
        Item::Aggregate {
            signed,
            committee_index,
            bits,
        } => post_aggregate(cx, signed, committee_index, bits, for_fork_choice),
        Item::SyncMessage {
            message,
            subnet,
            positions,
        } => post_sync_message(cx, message, subnet, positions),
        Item::Contribution { signed, bits } => post_contribution(cx, signed, bits),
        Item::Column(sidecar) => post_column(cx, sidecar),
        op => post_operation(cx, op),
    }
}

// ------------------------------------------------------------------------------ topics

/// The fork digest of the wall clock's epoch (the head state's epoch before genesis).
pub fn current_fork_digest(chain: &Chain) -> ForkDigest {
    let snapshot = chain.snapshot();
    let epoch = chain.clock.current_slot().map_or(
        get_current_epoch(&snapshot.head_state),
        compute_epoch_at_slot,
    );
    spec::p2p::compute_fork_digest(&chain.config, snapshot.genesis_validators_root, epoch)
}

/// The custody group count the node advertises (`cgc` in the ENR, `MetaData`): all groups
/// with `--subscribe-all-subnets` (a supernode), else `CUSTODY_REQUIREMENT`.
pub fn custody_group_count(config: &ChainConfig, subscribe_all_subnets: bool) -> u64 {
    if subscribe_all_subnets {
        config.number_of_custody_groups
    } else {
        config.custody_requirement
    }
}

/// The attestation subnets the node is subscribed to long-lived (`attnets`): all with
/// `--subscribe-all-subnets`, else `compute_subscribed_subnets(node_id, epoch)`.
pub fn attestation_subnets(
    config: &ChainConfig,
    node_id: &[u8; 32],
    epoch: Epoch,
    subscribe_all_subnets: bool,
) -> Vec<u64> {
    if subscribe_all_subnets {
        return (0..config.attestation_subnet_count).collect();
    }
    spec::p2p::compute_subscribed_subnets(config, node_id, epoch).unwrap_or_default()
}

/// The data-column subnets of the node's custody groups.
pub fn custody_column_subnets(
    config: &ChainConfig,
    node_id: &[u8; 32],
    subscribe_all_subnets: bool,
) -> Vec<u64> {
    let count = custody_group_count(config, subscribe_all_subnets);
    let mut subnets: Vec<u64> = spec::p2p::get_custody_groups(config, node_id, count)
        .unwrap_or_default()
        .into_iter()
        .flat_map(|group| {
            spec::p2p::compute_columns_for_custody_group(config, group).unwrap_or_default()
        })
        .map(|column| spec::p2p::compute_subnet_for_data_column_sidecar(config, column))
        .collect();
    subnets.sort_unstable();
    subnets.dedup();
    subnets
}

/// The topics to subscribe to at start: every global topic, the long-lived attestation
/// subnets, the sync committee subnets (all with `--subscribe-all-subnets`; otherwise the
/// node joins a sync subnet when one of its validators publishes on it, see [`publish`]), and
/// the custody data-column subnets.
pub fn initial_topics(
    chain: &Chain,
    node_id: [u8; 32],
    subscribe_all_subnets: bool,
) -> Vec<GossipTopic> {
    let digest = current_fork_digest(chain);
    let config = &chain.config;
    let epoch = chain.clock.current_slot().map_or(0, compute_epoch_at_slot);
    let mut kinds = vec![
        GossipKind::BeaconBlock,
        GossipKind::BeaconAggregateAndProof,
        GossipKind::VoluntaryExit,
        GossipKind::ProposerSlashing,
        GossipKind::AttesterSlashing,
        GossipKind::SyncCommitteeContributionAndProof,
        GossipKind::BlsToExecutionChange,
    ];
    kinds.extend(
        attestation_subnets(config, &node_id, epoch, subscribe_all_subnets)
            .into_iter()
            .map(GossipKind::BeaconAttestation),
    );
    if subscribe_all_subnets {
        kinds.extend((0..spec::p2p::SYNC_COMMITTEE_SUBNET_COUNT).map(GossipKind::SyncCommittee));
    }
    kinds.extend(
        custody_column_subnets(config, &node_id, subscribe_all_subnets)
            .into_iter()
            .map(GossipKind::DataColumnSidecar),
    );
    kinds
        .into_iter()
        .map(|kind| GossipTopic::new(digest, kind))
        .collect()
}

// ------------------------------------------------------------------------------ publishing

/// Publishes the node's own message on `kind`'s topic (when the network runs); with
/// `subscribe`, first joins the topic (once) so that the node also receives the others'
/// messages there (an attester's subnet is its aggregator's; a sync committee member's
/// subnet feeds its contributions).
pub async fn publish(chain: &Chain, kind: GossipKind, ssz: Vec<u8>, subscribe: bool) {
    let Some(network) = chain.network.get() else {
        return;
    };
    let topic = GossipTopic::new(current_fork_digest(chain), kind);
    if subscribe && chain.gossip_caches.needs_duty_subscription(kind) {
        let _ = network
            .commands
            .send(crate::network::NetworkCommand::Subscribe(vec![topic]))
            .await;
    }
    if let Err(e) = network.publish(topic, ssz).await {
        tracing::debug!(topic = %topic, error = %e, "publish failed");
    }
}

#[cfg(test)]
mod tests;
