//! Command-line tools on the consensus code.
