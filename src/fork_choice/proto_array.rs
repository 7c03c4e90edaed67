//! The block tree as a proto-array: nodes in insertion order, so a parent always comes before its
//! children and one reverse pass sees every child before its parent.
//!
//! Nodes are named by a [`NodeId`] that never changes and is never reused: `nodes[id - base]`.
//! Pruning at finalization drops a prefix of the array and raises `base`, so votes that name a
//! node by id (see [`super::VoteTracker`]) need no rewriting: an id below `base` is a pruned node.

use std::collections::HashMap;

use crate::consensus::primitives::{Epoch, Hash256, Slot, ValidatorIndex};

use super::{Checkpoint, ForkChoiceError, Result};

/// Stable name of a node (insertion counter). `u32`: one block per slot for 1,600 years.
pub type NodeId = u32;

/// "No node" in the `u32` scratch arrays.
const NONE: u32 = u32::MAX;

/// One block as the fork choice sees it: what the spec's `Store` keeps about it across
/// `blocks`, `block_states` (only the checkpoints), `block_timeliness` and
/// `unrealized_justifications`, plus the subtree weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtoNode {
    pub root: Hash256,
    pub parent_root: Hash256,
    /// `None` for the anchor and for nodes whose parent was pruned.
    pub parent: Option<NodeId>,
    pub slot: Slot,
    pub proposer_index: ValidatorIndex,
    /// `store.block_states[root].current_justified_checkpoint`
    pub justified_checkpoint: Checkpoint,
    /// `store.block_states[root].finalized_checkpoint`
    pub finalized_checkpoint: Checkpoint,
    /// `store.unrealized_justifications[root]` (`compute_pulled_up_tip`)
    pub unrealized_justified_checkpoint: Checkpoint,
    /// The finalized checkpoint of the pulled-up state (`compute_pulled_up_tip`).
    pub unrealized_finalized_checkpoint: Checkpoint,
    /// `store.block_timeliness[root]`
    pub timely: bool,
    /// `get_attestation_score`: justified balance of the latest messages in this subtree.
    pub weight: u64,
    /// `get_checkpoint_block(store, root, finalized.epoch) == finalized.root` for the finalized
    /// checkpoint in [`ProtoArray::finalized_flags_for`].
    finalized_descendant: bool,
}

impl ProtoNode {
    /// A node as given by the caller (weight 0, flags unset).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        root: Hash256,
        parent_root: Hash256,
        slot: Slot,
        proposer_index: ValidatorIndex,
        justified_checkpoint: Checkpoint,
        finalized_checkpoint: Checkpoint,
        unrealized_justified_checkpoint: Checkpoint,
        unrealized_finalized_checkpoint: Checkpoint,
    ) -> Self {
        Self {
            root,
            parent_root,
            parent: None,
            slot,
            proposer_index,
            justified_checkpoint,
            finalized_checkpoint,
            unrealized_justified_checkpoint,
            unrealized_finalized_checkpoint,
            timely: false,
            weight: 0,
            finalized_descendant: false,
        }
    }
}

/// What `get_head` needs from the store besides the tree.
#[derive(Debug, Clone, Copy)]
pub struct HeadParams {
    pub justified_checkpoint: Checkpoint,
    pub finalized_checkpoint: Checkpoint,
    /// `compute_start_slot_at_epoch(finalized_checkpoint.epoch)`
    pub finalized_slot: Slot,
    /// `get_current_store_epoch(store)`
    pub current_epoch: Epoch,
    pub slots_per_epoch: u64,
    /// `(store.proposer_boost_root, get_proposer_score(store))` when a boost is set.
    pub proposer_boost: Option<(Hash256, u64)>,
}

/// The block tree. See the module docs.
#[derive(Debug, Clone, Default)]
pub struct ProtoArray {
    /// Id of `nodes[0]`.
    base: NodeId,
    nodes: Vec<ProtoNode>,
    ids: HashMap<Hash256, NodeId>,
    /// The finalized checkpoint (and its start slot) the `finalized_descendant` flags are for.
    finalized_flags_for: Option<(Checkpoint, Slot)>,
    // Scratch space of `find_head`, kept to avoid reallocating per call.
    best_child: Vec<u32>,
    best_descendant: Vec<u32>,
    has_child: Vec<bool>,
    boosted: Vec<bool>,
}

impl ProtoArray {
    /// A tree holding only the anchor block.
    pub fn new(anchor: ProtoNode) -> Self {
        let mut ids = HashMap::new();
        ids.insert(anchor.root, 0);
        let mut anchor = anchor;
        anchor.parent = None;
        Self {
            base: 0,
            nodes: vec![anchor],
            ids,
            ..Self::default()
        }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Id of `nodes[0]`: ids below it are pruned.
    pub fn base(&self) -> NodeId {
        self.base
    }

    pub fn nodes(&self) -> &[ProtoNode] {
        &self.nodes
    }

    pub fn contains(&self, root: &Hash256) -> bool {
        self.ids.contains_key(root)
    }

    pub fn id_of(&self, root: &Hash256) -> Option<NodeId> {
        self.ids.get(root).copied()
    }

    /// Array index of a live node id.
    pub fn index_of_id(&self, id: NodeId) -> Option<usize> {
        let i = usize::try_from(id.checked_sub(self.base)?).ok()?;
        (i < self.nodes.len()).then_some(i)
    }

    fn index_of(&self, root: &Hash256) -> Option<usize> {
        self.index_of_id(self.id_of(root)?)
    }

    pub fn get(&self, root: &Hash256) -> Option<&ProtoNode> {
        self.nodes.get(self.index_of(root)?)
    }

    pub fn get_mut(&mut self, root: &Hash256) -> Option<&mut ProtoNode> {
        let i = self.index_of(root)?;
        self.nodes.get_mut(i)
    }

    pub fn node(&self, root: &Hash256) -> Result<&ProtoNode> {
        self.get(root).ok_or(ForkChoiceError::UnknownBlock(*root))
    }

    fn parent_index(&self, node: &ProtoNode) -> Option<usize> {
        self.index_of_id(node.parent?)
    }

    /// Adds a block whose parent may or may not be known (the anchor's is not). A known root is
    /// left as it is. Returns the node's id.
    pub fn insert(&mut self, node: ProtoNode) -> Result<NodeId> {
        if let Some(id) = self.id_of(&node.root) {
            return Ok(id);
        }
        let id = self
            .base
            .checked_add(
                u32::try_from(self.nodes.len()).map_err(|_| ForkChoiceError::TooManyNodes)?,
            )
            .filter(|id| *id != NONE)
            .ok_or(ForkChoiceError::TooManyNodes)?;
        let mut node = node;
        node.parent = self.id_of(&node.parent_root);
        node.weight = 0;
        node.finalized_descendant = match self.finalized_flags_for {
            Some((finalized, finalized_slot)) => {
                let parent_flag = self
                    .parent_index(&node)
                    .and_then(|p| self.nodes.get(p))
                    .is_some_and(|p| p.finalized_descendant);
                finalized_flag(&node, parent_flag, &finalized, finalized_slot)
            }
            None => false,
        };
        self.ids.insert(node.root, id);
        self.nodes.push(node);
        Ok(id)
    }

    /// Spec `get_ancestor(store, ForkChoiceNode(root), slot).root`: the latest block of `root`'s
    /// chain at or before `slot`. Errors when the chain leaves the known tree first (where the
    /// spec's `store.blocks[...]` lookup would fail).
    pub fn get_ancestor(&self, root: &Hash256, slot: Slot) -> Result<Hash256> {
        let mut i = self
            .index_of(root)
            .ok_or(ForkChoiceError::UnknownBlock(*root))?;
        loop {
            let node = self
                .nodes
                .get(i)
                .ok_or(ForkChoiceError::UnknownBlock(*root))?;
            if node.slot <= slot {
                return Ok(node.root);
            }
            i = self
                .parent_index(node)
                .ok_or(ForkChoiceError::UnknownAncestor { root: *root, slot })?;
        }
    }

    /// Like [`Self::get_ancestor`], but a chain that reaches past the oldest known block stops
    /// there and returns it (the anchor of a checkpoint-synced store).
    pub fn get_ancestor_or_oldest(&self, root: &Hash256, slot: Slot) -> Result<Hash256> {
        let mut i = self
            .index_of(root)
            .ok_or(ForkChoiceError::UnknownBlock(*root))?;
        loop {
            let node = self
                .nodes
                .get(i)
                .ok_or(ForkChoiceError::UnknownBlock(*root))?;
            match self.parent_index(node) {
                Some(p) if node.slot > slot => i = p,
                _ => return Ok(node.root),
            }
        }
    }

    /// Spec `is_ancestor(store, node, ancestor)`: `ancestor` is `root` or one of its ancestors.
    /// A chain that leaves the known tree before reaching `ancestor`'s slot does not contain
    /// it (every block between a known block and its known descendant is known).
    pub fn is_ancestor(&self, root: &Hash256, ancestor: &Hash256) -> Result<bool> {
        let ancestor_slot = self.node(ancestor)?.slot;
        match self.get_ancestor(root, ancestor_slot) {
            Ok(found) => Ok(found == *ancestor),
            Err(ForkChoiceError::UnknownAncestor { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Adds `deltas[i]` to node `i`'s weight and passes it on to its parent (reverse order, so a
    /// node has received all its descendants' deltas when it is reached).
    pub fn apply_score_changes(&mut self, deltas: &mut [i64]) -> Result<()> {
        if deltas.len() != self.nodes.len() {
            return Err(ForkChoiceError::Arith("delta vector length"));
        }
        for i in (0..self.nodes.len()).rev() {
            let delta = deltas.get(i).copied().unwrap_or(0);
            if delta == 0 {
                continue;
            }
            let parent = {
                let Some(node) = self.nodes.get_mut(i) else {
                    continue;
                };
                node.weight = node.weight.checked_add_signed(delta).ok_or(
                    ForkChoiceError::WeightUnderflow {
                        root: node.root,
                        weight: node.weight,
                        delta,
                    },
                )?;
                node.parent
            };
            if let Some(p) = parent.and_then(|p| self.index_of_id(p)) {
                if let Some(d) = deltas.get_mut(p) {
                    *d = d
                        .checked_add(delta)
                        .ok_or(ForkChoiceError::Arith("weight delta"))?;
                }
            }
        }
        Ok(())
    }

    /// Recomputes every node's `finalized_descendant` flag for `finalized` when it changed:
    /// `get_ancestor(node, finalized_slot) == finalized.root`, one forward pass.
    pub fn ensure_finalized_flags(&mut self, finalized: Checkpoint, finalized_slot: Slot) {
        if self.finalized_flags_for == Some((finalized, finalized_slot)) {
            return;
        }
        for i in 0..self.nodes.len() {
            let parent_flag = self
                .nodes
                .get(i)
                .and_then(|n| self.parent_index(n))
                .and_then(|p| self.nodes.get(p))
                .is_some_and(|p| p.finalized_descendant);
            if let Some(node) = self.nodes.get_mut(i) {
                node.finalized_descendant =
                    finalized_flag(node, parent_flag, &finalized, finalized_slot);
            }
        }
        self.finalized_flags_for = Some((finalized, finalized_slot));
    }

    /// Spec `get_head` over the tree, given current weights: `get_filtered_block_tree` (leaf
    /// viability, propagated to ancestors) and the greedy descent from the justified root by
    /// `(get_weight, root)`, both in one reverse pass.
    pub fn find_head(&mut self, params: &HeadParams) -> Result<Hash256> {
        let justified_index = self.index_of(&params.justified_checkpoint.root).ok_or(
            ForkChoiceError::UnknownBlock(params.justified_checkpoint.root),
        )?;
        self.ensure_finalized_flags(params.finalized_checkpoint, params.finalized_slot);

        let n = self.nodes.len();
        self.best_child.clear();
        self.best_child.resize(n, NONE);
        self.best_descendant.clear();
        self.best_descendant.resize(n, NONE);
        self.has_child.clear();
        self.has_child.resize(n, false);
        self.boosted.clear();
        self.boosted.resize(n, false);

        // `get_weight` adds the proposer score to the boosted block and all its ancestors.
        let mut boost_score = 0;
        if let Some((boost_root, score)) = params.proposer_boost {
            boost_score = score;
            let mut cursor = self.index_of(&boost_root);
            while let Some(i) = cursor {
                if let Some(b) = self.boosted.get_mut(i) {
                    *b = true;
                }
                cursor = self.nodes.get(i).and_then(|node| self.parent_index(node));
            }
        }

        for i in (0..n).rev() {
            let Some(node) = self.nodes.get(i) else {
                continue;
            };
            let has_child = self.has_child.get(i).copied().unwrap_or(false);
            let best_descendant = if has_child {
                // `filter_block_tree`: an inner node is viable iff one of its children is.
                match self.best_child.get(i).copied() {
                    Some(c) if c != NONE => {
                        let c = usize::try_from(c).map_err(|_| ForkChoiceError::TooManyNodes)?;
                        self.best_descendant.get(c).copied().unwrap_or(NONE)
                    }
                    _ => NONE,
                }
            } else if self.is_viable_leaf(node, params) {
                u32::try_from(i).map_err(|_| ForkChoiceError::TooManyNodes)?
            } else {
                NONE
            };
            if let Some(slot) = self.best_descendant.get_mut(i) {
                *slot = best_descendant;
            }
            let Some(p) = self.parent_index(node) else {
                continue;
            };
            if let Some(h) = self.has_child.get_mut(p) {
                *h = true;
            }
            if best_descendant == NONE {
                continue;
            }
            // Candidate child `i` of `p`: keep the greater `(weight + boost, root)`.
            let weight = effective_weight(node, self.boosted.get(i), boost_score)?;
            let current = self.best_child.get(p).copied().unwrap_or(NONE);
            let better = if current == NONE {
                true
            } else {
                let c = usize::try_from(current).map_err(|_| ForkChoiceError::TooManyNodes)?;
                let other = self.nodes.get(c).ok_or(ForkChoiceError::TooManyNodes)?;
                let other_weight = effective_weight(other, self.boosted.get(c), boost_score)?;
                (weight, node.root) > (other_weight, other.root)
            };
            if better {
                if let Some(b) = self.best_child.get_mut(p) {
                    *b = u32::try_from(i).map_err(|_| ForkChoiceError::TooManyNodes)?;
                }
            }
        }

        // The descent starts at the justified root whatever its own viability.
        let head = match self.best_child.get(justified_index).copied() {
            Some(c) if c != NONE => self
                .best_descendant
                .get(justified_index)
                .copied()
                .unwrap_or(NONE),
            _ => u32::try_from(justified_index).map_err(|_| ForkChoiceError::TooManyNodes)?,
        };
        let head = usize::try_from(head).map_err(|_| ForkChoiceError::TooManyNodes)?;
        self.nodes
            .get(head)
            .map(|n| n.root)
            .ok_or(ForkChoiceError::UnknownBlock(
                params.justified_checkpoint.root,
            ))
    }

    /// The leaves of the filtered block tree under the justified root (the spec tests'
    /// `viable_for_head_roots_and_weights`): viable leaves descending from it, or the justified
    /// root alone when none does.
    pub fn viable_leaves(&mut self, params: &HeadParams) -> Result<Vec<Hash256>> {
        self.find_head(params)?;
        let justified_index = self.index_of(&params.justified_checkpoint.root).ok_or(
            ForkChoiceError::UnknownBlock(params.justified_checkpoint.root),
        )?;
        let mut in_subtree = vec![false; self.nodes.len()];
        let mut leaves = Vec::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let inside = i == justified_index
                || self
                    .parent_index(node)
                    .and_then(|p| in_subtree.get(p).copied())
                    .unwrap_or(false);
            if let Some(flag) = in_subtree.get_mut(i) {
                *flag = inside;
            }
            let is_leaf = !self.has_child.get(i).copied().unwrap_or(true);
            let viable = self.best_descendant.get(i).is_some_and(|d| *d != NONE);
            if inside && is_leaf && viable {
                leaves.push(node.root);
            }
        }
        if leaves.is_empty() {
            leaves.push(params.justified_checkpoint.root);
        }
        Ok(leaves)
    }

    /// `filter_block_tree` for a leaf: its voting source is the store's justified epoch or at
    /// most two epochs old, and its chain holds the finalized block at the finalized slot.
    fn is_viable_leaf(&self, node: &ProtoNode, params: &HeadParams) -> bool {
        // `get_voting_source`: pulled up when the block is from a prior epoch.
        let block_epoch = node.slot.checked_div(params.slots_per_epoch).unwrap_or(0);
        let voting_source = if params.current_epoch > block_epoch {
            node.unrealized_justified_checkpoint
        } else {
            node.justified_checkpoint
        };
        let justified_epoch = params.justified_checkpoint.epoch;
        let correct_justified = justified_epoch == 0
            || voting_source.epoch == justified_epoch
            || voting_source.epoch.saturating_add(2) >= params.current_epoch;
        let correct_finalized = params.finalized_checkpoint.epoch == 0 || node.finalized_descendant;
        correct_justified && correct_finalized
    }

    /// Drops every node inserted before `finalized_root` (all of them are ancestors of it or on
    /// branches that do not descend from it) once there are at least `threshold` of them.
    /// Returns the dropped roots.
    pub fn prune(&mut self, finalized_root: &Hash256, threshold: usize) -> Result<Vec<Hash256>> {
        let finalized_index = self
            .index_of(finalized_root)
            .ok_or(ForkChoiceError::UnknownBlock(*finalized_root))?;
        if finalized_index < threshold.max(1) {
            return Ok(Vec::new());
        }
        let removed: Vec<ProtoNode> = self.nodes.drain(..finalized_index).collect();
        let mut roots = Vec::with_capacity(removed.len());
        for node in removed {
            self.ids.remove(&node.root);
            roots.push(node.root);
        }
        self.base = self
            .base
            .checked_add(u32::try_from(finalized_index).map_err(|_| ForkChoiceError::TooManyNodes)?)
            .ok_or(ForkChoiceError::TooManyNodes)?;
        let base = self.base;
        for node in &mut self.nodes {
            if node.parent.is_some_and(|p| p < base) {
                node.parent = None;
            }
        }
        Ok(roots)
    }
}

/// `get_checkpoint_block(store, node, finalized.epoch) == finalized.root`, given the same for
/// the parent: the ancestor at `finalized_slot` is the node itself when its slot is not after it.
fn finalized_flag(
    node: &ProtoNode,
    parent_flag: bool,
    finalized: &Checkpoint,
    finalized_slot: Slot,
) -> bool {
    if node.slot <= finalized_slot {
        node.root == finalized.root
    } else {
        parent_flag
    }
}

fn effective_weight(node: &ProtoNode, boosted: Option<&bool>, boost_score: u64) -> Result<u64> {
    if boosted.copied().unwrap_or(false) {
        node.weight
            .checked_add(boost_score)
            .ok_or(ForkChoiceError::Arith("weight + proposer score"))
    } else {
        Ok(node.weight)
    }
}
