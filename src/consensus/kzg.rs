//! KZG proof verification (polynomial-commitments of EIP-4844 and EIP-7594) on c-kzg with the
//! Ethereum trusted setup compiled in (both presets use `FIELD_ELEMENTS_PER_BLOB = 4096`).
//!
//! Only verification lives here (data availability: blobs before Fulu, column cells from Fulu
//! on). Inputs are byte arrays of the spec's sizes; a point or field element that does not
//! decode is an `Err`, as the spec's `bytes_to_*` conversions raise.

use c_kzg::{Blob, Bytes48, Cell, KzgSettings};

/// `BYTES_PER_BLOB`
pub const BYTES_PER_BLOB: usize = c_kzg::BYTES_PER_BLOB;
/// `BYTES_PER_CELL`
pub const BYTES_PER_CELL: usize = c_kzg::BYTES_PER_CELL;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KzgError {
    #[error("{what}: {a} != {b}")]
    LengthMismatch {
        what: &'static str,
        a: usize,
        b: usize,
    },
    #[error("KZG input rejected: {0}")]
    Invalid(String),
}

/// The trusted setup, loaded once (no precomputation: verification does not use it).
fn settings() -> &'static KzgSettings {
    c_kzg::ethereum_kzg_settings(0)
}

fn bytes48(bytes: &[u8; 48]) -> Bytes48 {
    Bytes48::from(*bytes)
}

/// Spec deneb `verify_blob_kzg_proof_batch`: every blob matches its commitment and proof.
pub fn verify_blob_kzg_proof_batch(
    blobs: &[&[u8]],
    commitments: &[[u8; 48]],
    proofs: &[[u8; 48]],
) -> Result<bool, KzgError> {
    if blobs.len() != commitments.len() {
        return Err(KzgError::LengthMismatch {
            what: "blobs vs commitments",
            a: blobs.len(),
            b: commitments.len(),
        });
    }
    if blobs.len() != proofs.len() {
        return Err(KzgError::LengthMismatch {
            what: "blobs vs proofs",
            a: blobs.len(),
            b: proofs.len(),
        });
    }
    let blobs = blobs
        .iter()
        .map(|b| Blob::from_bytes(b).map_err(|e| KzgError::Invalid(format!("blob: {e:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let commitments: Vec<Bytes48> = commitments.iter().map(bytes48).collect();
    let proofs: Vec<Bytes48> = proofs.iter().map(bytes48).collect();
    settings()
        .verify_blob_kzg_proof_batch(&blobs, &commitments, &proofs)
        .map_err(|e| KzgError::Invalid(format!("{e:?}")))
}

/// Spec fulu `verify_cell_kzg_proof_batch`: every cell is the evaluation of its commitment's
/// polynomial at its cell index, as its proof shows.
pub fn verify_cell_kzg_proof_batch(
    commitments: &[[u8; 48]],
    cell_indices: &[u64],
    cells: &[&[u8]],
    proofs: &[[u8; 48]],
) -> Result<bool, KzgError> {
    for (what, len) in [
        ("cells vs commitments", commitments.len()),
        ("cells vs cell indices", cell_indices.len()),
        ("cells vs proofs", proofs.len()),
    ] {
        if cells.len() != len {
            return Err(KzgError::LengthMismatch {
                what,
                a: cells.len(),
                b: len,
            });
        }
    }
    let cells = cells
        .iter()
        .map(|c| Cell::from_bytes(c).map_err(|e| KzgError::Invalid(format!("cell: {e:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let commitments: Vec<Bytes48> = commitments.iter().map(bytes48).collect();
    let proofs: Vec<Bytes48> = proofs.iter().map(bytes48).collect();
    settings()
        .verify_cell_kzg_proof_batch(&commitments, cell_indices, &cells, &proofs)
        .map_err(|e| KzgError::Invalid(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_batches_verify_and_lengths_are_checked() {
        assert_eq!(verify_blob_kzg_proof_batch(&[], &[], &[]), Ok(true));
        assert_eq!(verify_cell_kzg_proof_batch(&[], &[], &[], &[]), Ok(true));
        assert!(matches!(
            verify_blob_kzg_proof_batch(&[], &[[0u8; 48]], &[]),
            Err(KzgError::LengthMismatch { .. })
        ));
    }

    #[test]
    fn zero_blob_with_infinity_commitment_verifies() {
        // The zero polynomial: commitment and proof are the point at infinity (0xc0...).
        let mut inf = [0u8; 48];
        inf[0] = 0xc0;
        let blob = vec![0u8; BYTES_PER_BLOB];
        assert_eq!(
            verify_blob_kzg_proof_batch(&[&blob], &[inf], &[inf]),
            Ok(true)
        );
        let mut bad = inf;
        bad[0] = 0x80;
        assert!(verify_blob_kzg_proof_batch(&[&blob], &[bad], &[inf]).is_err());
    }
}
