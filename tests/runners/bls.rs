//! `bls` runner: `general/{phase0,altair}/bls/<handler>/bls/<case>/data.yaml`.
//!
//! Each case is `input` + `output`. For the verify-style handlers an input that does not decode
//! (bad length, not on the curve, not in the subgroup, infinity key) makes the spec function
//! return false, exactly as the reference implementation catches the failed decoding; for the
//! handlers that return a value, `output: null` means the operation must fail.

use super::{hex_bytes, read_yaml};
use crate::{Case, Outcome};
use ember::consensus::bls::{self, BlsError, PublicKey, SecretKey, Signature, SignatureSet};
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// The RFC 9380 test DST the `hash_to_G2` vectors were generated with.
const HASH_TO_G2_DST: &[u8] = b"QUUX-V01-CS02-with-BLS12381G2_XMD:SHA-256_SSWU_RO_";

pub fn run(case: &Case) -> Outcome {
    let result = match case.handler.as_str() {
        "aggregate" => aggregate(case),
        "aggregate_verify" => aggregate_verify(case),
        "batch_verify" => batch_verify(case),
        "deserialization_G1" => deserialization_g1(case),
        "deserialization_G2" => deserialization_g2(case),
        "eth_aggregate_pubkeys" => eth_aggregate_pubkeys(case),
        "eth_fast_aggregate_verify" => eth_fast_aggregate_verify(case),
        "fast_aggregate_verify" => fast_aggregate_verify(case),
        "hash_to_G2" => hash_to_g2(case),
        "sign" => sign(case),
        "verify" => verify(case),
        other => return Outcome::Skip(format!("bls handler {other} not supported")),
    };
    match result {
        Ok(()) => Outcome::Pass,
        Err(why) => Outcome::Fail(why),
    }
}

// ---- shared parsing -------------------------------------------------------------------------

#[derive(Deserialize)]
struct Data<I, O> {
    input: I,
    output: O,
}

fn load<I: DeserializeOwned, O: DeserializeOwned>(case: &Case) -> Result<Data<I, O>, String> {
    read_yaml(&case.file("data.yaml"))
}

/// Malformed hex is a broken vector (a harness failure); bytes that are not a valid point are
/// the case's subject and come back as a `BlsError` from the decoders below.
fn bytes_list(hexes: &[String]) -> Result<Vec<Vec<u8>>, String> {
    hexes.iter().map(|h| hex_bytes(h)).collect()
}

fn pubkey(hex: &str) -> Result<Result<PublicKey, BlsError>, String> {
    Ok(PublicKey::from_bytes(&hex_bytes(hex)?))
}

fn pubkeys(hexes: &[String]) -> Result<Result<Vec<PublicKey>, BlsError>, String> {
    Ok(bytes_list(hexes)?
        .iter()
        .map(|b| PublicKey::from_bytes(b))
        .collect())
}

fn signature(hex: &str) -> Result<Result<Signature, BlsError>, String> {
    Ok(Signature::from_bytes(&hex_bytes(hex)?))
}

fn signatures(hexes: &[String]) -> Result<Result<Vec<Signature>, BlsError>, String> {
    Ok(bytes_list(hexes)?
        .iter()
        .map(|b| Signature::from_bytes(b))
        .collect())
}

fn expect_eq<T: PartialEq + std::fmt::Debug>(got: T, expected: T) -> Result<(), String> {
    if got == expected {
        Ok(())
    } else {
        Err(format!("got {got:?}, expected {expected:?}"))
    }
}

/// Compares a fallible result with an `output` that is either the hex of the value or null.
fn expect_hex_or_null(
    got: Result<Vec<u8>, BlsError>,
    expected: Option<&str>,
) -> Result<(), String> {
    match (got, expected) {
        (Ok(bytes), Some(hex)) => expect_eq(
            format!("0x{}", hex::encode(bytes)),
            format!("0x{}", hex::encode(hex_bytes(hex)?)),
        ),
        (Err(_), None) => Ok(()),
        (Ok(bytes), None) => Err(format!("expected failure, got 0x{}", hex::encode(bytes))),
        (Err(e), Some(hex)) => Err(format!("expected {hex}, failed: {e}")),
    }
}

// ---- handlers -------------------------------------------------------------------------------

#[derive(Deserialize)]
struct VerifyInput {
    pubkey: String,
    message: String,
    signature: String,
}

fn verify(case: &Case) -> Result<(), String> {
    let d: Data<VerifyInput, bool> = load(case)?;
    let message = hex_bytes(&d.input.message)?;
    let got = match (pubkey(&d.input.pubkey)?, signature(&d.input.signature)?) {
        (Ok(pk), Ok(sig)) => bls::verify(&pk, &message, &sig),
        _ => false,
    };
    expect_eq(got, d.output)
}

#[derive(Deserialize)]
struct AggregateVerifyInput {
    pubkeys: Vec<String>,
    messages: Vec<String>,
    signature: String,
}

fn aggregate_verify(case: &Case) -> Result<(), String> {
    let d: Data<AggregateVerifyInput, bool> = load(case)?;
    let messages = bytes_list(&d.input.messages)?;
    let got = match (pubkeys(&d.input.pubkeys)?, signature(&d.input.signature)?) {
        (Ok(pks), Ok(sig)) => bls::aggregate_verify(&pks, &messages, &sig),
        _ => false,
    };
    expect_eq(got, d.output)
}

#[derive(Deserialize)]
struct FastAggregateVerifyInput {
    pubkeys: Vec<String>,
    message: String,
    signature: String,
}

/// Shared by `fast_aggregate_verify` and Altair's `eth_fast_aggregate_verify`.
fn fast_aggregate_verify_with(
    case: &Case,
    f: fn(&[PublicKey], &[u8], &Signature) -> bool,
) -> Result<(), String> {
    let d: Data<FastAggregateVerifyInput, bool> = load(case)?;
    let message = hex_bytes(&d.input.message)?;
    let got = match (pubkeys(&d.input.pubkeys)?, signature(&d.input.signature)?) {
        (Ok(pks), Ok(sig)) => f(&pks, &message, &sig),
        _ => false,
    };
    expect_eq(got, d.output)
}

fn fast_aggregate_verify(case: &Case) -> Result<(), String> {
    fast_aggregate_verify_with(case, bls::fast_aggregate_verify)
}

fn eth_fast_aggregate_verify(case: &Case) -> Result<(), String> {
    fast_aggregate_verify_with(case, bls::eth_fast_aggregate_verify)
}

#[derive(Deserialize)]
struct BatchVerifyInput {
    pubkeys: Vec<String>,
    messages: Vec<String>,
    signatures: Vec<String>,
}

fn batch_verify(case: &Case) -> Result<(), String> {
    let d: Data<BatchVerifyInput, bool> = load(case)?;
    let messages = bytes_list(&d.input.messages)?;
    let n = d.input.pubkeys.len();
    if messages.len() != n || d.input.signatures.len() != n {
        return Err("pubkeys, messages and signatures differ in length".into());
    }
    let got = match (pubkeys(&d.input.pubkeys)?, signatures(&d.input.signatures)?) {
        (Ok(pks), Ok(sigs)) => {
            let sets: Option<Vec<SignatureSet>> = pks
                .iter()
                .zip(&sigs)
                .zip(&messages)
                .map(|((pk, sig), msg)| {
                    let msg: [u8; 32] = msg.as_slice().try_into().ok()?;
                    Some(SignatureSet::single(sig, pk, msg))
                })
                .collect();
            let sets = sets.ok_or("batch_verify messages must be 32 bytes")?;
            bls::batch_verify(&sets)
        }
        _ => false,
    };
    expect_eq(got, d.output)
}

#[derive(Deserialize)]
struct SignInput {
    privkey: String,
    message: String,
}

fn sign(case: &Case) -> Result<(), String> {
    let d: Data<SignInput, Option<String>> = load(case)?;
    let message = hex_bytes(&d.input.message)?;
    let got = SecretKey::from_bytes(&hex_bytes(&d.input.privkey)?)
        .map(|sk| bls::sign(&sk, &message).to_bytes().to_vec());
    expect_hex_or_null(got, d.output.as_deref())
}

fn aggregate(case: &Case) -> Result<(), String> {
    let d: Data<Vec<String>, Option<String>> = load(case)?;
    let got = signatures(&d.input)?
        .and_then(|sigs| bls::aggregate(&sigs))
        .map(|sig| sig.to_bytes().to_vec());
    expect_hex_or_null(got, d.output.as_deref())
}

fn eth_aggregate_pubkeys(case: &Case) -> Result<(), String> {
    let d: Data<Vec<String>, Option<String>> = load(case)?;
    let got = pubkeys(&d.input)?
        .and_then(|pks| bls::eth_aggregate_pubkeys(&pks))
        .map(|pk| pk.to_bytes().to_vec());
    expect_hex_or_null(got, d.output.as_deref())
}

#[derive(Deserialize)]
struct DeserializationG1Input {
    pubkey: String,
}

/// Decoding only: the identity is a valid G1 *encoding* (output true) even though `KeyValidate`
/// rejects it, so `PublicKeyIsInfinity` — reported only after a successful decompression and
/// subgroup check — counts as decoded here.
fn deserialization_g1(case: &Case) -> Result<(), String> {
    let d: Data<DeserializationG1Input, bool> = load(case)?;
    let got = match pubkey(&d.input.pubkey)? {
        Ok(_) | Err(BlsError::PublicKeyIsInfinity) => true,
        Err(_) => false,
    };
    expect_eq(got, d.output)
}

#[derive(Deserialize)]
struct DeserializationG2Input {
    signature: String,
}

fn deserialization_g2(case: &Case) -> Result<(), String> {
    let d: Data<DeserializationG2Input, bool> = load(case)?;
    expect_eq(signature(&d.input.signature)?.is_ok(), d.output)
}

#[derive(Deserialize)]
struct HashToG2Input {
    msg: String,
}

/// Coordinates as the vectors write them: `"0x<c0>,0x<c1>"`.
#[derive(Deserialize)]
struct HashToG2Output {
    x: String,
    y: String,
}

fn fp2_hex(c: &[[u8; 48]; 2]) -> String {
    format!("0x{},0x{}", hex::encode(c[0]), hex::encode(c[1]))
}

fn hash_to_g2(case: &Case) -> Result<(), String> {
    // The message is the literal string, not hex.
    let d: Data<HashToG2Input, HashToG2Output> = load(case)?;
    let p = bls::hash_to_g2(d.input.msg.as_bytes(), HASH_TO_G2_DST).map_err(|e| e.to_string())?;
    expect_eq(fp2_hex(&p.x), d.output.x.to_lowercase())?;
    expect_eq(fp2_hex(&p.y), d.output.y.to_lowercase())
}
