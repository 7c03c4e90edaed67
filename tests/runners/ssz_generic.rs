//! `ssz_generic` runner: `general/phase0/ssz_generic/<handler>/<valid|invalid>/<case>/`.
//!
//! The SSZ type is named by the case (`vec_uint16_4_random`, `bitlist_5_zero`, `uint_256_max`,
//! `SmallTestStruct_...`) and mapped to a concrete type of the field's crates: `ethereum_ssz`
//! (+derive), `ssz_types`, `tree_hash` (+derive), `alloy_primitives`.
//!
//! - valid: decode succeeds, re-encoding gives the same bytes, `hash_tree_root` equals
//!   `meta.yaml`'s `root`, and the value equals `value.yaml` (compared as YAML values in the
//!   generator's encoding: uints up to 64 bits as numbers, wider ones as decimal strings, byte
//!   lists and bitfields as `0x`-hex of their SSZ bytes).
//! - invalid: decode must fail.
//!
//! The `containers` handler includes two containers with EIP-7916 fields (`ProgressiveList`,
//! `ProgressiveBitList`), which `ssz_types` 0.14 does not have. The wrappers below provide them:
//! their SSZ encoding is exactly that of an unbounded list / bitlist, so encoding and decoding
//! delegate to the crates (`Vec<T>`, `BitList`); only `hash_tree_root` (progressive
//! merkleization) is written here.

use super::{hex_bytes, read_ssz_snappy, read_yaml};
use crate::{Case, Outcome};
use alloy_primitives::{U128, U256};
use serde_yaml::{Mapping, Value};
use ssz::{BitList, BitVector, Decode, Encode};
use ssz_derive::{Decode, Encode};
use ssz_types::{FixedVector, VariableList};
use std::fmt::Debug;
use tree_hash::{Hash256, PackedEncoding, TreeHash, TreeHashType};
use tree_hash_derive::TreeHash;
use typenum::Unsigned;

pub fn run(case: &Case) -> Outcome {
    if case.suite != "valid" && case.suite != "invalid" {
        return Outcome::Skip(format!("ssz_generic suite {} unknown", case.suite));
    }
    match case.handler.as_str() {
        "boolean" => check::<bool>(case),
        "uints" => uints(case),
        "basic_vector" => basic_vector(case),
        "bitvector" => bitvector(case),
        "bitlist" => bitlist(case),
        "containers" => containers(case),
        other => Outcome::Skip(format!("ssz_generic handler {other} not supported")),
    }
}

// ---------------------------------------------------------------------------------------------
// The check every case gets.

#[derive(serde::Deserialize)]
struct Meta {
    root: String,
}

fn check<T>(case: &Case) -> Outcome
where
    T: Encode + Decode + TreeHash + ToYaml + Debug,
{
    match check_inner::<T>(case) {
        Ok(()) => Outcome::Pass,
        Err(why) => Outcome::Fail(why),
    }
}

fn check_inner<T>(case: &Case) -> Result<(), String>
where
    T: Encode + Decode + TreeHash + ToYaml + Debug,
{
    let bytes = read_ssz_snappy(&case.file("serialized.ssz_snappy"))?;
    if case.suite == "invalid" {
        return match T::from_ssz_bytes(&bytes) {
            Err(_) => Ok(()),
            Ok(value) => Err(format!(
                "invalid bytes 0x{} decoded to {}",
                hex::encode(&bytes),
                truncate(&format!("{value:?}"))
            )),
        };
    }

    let value = T::from_ssz_bytes(&bytes).map_err(|e| format!("decode: {e:?}"))?;
    let encoded = value.as_ssz_bytes();
    if encoded != bytes {
        return Err(format!(
            "re-encoding differs: 0x{} != 0x{}",
            truncate(&hex::encode(&encoded)),
            truncate(&hex::encode(&bytes))
        ));
    }

    let meta: Meta = read_yaml(&case.file("meta.yaml"))?;
    let expected_root = hex_bytes(&meta.root)?;
    let root = value.tree_hash_root();
    if root.as_slice() != expected_root.as_slice() {
        return Err(format!("hash_tree_root {root} != {}", meta.root));
    }

    let expected: Value = read_yaml(&case.file("value.yaml"))?;
    let got = value.to_yaml();
    if got != expected {
        return Err(format!(
            "value differs: {} != {}",
            truncate(&format!("{got:?}")),
            truncate(&format!("{expected:?}"))
        ));
    }
    Ok(())
}

fn truncate(s: &str) -> String {
    const MAX: usize = 300;
    match s.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}...", &s[..at]),
        None => s.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Type dispatch from case names.

/// Runs `$body` with `$n` bound to the typenum type for the length `$len`, or skips.
macro_rules! with_length {
    (@arms $len:expr, $n:ident, $body:expr; $($value:literal $ty:ident),*) => {
        match $len {
            $($value => {
                type $n = typenum::$ty;
                $body
            })*
            other => Outcome::Skip(format!("no typenum length {other} in this runner")),
        }
    };
    ($len:expr, $n:ident => $body:expr) => {
        with_length!(@arms $len, $n, $body;
            0 U0, 1 U1, 2 U2, 3 U3, 4 U4, 5 U5, 6 U6, 7 U7, 8 U8, 9 U9, 15 U15, 16 U16, 17 U17,
            31 U31, 32 U32, 33 U33, 511 U511, 512 U512, 513 U513)
    };
}

/// The `<i>`-th `_`-separated part of the case name, parsed as a length.
fn name_part(case: &Case, i: usize) -> Result<&str, Outcome> {
    case.name
        .split('_')
        .nth(i)
        .ok_or_else(|| Outcome::Skip(format!("case name {} not understood", case.name)))
}

fn name_len(case: &Case, i: usize) -> Result<usize, Outcome> {
    let part = name_part(case, i)?;
    part.parse()
        .map_err(|_| Outcome::Skip(format!("case name {}: {part} is not a length", case.name)))
}

/// `uint_<bits>_...`
fn uints(case: &Case) -> Outcome {
    match name_part(case, 1) {
        Ok("8") => check::<u8>(case),
        Ok("16") => check::<u16>(case),
        Ok("32") => check::<u32>(case),
        Ok("64") => check::<u64>(case),
        Ok("128") => check::<U128>(case),
        Ok("256") => check::<U256>(case),
        Ok(other) => Outcome::Skip(format!("uint{other} not supported")),
        Err(skip) => skip,
    }
}

/// `vec_<elem>_<length>_...`: `Vector[elem, length]`.
fn basic_vector(case: &Case) -> Outcome {
    let len = match name_len(case, 2) {
        Ok(len) => len,
        Err(skip) => return skip,
    };
    match name_part(case, 1) {
        Ok("bool") => with_length!(len, N => check::<FixedVector<bool, N>>(case)),
        Ok("uint8") => with_length!(len, N => check::<FixedVector<u8, N>>(case)),
        Ok("uint16") => with_length!(len, N => check::<FixedVector<u16, N>>(case)),
        Ok("uint32") => with_length!(len, N => check::<FixedVector<u32, N>>(case)),
        Ok("uint64") => with_length!(len, N => check::<FixedVector<u64, N>>(case)),
        Ok("uint128") => with_length!(len, N => check::<FixedVector<U128, N>>(case)),
        Ok("uint256") => with_length!(len, N => check::<FixedVector<U256, N>>(case)),
        Ok(other) => Outcome::Skip(format!("vector element type {other} not supported")),
        Err(skip) => skip,
    }
}

/// `bitvec_<size>_...`: `Bitvector[size]`.
fn bitvector(case: &Case) -> Outcome {
    match name_len(case, 1) {
        Ok(len) => with_length!(len, N => check::<BitVector<N>>(case)),
        Err(skip) => skip,
    }
}

/// `bitlist_<limit>_...`: `Bitlist[limit]`.
fn bitlist(case: &Case) -> Outcome {
    match name_len(case, 1) {
        Ok(len) => with_length!(len, N => check::<BitList<N>>(case)),
        Err(skip) => skip,
    }
}

/// `<ContainerName>_...`
fn containers(case: &Case) -> Outcome {
    match name_part(case, 0) {
        Ok("SingleFieldTestStruct") => check::<SingleFieldTestStruct>(case),
        Ok("SmallTestStruct") => check::<SmallTestStruct>(case),
        Ok("FixedTestStruct") => check::<FixedTestStruct>(case),
        Ok("VarTestStruct") => check::<VarTestStruct>(case),
        Ok("ComplexTestStruct") => check::<ComplexTestStruct>(case),
        Ok("BitsStruct") => check::<BitsStruct>(case),
        Ok("ProgressiveTestStruct") => check::<ProgressiveTestStruct>(case),
        Ok("ProgressiveBitsStruct") => check::<ProgressiveBitsStruct>(case),
        Ok(other) => Outcome::Skip(format!("container {other} not defined in this runner")),
        Err(skip) => skip,
    }
}

// ---------------------------------------------------------------------------------------------
// The test containers (consensus-specs `ssz_generic_cases/ssz_container.py`).

#[derive(Debug, PartialEq, Encode, Decode, TreeHash)]
struct SingleFieldTestStruct {
    a: u8,
}

#[derive(Debug, PartialEq, Encode, Decode, TreeHash)]
struct SmallTestStruct {
    a: u16,
    b: u16,
}

#[derive(Debug, PartialEq, Encode, Decode, TreeHash)]
struct FixedTestStruct {
    a: u8,
    b: u64,
    c: u32,
}

#[derive(Debug, PartialEq, Encode, Decode, TreeHash)]
struct VarTestStruct {
    a: u16,
    b: VariableList<u16, typenum::U1024>,
    c: u8,
}

#[derive(Debug, PartialEq, Encode, Decode, TreeHash)]
struct ComplexTestStruct {
    a: u16,
    b: VariableList<u16, typenum::U128>,
    c: u8,
    /// `ByteList[256]`
    d: VariableList<u8, typenum::U256>,
    e: VarTestStruct,
    f: FixedVector<FixedTestStruct, typenum::U4>,
    g: FixedVector<VarTestStruct, typenum::U2>,
}

#[derive(Debug, PartialEq, Encode, Decode, TreeHash)]
struct ProgressiveTestStruct {
    a: ProgressiveList<u8>,
    b: ProgressiveList<u64>,
    c: ProgressiveList<SmallTestStruct>,
    d: ProgressiveList<ProgressiveList<VarTestStruct>>,
}

#[derive(Debug, PartialEq, Encode, Decode, TreeHash)]
struct BitsStruct {
    a: BitList<typenum::U5>,
    b: BitVector<typenum::U2>,
    c: BitVector<typenum::U1>,
    d: BitList<typenum::U6>,
    e: BitVector<typenum::U8>,
}

/// typenum names every number only up to 1024.
type U1280 = typenum::Sum<typenum::U1024, typenum::U256>;
type U1281 = typenum::Sum<U1280, typenum::U1>;

#[derive(Debug, PartialEq, Encode, Decode, TreeHash)]
struct ProgressiveBitsStruct {
    a: BitVector<typenum::U256>,
    b: BitList<typenum::U256>,
    c: ProgressiveBitList,
    d: BitVector<typenum::U257>,
    e: BitList<typenum::U257>,
    f: ProgressiveBitList,
    g: BitVector<U1280>,
    h: BitList<U1280>,
    i: ProgressiveBitList,
    j: BitVector<U1281>,
    k: BitList<U1281>,
    l: ProgressiveBitList,
}

// ---------------------------------------------------------------------------------------------
// EIP-7916 progressive types (not in ssz_types 0.14).

/// `merkleize_progressive(chunks, num_leaves)` (SSZ spec, EIP-7916), over packed chunk bytes
/// (the last chunk may be short; it is zero-padded): `Bytes32()` for no chunks, else
/// `hash(merkleize(chunks[:num_leaves], num_leaves), merkleize_progressive(chunks[num_leaves:], num_leaves * 4))`.
///
/// The current spec grows the tree to the right (this level's subtree is the left child); the
/// first EIP-7916 draft had the two children the other way round and does not match the vectors.
fn merkleize_progressive(bytes: &[u8], num_leaves: usize) -> Hash256 {
    if bytes.is_empty() {
        return Hash256::ZERO;
    }
    let (head, rest) = bytes.split_at(bytes.len().min(num_leaves * tree_hash::BYTES_PER_CHUNK));
    let subtree = tree_hash::merkle_root(head, num_leaves);
    let successor = merkleize_progressive(rest, num_leaves * 4);
    Hash256::from(ethereum_hashing::hash32_concat(
        subtree.as_slice(),
        successor.as_slice(),
    ))
}

/// `ProgressiveList[T]`: serialised like an unbounded `List[T, N]` (so `Vec<T>`'s SSZ impls),
/// merkleized progressively with the length mixed in.
#[derive(Debug, Clone, PartialEq)]
struct ProgressiveList<T>(Vec<T>);

impl<T: Encode> Encode for ProgressiveList<T> {
    fn is_ssz_fixed_len() -> bool {
        false
    }

    fn ssz_append(&self, buf: &mut Vec<u8>) {
        self.0.ssz_append(buf)
    }

    fn ssz_bytes_len(&self) -> usize {
        self.0.ssz_bytes_len()
    }
}

impl<T: Decode> Decode for ProgressiveList<T> {
    fn is_ssz_fixed_len() -> bool {
        false
    }

    fn from_ssz_bytes(bytes: &[u8]) -> Result<Self, ssz::DecodeError> {
        Vec::<T>::from_ssz_bytes(bytes).map(Self)
    }
}

impl<T: TreeHash> TreeHash for ProgressiveList<T> {
    fn tree_hash_type() -> TreeHashType {
        TreeHashType::List
    }

    fn tree_hash_packed_encoding(&self) -> PackedEncoding {
        unreachable!("a list is never packed")
    }

    fn tree_hash_packing_factor() -> usize {
        unreachable!("a list is never packed")
    }

    fn tree_hash_root(&self) -> Hash256 {
        let chunks: Vec<u8> = match T::tree_hash_type() {
            TreeHashType::Basic => self
                .0
                .iter()
                .flat_map(|item| item.tree_hash_packed_encoding())
                .collect(),
            _ => self
                .0
                .iter()
                .flat_map(|item| item.tree_hash_root().0)
                .collect(),
        };
        tree_hash::mix_in_length(&merkleize_progressive(&chunks, 1), self.0.len())
    }
}

/// The largest limit typenum offers conveniently; `ProgressiveBitList` has none, this only
/// stands in for "unbounded" when reusing `BitList`'s SSZ codec.
type UnboundedBits = typenum::U1099511627776;

/// `ProgressiveBitList`: serialised like a `Bitlist[N]` (delimiter bit), merkleized
/// progressively over its bitfield bytes with the bit length mixed in.
#[derive(Debug, Clone, PartialEq)]
struct ProgressiveBitList(BitList<UnboundedBits>);

impl Encode for ProgressiveBitList {
    fn is_ssz_fixed_len() -> bool {
        false
    }

    fn ssz_append(&self, buf: &mut Vec<u8>) {
        self.0.ssz_append(buf)
    }

    fn ssz_bytes_len(&self) -> usize {
        self.0.ssz_bytes_len()
    }
}

impl Decode for ProgressiveBitList {
    fn is_ssz_fixed_len() -> bool {
        false
    }

    fn from_ssz_bytes(bytes: &[u8]) -> Result<Self, ssz::DecodeError> {
        BitList::from_ssz_bytes(bytes).map(Self)
    }
}

impl TreeHash for ProgressiveBitList {
    fn tree_hash_type() -> TreeHashType {
        TreeHashType::List
    }

    fn tree_hash_packed_encoding(&self) -> PackedEncoding {
        unreachable!("a list is never packed")
    }

    fn tree_hash_packing_factor() -> usize {
        unreachable!("a list is never packed")
    }

    fn tree_hash_root(&self) -> Hash256 {
        // `as_slice` has no delimiter bit but keeps one zero byte for an empty bitlist, whose
        // spec chunks are none at all: cut it to the bitfield's own bytes.
        let len = self.0.len();
        let bytes = self.0.as_slice();
        let bitfield_bytes = &bytes[..len.div_ceil(8).min(bytes.len())];
        tree_hash::mix_in_length(&merkleize_progressive(bitfield_bytes, 1), len)
    }
}

// ---------------------------------------------------------------------------------------------
// Values as the generator writes them to `value.yaml` (consensus-specs `debug/encode.py`).

trait ToYaml {
    fn to_yaml(&self) -> Value;
}

fn hex_value(bytes: &[u8]) -> Value {
    Value::String(format!("0x{}", hex::encode(bytes)))
}

macro_rules! small_uint_yaml {
    ($($t:ty),*) => {$(
        impl ToYaml for $t {
            fn to_yaml(&self) -> Value {
                Value::Number(u64::from(*self).into())
            }
        }
    )*};
}
small_uint_yaml!(u8, u16, u32, u64);

/// Uints wider than 8 bytes are written as decimal strings.
impl ToYaml for U128 {
    fn to_yaml(&self) -> Value {
        Value::String(self.to_string())
    }
}

impl ToYaml for U256 {
    fn to_yaml(&self) -> Value {
        Value::String(self.to_string())
    }
}

impl ToYaml for bool {
    fn to_yaml(&self) -> Value {
        Value::Bool(*self)
    }
}

fn seq_yaml<'a, T: ToYaml + 'a>(items: impl IntoIterator<Item = &'a T>) -> Value {
    Value::Sequence(items.into_iter().map(ToYaml::to_yaml).collect())
}

/// `Vector[T, N]` of non-byte `T` is a YAML list (a `Vector[uint8, N]` too: only `ByteVector`
/// and `ByteList` are hex, and those are handled per field).
impl<T: ToYaml, N: Unsigned> ToYaml for FixedVector<T, N> {
    fn to_yaml(&self) -> Value {
        seq_yaml(self.iter())
    }
}

impl<T: ToYaml, N: Unsigned> ToYaml for VariableList<T, N> {
    fn to_yaml(&self) -> Value {
        seq_yaml(self.iter())
    }
}

impl<T: ToYaml> ToYaml for ProgressiveList<T> {
    fn to_yaml(&self) -> Value {
        seq_yaml(self.0.iter())
    }
}

/// Bitfields are the hex of their SSZ bytes.
impl<N: Unsigned + Clone> ToYaml for BitList<N> {
    fn to_yaml(&self) -> Value {
        hex_value(&self.as_ssz_bytes())
    }
}

impl<N: Unsigned + Clone> ToYaml for BitVector<N> {
    fn to_yaml(&self) -> Value {
        hex_value(&self.as_ssz_bytes())
    }
}

impl ToYaml for ProgressiveBitList {
    fn to_yaml(&self) -> Value {
        hex_value(&self.as_ssz_bytes())
    }
}

/// A YAML mapping from `(field name, value)` pairs.
fn map_yaml<const K: usize>(fields: [(&str, Value); K]) -> Value {
    let mut map = Mapping::new();
    for (name, value) in fields {
        map.insert(Value::String(name.to_string()), value);
    }
    Value::Mapping(map)
}

impl ToYaml for SingleFieldTestStruct {
    fn to_yaml(&self) -> Value {
        map_yaml([("A", self.a.to_yaml())])
    }
}

impl ToYaml for SmallTestStruct {
    fn to_yaml(&self) -> Value {
        map_yaml([("A", self.a.to_yaml()), ("B", self.b.to_yaml())])
    }
}

impl ToYaml for FixedTestStruct {
    fn to_yaml(&self) -> Value {
        map_yaml([
            ("A", self.a.to_yaml()),
            ("B", self.b.to_yaml()),
            ("C", self.c.to_yaml()),
        ])
    }
}

impl ToYaml for VarTestStruct {
    fn to_yaml(&self) -> Value {
        map_yaml([
            ("A", self.a.to_yaml()),
            ("B", self.b.to_yaml()),
            ("C", self.c.to_yaml()),
        ])
    }
}

impl ToYaml for ComplexTestStruct {
    fn to_yaml(&self) -> Value {
        map_yaml([
            ("A", self.a.to_yaml()),
            ("B", self.b.to_yaml()),
            ("C", self.c.to_yaml()),
            ("D", hex_value(&self.d)),
            ("E", self.e.to_yaml()),
            ("F", self.f.to_yaml()),
            ("G", self.g.to_yaml()),
        ])
    }
}

impl ToYaml for ProgressiveTestStruct {
    fn to_yaml(&self) -> Value {
        map_yaml([
            // `ProgressiveList[Byte]` is written as hex, like `ByteList`.
            ("A", hex_value(&self.a.0)),
            ("B", self.b.to_yaml()),
            ("C", self.c.to_yaml()),
            ("D", self.d.to_yaml()),
        ])
    }
}

impl ToYaml for BitsStruct {
    fn to_yaml(&self) -> Value {
        map_yaml([
            ("A", self.a.to_yaml()),
            ("B", self.b.to_yaml()),
            ("C", self.c.to_yaml()),
            ("D", self.d.to_yaml()),
            ("E", self.e.to_yaml()),
        ])
    }
}

impl ToYaml for ProgressiveBitsStruct {
    fn to_yaml(&self) -> Value {
        map_yaml([
            ("A", self.a.to_yaml()),
            ("B", self.b.to_yaml()),
            ("C", self.c.to_yaml()),
            ("D", self.d.to_yaml()),
            ("E", self.e.to_yaml()),
            ("F", self.f.to_yaml()),
            ("G", self.g.to_yaml()),
            ("H", self.h.to_yaml()),
            ("I", self.i.to_yaml()),
            ("J", self.j.to_yaml()),
            ("K", self.k.to_yaml()),
            ("L", self.l.to_yaml()),
        ])
    }
}
