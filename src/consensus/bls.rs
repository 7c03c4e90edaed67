//! BLS12-381 signatures (min-pubkey-size, proof-of-possession scheme) on blst.
//!
//! Public keys live in G1 (48 bytes compressed), signatures in G2 (96 bytes compressed), as the
//! consensus specs require. Function names follow the IETF BLS draft and the consensus specs;
//! the infinity and validation rules are the spec's, which the `general/*/bls` vectors pin down.
//!
//! Validation happens once, when bytes become a point: a [`PublicKey`] built from bytes has passed
//! `KeyValidate` (on the curve, in G1, not the point at infinity) and a [`Signature`] is on the
//! curve and in G2 (infinity allowed, as the spec allows it). The verify functions therefore
//! skip blst's own group checks instead of paying for them on every call.

use std::borrow::Borrow;
use std::fmt;

use blst::min_pk::{
    AggregateSignature as BlstAggregateSignature, PublicKey as BlstPublicKey,
    SecretKey as BlstSecretKey, Signature as BlstSignature,
};
use blst::{
    blst_p1, blst_p1_affine, blst_p1_to_affine, blst_p1s_add, blst_p2_affine, blst_scalar,
    BLST_ERROR,
};
use rand::Rng;

/// The consensus specs' ciphersuite: hash to G2 with SSWU, proof-of-possession scheme.
pub const DST: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

/// Length of a compressed G1 public key (`BLSPubkey`).
pub const PUBLIC_KEY_BYTES_LEN: usize = 48;
/// Length of a compressed G2 signature (`BLSSignature`).
pub const SIGNATURE_BYTES_LEN: usize = 96;
/// Length of a big-endian secret key scalar.
pub const SECRET_KEY_BYTES_LEN: usize = 32;
/// Length of an uncompressed G2 point (blst's `serialize`), which [`hash_to_g2`] splits up.
const G2_UNCOMPRESSED_BYTES_LEN: usize = 192;

/// `G2_POINT_AT_INFINITY` (Altair): the compressed encoding of the identity in G2.
pub const INFINITY_SIGNATURE: [u8; SIGNATURE_BYTES_LEN] = {
    let mut b = [0u8; SIGNATURE_BYTES_LEN];
    b[0] = 0xc0;
    b
};

/// The compressed encoding of the identity in G1; never a valid public key.
pub const INFINITY_PUBLIC_KEY: [u8; PUBLIC_KEY_BYTES_LEN] = {
    let mut b = [0u8; PUBLIC_KEY_BYTES_LEN];
    b[0] = 0xc0;
    b
};

/// Bits of each random blinding scalar in [`batch_verify`]: a forged set slips through with
/// probability about 2^-64.
const RAND_BITS: usize = 64;

/// What failed while decoding, validating or combining BLS values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlsError {
    #[error("{what} must be {expected} bytes, got {got}")]
    InvalidLength {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("secret key is zero or not below the group order")]
    InvalidSecretKey,
    #[error("key generation needs at least 32 bytes of input keying material")]
    KeyGen,
    #[error("public key is not a valid compressed G1 encoding")]
    PublicKeyEncoding,
    #[error("public key is not on the curve")]
    PublicKeyNotOnCurve,
    #[error("public key is not in the G1 subgroup")]
    PublicKeyNotInSubgroup,
    #[error("public key is the point at infinity")]
    PublicKeyIsInfinity,
    #[error("signature is not a valid compressed G2 encoding")]
    SignatureEncoding,
    #[error("signature is not on the curve")]
    SignatureNotOnCurve,
    #[error("signature is not in the G2 subgroup")]
    SignatureNotInSubgroup,
    #[error("cannot aggregate an empty list")]
    EmptyAggregate,
    #[error("blst failed unexpectedly: {0}")]
    Internal(&'static str),
}

impl BlsError {
    fn public_key(e: BLST_ERROR) -> Self {
        match e {
            BLST_ERROR::BLST_POINT_NOT_ON_CURVE => Self::PublicKeyNotOnCurve,
            BLST_ERROR::BLST_POINT_NOT_IN_GROUP => Self::PublicKeyNotInSubgroup,
            BLST_ERROR::BLST_PK_IS_INFINITY => Self::PublicKeyIsInfinity,
            _ => Self::PublicKeyEncoding,
        }
    }

    fn signature(e: BLST_ERROR) -> Self {
        match e {
            BLST_ERROR::BLST_POINT_NOT_ON_CURVE => Self::SignatureNotOnCurve,
            BLST_ERROR::BLST_POINT_NOT_IN_GROUP => Self::SignatureNotInSubgroup,
            _ => Self::SignatureEncoding,
        }
    }
}

fn check_len(what: &'static str, bytes: &[u8], expected: usize) -> Result<(), BlsError> {
    if bytes.len() == expected {
        Ok(())
    } else {
        Err(BlsError::InvalidLength {
            what,
            expected,
            got: bytes.len(),
        })
    }
}

/// A secret key: a scalar in `[1, r)`. Zeroized on drop; `Debug` does not print it.
#[derive(Clone)]
pub struct SecretKey(BlstSecretKey);

impl SecretKey {
    /// Parses a 32-byte big-endian scalar, rejecting zero and values `>= r` (spec `OS2IP` +
    /// range check), so a bad key fails here rather than signing garbage.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        check_len("secret key", bytes, SECRET_KEY_BYTES_LEN)?;
        BlstSecretKey::from_bytes(bytes)
            .map(Self)
            .map_err(|_| BlsError::InvalidSecretKey)
    }

    /// The 32-byte big-endian encoding.
    pub fn to_bytes(&self) -> [u8; SECRET_KEY_BYTES_LEN] {
        self.0.to_bytes()
    }

    /// Spec `KeyGen(IKM)` (HKDF-based, IETF draft v4+): deterministic key from at least 32 bytes
    /// of keying material. Used for tests, benches and interop keys; not for validator keystores.
    pub fn key_gen(ikm: &[u8]) -> Result<Self, BlsError> {
        BlstSecretKey::key_gen(ikm, &[])
            .map(Self)
            .map_err(|_| BlsError::KeyGen)
    }

    /// Spec `SkToPk`.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.sk_to_pk())
    }

    /// Spec `Sign(SK, message)`.
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.0.sign(message, DST, &[]))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl TryFrom<&[u8]> for SecretKey {
    type Error = BlsError;
    fn try_from(bytes: &[u8]) -> Result<Self, BlsError> {
        Self::from_bytes(bytes)
    }
}

/// A public key in G1 that has passed `KeyValidate` when it was decoded.
///
/// The one way to hold the identity is as the result of [`eth_aggregate_pubkeys`] over keys that
/// cancel out; every verify function rejects it, as `CoreVerify` runs `KeyValidate` on the
/// (aggregate) key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(BlstPublicKey);

impl PublicKey {
    /// Spec `pubkey_to_point` + `KeyValidate`: 48 compressed bytes, on the curve, in G1 and not
    /// the identity. Anything else is an error, never a panic.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        check_len("public key", bytes, PUBLIC_KEY_BYTES_LEN)?;
        let pk = BlstPublicKey::uncompress(bytes).map_err(BlsError::public_key)?;
        pk.validate().map_err(BlsError::public_key)?;
        Ok(Self(pk))
    }

    /// Spec `point_to_pubkey`: the 48-byte compressed encoding.
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_BYTES_LEN] {
        self.0.compress()
    }

    /// Whether this is the identity (only possible for an aggregate, see the type's docs).
    pub fn is_infinity(&self) -> bool {
        self.0 == BlstPublicKey::default()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(0x{})", hex::encode(self.to_bytes()))
    }
}

impl TryFrom<&[u8]> for PublicKey {
    type Error = BlsError;
    fn try_from(bytes: &[u8]) -> Result<Self, BlsError> {
        Self::from_bytes(bytes)
    }
}

impl TryFrom<&[u8; PUBLIC_KEY_BYTES_LEN]> for PublicKey {
    type Error = BlsError;
    fn try_from(bytes: &[u8; PUBLIC_KEY_BYTES_LEN]) -> Result<Self, BlsError> {
        Self::from_bytes(bytes)
    }
}

impl From<&PublicKey> for [u8; PUBLIC_KEY_BYTES_LEN] {
    fn from(pk: &PublicKey) -> Self {
        pk.to_bytes()
    }
}

/// A signature: a G2 point known to be on the curve and in the subgroup. The identity
/// ([`INFINITY_SIGNATURE`]) is a valid encoding; it just never verifies against a real key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(BlstSignature);

impl Signature {
    /// Spec `signature_to_point` + `subgroup_check`: 96 compressed bytes, on the curve, in G2.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        check_len("signature", bytes, SIGNATURE_BYTES_LEN)?;
        let sig = BlstSignature::uncompress(bytes).map_err(BlsError::signature)?;
        sig.validate(false).map_err(BlsError::signature)?;
        Ok(Self(sig))
    }

    /// Spec `point_to_signature`: the 96-byte compressed encoding.
    pub fn to_bytes(&self) -> [u8; SIGNATURE_BYTES_LEN] {
        self.0.compress()
    }

    /// `G2_POINT_AT_INFINITY` as a point.
    pub fn infinity() -> Self {
        Self(BlstSignature::from(blst_p2_affine::default()))
    }

    /// Whether this is `G2_POINT_AT_INFINITY` (blst keeps the identity as the all-zero point).
    pub fn is_infinity(&self) -> bool {
        self.0 == BlstSignature::from(blst_p2_affine::default())
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature(0x{})", hex::encode(self.to_bytes()))
    }
}

impl TryFrom<&[u8]> for Signature {
    type Error = BlsError;
    fn try_from(bytes: &[u8]) -> Result<Self, BlsError> {
        Self::from_bytes(bytes)
    }
}

impl TryFrom<&[u8; SIGNATURE_BYTES_LEN]> for Signature {
    type Error = BlsError;
    fn try_from(bytes: &[u8; SIGNATURE_BYTES_LEN]) -> Result<Self, BlsError> {
        Self::from_bytes(bytes)
    }
}

impl From<&Signature> for [u8; SIGNATURE_BYTES_LEN] {
    fn from(sig: &Signature) -> Self {
        sig.to_bytes()
    }
}

/// A running sum of signatures in projective form, for pools that aggregate one at a time
/// without paying an affine conversion per addition.
#[derive(Clone, Copy)]
pub struct AggregateSignature(BlstAggregateSignature);

impl AggregateSignature {
    /// Starts from the identity, so adding nothing yields `G2_POINT_AT_INFINITY`.
    pub fn infinity() -> Self {
        Self(BlstAggregateSignature::from_signature(
            &Signature::infinity().0,
        ))
    }

    /// Adds one signature (already group-checked by [`Signature::from_bytes`]).
    pub fn add(&mut self, signature: &Signature) {
        self.0
            .add_aggregate(&BlstAggregateSignature::from_signature(&signature.0));
    }

    /// The sum as an affine signature.
    pub fn to_signature(&self) -> Signature {
        Signature(self.0.to_signature())
    }
}

impl Default for AggregateSignature {
    fn default() -> Self {
        Self::infinity()
    }
}

impl From<&Signature> for AggregateSignature {
    fn from(signature: &Signature) -> Self {
        Self(BlstAggregateSignature::from_signature(&signature.0))
    }
}

/// Spec `SkToPk(SK)`.
pub fn sk_to_pk(secret_key: &SecretKey) -> PublicKey {
    secret_key.public_key()
}

/// Spec `KeyValidate(PK)`: true iff the bytes decode to a G1 point in the subgroup that is not
/// the identity.
pub fn key_validate(pubkey: &[u8]) -> bool {
    PublicKey::from_bytes(pubkey).is_ok()
}

/// Spec `Sign(SK, message)`.
pub fn sign(secret_key: &SecretKey, message: &[u8]) -> Signature {
    secret_key.sign(message)
}

/// Spec `Verify(PK, message, signature)`. Both points were validated on decoding; blst's pairing
/// additionally refuses an identity key.
pub fn verify(pubkey: &PublicKey, message: &[u8], signature: &Signature) -> bool {
    !pubkey.is_infinity()
        && signature
            .0
            .verify(false, message, DST, &[], &pubkey.0, false)
            == BLST_ERROR::BLST_SUCCESS
}

/// Spec `Aggregate(signatures)`: the sum of the signatures; an empty list is an error.
pub fn aggregate<S: Borrow<Signature>>(signatures: &[S]) -> Result<Signature, BlsError> {
    if signatures.is_empty() {
        return Err(BlsError::EmptyAggregate);
    }
    let sigs: Vec<&BlstSignature> = signatures.iter().map(|s| &s.borrow().0).collect();
    // No group check: every `Signature` was checked when decoded.
    BlstAggregateSignature::aggregate(&sigs, false)
        .map(|agg| Signature(agg.to_signature()))
        .map_err(BlsError::signature)
}

/// Sum of public keys (the inner loop of `FastAggregateVerify` and `eth_aggregate_pubkeys`).
fn aggregate_pubkeys<P: Borrow<PublicKey>>(pubkeys: &[P]) -> Result<PublicKey, BlsError> {
    if pubkeys.is_empty() {
        return Err(BlsError::EmptyAggregate);
    }
    // No `KeyValidate` again, the type guarantees it. blst's bulk affine addition (batched
    // inversions, ~5M+1S per point, against 8M+5S for one mixed addition at a time): a block's
    // attestations sum ~70,000 keys.
    let points: Vec<*const blst_p1_affine> = pubkeys
        .iter()
        .map(|pk| {
            let point: &blst_p1_affine = (&pk.borrow().0).into();
            point as *const blst_p1_affine
        })
        .collect();
    let mut sum = blst_p1::default();
    let mut affine = blst_p1_affine::default();
    // SAFETY: `points` holds `points.len()` non-null pointers to valid affine points that
    // outlive the call (borrowed from `pubkeys`); blst reads each once and writes only `sum`.
    // `blst_p1_to_affine` reads `sum` and writes `affine`, both valid and distinct.
    unsafe {
        blst_p1s_add(&mut sum, points.as_ptr(), points.len());
        blst_p1_to_affine(&mut affine, &sum);
    }
    Ok(PublicKey(BlstPublicKey::from(affine)))
}

/// Spec `AggregateVerify((PK_1, message_1), ..., (PK_n, message_n), signature)`: false for no
/// pairs or mismatched lengths. The proof-of-possession scheme does not require distinct
/// messages, so none is demanded.
pub fn aggregate_verify<P, M>(pubkeys: &[P], messages: &[M], signature: &Signature) -> bool
where
    P: Borrow<PublicKey>,
    M: AsRef<[u8]>,
{
    if pubkeys.is_empty() || pubkeys.len() != messages.len() {
        return false;
    }
    if pubkeys.iter().any(|pk| pk.borrow().is_infinity()) {
        return false;
    }
    let pks: Vec<&BlstPublicKey> = pubkeys.iter().map(|pk| &pk.borrow().0).collect();
    let msgs: Vec<&[u8]> = messages.iter().map(AsRef::as_ref).collect();
    signature.0.aggregate_verify(false, &msgs, DST, &pks, false) == BLST_ERROR::BLST_SUCCESS
}

/// Spec `FastAggregateVerify(PK_1, ..., PK_n, message, signature)`: one message signed by all
/// keys. False for no keys, and for keys that sum to the identity (`KeyValidate` of the
/// aggregate in `CoreVerify`).
pub fn fast_aggregate_verify<P: Borrow<PublicKey>>(
    pubkeys: &[P],
    message: &[u8],
    signature: &Signature,
) -> bool {
    match aggregate_pubkeys(pubkeys) {
        Ok(aggregate) => verify(&aggregate, message, signature),
        Err(_) => false,
    }
}

/// Altair `eth_aggregate_pubkeys`: the sum of at least one (already `KeyValidate`d) key, e.g.
/// the sync committee's `aggregate_pubkey`. Like the spec it does not validate the sum.
pub fn eth_aggregate_pubkeys<P: Borrow<PublicKey>>(pubkeys: &[P]) -> Result<PublicKey, BlsError> {
    aggregate_pubkeys(pubkeys)
}

/// Altair `eth_fast_aggregate_verify`: as [`fast_aggregate_verify`], except that no keys with
/// the `G2_POINT_AT_INFINITY` signature is valid (an empty sync committee aggregate).
pub fn eth_fast_aggregate_verify<P: Borrow<PublicKey>>(
    pubkeys: &[P],
    message: &[u8],
    signature: &Signature,
) -> bool {
    if pubkeys.is_empty() && signature.is_infinity() {
        return true;
    }
    fast_aggregate_verify(pubkeys, message, signature)
}

/// One claim for [`batch_verify`]: `signature` is a valid signature of `message` by the sum of
/// `pubkeys` (one key for a block or exit, a committee for an attestation).
#[derive(Debug, Clone)]
pub struct SignatureSet<'a> {
    pub signature: &'a Signature,
    pub pubkeys: Vec<&'a PublicKey>,
    pub message: [u8; 32],
}

impl<'a> SignatureSet<'a> {
    /// A set signed by a single key.
    pub fn single(
        signature: &'a Signature,
        pubkey: &'a PublicKey,
        message: impl Into<[u8; 32]>,
    ) -> Self {
        Self {
            signature,
            pubkeys: vec![pubkey],
            message: message.into(),
        }
    }

    /// A set whose signature is an aggregate over one message by all `pubkeys`.
    pub fn multiple(
        signature: &'a Signature,
        pubkeys: Vec<&'a PublicKey>,
        message: impl Into<[u8; 32]>,
    ) -> Self {
        Self {
            signature,
            pubkeys,
            message: message.into(),
        }
    }
}

/// A non-zero 64-bit blinding scalar; zero would drop its set from the check entirely.
fn random_scalar(rng: &mut impl Rng) -> blst_scalar {
    let r = loop {
        let r: u64 = rng.gen();
        if r != 0 {
            break r;
        }
    };
    let mut scalar = blst_scalar::default();
    for (dst, src) in scalar.b.iter_mut().zip(r.to_le_bytes()) {
        *dst = src;
    }
    scalar
}

/// Checks many signature sets with one multi-pairing: `prod e(r_i * pk_i, H(m_i)) ==
/// e(g1, sum r_i * sig_i)` with random 64-bit `r_i`, so a forged set cannot be cancelled by
/// another (the ethresear.ch "fast verification of multiple BLS signatures" method).
///
/// True only if every set is valid, i.e. the conjunction of [`fast_aggregate_verify`] over the
/// sets (up to a 2^-64 chance). A false result does not say which set is bad: callers that need
/// to know verify the sets one by one. An empty batch is false, since nothing was verified; a
/// set with no keys, keys summing to the identity, or the identity signature fails the batch
/// (none of them can verify on its own).
pub fn batch_verify(sets: &[SignatureSet<'_>]) -> bool {
    if sets.is_empty() {
        return false;
    }
    let mut rng = rand::thread_rng();
    let mut pubkeys = Vec::with_capacity(sets.len());
    let mut rands = Vec::with_capacity(sets.len());
    for set in sets {
        if set.signature.is_infinity() {
            return false;
        }
        let Ok(pk) = aggregate_pubkeys(&set.pubkeys) else {
            return false;
        };
        if pk.is_infinity() {
            return false;
        }
        pubkeys.push(pk.0);
        rands.push(random_scalar(&mut rng));
    }
    let pks: Vec<&BlstPublicKey> = pubkeys.iter().collect();
    let sigs: Vec<&BlstSignature> = sets.iter().map(|set| &set.signature.0).collect();
    let msgs: Vec<&[u8]> = sets.iter().map(|set| set.message.as_slice()).collect();
    BlstSignature::verify_multiple_aggregate_signatures(
        &msgs, DST, &pks, false, &sigs, false, &rands, RAND_BITS,
    ) == BLST_ERROR::BLST_SUCCESS
}

/// An affine G2 point's coordinates, each an `Fp2` element `c0 + c1 * u` as two 48-byte
/// big-endian field elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct G2Affine {
    pub x: [[u8; 48]; 2],
    pub y: [[u8; 48]; 2],
}

/// IETF hash-to-curve `hash_to_curve` for `BLS12381G2_XMD:SHA-256_SSWU_RO_` with any `dst`
/// (signing uses [`DST`]); exposed for the `hash_to_G2` vectors.
///
/// blst's safe API has no bare hash-to-G2, but `Sign` is `[SK] * hash_to_curve(msg)`, so
/// signing with the secret key 1 yields exactly the hashed point with no `unsafe` here.
pub fn hash_to_g2(message: &[u8], dst: &[u8]) -> Result<G2Affine, BlsError> {
    let mut one = [0u8; SECRET_KEY_BYTES_LEN];
    if let Some(last) = one.last_mut() {
        *last = 1;
    }
    let sk = BlstSecretKey::from_bytes(&one).map_err(|_| BlsError::Internal("scalar one"))?;
    // Uncompressed (ZCash) layout: x.c1 || x.c0 || y.c1 || y.c0; the flag bits are clear unless
    // the point is the identity, which hashing reaches with negligible probability.
    let raw: [u8; G2_UNCOMPRESSED_BYTES_LEN] = sk.sign(message, dst, &[]).serialize();
    let mut limbs = raw.chunks_exact(48).map(<[u8; 48]>::try_from);
    let mut next = || {
        limbs
            .next()
            .and_then(Result::ok)
            .ok_or(BlsError::Internal("uncompressed G2 layout"))
    };
    let (x_c1, x_c0, y_c1, y_c0) = (next()?, next()?, next()?, next()?);
    Ok(G2Affine {
        x: [x_c0, x_c1],
        y: [y_c0, y_c1],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SecretKey {
        SecretKey::key_gen(&[seed; 32]).unwrap()
    }

    fn msg(i: u8) -> [u8; 32] {
        [i; 32]
    }

    #[test]
    fn sign_verify_roundtrip() {
        let sk = key(1);
        let pk = sk_to_pk(&sk);
        let sig = sign(&sk, b"hello");
        assert!(verify(&pk, b"hello", &sig));
        assert!(!verify(&pk, b"hellp", &sig));
        assert!(!verify(&key(2).public_key(), b"hello", &sig));

        let pk2 = PublicKey::from_bytes(&pk.to_bytes()).unwrap();
        let sig2 = Signature::from_bytes(&sig.to_bytes()).unwrap();
        assert_eq!(pk, pk2);
        assert_eq!(sig, sig2);
        assert!(verify(&pk2, b"hello", &sig2));
        let sk2 = SecretKey::from_bytes(&sk.to_bytes()).unwrap();
        assert_eq!(sk2.public_key(), pk);
    }

    #[test]
    fn byte_types_plug_in() {
        let pk = key(3).public_key();
        let fixed = alloy_primitives::FixedBytes::<48>::from(pk.to_bytes());
        assert_eq!(PublicKey::from_bytes(fixed.as_slice()).unwrap(), pk);
        assert_eq!(PublicKey::try_from(&fixed.0).unwrap(), pk);
        let sig = key(3).sign(b"m");
        let fixed = alloy_primitives::FixedBytes::<96>::from(sig.to_bytes());
        assert_eq!(Signature::try_from(&fixed.0).unwrap(), sig);
    }

    #[test]
    fn rejects_bad_encodings() {
        assert_eq!(
            SecretKey::from_bytes(&[0u8; 32]).unwrap_err(),
            BlsError::InvalidSecretKey
        );
        assert_eq!(
            SecretKey::from_bytes(&[0xff; 32]).unwrap_err(),
            BlsError::InvalidSecretKey
        );
        assert!(matches!(
            SecretKey::from_bytes(&[1; 31]),
            Err(BlsError::InvalidLength { got: 31, .. })
        ));
        assert_eq!(
            PublicKey::from_bytes(&INFINITY_PUBLIC_KEY).unwrap_err(),
            BlsError::PublicKeyIsInfinity
        );
        assert!(!key_validate(&INFINITY_PUBLIC_KEY));
        assert!(key_validate(&key(4).public_key().to_bytes()));
        assert!(PublicKey::from_bytes(&[0u8; 48]).is_err());
        assert!(PublicKey::from_bytes(&[]).is_err());
        assert!(Signature::from_bytes(&[0u8; 96]).is_err());
        assert!(Signature::from_bytes(&[0xff; 97]).is_err());
        let inf = Signature::from_bytes(&INFINITY_SIGNATURE).unwrap();
        assert!(inf.is_infinity());
        assert_eq!(inf, Signature::infinity());
        assert_eq!(inf.to_bytes(), INFINITY_SIGNATURE);
        assert!(!key(5).sign(b"x").is_infinity());
    }

    #[test]
    fn aggregate_and_fast_aggregate_verify() {
        let sks: Vec<SecretKey> = (10..14).map(key).collect();
        let pks: Vec<PublicKey> = sks.iter().map(SecretKey::public_key).collect();
        let sigs: Vec<Signature> = sks.iter().map(|sk| sk.sign(b"same")).collect();
        let agg = aggregate(&sigs).unwrap();
        assert!(fast_aggregate_verify(&pks, b"same", &agg));
        assert!(eth_fast_aggregate_verify(&pks, b"same", &agg));
        assert!(!fast_aggregate_verify(&pks[1..], b"same", &agg));
        assert!(!fast_aggregate_verify(&pks, b"other", &agg));

        let refs: Vec<&PublicKey> = pks.iter().collect();
        let agg_pk = eth_aggregate_pubkeys(&refs).unwrap();
        assert!(verify(&agg_pk, b"same", &agg));

        assert_eq!(
            aggregate::<Signature>(&[]).unwrap_err(),
            BlsError::EmptyAggregate
        );
        assert!(eth_aggregate_pubkeys::<PublicKey>(&[]).is_err());
        let inf = Signature::infinity();
        assert!(!fast_aggregate_verify::<PublicKey>(&[], b"same", &inf));
        assert!(eth_fast_aggregate_verify::<PublicKey>(&[], b"same", &inf));
        assert!(!eth_fast_aggregate_verify::<PublicKey>(&[], b"same", &agg));

        let mut running = AggregateSignature::infinity();
        for s in &sigs {
            running.add(s);
        }
        assert_eq!(running.to_signature(), agg);
        assert!(AggregateSignature::default().to_signature().is_infinity());
    }

    #[test]
    fn aggregate_verify_distinct_messages() {
        let sks: Vec<SecretKey> = (20..23).map(key).collect();
        let pks: Vec<PublicKey> = sks.iter().map(SecretKey::public_key).collect();
        let msgs: Vec<[u8; 32]> = (0..3).map(msg).collect();
        let sigs: Vec<Signature> = sks.iter().zip(&msgs).map(|(sk, m)| sk.sign(m)).collect();
        let agg = aggregate(&sigs).unwrap();
        assert!(aggregate_verify(&pks, &msgs, &agg));
        assert!(!aggregate_verify(&pks, &msgs[..2], &agg));
        assert!(!aggregate_verify(&pks[..2], &msgs[..2], &agg));
        assert!(!aggregate_verify::<PublicKey, [u8; 32]>(
            &[],
            &[],
            &Signature::infinity()
        ));
    }

    #[test]
    fn batch_verify_good_and_bad() {
        let sks: Vec<SecretKey> = (30..36).map(key).collect();
        let pks: Vec<PublicKey> = sks.iter().map(SecretKey::public_key).collect();
        let sigs: Vec<Signature> = sks
            .iter()
            .enumerate()
            .map(|(i, sk)| sk.sign(&msg(i as u8)))
            .collect();
        // One multi-key set: keys 4 and 5 both sign message 200.
        let multi = aggregate(&[sks[4].sign(&msg(200)), sks[5].sign(&msg(200))]).unwrap();

        let mut sets: Vec<SignatureSet> = (0..4)
            .map(|i| SignatureSet::single(&sigs[i], &pks[i], msg(i as u8)))
            .collect();
        sets.push(SignatureSet::multiple(
            &multi,
            vec![&pks[4], &pks[5]],
            msg(200),
        ));
        assert!(batch_verify(&sets));
        assert!(batch_verify(&sets[..1]));

        // A set with the wrong message sinks the batch.
        let mut bad = sets.clone();
        bad[2].message = msg(99);
        assert!(!batch_verify(&bad));

        // Swapped signatures: each set individually wrong, sum unchanged. Blinding catches it.
        let mut swapped = sets.clone();
        swapped[0].signature = &sigs[1];
        swapped[1].signature = &sigs[0];
        assert!(!batch_verify(&swapped));

        let inf = Signature::infinity();
        let mut with_inf = sets.clone();
        with_inf[3].signature = &inf;
        assert!(!batch_verify(&with_inf));

        let mut no_keys = sets.clone();
        no_keys[4].pubkeys.clear();
        assert!(!batch_verify(&no_keys));

        assert!(!batch_verify(&[]));
    }

    #[test]
    fn hash_to_g2_is_sign_with_one() {
        // RFC 9380 J.10.1, msg "abc".
        let p = hash_to_g2(
            b"abc",
            b"QUUX-V01-CS02-with-BLS12381G2_XMD:SHA-256_SSWU_RO_",
        )
        .unwrap();
        assert_eq!(
            hex::encode(p.x[0]),
            "02c2d18e033b960562aae3cab37a27ce00d80ccd5ba4b7fe0e7a210245129dbec7780ccc7954725f4168aff2787776e6"
        );
    }
}
