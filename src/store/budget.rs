//! One memory budget for the whole process (`--memory-budget`, MiB), split among everything
//! that grows.
//!
//! A home staker's board has one number that matters: how much RAM the node may use before the
//! kernel's OOM killer steps in. Ember takes that number once and derives every cache and queue
//! bound from it, so no component is sized on its own and the sum cannot exceed the whole.
//!
//! The split (permille of the budget; see [`SHARES`] for the reason behind each line):
//!
//! | consumer | share | on the 2048 MiB default |
//! |---|---|---|
//! | runtime reserve | 150‰ | 307 MiB |
//! | state cache | 450‰ | 921 MiB |
//! | working states | 100‰ | 205 MiB |
//! | validator public keys | 100‰ | 205 MiB |
//! | fork choice | 60‰ | 123 MiB |
//! | block queue | 40‰ | 82 MiB |
//! | gossip queues | 50‰ | 102 MiB |
//! | operation pool | 50‰ | 102 MiB |
//!
//! LMDB's pages are file-backed (the page cache): the kernel reclaims them under pressure, so
//! they are not part of the budget.

use std::fmt;

const MIB: u64 = 1024 * 1024;

/// The default `--memory-budget`: half of a 4 GB board. The other half is for the kernel, the
/// page cache LMDB reads through, and an execution client if the board runs one too.
pub const DEFAULT_MEMORY_BUDGET_MIB: u64 = 2048;
/// Below this the node cannot hold one mainnet state plus its working copies.
pub const MIN_MEMORY_BUDGET_MIB: u64 = 256;

/// Everything in the node whose memory grows with use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumer {
    RuntimeReserve,
    StateCache,
    WorkingStates,
    Pubkeys,
    ForkChoice,
    BlockQueue,
    GossipQueues,
    OperationPool,
}

/// Each consumer's share of the budget in permille, and why.
pub const SHARES: [(Consumer, u64, &str); 8] = [
    (
        Consumer::RuntimeReserve,
        150,
        "code, thread stacks, allocator slack and short-lived buffers (SSZ encodings, snappy \
         frames, network reads); not handed to any cache",
    ),
    (
        Consumer::StateCache,
        450,
        "beacon states by state root, counted in real bytes with structural sharing; the \
         largest consumer: each state kept saves a replay of blocks from disk",
    ),
    (
        Consumer::WorkingStates,
        100,
        "states being mutated outside the cache (block import, replay, epoch processing): the \
         nodes they do not share with cached states",
    ),
    (
        Consumer::Pubkeys,
        100,
        "decompressed validator public keys (~104 B per validator that has signed: ~115 MiB at \
         1.1M validators) and the pubkey -> index map",
    ),
    (
        Consumer::ForkChoice,
        60,
        "proto-array nodes of non-finalized blocks and one latest message per validator \
         (~60 MiB at 1.1M validators)",
    ),
    (
        Consumer::BlockQueue,
        40,
        "decoded blocks awaiting import (sync batches, gossip blocks waiting for their parent)",
    ),
    (
        Consumer::GossipQueues,
        50,
        "gossip messages (attestations, aggregates, sync messages) waiting for validation",
    ),
    (
        Consumer::OperationPool,
        50,
        "attestations, slashings, exits and BLS changes kept for block production",
    ),
];

/// `--memory-budget` split among the consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryBudget {
    total: u64,
}

/// A `--memory-budget` that is too small.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("--memory-budget {mib} MiB is below the minimum of {MIN_MEMORY_BUDGET_MIB} MiB")]
pub struct BudgetTooSmall {
    pub mib: u64,
}

impl Default for MemoryBudget {
    fn default() -> Self {
        MemoryBudget {
            total: DEFAULT_MEMORY_BUDGET_MIB.saturating_mul(MIB),
        }
    }
}

impl MemoryBudget {
    /// The budget for `mib` MiB for the whole process.
    pub fn from_mib(mib: u64) -> Result<Self, BudgetTooSmall> {
        if mib < MIN_MEMORY_BUDGET_MIB {
            return Err(BudgetTooSmall { mib });
        }
        Ok(MemoryBudget {
            total: mib.saturating_mul(MIB),
        })
    }

    /// A budget of exactly `bytes` for tests and benchmarks (no minimum).
    pub fn from_bytes_unchecked(bytes: u64) -> Self {
        MemoryBudget { total: bytes }
    }

    pub fn total_bytes(&self) -> u64 {
        self.total
    }

    /// The bound of one consumer, in bytes.
    pub fn bytes(&self, consumer: Consumer) -> u64 {
        let permille = SHARES
            .iter()
            .find(|(c, _, _)| *c == consumer)
            .map_or(0, |(_, p, _)| *p);
        // u128: no overflow for any u64 budget.
        let bytes = u128::from(self.total) * u128::from(permille) / 1000;
        u64::try_from(bytes).unwrap_or(u64::MAX)
    }

    /// Bytes the state cache may hold.
    pub fn state_cache_bytes(&self) -> u64 {
        self.bytes(Consumer::StateCache)
    }

    /// Bound for a queue of items of about `item_bytes` each, from `consumer`'s share (at
    /// least 1).
    pub fn queue_len(&self, consumer: Consumer, item_bytes: u64) -> usize {
        let n = self.bytes(consumer) / item_bytes.max(1);
        usize::try_from(n).unwrap_or(usize::MAX).max(1)
    }
}

impl fmt::Display for MemoryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "memory budget: {} MiB", self.total / MIB)?;
        for (consumer, permille, why) in SHARES {
            writeln!(
                f,
                "  {:<16} {:>4}‰ {:>7} MiB  {why}",
                format!("{consumer:?}"),
                permille,
                self.bytes(consumer) / MIB
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_whole() {
        assert_eq!(SHARES.iter().map(|(_, p, _)| p).sum::<u64>(), 1000);
        let b = MemoryBudget::default();
        let sum: u64 = SHARES.iter().map(|(c, _, _)| b.bytes(*c)).sum();
        assert!(sum <= b.total_bytes());
        assert_eq!(b.state_cache_bytes(), 2048 * MIB * 450 / 1000);
        assert!(MemoryBudget::from_mib(100).is_err());
        assert_eq!(
            MemoryBudget::from_mib(1024)
                .unwrap()
                .queue_len(Consumer::BlockQueue, 1),
            (1024 * MIB * 40 / 1000) as usize
        );
    }
}
