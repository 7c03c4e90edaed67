//! Swap-or-not shuffling (phase0 `compute_shuffled_index`) and the committee helpers built on it.
//!
//! Two ways to get the same permutation:
//! - [`compute_shuffled_index`]: the spec's per-index function, `SHUFFLE_ROUND_COUNT` rounds of
//!   two hashes each. Right for one or a few indices (e.g. `compute_proposer_index`).
//! - [`shuffle_list`]: the whole-list algorithm (as in Lighthouse/Nimbus/Teku): one pass over the
//!   list per round, one hash for the pivot and one per 256 positions, swapping in place. This is
//!   what committee computation should use: `O(rounds * n)` work and `O(rounds * n / 256)` hashes
//!   instead of `O(rounds * n)` hashes.
//!
//! Direction: with `forwards == false`, `shuffle_list` leaves
//! `output[i] == input[compute_shuffled_index(i, n, seed)]`, which is the order
//! `compute_committee` reads the active indices in. `forwards == true` is the inverse
//! permutation (`output[compute_shuffled_index(i, n, seed)] == input[i]`).
//!
//! Round count: the spec serialises the round number as one byte (`to_bytes(1, "little")`),
//! so rounds are a `u8` here (mainnet `SHUFFLE_ROUND_COUNT` = 90, minimal = 10).

use ethereum_hashing::hash_fixed;
use std::num::{NonZeroU128, NonZeroU64};
use std::ops::Range;

/// Largest index count the shuffle accepts: `position // 256` is hashed as a 4-byte integer,
/// so positions must stay below `2**40` (which is also `VALIDATOR_REGISTRY_LIMIT`).
pub const MAX_SHUFFLE_INDEX_COUNT: u64 = 1 << 40;

const SEED_LEN: usize = 32;
/// `seed + round_byte`.
const PIVOT_INPUT_LEN: usize = SEED_LEN + 1;
/// `seed + round_byte + uint_to_bytes(uint32(position // 256))`.
const SOURCE_INPUT_LEN: usize = SEED_LEN + 1 + 4;

/// Why a shuffle or committee computation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ShufflingError {
    /// `compute_shuffled_index` requires `index < index_count` (spec `assert`).
    #[error("index {index} out of range for index count {index_count}")]
    IndexOutOfRange { index: u64, index_count: u64 },
    /// More indices than the shuffle can address (see [`MAX_SHUFFLE_INDEX_COUNT`]).
    #[error("index count {index_count} exceeds the maximum {MAX_SHUFFLE_INDEX_COUNT}")]
    TooManyIndices { index_count: u64 },
    /// `compute_committee` with `count == 0`.
    #[error("committee count is zero")]
    ZeroCommitteeCount,
    /// `compute_committee` with `index >= count`.
    #[error("committee index {index} out of range for committee count {count}")]
    CommitteeIndexOutOfRange { index: u64, count: u64 },
}

/// Checks `index_count` against [`MAX_SHUFFLE_INDEX_COUNT`].
fn check_index_count(index_count: u64) -> Result<(), ShufflingError> {
    if index_count > MAX_SHUFFLE_INDEX_COUNT {
        Err(ShufflingError::TooManyIndices { index_count })
    } else {
        Ok(())
    }
}

/// `seed + round` as the spec hashes it.
fn pivot_input(seed: &[u8; 32], round: u8) -> [u8; PIVOT_INPUT_LEN] {
    let mut input = [0u8; PIVOT_INPUT_LEN];
    let (seed_part, round_part) = input.split_at_mut(SEED_LEN);
    seed_part.copy_from_slice(seed);
    round_part.copy_from_slice(&[round]);
    input
}

/// `int.from_bytes(hash(seed + round_bytes)[0:8], "little") % index_count`.
fn compute_pivot(seed: &[u8; 32], round: u8, index_count: NonZeroU64) -> u64 {
    let [b0, b1, b2, b3, b4, b5, b6, b7, ..] = hash_fixed(&pivot_input(seed, round));
    u64::from_le_bytes([b0, b1, b2, b3, b4, b5, b6, b7]) % index_count
}

/// The per-round `source` hashes: `hash(seed + round_bytes + uint_to_bytes(uint32(position // 256)))`,
/// cached for the last 256-position bucket asked for.
struct RoundSource {
    input: [u8; SOURCE_INPUT_LEN],
    bucket: Option<u32>,
    source: [u8; 32],
}

impl RoundSource {
    fn new(seed: &[u8; 32], round: u8) -> Self {
        let mut input = [0u8; SOURCE_INPUT_LEN];
        let (seed_part, rest) = input.split_at_mut(SEED_LEN);
        seed_part.copy_from_slice(seed);
        if let Some(round_byte) = rest.first_mut() {
            *round_byte = round;
        }
        Self {
            input,
            bucket: None,
            source: [0u8; 32],
        }
    }

    /// The source byte holding `position`'s bit: `source[(position % 256) // 8]`.
    ///
    /// `position` must be below [`MAX_SHUFFLE_INDEX_COUNT`] (callers check the index count), so
    /// `position >> 8` fits the spec's 4-byte bucket number.
    #[inline]
    fn byte(&mut self, position: u64) -> u8 {
        // Lossless: position < 2**40, so position >> 8 < 2**32.
        let bucket = (position >> 8) as u32;
        if self.bucket != Some(bucket) {
            let (_, bucket_part) = self.input.split_at_mut(PIVOT_INPUT_LEN);
            bucket_part.copy_from_slice(&bucket.to_le_bytes());
            self.source = hash_fixed(&self.input);
            self.bucket = Some(bucket);
        }
        // (position & 0xff) >> 3 < 32: always inside `source`.
        let byte_index = ((position & 0xff) >> 3) as usize;
        self.source.get(byte_index).copied().unwrap_or_default()
    }

    /// The swap-or-not bit for `position`: `(source[(position % 256) // 8] >> (position % 8)) % 2`.
    #[inline]
    fn bit(&mut self, position: u64) -> bool {
        // position & 7 < 8: a valid shift.
        let shift = (position & 0x07) as u32;
        self.byte(position).wrapping_shr(shift) & 1 == 1
    }

    /// [`Self::bit`] as a mask: all ones when set, zero otherwise.
    ///
    /// Moves the bit to the sign position and shifts it back arithmetically, so no `bool`
    /// exists for LLVM to turn the caller's masked swap back into a (mispredicted) branch.
    #[inline]
    fn mask(&mut self, position: u64) -> u64 {
        // 63 ^ s == 63 - s for s < 8.
        let to_sign = (63 ^ (position & 0x07)) as u32;
        let at_sign = u64::from(self.byte(position)).wrapping_shl(to_sign) as i64;
        at_sign.wrapping_shr(63) as u64
    }
}

/// Spec `compute_shuffled_index`: where position `index` of a list of `index_count` goes under
/// the swap-or-not shuffle of `seed` with `shuffle_round_count` rounds.
///
/// The spec (v1.7) writes it as `compute_shuffled_permutation(index_count, seed)[index]`; this is
/// the equivalent per-index form (each element of the permutation evolves independently).
pub fn compute_shuffled_index(
    index: u64,
    index_count: u64,
    seed: &[u8; 32],
    shuffle_round_count: u8,
) -> Result<u64, ShufflingError> {
    check_index_count(index_count)?;
    // `index < index_count` also makes `index_count` non-zero.
    let count = match NonZeroU64::new(index_count) {
        Some(count) if index < index_count => count,
        _ => return Err(ShufflingError::IndexOutOfRange { index, index_count }),
    };
    let mut index = index;
    for round in 0..shuffle_round_count {
        let pivot = compute_pivot(seed, round, count);
        // pivot < count and 0 < count - index <= count <= 2**40: no overflow, no underflow.
        let flip = pivot.wrapping_add(index_count.wrapping_sub(index)) % count;
        let position = index.max(flip);
        if RoundSource::new(seed, round).bit(position) {
            index = flip;
        }
    }
    Ok(index)
}

/// List elements [`shuffle_list`] can permute: the unsigned integers indices are kept in.
///
/// Sealed; it exists so the swap in the inner loop can be a branch-free masked exchange.
pub trait ShuffleItem: Copy + sealed::Sealed {
    /// Exchanges `*a` and `*b` when `mask` is all ones (leaves them when it is zero), without
    /// branching.
    fn conditional_swap(a: &mut Self, b: &mut Self, mask: u64);
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! shuffle_item {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl ShuffleItem for $t {
            #[inline(always)]
            fn conditional_swap(a: &mut Self, b: &mut Self, mask: u64) {
                // Truncation keeps all ones / zero.
                let mask = mask as $t;
                let diff = (*a ^ *b) & mask;
                *a ^= diff;
                *b ^= diff;
            }
        }
    )*};
}
shuffle_item!(u16, u32, u64, usize);

/// One swap-or-not round over the whole list, in place: position `x` and its partner
/// `flip = (pivot - x) mod n` are swapped when the bit for `max(x, flip)` is set.
///
/// The pairs are `(i, pivot - i)` inside `[0, pivot]` and `(i, pivot + n - i)` inside
/// `(pivot, n)`; in both halves the larger member is the one walked downwards from the end of
/// the segment, so the source hash is recomputed once per 256 positions.
fn shuffle_round<T: ShuffleItem>(list: &mut [T], seed: &[u8; 32], round: u8, count: NonZeroU64) {
    let pivot = compute_pivot(seed, round, count);
    let mut source = RoundSource::new(seed, round);
    // Lossless: pivot < count = list.len().
    let pivot_pos = pivot as usize;
    let (low, high) = list.split_at_mut(pivot_pos.saturating_add(1).min(list.len()));
    swap_mirrored(low, pivot, &mut source);
    // The high segment is `(pivot, n)`; its last position is n - 1.
    swap_mirrored(high, count.get().saturating_sub(1), &mut source);
}

/// Swaps `segment[k]` with `segment[len - 1 - k]` for `k < len / 2` when the bit of the larger
/// (absolute) position, `last_position - k`, is set.
#[inline]
fn swap_mirrored<T: ShuffleItem>(segment: &mut [T], last_position: u64, source: &mut RoundSource) {
    let half = segment.len() / 2;
    let (front, back) = segment.split_at_mut(half);
    let mut position = last_position;
    for (a, b) in front.iter_mut().zip(back.iter_mut().rev()) {
        // Branch-free: the bit is a coin flip, and a branch on it mispredicts half the time
        // (a branching swap measured about 3x slower on x86-64).
        ShuffleItem::conditional_swap(a, b, source.mask(position));
        // Stays >= the lowest position of `back`, which is >= 1 while pairs remain.
        position = position.wrapping_sub(1);
    }
}

/// Whole-list swap-or-not shuffle, in place (the "shuffle_list" algorithm of Lighthouse/Nimbus).
///
/// - `forwards == false` (rounds applied last to first): `list[i]` becomes
///   `old[compute_shuffled_index(i, n, seed)]`: the committee order of `compute_committee`.
/// - `forwards == true` (rounds first to last): the inverse, `old[i]` moves to position
///   `compute_shuffled_index(i, n, seed)`.
///
/// Each round is an involution, so either direction undoes the other. Lists of 0 or 1 elements
/// are left as they are.
pub fn shuffle_list<T: ShuffleItem>(
    list: &mut [T],
    seed: &[u8; 32],
    shuffle_round_count: u8,
    forwards: bool,
) -> Result<(), ShufflingError> {
    let index_count = u64::try_from(list.len()).map_err(|_| ShufflingError::TooManyIndices {
        index_count: u64::MAX,
    })?;
    check_index_count(index_count)?;
    let Some(count) = NonZeroU64::new(index_count) else {
        return Ok(());
    };
    if forwards {
        for round in 0..shuffle_round_count {
            shuffle_round(list, seed, round, count);
        }
    } else {
        for round in (0..shuffle_round_count).rev() {
            shuffle_round(list, seed, round, count);
        }
    }
    Ok(())
}

/// Spec `compute_shuffled_permutation`: `[compute_shuffled_index(i, index_count, seed) for i in
/// range(index_count)]`, computed with [`shuffle_list`].
pub fn compute_shuffled_permutation(
    index_count: u64,
    seed: &[u8; 32],
    shuffle_round_count: u8,
) -> Result<Vec<u64>, ShufflingError> {
    check_index_count(index_count)?;
    let mut permutation: Vec<u64> = (0..index_count).collect();
    shuffle_list(&mut permutation, seed, shuffle_round_count, false)?;
    Ok(permutation)
}

/// The spec's committee bounds `start = len * index // count`, `end = len * (index + 1) // count`
/// as a range into the (shuffled) index list of length `len`.
pub fn committee_range(len: usize, index: u64, count: u64) -> Result<Range<usize>, ShufflingError> {
    let count_nz = NonZeroU64::new(count).ok_or(ShufflingError::ZeroCommitteeCount)?;
    if index >= count {
        return Err(ShufflingError::CommitteeIndexOutOfRange { index, count });
    }
    let len_u64 = u64::try_from(len).map_err(|_| ShufflingError::TooManyIndices {
        index_count: u64::MAX,
    })?;
    let bound = |i: u64| -> usize {
        // len * i fits u128 (both < 2**64); the quotient is <= len because i <= count.
        let q = u128::from(len_u64).wrapping_mul(u128::from(i)) / NonZeroU128::from(count_nz);
        usize::try_from(q).unwrap_or(len).min(len)
    };
    // index < count <= u64::MAX, so index + 1 does not overflow.
    Ok(bound(index)..bound(index.wrapping_add(1)))
}

/// Spec `compute_committee`: committee `index` of `count` over `indices`, reading
/// `indices[compute_shuffled_index(i, len(indices), seed)]` for `i` in `start..end`.
///
/// Per-index form (two hashes per round per member). To build every committee of an epoch,
/// shuffle once with [`CommitteeShuffling`] instead.
pub fn compute_committee(
    indices: &[u64],
    seed: &[u8; 32],
    index: u64,
    count: u64,
    shuffle_round_count: u8,
) -> Result<Vec<u64>, ShufflingError> {
    let len = u64::try_from(indices.len()).map_err(|_| ShufflingError::TooManyIndices {
        index_count: u64::MAX,
    })?;
    check_index_count(len)?;
    committee_range(indices.len(), index, count)?
        .map(|i| {
            // i < len: usize -> u64 is lossless here.
            let shuffled = compute_shuffled_index(i as u64, len, seed, shuffle_round_count)?;
            // shuffled < len = indices.len(), so the lookup always succeeds.
            indices
                .get(shuffled as usize)
                .copied()
                .ok_or(ShufflingError::IndexOutOfRange {
                    index: shuffled,
                    index_count: len,
                })
        })
        .collect()
}

/// An epoch's active indices shuffled once into committee order, sliced into committees on
/// demand (what clients cache per epoch and seed).
///
/// `committee(index, count)` equals `compute_committee(active_indices, seed, index, count)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitteeShuffling {
    shuffled: Vec<u64>,
}

impl CommitteeShuffling {
    /// Shuffles `active_indices` (e.g. `get_active_validator_indices`) with `seed`
    /// (`get_seed(state, epoch, DOMAIN_BEACON_ATTESTER)`).
    pub fn new(
        active_indices: Vec<u64>,
        seed: &[u8; 32],
        shuffle_round_count: u8,
    ) -> Result<Self, ShufflingError> {
        let mut shuffled = active_indices;
        shuffle_list(&mut shuffled, seed, shuffle_round_count, false)?;
        Ok(Self { shuffled })
    }

    /// All indices in committee order: `shuffled[i] == active_indices[compute_shuffled_index(i)]`.
    pub fn shuffled_indices(&self) -> &[u64] {
        &self.shuffled
    }

    /// Number of shuffled indices.
    pub fn len(&self) -> usize {
        self.shuffled.len()
    }

    /// Whether there are no indices at all.
    pub fn is_empty(&self) -> bool {
        self.shuffled.is_empty()
    }

    /// Committee `index` of `count` (spec `compute_committee`), as a slice of the shuffled list.
    pub fn committee(&self, index: u64, count: u64) -> Result<&[u64], ShufflingError> {
        let range = committee_range(self.shuffled.len(), index, count)?;
        // committee_range returns start <= end <= len.
        Ok(self.shuffled.get(range).unwrap_or_default())
    }

    /// All `count` committees in order; together they partition the shuffled list.
    pub fn committees(
        &self,
        count: u64,
    ) -> Result<impl Iterator<Item = &[u64]> + '_, ShufflingError> {
        if count == 0 {
            return Err(ShufflingError::ZeroCommitteeCount);
        }
        Ok((0..count).map(move |index| self.committee(index, count).unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn rng() -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(0x5eed_5eed)
    }

    fn random_seed(rng: &mut impl Rng) -> [u8; 32] {
        let mut seed = [0u8; 32];
        rng.fill(&mut seed);
        seed
    }

    const SIZES: &[usize] = &[
        0, 1, 2, 3, 4, 5, 7, 8, 31, 100, 255, 256, 257, 300, 511, 512, 513, 1000, 1023, 2049,
    ];

    #[test]
    fn shuffle_list_matches_compute_shuffled_index() {
        let mut rng = rng();
        for &size in SIZES {
            for rounds in [0u8, 1, 10, 90] {
                let seed = random_seed(&mut rng);
                let n = size as u64;
                let input: Vec<u64> = (0..n).map(|i| i * 7 + 3).collect();

                let mut committee_order = input.clone();
                shuffle_list(&mut committee_order, &seed, rounds, false).unwrap();
                let mut forwards = input.clone();
                shuffle_list(&mut forwards, &seed, rounds, true).unwrap();

                for i in 0..n {
                    let s = compute_shuffled_index(i, n, &seed, rounds).unwrap() as usize;
                    assert_eq!(
                        committee_order[i as usize], input[s],
                        "size {size} rounds {rounds} i {i}"
                    );
                    assert_eq!(
                        forwards[s], input[i as usize],
                        "size {size} rounds {rounds} i {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn shuffle_list_same_for_every_item_type() {
        let mut rng = rng();
        for size in [0usize, 1, 2, 777, 4099] {
            let seed = random_seed(&mut rng);
            let mut list16: Vec<u16> = (0..size as u16).collect();
            let mut list32: Vec<u32> = (0..size as u32).collect();
            let mut list64: Vec<u64> = (0..size as u64).collect();
            let mut list_usize: Vec<usize> = (0..size).collect();
            shuffle_list(&mut list16, &seed, 90, false).unwrap();
            shuffle_list(&mut list32, &seed, 90, false).unwrap();
            shuffle_list(&mut list64, &seed, 90, false).unwrap();
            shuffle_list(&mut list_usize, &seed, 90, false).unwrap();
            assert!(list16.iter().zip(&list64).all(|(a, b)| u64::from(*a) == *b));
            assert!(list32.iter().zip(&list64).all(|(a, b)| u64::from(*a) == *b));
            assert!(list_usize.iter().zip(&list64).all(|(a, b)| *a as u64 == *b));
        }
    }

    #[test]
    fn unshuffle_inverts_shuffle() {
        let mut rng = rng();
        for _ in 0..20 {
            let size = rng.gen_range(0..3000usize);
            let seed = random_seed(&mut rng);
            let rounds = rng.gen_range(0..=90u8);
            let input: Vec<u64> = (0..size as u64).map(|_| rng.gen()).collect();
            for first in [true, false] {
                let mut list = input.clone();
                shuffle_list(&mut list, &seed, rounds, first).unwrap();
                shuffle_list(&mut list, &seed, rounds, !first).unwrap();
                assert_eq!(list, input, "size {size} rounds {rounds}");
            }
        }
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut rng = rng();
        let seed = random_seed(&mut rng);
        let perm = compute_shuffled_permutation(10_000, &seed, 90).unwrap();
        let mut sorted = perm.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..10_000).collect::<Vec<u64>>());
        assert_ne!(perm, sorted, "90 rounds should move something");
    }

    #[test]
    fn compute_shuffled_index_bounds() {
        let seed = [7u8; 32];
        assert_eq!(
            compute_shuffled_index(0, 0, &seed, 90),
            Err(ShufflingError::IndexOutOfRange {
                index: 0,
                index_count: 0
            })
        );
        assert_eq!(
            compute_shuffled_index(5, 5, &seed, 90),
            Err(ShufflingError::IndexOutOfRange {
                index: 5,
                index_count: 5
            })
        );
        assert_eq!(compute_shuffled_index(0, 1, &seed, 90), Ok(0));
        assert_eq!(
            compute_shuffled_index(0, MAX_SHUFFLE_INDEX_COUNT + 1, &seed, 90),
            Err(ShufflingError::TooManyIndices {
                index_count: MAX_SHUFFLE_INDEX_COUNT + 1
            })
        );
        // The largest count is accepted (per-index form needs no allocation).
        assert!(compute_shuffled_index(
            MAX_SHUFFLE_INDEX_COUNT - 1,
            MAX_SHUFFLE_INDEX_COUNT,
            &seed,
            90
        )
        .is_ok_and(|i| i < MAX_SHUFFLE_INDEX_COUNT));
    }

    #[test]
    fn committees_match_compute_committee() {
        let mut rng = rng();
        for &size in &[0usize, 1, 5, 64, 257, 1000] {
            let seed = random_seed(&mut rng);
            let active: Vec<u64> = (0..size as u64).map(|i| i * 3 + 1).collect();
            let shuffling = CommitteeShuffling::new(active.clone(), &seed, 10).unwrap();
            for count in [1u64, 2, 3, 7, 64] {
                let mut all = Vec::new();
                for (index, committee) in shuffling.committees(count).unwrap().enumerate() {
                    let expected =
                        compute_committee(&active, &seed, index as u64, count, 10).unwrap();
                    assert_eq!(
                        committee,
                        expected.as_slice(),
                        "size {size} count {count} index {index}"
                    );
                    assert_eq!(shuffling.committee(index as u64, count).unwrap(), committee);
                    all.extend_from_slice(committee);
                }
                assert_eq!(
                    all,
                    shuffling.shuffled_indices(),
                    "committees partition the list"
                );
            }
        }
    }

    #[test]
    fn committee_errors() {
        let seed = [1u8; 32];
        let shuffling = CommitteeShuffling::new((0..10).collect(), &seed, 10).unwrap();
        assert_eq!(
            shuffling.committee(0, 0),
            Err(ShufflingError::ZeroCommitteeCount)
        );
        assert_eq!(
            shuffling.committee(4, 4),
            Err(ShufflingError::CommitteeIndexOutOfRange { index: 4, count: 4 })
        );
        assert!(shuffling.committees(0).is_err());
        assert_eq!(
            compute_committee(&[1, 2, 3], &seed, 3, 3, 10),
            Err(ShufflingError::CommitteeIndexOutOfRange { index: 3, count: 3 })
        );
        assert_eq!(committee_range(10, 0, 3), Ok(0..3));
        assert_eq!(committee_range(10, 1, 3), Ok(3..6));
        assert_eq!(committee_range(10, 2, 3), Ok(6..10));
        assert_eq!(
            committee_range(usize::MAX, u64::MAX - 1, u64::MAX).map(|r| r.end),
            Ok(usize::MAX)
        );
    }
}
