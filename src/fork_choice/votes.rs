//! The spec's `store.latest_messages`, kept as vote deltas for the proto-array.
//!
//! Per validator: the node its weight currently sits on (`current`), the node of its latest
//! message (`next`) and that message's epoch. 16 bytes a validator (37 MB for 2.3M), nodes named
//! by [`NodeId`] rather than by 32-byte roots.
//!
//! [`VoteTracker::compute_deltas`] moves each changed vote's balance from `current` to `next`.
//! Only validators whose message changed since the last call are visited (the `dirty` list),
//! except after the justified balances changed, when every vote is re-weighed once.

use crate::consensus::primitives::{Epoch, ValidatorIndex};

use super::proto_array::NodeId;
use super::{ForkChoiceError, Result};

/// "No node": no latest message yet, or the validator equivocated.
const NO_NODE: NodeId = NodeId::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Vote {
    current: NodeId,
    next: NodeId,
    next_epoch: Epoch,
}

impl Default for Vote {
    fn default() -> Self {
        Self {
            current: NO_NODE,
            next: NO_NODE,
            next_epoch: 0,
        }
    }
}

/// Latest messages and the balances their weight was applied with. See the module docs.
#[derive(Debug, Clone, Default)]
pub struct VoteTracker {
    votes: Vec<Vote>,
    /// Validators whose `next` may differ from `current` (duplicates are harmless).
    dirty: Vec<usize>,
    /// The balances the weights in the tree were computed with (index = validator).
    balances: Vec<u64>,
    /// New justified balances, applied by the next `compute_deltas`.
    new_balances: Option<Vec<u64>>,
}

impl VoteTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of validator slots allocated (highest validator index seen + 1).
    pub fn len(&self) -> usize {
        self.votes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.votes.is_empty()
    }

    /// The latest message of `validator`: `(node, epoch)`, `None` when there is none (or the
    /// validator equivocated). The node may have been pruned.
    pub fn latest_message(&self, validator: ValidatorIndex) -> Option<(NodeId, Epoch)> {
        let v = self.votes.get(usize::try_from(validator).ok()?)?;
        (v.next != NO_NODE).then_some((v.next, v.next_epoch))
    }

    /// The balances currently applied (or about to be).
    pub fn balances(&self) -> &[u64] {
        self.new_balances.as_deref().unwrap_or(&self.balances)
    }

    /// Spec `update_latest_messages` for one (non-equivocating) validator: the message replaces
    /// the stored one when there is none or its target epoch is newer.
    #[inline]
    pub fn process_attestation(
        &mut self,
        validator: ValidatorIndex,
        node: NodeId,
        target_epoch: Epoch,
    ) -> Result<()> {
        let i = usize::try_from(validator)
            .ok()
            .filter(|i| *i < u32::MAX as usize)
            .ok_or(ForkChoiceError::ValidatorIndexTooLarge(validator))?;
        if i >= self.votes.len() {
            let len = i
                .checked_add(1)
                .ok_or(ForkChoiceError::Arith("vote slots"))?;
            self.votes.resize(len, Vote::default());
        }
        let Some(vote) = self.votes.get_mut(i) else {
            return Ok(());
        };
        if vote.next == NO_NODE || target_epoch > vote.next_epoch {
            if vote.current == vote.next {
                self.dirty.push(i);
            }
            vote.next = node;
            vote.next_epoch = target_epoch;
        }
        Ok(())
    }

    /// Removes `validator`'s vote for good (it equivocated): its weight leaves the tree at the
    /// next `compute_deltas`.
    pub fn remove_vote(&mut self, validator: ValidatorIndex) {
        let Some(i) = usize::try_from(validator).ok() else {
            return;
        };
        if let Some(vote) = self.votes.get_mut(i) {
            if vote.next != NO_NODE || vote.current != NO_NODE {
                vote.next = NO_NODE;
                self.dirty.push(i);
            }
        }
    }

    /// New justified balances (`0` for validators that do not count), applied to every vote by
    /// the next [`Self::compute_deltas`].
    pub fn set_balances(&mut self, balances: Vec<u64>) {
        self.new_balances = Some(balances);
    }

    /// The weight changes since the last call, as one delta per tree node (`deltas[id - base]`),
    /// for [`super::ProtoArray::apply_score_changes`]. Votes on pruned nodes (id below `base`)
    /// carry no weight any more.
    pub fn compute_deltas(&mut self, base: NodeId, node_count: usize) -> Result<Vec<i64>> {
        let mut deltas = vec![0_i64; node_count];
        match self.new_balances.take() {
            Some(new_balances) => {
                for (i, vote) in self.votes.iter_mut().enumerate() {
                    let old = self.balances.get(i).copied().unwrap_or(0);
                    let new = new_balances.get(i).copied().unwrap_or(0);
                    move_vote(vote, old, new, base, &mut deltas)?;
                }
                self.balances = new_balances;
            }
            None => {
                for &i in &self.dirty {
                    let Some(vote) = self.votes.get_mut(i) else {
                        continue;
                    };
                    let balance = self.balances.get(i).copied().unwrap_or(0);
                    move_vote(vote, balance, balance, base, &mut deltas)?;
                }
            }
        }
        self.dirty.clear();
        Ok(deltas)
    }
}

#[inline]
fn move_vote(vote: &mut Vote, old: u64, new: u64, base: NodeId, deltas: &mut [i64]) -> Result<()> {
    if vote.current == vote.next && old == new {
        return Ok(());
    }
    if let Some(d) = delta_slot(deltas, vote.current, base) {
        let old = i64::try_from(old).map_err(|_| ForkChoiceError::Arith("balance"))?;
        *d = d.checked_sub(old).ok_or(ForkChoiceError::Arith("delta"))?;
    }
    if let Some(d) = delta_slot(deltas, vote.next, base) {
        let new = i64::try_from(new).map_err(|_| ForkChoiceError::Arith("balance"))?;
        *d = d.checked_add(new).ok_or(ForkChoiceError::Arith("delta"))?;
    }
    vote.current = vote.next;
    Ok(())
}

#[inline]
fn delta_slot(deltas: &mut [i64], node: NodeId, base: NodeId) -> Option<&mut i64> {
    if node == NO_NODE {
        return None;
    }
    deltas.get_mut(usize::try_from(node.checked_sub(base)?).ok()?)
}
