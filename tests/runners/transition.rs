//! `transition` runner: blocks across a fork boundary (`meta.yaml`: `post_fork`, `fork_epoch`,
//! `blocks_count`, optional `fork_block` = index of the last pre-fork block).
//!
//! Fulu cases start from an Electra state: slots are advanced one at a time and the state is
//! upgraded with `upgrade_to_fulu` when it reaches the first slot of `fork_epoch` (the epoch
//! transition into it runs under Electra), then each block goes through `process_signed_block`
//! (proposer signature, block, state root) under the state's fork. The config is the minimal
//! one with `ELECTRA_FORK_EPOCH = 0` and `FULU_FORK_EPOCH = fork_epoch`, as the generator sets
//! it. Electra cases start from a Deneb state, which Ember does not have: skipped.

use super::block_support::{bls_enabled, load_blocks, meta, TestEngine};
use super::state_check::{chain_config, compare_states, load_state};
use crate::{Case, Outcome};
use ember::consensus::config::ChainConfig;
use ember::consensus::minimal::transition::block::{process_signed_block, VerifySignatures};
use ember::consensus::minimal::transition::fork::upgrade_to_fulu;
use ember::consensus::minimal::transition::slot::process_slots;
use ember::consensus::minimal::transition::TransitionError;
use ember::consensus::minimal::{BeaconState, SignedBeaconBlock, PRESET};
use ember::consensus::primitives::{ForkName, Slot};
use ember::consensus::pubkey_cache::{KeyCheck, PubkeyCache};

pub fn run(case: &Case) -> Outcome {
    if case.preset != "minimal" {
        return Outcome::Skip(format!(
            "preset {} not wired (only minimal vectors ship)",
            case.preset
        ));
    }
    if case.fork == "electra" {
        return Outcome::Skip(
            "electra transition cases start from a Deneb state (Ember has no Deneb)".into(),
        );
    }
    match check(case) {
        Ok(()) => Outcome::Pass,
        Err(e) => Outcome::Fail(e),
    }
}

/// Advances `state` to `slot`, upgrading it to Fulu at the first slot of the fork epoch.
fn advance(
    state: BeaconState,
    slot: Slot,
    fork_slot: Slot,
    config: &ChainConfig,
) -> Result<BeaconState, TransitionError> {
    let mut state = state;
    while state.slot < slot {
        let next = state.slot + 1;
        process_slots(&mut state, config, next)?;
        if state.slot == fork_slot && state.fork_name() == ForkName::Electra {
            state = upgrade_to_fulu(state, config)?;
        }
    }
    Ok(state)
}

fn apply_blocks(
    state: BeaconState,
    blocks: &[SignedBeaconBlock],
    fork_slot: Slot,
    config: &ChainConfig,
    verify: VerifySignatures<'_>,
) -> Result<BeaconState, (usize, TransitionError)> {
    let engine = TestEngine(true);
    let mut state = state;
    for (i, block) in blocks.iter().enumerate() {
        state = advance(state, block.message.slot, fork_slot, config).map_err(|e| (i, e))?;
        process_signed_block(&mut state, block, true, config, &engine, verify)
            .map_err(|e| (i, e))?;
    }
    Ok(state)
}

fn check(case: &Case) -> Result<(), String> {
    let meta = meta(case)?;
    if meta.post_fork.as_deref() != Some("fulu") {
        return Err(format!("post_fork {:?} is not fulu", meta.post_fork));
    }
    let fork_epoch = meta.fork_epoch.ok_or("meta.yaml has no fork_epoch")?;
    let config = ChainConfig {
        electra_fork_epoch: 0,
        fulu_fork_epoch: fork_epoch,
        ..chain_config(case)?
    };
    let fork_slot = fork_epoch * PRESET.slots_per_epoch;
    let blocks = load_blocks(
        case,
        meta.blocks_count.ok_or("meta.yaml has no blocks_count")?,
    )?;
    // `fork_block` (when given) splits the blocks at the fork; check we read it the same way.
    if let Some(last_pre) = meta.fork_block {
        for (i, block) in blocks.iter().enumerate() {
            if (i <= last_pre) != (block.message.slot < fork_slot) {
                return Err(format!(
                    "block {i} at slot {} is on the wrong side of the fork slot {fork_slot}",
                    block.message.slot
                ));
            }
        }
    }
    let bls = bls_enabled(case)?;
    for batch in [true, false] {
        let pubkeys = PubkeyCache::with_check(if batch {
            KeyCheck::TrustIndex
        } else {
            KeyCheck::Exact
        });
        let verify = match (bls, batch) {
            (false, _) => VerifySignatures::No,
            (true, true) => VerifySignatures::Batch(&pubkeys),
            (true, false) => VerifySignatures::Individually(&pubkeys),
        };
        let mode = if batch { "Batch" } else { "Individually" };
        let pre = load_state(case, "pre", ForkName::Electra)?;
        let mut state = apply_blocks(pre, &blocks, fork_slot, &config, verify)
            .map_err(|(i, e)| format!("{mode}: block {i} rejected: {e}"))?;
        if state.fork_name() != ForkName::Fulu {
            return Err(format!("{mode}: state never reached the Fulu fork"));
        }
        let mut expected = load_state(case, "post", ForkName::Fulu)?;
        compare_states(&mut state, &mut expected).map_err(|e| format!("{mode}: {e}"))?;
    }
    Ok(())
}
