//! The LMDB environment: tables, transactions, and the map-size policy.
//!
//! Durability: the environment is opened with LMDB's default flags — no `NO_SYNC`,
//! `NO_META_SYNC` or `WRITE_MAP` — so a commit returns only after the data pages and then the
//! meta page are on disk (`fdatasync`). LMDB is copy-on-write with two meta pages: a crash at any
//! moment (SIGKILL, OOM kill, power loss on a disk that honours flushes) leaves the last
//! committed transaction intact and nothing of a later one. No recovery step is run at open;
//! stale reader slots left by a killed process are cleared.
//!
//! Map size (small boards): LMDB maps the whole file; the map size is address space, not
//! memory, but a large up-front map fails on 32-bit systems and under strict overcommit
//! ("Cannot allocate memory"). Ember starts at [`MapPolicy::initial`] (256 MiB, or the file's
//! size plus one step when that is larger) and grows inside the write path: a write that hits
//! `MDB_MAP_FULL` is aborted, the map grows (doubling up to 1 GiB, then +1 GiB steps, capped by
//! [`MapPolicy::max`]) and the whole write transaction is run again. The file itself grows only
//! as pages are written. Every size is a multiple of 64 KiB, which is a multiple of every page
//! size Linux uses (4 KiB, 16 KiB on the Raspberry Pi 5's kernel, 64 KiB); the database's own
//! page size is the one LMDB read from the file (reported by [`Lmdb::page_size`]), so a database
//! made on a 4K-page board opens on a 16K-page one.
//!
//! Concurrency: one writer at a time (a mutex); readers run in parallel with the writer. Growing
//! the map requires that no transaction be open in this process, so every transaction holds a
//! shared `gate` lock and growing takes it exclusively.

use super::error::{Result, StoreError};
use heed::types::Bytes;
use heed::{CommitOrAbort, Database, Env, EnvOpenOptions, MdbError, RoTxn, RwTxn, WithoutTls};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

/// Every map size is a multiple of this (a multiple of 4K, 16K and 64K pages).
pub const MAP_ALIGN: usize = 64 * 1024;
const MIB: usize = 1024 * 1024;
const GIB: usize = 1024 * MIB;

/// A table: raw byte keys and values; the encodings are in `schema`.
pub type Table = Database<'static, Bytes, Bytes>;
/// A read transaction (usable from any thread).
pub type ReadTxn<'e> = RoTxn<'e, WithoutTls>;

/// How the memory map starts and grows.
#[derive(Debug, Clone, Copy)]
pub struct MapPolicy {
    /// Map size of a new environment (rounded up to [`MAP_ALIGN`]).
    pub initial: usize,
    /// The map never grows past this; a write that does not fit fails with
    /// [`StoreError::MapFull`].
    pub max: usize,
}

impl Default for MapPolicy {
    fn default() -> Self {
        MapPolicy {
            initial: 256 * MIB,
            // 64-bit: 1 TiB of address space is free to reserve incrementally. 32-bit userland
            // (armv7 Raspberry Pi OS) has ~3 GiB of address space for everything: stay at 2 GiB.
            max: if usize::BITS >= 64 {
                1usize << 40
            } else {
                2 * GIB - MAP_ALIGN
            },
        }
    }
}

impl MapPolicy {
    /// The next map size after `current` filled up: double below 1 GiB, then +1 GiB.
    pub fn next(&self, current: usize) -> Result<usize> {
        let grown = if current < GIB {
            current.saturating_mul(2).max(MAP_ALIGN)
        } else {
            current.saturating_add(GIB)
        };
        let grown = align_up(grown.min(self.max));
        if grown <= current || grown > self.max {
            return Err(StoreError::MapFull {
                map_size: current,
                limit: self.max,
            });
        }
        Ok(grown)
    }
}

fn align_up(size: usize) -> usize {
    size.div_ceil(MAP_ALIGN).saturating_mul(MAP_ALIGN)
}

/// The tables. Keys and values are documented in `schema`.
#[derive(Debug, Clone, Copy)]
pub struct Tables {
    pub meta: Table,
    pub pointers: Table,
    pub blocks: Table,
    pub block_meta: Table,
    pub canonical: Table,
    pub hot: Table,
    pub summaries: Table,
    pub states: Table,
    pub snapshots: Table,
    pub pubkeys: Table,
    pub fork_choice: Table,
}

impl Tables {
    /// Every table with its name, for statistics.
    pub fn all(&self) -> [(&'static str, Table); 11] {
        [
            ("meta", self.meta),
            ("pointers", self.pointers),
            ("blocks", self.blocks),
            ("block_meta", self.block_meta),
            ("canonical", self.canonical),
            ("hot", self.hot),
            ("summaries", self.summaries),
            ("states", self.states),
            ("snapshots", self.snapshots),
            ("pubkeys", self.pubkeys),
            ("fork_choice", self.fork_choice),
        ]
    }
}

/// Size of one table on disk.
#[derive(Debug, Clone, Copy, Default)]
pub struct TableStat {
    pub entries: usize,
    /// (branch + leaf + overflow pages) × page size.
    pub bytes: u64,
}

/// An open LMDB environment with Ember's tables.
pub struct Lmdb {
    env: Env<WithoutTls>,
    tables: Tables,
    path: PathBuf,
    policy: MapPolicy,
    /// Shared by every open transaction; taken exclusively to resize the map.
    gate: RwLock<()>,
    /// One writer at a time.
    writer: Mutex<()>,
    resizes: AtomicU64,
}

impl std::fmt::Debug for Lmdb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lmdb")
            .field("path", &self.path)
            .field("map_size", &self.map_size())
            .finish()
    }
}

impl Lmdb {
    /// Opens (creating if needed) the environment in directory `dir`.
    pub fn open(dir: &Path, policy: MapPolicy) -> Result<Lmdb> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        // A reopened database keeps room to grow: at least its file size plus one step.
        let file_size = std::fs::metadata(dir.join("data.mdb"))
            .map(|m| usize::try_from(m.len()).unwrap_or(usize::MAX))
            .unwrap_or(0);
        let mut map_size = align_up(policy.initial.max(MAP_ALIGN));
        while map_size <= file_size {
            map_size = policy.next(map_size)?;
        }
        let mut options = EnvOpenOptions::new().read_txn_without_tls();
        options.map_size(map_size).max_dbs(16).max_readers(126);
        // SAFETY (heed's `open` contract): the files are only ever changed through LMDB, one
        // node per data directory; no unsafe flags (NO_SYNC, NO_LOCK, ...) are set.
        let env = unsafe { options.open(dir) }?;
        // Reader slots of a process that was killed mid-read.
        env.clear_stale_readers()?;
        let wtxn = env.write_txn()?;
        let created = env.create_databases_and_commit(wtxn, |opener, wtxn| {
            let mut create = |name: &str| opener.create_database::<Bytes, Bytes>(wtxn, Some(name));
            let all = [
                create("meta")?,
                create("pointers")?,
                create("blocks")?,
                create("block_meta")?,
                create("canonical")?,
                create("hot")?,
                create("summaries")?,
                create("states")?,
                create("snapshots")?,
                create("pubkeys")?,
                create("fork_choice")?,
            ];
            Ok::<_, heed::Error>(CommitOrAbort::<_, ()>::Commit(all))
        })?;
        let CommitOrAbort::Commit(
            [meta, pointers, blocks, block_meta, canonical, hot, summaries, states, snapshots, pubkeys, fork_choice],
        ) = created
        else {
            return Err(StoreError::Inconsistent(
                "creating the tables was aborted".into(),
            ));
        };
        let tables = Tables {
            meta,
            pointers,
            blocks,
            block_meta,
            canonical,
            hot,
            summaries,
            states,
            snapshots,
            pubkeys,
            fork_choice,
        };
        Ok(Lmdb {
            env,
            tables,
            path: dir.to_path_buf(),
            policy,
            gate: RwLock::new(()),
            writer: Mutex::new(()),
            resizes: AtomicU64::new(0),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// Runs `f` in a read transaction.
    pub fn read<T>(&self, f: impl FnOnce(&ReadTxn<'_>, &Tables) -> Result<T>) -> Result<T> {
        let _gate = self.gate.read().unwrap_or_else(|p| p.into_inner());
        let txn = self.env.read_txn()?;
        f(&txn, &self.tables)
    }

    /// Runs `f` in a write transaction and commits it: all of `f`'s writes or none. `f` may be
    /// run more than once: when the map fills up, the transaction is aborted, the map grows and
    /// `f` runs again on a fresh transaction. `f` must not call [`Lmdb::read`] (it reads through
    /// the write transaction it is given).
    pub fn write<T>(&self, mut f: impl FnMut(&mut RwTxn<'_>, &Tables) -> Result<T>) -> Result<T> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let attempt = {
                let _gate = self.gate.read().unwrap_or_else(|p| p.into_inner());
                let mut txn = self.env.write_txn()?;
                match f(&mut txn, &self.tables) {
                    Ok(value) => txn.commit().map(|()| value).map_err(StoreError::from),
                    // Dropping `txn` aborts it.
                    Err(e) => Err(e),
                }
            };
            match attempt {
                Err(StoreError::Lmdb(heed::Error::Mdb(MdbError::MapFull))) => self.grow()?,
                other => return other,
            }
        }
    }

    /// Grows the map one step. Called with no transaction of this process open (the writer
    /// mutex is held, the gate is taken exclusively).
    fn grow(&self) -> Result<()> {
        let _gate = self.gate.write().unwrap_or_else(|p| p.into_inner());
        let current = self.env.info().map_size;
        let next = self.policy.next(current)?;
        // SAFETY: the exclusive gate guarantees no transaction of this process is open.
        unsafe { self.env.resize(next) }?;
        self.resizes.fetch_add(1, Ordering::Relaxed);
        tracing::info!(from = current, to = next, "LMDB map grown");
        Ok(())
    }

    /// Current map size in bytes.
    pub fn map_size(&self) -> usize {
        self.env.info().map_size
    }

    /// Map resizes since open.
    pub fn resizes(&self) -> u64 {
        self.resizes.load(Ordering::Relaxed)
    }

    /// The database's page size (read from the file by LMDB).
    pub fn page_size(&self) -> u32 {
        self.env.unnamed_database_stat().page_size
    }

    /// Bytes the data file takes (its length; LMDB reuses freed pages before growing it).
    pub fn file_size(&self) -> Result<u64> {
        Ok(self.env.real_disk_size()?)
    }

    /// Entries and bytes of every table.
    pub fn table_stats(&self) -> Result<Vec<(&'static str, TableStat)>> {
        self.read(|txn, tables| {
            let mut out = Vec::new();
            for (name, table) in tables.all() {
                let stat = table.stat(txn)?;
                let pages = stat
                    .branch_pages
                    .saturating_add(stat.leaf_pages)
                    .saturating_add(stat.overflow_pages);
                out.push((
                    name,
                    TableStat {
                        entries: stat.entries,
                        bytes: (pages as u64).saturating_mul(u64::from(stat.page_size)),
                    },
                ));
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_policy_steps() {
        let p = MapPolicy {
            initial: 256 * MIB,
            max: 3 * GIB,
        };
        assert_eq!(p.next(256 * MIB).unwrap(), 512 * MIB);
        assert_eq!(p.next(512 * MIB).unwrap(), GIB);
        assert_eq!(p.next(GIB).unwrap(), 2 * GIB);
        assert_eq!(p.next(2 * GIB).unwrap(), 3 * GIB);
        assert!(matches!(p.next(3 * GIB), Err(StoreError::MapFull { .. })));
        assert_eq!(p.next(0).unwrap() % MAP_ALIGN, 0);
    }

    #[test]
    fn writes_grow_a_tiny_map() {
        let dir = std::env::temp_dir().join(format!("ember-lmdb-grow-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let policy = MapPolicy {
            initial: MAP_ALIGN * 4,
            max: 64 * MIB,
        };
        let db = Lmdb::open(&dir, policy).unwrap();
        let value = vec![7u8; 1024 * 1024];
        for i in 0u32..8 {
            db.write(|txn, t| {
                t.blocks.put(txn, &i.to_be_bytes(), &value)?;
                Ok(())
            })
            .unwrap();
        }
        assert!(db.resizes() > 0);
        assert!(db.map_size() > policy.initial);
        let n = db.read(|txn, t| Ok(t.blocks.len(txn)?)).unwrap();
        assert_eq!(n, 8);
        drop(db);
        // Reopening with the same small initial size keeps the data and room to grow.
        let db = Lmdb::open(&dir, policy).unwrap();
        assert!(db.map_size() as u64 > db.file_size().unwrap());
        assert_eq!(db.read(|txn, t| Ok(t.blocks.len(txn)?)).unwrap(), 8);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
