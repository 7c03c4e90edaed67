//! mainnet preset
