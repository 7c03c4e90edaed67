//! Checked integer arithmetic for the spec code.
//!
//! The spec's `uint64` arithmetic raises on overflow and underflow (remerkleable checks every
//! operation); these helpers make that explicit and typed: every operation returns
//! `Result<_, ArithError>` instead of wrapping or panicking.

/// An arithmetic operation that the spec's `uint64` semantics forbid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ArithError {
    #[error("integer overflow")]
    Overflow,
    #[error("integer underflow")]
    Underflow,
    #[error("division by zero")]
    DivisionByZero,
}

/// Checked arithmetic on unsigned integers.
pub trait SafeArith: Sized + Copy {
    fn safe_add(self, other: Self) -> Result<Self, ArithError>;
    fn safe_sub(self, other: Self) -> Result<Self, ArithError>;
    fn safe_mul(self, other: Self) -> Result<Self, ArithError>;
    fn safe_div(self, other: Self) -> Result<Self, ArithError>;
    fn safe_rem(self, other: Self) -> Result<Self, ArithError>;

    /// `self += other`, checked.
    fn safe_add_assign(&mut self, other: Self) -> Result<(), ArithError> {
        *self = self.safe_add(other)?;
        Ok(())
    }

    /// `self -= other`, checked.
    fn safe_sub_assign(&mut self, other: Self) -> Result<(), ArithError> {
        *self = self.safe_sub(other)?;
        Ok(())
    }
}

macro_rules! safe_arith {
    ($($t:ty),*) => {$(
        impl SafeArith for $t {
            #[inline]
            fn safe_add(self, other: Self) -> Result<Self, ArithError> {
                self.checked_add(other).ok_or(ArithError::Overflow)
            }
            #[inline]
            fn safe_sub(self, other: Self) -> Result<Self, ArithError> {
                self.checked_sub(other).ok_or(ArithError::Underflow)
            }
            #[inline]
            fn safe_mul(self, other: Self) -> Result<Self, ArithError> {
                self.checked_mul(other).ok_or(ArithError::Overflow)
            }
            #[inline]
            fn safe_div(self, other: Self) -> Result<Self, ArithError> {
                self.checked_div(other).ok_or(ArithError::DivisionByZero)
            }
            #[inline]
            fn safe_rem(self, other: Self) -> Result<Self, ArithError> {
                self.checked_rem(other).ok_or(ArithError::DivisionByZero)
            }
        }
    )*};
}

safe_arith!(u8, u16, u32, u64, u128, usize);

/// `u64` -> `usize` (lossless on the 64-bit targets Ember supports; checked elsewhere).
#[inline]
pub fn to_usize(value: u64) -> Result<usize, ArithError> {
    usize::try_from(value).map_err(|_| ArithError::Overflow)
}

/// `usize` -> `u64`.
#[inline]
pub fn to_u64(value: usize) -> Result<u64, ArithError> {
    u64::try_from(value).map_err(|_| ArithError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_operations() {
        assert_eq!(1u64.safe_add(2), Ok(3));
        assert_eq!(u64::MAX.safe_add(1), Err(ArithError::Overflow));
        assert_eq!(0u64.safe_sub(1), Err(ArithError::Underflow));
        assert_eq!(u64::MAX.safe_mul(2), Err(ArithError::Overflow));
        assert_eq!(7u64.safe_div(0), Err(ArithError::DivisionByZero));
        assert_eq!(7u64.safe_rem(0), Err(ArithError::DivisionByZero));
        assert_eq!(7u64.safe_div(2), Ok(3));
        assert_eq!(7u64.safe_rem(2), Ok(1));
        let mut x = 5usize;
        x.safe_sub_assign(5).unwrap();
        assert_eq!(x, 0);
        assert_eq!(x.safe_sub_assign(1), Err(ArithError::Underflow));
    }
}
