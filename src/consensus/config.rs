//! Runtime chain configuration (`config.yaml`).
