//! `bls` runner.

use crate::{Case, Outcome};

pub fn run(_case: &Case) -> Outcome {
    Outcome::Skip("runner bls not implemented yet".into())
}
