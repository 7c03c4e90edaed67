//! The networking spec's helper functions (`p2p-interface.md`, Fulu `das-core.md`): fork
//! digests, ENR fork ids, subnets, custody groups. Pure functions: the network layer and the
//! node's gossip validation call them.

use super::transition::block::get_blob_parameters;
use super::transition::helpers::compute_fork_data_root;
use crate::consensus::config::ChainConfig;
use crate::consensus::primitives::*;
use ethereum_hashing::hash_fixed;
use ssz_derive::{Decode, Encode};

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
}
