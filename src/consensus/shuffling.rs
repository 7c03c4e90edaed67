//! Swap-or-not shuffling (phase0 `compute_shuffled_index`) and the committee helpers built on it.
