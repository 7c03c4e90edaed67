//! [`ForkChoice`]: the preset-independent part of the spec's `Store` and the spec functions that
//! need nothing else.

use std::collections::HashSet;

use crate::consensus::config::ChainConfig;
use crate::consensus::preset::Preset;
use crate::consensus::primitives::{Epoch, Hash256, Slot, ValidatorIndex};

use super::proto_array::{HeadParams, ProtoArray, ProtoNode};
use super::votes::VoteTracker;
use super::{Checkpoint, ForkChoiceError, Result};

/// `BASIS_POINTS`
const BASIS_POINTS: u64 = 10_000;

fn arith<T>(value: Option<T>, what: &'static str) -> Result<T> {
    value.ok_or(ForkChoiceError::Arith(what))
}

/// The configuration and preset values the fork choice reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkChoiceConfig {
    pub slots_per_epoch: u64,
    pub min_seed_lookahead: u64,
    pub slot_duration_ms: u64,
    pub proposer_score_boost: u64,
    pub reorg_head_weight_threshold: u64,
    pub reorg_parent_weight_threshold: u64,
    pub reorg_max_epochs_since_finalization: u64,
    pub proposer_reorg_cutoff_bps: u64,
    pub attestation_due_bps: u64,
    /// Prune the tree once this many blocks precede the finalized block (not a spec value:
    /// the spec never prunes; pruning changes no head, see [`ForkChoice::prune`]).
    pub prune_threshold: usize,
}

impl ForkChoiceConfig {
    pub fn new(config: &ChainConfig, preset: &Preset) -> Self {
        Self {
            slots_per_epoch: preset.slots_per_epoch,
            min_seed_lookahead: preset.min_seed_lookahead,
            slot_duration_ms: config.slot_duration_ms,
            proposer_score_boost: config.proposer_score_boost,
            reorg_head_weight_threshold: config.reorg_head_weight_threshold,
            reorg_parent_weight_threshold: config.reorg_parent_weight_threshold,
            reorg_max_epochs_since_finalization: config.reorg_max_epochs_since_finalization,
            proposer_reorg_cutoff_bps: config.proposer_reorg_cutoff_bps,
            attestation_due_bps: config.attestation_due_bps,
            prune_threshold: 256,
        }
    }
}

/// A block as `on_block` hands it to the tree, after the state transition and
/// `compute_pulled_up_tip` gave its checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockSummary {
    pub root: Hash256,
    pub parent_root: Hash256,
    pub slot: Slot,
    pub proposer_index: ValidatorIndex,
    /// Post-state `current_justified_checkpoint`.
    pub justified_checkpoint: Checkpoint,
    /// Post-state `finalized_checkpoint`.
    pub finalized_checkpoint: Checkpoint,
    /// Post-state after `process_justification_and_finalization`: `current_justified_checkpoint`.
    pub unrealized_justified_checkpoint: Checkpoint,
    /// ... and `finalized_checkpoint`.
    pub unrealized_finalized_checkpoint: Checkpoint,
}

/// What the justified checkpoint state contributes to weights: per validator, its effective
/// balance when active in the state's current epoch and not slashed (else 0), and
/// `get_total_active_balance` (for the proposer score and the re-org thresholds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JustifiedBalances {
    pub checkpoint: Checkpoint,
    pub effective_balances: Vec<u64>,
    pub total_active_balance: u64,
}

/// The attestation fields `validate_on_attestation` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttestationInfo {
    pub slot: Slot,
    pub beacon_block_root: Hash256,
    pub target: Checkpoint,
}

/// `get_proposer_head` with every condition it weighed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProposerHeadInfo {
    pub head_late: bool,
    pub not_epoch_boundary: bool,
    pub ffg_competitive: bool,
    pub finalization_ok: bool,
    pub proposing_on_time: bool,
    pub single_slot_reorg: bool,
    pub current_time_ok: bool,
    pub head_weak: bool,
    pub parent_strong: bool,
    pub proposer_equivocation: bool,
    /// The block to build on: the head, or its parent when re-orging the head.
    pub proposer_head: Hash256,
}

/// The fork-choice store minus the states. One writer: every handler takes `&mut self`.
#[derive(Debug, Clone)]
pub struct ForkChoice {
    config: ForkChoiceConfig,
    time: u64,
    genesis_time: u64,
    justified_checkpoint: Checkpoint,
    finalized_checkpoint: Checkpoint,
    unrealized_justified_checkpoint: Checkpoint,
    unrealized_finalized_checkpoint: Checkpoint,
    proposer_boost_root: Hash256,
    equivocating_indices: HashSet<ValidatorIndex>,
    proto_array: ProtoArray,
    votes: VoteTracker,
    /// The justified checkpoint whose balances the votes use, and its total active balance.
    balances_for: Option<Checkpoint>,
    justified_total_active_balance: u64,
}

impl ForkChoice {
    /// Spec `get_forkchoice_store` without the states: the anchor block becomes the justified
    /// and finalized checkpoint at the anchor state's epoch.
    ///
    /// `anchor_state_justified_checkpoint` is the anchor state's `current_justified_checkpoint`
    /// (the anchor's voting source while the store is still in the anchor block's epoch).
    #[allow(clippy::too_many_arguments)]
    pub fn get_forkchoice_store(
        config: ForkChoiceConfig,
        anchor_root: Hash256,
        anchor_parent_root: Hash256,
        anchor_slot: Slot,
        anchor_proposer_index: ValidatorIndex,
        anchor_state_slot: Slot,
        anchor_state_justified_checkpoint: Checkpoint,
        anchor_state_finalized_checkpoint: Checkpoint,
        genesis_time: u64,
        balances: JustifiedBalances,
    ) -> Result<Self> {
        let anchor_epoch = arith(
            anchor_state_slot.checked_div(config.slots_per_epoch),
            "anchor epoch",
        )?;
        let checkpoint = Checkpoint::new(anchor_epoch, anchor_root);
        let time = arith(
            config
                .slot_duration_ms
                .checked_mul(anchor_state_slot)
                .map(|ms| ms / 1000)
                .and_then(|s| genesis_time.checked_add(s)),
            "anchor time",
        )?;
        let mut anchor = ProtoNode::new(
            anchor_root,
            anchor_parent_root,
            anchor_slot,
            anchor_proposer_index,
            anchor_state_justified_checkpoint,
            anchor_state_finalized_checkpoint,
            checkpoint,
            checkpoint,
        );
        // Not in the spec's `block_timeliness` (a KeyError there); the anchor is never late.
        anchor.timely = true;
        let mut store = Self {
            config,
            time,
            genesis_time,
            justified_checkpoint: checkpoint,
            finalized_checkpoint: checkpoint,
            unrealized_justified_checkpoint: checkpoint,
            unrealized_finalized_checkpoint: checkpoint,
            proposer_boost_root: Hash256::ZERO,
            equivocating_indices: HashSet::new(),
            proto_array: ProtoArray::new(anchor),
            votes: VoteTracker::new(),
            balances_for: None,
            justified_total_active_balance: 0,
        };
        store.set_justified_balances(balances);
        Ok(store)
    }

    // ---------------------------------------------------------------- accessors

    pub fn config(&self) -> &ForkChoiceConfig {
        &self.config
    }
    /// See [`ForkChoiceConfig::prune_threshold`].
    pub fn set_prune_threshold(&mut self, threshold: usize) {
        self.config.prune_threshold = threshold;
    }
    pub fn time(&self) -> u64 {
        self.time
    }
    pub fn genesis_time(&self) -> u64 {
        self.genesis_time
    }
    pub fn justified_checkpoint(&self) -> Checkpoint {
        self.justified_checkpoint
    }
    pub fn finalized_checkpoint(&self) -> Checkpoint {
        self.finalized_checkpoint
    }
    pub fn unrealized_justified_checkpoint(&self) -> Checkpoint {
        self.unrealized_justified_checkpoint
    }
    pub fn unrealized_finalized_checkpoint(&self) -> Checkpoint {
        self.unrealized_finalized_checkpoint
    }
    pub fn proposer_boost_root(&self) -> Hash256 {
        self.proposer_boost_root
    }
    pub fn equivocating_indices(&self) -> &HashSet<ValidatorIndex> {
        &self.equivocating_indices
    }
    pub fn proto_array(&self) -> &ProtoArray {
        &self.proto_array
    }
    pub fn votes(&self) -> &VoteTracker {
        &self.votes
    }
    pub fn contains_block(&self, root: &Hash256) -> bool {
        self.proto_array.contains(root)
    }
    pub fn get_block(&self, root: &Hash256) -> Result<&ProtoNode> {
        self.proto_array.node(root)
    }
    /// The justified checkpoint the current vote weights were computed for.
    pub fn justified_balances_checkpoint(&self) -> Option<Checkpoint> {
        self.balances_for
    }

    /// Installs the balances of the justified checkpoint state. Must be called whenever
    /// [`Self::justified_checkpoint`] moved away from [`Self::justified_balances_checkpoint`]
    /// before the next head computation.
    pub fn set_justified_balances(&mut self, balances: JustifiedBalances) {
        self.balances_for = Some(balances.checkpoint);
        self.justified_total_active_balance = balances.total_active_balance;
        self.votes.set_balances(balances.effective_balances);
    }

    fn ensure_balances(&self) -> Result<()> {
        if self.balances_for == Some(self.justified_checkpoint) {
            Ok(())
        } else {
            Err(ForkChoiceError::JustifiedBalancesMissing {
                loaded: self.balances_for,
                justified: self.justified_checkpoint,
            })
        }
    }

    // ---------------------------------------------------------------- time

    pub fn compute_epoch_at_slot(&self, slot: Slot) -> Epoch {
        slot.checked_div(self.config.slots_per_epoch).unwrap_or(0)
    }

    pub fn compute_start_slot_at_epoch(&self, epoch: Epoch) -> Result<Slot> {
        arith(
            epoch.checked_mul(self.config.slots_per_epoch),
            "compute_start_slot_at_epoch",
        )
    }

    fn slot_at_time(&self, time: u64) -> Result<Slot> {
        let since_genesis =
            time.checked_sub(self.genesis_time)
                .ok_or(ForkChoiceError::TimeBeforeGenesis {
                    time,
                    genesis_time: self.genesis_time,
                })?;
        arith(
            since_genesis
                .checked_mul(1000)
                .and_then(|ms| ms.checked_div(self.config.slot_duration_ms)),
            "slots since genesis",
        )
    }

    /// Spec `get_slots_since_genesis` (and `get_current_slot`, since `GENESIS_SLOT == 0`).
    pub fn get_slots_since_genesis(&self) -> Result<u64> {
        self.slot_at_time(self.time)
    }

    /// Spec `get_current_slot`.
    pub fn get_current_slot(&self) -> Result<Slot> {
        self.get_slots_since_genesis()
    }

    /// Spec `get_current_store_epoch`.
    pub fn get_current_store_epoch(&self) -> Result<Epoch> {
        Ok(self.compute_epoch_at_slot(self.get_current_slot()?))
    }

    /// Milliseconds into the current slot (spec: `seconds_to_milliseconds(time - genesis_time)
    /// % SLOT_DURATION_MS`).
    fn time_into_slot_ms(&self) -> Result<u64> {
        let seconds =
            self.time
                .checked_sub(self.genesis_time)
                .ok_or(ForkChoiceError::TimeBeforeGenesis {
                    time: self.time,
                    genesis_time: self.genesis_time,
                })?;
        arith(
            seconds_to_milliseconds(seconds).checked_rem(self.config.slot_duration_ms),
            "time into slot",
        )
    }

    /// Spec `get_slot_component_duration_ms`.
    pub fn get_slot_component_duration_ms(&self, basis_points: u64) -> Result<u64> {
        arith(
            basis_points
                .checked_mul(self.config.slot_duration_ms)
                .map(|x| x / BASIS_POINTS),
            "slot component duration",
        )
    }

    /// Spec `on_tick`. The spec steps through every slot with `on_tick_per_slot`; the only
    /// effects of those steps are clearing the proposer boost (any new slot) and pulling up the
    /// unrealized checkpoints (any new epoch), both idempotent, so they are applied once here.
    pub fn on_tick(&mut self, time: u64) -> Result<()> {
        let previous_slot = self.get_current_slot()?;
        let tick_slot = self.slot_at_time(time)?;
        self.time = time;
        if tick_slot > previous_slot {
            self.proposer_boost_root = Hash256::ZERO;
            if self.compute_epoch_at_slot(tick_slot) > self.compute_epoch_at_slot(previous_slot) {
                self.update_checkpoints(
                    self.unrealized_justified_checkpoint,
                    self.unrealized_finalized_checkpoint,
                );
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- checkpoints

    /// Spec `update_checkpoints`.
    pub fn update_checkpoints(&mut self, justified: Checkpoint, finalized: Checkpoint) {
        if justified.epoch > self.justified_checkpoint.epoch {
            self.justified_checkpoint = justified;
        }
        if finalized.epoch > self.finalized_checkpoint.epoch {
            self.finalized_checkpoint = finalized;
        }
    }

    /// Spec `update_unrealized_checkpoints`.
    pub fn update_unrealized_checkpoints(&mut self, justified: Checkpoint, finalized: Checkpoint) {
        if justified.epoch > self.unrealized_justified_checkpoint.epoch {
            self.unrealized_justified_checkpoint = justified;
        }
        if finalized.epoch > self.unrealized_finalized_checkpoint.epoch {
            self.unrealized_finalized_checkpoint = finalized;
        }
    }

    // ---------------------------------------------------------------- ancestry

    /// Spec `get_ancestor(store, ForkChoiceNode(root), slot).root`.
    pub fn get_ancestor(&self, root: &Hash256, slot: Slot) -> Result<Hash256> {
        self.proto_array.get_ancestor(root, slot)
    }

    /// Spec `is_ancestor(store, node, ancestor)`.
    pub fn is_ancestor(&self, root: &Hash256, ancestor: &Hash256) -> Result<bool> {
        self.proto_array.is_ancestor(root, ancestor)
    }

    /// Spec `get_checkpoint_block`: the block of `root`'s chain at the start of `epoch`.
    pub fn get_checkpoint_block(&self, root: &Hash256, epoch: Epoch) -> Result<Hash256> {
        self.get_ancestor(root, self.compute_start_slot_at_epoch(epoch)?)
    }

    /// Spec `get_shuffling_dependent_root`. A chain that reaches back past the anchor (right
    /// after a checkpoint sync) resolves to the anchor root, where the spec's lookup of the
    /// anchor's parent would fail: both roots compared in `update_proposer_boost_root` then come
    /// from the same walk, so the comparison stays exact.
    pub fn get_shuffling_dependent_root(&self, root: &Hash256, epoch: Epoch) -> Result<Hash256> {
        if epoch <= self.config.min_seed_lookahead {
            return Ok(Hash256::ZERO);
        }
        let dependent_slot = arith(
            epoch
                .checked_sub(self.config.min_seed_lookahead)
                .and_then(|e| e.checked_mul(self.config.slots_per_epoch))
                .and_then(|s| s.checked_sub(1)),
            "dependent slot",
        )?;
        self.proto_array
            .get_ancestor_or_oldest(root, dependent_slot)
    }

    // ---------------------------------------------------------------- on_block

    /// The spec's `on_block` asserts that come before the state transition: parent known, block
    /// not from the future, after the finalized slot and descending from the finalized block.
    /// (The "already known" early return is the caller's.)
    pub fn check_on_block(
        &self,
        block_root: &Hash256,
        parent_root: &Hash256,
        slot: Slot,
    ) -> Result<()> {
        if !self.proto_array.contains(parent_root) {
            return Err(ForkChoiceError::UnknownParent {
                block_root: *block_root,
                parent_root: *parent_root,
            });
        }
        let current_slot = self.get_current_slot()?;
        if current_slot < slot {
            return Err(ForkChoiceError::FutureBlock {
                block_root: *block_root,
                block_slot: slot,
                current_slot,
            });
        }
        let finalized_slot = self.compute_start_slot_at_epoch(self.finalized_checkpoint.epoch)?;
        if slot <= finalized_slot {
            return Err(ForkChoiceError::BlockNotAfterFinalizedSlot {
                block_root: *block_root,
                block_slot: slot,
                finalized_slot,
            });
        }
        let found = self.get_checkpoint_block(parent_root, self.finalized_checkpoint.epoch)?;
        if found != self.finalized_checkpoint.root {
            return Err(ForkChoiceError::NotDescendantOfFinalized {
                block_root: *block_root,
                finalized: self.finalized_checkpoint,
                found,
            });
        }
        Ok(())
    }

    /// The spec's `on_block` from "Compute head before applying the block" on, for a block that
    /// passed [`Self::check_on_block`], the data-availability check and the state transition:
    /// adds it, records its timeliness, sets the proposer boost, updates the checkpoints and
    /// applies its pulled-up tip (`compute_pulled_up_tip`).
    ///
    /// The justified balances must be current ([`Self::set_justified_balances`]); afterwards
    /// the justified checkpoint may have moved, and the caller installs the new balances.
    pub fn on_block(&mut self, block: &BlockSummary) -> Result<()> {
        if self.proto_array.contains(&block.root) {
            return Ok(());
        }
        // `get_head` before the block is added (for the proposer boost's dependent-root check).
        let head = self.get_head()?;
        let node = ProtoNode::new(
            block.root,
            block.parent_root,
            block.slot,
            block.proposer_index,
            block.justified_checkpoint,
            block.finalized_checkpoint,
            block.unrealized_justified_checkpoint,
            block.unrealized_finalized_checkpoint,
        );
        self.proto_array.insert(node)?;
        self.record_block_timeliness(&block.root)?;
        self.update_proposer_boost_root(&head, &block.root)?;
        self.update_checkpoints(block.justified_checkpoint, block.finalized_checkpoint);
        self.apply_pulled_up_tip(block)?;
        Ok(())
    }

    /// The store part of spec `compute_pulled_up_tip` (the caller ran
    /// `process_justification_and_finalization` on a copy of the post-state).
    fn apply_pulled_up_tip(&mut self, block: &BlockSummary) -> Result<()> {
        self.update_unrealized_checkpoints(
            block.unrealized_justified_checkpoint,
            block.unrealized_finalized_checkpoint,
        );
        let block_epoch = self.compute_epoch_at_slot(block.slot);
        let current_epoch = self.get_current_store_epoch()?;
        if block_epoch < current_epoch {
            self.update_checkpoints(
                block.unrealized_justified_checkpoint,
                block.unrealized_finalized_checkpoint,
            );
        }
        Ok(())
    }

    /// Spec `record_block_timeliness`.
    pub fn record_block_timeliness(&mut self, root: &Hash256) -> Result<()> {
        let attestation_threshold_ms =
            self.get_slot_component_duration_ms(self.config.attestation_due_bps)?;
        let is_before_attesting_interval = self.time_into_slot_ms()? < attestation_threshold_ms;
        let current_slot = self.get_current_slot()?;
        let node = self
            .proto_array
            .get_mut(root)
            .ok_or(ForkChoiceError::UnknownBlock(*root))?;
        node.timely = current_slot == node.slot && is_before_attesting_interval;
        Ok(())
    }

    /// Spec `update_proposer_boost_root`: boost a timely first block of the slot whose
    /// shuffling dependent root matches the canonical head's.
    pub fn update_proposer_boost_root(&mut self, head: &Hash256, root: &Hash256) -> Result<()> {
        let is_first_block = self.proposer_boost_root == Hash256::ZERO;
        let is_timely = self.proto_array.node(root)?.timely;
        let epoch = self.get_current_store_epoch()?;
        let head_dependent_root = self.get_shuffling_dependent_root(head, epoch)?;
        let block_dependent_root = self.get_shuffling_dependent_root(root, epoch)?;
        if is_timely && is_first_block && head_dependent_root == block_dependent_root {
            self.proposer_boost_root = *root;
        }
        Ok(())
    }

    // ---------------------------------------------------------------- head

    /// Moves the vote weights to the latest messages and justified balances.
    fn apply_pending_votes(&mut self) -> Result<()> {
        let mut deltas = self
            .votes
            .compute_deltas(self.proto_array.base(), self.proto_array.len())?;
        self.proto_array.apply_score_changes(&mut deltas)
    }

    /// Spec `compute_proposer_score` of the justified state (`get_proposer_score`).
    pub fn get_proposer_score(&self) -> Result<u64> {
        arith(
            self.justified_total_active_balance
                .checked_div(self.config.slots_per_epoch)
                .and_then(|w| w.checked_mul(self.config.proposer_score_boost))
                .map(|x| x / 100),
            "proposer score",
        )
    }

    /// Spec `calculate_committee_fraction` of the justified state.
    pub fn calculate_committee_fraction(&self, committee_percent: u64) -> Result<u64> {
        arith(
            self.justified_total_active_balance
                .checked_div(self.config.slots_per_epoch)
                .and_then(|w| w.checked_mul(committee_percent))
                .map(|x| x / 100),
            "committee fraction",
        )
    }

    fn head_params(&self) -> Result<HeadParams> {
        let proposer_boost = if self.proposer_boost_root == Hash256::ZERO {
            None
        } else {
            Some((self.proposer_boost_root, self.get_proposer_score()?))
        };
        Ok(HeadParams {
            justified_checkpoint: self.justified_checkpoint,
            finalized_checkpoint: self.finalized_checkpoint,
            finalized_slot: self.compute_start_slot_at_epoch(self.finalized_checkpoint.epoch)?,
            current_epoch: self.get_current_store_epoch()?,
            slots_per_epoch: self.config.slots_per_epoch,
            proposer_boost,
        })
    }

    /// The leaves of the filtered block tree under the justified root with their
    /// `get_weight` (the spec tests' `viable_for_head_roots_and_weights` check).
    pub fn get_viable_for_head_roots_and_weights(&mut self) -> Result<Vec<(Hash256, u64)>> {
        self.ensure_balances()?;
        self.apply_pending_votes()?;
        let params = self.head_params()?;
        let leaves = self.proto_array.viable_leaves(&params)?;
        leaves
            .into_iter()
            .map(|root| Ok((root, self.get_weight(&root)?)))
            .collect()
    }

    /// Spec `get_head`: the viable head by LMD-GHOST from the justified checkpoint.
    pub fn get_head(&mut self) -> Result<Hash256> {
        self.ensure_balances()?;
        self.apply_pending_votes()?;
        let params = self.head_params()?;
        self.proto_array.find_head(&params)
    }

    /// Spec `get_attestation_score` (no boost) of a block.
    pub fn get_attestation_score(&mut self, root: &Hash256) -> Result<u64> {
        self.ensure_balances()?;
        self.apply_pending_votes()?;
        Ok(self.proto_array.node(root)?.weight)
    }

    /// Spec `get_weight`: attestation score plus the proposer score when the block is an
    /// ancestor of (or is) the boosted block.
    pub fn get_weight(&mut self, root: &Hash256) -> Result<u64> {
        let score = self.get_attestation_score(root)?;
        if self.proposer_boost_root == Hash256::ZERO
            || !self.proto_array.contains(&self.proposer_boost_root)
            || !self.is_ancestor(&self.proposer_boost_root, root)?
        {
            return Ok(score);
        }
        arith(score.checked_add(self.get_proposer_score()?), "get_weight")
    }

    /// Spec `get_voting_source`.
    pub fn get_voting_source(&self, root: &Hash256) -> Result<Checkpoint> {
        let node = self.proto_array.node(root)?;
        if self.get_current_store_epoch()? > self.compute_epoch_at_slot(node.slot) {
            Ok(node.unrealized_justified_checkpoint)
        } else {
            Ok(node.justified_checkpoint)
        }
    }

    // ---------------------------------------------------------------- attestations

    /// Spec `validate_target_epoch_against_current_time`.
    pub fn validate_target_epoch_against_current_time(&self, target_epoch: Epoch) -> Result<()> {
        let current_epoch = self.get_current_store_epoch()?;
        let previous_epoch = current_epoch.saturating_sub(1);
        if target_epoch == current_epoch || target_epoch == previous_epoch {
            Ok(())
        } else {
            Err(
                ForkChoiceError::AttestationTargetEpochNotCurrentOrPrevious {
                    target_epoch,
                    current_epoch,
                },
            )
        }
    }

    /// Spec `validate_on_attestation`.
    pub fn validate_on_attestation(
        &self,
        attestation: &AttestationInfo,
        is_from_block: bool,
    ) -> Result<()> {
        let target = attestation.target;
        if !is_from_block {
            self.validate_target_epoch_against_current_time(target.epoch)?;
        }
        if target.epoch != self.compute_epoch_at_slot(attestation.slot) {
            return Err(ForkChoiceError::AttestationTargetEpochMismatch {
                target_epoch: target.epoch,
                slot: attestation.slot,
            });
        }
        if !self.proto_array.contains(&target.root) {
            return Err(ForkChoiceError::AttestationUnknownTarget(target.root));
        }
        let block = self.proto_array.get(&attestation.beacon_block_root).ok_or(
            ForkChoiceError::AttestationUnknownHeadBlock(attestation.beacon_block_root),
        )?;
        if block.slot > attestation.slot {
            return Err(ForkChoiceError::AttestationForFutureBlock {
                block_root: attestation.beacon_block_root,
                block_slot: block.slot,
                slot: attestation.slot,
            });
        }
        let expected = self.get_checkpoint_block(&attestation.beacon_block_root, target.epoch)?;
        if target.root != expected {
            return Err(ForkChoiceError::AttestationTargetMismatch {
                target_epoch: target.epoch,
                target_root: target.root,
                expected,
            });
        }
        let current_slot = self.get_current_slot()?;
        if current_slot < attestation.slot.saturating_add(1) {
            return Err(ForkChoiceError::AttestationTooEarly {
                slot: attestation.slot,
                current_slot,
            });
        }
        Ok(())
    }

    /// Spec `update_latest_messages`: the attesting validators (equivocators skipped) now vote
    /// for `beacon_block_root` unless they already hold a message of a newer target epoch.
    pub fn update_latest_messages(
        &mut self,
        attesting_indices: impl IntoIterator<Item = ValidatorIndex>,
        target_epoch: Epoch,
        beacon_block_root: &Hash256,
    ) -> Result<()> {
        let node = self.proto_array.id_of(beacon_block_root).ok_or(
            ForkChoiceError::AttestationUnknownHeadBlock(*beacon_block_root),
        )?;
        let check_equivocations = !self.equivocating_indices.is_empty();
        for i in attesting_indices {
            if check_equivocations && self.equivocating_indices.contains(&i) {
                continue;
            }
            self.votes.process_attestation(i, node, target_epoch)?;
        }
        Ok(())
    }

    /// The store part of spec `on_attester_slashing`: the validators in both attestations
    /// equivocated; their latest messages stop counting, now and later.
    pub fn add_equivocating_indices(&mut self, indices: impl IntoIterator<Item = ValidatorIndex>) {
        for i in indices {
            if self.equivocating_indices.insert(i) {
                self.votes.remove_vote(i);
            }
        }
    }

    // ---------------------------------------------------------------- re-org helpers

    /// Spec `is_head_late`.
    pub fn is_head_late(&self, head_root: &Hash256) -> Result<bool> {
        Ok(!self.proto_array.node(head_root)?.timely)
    }

    /// Spec `is_not_epoch_boundary`.
    pub fn is_not_epoch_boundary(&self, slot: Slot) -> bool {
        slot.checked_rem(self.config.slots_per_epoch)
            .is_some_and(|r| r != 0)
    }

    /// Spec `is_ffg_competitive`.
    pub fn is_ffg_competitive(&self, head_root: &Hash256, parent_root: &Hash256) -> Result<bool> {
        Ok(self
            .proto_array
            .node(head_root)?
            .unrealized_justified_checkpoint
            == self
                .proto_array
                .node(parent_root)?
                .unrealized_justified_checkpoint)
    }

    /// Spec `is_finalization_ok`.
    pub fn is_finalization_ok(&self, slot: Slot) -> bool {
        let epochs_since_finalization = self
            .compute_epoch_at_slot(slot)
            .saturating_sub(self.finalized_checkpoint.epoch);
        epochs_since_finalization <= self.config.reorg_max_epochs_since_finalization
    }

    /// Spec `is_proposing_on_time`.
    pub fn is_proposing_on_time(&self) -> Result<bool> {
        let cutoff = self.get_slot_component_duration_ms(self.config.proposer_reorg_cutoff_bps)?;
        Ok(self.time_into_slot_ms()? <= cutoff)
    }

    /// Spec `is_head_weak`. `equivocating_committee_weight` is the part the store cannot compute
    /// without states: the justified-state effective balance of the equivocating validators in
    /// the head slot's committees (see the per-preset fork choice).
    pub fn is_head_weak(
        &mut self,
        head_root: &Hash256,
        equivocating_committee_weight: u64,
    ) -> Result<bool> {
        let reorg_threshold =
            self.calculate_committee_fraction(self.config.reorg_head_weight_threshold)?;
        let head_weight = arith(
            self.get_attestation_score(head_root)?
                .checked_add(equivocating_committee_weight),
            "head weight",
        )?;
        Ok(head_weight < reorg_threshold)
    }

    /// Spec `is_parent_strong` (takes the head's root, weighs its parent).
    pub fn is_parent_strong(&mut self, root: &Hash256) -> Result<bool> {
        let parent_threshold =
            self.calculate_committee_fraction(self.config.reorg_parent_weight_threshold)?;
        let parent_root = self.proto_array.node(root)?.parent_root;
        let parent_weight = self.get_attestation_score(&parent_root)?;
        Ok(parent_weight > parent_threshold)
    }

    /// Spec `is_proposer_equivocation`: another known block has the same slot and proposer.
    pub fn is_proposer_equivocation(&self, root: &Hash256) -> Result<bool> {
        let block = self.proto_array.node(root)?;
        Ok(self.proto_array.nodes().iter().any(|other| {
            other.root != block.root
                && other.slot == block.slot
                && other.proposer_index == block.proposer_index
        }))
    }

    /// Spec `get_proposer_head`: the block a proposer of `slot` builds on — the head, or its
    /// parent when the head is a late, weak, single-slot block that a boosted proposal can
    /// re-org (or when its proposer equivocated).
    pub fn get_proposer_head(
        &mut self,
        head_root: &Hash256,
        slot: Slot,
        equivocating_committee_weight: u64,
    ) -> Result<ProposerHeadInfo> {
        let (head_slot, parent_root) = {
            let head = self.proto_array.node(head_root)?;
            (head.slot, head.parent_root)
        };
        let parent_slot = self.proto_array.node(&parent_root)?.slot;

        let head_late = self.is_head_late(head_root)?;
        let not_epoch_boundary = self.is_not_epoch_boundary(slot);
        let ffg_competitive = self.is_ffg_competitive(head_root, &parent_root)?;
        let finalization_ok = self.is_finalization_ok(slot);
        let proposing_on_time = self.is_proposing_on_time()?;
        let parent_slot_ok = parent_slot.checked_add(1) == Some(head_slot);
        let current_time_ok = head_slot.checked_add(1) == Some(slot);
        let single_slot_reorg = parent_slot_ok && current_time_ok;
        if self.proposer_boost_root == *head_root {
            return Err(ForkChoiceError::ProposerBoostNotWornOff(*head_root));
        }
        let head_weak = self.is_head_weak(head_root, equivocating_committee_weight)?;
        let parent_strong = self.is_parent_strong(head_root)?;
        let proposer_equivocation = self.is_proposer_equivocation(head_root)?;

        let reorg = (head_late
            && not_epoch_boundary
            && ffg_competitive
            && finalization_ok
            && proposing_on_time
            && single_slot_reorg
            && head_weak
            && parent_strong)
            || (head_weak && current_time_ok && proposer_equivocation);
        Ok(ProposerHeadInfo {
            head_late,
            not_epoch_boundary,
            ffg_competitive,
            finalization_ok,
            proposing_on_time,
            single_slot_reorg,
            current_time_ok,
            head_weak,
            parent_strong,
            proposer_equivocation,
            proposer_head: if reorg { parent_root } else { *head_root },
        })
    }

    /// `should_override_forkchoice_update` (bellatrix `fork-choice.md` up to consensus-specs
    /// 1.6; removed from the spec in 1.7.0 by consensus-specs PR 5174, since execution clients
    /// must now process any fork-choice update above finality, so 1.7.0a13 has neither the
    /// function nor vectors for it). Kept as an optional heuristic: `true` when the proposer of
    /// the next slot should not send a fork-choice update for `head_root` because it will likely
    /// re-org it. `proposing_reorg_slot` is the spec's `validator_is_connected(proposer of
    /// head.slot + 1)`; `equivocating_committee_weight` as for [`Self::is_head_weak`]. Built on
    /// 1.7.0a13's helpers: `is_parent_strong` weighs the parent by attestation score (1.6 used
    /// `get_weight`, boost included) and `is_head_weak` counts equivocating committee members.
    pub fn should_override_forkchoice_update(
        &mut self,
        head_root: &Hash256,
        proposing_reorg_slot: bool,
        equivocating_committee_weight: u64,
    ) -> Result<bool> {
        let (head_slot, parent_root) = {
            let head = self.proto_array.node(head_root)?;
            (head.slot, head.parent_root)
        };
        let parent_slot = self.proto_array.node(&parent_root)?.slot;
        let current_slot = self.get_current_slot()?;
        let proposal_slot = arith(head_slot.checked_add(1), "proposal slot")?;

        let head_late = self.is_head_late(head_root)?;
        // `is_shuffling_stable(proposal_slot)`
        let shuffling_stable = self.is_not_epoch_boundary(proposal_slot);
        let ffg_competitive = self.is_ffg_competitive(head_root, &parent_root)?;
        let finalization_ok = self.is_finalization_ok(proposal_slot);
        let parent_slot_ok = parent_slot.checked_add(1) == Some(head_slot);
        let proposing_on_time = self.is_proposing_on_time()?;
        let current_time_ok =
            head_slot == current_slot || (proposal_slot == current_slot && proposing_on_time);
        let single_slot_reorg = parent_slot_ok && current_time_ok;
        // The head weight counts only once the head slot's attestations are in.
        let (head_weak, parent_strong) = if current_slot > head_slot {
            (
                self.is_head_weak(head_root, equivocating_committee_weight)?,
                self.is_parent_strong(head_root)?,
            )
        } else {
            (true, true)
        };
        Ok(head_late
            && shuffling_stable
            && ffg_competitive
            && finalization_ok
            && proposing_reorg_slot
            && single_slot_reorg
            && head_weak
            && parent_strong)
    }

    // ---------------------------------------------------------------- pruning

    /// Drops the blocks before the finalized block once `config.prune_threshold` of them
    /// accumulated, returning their roots (the caller drops their states). The spec never
    /// prunes; this changes no head: every pruned block is an ancestor of the finalized block or
    /// on a branch that does not descend from it, and no viable head or weight the head depends
    /// on lies there. Skipped while the justified block does not descend from the finalized one.
    pub fn prune(&mut self) -> Result<Vec<Hash256>> {
        let finalized = self.finalized_checkpoint.root;
        if !self.proto_array.contains(&finalized)
            || !self.proto_array.contains(&self.justified_checkpoint.root)
            || !self.is_ancestor(&self.justified_checkpoint.root, &finalized)?
        {
            return Ok(Vec::new());
        }
        // Weights must be settled before nodes (and their ids) go away.
        if self.balances_for == Some(self.justified_checkpoint) {
            self.apply_pending_votes()?;
        }
        self.proto_array
            .prune(&finalized, self.config.prune_threshold)
    }
}

/// Spec `seconds_to_milliseconds` (saturating at `UINT64_MAX`).
pub fn seconds_to_milliseconds(seconds: u64) -> u64 {
    seconds.saturating_mul(1000)
}
