//! The Engine API client against the real `ember mock-el` process on 127.0.0.1: capabilities,
//! the forkchoiceUpdated → getPayload → newPayload round trip, a tampered payload, a bad JWT,
//! getBlobs, and a mock EL restarted on its datadir that goes on building on the head.

use ember::consensus::execution::NewPayloadRequest;
use ember::consensus::minimal::transition::block::execution_payload_view;
use ember::consensus::primitives::{ExecutionAddress, Hash256};
use ember::execution::{
    codes, methods, minimal, EngineClient, EngineError, ForkchoiceState, JsonExecutionPayload,
    JsonWithdrawal, JwtSecret, PayloadAttributes, PayloadStatusKind,
};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The genesis execution block of a devnet (`INTEROP_ETH1_BLOCK_HASH`).
const GENESIS_HASH: Hash256 = Hash256::repeat_byte(0x42);
const GENESIS_TIME: u64 = 1_700_000_000;

/// A running `ember mock-el`, killed when dropped.
struct MockEl {
    child: Child,
    endpoint: String,
}

impl MockEl {
    /// Starts the binary on a free port (`--port 0`) and reads the address it prints.
    fn start(secret: &Path, datadir: &Path) -> MockEl {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ember"))
            .args(["mock-el", "--address", "127.0.0.1", "--port", "0"])
            .arg("--jwt-secret")
            .arg(secret)
            .arg("--datadir")
            .arg(datadir)
            .args(["--genesis-time", &GENESIS_TIME.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ember mock-el");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let endpoint = line
            .trim()
            .strip_prefix("mock-el listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
        MockEl { child, endpoint }
    }
}

impl Drop for MockEl {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ember-engine-api-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A secret file written by the test (the mock EL reads it; the client uses the same bytes).
fn secret_file(dir: &Path) -> (PathBuf, JwtSecret) {
    let path = dir.join("jwt.hex");
    let secret = JwtSecret::generate();
    std::fs::write(&path, format!("0x{}\n", secret.to_hex())).unwrap();
    (path, secret)
}

fn fork_choice(head: Hash256) -> ForkchoiceState {
    ForkchoiceState {
        head_block_hash: head,
        safe_block_hash: head,
        finalized_block_hash: GENESIS_HASH,
    }
}

fn attributes(timestamp: u64, beacon_root: Hash256) -> PayloadAttributes {
    PayloadAttributes {
        timestamp,
        prev_randao: Hash256::repeat_byte(0x5a),
        suggested_fee_recipient: ExecutionAddress::repeat_byte(0xfe),
        withdrawals: vec![JsonWithdrawal {
            index: 0,
            validator_index: 17,
            address: ExecutionAddress::repeat_byte(0x0a),
            amount: 1_234,
        }],
        parent_beacon_block_root: beacon_root,
    }
}

/// forkchoiceUpdated with attributes on `head`, then getPayload.
async fn build(
    client: &EngineClient,
    head: Hash256,
    timestamp: u64,
    beacon_root: Hash256,
) -> JsonExecutionPayload {
    let response = client
        .forkchoice_updated(fork_choice(head), Some(attributes(timestamp, beacon_root)))
        .await
        .unwrap();
    assert_eq!(response.payload_status.status, PayloadStatusKind::Valid);
    assert_eq!(response.payload_status.latest_valid_hash, Some(head));
    let id = response.payload_id.expect("payload id");
    let built = client.get_payload(id).await.unwrap();
    assert!(built.blobs_bundle.blobs.is_empty() && built.blobs_bundle.proofs.is_empty());
    assert!(built.execution_requests.is_empty());
    assert!(!built.should_override_builder);
    minimal::blobs_bundle_commitments(&built.blobs_bundle).unwrap();
    built.execution_payload
}

/// newPayload through the consensus types, as the node sends it.
async fn import(
    client: &EngineClient,
    payload: &JsonExecutionPayload,
    beacon_root: Hash256,
) -> ember::execution::PayloadStatus {
    let consensus = minimal::execution_payload_from_json(payload).unwrap();
    let request = NewPayloadRequest {
        execution_payload: execution_payload_view(&consensus),
        versioned_hashes: vec![],
        parent_beacon_block_root: beacon_root,
        execution_requests_list: vec![],
    };
    client.new_payload(&request).await.unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn client_against_mock_el() {
    let dir = temp_dir("main");
    let (secret_path, secret) = secret_file(&dir);
    let mock = MockEl::start(&secret_path, &dir.join("el"));
    let client = EngineClient::new(&mock.endpoint, secret.clone()).unwrap();

    // engine_exchangeCapabilities.
    let capabilities = client.exchange_capabilities().await.unwrap();
    for method in methods::SUPPORTED {
        assert!(capabilities.iter().any(|m| m == method), "{method}");
    }
    // common.md: the method itself is never in the answer.
    assert!(!capabilities
        .iter()
        .any(|m| m == methods::EXCHANGE_CAPABILITIES));

    // fcU + attributes → getPayload → newPayload VALID, twice (a chain of two blocks).
    let root_1 = Hash256::repeat_byte(1);
    let one = build(&client, GENESIS_HASH, GENESIS_TIME + 6, root_1).await;
    assert_eq!(one.parent_hash, GENESIS_HASH);
    assert_eq!(one.block_number, 1);
    assert_eq!(one.timestamp, GENESIS_TIME + 6);
    assert_eq!(one.prev_randao, Hash256::repeat_byte(0x5a));
    assert_eq!(one.fee_recipient, ExecutionAddress::repeat_byte(0xfe));
    assert_eq!(one.withdrawals.len(), 1);
    assert_eq!(one.gas_limit, 36_000_000);
    assert_eq!(
        one.base_fee_per_gas,
        alloy_primitives::U256::from(875_000_000u64)
    );
    assert!(one.transactions.is_empty());
    let status = import(&client, &one, root_1).await;
    assert_eq!(status.status, PayloadStatusKind::Valid);
    assert_eq!(status.latest_valid_hash, Some(one.block_hash));

    let root_2 = Hash256::repeat_byte(2);
    let two = build(&client, one.block_hash, GENESIS_TIME + 12, root_2).await;
    assert_eq!((two.parent_hash, two.block_number), (one.block_hash, 2));
    assert_eq!(
        import(&client, &two, root_2).await.status,
        PayloadStatusKind::Valid
    );

    // A tampered payload (or the wrong parent beacon root) does not hash: INVALID with a null
    // latestValidHash (shanghai.md: INVALID supplants INVALID_BLOCK_HASH from V2 on).
    let mut tampered = two.clone();
    tampered.state_root = Hash256::repeat_byte(0xee);
    let status = import(&client, &tampered, root_2).await;
    assert_eq!(status.status, PayloadStatusKind::Invalid);
    assert_eq!(status.latest_valid_hash, None);
    assert!(status.validation_error.unwrap().contains("block hash"));
    let status = import(&client, &two, root_1).await;
    assert_eq!(status.status, PayloadStatusKind::Invalid);

    // An unknown payload id: -38001.
    let error = client
        .get_payload(ember::execution::PayloadId::repeat_byte(0x77))
        .await
        .unwrap_err();
    assert_eq!(error.rpc_code(), Some(codes::UNKNOWN_PAYLOAD), "{error}");

    // A head the mock EL never saw: SYNCING, no build.
    let response = client
        .forkchoice_updated(
            fork_choice(Hash256::repeat_byte(0x33)),
            Some(attributes(GENESIS_TIME + 18, root_2)),
        )
        .await
        .unwrap();
    assert_eq!(response.payload_status.status, PayloadStatusKind::Syncing);
    assert_eq!(response.payload_id, None);

    // engine_getBlobsV2: no blob pool, so null for any missing blob; [] for nothing asked.
    assert_eq!(client.get_blobs(&[]).await.unwrap(), Some(vec![]));
    assert_eq!(
        client
            .get_blobs(&[Hash256::repeat_byte(0x01)])
            .await
            .unwrap(),
        None
    );

    // A client with another secret: HTTP 401 as a typed error.
    let intruder = EngineClient::new(&mock.endpoint, JwtSecret::generate()).unwrap();
    let error = intruder.exchange_capabilities().await.unwrap_err();
    assert!(error.is_unauthorized(), "{error}");
    assert!(matches!(error, EngineError::Http { status: 401, .. }));

    // No token and a stale token: 401 with a JSON body.
    let http = reqwest::Client::new();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"engine_exchangeCapabilities","params":[[]]}"#;
    let tokens = [
        None,
        Some(secret.token(ember::execution::jwt::unix_now() - 120)),
    ];
    for token in tokens {
        let mut request = http.post(&mock.endpoint).body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401);
        let json: serde_json::Value =
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert!(json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unauthorized"));
    }

    // Garbage bodies get JSON-RPC errors, and the server stays up.
    let response = http
        .post(&mock.endpoint)
        .bearer_auth(secret.token(ember::execution::jwt::unix_now()))
        .body("{\"method\": [")
        .send()
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(json["error"]["code"], serde_json::json!(codes::PARSE_ERROR));
    assert!(client.exchange_capabilities().await.is_ok());

    drop(mock);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A devnet resumed with the same datadir: the restarted mock EL knows the node's head and
/// builds its child.
#[tokio::test(flavor = "current_thread")]
async fn restarted_mock_el_builds_on_the_head() {
    let dir = temp_dir("restart");
    let (secret_path, secret) = secret_file(&dir);
    let el_dir = dir.join("el");
    let head = {
        let mock = MockEl::start(&secret_path, &el_dir);
        let client = EngineClient::new(&mock.endpoint, secret.clone()).unwrap();
        let root = Hash256::repeat_byte(9);
        let one = build(&client, GENESIS_HASH, GENESIS_TIME + 6, root).await;
        assert_eq!(
            import(&client, &one, root).await.status,
            PayloadStatusKind::Valid
        );
        one
    };
    let mock = MockEl::start(&secret_path, &el_dir);
    let client = EngineClient::new(&mock.endpoint, secret).unwrap();
    let two = build(
        &client,
        head.block_hash,
        GENESIS_TIME + 12,
        Hash256::repeat_byte(10),
    )
    .await;
    assert_eq!((two.parent_hash, two.block_number), (head.block_hash, 2));
    assert_eq!(
        two.base_fee_per_gas,
        alloy_primitives::U256::from(765_625_000u64)
    );
    drop(mock);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Nothing listening: a transport error, not a hang or a panic.
#[tokio::test(flavor = "current_thread")]
async fn unreachable_endpoint_is_a_transport_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client =
        EngineClient::new(&format!("http://127.0.0.1:{port}"), JwtSecret::generate()).unwrap();
    let error = client.exchange_capabilities().await.unwrap_err();
    assert!(matches!(error, EngineError::Transport { .. }), "{error}");
    assert!(EngineClient::new("https://127.0.0.1:8551", JwtSecret::generate()).is_err());
    assert!(EngineClient::new("not a url", JwtSecret::generate()).is_err());
}

/// A raw TCP server on 127.0.0.1 answering every connection with `reply` (or holding it open
/// without a word when `reply` is `None`).
fn raw_server(reply: Option<&'static str>) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf);
        match reply {
            Some(reply) => {
                let _ = stream.write_all(reply.as_bytes());
            }
            None => std::thread::sleep(std::time::Duration::from_secs(2)),
        }
    });
    (endpoint, handle)
}

/// The spec's 1 s timeout of engine_getPayloadV5 is enforced, and answers that are not
/// JSON-RPC are decode errors.
#[tokio::test(flavor = "current_thread")]
async fn timeouts_and_garbage_answers_are_typed_errors() {
    let (endpoint, server) = raw_server(None);
    let client = EngineClient::new(&endpoint, JwtSecret::generate()).unwrap();
    let started = std::time::Instant::now();
    let error = client
        .get_payload(ember::execution::PayloadId::repeat_byte(1))
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(
            error,
            EngineError::Timeout {
                timeout_ms: 1000,
                ..
            }
        ),
        "{error}"
    );
    assert!(
        waited >= methods::GET_PAYLOAD_TIMEOUT && waited.as_secs() < 3,
        "{waited:?}"
    );
    server.join().unwrap();

    let (endpoint, server) = raw_server(Some(
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    ));
    let client = EngineClient::new(&endpoint, JwtSecret::generate()).unwrap();
    let error = client.exchange_capabilities().await.unwrap_err();
    assert!(matches!(error, EngineError::Decode { .. }), "{error}");
    server.join().unwrap();

    let (endpoint, server) = raw_server(Some(
        "HTTP/1.1 200 OK\r\nContent-Length: 61\r\nConnection: close\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32601,\"message\":\"\"}}",
    ));
    let client = EngineClient::new(&endpoint, JwtSecret::generate()).unwrap();
    let error = client.exchange_capabilities().await.unwrap_err();
    assert_eq!(error.rpc_code(), Some(codes::METHOD_NOT_FOUND), "{error}");
    server.join().unwrap();
}
