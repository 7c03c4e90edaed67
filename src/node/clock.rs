//! The slot clock: wall time to slots and the instants inside a slot the duties run at
//! (spec validator.md: attest at 1/3 of the slot, aggregate at 2/3). Preset independent.

use crate::consensus::primitives::Slot;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `genesis_time` (seconds) and the slot duration (`SLOT_DURATION_MS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotClock {
    pub genesis_time: u64,
    pub slot_duration_ms: u64,
}

/// Where in a slot: the start, one third (attestations, sync committee messages), two thirds
/// (aggregates, contributions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotPhase {
    Start,
    OneThird,
    TwoThirds,
}

impl SlotClock {
    pub fn new(genesis_time: u64, slot_duration_ms: u64) -> Self {
        Self {
            genesis_time,
            slot_duration_ms: slot_duration_ms.max(1),
        }
    }

    pub fn genesis_ms(&self) -> u64 {
        self.genesis_time.saturating_mul(1000)
    }

    /// The slot at `ms` (Unix milliseconds); `None` before genesis.
    pub fn slot_at_ms(&self, ms: u64) -> Option<Slot> {
        ms.checked_sub(self.genesis_ms())
            .map(|since| since / self.slot_duration_ms)
    }

    pub fn current_slot(&self) -> Option<Slot> {
        self.slot_at_ms(now_ms())
    }

    /// Unix milliseconds at which `phase` of `slot` begins.
    pub fn instant_ms(&self, slot: Slot, phase: SlotPhase) -> u64 {
        let start = self
            .genesis_ms()
            .saturating_add(slot.saturating_mul(self.slot_duration_ms));
        let offset = match phase {
            SlotPhase::Start => 0,
            SlotPhase::OneThird => self.slot_duration_ms / 3,
            SlotPhase::TwoThirds => self.slot_duration_ms.saturating_mul(2) / 3,
        };
        start.saturating_add(offset)
    }

    /// The fork choice's `time` (whole seconds, as the spec's store keeps it) for an instant
    /// reached at wall time `ms`: never before the instant's own second rounded up, so a tick
    /// at a slot start that is not on a whole second already counts in the new slot (valid as
    /// long as a slot lasts at least one second).
    pub fn store_time(&self, instant_ms: u64, now_ms: u64) -> u64 {
        (now_ms / 1000).max(instant_ms.div_ceil(1000))
    }

    /// Sleeps until Unix millisecond `ms` (returns at once if it is past).
    pub async fn sleep_until_ms(ms: u64) {
        let now = now_ms();
        if ms > now {
            tokio::time::sleep(Duration::from_millis(ms - now)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_and_phases() {
        let c = SlotClock::new(100, 1500);
        assert_eq!(c.slot_at_ms(99_999), None);
        assert_eq!(c.slot_at_ms(100_000), Some(0));
        assert_eq!(c.slot_at_ms(101_499), Some(0));
        assert_eq!(c.slot_at_ms(101_500), Some(1));
        assert_eq!(c.instant_ms(2, SlotPhase::Start), 103_000);
        assert_eq!(c.instant_ms(2, SlotPhase::OneThird), 103_500);
        assert_eq!(c.instant_ms(2, SlotPhase::TwoThirds), 104_000);
        // slot 1 starts at 101.5 s: the store time is 102 s, still in slot 1 (101.5..103).
        assert_eq!(c.store_time(101_500, 101_500), 102);
        assert_eq!(c.store_time(101_500, 102_700), 102);
    }
}
