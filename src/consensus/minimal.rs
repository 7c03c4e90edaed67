//! minimal preset
