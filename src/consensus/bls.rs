//! BLS12-381 signatures (min-pubkey-size, proof-of-possession scheme) on blst.
