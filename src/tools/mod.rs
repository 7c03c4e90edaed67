//! Command-line tools on the consensus code.

pub mod ssz;
