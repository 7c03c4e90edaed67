//! The node's event stream (beacon-APIs `GET /eth/v1/events`, the `head`, `block`,
//! `finalized_checkpoint` and `chain_reorg` topics), preset independent.
//!
//! The node publishes typed [`Event`]s on an [`EventBus`]; every SSE subscriber holds its own
//! `tokio::sync::broadcast::Receiver`. Publishing never blocks and never fails for lack of
//! readers: a broadcast channel overwrites its oldest entry when full, and a receiver that fell
//! more than [`EVENT_BUS_CAPACITY`] events behind sees `Lagged` — the API then drops that
//! subscriber instead of slowing the node.

use crate::consensus::primitives::{Epoch, Hash256, Slot};
use serde_json::{json, Value};
use tokio::sync::broadcast;

/// Events kept for subscribers that have not read them yet. One event is ~400 B once encoded
/// (~150 B as the struct), so 1024 of them are well under 1 MiB, taken from the memory budget's
/// runtime reserve. At one head + one block event per slot and a finality event per epoch, a
/// subscriber would have to stall for ~500 slots to lag out; a stalled one is dropped.
pub const EVENT_BUS_CAPACITY: usize = 1024;

/// beacon-APIs `head` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadEvent {
    pub slot: Slot,
    pub block: Hash256,
    pub state: Hash256,
    /// The new head is in a later epoch than the previous head.
    pub epoch_transition: bool,
    pub previous_duty_dependent_root: Hash256,
    pub current_duty_dependent_root: Hash256,
    pub execution_optimistic: bool,
}

/// beacon-APIs `block` event: a block was imported (whether or not it became the head).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockEvent {
    pub slot: Slot,
    pub block: Hash256,
    pub execution_optimistic: bool,
}

/// beacon-APIs `finalized_checkpoint` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalizedCheckpointEvent {
    pub block: Hash256,
    pub state: Hash256,
    pub epoch: Epoch,
    pub execution_optimistic: bool,
}

/// beacon-APIs `chain_reorg` event: the new head is not a descendant of the old one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReorgEvent {
    /// The new head's slot.
    pub slot: Slot,
    /// Slots from the old head back to the common ancestor.
    pub depth: u64,
    pub old_head_block: Hash256,
    pub new_head_block: Hash256,
    pub old_head_state: Hash256,
    pub new_head_state: Hash256,
    pub epoch: Epoch,
    pub execution_optimistic: bool,
}

/// One event of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Head(HeadEvent),
    Block(BlockEvent),
    FinalizedCheckpoint(FinalizedCheckpointEvent),
    ChainReorg(ChainReorgEvent),
}

/// An event topic a client can subscribe to (`?topics=head,block,...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    Head,
    Block,
    FinalizedCheckpoint,
    ChainReorg,
}

impl Topic {
    pub const ALL: [Topic; 4] = [
        Topic::Head,
        Topic::Block,
        Topic::FinalizedCheckpoint,
        Topic::ChainReorg,
    ];

    /// The spec's topic name (the SSE `event:` field).
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Head => "head",
            Topic::Block => "block",
            Topic::FinalizedCheckpoint => "finalized_checkpoint",
            Topic::ChainReorg => "chain_reorg",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Topic::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

fn root(r: &Hash256) -> String {
    format!("{r:?}")
}

impl Event {
    pub fn topic(&self) -> Topic {
        match self {
            Event::Head(_) => Topic::Head,
            Event::Block(_) => Topic::Block,
            Event::FinalizedCheckpoint(_) => Topic::FinalizedCheckpoint,
            Event::ChainReorg(_) => Topic::ChainReorg,
        }
    }

    /// The event's `data` as the spec writes it (uints as decimal strings, roots as 0x-hex).
    pub fn data(&self) -> Value {
        match self {
            Event::Head(e) => json!({
                "slot": e.slot.to_string(),
                "block": root(&e.block),
                "state": root(&e.state),
                "epoch_transition": e.epoch_transition,
                "previous_duty_dependent_root": root(&e.previous_duty_dependent_root),
                "current_duty_dependent_root": root(&e.current_duty_dependent_root),
                "execution_optimistic": e.execution_optimistic,
            }),
            Event::Block(e) => json!({
                "slot": e.slot.to_string(),
                "block": root(&e.block),
                "execution_optimistic": e.execution_optimistic,
            }),
            Event::FinalizedCheckpoint(e) => json!({
                "block": root(&e.block),
                "state": root(&e.state),
                "epoch": e.epoch.to_string(),
                "execution_optimistic": e.execution_optimistic,
            }),
            Event::ChainReorg(e) => json!({
                "slot": e.slot.to_string(),
                "depth": e.depth.to_string(),
                "old_head_block": root(&e.old_head_block),
                "new_head_block": root(&e.new_head_block),
                "old_head_state": root(&e.old_head_state),
                "new_head_state": root(&e.new_head_state),
                "epoch": e.epoch.to_string(),
                "execution_optimistic": e.execution_optimistic,
            }),
        }
    }

    /// The event as one Server-Sent Events message: `event: <topic>\ndata: <json>\n\n`.
    pub fn to_sse(&self) -> String {
        format!(
            "event: {}\ndata: {}\n\n",
            self.topic().as_str(),
            self.data()
        )
    }
}

/// The bounded broadcast the node publishes events on (cheap to clone: one sender).
#[derive(Debug, Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(EVENT_BUS_CAPACITY)
    }
}

impl EventBus {
    /// A bus keeping at most `capacity` (at least 1) unread events per subscriber.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        EventBus { sender }
    }

    /// Publishes to every current subscriber; never blocks. Returns how many received it
    /// (0 when nobody listens, which is not an error).
    pub fn publish(&self, event: Event) -> usize {
        self.sender.send(event).unwrap_or(0)
    }

    /// A new receiver of every event published from now on (what `Backend::events` returns).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    pub fn subscriber_count(&self) -> usize {
        self.sender.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_per_spec_and_bus_is_bounded() {
        let bus = EventBus::new(2);
        assert_eq!(
            bus.publish(Event::Block(BlockEvent {
                slot: 1,
                block: Hash256::ZERO,
                execution_optimistic: false
            })),
            0
        );
        let mut rx = bus.subscribe();
        for slot in 0..5 {
            bus.publish(Event::Block(BlockEvent {
                slot,
                block: Hash256::repeat_byte(1),
                execution_optimistic: false,
            }));
        }
        // Three of five were overwritten: the receiver is told it lagged, never blocks the bus.
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(3))
        ));
        let e = rx.try_recv().expect("kept");
        assert_eq!(e.topic(), Topic::Block);
        assert_eq!(e.data()["slot"], "3");
        assert!(e
            .to_sse()
            .starts_with("event: block\ndata: {\"slot\":\"3\""));
        assert_eq!(Topic::parse("chain_reorg"), Some(Topic::ChainReorg));
        assert_eq!(Topic::parse("attestation"), None);
    }
}
