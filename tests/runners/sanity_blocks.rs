//! `sanity/blocks` runner (also serves `finality` and `random`, same format):
//! `pre.ssz_snappy`, `blocks_<i>.ssz_snappy` for `i < meta.blocks_count`, `post.ssz_snappy`.
//!
//! Every block goes through the full `state_transition` (slots, block, signatures and state
//! root checked). Without a post-state some block must be rejected. Each case runs twice: with
//! the block's signatures batched and with each checked where the spec checks it; both must
//! give the expected outcome.

use super::block_support::{bls_enabled, load_blocks, meta, TestEngine};
use super::state_check::{chain_config, compare_states, fork, load_state};
use crate::{Case, Outcome};
use ember::consensus::config::ChainConfig;
use ember::consensus::minimal::transition::block::{state_transition, VerifySignatures};
use ember::consensus::minimal::transition::TransitionError;
use ember::consensus::minimal::{BeaconState, SignedBeaconBlock};
use ember::consensus::pubkey_cache::{KeyCheck, PubkeyCache};

#[derive(Debug, Clone, Copy)]
enum Mode {
    Batch,
    Individually,
}

pub fn run(case: &Case) -> Outcome {
    if case.preset != "minimal" {
        return Outcome::Skip(format!(
            "preset {} not wired (only minimal vectors ship)",
            case.preset
        ));
    }
    match check(case) {
        Ok(()) => Outcome::Pass,
        Err(e) => Outcome::Fail(e),
    }
}

/// Applies `blocks` in order; the index and error of the first rejected block.
pub fn apply_blocks(
    state: &mut BeaconState,
    blocks: &[SignedBeaconBlock],
    config: &ChainConfig,
    verify: VerifySignatures<'_>,
) -> Result<(), (usize, TransitionError)> {
    let engine = TestEngine(true);
    for (i, block) in blocks.iter().enumerate() {
        state_transition(state, block, true, config, &engine, verify).map_err(|e| (i, e))?;
    }
    Ok(())
}

fn check(case: &Case) -> Result<(), String> {
    let fork = fork(case)?;
    let config = chain_config(case)?;
    let meta = meta(case)?;
    let blocks = load_blocks(case, meta.blocks_count.unwrap_or(0))?;
    let bls = bls_enabled(case)?;
    for mode in [Mode::Batch, Mode::Individually] {
        // Both key policies: batched with trusted indices, one by one with exact checks.
        let pubkeys = PubkeyCache::with_check(match mode {
            Mode::Batch => KeyCheck::TrustIndex,
            Mode::Individually => KeyCheck::Exact,
        });
        let verify = match (bls, mode) {
            (false, _) => VerifySignatures::No,
            (true, Mode::Batch) => VerifySignatures::Batch(&pubkeys),
            (true, Mode::Individually) => VerifySignatures::Individually(&pubkeys),
        };
        let mut state = load_state(case, "pre", fork)?;
        let result = apply_blocks(&mut state, &blocks, &config, verify);
        if case.has("post.ssz_snappy") {
            result.map_err(|(i, e)| format!("{mode:?}: block {i} rejected: {e}"))?;
            let mut expected = load_state(case, "post", fork)?;
            compare_states(&mut state, &mut expected).map_err(|e| format!("{mode:?}: {e}"))?;
        } else {
            match result {
                Ok(()) => return Err(format!("{mode:?}: every block accepted in an invalid case")),
                Err((i, e)) => {
                    // The vectors end with the invalid block.
                    if i + 1 != blocks.len() {
                        return Err(format!(
                            "{mode:?}: block {i} of {} rejected, expected the last: {e}",
                            blocks.len()
                        ));
                    }
                    if std::env::var("SPEC_TESTS_SHOW_REJECTIONS").is_ok() {
                        eprintln!("REJECT {} ({mode:?}): block {i}: {e}", case.id());
                    }
                }
            }
        }
    }
    Ok(())
}
