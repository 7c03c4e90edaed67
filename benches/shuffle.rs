//! Whole-list swap-or-not shuffle (`shuffle_list`) at mainnet-like sizes, 90 rounds
//! (mainnet `SHUFFLE_ROUND_COUNT`).
//!
//! `cargo bench --bench shuffle -- --warm-up-time 1 --measurement-time 5`

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ember::consensus::shuffling::shuffle_list;

const ROUNDS: u8 = 90;

fn bench_shuffle_list(c: &mut Criterion) {
    let seed = [0x42u8; 32];
    let mut group = c.benchmark_group("shuffle_list");
    // One iteration takes a good fraction of a second on a small board: keep the sample count low.
    group.sample_size(10);
    for n in [1_000_000u64, 2_300_000] {
        let mut list: Vec<u64> = (0..n).collect();
        group.throughput(Throughput::Elements(n));
        group.bench_with_input(BenchmarkId::new("u64_90_rounds", n), &n, |b, _| {
            // Shuffling an already shuffled list costs the same: no per-iteration copy needed.
            b.iter(|| {
                shuffle_list(black_box(list.as_mut_slice()), &seed, ROUNDS, false)
                    .expect("list size is below the shuffle limit")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_shuffle_list);
criterion_main!(benches);
