//! The Beacon API over real HTTP on 127.0.0.1, served by `api::minimal::serve` from a real
//! `store::minimal::BeaconStore` holding a synthetic chain (forks, skipped slots, deposits,
//! finality; `store::minimal::testchain`) — the same store the node uses, not a mock. Every
//! endpoint's status codes and JSON shapes are checked against the store's own answers; SSZ
//! responses are decoded back; the event stream delivers a published event.

use ember::api::events::{BlockEvent, HeadEvent};
use ember::api::minimal::store_backend::{block_by_id, state_by_id};
use ember::api::minimal::{serve, Backend, BlockResponse, StateResponse};
use ember::api::types::*;
use ember::api::{ApiConfig, ApiServer, Event, EventBus};
use ember::consensus::config::ChainConfig;
use ember::consensus::minimal::{BeaconState, SignedBeaconBlock};
use ember::consensus::preset::PresetName;
use ember::consensus::primitives::Hash256;
use ember::fork_choice::Checkpoint;
use ember::store::minimal::testchain::{
    build_block, run_writer, synthetic_state, BlockContents, WriterPlan,
};
use ember::store::minimal::{BeaconStore, ChainUpdate, StoreConfig};
use ember::store::{MemoryBudget, PointerName};
use serde_json::{json, Value};
use ssz::Decode;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tree_hash::TreeHash;

// ---- the backend: the store plus what a node would add -------------------------------------

struct StoreBackend {
    store: Arc<BeaconStore>,
    bus: EventBus,
}

impl Backend for StoreBackend {
    fn chain_config(&self) -> &ChainConfig {
        self.store.chain_config()
    }

    fn genesis(&self) -> Result<GenesisInfo, BackendError> {
        let g = self.store.pointer(PointerName::Genesis)?;
        let state = self.store.load_state(&g.state_root)?;
        Ok(GenesisInfo {
            genesis_time: state.genesis_time,
            genesis_validators_root: state.genesis_validators_root,
            genesis_fork_version: state.fork.current_version,
        })
    }

    fn head(&self) -> Result<HeadInfo, BackendError> {
        let h = self.store.pointer(PointerName::Head)?;
        Ok(HeadInfo {
            block_root: h.block_root,
            slot: h.slot,
            state_root: h.state_root,
            execution_optimistic: false,
        })
    }

    fn finality(&self) -> Result<FinalityInfo, BackendError> {
        let j = self.store.pointer(PointerName::Justified)?;
        let f = self.store.pointer(PointerName::Finalized)?;
        Ok(FinalityInfo {
            justified: Checkpoint::new(j.epoch, j.block_root),
            finalized: Checkpoint::new(f.epoch, f.block_root),
        })
    }

    fn block(&self, id: BlockId) -> Result<Option<BlockResponse>, BackendError> {
        block_by_id(&self.store, id)
    }

    fn state(&self, id: StateId) -> Result<Option<StateResponse>, BackendError> {
        state_by_id(&self.store, id)
    }

    /// The tree a fork choice would hold: the finalized block and every hot block.
    fn fork_choice(&self) -> Result<ForkChoiceDump, BackendError> {
        let FinalityInfo {
            justified,
            finalized,
        } = self.finality()?;
        let f = self.store.pointer(PointerName::Finalized)?;
        let mut entries = vec![(f.slot, f.block_root)];
        entries.extend(self.store.hot_blocks()?.into_iter().map(|(s, r, _)| (s, r)));
        let mut nodes = Vec::new();
        for (slot, root) in entries {
            let Some(block) = self.store.block(&root)? else {
                continue;
            };
            nodes.push(ForkChoiceNode {
                slot,
                block_root: root,
                parent_root: block.message.parent_root,
                justified_epoch: justified.epoch,
                finalized_epoch: finalized.epoch,
                weight: 0,
                validity: PayloadValidity::Valid,
                execution_block_hash: block.message.body.execution_payload.block_hash,
            });
        }
        Ok(ForkChoiceDump {
            justified_checkpoint: justified,
            finalized_checkpoint: finalized,
            nodes,
        })
    }

    fn syncing(&self) -> Result<SyncStatus, BackendError> {
        Ok(SyncStatus {
            head_slot: self.head()?.slot,
            ..Default::default()
        })
    }

    fn node_info(&self) -> NodeInfo {
        NodeInfo::without_network(4)
    }

    fn events(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.bus.subscribe()
    }
}

// ---- the fixture ---------------------------------------------------------------------------

struct Fixture {
    backend: Arc<StoreBackend>,
    addr: SocketAddr,
    _server: ApiServer,
    /// A block at the head's slot that lost (a sibling of the head, not canonical).
    sibling: Hash256,
    /// A slot without a block, below the head.
    skipped_slot: u64,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("ember-beacon-api-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let chain = ChainConfig::for_preset(PresetName::Minimal).with_forks_at_genesis();
        let store = BeaconStore::open(
            &dir,
            StoreConfig::new(&MemoryBudget::default()),
            chain.clone(),
        )
        .expect("open store");
        let plan = WriterPlan {
            seed: 6,
            until_slot: 48,
            deposit_every: 5,
            fork_one_in: 5,
            skip_one_in: 6,
        };
        run_writer(&store, || synthetic_state(&chain, 32), &plan, |_, _, _| {})
            .expect("synthetic chain");
        // A sibling of the head at the head's slot, imported without becoming the head.
        let head = store.pointer(PointerName::Head).expect("head");
        let head_block = store
            .block(&head.block_root)
            .expect("read")
            .expect("head block");
        let parent = store
            .block_meta(&head_block.message.parent_root)
            .expect("read")
            .expect("parent");
        let parent_state = store.load_state(&parent.state_root).expect("parent state");
        let (block, sibling, post) = build_block(
            &chain,
            &parent_state,
            head.slot,
            &BlockContents {
                graffiti: [0x5a; 32],
                attest: true,
                deposits: Vec::new(),
            },
        )
        .expect("sibling");
        store
            .import_block(&block, sibling, &post, &ChainUpdate::default())
            .expect("import sibling");
        let skipped_slot = (1..head.slot)
            .find(|&s| {
                let root = store
                    .block_root_at_slot(s)
                    .expect("read")
                    .expect("canonical");
                store.block_meta(&root).expect("read").expect("meta").slot != s
            })
            .expect("the plan skips slots");
        let backend = Arc::new(StoreBackend {
            store: Arc::new(store),
            bus: EventBus::default(),
        });
        let server = serve(
            backend.clone(),
            ApiConfig {
                port: 0,
                workers: 2,
                max_sse_subscribers: 2,
                ..ApiConfig::default()
            },
        )
        .expect("serve");
        Fixture {
            addr: server.local_addr(),
            backend,
            _server: server,
            sibling,
            skipped_slot,
        }
    })
}

// ---- a plain HTTP/1.1 client ---------------------------------------------------------------

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A 4xx/5xx must carry the standard `{"code", "message"}` body with its own status.
    fn assert_error(&self, status: u16) {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        let body = self.json();
        assert_eq!(body["code"], status, "{body}");
        assert!(body["message"].is_string(), "{body}");
    }
}

fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).expect("write");
    s.write_all(body).expect("write body");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let body = raw[split + 4..].to_vec();
    let response = Response {
        status,
        headers,
        body,
    };
    if let Some(len) = response.header("Content-Length") {
        assert_eq!(len.parse::<usize>().ok(), Some(response.body.len()));
    }
    response
}

fn get(path: &str) -> Response {
    request(fixture().addr, "GET", path, &[], &[])
}

fn get_ssz(path: &str) -> Response {
    request(
        fixture().addr,
        "GET",
        path,
        &[("Accept", "application/octet-stream")],
        &[],
    )
}

fn post_json(path: &str, body: &Value) -> Response {
    request(
        fixture().addr,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
}

fn ok_json(path: &str) -> Value {
    let r = get(path);
    assert_eq!(
        r.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert!(
        r.header("Content-Type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{path}"
    );
    r.json()
}

fn hex(root: &Hash256) -> String {
    format!("{root:?}")
}

fn store() -> &'static BeaconStore {
    &fixture().backend.store
}

fn head_state() -> BeaconState {
    store()
        .load_state(&store().pointer(PointerName::Head).expect("head").state_root)
        .expect("head state")
}

// ---- node ----------------------------------------------------------------------------------

#[test]
fn node_endpoints() {
    let v = ok_json("/eth/v1/node/version");
    assert!(v["data"]["version"]
        .as_str()
        .is_some_and(|s| s.starts_with("Ember/v")));
    assert_eq!(get("/eth/v1/node/health").status, 200);
    assert!(get("/eth/v1/node/health").body.is_empty());
    get("/eth/v1/node/health?syncing_status=abc").assert_error(400);
    let head = store().pointer(PointerName::Head).expect("head");
    let s = ok_json("/eth/v1/node/syncing");
    assert_eq!(
        s["data"],
        json!({"head_slot": head.slot.to_string(), "sync_distance": "0", "is_syncing": false,
               "is_optimistic": false, "el_offline": false})
    );
    let id = ok_json("/eth/v1/node/identity");
    for key in ["peer_id", "enr", "p2p_addresses", "discovery_addresses"] {
        assert!(!id["data"][key].is_null(), "{key}");
    }
    assert_eq!(id["data"]["metadata"]["seq_number"], "0");
    assert_eq!(id["data"]["metadata"]["custody_group_count"], "4");
    assert_eq!(
        ok_json("/eth/v1/node/peer_count")["data"],
        json!({"disconnected": "0", "connecting": "0", "connected": "0", "disconnecting": "0"})
    );
    assert_eq!(ok_json("/eth/v1/node/peers")["meta"]["count"], "0");
}

// ---- beacon: genesis, headers, blocks ------------------------------------------------------

#[test]
fn genesis() {
    let g = ok_json("/eth/v1/beacon/genesis");
    let state = store()
        .load_state(&store().pointer(PointerName::Genesis).expect("g").state_root)
        .expect("genesis state");
    assert_eq!(g["data"]["genesis_time"], state.genesis_time.to_string());
    assert_eq!(
        g["data"]["genesis_validators_root"],
        hex(&state.genesis_validators_root)
    );
    assert_eq!(g["data"]["genesis_fork_version"], "0x06000001");
}

fn check_header(item: &Value, root: &Hash256, block: &SignedBeaconBlock, canonical: bool) {
    assert_eq!(item["root"], hex(root));
    assert_eq!(item["canonical"], canonical);
    let m = &item["header"]["message"];
    assert_eq!(m["slot"], block.message.slot.to_string());
    assert_eq!(
        m["proposer_index"],
        block.message.proposer_index.to_string()
    );
    assert_eq!(m["parent_root"], hex(&block.message.parent_root));
    assert_eq!(m["state_root"], hex(&block.message.state_root));
    assert_eq!(m["body_root"], hex(&block.message.body.tree_hash_root()));
    assert!(item["header"]["signature"]
        .as_str()
        .is_some_and(|s| s.len() == 2 + 192));
}

#[test]
fn headers() {
    let f = fixture();
    let head = store().pointer(PointerName::Head).expect("head");
    let head_block = store().block(&head.block_root).expect("r").expect("b");
    // Default: the head.
    let h = ok_json("/eth/v1/beacon/headers");
    assert_eq!(h["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(h["execution_optimistic"], false);
    assert_eq!(h["finalized"], false);
    check_header(&h["data"][0], &head.block_root, &head_block, true);
    // By slot: the canonical head and its losing sibling.
    let h = ok_json(&format!("/eth/v1/beacon/headers?slot={}", head.slot));
    let items = h["data"].as_array().expect("array");
    assert_eq!(items.len(), 2, "{h}");
    let sibling = store().block(&f.sibling).expect("r").expect("b");
    for item in items {
        if item["root"] == hex(&head.block_root) {
            check_header(item, &head.block_root, &head_block, true);
        } else {
            check_header(item, &f.sibling, &sibling, false);
        }
    }
    // By parent: both children of the head's parent.
    let h = ok_json(&format!(
        "/eth/v1/beacon/headers?parent_root={}",
        hex(&head_block.message.parent_root)
    ));
    assert_eq!(h["data"].as_array().map(Vec::len), Some(2), "{h}");
    // A finalized slot: one canonical, finalized header.
    let fin = store().pointer(PointerName::Finalized).expect("f");
    let h = ok_json(&format!("/eth/v1/beacon/headers?slot={}", fin.slot));
    assert_eq!(h["finalized"], true);
    assert_eq!(h["data"][0]["root"], hex(&fin.block_root));
    // An empty slot: no headers (200, empty list).
    let h = ok_json(&format!("/eth/v1/beacon/headers?slot={}", f.skipped_slot));
    assert_eq!(h["data"], json!([]));
    get("/eth/v1/beacon/headers?slot=x").assert_error(400);
    get("/eth/v1/beacon/headers?slot=1&slot=2").assert_error(400);
    get("/eth/v1/beacon/headers?parent_root=0x1234").assert_error(400);

    // headers/{block_id} for every id form.
    for (id, pointer) in [
        ("head", PointerName::Head),
        ("genesis", PointerName::Genesis),
        ("finalized", PointerName::Finalized),
        ("justified", PointerName::Justified),
    ] {
        let p = store().pointer(pointer).expect("pointer");
        let h = ok_json(&format!("/eth/v1/beacon/headers/{id}"));
        let block = store().block(&p.block_root).expect("r").expect("b");
        check_header(&h["data"], &p.block_root, &block, true);
        assert_eq!(h["finalized"], p.slot <= fin.slot, "{id}");
    }
    let h = ok_json(&format!("/eth/v1/beacon/headers/{}", head.slot));
    assert_eq!(h["data"]["root"], hex(&head.block_root));
    let h = ok_json(&format!("/eth/v1/beacon/headers/{}", hex(&f.sibling)));
    assert_eq!(h["data"]["canonical"], false);
    assert_eq!(h["finalized"], false);
    for bad in ["current", "0x12", "-1", "1.0", "HEAD", "0xgg"] {
        get(&format!("/eth/v1/beacon/headers/{bad}")).assert_error(400);
    }
    get(&format!("/eth/v1/beacon/headers/0x{}", "11".repeat(32))).assert_error(404);
    get(&format!("/eth/v1/beacon/headers/{}", f.skipped_slot)).assert_error(404);
    get(&format!("/eth/v1/beacon/headers/{}", head.slot + 1000)).assert_error(404);
}

#[test]
fn blocks_json_ssz_and_root() {
    let head = store().pointer(PointerName::Head).expect("head");
    let block = store().block(&head.block_root).expect("r").expect("b");
    let r = get("/eth/v2/beacon/blocks/head");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Eth-Consensus-Version"), Some("fulu"));
    let j = r.json();
    assert_eq!(j["version"], "fulu");
    assert_eq!(j["execution_optimistic"], false);
    assert_eq!(j["finalized"], false);
    assert_eq!(j["data"]["message"]["slot"], head.slot.to_string());
    assert_eq!(
        j["data"]["message"]["body"]["execution_payload"]["block_number"],
        block
            .message
            .body
            .execution_payload
            .block_number
            .to_string()
    );
    assert_eq!(
        j["data"],
        ember::tools::ssz::quote_numbers(serde_json::to_value(&block).expect("json"))
    );
    // SSZ: the exact block back.
    let r = get_ssz("/eth/v2/beacon/blocks/head");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
    assert_eq!(r.header("Eth-Consensus-Version"), Some("fulu"));
    let decoded = SignedBeaconBlock::from_ssz_bytes(&r.body).expect("decodes");
    assert_eq!(decoded, block);
    assert_eq!(decoded.message.tree_hash_root(), head.block_root);
    // Content negotiation: JSON preferred by q-value, 406 for what cannot be produced.
    let r = request(
        fixture().addr,
        "GET",
        "/eth/v2/beacon/blocks/genesis",
        &[(
            "Accept",
            "application/octet-stream;q=0.4,application/json;q=0.9",
        )],
        &[],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["finalized"], true);
    request(
        fixture().addr,
        "GET",
        "/eth/v2/beacon/blocks/head",
        &[("Accept", "text/html")],
        &[],
    )
    .assert_error(406);
    get("/eth/v2/beacon/blocks/nope").assert_error(400);
    get_ssz(&format!("/eth/v2/beacon/blocks/0x{}", "22".repeat(32))).assert_error(404);

    let r = ok_json("/eth/v1/beacon/blocks/finalized/root");
    let fin = store().pointer(PointerName::Finalized).expect("f");
    assert_eq!(
        r,
        json!({"execution_optimistic": false, "finalized": true, "data": {"root": hex(&fin.block_root)}})
    );
    let r = ok_json(&format!("/eth/v1/beacon/blocks/{}/root", head.slot));
    assert_eq!(r["data"]["root"], hex(&head.block_root));
    get("/eth/v1/beacon/blocks/0x/root").assert_error(400);
    get(&format!(
        "/eth/v1/beacon/blocks/{}/root",
        fixture().skipped_slot
    ))
    .assert_error(404);
}

// ---- beacon: states ------------------------------------------------------------------------

#[test]
fn state_root_fork_finality() {
    let head = store().pointer(PointerName::Head).expect("head");
    let state = head_state();
    let r = ok_json("/eth/v1/beacon/states/head/root");
    assert_eq!(r["data"]["root"], hex(&head.state_root));
    assert_eq!(r["finalized"], false);
    // By state root and by slot agree.
    let r = ok_json(&format!(
        "/eth/v1/beacon/states/{}/root",
        hex(&head.state_root)
    ));
    assert_eq!(r["data"]["root"], hex(&head.state_root));
    let r = ok_json(&format!("/eth/v1/beacon/states/{}/root", head.slot));
    assert_eq!(r["data"]["root"], hex(&head.state_root));
    // An empty slot: the previous block's state advanced through it (a different root).
    let skipped = fixture().skipped_slot;
    let r = ok_json(&format!("/eth/v1/beacon/states/{skipped}/root"));
    let expected = state_by_id(store(), StateId::Slot(skipped))
        .expect("read")
        .expect("state");
    assert_eq!(expected.state.slot, skipped);
    assert_eq!(r["data"]["root"], hex(&expected.state.tree_hash_root()));
    assert_eq!(r["finalized"], true);
    let fin = store().pointer(PointerName::Finalized).expect("f");
    assert_eq!(
        ok_json(&format!(
            "/eth/v1/beacon/states/{}/root",
            hex(&fin.state_root)
        ))["finalized"],
        true
    );

    let r = ok_json("/eth/v1/beacon/states/head/fork");
    assert_eq!(
        r["data"],
        json!({"previous_version": format!("{:?}", state.fork.previous_version),
               "current_version": "0x06000001", "epoch": state.fork.epoch.to_string()})
    );
    let r = ok_json("/eth/v1/beacon/states/head/finality_checkpoints");
    assert_eq!(
        r["data"]["finalized"],
        json!({"epoch": state.finalized_checkpoint.epoch.to_string(), "root": hex(&state.finalized_checkpoint.root)})
    );
    assert_eq!(
        r["data"]["current_justified"]["epoch"],
        state.current_justified_checkpoint.epoch.to_string()
    );
    assert_eq!(
        r["data"]["previous_justified"]["root"],
        hex(&state.previous_justified_checkpoint.root)
    );
    assert!(state.finalized_checkpoint.epoch >= 2, "the chain finalizes");

    for bad in ["now", "0x00", "99999999999999999999999"] {
        get(&format!("/eth/v1/beacon/states/{bad}/root")).assert_error(400);
    }
    get(&format!("/eth/v1/beacon/states/0x{}/fork", "33".repeat(32))).assert_error(404);
    get(&format!(
        "/eth/v1/beacon/states/{}/finality_checkpoints",
        head.slot + 1
    ))
    .assert_error(404);
}

const STATUSES: [&str; 9] = [
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

#[test]
fn validators_and_balances() {
    let state = head_state();
    let n = state.validators.len();
    assert!(n > 32, "deposits added validators: {n}");
    let all = ok_json("/eth/v1/beacon/states/head/validators");
    let items = all["data"].as_array().expect("array");
    assert_eq!(items.len(), n);
    for (i, item) in items.iter().enumerate() {
        let v = state.validators.get(i).expect("validator");
        assert_eq!(item["index"], i.to_string());
        assert_eq!(
            item["balance"],
            state.balances.get(i).expect("b").to_string()
        );
        assert!(STATUSES.contains(&item["status"].as_str().expect("status")));
        assert_eq!(item["validator"]["pubkey"], format!("{:?}", v.pubkey));
        assert_eq!(
            item["validator"]["effective_balance"],
            v.effective_balance.to_string()
        );
        assert_eq!(item["validator"]["slashed"], v.slashed);
    }
    assert_eq!(items[0]["status"], "active_ongoing");
    // Groups partition the registry.
    let count = |q: &str| {
        ok_json(&format!("/eth/v1/beacon/states/head/validators?{q}"))["data"]
            .as_array()
            .map_or(0, Vec::len)
    };
    let active = count("status=active");
    let pending = count("status=pending");
    assert_eq!(active + pending + count("status=exited,withdrawal"), n);
    assert_eq!(
        active,
        count("status=active_ongoing&status=active_exiting,active_slashed")
    );
    assert!(pending > 0, "deposited validators are pending");
    // Ids: indices and pubkeys, duplicates collapsed, unknown skipped.
    let pk2 = format!("{:?}", state.validators.get(2).expect("v").pubkey);
    let r = ok_json(&format!(
        "/eth/v1/beacon/states/head/validators?id=0,1&id={pk2}&id=1&id=100000&id=0x{}",
        "ab".repeat(48)
    ));
    let idx: Vec<&str> = r["data"]
        .as_array()
        .expect("a")
        .iter()
        .filter_map(|v| v["index"].as_str())
        .collect();
    assert_eq!(idx, ["0", "1", "2"]);
    assert_eq!(r["finalized"], false);
    // POST: same semantics, body filters.
    let r = post_json(
        "/eth/v1/beacon/states/head/validators",
        &json!({"ids": ["0", pk2], "statuses": ["active_ongoing"]}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["data"].as_array().map(Vec::len), Some(2));
    let r = post_json("/eth/v1/beacon/states/head/validators", &json!({}));
    assert_eq!(r.json()["data"].as_array().map(Vec::len), Some(n));
    let r = post_json(
        "/eth/v1/beacon/states/head/validators",
        &json!({"ids": null, "statuses": ["pending"]}),
    );
    assert_eq!(r.json()["data"].as_array().map(Vec::len), Some(pending));
    // Bad input.
    get("/eth/v1/beacon/states/head/validators?status=sleeping").assert_error(400);
    get("/eth/v1/beacon/states/head/validators?id=0x1234").assert_error(400);
    get("/eth/v1/beacon/states/head/validators?id=-5").assert_error(400);
    let too_many: Vec<String> = (0..65).map(|i| i.to_string()).collect();
    get(&format!(
        "/eth/v1/beacon/states/head/validators?id={}",
        too_many.join(",")
    ))
    .assert_error(414);
    request(
        fixture().addr,
        "POST",
        "/eth/v1/beacon/states/head/validators",
        &[("Content-Type", "text/plain")],
        b"{}",
    )
    .assert_error(415);
    request(
        fixture().addr,
        "POST",
        "/eth/v1/beacon/states/head/validators",
        &[("Content-Type", "application/json")],
        b"{\"ids\": [1,",
    )
    .assert_error(400);
    post_json(
        "/eth/v1/beacon/states/head/validators",
        &json!({"ids": ["zero"]}),
    )
    .assert_error(400);
    post_json("/eth/v1/beacon/states/nowhere/validators", &json!({})).assert_error(400);
    request(
        fixture().addr,
        "POST",
        "/eth/v1/beacon/states/head/validators",
        &[("Content-Type", "application/json")],
        &vec![b' '; (1 << 20) + 10],
    )
    .assert_error(413);

    // One validator.
    let r = ok_json(&format!("/eth/v1/beacon/states/head/validators/{pk2}"));
    assert_eq!(r["data"]["index"], "2");
    let r = ok_json("/eth/v1/beacon/states/finalized/validators/5");
    assert_eq!(r["data"]["index"], "5");
    assert_eq!(r["finalized"], true);
    get("/eth/v1/beacon/states/head/validators/100000").assert_error(404);
    get(&format!(
        "/eth/v1/beacon/states/head/validators/0x{}",
        "cd".repeat(48)
    ))
    .assert_error(404);
    get("/eth/v1/beacon/states/head/validators/x").assert_error(400);

    // Balances.
    let r = ok_json("/eth/v1/beacon/states/head/validator_balances?id=3,4");
    assert_eq!(
        r["data"],
        json!([
            {"index": "3", "balance": state.balances.get(3).expect("b").to_string()},
            {"index": "4", "balance": state.balances.get(4).expect("b").to_string()},
        ])
    );
    let r = ok_json("/eth/v1/beacon/states/head/validator_balances");
    assert_eq!(r["data"].as_array().map(Vec::len), Some(n));
    let r = post_json(
        "/eth/v1/beacon/states/head/validator_balances",
        &json!(["1", pk2]),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["data"][1]["index"], "2");
    post_json(
        "/eth/v1/beacon/states/head/validator_balances",
        &json!({"ids": ["1"]}),
    )
    .assert_error(400);
}

#[test]
fn committees() {
    let state = head_state();
    let epoch = state.slot / 8;
    let r = ok_json("/eth/v1/beacon/states/head/committees");
    let items = r["data"].as_array().expect("array");
    // Minimal preset, 32+ active validators: 1 committee per slot, 8 slots.
    assert_eq!(items.len(), 8, "{r}");
    let mut members = std::collections::HashSet::new();
    for (i, item) in items.iter().enumerate() {
        assert_eq!(item["index"], "0");
        assert_eq!(item["slot"], (epoch * 8 + i as u64).to_string());
        for v in item["validators"].as_array().expect("validators") {
            assert!(members.insert(v.as_str().expect("string").to_string()));
        }
    }
    let active = ok_json("/eth/v1/beacon/states/head/validators?status=active")["data"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(
        members.len(),
        active,
        "every active validator once per epoch"
    );
    let slot = epoch * 8 + 3;
    let r = ok_json(&format!(
        "/eth/v1/beacon/states/head/committees?slot={slot}&index=0"
    ));
    assert_eq!(r["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(r["data"][0], items[3]);
    let r = ok_json(&format!(
        "/eth/v1/beacon/states/head/committees?epoch={}",
        epoch + 1
    ));
    assert_eq!(r["data"][0]["slot"], ((epoch + 1) * 8).to_string());
    get("/eth/v1/beacon/states/head/committees?epoch=0").assert_error(400);
    get(&format!(
        "/eth/v1/beacon/states/head/committees?slot={}",
        (epoch + 1) * 8
    ))
    .assert_error(400);
    get("/eth/v1/beacon/states/head/committees?index=7").assert_error(400);
    get("/eth/v1/beacon/states/head/committees?epoch=soon").assert_error(400);
}

// ---- config --------------------------------------------------------------------------------

#[test]
fn config_endpoints() {
    let spec = ok_json("/eth/v1/config/spec");
    let d = &spec["data"];
    assert_eq!(d["PRESET_BASE"], "minimal");
    assert_eq!(d["SLOTS_PER_EPOCH"], "8");
    assert_eq!(d["SECONDS_PER_ETH1_BLOCK"], "14");
    assert_eq!(d["ELECTRA_FORK_EPOCH"], "0");
    assert_eq!(d["MAX_EFFECTIVE_BALANCE_ELECTRA"], "2048000000000");
    assert_eq!(d["DOMAIN_RANDAO"], "0x02000000");
    assert_eq!(d["BLOB_SCHEDULE"], json!([]));
    let schedule = ok_json("/eth/v1/config/fork_schedule");
    let forks = schedule["data"].as_array().expect("array");
    assert_eq!(forks.len(), 7);
    assert_eq!(
        forks.last(),
        Some(
            &json!({"previous_version": "0x05000001", "current_version": "0x06000001", "epoch": "0"})
        )
    );
    let dc = ok_json("/eth/v1/config/deposit_contract");
    assert_eq!(dc["data"]["chain_id"], "5");
    assert_eq!(
        dc["data"]["address"].as_str().map(str::to_ascii_lowercase),
        Some("0x1234567890123456789012345678901234567890".to_string())
    );
}

// ---- debug ---------------------------------------------------------------------------------

#[test]
fn debug_state_fork_choice_heads() {
    let head = store().pointer(PointerName::Head).expect("head");
    let state = head_state();
    let r = get_ssz("/eth/v2/debug/beacon/states/head");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Eth-Consensus-Version"), Some("fulu"));
    let mut decoded = BeaconState::from_ssz_bytes(&r.body).expect("decodes");
    decoded.apply_pending_updates().expect("apply");
    assert_eq!(decoded.tree_hash_root(), head.state_root);
    assert_eq!(decoded, state);
    let r = get("/eth/v2/debug/beacon/states/finalized");
    assert_eq!(r.header("Eth-Consensus-Version"), Some("fulu"));
    let j = r.json();
    assert_eq!(j["version"], "fulu");
    assert_eq!(j["finalized"], true);
    let fin = store().pointer(PointerName::Finalized).expect("f");
    assert_eq!(j["data"]["slot"], fin.slot.to_string());
    assert_eq!(
        j["data"]["genesis_validators_root"],
        hex(&state.genesis_validators_root)
    );
    assert!(j["data"]["validators"].is_array());
    assert!(j["data"]["proposer_lookahead"].is_array());
    get("/eth/v2/debug/beacon/states/0x").assert_error(400);
    get_ssz(&format!(
        "/eth/v2/debug/beacon/states/0x{}",
        "44".repeat(32)
    ))
    .assert_error(404);

    let fc = ok_json("/eth/v1/debug/fork_choice");
    assert_eq!(fc["finalized_checkpoint"]["epoch"], fin.epoch.to_string());
    assert_eq!(fc["finalized_checkpoint"]["root"], hex(&fin.block_root));
    let nodes = fc["fork_choice_nodes"].as_array().expect("nodes");
    let hot = store().hot_blocks().expect("hot").len();
    assert_eq!(nodes.len(), hot + 1);
    for node in nodes {
        for key in [
            "slot",
            "block_root",
            "parent_root",
            "justified_epoch",
            "finalized_epoch",
            "weight",
            "execution_block_hash",
        ] {
            assert!(node[key].is_string(), "{key}: {node}");
        }
        assert_eq!(node["validity"], "valid");
    }
    let heads = ok_json("/eth/v2/debug/beacon/heads");
    let leaves: Vec<&str> = heads["data"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|h| h["root"].as_str())
        .collect();
    assert!(leaves.contains(&hex(&head.block_root).as_str()), "{heads}");
    assert!(
        leaves.contains(&hex(&fixture().sibling).as_str()),
        "{heads}"
    );
    assert_eq!(heads["data"][0]["execution_optimistic"], false);
}

// ---- routing and hostile input -------------------------------------------------------------

#[test]
fn routing_and_malformed_requests() {
    get("/eth/v1/nothing/here").assert_error(404);
    get("/").assert_error(404);
    request(fixture().addr, "POST", "/eth/v1/node/version", &[], b"").assert_error(405);
    request(
        fixture().addr,
        "DELETE",
        "/eth/v2/beacon/blocks/head",
        &[],
        b"",
    )
    .assert_error(405);
    get(&format!(
        "/eth/v1/beacon/states/{}/root",
        "9".repeat(10_000)
    ))
    .assert_error(414);
    get("/eth/v1/beacon/states/%00%ff/root").assert_error(400);
    get("/eth/v1/beacon/headers/%zz").assert_error(400);
    get(&format!("/eth/v1/beacon/genesis?{}", "a=1&".repeat(200))).assert_error(414);
    // Trailing slash tolerated.
    assert_eq!(get("/eth/v1/node/version/").status, 200);
    // Raw garbage on the socket: the server keeps serving.
    let mut s = TcpStream::connect(fixture().addr).expect("connect");
    let _ = s.write_all(b"\x00\x01\x02 not http\r\n\r\n");
    drop(s);
    assert_eq!(get("/eth/v1/node/version").status, 200);
}

// ---- events --------------------------------------------------------------------------------

/// Opens an event stream and returns the reader past the response head.
fn open_stream(addr: SocketAddr, topics: &str) -> (u16, BufReader<TcpStream>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(
        format!("GET /eth/v1/events?topics={topics} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
            .as_bytes(),
    )
    .expect("write");
    let mut reader = BufReader::new(s);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).expect("status");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
    }
    (status, reader)
}

/// Reads one chunk of a chunked response body (`None` at the last chunk).
fn read_chunk(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut size_line = String::new();
    reader.read_line(&mut size_line).expect("chunk size");
    let size = usize::from_str_radix(size_line.trim(), 16).expect("hex chunk size");
    let mut data = vec![0u8; size + 2];
    reader.read_exact(&mut data).expect("chunk data");
    assert_eq!(&data[size..], b"\r\n");
    data.truncate(size);
    (size > 0).then_some(data)
}

/// Reads SSE messages until one arrives; returns (event, data).
fn next_event(reader: &mut BufReader<TcpStream>) -> (String, String) {
    let mut text = String::new();
    loop {
        let chunk = read_chunk(reader).expect("stream ended");
        text.push_str(std::str::from_utf8(&chunk).expect("utf8"));
        while let Some(end) = text.find("\n\n") {
            let message: String = text.drain(..end + 2).collect();
            let mut event = String::new();
            let mut data = String::new();
            for line in message.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = e.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = d.to_string();
                }
            }
            if !event.is_empty() {
                return (event, data);
            }
        }
    }
}

/// The fixture's store behind a backend with an event bus of its own, so tests that count
/// subscribers or flood the bus do not see each other.
struct OwnBus {
    backend: Arc<StoreBackend>,
}

fn own_bus() -> OwnBus {
    OwnBus {
        backend: Arc::new(StoreBackend {
            store: fixture().backend.store.clone(),
            bus: EventBus::default(),
        }),
    }
}

fn wait_for(mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn events_stream_limits_and_shutdown() {
    let f = &own_bus();
    // A server of its own, so the subscriber bound and shutdown are observed in isolation.
    let server = serve(
        f.backend.clone(),
        ApiConfig {
            port: 0,
            workers: 1,
            max_sse_subscribers: 1,
            ..ApiConfig::default()
        },
    )
    .expect("serve");
    let addr = server.local_addr();
    let before = f.backend.bus.subscriber_count();
    let (status, mut reader) = open_stream(addr, "head,chain_reorg");
    assert_eq!(status, 200);
    wait_for(|| f.backend.bus.subscriber_count() > before);
    // A second subscriber is over the bound: 503 with the standard body.
    request(addr, "GET", "/eth/v1/events?topics=head", &[], &[]).assert_error(503);
    // Unknown topics and a missing topics parameter are 400s.
    request(addr, "GET", "/eth/v1/events?topics=attestation", &[], &[]).assert_error(400);
    request(addr, "GET", "/eth/v1/events", &[], &[]).assert_error(400);
    // The one-worker server still answers while the stream is open.
    assert_eq!(
        request(addr, "GET", "/eth/v1/node/version", &[], &[]).status,
        200
    );

    // A block event (not subscribed) then a head event: only the head event arrives.
    let head = HeadEvent {
        slot: 41,
        block: Hash256::repeat_byte(1),
        state: Hash256::repeat_byte(2),
        epoch_transition: true,
        previous_duty_dependent_root: Hash256::repeat_byte(3),
        current_duty_dependent_root: Hash256::repeat_byte(4),
        execution_optimistic: false,
    };
    f.backend.bus.publish(Event::Block(BlockEvent {
        slot: 41,
        block: Hash256::repeat_byte(1),
        execution_optimistic: false,
    }));
    f.backend.bus.publish(Event::Head(head));
    let (event, data) = next_event(&mut reader);
    assert_eq!(event, "head");
    let data: Value = serde_json::from_str(&data).expect("json data");
    assert_eq!(
        data,
        json!({
            "slot": "41",
            "block": hex(&Hash256::repeat_byte(1)),
            "state": hex(&Hash256::repeat_byte(2)),
            "epoch_transition": true,
            "previous_duty_dependent_root": hex(&Hash256::repeat_byte(3)),
            "current_duty_dependent_root": hex(&Hash256::repeat_byte(4)),
            "execution_optimistic": false,
        })
    );

    // The node's head event helper: duty-dependent roots from the head state match the store.
    let head = store().pointer(PointerName::Head).expect("head");
    let state = head_state();
    let Event::Head(e) =
        ember::api::minimal::head_event(&state, head.block_root, head.state_root, false, false)
    else {
        panic!("a head event")
    };
    let epoch = head.slot / 8;
    assert!(epoch >= 2);
    let canonical = |slot: u64| {
        store()
            .block_root_at_slot(slot)
            .expect("read")
            .expect("root")
    };
    assert_eq!(e.current_duty_dependent_root, canonical(epoch * 8 - 1));
    assert_eq!(
        e.previous_duty_dependent_root,
        canonical((epoch - 1) * 8 - 1)
    );
    assert_eq!(
        (e.slot, e.block, e.state),
        (head.slot, head.block_root, head.state_root)
    );

    // Shutdown ends the open stream (its last chunk arrives) and returns promptly.
    let start = Instant::now();
    server.shutdown();
    assert!(start.elapsed() < Duration::from_secs(5));
    while read_chunk(&mut reader).is_some() {}
    wait_for(|| f.backend.bus.subscriber_count() == before);
    assert!(TcpStream::connect(addr)
        .and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            s.write_all(b"GET /eth/v1/node/version HTTP/1.1\r\nHost: x\r\n\r\n")?;
            let mut buf = [0u8; 1];
            s.read(&mut buf)
        })
        .map_or(true, |n| n == 0));
}

#[test]
fn slow_subscriber_is_dropped() {
    let f = &own_bus();
    let server = serve(
        f.backend.clone(),
        ApiConfig {
            port: 0,
            workers: 1,
            max_sse_subscribers: 1,
            ..ApiConfig::default()
        },
    )
    .expect("serve");
    let addr = server.local_addr();
    let before = f.backend.bus.subscriber_count();
    // Subscribes, then never reads: the kernel buffers fill, the stream thread blocks on its
    // write, the bus overwrites what it has not taken, and the subscriber is dropped. The
    // publisher never waits.
    let (status, reader) = open_stream(addr, "block");
    assert_eq!(status, 200);
    wait_for(|| f.backend.bus.subscriber_count() > before);
    let start = Instant::now();
    for slot in 0..200_000u64 {
        f.backend.bus.publish(Event::Block(BlockEvent {
            slot,
            block: Hash256::repeat_byte(9),
            execution_optimistic: false,
        }));
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "publishing never blocks"
    );
    // Reading now unblocks the stream thread, which finds it has lagged and closes the stream:
    // the read ends (EOF) instead of timing out.
    let mut reader = reader;
    let mut chunks = 0u64;
    while read_chunk(&mut reader).is_some() {
        chunks += 1;
    }
    assert!(
        chunks < 200_000,
        "the stream ended early: {chunks} events delivered"
    );
    // The slot is freed; a new subscriber is admitted.
    wait_for(|| {
        let (status, _r) = open_stream(addr, "head");
        status == 200
    });
    server.shutdown();
}

#[test]
fn http10_event_stream_is_raw_and_closed() {
    let f = &own_bus();
    let server = serve(
        f.backend.clone(),
        ApiConfig {
            port: 0,
            workers: 1,
            ..ApiConfig::default()
        },
    )
    .expect("serve");
    let mut s = TcpStream::connect(server.local_addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(b"GET /eth/v1/events?topics=finalized_checkpoint HTTP/1.0\r\nHost: x\r\n\r\n")
        .expect("write");
    wait_for(|| f.backend.bus.subscriber_count() > 0);
    f.backend.bus.publish(Event::FinalizedCheckpoint(
        ember::api::events::FinalizedCheckpointEvent {
            block: Hash256::repeat_byte(7),
            state: Hash256::repeat_byte(8),
            epoch: 3,
            execution_optimistic: false,
        },
    ));
    let mut lines = BufReader::new(s).lines();
    let status = lines.next().expect("status").expect("read");
    assert!(status.starts_with("HTTP/1.0 200"), "{status}");
    let data = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("data: ").map(str::to_string))
        .expect("an event");
    assert_eq!(
        serde_json::from_str::<Value>(&data).expect("json"),
        json!({"block": hex(&Hash256::repeat_byte(7)), "state": hex(&Hash256::repeat_byte(8)),
               "epoch": "3", "execution_optimistic": false})
    );
    // Shutdown ends the stream: the server closes the connection (EOF for the reader).
    server.shutdown();
    assert_eq!(
        lines
            .map_while(Result::ok)
            .filter(|l| l.starts_with("data:"))
            .count(),
        0
    );
}
