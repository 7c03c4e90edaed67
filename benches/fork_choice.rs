//! Fork choice at mainnet scale: 2.3M validators, all with latest messages, and 10,000 blocks
//! in the tree (a main chain with a short side branch every 8 blocks).
//!
//! - `slot_of_attestations_then_get_head`: one slot of attestations (1/32 of the validators,
//!   71,875 votes, moving between two competing tips) through `update_latest_messages`, then
//!   `get_head` (vote deltas + the viability/best-child pass over all 10,000 nodes).
//! - `get_head_no_change`: `get_head` with nothing new.
//! - `new_justified_balances_then_get_head`: the justified checkpoint's balances change (every
//!   vote re-weighed once), then `get_head`.
//!
//! `cargo bench --bench fork_choice -- --warm-up-time 1 --measurement-time 5`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ember::consensus::config::ChainConfig;
use ember::consensus::preset::Preset;
use ember::consensus::primitives::Hash256;
use ember::fork_choice::{
    BlockSummary, Checkpoint, ForkChoice, ForkChoiceConfig, JustifiedBalances,
};

const VALIDATORS: u64 = 2_300_000;
const BLOCKS: u64 = 10_000;
const BALANCE: u64 = 32_000_000_000;

fn root(i: u64) -> Hash256 {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&(i + 1).to_be_bytes());
    Hash256::from(b)
}

struct Setup {
    fc: ForkChoice,
    /// Two competing tips the attestations alternate between.
    tips: [Hash256; 2],
    epoch: u64,
}

fn setup() -> Setup {
    let mut config = ForkChoiceConfig::new(&ChainConfig::mainnet(), &Preset::MAINNET);
    // The benchmark measures head computation over the whole tree: never prune.
    config.prune_threshold = usize::MAX;
    let spe = config.slots_per_epoch;
    let genesis = Checkpoint::new(0, root(0));
    let balances = JustifiedBalances {
        checkpoint: genesis,
        effective_balances: vec![BALANCE; VALIDATORS as usize],
        total_active_balance: BALANCE * VALIDATORS,
    };
    let mut fc = ForkChoice::get_forkchoice_store(
        config,
        genesis.root,
        Hash256::ZERO,
        0,
        0,
        0,
        genesis,
        genesis,
        0,
        balances,
    )
    .expect("anchor");
    let mut parent = genesis.root;
    let mut last_main = genesis.root;
    let mut slot = 0;
    let mut i = 1;
    while i < BLOCKS {
        slot += 1;
        // Every 8th block starts a side branch off the main chain's previous block.
        let on_side = i % 8 == 0;
        let block_parent = if on_side { parent } else { last_main };
        let block = BlockSummary {
            root: root(i),
            parent_root: block_parent,
            slot,
            proposer_index: i % VALIDATORS,
            justified_checkpoint: genesis,
            finalized_checkpoint: genesis,
            unrealized_justified_checkpoint: genesis,
            unrealized_finalized_checkpoint: genesis,
        };
        fc.on_tick(slot * 12).expect("tick");
        fc.on_block(&block).expect("block");
        if !on_side {
            parent = last_main;
            last_main = block.root;
        }
        i += 1;
    }
    // Two tips: the main chain's head and a fresh sibling of it.
    slot += 1;
    let sibling = BlockSummary {
        root: root(BLOCKS),
        parent_root: parent,
        slot,
        proposer_index: 1,
        justified_checkpoint: genesis,
        finalized_checkpoint: genesis,
        unrealized_justified_checkpoint: genesis,
        unrealized_finalized_checkpoint: genesis,
    };
    fc.on_tick(slot * 12 + 11).expect("tick");
    fc.on_block(&sibling).expect("sibling");
    fc.on_tick((slot + 1) * 12).expect("tick");
    // Every validator has a latest message, spread over the last 64 blocks of the main chain.
    let epoch = slot / spe;
    let mut recent = Vec::new();
    let mut cursor = last_main;
    for _ in 0..64 {
        recent.push(cursor);
        cursor = fc.get_block(&cursor).expect("known").parent_root;
    }
    let per = VALIDATORS / recent.len() as u64 + 1;
    for (k, r) in recent.iter().enumerate() {
        let lo = k as u64 * per;
        let hi = (lo + per).min(VALIDATORS);
        fc.update_latest_messages(lo..hi, epoch, r).expect("votes");
    }
    fc.get_head().expect("head");
    Setup {
        fc,
        tips: [last_main, sibling.root],
        epoch,
    }
}

fn bench_fork_choice(c: &mut Criterion) {
    let mut s = setup();
    let mut group = c.benchmark_group("fork_choice_2.3M_validators_10k_blocks");
    group.sample_size(30);

    let committee = VALIDATORS / 32;
    let mut round = 0_u64;
    group.bench_function("slot_of_attestations_then_get_head", |b| {
        b.iter(|| {
            // A new slot's committees (a different 1/32 each time), a newer target epoch every
            // 32 slots' worth, voting for one tip or the other.
            let k = round % 32;
            let epoch = s.epoch + 1 + round;
            let tip = s.tips[(round % 2) as usize];
            let lo = k * committee;
            s.fc.update_latest_messages(lo..(lo + committee).min(VALIDATORS), epoch, &tip)
                .expect("votes");
            round += 1;
            black_box(s.fc.get_head().expect("head"))
        })
    });

    group.bench_function("get_head_no_change", |b| {
        b.iter(|| black_box(s.fc.get_head().expect("head")))
    });

    let justified = s.fc.justified_checkpoint();
    let mut flip = false;
    group.bench_function("new_justified_balances_then_get_head", |b| {
        b.iter_batched(
            || {
                flip = !flip;
                let balance = if flip {
                    BALANCE - 1_000_000_000
                } else {
                    BALANCE
                };
                JustifiedBalances {
                    checkpoint: justified,
                    effective_balances: vec![balance; VALIDATORS as usize],
                    total_active_balance: balance * VALIDATORS,
                }
            },
            |balances| {
                s.fc.set_justified_balances(balances);
                black_box(s.fc.get_head().expect("head"))
            },
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_fork_choice);
criterion_main!(benches);
