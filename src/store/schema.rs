//! Tables and the byte encodings of their keys and values.
//!
//! | table | key | value |
//! |---|---|---|
//! | `meta` | name (ASCII) | `schema` u32 BE, `preset` name, `genesis_validators_root` 32 B, `archive` 1 B |
//! | `pointers` | `genesis`, `anchor`, `backfill`, `justified`, `finalized`, `head` | [`Pointer`] (80 B) |
//! | `blocks` | block root | snappy(SSZ `SignedBeaconBlock`) |
//! | `block_meta` | block root | [`BlockMeta`]: slot u64 BE, parent root, post-state root (72 B) |
//! | `canonical` | slot u64 BE | block root of the canonical chain at that slot (slots with a block only, anchor..=head) |
//! | `hot` | slot u64 BE ++ block root | empty: every block newer than the finalized one, on any branch |
//! | `summaries` | state root | [`StateSummary`]: slot u64 BE, block root (40 B) — every post-block state |
//! | `states` | state root | snappy(SSZ `BeaconState`): the snapshots |
//! | `snapshots` | slot u64 BE ++ state root | empty: index of `states` by slot |
//! | `pubkeys` | chunk index u64 BE | the compressed public keys (48 B each) of validators `341 × chunk ..`: 341 per chunk, only the last one partial |
//! | `fork_choice` | `blob` | version u32 BE ++ the fork choice's own bytes |
//!
//! Big-endian integers make LMDB's byte order the numeric order, so slot ranges are cursor
//! ranges.

use super::error::{Result, StoreError};
use crate::consensus::primitives::{Epoch, Hash256, Slot};

/// Version of this layout, written at initialisation and checked at open.
pub const SCHEMA_VERSION: u32 = 1;

pub const META_SCHEMA: &[u8] = b"schema";
pub const META_PRESET: &[u8] = b"preset";
pub const META_GENESIS_VALIDATORS_ROOT: &[u8] = b"genesis_validators_root";
pub const META_ARCHIVE: &[u8] = b"archive";

pub const FORK_CHOICE_KEY: &[u8] = b"blob";

/// Validator public keys per `pubkeys` record: 341 × 48 B = 16,368 B, which with LMDB's 16 B
/// page header fills exactly four 4 KiB overflow pages or one 16 KiB page (Pi 5), so a 1M
/// registry takes 48 MiB on disk (one record per key took 64 MiB).
pub const PUBKEYS_PER_CHUNK: u64 = 341;
pub const PUBKEY_LEN: usize = 48;

/// The chain pointers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PointerName {
    /// The genesis block (zero roots when the node started from a later anchor).
    Genesis,
    /// The block the database was initialised from (genesis or a checkpoint-sync anchor).
    Anchor,
    /// The oldest block stored: blocks below it are still to be backfilled.
    Backfill,
    Justified,
    Finalized,
    Head,
}

impl PointerName {
    pub const ALL: [PointerName; 6] = [
        PointerName::Genesis,
        PointerName::Anchor,
        PointerName::Backfill,
        PointerName::Justified,
        PointerName::Finalized,
        PointerName::Head,
    ];

    pub fn key(self) -> &'static [u8] {
        match self {
            PointerName::Genesis => b"genesis",
            PointerName::Anchor => b"anchor",
            PointerName::Backfill => b"backfill",
            PointerName::Justified => b"justified",
            PointerName::Finalized => b"finalized",
            PointerName::Head => b"head",
        }
    }
}

/// A chain pointer: a block, its post-state, and (for checkpoints) the checkpoint epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pointer {
    /// The checkpoint epoch for `justified`/`finalized`; the block's epoch otherwise.
    pub epoch: Epoch,
    pub slot: Slot,
    pub block_root: Hash256,
    pub state_root: Hash256,
}

impl Pointer {
    pub const LEN: usize = 80;

    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..8].copy_from_slice(&self.epoch.to_be_bytes());
        out[8..16].copy_from_slice(&self.slot.to_be_bytes());
        out[16..48].copy_from_slice(self.block_root.as_slice());
        out[48..80].copy_from_slice(self.state_root.as_slice());
        out
    }

    pub fn decode(key: &[u8], bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new("pointers", key, bytes, Self::LEN)?;
        Ok(Pointer {
            epoch: r.u64(),
            slot: r.u64(),
            block_root: r.root(),
            state_root: r.root(),
        })
    }
}

/// What the store keeps about every block besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockMeta {
    pub slot: Slot,
    pub parent_root: Hash256,
    /// The block's post-state root (`block.state_root`).
    pub state_root: Hash256,
}

impl BlockMeta {
    pub const LEN: usize = 72;

    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..8].copy_from_slice(&self.slot.to_be_bytes());
        out[8..40].copy_from_slice(self.parent_root.as_slice());
        out[40..72].copy_from_slice(self.state_root.as_slice());
        out
    }

    pub fn decode(key: &[u8], bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new("block_meta", key, bytes, Self::LEN)?;
        Ok(BlockMeta {
            slot: r.u64(),
            parent_root: r.root(),
            state_root: r.root(),
        })
    }
}

/// A state the store can rebuild: the block it is the post-state of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateSummary {
    pub slot: Slot,
    pub block_root: Hash256,
}

impl StateSummary {
    pub const LEN: usize = 40;

    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..8].copy_from_slice(&self.slot.to_be_bytes());
        out[8..40].copy_from_slice(self.block_root.as_slice());
        out
    }

    pub fn decode(key: &[u8], bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new("summaries", key, bytes, Self::LEN)?;
        Ok(StateSummary {
            slot: r.u64(),
            block_root: r.root(),
        })
    }
}

/// `slot BE ++ root` (keys of `hot` and `snapshots`).
pub fn slot_root_key(slot: Slot, root: &Hash256) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..8].copy_from_slice(&slot.to_be_bytes());
    out[8..].copy_from_slice(root.as_slice());
    out
}

pub fn decode_slot_root_key(table: &'static str, key: &[u8]) -> Result<(Slot, Hash256)> {
    let mut r = Reader::new(table, key, key, 40)?;
    Ok((r.u64(), r.root()))
}

pub fn decode_slot(table: &'static str, key: &[u8]) -> Result<Slot> {
    let mut r = Reader::new(table, key, key, 8)?;
    Ok(r.u64())
}

pub fn decode_root(table: &'static str, key: &[u8], bytes: &[u8]) -> Result<Hash256> {
    let mut r = Reader::new(table, key, bytes, 32)?;
    Ok(r.root())
}

pub fn decode_u64(table: &'static str, key: &[u8], bytes: &[u8]) -> Result<u64> {
    let mut r = Reader::new(table, key, bytes, 8)?;
    Ok(r.u64())
}

/// Reads fixed-size fields from a record whose length was checked up front.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(table: &'static str, key: &[u8], bytes: &'a [u8], len: usize) -> Result<Self> {
        if bytes.len() != len {
            return Err(StoreError::corrupt(
                table,
                key,
                format!("{} bytes, expected {len}", bytes.len()),
            ));
        }
        Ok(Reader { bytes })
    }

    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        // The length was checked in `new`; a short read leaves zeros (never happens).
        if let (Some(head), Some(rest)) = (self.bytes.get(..N), self.bytes.get(N..)) {
            out.copy_from_slice(head);
            self.bytes = rest;
        }
        out
    }

    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.take::<8>())
    }

    fn root(&mut self) -> Hash256 {
        Hash256::from(self.take::<32>())
    }
}

/// snappy (raw format) compression of an SSZ encoding.
pub fn compress(bytes: &[u8]) -> Result<Vec<u8>> {
    snap::raw::Encoder::new()
        .compress_vec(bytes)
        .map_err(|e| StoreError::Inconsistent(format!("snappy compression failed: {e}")))
}

pub fn decompress(table: &'static str, key: &[u8], bytes: &[u8]) -> Result<Vec<u8>> {
    snap::raw::Decoder::new()
        .decompress_vec(bytes)
        .map_err(|e| StoreError::corrupt(table, key, format!("snappy: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_reject_bad_lengths() {
        let p = Pointer {
            epoch: 3,
            slot: 99,
            block_root: Hash256::repeat_byte(1),
            state_root: Hash256::repeat_byte(2),
        };
        assert_eq!(Pointer::decode(b"k", &p.encode()).unwrap(), p);
        assert!(Pointer::decode(b"k", &p.encode()[..79]).is_err());
        let m = BlockMeta {
            slot: 5,
            parent_root: Hash256::repeat_byte(3),
            state_root: Hash256::repeat_byte(4),
        };
        assert_eq!(BlockMeta::decode(b"k", &m.encode()).unwrap(), m);
        let s = StateSummary {
            slot: 7,
            block_root: Hash256::repeat_byte(5),
        };
        assert_eq!(StateSummary::decode(b"k", &s.encode()).unwrap(), s);
        let key = slot_root_key(258, &Hash256::repeat_byte(9));
        assert_eq!(
            decode_slot_root_key("hot", &key).unwrap(),
            (258, Hash256::repeat_byte(9))
        );
        assert!(slot_root_key(1, &Hash256::ZERO) < slot_root_key(256, &Hash256::ZERO));
        assert!(decompress("blocks", b"k", b"\xff\xff\xff").is_err());
    }
}
