//! Slashing protection (EIP-3076 semantics), in its own LMDB environment
//! (`<datadir>/slashing_protection/`), preset independent.
//!
//! # Rules (the "minimal" high-watermark strategy, plus same-root re-signing)
//!
//! Per validator public key the database keeps *watermarks* — the highest block slot, the highest
//! attestation source epoch and the highest attestation target epoch ever signed (or imported) —
//! and a short history of signed records (slot → signing root, target → source + signing root).
//!
//! Blocks (EIP-3076 conditions 1-2, strengthened): a block at `slot` is refused when
//! `slot <= highest signed slot`, unless a block with the *same* signing root was recorded at
//! that very slot (re-signing identical data is not slashable; EIP-3076 "signing_root"). A block
//! at the same slot with another (or unknown) root is a double proposal.
//!
//! Attestations (EIP-3076 conditions 3-5, strengthened): refused when `source > target`, when
//! an attestation with the same target and a different (or unknown) root was recorded (double
//! vote), when `target <= highest target`, or when `source < highest source` — again except the
//! re-signing of identical data (same target, same non-zero signing root). The two watermark
//! rules imply the surround rules: a vote surrounded by a recorded `(s', t')` needs
//! `t < t' <= highest target`, and a vote surrounding one needs `s < s' <= highest source`; both
//! are refused. They are stricter than EIP-3076's lower-bound conditions (`source < min source`,
//! `target <= min target`), which is safe (never signs anything a complete-history client would
//! refuse) and is what the interchange tests call the *minimal* strategy: a validator client only
//! ever signs forwards.
//!
//! A signing root of all zeros means "unknown" (EIP-3076 makes `signing_root` optional; imports
//! without one are stored as zero) and never matches, so unknown data is never re-signed.
//!
//! # History and size
//!
//! Records older than [`ATTESTATION_HISTORY_EPOCHS`] below a key's highest target (and blocks
//! older than [`BLOCK_HISTORY_SLOTS`] below its highest slot) are pruned in the write that
//! advances the watermark: the watermarks alone decide safety, the history only serves
//! re-signing and export. So the database holds at most ~(64 + a few) attestation records and a
//! few block records per key: for 4,096 keys ≈ 300k records ≈ 30 MB. The map is
//! [`MAP_SIZE`] of address space (not memory).
//!
//! # Durability
//!
//! The environment uses LMDB's default (synchronous) flags: a write transaction's commit returns
//! after `fdatasync`. Every check-and-record runs in one write transaction that is committed
//! before the caller may release a signature ([`SlashingProtection::check_and_insert_block`],
//! [`SlashingProtection::check_and_insert_attestations`]).

use crate::consensus::primitives::{Epoch, Root, Slot};
use heed::types::Bytes;
use heed::{CommitOrAbort, Database, Env, EnvOpenOptions, RoTxn, RwTxn, WithoutTls};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A compressed BLS public key.
pub type PublicKeyBytes = [u8; 48];

/// Attestation records kept per key below its highest target (see the module docs).
pub const ATTESTATION_HISTORY_EPOCHS: u64 = 64;
/// Block records kept per key below its highest slot.
pub const BLOCK_HISTORY_SLOTS: u64 = 2048;
/// LMDB map size: address space reserved for the file (it grows only as pages are written).
/// 256 MiB is ~8x the 4,096-key estimate in the module docs and fits 32-bit address spaces.
pub const MAP_SIZE: usize = 256 * 1024 * 1024;
/// The EIP-3076 interchange format version read and written.
pub const INTERCHANGE_FORMAT_VERSION: &str = "5";

const META_GENESIS_VALIDATORS_ROOT: &[u8] = b"genesis_validators_root";
const META_SCHEMA_VERSION: &[u8] = b"schema_version";
const SCHEMA_VERSION: u64 = 1;

type Table = Database<'static, Bytes, Bytes>;

/// Why a message must not be signed, or why the check itself failed (then nothing is signed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotSafe {
    #[error("double block proposal at slot {slot} (a different block was signed there)")]
    DoubleBlockProposal { slot: Slot },
    #[error("block slot {slot} is not above the highest signed slot {highest}")]
    SlotNotAboveWatermark { slot: Slot, highest: Slot },
    #[error("attestation source {source_epoch} is after its target {target_epoch}")]
    SourceExceedsTarget {
        source_epoch: Epoch,
        target_epoch: Epoch,
    },
    #[error("double vote: another attestation with target {target_epoch} was signed")]
    DoubleVote { target_epoch: Epoch },
    #[error("attestation target {target_epoch} is not above the highest signed target {highest}")]
    TargetNotAboveWatermark { target_epoch: Epoch, highest: Epoch },
    #[error("attestation source {source_epoch} is below the highest signed source {highest}")]
    SourceBelowWatermark { source_epoch: Epoch, highest: Epoch },
    #[error("validator key not managed by this node")]
    UnknownValidator,
    /// The database failed; nothing was recorded and nothing may be signed.
    #[error("slashing protection database: {0}")]
    Database(String),
}

/// A check passed: `Valid` was recorded (durably) now; `SameData` re-signs a recorded message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safe {
    Valid,
    SameData,
}

/// Errors of opening the database, import and export.
#[derive(Debug, thiserror::Error)]
pub enum ProtectionError {
    #[error("slashing protection database at {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: heed::Error,
    },
    #[error("creating {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("slashing protection database: {0}")]
    Lmdb(#[from] heed::Error),
    #[error("slashing protection database is for genesis validators root {stored:?}, not {expected:?} (another chain)")]
    GenesisValidatorsRootMismatch { stored: Root, expected: Root },
    #[error("slashing protection database is corrupt: {0}")]
    Corrupt(String),
    #[error("interchange: {0}")]
    Interchange(String),
}

/// One attestation to check: `(pubkey, source, target, signing root)` of the `AttestationData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttestationProposal {
    pub pubkey: PublicKeyBytes,
    pub source_epoch: Epoch,
    pub target_epoch: Epoch,
    pub signing_root: Root,
}

/// Per-key watermarks: the highest signed block slot and attestation source/target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Watermarks {
    block_slot: Option<Slot>,
    attestation: Option<(Epoch, Epoch)>,
}

const WATERMARKS_LEN: usize = 1 + 8 + 1 + 8 + 8;

impl Watermarks {
    fn encode(&self) -> [u8; WATERMARKS_LEN] {
        let mut out = [0u8; WATERMARKS_LEN];
        if let Some(slot) = self.block_slot {
            out[0] = 1;
            out[1..9].copy_from_slice(&slot.to_be_bytes());
        }
        if let Some((source, target)) = self.attestation {
            out[9] = 1;
            out[10..18].copy_from_slice(&source.to_be_bytes());
            out[18..26].copy_from_slice(&target.to_be_bytes());
        }
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let b: &[u8; WATERMARKS_LEN] = bytes
            .try_into()
            .map_err(|_| format!("watermark record of {} bytes", bytes.len()))?;
        let u64_at = |i: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[i..i + 8]);
            u64::from_be_bytes(x)
        };
        Ok(Watermarks {
            block_slot: (b[0] == 1).then(|| u64_at(1)),
            attestation: (b[9] == 1).then(|| (u64_at(10), u64_at(18))),
        })
    }

    fn raise_block(&mut self, slot: Slot) {
        self.block_slot = Some(self.block_slot.map_or(slot, |s| s.max(slot)));
    }

    fn raise_attestation(&mut self, source: Epoch, target: Epoch) {
        self.attestation = Some(match self.attestation {
            None => (source, target),
            Some((s, t)) => (s.max(source), t.max(target)),
        });
    }
}

/// `pubkey ‖ u64 big-endian`: records of one key sort by slot / target epoch.
fn record_key(pubkey: &PublicKeyBytes, n: u64) -> [u8; 56] {
    let mut key = [0u8; 56];
    key[..48].copy_from_slice(pubkey);
    key[48..].copy_from_slice(&n.to_be_bytes());
    key
}

fn split_record_key(key: &[u8]) -> Result<(PublicKeyBytes, u64), String> {
    if key.len() != 56 {
        return Err(format!("record key of {} bytes", key.len()));
    }
    let mut pubkey = [0u8; 48];
    pubkey.copy_from_slice(&key[..48]);
    let mut n = [0u8; 8];
    n.copy_from_slice(&key[48..]);
    Ok((pubkey, u64::from_be_bytes(n)))
}

fn root_from(bytes: &[u8]) -> Result<Root, String> {
    <[u8; 32]>::try_from(bytes)
        .map(Root::from)
        .map_err(|_| format!("signing root of {} bytes", bytes.len()))
}

/// Attestation record value: `source ‖ signing_root`.
fn decode_attestation(value: &[u8]) -> Result<(Epoch, Root), String> {
    if value.len() != 40 {
        return Err(format!("attestation record of {} bytes", value.len()));
    }
    let mut source = [0u8; 8];
    source.copy_from_slice(&value[..8]);
    Ok((u64::from_be_bytes(source), root_from(&value[8..])?))
}

fn encode_attestation(source: Epoch, root: &Root) -> [u8; 40] {
    let mut value = [0u8; 40];
    value[..8].copy_from_slice(&source.to_be_bytes());
    value[8..].copy_from_slice(root.as_slice());
    value
}

/// Whether a recorded root and a new one denote the same message (zero = unknown: never).
fn same_root(recorded: &Root, new: &Root) -> bool {
    !recorded.is_zero() && recorded == new
}

#[derive(Clone, Copy)]
struct Tables {
    meta: Table,
    watermarks: Table,
    blocks: Table,
    attestations: Table,
}

/// The slashing protection database of one chain (bound to its genesis validators root).
pub struct SlashingProtection {
    env: Env<WithoutTls>,
    tables: Tables,
    genesis_validators_root: Root,
    path: PathBuf,
    /// One writer at a time (LMDB serialises writers anyway; this keeps the wait in Rust).
    writer: Mutex<()>,
}

impl std::fmt::Debug for SlashingProtection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlashingProtection")
            .field("path", &self.path)
            .field("genesis_validators_root", &self.genesis_validators_root)
            .finish()
    }
}

fn db_error(e: impl std::fmt::Display) -> NotSafe {
    NotSafe::Database(e.to_string())
}

impl SlashingProtection {
    /// The directory of the database inside a node's data directory.
    pub fn dir_in(datadir: &Path) -> PathBuf {
        datadir.join("slashing_protection")
    }

    /// Opens (creating if needed) `<datadir>/slashing_protection/`. A new database is bound to
    /// `genesis_validators_root`; an existing one for another root is refused.
    pub fn open(datadir: &Path, genesis_validators_root: Root) -> Result<Self, ProtectionError> {
        let path = Self::dir_in(datadir);
        std::fs::create_dir_all(&path).map_err(|source| ProtectionError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mut options = EnvOpenOptions::new().read_txn_without_tls();
        options.map_size(MAP_SIZE).max_dbs(4).max_readers(32);
        // SAFETY (heed's `open` contract): the files are only changed through LMDB; no unsafe
        // flags (NO_SYNC, NO_LOCK, WRITE_MAP) are set, so commits are durable.
        let env = unsafe { options.open(&path) }.map_err(|source| ProtectionError::Open {
            path: path.display().to_string(),
            source,
        })?;
        env.clear_stale_readers()?;
        let wtxn = env.write_txn()?;
        let created = env.create_databases_and_commit(wtxn, |opener, wtxn| {
            let mut create = |name: &str| opener.create_database::<Bytes, Bytes>(wtxn, Some(name));
            let all = [
                create("meta")?,
                create("watermarks")?,
                create("blocks")?,
                create("attestations")?,
            ];
            Ok::<_, heed::Error>(CommitOrAbort::<_, ()>::Commit(all))
        })?;
        let CommitOrAbort::Commit([meta, watermarks, blocks, attestations]) = created else {
            return Err(ProtectionError::Corrupt(
                "creating the tables was aborted".into(),
            ));
        };
        let tables = Tables {
            meta,
            watermarks,
            blocks,
            attestations,
        };
        let mut wtxn = env.write_txn()?;
        match tables.meta.get(&wtxn, META_GENESIS_VALIDATORS_ROOT)? {
            Some(stored) => {
                let stored = root_from(stored).map_err(ProtectionError::Corrupt)?;
                if stored != genesis_validators_root {
                    return Err(ProtectionError::GenesisValidatorsRootMismatch {
                        stored,
                        expected: genesis_validators_root,
                    });
                }
                let version = tables.meta.get(&wtxn, META_SCHEMA_VERSION)?;
                if version != Some(&SCHEMA_VERSION.to_be_bytes()[..]) {
                    return Err(ProtectionError::Corrupt(format!(
                        "unknown schema version {version:?}"
                    )));
                }
            }
            None => {
                tables.meta.put(
                    &mut wtxn,
                    META_GENESIS_VALIDATORS_ROOT,
                    genesis_validators_root.as_slice(),
                )?;
                tables.meta.put(
                    &mut wtxn,
                    META_SCHEMA_VERSION,
                    &SCHEMA_VERSION.to_be_bytes(),
                )?;
            }
        }
        wtxn.commit()?;
        Ok(SlashingProtection {
            env,
            tables,
            genesis_validators_root,
            path,
            writer: Mutex::new(()),
        })
    }

    pub fn genesis_validators_root(&self) -> Root {
        self.genesis_validators_root
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in a write transaction and commits it (durably) when `f` succeeds.
    fn write<T>(
        &self,
        f: impl FnOnce(&mut RwTxn<'_>, &Tables) -> Result<T, ProtectionError>,
    ) -> Result<T, ProtectionError> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut txn = self.env.write_txn()?;
        let value = f(&mut txn, &self.tables)?;
        txn.commit()?;
        Ok(value)
    }

    fn watermarks(
        txn: &RoTxn<'_, WithoutTls>,
        tables: &Tables,
        pubkey: &PublicKeyBytes,
    ) -> Result<Watermarks, ProtectionError> {
        match tables.watermarks.get(txn, pubkey)? {
            Some(bytes) => Watermarks::decode(bytes).map_err(ProtectionError::Corrupt),
            None => Ok(Watermarks::default()),
        }
    }

    /// Checks a block proposal and records it, committed before returning `Ok`.
    pub fn check_and_insert_block(
        &self,
        pubkey: &PublicKeyBytes,
        slot: Slot,
        signing_root: Root,
    ) -> Result<Safe, NotSafe> {
        let verdict = self.write(|txn, tables| {
            Ok(Self::check_and_record_block(
                txn,
                tables,
                pubkey,
                slot,
                signing_root,
            ))
        });
        match verdict {
            Ok(verdict) => verdict,
            Err(e) => Err(db_error(e)),
        }
    }

    /// The block rules inside an open write transaction (no commit).
    fn check_and_record_block(
        txn: &mut RwTxn<'_>,
        tables: &Tables,
        pubkey: &PublicKeyBytes,
        slot: Slot,
        signing_root: Root,
    ) -> Result<Safe, NotSafe> {
        let key = record_key(pubkey, slot);
        if let Some(recorded) = tables.blocks.get(txn, &key).map_err(db_error)? {
            let recorded = root_from(recorded).map_err(db_error)?;
            return if same_root(&recorded, &signing_root) {
                Ok(Safe::SameData)
            } else {
                Err(NotSafe::DoubleBlockProposal { slot })
            };
        }
        let mut marks = Self::watermarks(txn, tables, pubkey).map_err(db_error)?;
        if let Some(highest) = marks.block_slot {
            if slot <= highest {
                return Err(NotSafe::SlotNotAboveWatermark { slot, highest });
            }
        }
        tables
            .blocks
            .put(txn, &key, signing_root.as_slice())
            .map_err(db_error)?;
        marks.raise_block(slot);
        tables
            .watermarks
            .put(txn, pubkey, &marks.encode())
            .map_err(db_error)?;
        Self::prune(
            txn,
            tables.blocks,
            pubkey,
            slot.saturating_sub(BLOCK_HISTORY_SLOTS),
        )
        .map_err(db_error)?;
        Ok(Safe::Valid)
    }

    /// Checks a batch of attestations (typically one slot's) and records the safe ones in ONE
    /// write transaction, committed before returning. Items are checked in order, each against
    /// the database including the earlier items of the batch. A database failure fails every
    /// item (nothing was committed).
    pub fn check_and_insert_attestations(
        &self,
        items: &[AttestationProposal],
    ) -> Vec<Result<Safe, NotSafe>> {
        let verdicts = self.write(|txn, tables| {
            let mut verdicts = Vec::with_capacity(items.len());
            for item in items {
                let verdict = Self::check_and_record_attestation(txn, tables, item);
                // A database error mid-batch aborts the transaction: report it for every item.
                if let Err(NotSafe::Database(e)) = &verdict {
                    return Err(ProtectionError::Corrupt(e.clone()));
                }
                verdicts.push(verdict);
            }
            Ok(verdicts)
        });
        match verdicts {
            Ok(v) => v,
            Err(e) => {
                let e = db_error(e);
                items.iter().map(|_| Err(e.clone())).collect()
            }
        }
    }

    fn check_and_record_attestation(
        txn: &mut RwTxn<'_>,
        tables: &Tables,
        item: &AttestationProposal,
    ) -> Result<Safe, NotSafe> {
        let AttestationProposal {
            pubkey,
            source_epoch,
            target_epoch,
            signing_root,
        } = *item;
        if source_epoch > target_epoch {
            return Err(NotSafe::SourceExceedsTarget {
                source_epoch,
                target_epoch,
            });
        }
        let key = record_key(&pubkey, target_epoch);
        if let Some(recorded) = tables.attestations.get(txn, &key).map_err(db_error)? {
            let (recorded_source, recorded_root) =
                decode_attestation(recorded).map_err(db_error)?;
            // The signing root commits to the source too; compare it anyway for unknown roots.
            return if recorded_source == source_epoch && same_root(&recorded_root, &signing_root) {
                Ok(Safe::SameData)
            } else {
                Err(NotSafe::DoubleVote { target_epoch })
            };
        }
        let mut marks = Self::watermarks(txn, tables, &pubkey).map_err(db_error)?;
        if let Some((highest_source, highest_target)) = marks.attestation {
            if target_epoch <= highest_target {
                return Err(NotSafe::TargetNotAboveWatermark {
                    target_epoch,
                    highest: highest_target,
                });
            }
            if source_epoch < highest_source {
                return Err(NotSafe::SourceBelowWatermark {
                    source_epoch,
                    highest: highest_source,
                });
            }
        }
        tables
            .attestations
            .put(txn, &key, &encode_attestation(source_epoch, &signing_root))
            .map_err(db_error)?;
        marks.raise_attestation(source_epoch, target_epoch);
        tables
            .watermarks
            .put(txn, &pubkey, &marks.encode())
            .map_err(db_error)?;
        Self::prune(
            txn,
            tables.attestations,
            &pubkey,
            target_epoch.saturating_sub(ATTESTATION_HISTORY_EPOCHS),
        )
        .map_err(db_error)?;
        Ok(Safe::Valid)
    }

    /// Deletes `pubkey`'s records below `below` (slot or target epoch).
    fn prune(
        txn: &mut RwTxn<'_>,
        table: Table,
        pubkey: &PublicKeyBytes,
        below: u64,
    ) -> Result<usize, heed::Error> {
        if below == 0 {
            return Ok(0);
        }
        let start = record_key(pubkey, 0);
        let end = record_key(pubkey, below);
        let range = (Bound::Included(&start[..]), Bound::Excluded(&end[..]));
        table.delete_range(txn, &range)
    }

    /// Every public key with a record, in byte order.
    pub fn pubkeys(&self) -> Result<Vec<PublicKeyBytes>, ProtectionError> {
        let txn = self.env.read_txn()?;
        let mut out = Vec::new();
        for entry in self.tables.watermarks.iter(&txn)? {
            let (key, _) = entry?;
            let pubkey = PublicKeyBytes::try_from(key)
                .map_err(|_| ProtectionError::Corrupt(format!("pubkey of {} bytes", key.len())))?;
            out.push(pubkey);
        }
        Ok(out)
    }

    // -----------------------------------------------------------------------------------------
    // EIP-3076 interchange
    // -----------------------------------------------------------------------------------------

    /// Imports an EIP-3076 interchange (v5, complete or minimal form) in one transaction: all of
    /// it or nothing. Merging never lowers a watermark; a record that conflicts with one already
    /// present (same slot/target, another root) is kept with an unknown (zero) root, so neither
    /// message can be re-signed. Slashable data inside the file is thereby made harmless (the
    /// watermarks take the maximum) rather than refused.
    pub fn import_interchange(
        &self,
        interchange: &Interchange,
    ) -> Result<ImportSummary, ProtectionError> {
        let version = &interchange.metadata.interchange_format_version;
        if version != INTERCHANGE_FORMAT_VERSION {
            return Err(ProtectionError::Interchange(format!(
                "unsupported interchange_format_version {version:?} (expected \"5\")"
            )));
        }
        let gvr = parse_root(&interchange.metadata.genesis_validators_root)?;
        if gvr != self.genesis_validators_root {
            return Err(ProtectionError::GenesisValidatorsRootMismatch {
                stored: self.genesis_validators_root,
                expected: gvr,
            });
        }
        // Parse everything before writing: a malformed file imports nothing.
        let mut parsed = Vec::with_capacity(interchange.data.len());
        for entry in &interchange.data {
            let pubkey = parse_pubkey(&entry.pubkey)?;
            let blocks = entry
                .signed_blocks
                .iter()
                .map(|b| Ok((parse_u64(&b.slot)?, parse_optional_root(&b.signing_root)?)))
                .collect::<Result<Vec<_>, ProtectionError>>()?;
            let attestations = entry
                .signed_attestations
                .iter()
                .map(|a| {
                    Ok((
                        parse_u64(&a.source_epoch)?,
                        parse_u64(&a.target_epoch)?,
                        parse_optional_root(&a.signing_root)?,
                    ))
                })
                .collect::<Result<Vec<_>, ProtectionError>>()?;
            parsed.push((pubkey, blocks, attestations));
        }
        self.write(|txn, tables| {
            let mut summary = ImportSummary::default();
            for (pubkey, blocks, attestations) in &parsed {
                let mut marks = Self::watermarks(txn, tables, pubkey)?;
                for &(slot, root) in blocks {
                    let key = record_key(pubkey, slot);
                    let merged = match tables.blocks.get(txn, &key)? {
                        Some(recorded) => {
                            let recorded = root_from(recorded).map_err(ProtectionError::Corrupt)?;
                            if recorded == root {
                                None
                            } else {
                                summary.conflicts += 1;
                                Some(Root::ZERO)
                            }
                        }
                        None => Some(root),
                    };
                    if let Some(root) = merged {
                        tables.blocks.put(txn, &key, root.as_slice())?;
                    }
                    marks.raise_block(slot);
                    summary.blocks += 1;
                }
                for &(source, target, root) in attestations {
                    let key = record_key(pubkey, target);
                    let merged = match tables.attestations.get(txn, &key)? {
                        Some(recorded) => {
                            let (recorded_source, recorded_root) =
                                decode_attestation(recorded).map_err(ProtectionError::Corrupt)?;
                            if recorded_source == source && recorded_root == root {
                                None
                            } else {
                                summary.conflicts += 1;
                                // Keep the larger source: the watermark takes it anyway.
                                Some((recorded_source.max(source), Root::ZERO))
                            }
                        }
                        None => Some((source, root)),
                    };
                    if let Some((source, root)) = merged {
                        tables
                            .attestations
                            .put(txn, &key, &encode_attestation(source, &root))?;
                    }
                    marks.raise_attestation(source, target);
                    summary.attestations += 1;
                }
                tables.watermarks.put(txn, pubkey, &marks.encode())?;
                summary.validators += 1;
            }
            Ok(summary)
        })
    }

    /// Parses and imports an interchange JSON document.
    pub fn import_interchange_json(&self, json: &str) -> Result<ImportSummary, ProtectionError> {
        let interchange: Interchange = serde_json::from_str(json)
            .map_err(|e| ProtectionError::Interchange(format!("invalid JSON: {e}")))?;
        self.import_interchange(&interchange)
    }

    /// Exports every key's records (complete form). Where pruning removed the record that set a
    /// watermark, an attestation at (highest source, highest target) / a block at the highest
    /// slot, without signing root, is added so that an importer gets the same watermarks.
    pub fn export_interchange(&self) -> Result<Interchange, ProtectionError> {
        let txn = self.env.read_txn()?;
        let mut by_key: BTreeMap<PublicKeyBytes, InterchangeData> = BTreeMap::new();
        let mut marks_by_key = BTreeMap::new();
        for entry in self.tables.watermarks.iter(&txn)? {
            let (key, value) = entry?;
            let pubkey = PublicKeyBytes::try_from(key)
                .map_err(|_| ProtectionError::Corrupt(format!("pubkey of {} bytes", key.len())))?;
            let marks = Watermarks::decode(value).map_err(ProtectionError::Corrupt)?;
            marks_by_key.insert(pubkey, marks);
            by_key.insert(
                pubkey,
                InterchangeData {
                    pubkey: format!("0x{}", hex::encode(pubkey)),
                    signed_blocks: Vec::new(),
                    signed_attestations: Vec::new(),
                },
            );
        }
        let mut has_block_mark = BTreeMap::new();
        for entry in self.tables.blocks.iter(&txn)? {
            let (key, value) = entry?;
            let (pubkey, slot) = split_record_key(key).map_err(ProtectionError::Corrupt)?;
            let root = root_from(value).map_err(ProtectionError::Corrupt)?;
            if let Some(data) = by_key.get_mut(&pubkey) {
                data.signed_blocks.push(InterchangeBlock {
                    slot: slot.to_string(),
                    signing_root: root_to_optional_string(&root),
                });
                if marks_by_key.get(&pubkey).and_then(|m| m.block_slot) == Some(slot) {
                    has_block_mark.insert(pubkey, ());
                }
            }
        }
        let mut att_marks_seen: BTreeMap<PublicKeyBytes, (bool, bool)> = BTreeMap::new();
        for entry in self.tables.attestations.iter(&txn)? {
            let (key, value) = entry?;
            let (pubkey, target) = split_record_key(key).map_err(ProtectionError::Corrupt)?;
            let (source, root) = decode_attestation(value).map_err(ProtectionError::Corrupt)?;
            if let Some(data) = by_key.get_mut(&pubkey) {
                data.signed_attestations.push(InterchangeAttestation {
                    source_epoch: source.to_string(),
                    target_epoch: target.to_string(),
                    signing_root: root_to_optional_string(&root),
                });
                if let Some((s, t)) = marks_by_key.get(&pubkey).and_then(|m| m.attestation) {
                    let seen = att_marks_seen.entry(pubkey).or_default();
                    seen.0 |= source == s;
                    seen.1 |= target == t;
                }
            }
        }
        for (pubkey, marks) in &marks_by_key {
            let Some(data) = by_key.get_mut(pubkey) else {
                continue;
            };
            if let Some(slot) = marks.block_slot {
                if !has_block_mark.contains_key(pubkey) {
                    data.signed_blocks.push(InterchangeBlock {
                        slot: slot.to_string(),
                        signing_root: None,
                    });
                }
            }
            if let Some((s, t)) = marks.attestation {
                if att_marks_seen.get(pubkey) != Some(&(true, true)) {
                    data.signed_attestations.push(InterchangeAttestation {
                        source_epoch: s.to_string(),
                        target_epoch: t.to_string(),
                        signing_root: None,
                    });
                }
            }
        }
        Ok(Interchange {
            metadata: InterchangeMetadata {
                interchange_format_version: INTERCHANGE_FORMAT_VERSION.to_string(),
                genesis_validators_root: format!(
                    "0x{}",
                    hex::encode(self.genesis_validators_root.as_slice())
                ),
            },
            data: by_key.into_values().collect(),
        })
    }
}

/// What an import merged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub validators: usize,
    pub blocks: usize,
    pub attestations: usize,
    /// Records that disagreed with one already stored (kept with an unknown root).
    pub conflicts: usize,
}

/// EIP-3076 interchange document (format version 5). Numbers are decimal strings, bytes are
/// 0x-prefixed hex, as in the EIP; parsing of the strings happens on import (typed errors).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interchange {
    pub metadata: InterchangeMetadata,
    pub data: Vec<InterchangeData>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterchangeMetadata {
    pub interchange_format_version: String,
    pub genesis_validators_root: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterchangeData {
    pub pubkey: String,
    #[serde(default)]
    pub signed_blocks: Vec<InterchangeBlock>,
    #[serde(default)]
    pub signed_attestations: Vec<InterchangeAttestation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterchangeBlock {
    pub slot: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_root: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterchangeAttestation {
    pub source_epoch: String,
    pub target_epoch: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_root: Option<String>,
}

fn interchange_error(what: &str, value: &str) -> ProtectionError {
    ProtectionError::Interchange(format!("invalid {what}: {value:?}"))
}

fn parse_hex<const N: usize>(what: &str, value: &str) -> Result<[u8; N], ProtectionError> {
    let digits = value
        .strip_prefix("0x")
        .ok_or_else(|| interchange_error(what, value))?;
    let bytes = hex::decode(digits).map_err(|_| interchange_error(what, value))?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| interchange_error(what, value))
}

fn parse_root(value: &str) -> Result<Root, ProtectionError> {
    parse_hex::<32>("root", value).map(Root::from)
}

fn parse_optional_root(value: &Option<String>) -> Result<Root, ProtectionError> {
    value.as_deref().map_or(Ok(Root::ZERO), parse_root)
}

fn parse_pubkey(value: &str) -> Result<PublicKeyBytes, ProtectionError> {
    parse_hex::<48>("pubkey", value)
}

fn parse_u64(value: &str) -> Result<u64, ProtectionError> {
    value
        .parse::<u64>()
        .map_err(|_| interchange_error("uint64", value))
}

fn root_to_optional_string(root: &Root) -> Option<String> {
    (!root.is_zero()).then(|| format!("0x{}", hex::encode(root.as_slice())))
}

/// `ember slashing-protection import|export`: EIP-3076 interchange files.
#[derive(Debug, clap::Args)]
pub struct SlashingProtectionArgs {
    #[command(subcommand)]
    pub command: SlashingProtectionCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum SlashingProtectionCommand {
    /// Merge an EIP-3076 interchange file (v5, complete or minimal) into the database.
    Import(InterchangeFileArgs),
    /// Write the database as an EIP-3076 interchange file (v5, complete).
    Export(InterchangeFileArgs),
}

#[derive(Debug, clap::Args)]
pub struct InterchangeFileArgs {
    /// The node's data directory (the database is in `<datadir>/slashing_protection/`).
    #[arg(long)]
    pub datadir: PathBuf,
    /// The chain's genesis validators root (0x + 64 hex digits); the database is bound to it.
    #[arg(long)]
    pub genesis_validators_root: String,
    /// The interchange file to read (import) or write (export).
    #[arg(long)]
    pub file: PathBuf,
}

/// Runs `ember slashing-protection ...`.
pub fn run(args: &SlashingProtectionArgs) -> Result<(), ProtectionError> {
    let (SlashingProtectionCommand::Import(file_args)
    | SlashingProtectionCommand::Export(file_args)) = &args.command;
    let gvr = parse_root(&file_args.genesis_validators_root)?;
    let db = SlashingProtection::open(&file_args.datadir, gvr)?;
    let io_error = |source| ProtectionError::Io {
        path: file_args.file.display().to_string(),
        source,
    };
    match &args.command {
        SlashingProtectionCommand::Import(_) => {
            let json = std::fs::read_to_string(&file_args.file).map_err(io_error)?;
            let summary = db.import_interchange_json(&json)?;
            tracing::info!(
                validators = summary.validators,
                blocks = summary.blocks,
                attestations = summary.attestations,
                conflicts = summary.conflicts,
                "slashing protection imported"
            );
        }
        SlashingProtectionCommand::Export(_) => {
            let interchange = db.export_interchange()?;
            let json = serde_json::to_string_pretty(&interchange)
                .map_err(|e| ProtectionError::Interchange(e.to_string()))?;
            std::fs::write(&file_args.file, json).map_err(io_error)?;
            tracing::info!(
                validators = interchange.data.len(),
                file = %file_args.file.display(),
                "slashing protection exported"
            );
        }
    }
    Ok(())
}
