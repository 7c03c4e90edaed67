//! Preset values.
