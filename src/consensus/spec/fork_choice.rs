//! The fork-choice store of this preset: the spec's `Store` with its states
//! (`block_states`, `checkpoint_states`) around the preset-independent
//! [`crate::fork_choice::ForkChoice`] (tree, votes, checkpoints, time, proposer boost).
//!
//! Spec: phase0 `fork-choice.md` as modified up to Fulu (`on_block` with the Fulu
//! data-availability check), consensus-specs 1.7.0a13. Handlers take `&mut self`: one writer
//! owns the store.
//!
//! What this layer adds to the core: running the state transition in `on_block`,
//! `compute_pulled_up_tip` (`process_justification_and_finalization` on a copy of the
//! post-state), `store_target_checkpoint_state`, the indexed-attestation checks of
//! `on_attestation` and `on_attester_slashing`, the justified balances, and the committee part
//! of `is_head_weak`.
//!
//! States: every block's post-state is kept (milhouse trees: a state shares every unchanged node
//! with its parent's), until the block is pruned at finalization. **Unbounded in a long
//! non-finality**: one state per non-finalized block. A state differs from its parent's by the
//! touched paths only (a block: ~tens of KB at mainnet scale; an epoch transition: the balance,
//! participation and inactivity lists, ~MBs at 1M validators), so a week without finality on
//! mainnet would hold ~50k states and exceed a 4 GB board. Bounding them by the node store's
//! state cache (load on miss) is the planned fix; [`ForkChoiceStore::block_state_count`]
//! exposes the count so the node can report it.

use std::collections::HashMap;

use tree_hash::TreeHash;
use typenum::Unsigned;

use super::transition::block::{get_blob_parameters, state_transition, VerifySignatures};
use super::transition::epoch::process_justification_and_finalization;
use super::transition::helpers::{
    compute_epoch_at_slot, compute_start_slot_at_epoch, get_beacon_committee,
    get_committee_count_per_slot, get_current_epoch, get_indexed_attestation,
    get_total_active_balance, is_active_validator, is_slashable_attestation_data,
};
use super::transition::signatures::{check_indexed_attestation, indexed_attestation_signature};
use super::transition::slot::process_slots;
use super::transition::TransitionError;
use super::*;
use crate::consensus::block_invalid::SignatureKind;
use crate::consensus::config::ChainConfig;
use crate::consensus::execution::ExecutionEngine;
use crate::consensus::kzg;
use crate::consensus::primitives::*;
use crate::consensus::pubkey_cache::PubkeyCache;
use crate::fork_choice::{
    self as core, AttestationInfo, BlockSummary, ForkChoice, ForkChoiceConfig, ForkChoiceError,
    JustifiedBalances, ProposerHeadInfo,
};

type Result<T> = core::Result<T>;

/// The preset-independent checkpoint of an SSZ `Checkpoint`.
pub fn checkpoint(c: &Checkpoint) -> core::Checkpoint {
    core::Checkpoint::new(c.epoch, c.root)
}

fn state_error(e: TransitionError) -> ForkChoiceError {
    ForkChoiceError::State(Box::new(e))
}

// ---------------------------------------------------------------------------- data availability

/// Spec `is_data_available`, pluggable: the node answers from the sidecars it sampled; the spec
/// tests from the case's `blobs`/`columns`. `Err` names why the data is not available (the
/// block MAY be retried once it is).
pub trait DataAvailability {
    fn is_data_available(
        &self,
        block_root: &Root,
        signed_block: &SignedBeaconBlock,
    ) -> std::result::Result<(), String>;
}

/// Treats every block's data as available (blocks without blobs, or data checked elsewhere).
#[derive(Debug, Clone, Copy, Default)]
pub struct AssumeAvailable;

impl DataAvailability for AssumeAvailable {
    fn is_data_available(
        &self,
        _: &Root,
        _: &SignedBeaconBlock,
    ) -> std::result::Result<(), String> {
        Ok(())
    }
}

/// Spec fulu `verify_data_column_sidecar`: index in range, at least one and at most the
/// epoch's maximum of blobs, as many cells and proofs as commitments.
pub fn verify_data_column_sidecar(config: &ChainConfig, sidecar: &DataColumnSidecar) -> bool {
    if sidecar.index >= NumberOfColumns::to_u64() {
        return false;
    }
    if sidecar.kzg_commitments.is_empty() {
        return false;
    }
    let epoch = compute_epoch_at_slot(sidecar.signed_block_header.message.slot);
    let max_blobs = get_blob_parameters(config, epoch).max_blobs_per_block;
    if u64::try_from(sidecar.kzg_commitments.len()).map_or(true, |n| n > max_blobs) {
        return false;
    }
    sidecar.column.len() == sidecar.kzg_commitments.len()
        && sidecar.column.len() == sidecar.kzg_proofs.len()
}

/// Spec fulu `verify_data_column_sidecar_kzg_proofs`: the cells against the commitments, the
/// column index being the cell index. Undecodable points count as invalid.
pub fn verify_data_column_sidecar_kzg_proofs(sidecar: &DataColumnSidecar) -> bool {
    let cell_indices = vec![sidecar.index; sidecar.column.len()];
    let cells: Vec<&[u8]> = sidecar.column.iter().map(|c| &c[..]).collect();
    let commitments: Vec<[u8; 48]> = sidecar.kzg_commitments.iter().map(|c| c.0).collect();
    let proofs: Vec<[u8; 48]> = sidecar.kzg_proofs.iter().map(|p| p.0).collect();
    kzg::verify_cell_kzg_proof_batch(&commitments, &cell_indices, &cells, &proofs) == Ok(true)
}

/// Spec fulu `is_data_available` given `retrieve_column_sidecars`' answer: every sidecar is
/// well-formed and its cells verify.
pub fn is_data_available_from_columns(
    config: &ChainConfig,
    sidecars: &[DataColumnSidecar],
) -> std::result::Result<(), String> {
    for sidecar in sidecars {
        if !verify_data_column_sidecar(config, sidecar) {
            return Err(format!("column sidecar {} malformed", sidecar.index));
        }
        if !verify_data_column_sidecar_kzg_proofs(sidecar) {
            return Err(format!(
                "column sidecar {}: KZG proofs invalid",
                sidecar.index
            ));
        }
    }
    Ok(())
}

/// Spec deneb/electra `is_data_available` given `retrieve_blobs_and_proofs`' answer:
/// `verify_blob_kzg_proof_batch(blobs, block.body.blob_kzg_commitments, proofs)`.
pub fn is_data_available_from_blobs(
    blobs: &[&[u8]],
    commitments: &[KZGCommitment],
    proofs: &[KZGProof],
) -> std::result::Result<(), String> {
    let commitments: Vec<[u8; 48]> = commitments.iter().map(|c| c.0).collect();
    let proofs: Vec<[u8; 48]> = proofs.iter().map(|p| p.0).collect();
    match kzg::verify_blob_kzg_proof_batch(blobs, &commitments, &proofs) {
        Ok(true) => Ok(()),
        Ok(false) => Err("blob KZG proofs invalid".to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Spec phase0 `is_valid_indexed_attestation` with the store's decompressed-pubkey cache:
/// indices non-empty, sorted and unique, and (with `verify_signature`) the aggregate signature.
/// `Err` says which part failed.
fn is_valid_indexed_attestation_cached(
    state: &BeaconState,
    pubkeys: &PubkeyCache,
    indexed_attestation: &IndexedAttestation,
    kind: SignatureKind,
    verify_signature: bool,
) -> std::result::Result<(), String> {
    check_indexed_attestation(indexed_attestation).map_err(|e| e.to_string())?;
    if verify_signature {
        let check = indexed_attestation_signature(state, pubkeys, indexed_attestation, kind)
            .map_err(|e| e.to_string())?;
        if !check.is_valid() {
            return Err(format!("{kind} signature invalid"));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------- store

/// Spec `Store` for this preset. See the module docs.
pub struct ForkChoiceStore {
    fork_choice: ForkChoice,
    config: ChainConfig,
    block_states: HashMap<Root, BeaconState>,
    checkpoint_states: HashMap<core::Checkpoint, BeaconState>,
    pubkeys: PubkeyCache,
}

/// The justified-state inputs of `get_attestation_score` and the proposer score: effective
/// balance of each validator active in the state's epoch and not slashed (else 0), and
/// `get_total_active_balance`.
pub fn justified_balances(
    state: &BeaconState,
    justified: core::Checkpoint,
) -> Result<JustifiedBalances> {
    let epoch = get_current_epoch(state);
    let effective_balances = state
        .validators
        .iter()
        .map(|v| {
            if is_active_validator(v, epoch) && !v.slashed {
                v.effective_balance
            } else {
                0
            }
        })
        .collect();
    Ok(JustifiedBalances {
        checkpoint: justified,
        effective_balances,
        total_active_balance: get_total_active_balance(state).map_err(state_error)?,
    })
}

impl ForkChoiceStore {
    /// Spec `get_forkchoice_store`: a store anchored at a trusted state and its block (genesis,
    /// or a checkpoint-synced finalized state).
    pub fn get_forkchoice_store(
        anchor_state: BeaconState,
        anchor_block: &BeaconBlock,
        config: &ChainConfig,
    ) -> Result<Self> {
        let mut anchor_state = anchor_state;
        anchor_state
            .apply_pending_updates()
            .map_err(|e| ForkChoiceError::State(format!("{e:?}").into()))?;
        let state_root = anchor_state.tree_hash_root();
        if anchor_block.state_root != state_root {
            return Err(ForkChoiceError::AnchorStateRootMismatch {
                block_state_root: anchor_block.state_root,
                state_root,
            });
        }
        let anchor_root = anchor_block.tree_hash_root();
        let anchor_epoch = get_current_epoch(&anchor_state);
        let justified = core::Checkpoint::new(anchor_epoch, anchor_root);
        let balances = justified_balances(&anchor_state, justified)?;
        let fork_choice = ForkChoice::get_forkchoice_store(
            ForkChoiceConfig::new(config, PRESET),
            anchor_root,
            anchor_block.parent_root,
            anchor_block.slot,
            anchor_block.proposer_index,
            anchor_state.slot,
            checkpoint(&anchor_state.current_justified_checkpoint),
            checkpoint(&anchor_state.finalized_checkpoint),
            anchor_state.genesis_time,
            balances,
        )?;
        let mut block_states = HashMap::new();
        block_states.insert(anchor_root, anchor_state.clone());
        let mut checkpoint_states = HashMap::new();
        checkpoint_states.insert(justified, anchor_state);
        Ok(Self {
            fork_choice,
            config: config.clone(),
            block_states,
            checkpoint_states,
            pubkeys: PubkeyCache::new(),
        })
    }

    /// The store without the states (time, checkpoints, tree, votes).
    pub fn fork_choice(&self) -> &ForkChoice {
        &self.fork_choice
    }

    /// Prune once this many blocks precede the finalized one (default 256; 1 prunes at every
    /// finalization).
    pub fn set_prune_threshold(&mut self, threshold: usize) {
        self.fork_choice.set_prune_threshold(threshold);
    }

    pub fn config(&self) -> &ChainConfig {
        &self.config
    }

    /// `store.block_states[root]`
    pub fn block_state(&self, root: &Root) -> Option<&BeaconState> {
        self.block_states.get(root)
    }

    /// `store.checkpoint_states[checkpoint]`
    pub fn checkpoint_state(&self, checkpoint: &core::Checkpoint) -> Option<&BeaconState> {
        self.checkpoint_states.get(checkpoint)
    }

    /// The decompressed-pubkey cache the signature checks share.
    pub fn pubkeys(&self) -> &PubkeyCache {
        &self.pubkeys
    }

    /// Loads the justified checkpoint state's balances into the votes when the justified
    /// checkpoint moved (`get_weight` reads `store.checkpoint_states[store.justified_checkpoint]`;
    /// it is computed here as `store_target_checkpoint_state` would when not yet stored).
    fn sync_justified_balances(&mut self) -> Result<()> {
        let justified = self.fork_choice.justified_checkpoint();
        if self.fork_choice.justified_balances_checkpoint() == Some(justified) {
            return Ok(());
        }
        self.store_target_checkpoint_state(justified)?;
        let state = self
            .checkpoint_states
            .get(&justified)
            .ok_or(ForkChoiceError::MissingBlockState(justified.root))?;
        let balances = justified_balances(state, justified)?;
        self.fork_choice.set_justified_balances(balances);
        Ok(())
    }

    /// After a handler: new justified balances if needed, and pruning at finalization.
    fn settle(&mut self) -> Result<()> {
        self.sync_justified_balances()?;
        let removed = self.fork_choice.prune()?;
        if !removed.is_empty() {
            for root in &removed {
                self.block_states.remove(root);
            }
            let fork_choice = &self.fork_choice;
            self.checkpoint_states
                .retain(|cp, _| fork_choice.contains_block(&cp.root));
        }
        Ok(())
    }

    /// Spec `on_tick`.
    pub fn on_tick(&mut self, time: u64) -> Result<()> {
        self.fork_choice.on_tick(time)?;
        self.settle()
    }

    /// Spec `get_head`.
    pub fn get_head(&mut self) -> Result<Root> {
        self.sync_justified_balances()?;
        self.fork_choice.get_head()
    }

    /// Spec `get_weight` of a block.
    pub fn get_weight(&mut self, root: &Root) -> Result<Gwei> {
        self.sync_justified_balances()?;
        self.fork_choice.get_weight(root)
    }

    /// The leaves of the filtered block tree with their weights (the spec tests'
    /// `viable_for_head_roots_and_weights`).
    pub fn get_viable_for_head_roots_and_weights(&mut self) -> Result<Vec<(Root, Gwei)>> {
        self.sync_justified_balances()?;
        self.fork_choice.get_viable_for_head_roots_and_weights()
    }

    /// Spec `on_block` (Fulu): checks, data availability, the state transition (signatures
    /// batched, state root checked), then the store updates of
    /// [`ForkChoice::on_block`] with the block's pulled-up tip. Returns the block root. A known
    /// block is accepted again without effect.
    pub fn on_block(
        &mut self,
        signed_block: &SignedBeaconBlock,
        data_availability: &dyn DataAvailability,
        execution_engine: &dyn ExecutionEngine,
    ) -> Result<Root> {
        let block = &signed_block.message;
        let block_root = block.tree_hash_root();
        if self.fork_choice.contains_block(&block_root) {
            return Ok(block_root);
        }
        let parent_state =
            self.block_states
                .get(&block.parent_root)
                .ok_or(ForkChoiceError::UnknownParent {
                    block_root,
                    parent_root: block.parent_root,
                })?;
        self.fork_choice
            .check_on_block(&block_root, &block.parent_root, block.slot)?;
        data_availability
            .is_data_available(&block_root, signed_block)
            .map_err(|reason| ForkChoiceError::DataUnavailable { block_root, reason })?;

        let mut state = parent_state.clone();
        state_transition(
            &mut state,
            signed_block,
            true,
            &self.config,
            execution_engine,
            VerifySignatures::Batch(&self.pubkeys),
        )
        .map_err(|e| ForkChoiceError::InvalidBlock {
            block_root,
            source: Box::new(e),
        })?;
        self.on_block_with_post_state(signed_block, block_root, state, data_availability)
    }

    /// Spec `on_block` for a block whose state transition the caller already ran (signatures
    /// and state root checked) on a copy of the parent's post-state: the node runs it outside
    /// the single writer that owns this store, so only the cheap store updates are serialised.
    /// `post_state` must be the result of `state_transition(block_states[parent], block, True)`
    /// with pending updates applied; everything else `on_block` asserts is checked here.
    pub fn on_block_with_post_state(
        &mut self,
        signed_block: &SignedBeaconBlock,
        block_root: Root,
        state: BeaconState,
        data_availability: &dyn DataAvailability,
    ) -> Result<Root> {
        let block = &signed_block.message;
        if self.fork_choice.contains_block(&block_root) {
            return Ok(block_root);
        }
        if !self.block_states.contains_key(&block.parent_root) {
            return Err(ForkChoiceError::UnknownParent {
                block_root,
                parent_root: block.parent_root,
            });
        }
        self.fork_choice
            .check_on_block(&block_root, &block.parent_root, block.slot)?;
        data_availability
            .is_data_available(&block_root, signed_block)
            .map_err(|reason| ForkChoiceError::DataUnavailable { block_root, reason })?;

        // `compute_pulled_up_tip`: the post-state pulled up to the next epoch boundary.
        let mut pulled_up = state.clone();
        process_justification_and_finalization(&mut pulled_up).map_err(state_error)?;

        let summary = BlockSummary {
            root: block_root,
            parent_root: block.parent_root,
            slot: block.slot,
            proposer_index: block.proposer_index,
            justified_checkpoint: checkpoint(&state.current_justified_checkpoint),
            finalized_checkpoint: checkpoint(&state.finalized_checkpoint),
            unrealized_justified_checkpoint: checkpoint(&pulled_up.current_justified_checkpoint),
            unrealized_finalized_checkpoint: checkpoint(&pulled_up.finalized_checkpoint),
        };
        self.sync_justified_balances()?;
        self.fork_choice.on_block(&summary)?;
        self.block_states.insert(block_root, state);
        self.settle()?;
        Ok(block_root)
    }

    /// Number of post-block states held (one per block not yet pruned at finalization).
    pub fn block_state_count(&self) -> usize {
        self.block_states.len()
    }

    /// Spec `store_target_checkpoint_state`: the target block's state advanced to the start
    /// of the target epoch, stored once.
    pub fn store_target_checkpoint_state(&mut self, target: core::Checkpoint) -> Result<()> {
        if self.checkpoint_states.contains_key(&target) {
            return Ok(());
        }
        let mut base_state = self
            .block_states
            .get(&target.root)
            .ok_or(ForkChoiceError::MissingBlockState(target.root))?
            .clone();
        let start_slot = compute_start_slot_at_epoch(target.epoch).map_err(state_error)?;
        if base_state.slot < start_slot {
            process_slots(&mut base_state, &self.config, start_slot).map_err(state_error)?;
        }
        self.checkpoint_states.insert(target, base_state);
        Ok(())
    }

    /// Spec `on_attestation`. An attestation from a block (`is_from_block`) skips the signature
    /// check: the block's state transition verified it (callers pass block attestations only
    /// after `on_block` accepted the block). Everything else is checked as the spec does.
    pub fn on_attestation(&mut self, attestation: &Attestation, is_from_block: bool) -> Result<()> {
        self.on_attestation_checked(attestation, is_from_block, !is_from_block)
    }

    /// Spec `on_attestation`, with the signature check left to the caller when
    /// `verify_signature` is false: the node verifies the signatures of gossip-style
    /// attestations in batches outside the writer that owns this store.
    pub fn on_attestation_checked(
        &mut self,
        attestation: &Attestation,
        is_from_block: bool,
        verify_signature: bool,
    ) -> Result<()> {
        let data = &attestation.data;
        let target = checkpoint(&data.target);
        self.fork_choice.validate_on_attestation(
            &AttestationInfo {
                slot: data.slot,
                beacon_block_root: data.beacon_block_root,
                target,
            },
            is_from_block,
        )?;
        self.store_target_checkpoint_state(target)?;
        let target_state = self
            .checkpoint_states
            .get(&target)
            .ok_or(ForkChoiceError::MissingBlockState(target.root))?;
        let indexed = get_indexed_attestation(target_state, attestation).map_err(|e| {
            ForkChoiceError::InvalidIndexedAttestation {
                reason: e.to_string(),
            }
        })?;
        is_valid_indexed_attestation_cached(
            target_state,
            &self.pubkeys,
            &indexed,
            SignatureKind::Attestation { index: 0 },
            verify_signature,
        )
        .map_err(|reason| ForkChoiceError::InvalidIndexedAttestation { reason })?;
        self.fork_choice.update_latest_messages(
            indexed.attesting_indices.iter().copied(),
            target.epoch,
            &data.beacon_block_root,
        )
    }

    /// Spec `on_attester_slashing`: validators in both (valid, slashable) attestations
    /// equivocated; their votes stop counting.
    pub fn on_attester_slashing(&mut self, attester_slashing: &AttesterSlashing) -> Result<()> {
        let attestation_1 = &attester_slashing.attestation_1;
        let attestation_2 = &attester_slashing.attestation_2;
        if !is_slashable_attestation_data(&attestation_1.data, &attestation_2.data) {
            return Err(ForkChoiceError::AttesterSlashingNotSlashable);
        }
        let justified_root = self.fork_choice.justified_checkpoint().root;
        let state = self
            .block_states
            .get(&justified_root)
            .ok_or(ForkChoiceError::MissingBlockState(justified_root))?;
        for (which, attestation) in [(1_u8, attestation_1), (2, attestation_2)] {
            is_valid_indexed_attestation_cached(
                state,
                &self.pubkeys,
                attestation,
                SignatureKind::AttesterSlashing {
                    index: 0,
                    attestation: which,
                },
                true,
            )
            .map_err(|reason| ForkChoiceError::InvalidAttesterSlashing { which, reason })?;
        }
        let second: std::collections::HashSet<ValidatorIndex> =
            attestation_2.attesting_indices.iter().copied().collect();
        self.fork_choice.add_equivocating_indices(
            attestation_1
                .attesting_indices
                .iter()
                .copied()
                .filter(|i| second.contains(i)),
        );
        Ok(())
    }

    /// The part of spec `is_head_weak` that needs states: the justified-state effective balance
    /// of the equivocating validators in the committees of the head block's slot (from the head
    /// state).
    pub fn equivocating_committee_weight(&mut self, head_root: &Root) -> Result<Gwei> {
        self.sync_justified_balances()?;
        let equivocating = self.fork_choice.equivocating_indices();
        let head_slot = self.fork_choice.get_block(head_root)?.slot;
        let head_state = self
            .block_states
            .get(head_root)
            .ok_or(ForkChoiceError::MissingBlockState(*head_root))?;
        let justified = self.fork_choice.justified_checkpoint();
        let justified_state = self
            .checkpoint_states
            .get(&justified)
            .ok_or(ForkChoiceError::MissingBlockState(justified.root))?;
        let epoch = compute_epoch_at_slot(head_slot);
        let mut weight: Gwei = 0;
        for index in 0..get_committee_count_per_slot(head_state, epoch) {
            let committee =
                get_beacon_committee(head_state, head_slot, index).map_err(state_error)?;
            for i in committee {
                if equivocating.contains(&i) {
                    let balance = usize::try_from(i)
                        .ok()
                        .and_then(|i| justified_state.validators.get(i))
                        .ok_or_else(|| state_error(TransitionError::UnknownValidator(i)))?
                        .effective_balance;
                    weight = weight
                        .checked_add(balance)
                        .ok_or(ForkChoiceError::Arith("equivocating committee weight"))?;
                }
            }
        }
        Ok(weight)
    }

    /// Spec `is_head_weak`.
    pub fn is_head_weak(&mut self, head_root: &Root) -> Result<bool> {
        let weight = self.equivocating_committee_weight(head_root)?;
        self.fork_choice.is_head_weak(head_root, weight)
    }

    /// Spec `get_proposer_head(store, head, slot)`, with the conditions it weighed.
    pub fn get_proposer_head(&mut self, head_root: &Root, slot: Slot) -> Result<ProposerHeadInfo> {
        let weight = self.equivocating_committee_weight(head_root)?;
        self.fork_choice.get_proposer_head(head_root, slot, weight)
    }

    /// `should_override_forkchoice_update` (removed from the spec in 1.7.0; see
    /// [`ForkChoice::should_override_forkchoice_update`]). `proposing_reorg_slot`: whether this
    /// node's validator proposes at `head.slot + 1`.
    pub fn should_override_forkchoice_update(
        &mut self,
        head_root: &Root,
        proposing_reorg_slot: bool,
    ) -> Result<bool> {
        let weight = self.equivocating_committee_weight(head_root)?;
        self.fork_choice
            .should_override_forkchoice_update(head_root, proposing_reorg_slot, weight)
    }
}
