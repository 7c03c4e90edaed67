//! `ssz_generic` runner.

use crate::{Case, Outcome};

pub fn run(_case: &Case) -> Outcome {
    Outcome::Skip("runner ssz_generic not implemented yet".into())
}
