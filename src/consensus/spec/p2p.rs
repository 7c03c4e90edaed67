//! The networking spec's helper functions (`p2p-interface.md`, Fulu `das-core.md`): fork
//! digests, ENR fork ids, subnets, custody groups. Pure functions: the network layer and the
//! node's gossip validation call them.

use super::transition::block::get_blob_parameters;
use super::transition::helpers::{compute_fork_data_root, is_valid_merkle_branch};
use super::{DataColumnSidecar, PRESET};
use crate::consensus::config::ChainConfig;
use crate::consensus::primitives::*;
use ethereum_hashing::hash_fixed;
use ssz_derive::{Decode, Encode};
use tree_hash::TreeHash;

/// fulu p2p-interface `verify_data_column_sidecar` (structure: index, commitment count within
/// the epoch's blob limit, as many cells and proofs) and `verify_data_column_sidecar_kzg_proofs`
/// (the cells against commitments and proofs in one `verify_cell_kzg_proof_batch`): shared
/// with fork choice's data-availability check, which defines them.
pub use super::fork_choice::{verify_data_column_sidecar, verify_data_column_sidecar_kzg_proofs};
/// validator.md "Attestation subnet subscription": `compute_subnet_for_attestation` (lives
/// beside the other validator-guide functions; re-exported here for the network code).
pub use super::validator::compute_subnet_for_attestation;
/// altair validator.md "Sync committee subnet": `compute_subnets_for_sync_committee`.
pub use super::validator::compute_subnets_for_sync_committee;
/// altair validator.md "Constants": `SYNC_COMMITTEE_SUBNET_COUNT`.
pub use super::validator::SYNC_COMMITTEE_SUBNET_COUNT;

/// phase0 p2p-interface "Constants": `NODE_ID_BITS`.
pub const NODE_ID_BITS: u64 = 256;
/// fulu p2p-interface "Preset": `KZG_COMMITMENTS_INCLUSION_PROOF_DEPTH`.
pub const KZG_COMMITMENTS_INCLUSION_PROOF_DEPTH: u64 = 4;
/// `get_subtree_index(get_generalized_index(BeaconBlockBody, "blob_kzg_commitments"))`:
/// `blob_kzg_commitments` is field 11 of the 13 fields of the (Electra/Fulu) `BeaconBlockBody`,
/// whose 16-leaf tree puts it at generalized index 16 + 11 = 27, subtree index 11.
pub const BLOB_KZG_COMMITMENTS_SUBTREE_INDEX: u64 = 11;

/// A spec `assert` of the networking functions failed (the input is out of range).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum P2pError {
    #[error("custody group count {count} > NUMBER_OF_CUSTODY_GROUPS {max}")]
    CustodyGroupCount { count: u64, max: u64 },
    #[error("custody group {group} >= NUMBER_OF_CUSTODY_GROUPS {max}")]
    CustodyGroup { group: u64, max: u64 },
    #[error("config value out of range: {0}")]
    Config(&'static str),
}

/// A 256-bit `NodeID` (big-endian, as discv5 computes it) modulo `m` (> 0).
fn node_id_mod(node_id: &[u8; 32], m: u64) -> u64 {
    let m = u128::from(m.max(1));
    let mut r: u128 = 0;
    for b in node_id {
        // r < m <= 2^64, so r * 256 + 255 < 2^73: no overflow.
        r = (r.wrapping_shl(8) | u128::from(*b))
            .checked_rem(m)
            .unwrap_or(0);
    }
    u64::try_from(r).unwrap_or(0)
}

/// The top `bits` (<= 64) bits of a big-endian 256-bit `NodeID`: `node_id >> (NODE_ID_BITS -
/// bits)`.
fn node_id_prefix(node_id: &[u8; 32], bits: u32) -> u64 {
    let mut top = [0u8; 8];
    for (out, b) in top.iter_mut().zip(node_id.iter()) {
        *out = *b;
    }
    let top = u64::from_be_bytes(top);
    match bits {
        0 => 0,
        b if b >= 64 => top,
        b => top.checked_shr(64u32.saturating_sub(b)).unwrap_or(0),
    }
}

/// phase0 p2p-interface `compute_attestation_subnet_prefix_bits`:
/// `ceillog2(ATTESTATION_SUBNET_COUNT) + ATTESTATION_SUBNET_EXTRA_BITS`.
pub fn compute_attestation_subnet_prefix_bits(config: &ChainConfig) -> u64 {
    let count = config.attestation_subnet_count.max(1);
    let ceillog2 = u64::from(64u32.saturating_sub(count.saturating_sub(1).leading_zeros()));
    ceillog2.saturating_add(config.attestation_subnet_extra_bits)
}

/// phase0 p2p-interface "Attestation subnet subscription": `compute_subscribed_subnet`
/// (`node_id` is the 32-byte discv5 node id, read as a big-endian uint256).
pub fn compute_subscribed_subnet(
    config: &ChainConfig,
    node_id: &[u8; 32],
    epoch: Epoch,
    index: u64,
) -> Result<u64, P2pError> {
    let prefix_bits = u32::try_from(compute_attestation_subnet_prefix_bits(config))
        .ok()
        .filter(|b| *b <= 40)
        .ok_or(P2pError::Config("ATTESTATION_SUBNET_PREFIX_BITS"))?;
    let node_id_prefix = node_id_prefix(node_id, prefix_bits);
    let per = config.epochs_per_subnet_subscription;
    let node_offset = node_id_mod(node_id, per);
    let period = epoch
        .checked_add(node_offset)
        .and_then(|e| e.checked_div(per))
        .ok_or(P2pError::Config("EPOCHS_PER_SUBNET_SUBSCRIPTION"))?;
    let permutation_seed = hash_fixed(&period.to_le_bytes());
    let permutated_prefix = crate::consensus::shuffling::compute_shuffled_index(
        node_id_prefix,
        1u64.checked_shl(prefix_bits).unwrap_or(u64::MAX),
        &permutation_seed,
        PRESET.shuffle_round_count,
    )
    .map_err(|_| P2pError::Config("ATTESTATION_SUBNET_PREFIX_BITS"))?;
    permutated_prefix
        .checked_add(index)
        .and_then(|s| s.checked_rem(config.attestation_subnet_count))
        .ok_or(P2pError::Config("ATTESTATION_SUBNET_COUNT"))
}

/// phase0 p2p-interface "Attestation subnet subscription": `compute_subscribed_subnets`.
pub fn compute_subscribed_subnets(
    config: &ChainConfig,
    node_id: &[u8; 32],
    epoch: Epoch,
) -> Result<Vec<u64>, P2pError> {
    (0..config.subnets_per_node)
        .map(|index| compute_subscribed_subnet(config, node_id, epoch, index))
        .collect()
}

/// fulu das-core.md `get_custody_groups` (`node_id` big-endian as discv5 computes it; the
/// spec hashes `uint_to_bytes(uint256)`, i.e. little-endian 32 bytes, incrementing with wrap).
pub fn get_custody_groups(
    config: &ChainConfig,
    node_id: &[u8; 32],
    custody_group_count: u64,
) -> Result<Vec<CustodyIndex>, P2pError> {
    let groups = config.number_of_custody_groups;
    if custody_group_count > groups {
        return Err(P2pError::CustodyGroupCount {
            count: custody_group_count,
            max: groups,
        });
    }
    if custody_group_count == groups {
        return Ok((0..groups).collect());
    }
    let mut current_id = *node_id;
    current_id.reverse(); // little-endian from here on
    let mut custody_groups: Vec<CustodyIndex> = Vec::new();
    while u64::try_from(custody_groups.len()).unwrap_or(u64::MAX) < custody_group_count {
        let digest = hash_fixed(&current_id);
        let mut first = [0u8; 8];
        for (out, b) in first.iter_mut().zip(digest.iter()) {
            *out = *b;
        }
        let custody_group = u64::from_le_bytes(first)
            .checked_rem(groups)
            .ok_or(P2pError::Config("NUMBER_OF_CUSTODY_GROUPS"))?;
        if !custody_groups.contains(&custody_group) {
            custody_groups.push(custody_group);
        }
        // current_id += 1, UINT256_MAX wrapping to 0 (the spec's overflow prevention).
        for byte in current_id.iter_mut() {
            let (next, carry) = byte.overflowing_add(1);
            *byte = next;
            if !carry {
                break;
            }
        }
    }
    custody_groups.sort_unstable();
    Ok(custody_groups)
}

/// fulu das-core.md `compute_columns_for_custody_group`.
pub fn compute_columns_for_custody_group(
    config: &ChainConfig,
    custody_group: CustodyIndex,
) -> Result<Vec<ColumnIndex>, P2pError> {
    let groups = config.number_of_custody_groups;
    if custody_group >= groups {
        return Err(P2pError::CustodyGroup {
            group: custody_group,
            max: groups,
        });
    }
    let columns_per_group = PRESET.number_of_columns.checked_div(groups).unwrap_or(0);
    (0..columns_per_group)
        .map(|i| {
            groups
                .checked_mul(i)
                .and_then(|c| c.checked_add(custody_group))
                .ok_or(P2pError::Config("NUMBER_OF_CUSTODY_GROUPS"))
        })
        .collect()
}

/// fulu p2p-interface "data_column_sidecar_{subnet_id}": `compute_subnet_for_data_column_sidecar`.
pub fn compute_subnet_for_data_column_sidecar(
    config: &ChainConfig,
    column_index: ColumnIndex,
) -> u64 {
    column_index
        .checked_rem(config.data_column_sidecar_subnet_count)
        .unwrap_or(0)
}

/// fulu p2p-interface `verify_data_column_sidecar_inclusion_proof`: the commitments are the
/// block body's `blob_kzg_commitments` under the header's `body_root`.
pub fn verify_data_column_sidecar_inclusion_proof(sidecar: &DataColumnSidecar) -> bool {
    let branch: Vec<Hash256> = sidecar
        .kzg_commitments_inclusion_proof
        .iter()
        .copied()
        .collect();
    is_valid_merkle_branch(
        sidecar.kzg_commitments.tree_hash_root(),
        &branch,
        KZG_COMMITMENTS_INCLUSION_PROOF_DEPTH,
        BLOB_KZG_COMMITMENTS_SUBTREE_INDEX,
        sidecar.signed_block_header.message.body_root,
    )
}

/// Spec phase0 p2p-interface `ENRForkID`: the `eth2` ENR field.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct ENRForkID {
    pub fork_digest: ForkDigest,
    pub next_fork_version: Version,
    pub next_fork_epoch: Epoch,
}

/// Spec `compute_fork_version` for the forks Ember runs (Electra onwards; earlier epochs get
/// Electra's version, as a devnet started in Fulu never sees them).
pub fn compute_fork_version(config: &ChainConfig, epoch: Epoch) -> Version {
    if epoch >= config.fulu_fork_epoch {
        config.fulu_fork_version
    } else {
        config.electra_fork_version
    }
}

/// Spec fulu `compute_fork_digest` (EIP-7892): from Fulu on, the base digest is xor-ed with the
/// hash of the blob parameters in force at `epoch`.
pub fn compute_fork_digest(
    config: &ChainConfig,
    genesis_validators_root: Root,
    epoch: Epoch,
) -> ForkDigest {
    let fork_version = compute_fork_version(config, epoch);
    let base_digest = compute_fork_data_root(fork_version, genesis_validators_root);
    let mut digest = [0u8; 4];
    if epoch < config.fulu_fork_epoch {
        for (out, b) in digest.iter_mut().zip(base_digest.as_slice()) {
            *out = *b;
        }
        return ForkDigest::from(digest);
    }
    let blob_parameters = get_blob_parameters(config, epoch);
    let mut input = [0u8; 16];
    let params = blob_parameters
        .epoch
        .to_le_bytes()
        .into_iter()
        .chain(blob_parameters.max_blobs_per_block.to_le_bytes());
    for (out, b) in input.iter_mut().zip(params) {
        *out = b;
    }
    let mask = hash_fixed(&input);
    for (out, (a, b)) in digest
        .iter_mut()
        .zip(base_digest.as_slice().iter().zip(mask.iter()))
    {
        *out = a ^ b;
    }
    ForkDigest::from(digest)
}

/// The `eth2` ENR field at `epoch`: the current digest and the next scheduled fork (none after
/// Fulu here: `next_fork_version` = current, `next_fork_epoch` = FAR_FUTURE_EPOCH), or the next
/// blob-parameter change (EIP-7892 BPO forks change the digest too; their epoch is announced).
pub fn compute_enr_fork_id(
    config: &ChainConfig,
    genesis_validators_root: Root,
    epoch: Epoch,
) -> ENRForkID {
    let fork_digest = compute_fork_digest(config, genesis_validators_root, epoch);
    let current_version = compute_fork_version(config, epoch);
    if epoch < config.fulu_fork_epoch {
        return ENRForkID {
            fork_digest,
            next_fork_version: config.fulu_fork_version,
            next_fork_epoch: config.fulu_fork_epoch,
        };
    }
    let next_bpo = config
        .blob_schedule
        .iter()
        .map(|entry| entry.epoch)
        .filter(|e| *e > epoch)
        .min();
    ENRForkID {
        fork_digest,
        next_fork_version: current_version,
        next_fork_epoch: next_bpo.unwrap_or(FAR_FUTURE_EPOCH),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::preset::PresetName;

    #[test]
    fn fork_digest_changes_with_blob_parameters() {
        let mut config = ChainConfig::for_preset(PresetName::Minimal).with_forks_at_genesis();
        config.blob_schedule.clear();
        let gvr = Root::repeat_byte(7);
        let fulu = compute_fork_digest(&config, gvr, 0);
        let base = compute_fork_data_root(config.fulu_fork_version, gvr);
        // With no schedule the parameters are Electra's (epoch 0, 9 blobs): the digest is the
        // base digest masked by their hash, so it differs from the base digest.
        assert_ne!(fulu.as_slice(), &base.as_slice()[..4]);
        config.fulu_fork_epoch = 10;
        let electra = compute_fork_digest(&config, gvr, 0);
        let base = compute_fork_data_root(config.electra_fork_version, gvr);
        assert_eq!(electra.as_slice(), &base.as_slice()[..4]);
        let id = compute_enr_fork_id(&config, gvr, 0);
        assert_eq!(id.next_fork_epoch, 10);
        assert_eq!(id.next_fork_version, config.fulu_fork_version);
    }

    /// A decimal uint256 (as the spec tests write node ids) as 32 big-endian bytes.
    fn node_id(decimal: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for digit in decimal.bytes() {
            let mut carry = u32::from(digit - b'0');
            for byte in out.iter_mut().rev() {
                let v = u32::from(*byte) * 10 + carry;
                *byte = (v & 0xff) as u8;
                carry = v >> 8;
            }
        }
        out
    }

    fn config() -> ChainConfig {
        ChainConfig::for_preset(PresetName::Minimal).with_forks_at_genesis()
    }

    #[test]
    fn get_custody_groups_matches_the_spec_vectors() {
        // consensus-spec-tests minimal/fulu/networking/get_custody_groups.
        let config = config();
        let max = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
        let max_minus_1 =
            "115792089237316195423570985008687907853269984665640564039457584007913129639934";
        let cases: &[(&str, u64, &[u64])] = &[
            (
                "84065159290331321853352677657753050104170032838956724170714636178275273565505",
                6,
                &[27, 29, 58, 67, 96, 117],
            ),
            (
                "51781405571328938149219259614021022118347017557305093857689627172914154745642",
                47,
                &[
                    3, 6, 7, 8, 9, 12, 25, 26, 29, 30, 32, 40, 42, 47, 52, 53, 54, 55, 56, 57, 69,
                    70, 71, 72, 74, 77, 80, 81, 83, 88, 93, 94, 95, 98, 101, 105, 106, 112, 114,
                    116, 118, 120, 121, 123, 124, 125, 127,
                ],
            ),
            // The id wraps from UINT256_MAX to 0.
            (max, 4, &[1, 47, 87, 102]),
            (max_minus_1, 4, &[1, 47, 87, 102]),
            (max, 0, &[]),
            ("0", 0, &[]),
            ("1048576", 1, &[65]),
        ];
        for (id, count, expected) in cases {
            assert_eq!(
                get_custody_groups(&config, &node_id(id), *count).unwrap(),
                expected.to_vec(),
                "{id} {count}"
            );
        }
        let all = get_custody_groups(&config, &node_id("0"), 128).unwrap();
        assert_eq!(all, (0..128).collect::<Vec<_>>());
        assert!(matches!(
            get_custody_groups(&config, &node_id("0"), 129),
            Err(P2pError::CustodyGroupCount { .. })
        ));
    }

    #[test]
    fn custody_group_columns_and_subnets() {
        // minimal/fulu/networking/compute_columns_for_custody_group: 128 columns over 128
        // groups, one column each.
        let config = config();
        for group in [0, 33, 54, 55, 127] {
            assert_eq!(
                compute_columns_for_custody_group(&config, group).unwrap(),
                vec![group]
            );
        }
        assert!(compute_columns_for_custody_group(&config, 128).is_err());
        let mut halved = config.clone();
        halved.number_of_custody_groups = 64;
        assert_eq!(
            compute_columns_for_custody_group(&halved, 5).unwrap(),
            vec![5, 69]
        );
        assert_eq!(compute_subnet_for_data_column_sidecar(&config, 127), 127);
        let mut fewer = config.clone();
        fewer.data_column_sidecar_subnet_count = 32;
        assert_eq!(compute_subnet_for_data_column_sidecar(&fewer, 127), 31);
    }

    #[test]
    fn subscribed_subnets_follow_the_spec_formula() {
        // Expected values computed with the spec's `compute_subscribed_subnet` and
        // `compute_shuffled_index` (SHUFFLE_ROUND_COUNT 90 mainnet, 10 minimal).
        let config = config();
        assert_eq!(compute_attestation_subnet_prefix_bits(&config), 6);
        let mainnet = PRESET.shuffle_round_count == 90;
        let mut a = [0u8; 32];
        a[0] = 0x80;
        a[30] = 0x30;
        a[31] = 0x39; // 2**255 + 12345
        let mut b = [0u8; 32];
        b[6] = 0xab;
        b[7] = 0xcd;
        b[8] = 0xef; // 0xabcdef << 200
        type Case = ([u8; 32], u64, [u64; 2], [u64; 2]);
        let cases: [Case; 3] = [
            (a, 100, [27, 28], [41, 42]),
            (b, 7, [49, 50], [62, 63]),
            ([0u8; 32], 0, [49, 50], [62, 63]),
        ];
        for (id, epoch, on_mainnet, on_minimal) in cases {
            let expected = if mainnet { on_mainnet } else { on_minimal };
            assert_eq!(
                compute_subscribed_subnets(&config, &id, epoch).unwrap(),
                expected.to_vec()
            );
        }
        // Stable within a subscription period (node offset 0x39 = 57: epochs 0..199 share
        // period 0 for id `a`).
        assert_eq!(
            compute_subscribed_subnets(&config, &a, 0).unwrap(),
            compute_subscribed_subnets(&config, &a, 198).unwrap()
        );
    }

    #[test]
    fn sidecar_structure_and_kzg_proofs() {
        use super::super::{DataColumnSidecar, KZGCommitment, KZGProof};
        // The zero blob: commitment and every proof are the point at infinity, every cell is
        // zero (its polynomial is zero everywhere).
        let mut infinity = [0u8; 48];
        infinity[0] = 0xc0;
        let sidecar = DataColumnSidecar {
            index: 5,
            kzg_commitments: ssz_types::VariableList::new(vec![KZGCommitment::from(infinity); 2])
                .unwrap(),
            kzg_proofs: ssz_types::VariableList::new(vec![KZGProof::from(infinity); 2]).unwrap(),
            column: ssz_types::VariableList::new(vec![Default::default(); 2]).unwrap(),
            ..Default::default()
        };
        let config = config();
        assert!(verify_data_column_sidecar(&config, &sidecar));
        assert!(verify_data_column_sidecar_kzg_proofs(&sidecar));
        // A cell that is not the polynomial's evaluation (a valid field element, 1, in its
        // first slot) fails.
        let mut bad = sidecar.clone();
        let mut cell = bad.column[1].to_vec();
        cell[31] = 1;
        bad.column[1] = ssz_types::FixedVector::new(cell).unwrap();
        assert!(!verify_data_column_sidecar_kzg_proofs(&bad));
        // Structure: index out of range, no commitments, fewer proofs than commitments.
        let mut bad = sidecar.clone();
        bad.index = PRESET.number_of_columns;
        assert!(!verify_data_column_sidecar(&config, &bad));
        let mut bad = sidecar.clone();
        bad.kzg_commitments = Default::default();
        assert!(!verify_data_column_sidecar(&config, &bad));
        let mut bad = sidecar.clone();
        bad.kzg_proofs = ssz_types::VariableList::new(vec![KZGProof::from(infinity)]).unwrap();
        assert!(!verify_data_column_sidecar(&config, &bad));
    }

    #[test]
    fn sidecar_inclusion_proof_against_the_body_root() {
        use super::super::{BeaconBlockBody, DataColumnSidecar, KZGCommitment};
        use tree_hash::TreeHash;
        let body = BeaconBlockBody {
            graffiti: Hash256::repeat_byte(9),
            blob_kzg_commitments: ssz_types::VariableList::new(vec![
                KZGCommitment::repeat_byte(3);
                2
            ])
            .unwrap(),
            ..Default::default()
        };
        // The body's 13 field roots, padded to 16 leaves.
        let fields = [
            body.randao_reveal.tree_hash_root(),
            body.eth1_data.tree_hash_root(),
            body.graffiti.tree_hash_root(),
            body.proposer_slashings.tree_hash_root(),
            body.attester_slashings.tree_hash_root(),
            body.attestations.tree_hash_root(),
            body.deposits.tree_hash_root(),
            body.voluntary_exits.tree_hash_root(),
            body.sync_aggregate.tree_hash_root(),
            body.execution_payload.tree_hash_root(),
            body.bls_to_execution_changes.tree_hash_root(),
            body.blob_kzg_commitments.tree_hash_root(),
            body.execution_requests.tree_hash_root(),
            Hash256::ZERO,
            Hash256::ZERO,
            Hash256::ZERO,
        ];
        let h = |a: &Hash256, b: &Hash256| {
            Hash256::from(ethereum_hashing::hash32_concat(a.as_slice(), b.as_slice()))
        };
        let level1: Vec<Hash256> = fields.chunks(2).map(|p| h(&p[0], &p[1])).collect();
        let level2: Vec<Hash256> = level1.chunks(2).map(|p| h(&p[0], &p[1])).collect();
        let level3: Vec<Hash256> = level2.chunks(2).map(|p| h(&p[0], &p[1])).collect();
        assert_eq!(h(&level3[0], &level3[1]), body.tree_hash_root());
        // Leaf 11: siblings 10, (8,9), (12..15), (0..7).
        let branch = vec![fields[10], level1[4], level2[3], level3[0]];
        let mut sidecar = DataColumnSidecar {
            kzg_commitments: body.blob_kzg_commitments.clone(),
            kzg_commitments_inclusion_proof: ssz_types::FixedVector::new(branch).unwrap(),
            ..Default::default()
        };
        sidecar.signed_block_header.message.body_root = body.tree_hash_root();
        assert!(verify_data_column_sidecar_inclusion_proof(&sidecar));
        // Another commitment list, or another body, fails.
        let mut other = sidecar.clone();
        other.kzg_commitments =
            ssz_types::VariableList::new(vec![KZGCommitment::repeat_byte(3)]).unwrap();
        assert!(!verify_data_column_sidecar_inclusion_proof(&other));
        let mut other = sidecar.clone();
        other.signed_block_header.message.body_root = Hash256::repeat_byte(1);
        assert!(!verify_data_column_sidecar_inclusion_proof(&other));
    }
}
