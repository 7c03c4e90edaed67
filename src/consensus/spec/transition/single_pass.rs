//! `process_epoch` in one pass over the registry: the fast path `process_slots` uses.
//!
//! Same result as [`super::epoch::process_epoch`] (the spec-shaped reference, every step a
//! separate spec-named function), reorganised so that the per-validator lists are read once:
//!
//! 1. One zipped read of `validators`, `balances`, both participation lists and
//!    `inactivity_scores` gathers the totals justification and rewards need, copies the few
//!    per-validator numbers the later steps read into flat arrays, and lists the (rare)
//!    validators that registry updates or slashings will touch.
//! 2. Justification and finalization from those totals.
//! 3. Per validator, over the flat arrays: the inactivity-score update, then the four reward
//!    and penalty deltas applied in the spec's order (flag 0..2, then inactivity) — deltas of
//!    one validator never depend on another's balance, so applying all four to one validator
//!    before the next gives the spec's result — then the slashing penalty.
//! 4. Registry updates (activation queue, ejections, activations) in index order.
//! 5. The changed balances and scores are written back; pending deposits and consolidations
//!    run as the spec writes them (they touch a handful of validators).
//! 6. Effective-balance updates over the flat arrays; only changed validators are written.
//! 7. The remaining steps as in the spec; the Fulu proposer lookahead reads the flat
//!    effective balances and the active set gathered in (1).
//!
//! Why the reordering is sound: no step between (1) and (6) changes an effective balance; the
//! active sets of the previous, current and next two epochs cannot change during epoch
//! processing (activations and exits are scheduled at `current + 1 + MAX_SEED_LOOKAHEAD` or
//! later); registry updates change no balance and slashings no validator record.

use super::caches::{ColumnChunk, ValidatorColumns};
use super::epoch::*;
use super::error::TransitionError;
use super::helpers::*;
use super::*;
use crate::consensus::arith::{to_u64, to_usize, SafeArith};
use crate::consensus::config::ChainConfig;
use crate::consensus::constants::*;
use crate::consensus::preset::PresetName;
use crate::consensus::primitives::*;
use milhouse::level_iter::LevelNode;
use milhouse::{List, Vector};
use std::sync::Arc;

type Result<T> = std::result::Result<T, TransitionError>;
const SLASHED: u8 = 1;
const ACTIVE_PREVIOUS: u8 = 1 << 1;
const ELIGIBLE: u8 = 1 << 2;
const COMPOUNDING: u8 = 1 << 3;

/// One validator's fields as the pass reads them from the column cache.
struct Record {
    effective_balance: Gwei,
    activation_eligibility_epoch: Epoch,
    activation_epoch: Epoch,
    exit_epoch: Epoch,
    withdrawable_epoch: Epoch,
    slashed: bool,
    compounding: bool,
}

impl Record {
    /// Spec `is_active_validator`.
    fn is_active(&self, epoch: Epoch) -> bool {
        self.activation_epoch <= epoch && epoch < self.exit_epoch
    }
}

/// What the registry-update step will do to a validator (spec `process_registry_updates`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RegistryAction {
    QueueForActivation,
    Eject,
    /// Activate if `activation_eligibility_epoch` (kept here) is finalized by then.
    MaybeActivate(Epoch),
}

/// Spec fulu `process_epoch` (Electra's on an Electra state), computed in one pass; see the
/// module documentation. Equal in effect to [`process_epoch`].
pub fn process_epoch_single_pass(state: &mut BeaconState, config: &ChainConfig) -> Result<()> {
    let current_epoch = get_current_epoch(state);
    let previous_epoch = get_previous_epoch(state);
    let next_epoch = current_epoch.safe_add(1)?;
    let lookahead_epoch = current_epoch
        .safe_add(PRESET.min_seed_lookahead)?
        .safe_add(1)?;
    let is_fulu = state.fork_name() >= ForkName::Fulu;
    let n = state.validators.len();
    for (name, len) in [
        ("balances", state.balances.len()),
        (
            "previous_epoch_participation",
            state.previous_epoch_participation.len(),
        ),
        (
            "current_epoch_participation",
            state.current_epoch_participation.len(),
        ),
        ("inactivity_scores", state.inactivity_scores.len()),
    ] {
        if len != n {
            return Err(TransitionError::Tree(format!(
                "{name} has {len} entries for {n} validators"
            )));
        }
    }

    // ---- (1) The one read of the registry.
    let increment = PRESET.effective_balance_increment;
    let slashings_target_epoch =
        current_epoch.safe_add(PRESET.epochs_per_slashings_vector.safe_div(2)?)?;
    let mut effective_balances: Vec<Gwei> = Vec::with_capacity(n);
    let mut status: Vec<u8> = Vec::with_capacity(n);
    // Sized up front: growing by doubling would copy (and briefly hold twice) ~18 MB.
    let mut lookahead_active: Vec<ValidatorIndex> = Vec::with_capacity(if is_fulu { n } else { 0 });
    // The next epoch's active set, needed only when a sync committee period starts.
    let sync_committee_update = next_epoch.safe_rem(PRESET.epochs_per_sync_committee_period)? == 0;
    let mut next_active: Vec<ValidatorIndex> =
        Vec::with_capacity(if sync_committee_update { n } else { 0 });
    let mut registry_actions: Vec<(ValidatorIndex, RegistryAction)> = Vec::new();
    let mut slashing_candidates: Vec<ValidatorIndex> = Vec::new();
    let mut total_active_balance: Gwei = 0;
    let mut previous_flag_balances = [0 as Gwei; 3];
    let mut current_target_balance: Gwei = 0;
    let columns = refresh_validator_columns(state, None)?;
    let records = columns.chunks.iter().flat_map(|chunk| {
        chunk
            .effective_balance
            .iter()
            .zip(chunk.activation_eligibility_epoch.iter())
            .zip(chunk.activation_epoch.iter())
            .zip(chunk.exit_epoch.iter())
            .zip(chunk.withdrawable_epoch.iter())
            .zip(chunk.flags.iter())
            .map(|(((((&eb, &aee), &ae), &ee), &we), &flags)| Record {
                effective_balance: eb,
                activation_eligibility_epoch: aee,
                activation_epoch: ae,
                exit_epoch: ee,
                withdrawable_epoch: we,
                slashed: flags & ColumnChunk::SLASHED != 0,
                compounding: flags & ColumnChunk::COMPOUNDING != 0,
            })
    });
    let balances = read_packed_list(&state.balances)?;
    let scores = read_packed_list(&state.inactivity_scores)?;
    let previous_flags = read_packed_list(&state.previous_epoch_participation)?;
    let current_flags = read_packed_list(&state.current_epoch_participation)?;
    for (index, (validator, (previous, current))) in
        (0u64..).zip(records.zip(previous_flags.iter().zip(current_flags.iter())))
    {
        let effective_balance = validator.effective_balance;
        let active_current = validator.is_active(current_epoch);
        let active_previous = validator.is_active(previous_epoch);
        let mut bits = 0u8;
        if validator.slashed {
            bits |= SLASHED;
        }
        if active_previous {
            bits |= ACTIVE_PREVIOUS;
        }
        // get_eligible_validator_indices
        if active_previous
            || (validator.slashed
                && previous_epoch.saturating_add(1) < validator.withdrawable_epoch)
        {
            bits |= ELIGIBLE;
        }
        if validator.compounding {
            bits |= COMPOUNDING;
        }
        if active_current {
            total_active_balance.safe_add_assign(effective_balance)?;
            if !validator.slashed && has_flag(*current, TIMELY_TARGET_FLAG_INDEX) {
                current_target_balance.safe_add_assign(effective_balance)?;
            }
        }
        if active_previous && !validator.slashed {
            for (flag_index, sum) in previous_flag_balances.iter_mut().enumerate() {
                if has_flag(*previous, flag_index) {
                    sum.safe_add_assign(effective_balance)?;
                }
            }
        }
        if is_fulu && validator.is_active(lookahead_epoch) {
            lookahead_active.push(index);
        }
        if sync_committee_update && validator.is_active(next_epoch) {
            next_active.push(index);
        }
        // The branches of `process_registry_updates`, in its order
        // (is_eligible_for_activation_queue, ejection, is_eligible_for_activation).
        if validator.activation_eligibility_epoch == FAR_FUTURE_EPOCH
            && effective_balance >= PRESET.min_activation_balance
        {
            registry_actions.push((index, RegistryAction::QueueForActivation));
        } else if active_current && effective_balance <= config.ejection_balance {
            registry_actions.push((index, RegistryAction::Eject));
        } else if validator.activation_epoch == FAR_FUTURE_EPOCH {
            registry_actions.push((
                index,
                RegistryAction::MaybeActivate(validator.activation_eligibility_epoch),
            ));
        }
        if validator.slashed && validator.withdrawable_epoch == slashings_target_epoch {
            slashing_candidates.push(index);
        }
        effective_balances.push(effective_balance);
        status.push(bits);
    }
    drop(current_flags);
    let mut balances = balances;
    let mut scores = scores;
    if effective_balances.len() != n {
        return Err(TransitionError::Tree(format!(
            "validator columns cover {} of {n} validators",
            effective_balances.len()
        )));
    }
    drop(columns);
    let total_active_balance = total_active_balance.max(increment);
    state
        .caches
        .set_total_active_balance(current_epoch, total_active_balance);
    let previous_flag_balances = previous_flag_balances.map(|b| b.max(increment));
    let current_target_balance = current_target_balance.max(increment);

    // ---- (2) Justification and finalization.
    if current_epoch > GENESIS_EPOCH.safe_add(1)? {
        weigh_justification_and_finalization(
            state,
            total_active_balance,
            previous_flag_balances[TIMELY_TARGET_FLAG_INDEX],
            current_target_balance,
        )?;
    }

    // ---- (3) Inactivity scores, rewards and penalties, slashings.
    let mut balance_changes = ChangeLog::new(n);
    let mut score_changes = ChangeLog::new(n);
    if current_epoch != GENESIS_EPOCH {
        let in_leak = is_in_inactivity_leak(state)?;
        let base_reward_per_increment = base_reward_per_increment(total_active_balance)?;
        let active_increments = total_active_balance.safe_div(increment)?;
        let reward_denominator = active_increments.safe_mul(WEIGHT_DENOMINATOR)?;
        let mut participating_increments = [0u64; 3];
        for (increments, balance) in participating_increments
            .iter_mut()
            .zip(previous_flag_balances.iter())
        {
            *increments = balance.safe_div(increment)?;
        }
        let inactivity_denominator = config
            .inactivity_score_bias
            .safe_mul(PRESET.inactivity_penalty_quotient_bellatrix)?;
        for (index, ((((balance, score), &effective_balance), &flags), &bits)) in balances
            .iter_mut()
            .zip(scores.iter_mut())
            .zip(effective_balances.iter())
            .zip(previous_flags.iter())
            .zip(status.iter())
            .enumerate()
        {
            if bits & ELIGIBLE == 0 {
                continue;
            }
            let (balance_before, score_before) = (*balance, *score);
            let unslashed_active = bits & (SLASHED | ACTIVE_PREVIOUS) == ACTIVE_PREVIOUS;
            let participates = |flag_index: usize| unslashed_active && has_flag(flags, flag_index);
            // process_inactivity_updates
            if participates(TIMELY_TARGET_FLAG_INDEX) {
                *score = score.saturating_sub(1);
            } else {
                score.safe_add_assign(config.inactivity_score_bias)?;
            }
            if !in_leak {
                *score = score.saturating_sub(config.inactivity_score_recovery_rate);
            }
            // process_rewards_and_penalties: get_flag_index_deltas per flag, in order.
            let base_reward = effective_balance
                .safe_div(increment)?
                .safe_mul(base_reward_per_increment)?;
            for (flag_index, (&weight, &increments)) in PARTICIPATION_FLAG_WEIGHTS
                .iter()
                .zip(participating_increments.iter())
                .enumerate()
            {
                if participates(flag_index) {
                    if !in_leak {
                        let reward = base_reward
                            .safe_mul(weight)?
                            .safe_mul(increments)?
                            .safe_div(reward_denominator)?;
                        balance.safe_add_assign(reward)?;
                    }
                } else if flag_index != TIMELY_HEAD_FLAG_INDEX {
                    let penalty = base_reward.safe_mul(weight)?.safe_div(WEIGHT_DENOMINATOR)?;
                    *balance = balance.saturating_sub(penalty);
                }
            }
            // get_inactivity_penalty_deltas, with the updated score.
            if !participates(TIMELY_TARGET_FLAG_INDEX) {
                let penalty = effective_balance
                    .safe_mul(*score)?
                    .safe_div(inactivity_denominator)?;
                *balance = balance.saturating_sub(penalty);
            }
            if *balance != balance_before {
                balance_changes.record(index);
            }
            if *score != score_before {
                score_changes.record(index);
            }
        }
    }

    // ---- (4) Registry updates (before slashings in the spec; they touch no balance).
    let activation_epoch = compute_activation_exit_epoch(current_epoch)?;
    let finalized_epoch = state.finalized_checkpoint.epoch;
    // Validators whose records this function changes, for the column cache.
    let mut modified: Vec<ValidatorIndex> = Vec::new();
    for (index, action) in registry_actions {
        match action {
            RegistryAction::QueueForActivation => {
                get_validator_mut(state, index)?.activation_eligibility_epoch = next_epoch;
                modified.push(index);
            }
            RegistryAction::Eject => {
                initiate_validator_exit(state, config, index)?;
                modified.push(index);
            }
            RegistryAction::MaybeActivate(eligibility_epoch) => {
                if eligibility_epoch <= finalized_epoch {
                    get_validator_mut(state, index)?.activation_epoch = activation_epoch;
                    modified.push(index);
                }
            }
        }
    }

    // process_slashings
    if !slashing_candidates.is_empty() {
        let mut sum_slashings: Gwei = 0;
        for slashing in state.slashings.iter() {
            sum_slashings.safe_add_assign(*slashing)?;
        }
        let adjusted_total_slashing_balance = sum_slashings
            .safe_mul(PRESET.proportional_slashing_multiplier_bellatrix)?
            .min(total_active_balance);
        let penalty_per_effective_balance_increment =
            adjusted_total_slashing_balance.safe_div(total_active_balance.safe_div(increment)?)?;
        for index in slashing_candidates {
            let i = to_usize(index)?;
            let effective_balance = *effective_balances
                .get(i)
                .ok_or(TransitionError::UnknownValidator(index))?;
            let penalty = penalty_per_effective_balance_increment
                .safe_mul(effective_balance.safe_div(increment)?)?;
            let balance = balances
                .get_mut(i)
                .ok_or(TransitionError::UnknownValidator(index))?;
            let before = *balance;
            *balance = balance.saturating_sub(penalty);
            if *balance != before {
                balance_changes.record(i);
            }
        }
    }

    // ---- (5) Write back balances and scores.
    write_back(&mut state.balances, &balances, balance_changes)?;
    write_back(&mut state.inactivity_scores, &scores, score_changes)?;
    // Not needed any more: free them before the rest allocates.
    drop(scores);
    drop(previous_flags);

    process_eth1_data_reset(state)?;

    // Pending deposits and consolidations change a few balances (and may append validators):
    // note which, to refresh the flat copy for the effective-balance step.
    let mut touched: Vec<ValidatorIndex> = Vec::new();
    for deposit in state
        .pending_deposits
        .iter()
        .take(to_usize(PRESET.max_pending_deposits_per_epoch)?)
    {
        if let Some(index) = find_validator_index_by_pubkey(state, &deposit.pubkey) {
            touched.push(index);
        }
    }
    for consolidation in state.pending_consolidations.iter() {
        touched.push(consolidation.source_index);
        touched.push(consolidation.target_index);
    }
    process_pending_deposits(state, config)?;
    process_pending_consolidations(state)?;
    for index in touched {
        let i = to_usize(index)?;
        if let Some(slot) = balances.get_mut(i) {
            *slot = get_balance(state, index)?;
        }
    }

    // ---- (6) Effective balance updates.
    let hysteresis_increment = increment.safe_div(PRESET.hysteresis_quotient)?;
    let downward_threshold =
        hysteresis_increment.safe_mul(PRESET.hysteresis_downward_multiplier)?;
    let upward_threshold = hysteresis_increment.safe_mul(PRESET.hysteresis_upward_multiplier)?;
    let mut effective_balance_changes: Vec<(ValidatorIndex, Gwei)> = Vec::new();
    for (index, ((&balance, effective_balance), &bits)) in (0u64..).zip(
        balances
            .iter()
            .zip(effective_balances.iter_mut())
            .zip(status.iter()),
    ) {
        if balance.safe_add(downward_threshold)? < *effective_balance
            || effective_balance.safe_add(upward_threshold)? < balance
        {
            let max_effective_balance = if bits & COMPOUNDING != 0 {
                PRESET.max_effective_balance_electra
            } else {
                PRESET.min_activation_balance
            };
            let new = balance
                .safe_sub(balance.safe_rem(increment)?)?
                .min(max_effective_balance);
            if new != *effective_balance {
                *effective_balance = new;
                effective_balance_changes.push((index, new));
            }
        }
    }
    // Written through one update map: the records are read together (see `records_at`)
    // rather than one root-to-leaf chase each.
    state.validators.apply_updates()?;
    let changed: Vec<ValidatorIndex> = effective_balance_changes
        .iter()
        .map(|&(index, _)| index)
        .collect();
    let mut updates = RegistryUpdates::default();
    for (record, &(index, effective_balance)) in records_at(&state.validators, &changed)?
        .into_iter()
        .zip(effective_balance_changes.iter())
    {
        let mut record = record.clone();
        record.effective_balance = effective_balance;
        milhouse::UpdateMap::insert(&mut updates, to_usize(index)?, record);
    }
    state.validators.bulk_update(updates)?;
    modified.extend(changed);
    // Validators the deposits appended: as the spec does for every validator.
    let appended: Vec<(ValidatorIndex, Gwei)> = (to_u64(n)?..)
        .zip(
            state
                .validators
                .iter_from(n)?
                .zip(state.balances.iter_from(n)?),
        )
        .filter_map(|(index, (validator, balance))| {
            match effective_balance_update(validator, *balance) {
                Ok(Some(new)) if new != validator.effective_balance => Some(Ok((index, new))),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            }
        })
        .collect::<Result<_>>()?;
    for (index, effective_balance) in appended {
        get_validator_mut(state, index)?.effective_balance = effective_balance;
    }
    state.caches.clear_total_active_balance();
    modified.sort_unstable();
    modified.dedup();
    let columns = refresh_validator_columns(state, Some(&modified))?;
    // Exact now, and their effective balances stay so for the whole next epoch.
    state.caches.set_effective_balances(next_epoch, columns);

    // ---- (7) The rest, as the spec writes it.
    process_slashings_reset(state)?;
    process_randao_mixes_reset(state)?;
    process_historical_summaries_update(state)?;
    process_participation_flag_updates(state)?;
    if sync_committee_update {
        // process_sync_committee_updates, with the next epoch's active set gathered in (1)
        // (unchanged since: see the module documentation) and the updated effective
        // balances from the flat copy (appended validators are not active next epoch).
        let indices = compute_sync_committee_indices(state, next_epoch, &next_active, |index| {
            effective_balances
                .get(to_usize(index)?)
                .copied()
                .ok_or(TransitionError::UnknownValidator(index))
        })?;
        let next = Arc::new(sync_committee_from_indices(state, &indices)?);
        state.current_sync_committee = std::mem::replace(&mut state.next_sync_committee, next);
    }
    if is_fulu {
        // process_proposer_lookahead, reading the updated effective balances from the flat
        // copy (validators appended by deposits are not active in `lookahead_epoch`).
        let seed = get_seed(state, lookahead_epoch, DOMAIN_BEACON_PROPOSER)?;
        let effective_balance = |index: ValidatorIndex| -> Result<Gwei> {
            effective_balances
                .get(to_usize(index)?)
                .copied()
                .ok_or(TransitionError::UnknownValidator(index))
        };
        let start_slot = compute_start_slot_at_epoch(lookahead_epoch)?;
        let mut proposers = Vec::with_capacity(to_usize(PRESET.slots_per_epoch)?);
        for i in 0..PRESET.slots_per_epoch {
            let slot_seed = proposer_seed(&seed, start_slot.safe_add(i)?);
            proposers.push(compute_proposer_index_by(
                &lookahead_active,
                &slot_seed,
                effective_balance,
            )?);
        }
        let lookahead = state
            .proposer_lookahead
            .as_ref()
            .ok_or(TransitionError::WrongFork {
                expected: "fulu",
                actual: "electra",
            })?;
        let slots_per_epoch = to_usize(PRESET.slots_per_epoch)?;
        let mut new: Vec<ValidatorIndex> =
            lookahead.iter().skip(slots_per_epoch).copied().collect();
        new.extend(proposers);
        state.proposer_lookahead = Some(Vector::new(new)?);
    }
    Ok(())
}

/// The indices of a flat copy that changed, kept while they are few (below 1/8 of the list:
/// about where updating the tree along the changed paths costs as much as rebuilding it);
/// past that, only the fact that many did.
struct ChangeLog {
    indices: Vec<usize>,
    limit: usize,
    dense: bool,
    /// Number of changes recorded.
    count: usize,
}

impl ChangeLog {
    fn new(len: usize) -> Self {
        ChangeLog {
            indices: Vec::new(),
            limit: len / 8,
            dense: false,
            count: 0,
        }
    }

    fn record(&mut self, index: usize) {
        self.count = self.count.saturating_add(1);
        if self.dense {
            return;
        }
        if self.indices.len() >= self.limit {
            self.dense = true;
            self.indices = Vec::new();
        } else {
            self.indices.push(index);
        }
    }
}

/// Writes the changes logged in `changes` from `new` into `list`: through one update map when
/// few changed (keeping the tree's other nodes and their cached hashes), by rebuilding the list
/// when many did. A rebuilt list in which most values kept theirs (inactivity scores, say)
/// takes over the old list's unchanged subtrees with their cached hashes (milhouse's rebase),
/// so that the next state root hashes only the changed parts.
fn write_back<N: typenum::Unsigned, U: milhouse::UpdateMap<u64>>(
    list: &mut List<u64, N, U>,
    new: &[u64],
    changes: ChangeLog,
) -> Result<()> {
    if changes.dense {
        let mut rebuilt = List::try_from_iter(new.iter().copied())?;
        // Worth a walk of both trees only if whole leaves (4 values) may be unchanged.
        if changes.count < new.len() / 2 && !list.has_pending_updates() {
            rebuilt.rebase_on(list)?;
        }
        *list = rebuilt;
        return Ok(());
    }
    if changes.indices.is_empty() {
        return Ok(());
    }
    if !list.has_pending_updates() {
        // One update map for all changes: milhouse rebuilds only the paths to changed leaves,
        // without reading each old value through the tree first.
        let mut updates = U::default();
        for i in changes.indices {
            let value = *new
                .get(i)
                .ok_or(TransitionError::UnknownValidator(to_u64(i)?))?;
            updates.insert(i, value);
        }
        list.bulk_update(updates)?;
        list.apply_updates()?;
        return Ok(());
    }
    for i in changes.indices {
        let value = *new
            .get(i)
            .ok_or(TransitionError::UnknownValidator(to_u64(i)?))?;
        *list
            .get_mut(i)
            .ok_or(TransitionError::UnknownValidator(to_u64(i)?))? = value;
    }
    list.apply_updates()?;
    Ok(())
}

/// Elements per subtree that [`read_packed_list`] walks (a power of two, a multiple of every
/// packing factor).
const READ_CHUNK: usize = 1 << 14;

/// All elements of a packed list (`u64`, `u8`, ...) in order, read leaf by leaf.
///
/// milhouse's element iterator costs about 20 ns per element (2.3M balances: ~45 ms). A
/// depth-first walk of the subtrees costs a few ns per leaf in instructions but waits on one
/// cache miss after another (each node is found through its parent); the walk here goes level
/// by level over a group of subtrees instead, so the loads of one level are independent and
/// overlap. Falls back to the element iterator when the list has pending updates.
pub fn read_packed_list<T, N, U>(list: &List<T, N, U>) -> Result<Vec<T>>
where
    T: milhouse::Value + Copy,
    N: typenum::Unsigned,
    U: milhouse::UpdateMap<T>,
{
    let n = list.len();
    if list.has_pending_updates() {
        return Ok(list.iter().copied().collect());
    }
    let mut out = Vec::with_capacity(n);
    // The first chunk, which `level_iter_from` does not reach, element by element.
    out.extend(list.iter().take(READ_CHUNK.min(n)).copied());
    if n > READ_CHUNK {
        let mut roots: Vec<&milhouse::Tree<T>> = Vec::with_capacity(READ_GROUP);
        let mut level: Vec<&milhouse::Tree<T>> = Vec::new();
        let mut next: Vec<&milhouse::Tree<T>> = Vec::new();
        for node in list.level_iter_from(READ_CHUNK)? {
            match node {
                LevelNode::Internal(root) => {
                    roots.push(root);
                    if roots.len() == READ_GROUP {
                        read_subtrees(&mut roots, &mut level, &mut next, &mut out);
                    }
                }
                LevelNode::PackedLeaf(value) => {
                    read_subtrees(&mut roots, &mut level, &mut next, &mut out);
                    out.push(*value);
                }
            }
        }
        read_subtrees(&mut roots, &mut level, &mut next, &mut out);
    }
    out.truncate(n);
    if out.len() != n {
        return Err(TransitionError::Tree(format!(
            "read {} of {n} list elements",
            out.len()
        )));
    }
    Ok(out)
}

/// Subtrees of [`READ_CHUNK`] elements that [`read_packed_list`] walks together.
const READ_GROUP: usize = 8;

/// Appends the values of the subtrees `roots` (all of the same height, left to right) to
/// `out`, walking them level by level; empties `roots`. In a milhouse list every leaf is at
/// the bottom level and zero nodes only pad the right end, so each level lists its nodes in
/// index order and the last level lists the leaves in order.
fn read_subtrees<'a, T: milhouse::Value + Copy>(
    roots: &mut Vec<&'a milhouse::Tree<T>>,
    level: &mut Vec<&'a milhouse::Tree<T>>,
    next: &mut Vec<&'a milhouse::Tree<T>>,
    out: &mut Vec<T>,
) {
    level.clear();
    level.append(roots);
    while !level.is_empty() {
        next.clear();
        for tree in level.iter() {
            match tree {
                milhouse::Tree::Node { left, right, .. } => {
                    next.push(left);
                    next.push(right);
                }
                milhouse::Tree::PackedLeaf(leaf) => out.extend_from_slice(&leaf.values),
                milhouse::Tree::Leaf(leaf) => out.push(*leaf.value),
                milhouse::Tree::Zero(_) => {}
            }
        }
        std::mem::swap(level, next);
    }
}

/// The records at `indices` (sorted, relative to the subtree's first record) of a subtree of
/// `2^height` validator records, in order; `None` if an index is past the registry.
///
/// Walks the subtree level by level (see [`read_subtrees`]): at each level the nodes on the
/// paths to the wanted records are loaded together, instead of one root-to-leaf chase per
/// record.
fn records_in_subtree<'a>(
    root: &'a milhouse::Tree<Validator>,
    height: u32,
    indices: &[usize],
) -> Option<Vec<&'a Validator>> {
    // (node, first and end position in `indices`, the node's first index).
    let mut level: Vec<(&milhouse::Tree<Validator>, usize, usize, usize)> =
        vec![(root, 0, indices.len(), 0)];
    let mut next = Vec::new();
    for h in (0..height).rev() {
        next.clear();
        let half = 1usize.checked_shl(h)?;
        for &(tree, a, b, base) in &level {
            let milhouse::Tree::Node { left, right, .. } = tree else {
                return None;
            };
            let mid = base.checked_add(half)?;
            let split = a.checked_add(indices.get(a..b)?.partition_point(|&i| i < mid))?;
            if a < split {
                next.push((&**left, a, split, base));
            }
            if split < b {
                next.push((&**right, split, b, mid));
            }
        }
        std::mem::swap(&mut level, &mut next);
    }
    let mut out = Vec::with_capacity(indices.len());
    for &(tree, a, b, _) in &level {
        let milhouse::Tree::Leaf(leaf) = tree else {
            return None;
        };
        for _ in a..b {
            out.push(&*leaf.value);
        }
    }
    Some(out)
}

/// The records at `indices` (sorted) of `validators`, which must have no pending updates, in
/// order: [`records_in_subtree`] for each column-cache chunk's subtree.
fn records_at<'a>(
    validators: &'a RegistryList<Validator>,
    indices: &[ValidatorIndex],
) -> Result<Vec<&'a Validator>> {
    let chunk_len = column_chunk_len();
    let height = chunk_len.trailing_zeros();
    let n = validators.len();
    let mut out = Vec::with_capacity(indices.len());
    let mut rest = indices;
    // Chunk 0, which `level_iter_from` cannot name, one by one.
    let first = rest.partition_point(|&i| i < to_u64(chunk_len).unwrap_or(u64::MAX));
    let (head, tail) = rest.split_at(first);
    for &index in head {
        out.push(
            validators
                .get(to_usize(index)?)
                .ok_or(TransitionError::UnknownValidator(index))?,
        );
    }
    rest = tail;
    if rest.is_empty() {
        return Ok(out);
    }
    if n <= chunk_len {
        return Err(TransitionError::UnknownValidator(
            rest.first().copied().unwrap_or_default(),
        ));
    }
    let mut offsets = Vec::new();
    for (k, node) in (1usize..).zip(validators.level_iter_from(chunk_len)?) {
        if rest.is_empty() {
            break;
        }
        let start = k.safe_mul(chunk_len)?;
        let end = to_u64(start.safe_add(chunk_len)?)?;
        let split = rest.partition_point(|&i| i < end);
        let (here, tail) = rest.split_at(split);
        rest = tail;
        if here.is_empty() {
            continue;
        }
        let LevelNode::Internal(subtree) = node else {
            return Err(TransitionError::Tree(
                "validator list has packed leaves".into(),
            ));
        };
        offsets.clear();
        for &index in here {
            offsets.push(to_usize(index)?.safe_sub(start)?);
        }
        let records = records_in_subtree(subtree, height, &offsets).ok_or_else(|| {
            TransitionError::UnknownValidator(here.first().copied().unwrap_or_default())
        })?;
        out.extend(records);
    }
    if let Some(&index) = rest.first() {
        return Err(TransitionError::UnknownValidator(index));
    }
    Ok(out)
}

/// Validators per chunk of the column cache: mainnet 4096 (562 chunks for 2.3M validators);
/// minimal 8, so that the spec tests' small registries span several chunks.
fn column_chunk_len() -> usize {
    match PRESET.name {
        PresetName::Minimal => 8,
        PresetName::Mainnet => 4096,
    }
}

/// Brings the validator column cache up to date with `state.validators` and returns it.
///
/// - `modified == None`: every chunk whose milhouse subtree is not the one the cache read is
///   read again (chunk 0 always is).
/// - `modified == Some(indices)` (sorted): the cached columns were exact before exactly these
///   records changed and validators were appended; those entries are re-read, the rest kept.
pub fn refresh_validator_columns(
    state: &mut BeaconState,
    modified: Option<&[ValidatorIndex]>,
) -> Result<Arc<ValidatorColumns>> {
    state.validators.apply_updates()?;
    let chunk_len = column_chunk_len();
    let n = state.validators.len();
    let old = state
        .caches
        .validator_columns()
        .filter(|c| c.chunk_len == chunk_len);
    let chunk_count = n.div_ceil(chunk_len);
    let mut nodes: Vec<Option<milhouse::Arc<milhouse::Tree<Validator>>>> =
        Vec::with_capacity(chunk_count);
    if chunk_count > 0 {
        nodes.push(None);
    }
    if n > chunk_len {
        for node in state.validators.level_iter_from(chunk_len)? {
            match node {
                LevelNode::Internal(subtree) => nodes.push(Some(subtree.clone())),
                LevelNode::PackedLeaf(_) => {
                    return Err(TransitionError::Tree(
                        "validator list has packed leaves".into(),
                    ))
                }
            }
        }
    }
    if nodes.len() != chunk_count {
        return Err(TransitionError::Tree(format!(
            "{} validator subtrees for {chunk_count} chunks",
            nodes.len()
        )));
    }
    let mut modified = modified.map(|m| m.iter().copied().peekable());
    let height = chunk_len.trailing_zeros();
    let mut offsets: Vec<usize> = Vec::new();
    let mut chunks = Vec::with_capacity(chunk_count);
    for (k, node) in nodes.into_iter().enumerate() {
        let start = k.safe_mul(chunk_len)?;
        let len = chunk_len.min(n.safe_sub(start)?);
        let old_chunk = old.as_ref().and_then(|c| c.chunks.get(k));
        let chunk = match (&mut modified, old_chunk) {
            // Patch: re-read the modified entries and any appended ones.
            (Some(modified), Some(old_chunk)) if old_chunk.len() <= len => {
                let mut chunk = ColumnChunk::clone(old_chunk);
                let end = to_u64(start.safe_add(len)?)?;
                // The modified entries the chunk has (the others are appended below).
                let have_end = to_u64(start.safe_add(chunk.len())?)?;
                offsets.clear();
                while let Some(index) = modified.next_if(|&i| i < end) {
                    if index < have_end {
                        offsets.push(to_usize(index)?.safe_sub(start)?);
                    }
                }
                if !offsets.is_empty() {
                    let records = match &node {
                        Some(subtree) => records_in_subtree(subtree, height, &offsets),
                        None => offsets
                            .iter()
                            .map(|&i| state.validators.get(start.checked_add(i)?))
                            .collect(),
                    }
                    .ok_or(TransitionError::Tree(format!(
                        "validator chunk {k} lacks modified records"
                    )))?;
                    for (&i, validator) in offsets.iter().zip(records) {
                        if !chunk.set(i, validator) {
                            return Err(TransitionError::UnknownValidator(to_u64(
                                start.safe_add(i)?,
                            )?));
                        }
                    }
                }
                let have = chunk.len();
                if have < len {
                    for validator in state
                        .validators
                        .iter_from(start.safe_add(have)?)?
                        .take(len.safe_sub(have)?)
                    {
                        chunk.push(validator);
                    }
                }
                chunk.node = node;
                Arc::new(chunk)
            }
            // Validate: the same subtree means the same records.
            (None, Some(old_chunk))
                if old_chunk.len() == len
                    && matches!((&old_chunk.node, &node), (Some(a), Some(b)) if milhouse::Arc::ptr_eq(a, b)) =>
            {
                Arc::clone(old_chunk)
            }
            _ => {
                if let Some(modified) = &mut modified {
                    let end = to_u64(start.safe_add(len)?)?;
                    while modified.next_if(|&i| i < end).is_some() {}
                }
                let mut chunk = ColumnChunk::with_capacity(len);
                for validator in state.validators.iter_from(start)?.take(len) {
                    chunk.push(validator);
                }
                chunk.node = node;
                Arc::new(chunk)
            }
        };
        chunks.push(chunk);
    }
    let columns = Arc::new(ValidatorColumns {
        chunk_len,
        len: n,
        chunks,
    });
    state
        .caches
        .set_validator_columns(Some(Arc::clone(&columns)));
    Ok(columns)
}

/// Whether the column cache, if any, equals the registry (for tests).
pub fn validator_columns_consistent(state: &BeaconState) -> bool {
    let Some(columns) = state.caches.validator_columns() else {
        return true;
    };
    columns.len == state.validators.len()
        && columns
            .chunks
            .iter()
            .flat_map(|chunk| (0..chunk.len()).map(move |i| (chunk, i)))
            .zip(state.validators.iter())
            .all(|((chunk, i), validator)| chunk.matches(i, validator))
}

#[cfg(test)]
mod tests {
    use super::*;

    type L64 = List<u64, typenum::U1099511627776>;
    type L8 = List<u8, typenum::U1099511627776>;

    #[test]
    fn read_packed_list_matches_iteration() {
        for n in [
            0usize,
            1,
            3,
            4,
            5,
            READ_CHUNK - 1,
            READ_CHUNK,
            READ_CHUNK + 1,
            3 * READ_CHUNK + 7,
            5 * READ_CHUNK,
        ] {
            let values: Vec<u64> = (0..n as u64).map(|i| i.wrapping_mul(0x9E37_79B9)).collect();
            let mut list = L64::new(values.clone()).unwrap();
            assert_eq!(read_packed_list(&list).unwrap(), values, "u64 n={n}");
            let bytes: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
            let list8 = L8::new(bytes.clone()).unwrap();
            assert_eq!(read_packed_list(&list8).unwrap(), bytes, "u8 n={n}");
            let zeros = L8::repeat(0, n).unwrap();
            assert_eq!(
                read_packed_list(&zeros).unwrap(),
                vec![0u8; n],
                "repeat n={n}"
            );
            // Pending updates, then applied updates and a push.
            if n > 0 {
                *list.get_mut(n - 1).unwrap() = 7;
                let mut expected = values.clone();
                expected[n - 1] = 7;
                assert_eq!(read_packed_list(&list).unwrap(), expected);
                list.apply_updates().unwrap();
                list.push(9).unwrap();
                list.apply_updates().unwrap();
                expected.push(9);
                assert_eq!(read_packed_list(&list).unwrap(), expected);
            }
        }
    }
}
