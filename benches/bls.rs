//! BLS verification costs: one signature, a 512-key fast aggregate, and batches of sets.
//!
//! `cargo bench --bench bls -- --warm-up-time 1 --measurement-time 3`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ember::consensus::bls::{self, PublicKey, SecretKey, Signature, SignatureSet};
use std::hint::black_box;

/// Deterministic keys, so runs compare like with like.
fn keys(n: usize) -> Vec<SecretKey> {
    (0..n)
        .map(|i| {
            let mut ikm = [0u8; 32];
            ikm[..8].copy_from_slice(&(i as u64).to_le_bytes());
            SecretKey::key_gen(&ikm).expect("32-byte ikm")
        })
        .collect()
}

fn message(i: usize) -> [u8; 32] {
    let mut m = [0x42u8; 32];
    m[..8].copy_from_slice(&(i as u64).to_le_bytes());
    m
}

fn verify(c: &mut Criterion) {
    let sk = &keys(1)[0];
    let pk = sk.public_key();
    let msg = message(0);
    let sig = sk.sign(&msg);
    c.bench_function("verify", |b| {
        b.iter(|| {
            assert!(bls::verify(
                black_box(&pk),
                black_box(&msg),
                black_box(&sig)
            ))
        })
    });
}

fn fast_aggregate_verify(c: &mut Criterion) {
    const N: usize = 512;
    let sks = keys(N);
    let pks: Vec<PublicKey> = sks.iter().map(SecretKey::public_key).collect();
    let msg = message(0);
    let sigs: Vec<Signature> = sks.iter().map(|sk| sk.sign(&msg)).collect();
    let agg = bls::aggregate(&sigs).expect("non-empty");
    let mut group = c.benchmark_group("fast_aggregate_verify");
    group.bench_with_input(BenchmarkId::from_parameter(N), &N, |b, _| {
        b.iter(|| {
            assert!(bls::fast_aggregate_verify(
                black_box(&pks),
                black_box(&msg),
                black_box(&agg)
            ))
        })
    });
    group.finish();
}

/// Each set is one key signing its own distinct message (the shape of proposer, RANDAO and exit
/// signatures); multi-key sets would add only the cheap key aggregation on top.
fn batch_verify(c: &mut Criterion) {
    const SIZES: [usize; 4] = [1, 8, 64, 128];
    let max = SIZES[SIZES.len() - 1];
    let sks = keys(max);
    let pks: Vec<PublicKey> = sks.iter().map(SecretKey::public_key).collect();
    let sigs: Vec<Signature> = sks
        .iter()
        .enumerate()
        .map(|(i, sk)| sk.sign(&message(i)))
        .collect();
    let sets: Vec<SignatureSet> = (0..max)
        .map(|i| SignatureSet::single(&sigs[i], &pks[i], message(i)))
        .collect();

    let mut group = c.benchmark_group("batch_verify");
    group.sample_size(10);
    for n in SIZES {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| assert!(bls::batch_verify(black_box(&sets[..n]))))
        });
    }
    group.finish();
}

criterion_group!(benches, verify, fast_aggregate_verify, batch_verify);
criterion_main!(benches);
