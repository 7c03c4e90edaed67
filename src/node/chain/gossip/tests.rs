//! Tests of gossip validation.
