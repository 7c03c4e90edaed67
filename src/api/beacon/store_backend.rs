//! Block and state lookups by `block_id` / `state_id` over a [`BeaconStore`]: the part of a
//! [`super::Backend`] that only needs the store, shared by the node and the API's tests.

#[allow(unused_imports)]
use super::super::store::BeaconStore;
