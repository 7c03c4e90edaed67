//! `ssz_static` runner.

use crate::{Case, Outcome};

pub fn run(_case: &Case) -> Outcome {
    Outcome::Skip("runner ssz_static not implemented yet".into())
}
