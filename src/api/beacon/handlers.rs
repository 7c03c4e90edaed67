//! The endpoints: path routing, parameters, JSON/SSZ bodies. Each handler names its beacon-APIs
//! path and operation; bodies follow the spec's schemas (uints as decimal strings, bytes as
//! 0x-hex, `execution_optimistic` / `finalized` where the schema has them, `version` plus the
//! `Eth-Consensus-Version` header on fork-versioned responses).

use super::super::spec;
use super::super::spec::transition::helpers::{
    compute_epoch_at_slot, get_beacon_committee, get_committee_count_per_slot, get_current_epoch,
};
use super::super::spec::{BeaconState, SignedBeaconBlock, Validator};
use super::{Backend, BlockResponse, StateResponse};
use crate::api::config::{deposit_contract_json, fork_schedule_json, spec_json};
use crate::api::events::Topic;
use crate::api::http::{Format, Method, Outcome, Reply, Req};
use crate::api::types::*;
use crate::consensus::primitives::{Epoch, ForkName, Hash256, FAR_FUTURE_EPOCH};
use crate::tools::ssz::quote_numbers;
use serde_json::{json, Value};
use ssz::Encode;
use std::collections::{HashMap, HashSet};
use tree_hash::TreeHash;

/// beacon-APIs `getStateValidators`: `id` has `maxItems: 64` (more: 414).
const MAX_QUERY_IDS: usize = 64;
/// POST bodies may name more validators (that is what POST is for); bounded by the body size
/// limit too. 65,536 ids of ~100 bytes would already need a 6.5 MB body.
const MAX_POST_IDS: usize = 65_536;

type Res = Result<Outcome, Reply>;

fn ok(value: Value) -> Res {
    Ok(Outcome::Reply(Reply::json(&value)))
}

fn hex_root(root: &Hash256) -> String {
    format!("{root:?}")
}

/// The Beacon API JSON of a consensus value (the `ember ssz decode` encoding).
fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, Reply> {
    serde_json::to_value(value)
        .map(quote_numbers)
        .map_err(|e| Reply::error(500, format!("cannot encode JSON: {e}")))
}

/// Routes one request. Unknown paths are 404; known paths with another method 405.
pub fn route<B: Backend>(backend: &B, req: &Req) -> Outcome {
    let segments: Vec<&str> = req.path.split('/').skip(1).collect();
    let result = dispatch(backend, req, &segments);
    result.unwrap_or_else(Outcome::Reply)
}

fn dispatch<B: Backend>(b: &B, req: &Req, seg: &[&str]) -> Res {
    use Method::{Get, Post};
    let m = req.method;
    match seg {
        ["eth", "v1", "node", "version"] if m == Get => node_version(b),
        ["eth", "v1", "node", "health"] if m == Get => node_health(b, req),
        ["eth", "v1", "node", "syncing"] if m == Get => node_syncing(b),
        ["eth", "v1", "node", "identity"] if m == Get => node_identity(b),
        ["eth", "v1", "node", "peer_count"] if m == Get => node_peer_count(b),
        ["eth", "v1", "node", "peers"] if m == Get => node_peers(b),
        ["eth", "v1", "node", "peers", id] if m == Get => node_peer(b, id),
        ["eth", "v1", "beacon", "genesis"] if m == Get => beacon_genesis(b),
        ["eth", "v1", "beacon", "headers"] if m == Get => beacon_headers(b, req),
        ["eth", "v1", "beacon", "headers", id] if m == Get => beacon_header(b, id),
        ["eth", "v2", "beacon", "blocks", id] if m == Get => beacon_block(b, req, id),
        ["eth", "v1", "beacon", "blocks", id, "root"] if m == Get => beacon_block_root(b, id),
        ["eth", "v1", "beacon", "states", id, "root"] if m == Get => state_root(b, id),
        ["eth", "v1", "beacon", "states", id, "fork"] if m == Get => state_fork(b, id),
        ["eth", "v1", "beacon", "states", id, "finality_checkpoints"] if m == Get => {
            state_finality(b, id)
        }
        ["eth", "v1", "beacon", "states", id, "validators"] if m == Get || m == Post => {
            state_validators(b, req, id)
        }
        ["eth", "v1", "beacon", "states", id, "validators", vid] if m == Get => {
            state_validator(b, id, vid)
        }
        ["eth", "v1", "beacon", "states", id, "validator_balances"] if m == Get || m == Post => {
            state_balances(b, req, id)
        }
        ["eth", "v1", "beacon", "states", id, "committees"] if m == Get => {
            state_committees(b, req, id)
        }
        ["eth", "v1", "config", "spec"] if m == Get => {
            ok(json!({"data": spec_json(b.chain_config(), spec::PRESET)}))
        }
        ["eth", "v1", "config", "fork_schedule"] if m == Get => {
            ok(json!({"data": fork_schedule_json(b.chain_config())}))
        }
        ["eth", "v1", "config", "deposit_contract"] if m == Get => {
            ok(json!({"data": deposit_contract_json(b.chain_config())}))
        }
        ["eth", "v2", "debug", "beacon", "states", id] if m == Get => debug_state(b, req, id),
        ["eth", "v2", "debug", "beacon", "heads"] if m == Get => debug_heads(b),
        ["eth", "v1", "debug", "fork_choice"] if m == Get => debug_fork_choice(b),
        ["eth", "v1", "events"] if m == Get => events(b, req),
        _ if known_path(seg) => Err(Reply::error(405, "method not allowed on this endpoint")),
        _ => Err(Reply::not_found(format!(
            "no endpoint {}",
            truncated(&req.path)
        ))),
    }
}

/// Paths served here (for 405 vs 404).
fn known_path(seg: &[&str]) -> bool {
    matches!(
        seg,
        ["eth", "v1", "node", _]
            | ["eth", "v1", "beacon", "genesis" | "headers"]
            | ["eth", "v1", "beacon", "headers", _]
            | ["eth", "v2", "beacon", "blocks", _]
            | ["eth", "v1", "beacon", "blocks", _, "root"]
            | ["eth", "v1", "beacon", "states", _, _]
            | ["eth", "v1", "beacon", "states", _, "validators", _]
            | ["eth", "v1", "config", _]
            | ["eth", "v2", "debug", "beacon", "states", _]
            | ["eth", "v2", "debug", "beacon", "heads"]
            | ["eth", "v1", "debug", "fork_choice"]
            | ["eth", "v1", "events"]
    )
}

fn truncated(s: &str) -> String {
    s.chars().take(200).collect()
}

// ---- lookups ------------------------------------------------------------------------------

fn block<B: Backend>(b: &B, id: &str) -> Result<BlockResponse, Reply> {
    let id = BlockId::parse(id)?;
    b.block(id)?
        .ok_or_else(|| Reply::not_found("Block not found"))
}

fn state<B: Backend>(b: &B, id: &str) -> Result<StateResponse, Reply> {
    let id = StateId::parse(id)?;
    b.state(id)?
        .ok_or_else(|| Reply::not_found("State not found"))
}

/// The fork a block at `slot` belongs to by the chain configuration (Ember: Electra onwards).
fn block_fork<B: Backend>(b: &B, block: &SignedBeaconBlock) -> ForkName {
    b.chain_config()
        .fork_at_epoch(compute_epoch_at_slot(block.message.slot))
        .unwrap_or(ForkName::Electra)
}

fn header_json(root: &Hash256, canonical: bool, block: &SignedBeaconBlock) -> Result<Value, Reply> {
    let m = &block.message;
    let header = spec::BeaconBlockHeader {
        slot: m.slot,
        proposer_index: m.proposer_index,
        parent_root: m.parent_root,
        state_root: m.state_root,
        body_root: m.body.tree_hash_root(),
    };
    Ok(json!({
        "root": hex_root(root),
        "canonical": canonical,
        "header": {
            "message": to_json(&header)?,
            "signature": format!("0x{}", hex::encode(block.signature.as_slice())),
        },
    }))
}

// ---- node ---------------------------------------------------------------------------------

/// `GET /eth/v1/node/version` (getNodeVersion).
fn node_version<B: Backend>(b: &B) -> Res {
    ok(json!({"data": {"version": b.node_info().version}}))
}

/// `GET /eth/v1/node/health` (getHealth): 200 ready, 206 syncing / optimistic / EL offline (or
/// the `syncing_status` the caller asks for), 503 when the node cannot tell.
fn node_health<B: Backend>(b: &B, req: &Req) -> Res {
    let syncing_code = match req.query_one("syncing_status")? {
        None => 206,
        Some(v) => parse_u64(v)
            .filter(|c| (100..=599).contains(c))
            .and_then(|c| u16::try_from(c).ok())
            .ok_or_else(|| {
                Reply::bad_request(format!("invalid syncing_status `{}`", truncated(v)))
            })?,
    };
    match b.syncing() {
        Ok(s) if s.is_syncing || s.is_optimistic || s.el_offline => {
            Ok(Outcome::Reply(Reply::empty(syncing_code)))
        }
        Ok(_) => Ok(Outcome::Reply(Reply::empty(200))),
        Err(_) => Ok(Outcome::Reply(Reply::empty(503))),
    }
}

/// `GET /eth/v1/node/syncing` (getSyncingStatus).
fn node_syncing<B: Backend>(b: &B) -> Res {
    let s = b.syncing()?;
    ok(json!({"data": {
        "head_slot": s.head_slot.to_string(),
        "sync_distance": s.sync_distance.to_string(),
        "is_syncing": s.is_syncing,
        "is_optimistic": s.is_optimistic,
        "el_offline": s.el_offline,
    }}))
}

/// `GET /eth/v1/node/identity` (getNetworkIdentity).
fn node_identity<B: Backend>(b: &B) -> Res {
    let n = b.node_info();
    ok(json!({"data": {
        "peer_id": n.peer_id,
        "enr": n.enr,
        "p2p_addresses": n.p2p_addresses,
        "discovery_addresses": n.discovery_addresses,
        "metadata": {
            "seq_number": n.metadata_seq_number.to_string(),
            "attnets": n.attnets,
            "syncnets": n.syncnets,
            "custody_group_count": n.custody_group_count.to_string(),
        },
    }}))
}

fn peer_json(p: &NodePeer) -> Value {
    json!({
        "peer_id": p.peer_id,
        "enr": p.enr,
        "last_seen_p2p_address": p.last_seen_p2p_address,
        "state": p.state,
        "direction": p.direction,
    })
}

/// `GET /eth/v1/node/peers` (getPeers).
fn node_peers<B: Backend>(b: &B) -> Res {
    let peers = b.peers();
    let data: Vec<Value> = peers.iter().map(peer_json).collect();
    ok(json!({"data": data, "meta": {"count": peers.len().to_string()}}))
}

/// `GET /eth/v1/node/peers/{peer_id}` (getPeer): 404 for a peer the node does not know.
fn node_peer<B: Backend>(b: &B, id: &str) -> Res {
    match b.peers().iter().find(|p| p.peer_id == id) {
        Some(p) => ok(json!({"data": peer_json(p)})),
        None => Err(Reply::error(
            404,
            format!("peer {} not known", truncated(id)),
        )),
    }
}

/// `GET /eth/v1/node/peer_count` (getPeerCount).
fn node_peer_count<B: Backend>(b: &B) -> Res {
    let p = b.node_info().peers;
    ok(json!({"data": {
        "disconnected": p.disconnected.to_string(),
        "connecting": p.connecting.to_string(),
        "connected": p.connected.to_string(),
        "disconnecting": p.disconnecting.to_string(),
    }}))
}

// ---- beacon -------------------------------------------------------------------------------

/// `GET /eth/v1/beacon/genesis` (getGenesis): 404 before genesis is known.
fn beacon_genesis<B: Backend>(b: &B) -> Res {
    let g = match b.genesis() {
        Ok(g) => g,
        Err(BackendError::Unavailable(_)) => {
            return Err(Reply::not_found("Chain genesis info is not yet known"))
        }
        Err(e) => return Err(e.into()),
    };
    ok(json!({"data": {
        "genesis_time": g.genesis_time.to_string(),
        "genesis_validators_root": hex_root(&g.genesis_validators_root),
        "genesis_fork_version": format!("{:?}", g.genesis_fork_version),
    }}))
}

/// `GET /eth/v1/beacon/headers/{block_id}` (getBlockHeader).
fn beacon_header<B: Backend>(b: &B, id: &str) -> Res {
    let r = block(b, id)?;
    ok(json!({
        "execution_optimistic": r.execution_optimistic,
        "finalized": r.finalized,
        "data": header_json(&r.root, r.canonical, &r.block)?,
    }))
}

/// `GET /eth/v1/beacon/headers?slot&parent_root` (getBlockHeaders): the head's header by
/// default; with `slot`, every known block at that slot (the canonical one and fork-choice
/// siblings); with `parent_root`, that block's known children.
fn beacon_headers<B: Backend>(b: &B, req: &Req) -> Res {
    let slot = match req.query_one("slot")? {
        Some(v) => Some(
            parse_u64(v)
                .ok_or_else(|| Reply::bad_request(format!("invalid slot `{}`", truncated(v))))?,
        ),
        None => None,
    };
    let parent = match req.query_one("parent_root")? {
        Some(v) => Some(Hash256::from(parse_hex_fixed::<32>(v).ok_or_else(
            || Reply::bad_request(format!("invalid parent_root `{}`", truncated(v))),
        )?)),
        None => None,
    };
    let mut found: Vec<BlockResponse> = Vec::new();
    let mut seen = HashSet::new();
    let mut add = |r: BlockResponse, found: &mut Vec<BlockResponse>| {
        if seen.insert(r.root) {
            found.push(r);
        }
    };
    if slot.is_none() && parent.is_none() {
        if let Some(r) = b.block(BlockId::Head)? {
            add(r, &mut found);
        }
    } else {
        if let Some(s) = slot {
            if let Some(r) = b.block(BlockId::Slot(s))? {
                add(r, &mut found);
            }
        }
        // Non-canonical blocks are only known to fork choice (finalized ones are canonical).
        for node in b.fork_choice()?.nodes {
            let slot_ok = slot.is_none_or(|s| node.slot == s);
            let parent_ok = parent.is_none_or(|p| node.parent_root == p);
            if slot_ok && parent_ok {
                if let Some(r) = b.block(BlockId::Root(node.block_root))? {
                    add(r, &mut found);
                }
            }
        }
        if let Some(p) = parent {
            found.retain(|r| r.block.message.parent_root == p);
        }
    }
    let data = found
        .iter()
        .map(|r| header_json(&r.root, r.canonical, &r.block))
        .collect::<Result<Vec<_>, _>>()?;
    ok(json!({
        "execution_optimistic": found.iter().any(|r| r.execution_optimistic),
        "finalized": !found.is_empty() && found.iter().all(|r| r.finalized),
        "data": data,
    }))
}

/// `GET /eth/v2/beacon/blocks/{block_id}` (getBlockV2): JSON or SSZ.
fn beacon_block<B: Backend>(b: &B, req: &Req, id: &str) -> Res {
    let format = req.format(true)?;
    let r = block(b, id)?;
    let fork = block_fork(b, &r.block);
    let reply = match format {
        Format::Ssz => Reply::ssz(r.block.as_ssz_bytes()),
        Format::Json => Reply::json(&json!({
            "version": fork.as_str(),
            "execution_optimistic": r.execution_optimistic,
            "finalized": r.finalized,
            "data": to_json(&*r.block)?,
        })),
    };
    Ok(Outcome::Reply(
        reply.with_header("Eth-Consensus-Version", fork.as_str()),
    ))
}

/// `GET /eth/v1/beacon/blocks/{block_id}/root` (getBlockRoot).
fn beacon_block_root<B: Backend>(b: &B, id: &str) -> Res {
    let r = block(b, id)?;
    ok(json!({
        "execution_optimistic": r.execution_optimistic,
        "finalized": r.finalized,
        "data": {"root": hex_root(&r.root)},
    }))
}

/// `GET /eth/v1/beacon/states/{state_id}/root` (getStateRoot).
fn state_root<B: Backend>(b: &B, id: &str) -> Res {
    let s = state(b, id)?;
    ok(json!({
        "execution_optimistic": s.execution_optimistic,
        "finalized": s.finalized,
        "data": {"root": hex_root(&s.state_root)},
    }))
}

/// `GET /eth/v1/beacon/states/{state_id}/fork` (getStateFork).
fn state_fork<B: Backend>(b: &B, id: &str) -> Res {
    let s = state(b, id)?;
    ok(json!({
        "execution_optimistic": s.execution_optimistic,
        "finalized": s.finalized,
        "data": to_json(&s.state.fork)?,
    }))
}

/// `GET /eth/v1/beacon/states/{state_id}/finality_checkpoints` (getStateFinalityCheckpoints).
fn state_finality<B: Backend>(b: &B, id: &str) -> Res {
    let s = state(b, id)?;
    ok(json!({
        "execution_optimistic": s.execution_optimistic,
        "finalized": s.finalized,
        "data": {
            "previous_justified": to_json(&s.state.previous_justified_checkpoint)?,
            "current_justified": to_json(&s.state.current_justified_checkpoint)?,
            "finalized": to_json(&s.state.finalized_checkpoint)?,
        },
    }))
}

/// beacon-APIs validator status (https://hackmd.io/ofFJ5gOmQpu1jjHilHbdQQ) at `epoch`.
pub fn validator_status(v: &Validator, balance: u64, epoch: Epoch) -> &'static str {
    if v.activation_epoch > epoch {
        if v.activation_eligibility_epoch == FAR_FUTURE_EPOCH {
            "pending_initialized"
        } else {
            "pending_queued"
        }
    } else if epoch < v.exit_epoch {
        if v.exit_epoch == FAR_FUTURE_EPOCH {
            "active_ongoing"
        } else if v.slashed {
            "active_slashed"
        } else {
            "active_exiting"
        }
    } else if epoch < v.withdrawable_epoch {
        if v.slashed {
            "exited_slashed"
        } else {
            "exited_unslashed"
        }
    } else if balance != 0 {
        "withdrawal_possible"
    } else {
        "withdrawal_done"
    }
}

/// Statuses a filter value selects: one status, or a group (`active`, `pending`, `exited`,
/// `withdrawal`).
fn status_filter(values: &[&str]) -> Result<Option<HashSet<&'static str>>, Reply> {
    const ALL: [&str; 9] = [
        "pending_initialized",
        "pending_queued",
        "active_ongoing",
        "active_exiting",
        "active_slashed",
        "exited_unslashed",
        "exited_slashed",
        "withdrawal_possible",
        "withdrawal_done",
    ];
    if values.is_empty() {
        return Ok(None);
    }
    let mut set = HashSet::new();
    for v in values {
        let matched: Vec<&'static str> = match *v {
            "pending" | "active" | "exited" | "withdrawal" => ALL
                .iter()
                .copied()
                .filter(|s| s.split('_').next() == Some(v))
                .collect(),
            _ => ALL.iter().copied().filter(|s| s == v).collect(),
        };
        if matched.is_empty() {
            return Err(Reply::bad_request(format!(
                "invalid validator status `{}`",
                truncated(v)
            )));
        }
        set.extend(matched);
    }
    Ok(Some(set))
}

/// Indices of the validators `ids` names that exist in `state` (unknown ones are skipped, as
/// the spec says), in request order without duplicates; `None` ids: every validator.
fn select_validators(state: &BeaconState, ids: Option<&[ValidatorId]>) -> Vec<usize> {
    let count = state.validators.len();
    let Some(ids) = ids else {
        return (0..count).collect();
    };
    let wanted_keys: HashSet<[u8; 48]> = ids
        .iter()
        .filter_map(|id| match id {
            ValidatorId::Pubkey(k) => Some(*k),
            ValidatorId::Index(_) => None,
        })
        .collect();
    // One pass over the registry for all requested keys (not one per key).
    let mut by_key: HashMap<[u8; 48], usize> = HashMap::new();
    if !wanted_keys.is_empty() {
        for (i, v) in state.validators.iter().enumerate() {
            let mut k = [0u8; 48];
            k.copy_from_slice(v.pubkey.as_slice());
            if wanted_keys.contains(&k) {
                by_key.entry(k).or_insert(i);
            }
        }
    }
    let mut seen = HashSet::new();
    ids.iter()
        .filter_map(|id| match id {
            ValidatorId::Index(i) => usize::try_from(*i).ok().filter(|&i| i < count),
            ValidatorId::Pubkey(k) => by_key.get(k).copied(),
        })
        .filter(|i| seen.insert(*i))
        .collect()
}

fn parse_ids(values: &[&str]) -> Result<Vec<ValidatorId>, Reply> {
    values
        .iter()
        .map(|v| ValidatorId::parse(v).map_err(Reply::from))
        .collect()
}

/// `POST .../validators` body: `{"ids": [...] | null, "statuses": [...] | null}`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidatorsBody {
    #[serde(default)]
    ids: Option<Vec<String>>,
    #[serde(default)]
    statuses: Option<Vec<String>>,
}

fn validator_json(state: &BeaconState, i: usize, epoch: Epoch) -> Result<Option<Value>, Reply> {
    let (Some(v), Some(balance)) = (state.validators.get(i), state.balances.get(i)) else {
        return Ok(None);
    };
    Ok(Some(json!({
        "index": i.to_string(),
        "balance": balance.to_string(),
        "status": validator_status(v, *balance, epoch),
        "validator": to_json(v)?,
    })))
}

/// `GET|POST /eth/v1/beacon/states/{state_id}/validators` (getStateValidators,
/// postStateValidators).
fn state_validators<B: Backend>(b: &B, req: &Req, id: &str) -> Res {
    let (ids, statuses): (Vec<String>, Vec<String>) = if req.method == Method::Post {
        let body: ValidatorsBody = req.json_body()?;
        let ids = body.ids.unwrap_or_default();
        let statuses = body.statuses.unwrap_or_default();
        if ids.len() > MAX_POST_IDS {
            return Err(ParamError::TooMany {
                what: "validator ids",
                count: ids.len(),
                max: MAX_POST_IDS,
            }
            .into());
        }
        (ids, statuses)
    } else {
        let ids = req.query_list("id", MAX_QUERY_IDS, 414)?;
        let statuses = req.query_list("status", 32, 400)?;
        (
            ids.into_iter().map(str::to_string).collect(),
            statuses.into_iter().map(str::to_string).collect(),
        )
    };
    let ids = parse_ids(&ids.iter().map(String::as_str).collect::<Vec<_>>())?;
    let statuses = status_filter(&statuses.iter().map(String::as_str).collect::<Vec<_>>())?;
    let s = state(b, id)?;
    let epoch = get_current_epoch(&s.state);
    let selected = select_validators(&s.state, (!ids.is_empty()).then_some(&ids[..]));
    let mut data = Vec::with_capacity(selected.len());
    for i in selected {
        if let Some(item) = validator_json(&s.state, i, epoch)? {
            if statuses
                .as_ref()
                .is_none_or(|set| item["status"].as_str().is_some_and(|st| set.contains(st)))
            {
                data.push(item);
            }
        }
    }
    ok(json!({
        "execution_optimistic": s.execution_optimistic,
        "finalized": s.finalized,
        "data": data,
    }))
}

/// `GET /eth/v1/beacon/states/{state_id}/validators/{validator_id}` (getStateValidator).
fn state_validator<B: Backend>(b: &B, id: &str, vid: &str) -> Res {
    let vid = ValidatorId::parse(vid)?;
    let s = state(b, id)?;
    let epoch = get_current_epoch(&s.state);
    let item = select_validators(&s.state, Some(&[vid]))
        .first()
        .map(|&i| validator_json(&s.state, i, epoch))
        .transpose()?
        .flatten()
        .ok_or_else(|| Reply::not_found("Validator not found"))?;
    ok(json!({
        "execution_optimistic": s.execution_optimistic,
        "finalized": s.finalized,
        "data": item,
    }))
}

/// `GET|POST /eth/v1/beacon/states/{state_id}/validator_balances` (getStateValidatorBalances,
/// postStateValidatorBalances: the body is a JSON array of ids).
fn state_balances<B: Backend>(b: &B, req: &Req, id: &str) -> Res {
    let ids: Vec<String> = if req.method == Method::Post {
        let ids: Vec<String> = req.json_body()?;
        if ids.len() > MAX_POST_IDS {
            return Err(ParamError::TooMany {
                what: "validator ids",
                count: ids.len(),
                max: MAX_POST_IDS,
            }
            .into());
        }
        ids
    } else {
        req.query_list("id", MAX_QUERY_IDS, 414)?
            .into_iter()
            .map(str::to_string)
            .collect()
    };
    let ids = parse_ids(&ids.iter().map(String::as_str).collect::<Vec<_>>())?;
    let s = state(b, id)?;
    let selected = select_validators(&s.state, (!ids.is_empty()).then_some(&ids[..]));
    let data: Vec<Value> = selected
        .into_iter()
        .filter_map(|i| {
            s.state
                .balances
                .get(i)
                .map(|bal| json!({"index": i.to_string(), "balance": bal.to_string()}))
        })
        .collect();
    ok(json!({
        "execution_optimistic": s.execution_optimistic,
        "finalized": s.finalized,
        "data": data,
    }))
}

fn query_u64(req: &Req, name: &'static str) -> Result<Option<u64>, Reply> {
    match req.query_one(name)? {
        None => Ok(None),
        Some(v) => parse_u64(v)
            .map(Some)
            .ok_or_else(|| Reply::bad_request(format!("invalid {name} `{}`", truncated(v)))),
    }
}

/// `GET /eth/v1/beacon/states/{state_id}/committees?epoch&index&slot` (getEpochCommittees).
/// The state can compute the committees of its previous, current and next epoch (the seed's
/// RANDAO mix and the active set are known for those); other epochs are a 400.
fn state_committees<B: Backend>(b: &B, req: &Req, id: &str) -> Res {
    let epoch_q = query_u64(req, "epoch")?;
    let index_q = query_u64(req, "index")?;
    let slot_q = query_u64(req, "slot")?;
    let s = state(b, id)?;
    let current = get_current_epoch(&s.state);
    let epoch = epoch_q.unwrap_or(current);
    if epoch.saturating_add(1) < current || epoch > current.saturating_add(1) {
        return Err(Reply::bad_request(format!(
            "epoch {epoch} is not within one epoch of the state's epoch {current}: query a state of that epoch"
        )));
    }
    let slots_per_epoch = spec::PRESET.slots_per_epoch;
    let first_slot = epoch.saturating_mul(slots_per_epoch);
    if let Some(slot) = slot_q {
        if compute_epoch_at_slot(slot) != epoch {
            return Err(Reply::bad_request(format!(
                "slot {slot} is not in epoch {epoch}"
            )));
        }
    }
    let per_slot = get_committee_count_per_slot(&s.state, epoch);
    if let Some(index) = index_q {
        if index >= per_slot {
            return Err(Reply::bad_request(format!(
                "committee index {index} out of range: {per_slot} committees per slot"
            )));
        }
    }
    let mut data = Vec::new();
    for slot in first_slot..first_slot.saturating_add(slots_per_epoch) {
        if slot_q.is_some_and(|s| s != slot) {
            continue;
        }
        for index in 0..per_slot {
            if index_q.is_some_and(|i| i != index) {
                continue;
            }
            let members = get_beacon_committee(&s.state, slot, index)
                .map_err(|e| Reply::error(500, format!("computing committee: {e}")))?;
            data.push(json!({
                "index": index.to_string(),
                "slot": slot.to_string(),
                "validators": members.iter().map(u64::to_string).collect::<Vec<_>>(),
            }));
        }
    }
    ok(json!({
        "execution_optimistic": s.execution_optimistic,
        "finalized": s.finalized,
        "data": data,
    }))
}

// ---- debug --------------------------------------------------------------------------------

/// `GET /eth/v2/debug/beacon/states/{state_id}` (getStateV2): JSON or SSZ.
fn debug_state<B: Backend>(b: &B, req: &Req, id: &str) -> Res {
    let format = req.format(true)?;
    let s = state(b, id)?;
    let fork = s.state.fork_name();
    let reply = match format {
        Format::Ssz => Reply::ssz(s.state.as_ssz_bytes()),
        Format::Json => Reply::json(&json!({
            "version": fork.as_str(),
            "execution_optimistic": s.execution_optimistic,
            "finalized": s.finalized,
            "data": to_json(&*s.state)?,
        })),
    };
    Ok(Outcome::Reply(
        reply.with_header("Eth-Consensus-Version", fork.as_str()),
    ))
}

/// `GET /eth/v2/debug/beacon/heads` (getDebugChainHeadsV2): the fork-choice leaves.
fn debug_heads<B: Backend>(b: &B) -> Res {
    let fc = b.fork_choice()?;
    let parents: HashSet<Hash256> = fc.nodes.iter().map(|n| n.parent_root).collect();
    let data: Vec<Value> = fc
        .nodes
        .iter()
        .filter(|n| !parents.contains(&n.block_root))
        .map(|n| {
            json!({
                "root": hex_root(&n.block_root),
                "slot": n.slot.to_string(),
                "execution_optimistic": n.validity == PayloadValidity::Optimistic,
            })
        })
        .collect();
    ok(json!({"data": data}))
}

/// `GET /eth/v1/debug/fork_choice` (getDebugForkChoice).
fn debug_fork_choice<B: Backend>(b: &B) -> Res {
    let fc = b.fork_choice()?;
    let checkpoint = |c: &crate::fork_choice::Checkpoint| json!({"epoch": c.epoch.to_string(), "root": hex_root(&c.root)});
    let nodes: Vec<Value> = fc
        .nodes
        .iter()
        .map(|n| {
            json!({
                "slot": n.slot.to_string(),
                "block_root": hex_root(&n.block_root),
                "parent_root": hex_root(&n.parent_root),
                "justified_epoch": n.justified_epoch.to_string(),
                "finalized_epoch": n.finalized_epoch.to_string(),
                "weight": n.weight.to_string(),
                "validity": n.validity.as_str(),
                "execution_block_hash": hex_root(&n.execution_block_hash),
            })
        })
        .collect();
    ok(json!({
        "justified_checkpoint": checkpoint(&fc.justified_checkpoint),
        "finalized_checkpoint": checkpoint(&fc.finalized_checkpoint),
        "fork_choice_nodes": nodes,
    }))
}

// ---- events -------------------------------------------------------------------------------

/// `GET /eth/v1/events?topics=...` (eventstream): Server-Sent Events of the listed topics.
/// Topics Ember does not publish (yet) are a 400, so a client does not wait for them forever.
fn events<B: Backend>(b: &B, req: &Req) -> Res {
    let names = req.query_list("topics", 32, 400)?;
    if names.is_empty() {
        return Err(Reply::bad_request("query parameter `topics` is required"));
    }
    let mut topics = HashSet::new();
    for name in names {
        let topic = Topic::parse(name).ok_or_else(|| {
            Reply::bad_request(format!(
                "unsupported event topic `{}` (supported: head, block, finalized_checkpoint, chain_reorg)",
                truncated(name)
            ))
        })?;
        topics.insert(topic);
    }
    Ok(Outcome::Stream {
        receiver: b.events(),
        topics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validator(
        activation_eligibility: Epoch,
        activation: Epoch,
        exit: Epoch,
        withdrawable: Epoch,
        slashed: bool,
    ) -> Validator {
        Validator {
            pubkey: Default::default(),
            withdrawal_credentials: Hash256::ZERO,
            effective_balance: 32_000_000_000,
            slashed,
            activation_eligibility_epoch: activation_eligibility,
            activation_epoch: activation,
            exit_epoch: exit,
            withdrawable_epoch: withdrawable,
        }
    }

    /// Every status of the validator status specification, at epoch 10.
    #[test]
    fn validator_status_per_spec() {
        let far = FAR_FUTURE_EPOCH;
        let cases = [
            (
                validator(far, far, far, far, false),
                32,
                "pending_initialized",
            ),
            (validator(9, far, far, far, false), 32, "pending_queued"),
            (validator(9, 11, far, far, false), 32, "pending_queued"),
            (validator(0, 10, far, far, false), 32, "active_ongoing"),
            (validator(0, 0, 12, 40, false), 32, "active_exiting"),
            (validator(0, 0, 12, 40, true), 32, "active_slashed"),
            (validator(0, 0, 10, 40, false), 32, "exited_unslashed"),
            (validator(0, 0, 5, 40, true), 32, "exited_slashed"),
            (validator(0, 0, 5, 10, false), 32, "withdrawal_possible"),
            (validator(0, 0, 5, 9, true), 0, "withdrawal_done"),
        ];
        for (v, balance, expected) in cases {
            assert_eq!(validator_status(&v, balance, 10), expected, "{v:?}");
        }
        let groups = status_filter(&["active", "exited_slashed"])
            .ok()
            .flatten()
            .expect("valid filter");
        assert_eq!(groups.len(), 4);
        assert!(groups.contains("active_slashed") && !groups.contains("exited_unslashed"));
        assert!(status_filter(&["active_"]).is_err());
        assert!(status_filter(&[]).ok().flatten().is_none());
    }
}
