//! Every matrix multiply of the network goes through this module, so that the GEMM backend can be swapped in one place.
//!
//! The backend today is ndarray's `general_mat_mul`, i.e. the `matrixmultiply` crate's sgemm/dgemm kernels, with its
//! `avx512` feature on (see the workspace Cargo.toml): about 180 GFLOP/s per core here instead of about 95.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayBase, ArrayView2, ArrayViewMut2, Data};

use crate::Scalar;

/// What the matrix multiplies of training take as inputs (`precision` in the parameter table).
///
/// `bf16` is mixed precision: every GEMM input (the batch, the weights, the activations and the backpropagated
/// gradients) rounded to bfloat16, products and sums in f32, master weights and their update, the loss and softmax in
/// f32. It is **emulated**: the inputs are rounded to bf16 values held in f32 and multiplied by the f32 kernel, which
/// gives exactly the products a bf16 kernel would (8-bit significands multiply exactly in f32) with f32 sums, but no
/// speed: no native bf16 kernel (AMX, AVX512-BF16) is built yet, so it runs a little slower than f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    #[default]
    F32,
    Bf16,
}

impl Precision {
    pub fn as_str(&self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        }
    }
}

/// `x` rounded to the nearest bfloat16 (ties to even), as an f32: the value a bf16 GEMM input holds. NaN stays NaN,
/// infinities stay infinite, and values beyond bf16's largest finite value round to infinity, as a conversion would.
#[inline]
pub fn to_bf16(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    let b = x.to_bits();
    f32::from_bits(b.wrapping_add(0x7fff + ((b >> 16) & 1)) & 0xffff_0000)
}

/// `src` rounded to bf16 values into `dst` (reshaped if needed); returns a view of `dst`.
pub fn rounded_bf16<'d, F: Scalar>(src: ArrayView2<'_, F>, dst: &'d mut Array2<F>) -> ArrayView2<'d, F> {
    if dst.dim() != src.dim() {
        *dst = Array2::zeros(src.dim());
    }
    ndarray::Zip::from(&mut *dst)
        .and(&src)
        .for_each(|d, &s| *d = F::from_f32(to_bf16(s.to_f32().unwrap_or(f32::NAN))).unwrap_or(s));
    dst.view()
}

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

/// How the f32 GEMM backend rounds the last step of `c <- alpha * (a·b) + beta * c` on this CPU, so that one product
/// `g = a·b` shared by several jobs (fused training: `Xᵀ · [dh_1 … dh_K]`) can be finished per job, each with its own
/// `alpha` and `beta`, into exactly the bits that `gemm(alpha, a, b, beta, c)` of that job alone gives.
///
/// `matrixmultiply` sums the products of each output in registers (`ab`, in an order that does not depend on the
/// other columns) and then, in a full MR×NR tile, stores `fma(alpha, ab, beta * c)` (FMA kernels) or
/// `beta * c + alpha * ab` (AVX without FMA); a tile cut by the matrix edge goes through a buffer: `beta * c + buf`
/// with `buf` the kernel's `beta = 0` result. Which kernel runs is the backend's run-time choice, mirrored by
/// [`Finish::detect`]. This is the one place that depends on it; `fused` training is checked bit for bit against
/// single-job training by tests, which would catch a backend that rounds otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finish {
    kind: FinishKind,
    /// The kernel's tile: rows and columns of `c` per full tile.
    mr: usize,
    nr: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FinishKind {
    /// AVX2 + FMA kernel: `fma(alpha, ab, beta * c)`; with `beta = 0`, `fma(alpha, ab, 0)`.
    Fma,
    /// AVX-512 kernel: `fma(alpha, ab, beta * c)`; with `beta = 0`, `alpha * ab`.
    Avx512,
    /// AVX kernel without FMA: `beta * c + alpha * ab`; with `beta = 0`, `0 + alpha * ab`.
    Separate,
}

impl Finish {
    /// The largest inner dimension `k` whose products the backend sums in one pass (its k-block, `S_KC`): beyond it
    /// `gemm` applies `alpha` per block and a shared product cannot be finished exactly.
    pub const MAX_K: usize = 256;

    /// The backend's rule on this CPU, when known (x86-64 with AVX); `None` elsewhere.
    pub fn detect() -> Option<Finish> {
        #[cfg(target_arch = "x86_64")]
        {
            // The workspace builds matrixmultiply with its `avx512` feature, so it picks its AVX-512 kernel first.
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Some(Finish {
                    kind: FinishKind::Avx512,
                    mr: 16,
                    nr: 16,
                });
            }
            if std::arch::is_x86_feature_detected!("fma") && std::arch::is_x86_feature_detected!("avx2") {
                return Some(Finish {
                    kind: FinishKind::Fma,
                    mr: 8,
                    nr: 8,
                });
            }
            if std::arch::is_x86_feature_detected!("avx") {
                return Some(Finish {
                    kind: FinishKind::Separate,
                    mr: 8,
                    nr: 8,
                });
            }
        }
        None
    }

    /// `c <- alpha * g + beta * c`, rounded as `gemm(alpha, a, b, beta, c)` would round it, where `g` is `a·b` as
    /// `gemm(1, a, b, 0, _)` computed it with an inner dimension of at most [`Finish::MAX_K`]. `g` and `c` are
    /// (m, n) with contiguous rows; `mirror`, if given (same shape), receives a copy of the new `c`.
    pub fn apply(
        &self,
        alpha: f32,
        g: ArrayView2<'_, f32>,
        beta: f32,
        mut c: ArrayViewMut2<'_, f32>,
        mut mirror: Option<ArrayViewMut2<'_, f32>>,
    ) {
        let (m, n) = c.dim();
        assert_eq!(g.dim(), (m, n), "a product per output");
        // Outputs in the last, partial tile row or column go through the kernel's buffer.
        let (full_m, full_n) = (m - m % self.mr, n - n % self.nr);
        for i in 0..m {
            let gi = g.row(i);
            let gi = gi.as_slice().expect("rows of the product are contiguous");
            let mut ci = c.row_mut(i);
            let ci = ci.as_slice_mut().expect("rows of the output are contiguous");
            let split = if i < full_m { full_n } else { 0 };
            let (c_full, c_edge) = ci.split_at_mut(split);
            let (g_full, g_edge) = gi.split_at(split);
            self.full(alpha, g_full, beta, c_full);
            self.edge(alpha, g_edge, beta, c_edge);
            if let Some(mirror) = mirror.as_mut() {
                let mut row = mirror.row_mut(i);
                row.as_slice_mut().expect("rows of the mirror are contiguous").copy_from_slice(ci);
            }
        }
    }

    fn full(&self, alpha: f32, g: &[f32], beta: f32, c: &mut [f32]) {
        match self.kind {
            FinishKind::Fma | FinishKind::Avx512 if beta != 0.0 => fma_each(alpha, g, beta, c),
            FinishKind::Fma => fma_each(alpha, g, 0.0, c),
            FinishKind::Avx512 => c.iter_mut().zip(g).for_each(|(c, &g)| *c = alpha * g),
            FinishKind::Separate if beta != 0.0 => c.iter_mut().zip(g).for_each(|(c, &g)| *c = *c * beta + alpha * g),
            FinishKind::Separate => c.iter_mut().zip(g).for_each(|(c, &g)| *c = 0.0 + alpha * g),
        }
    }

    fn edge(&self, alpha: f32, g: &[f32], beta: f32, c: &mut [f32]) {
        for (c, &g) in c.iter_mut().zip(g) {
            let buf = match self.kind {
                FinishKind::Fma => alpha.mul_add(g, 0.0),
                FinishKind::Avx512 => alpha * g,
                FinishKind::Separate => 0.0 + alpha * g,
            };
            *c = if beta == 0.0 { buf } else { *c * beta + buf };
        }
    }
}

/// `c <- fma(alpha, g, beta * c)` (with `beta = 0`: `fma(alpha, g, 0)`, without reading `c`), with the CPU's FMA
/// instruction when it has one (`mul_add` is correctly rounded either way).
fn fma_each(alpha: f32, g: &[f32], beta: f32, c: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has FMA, checked just above.
        unsafe { fma_each_fma(alpha, g, beta, c) };
        return;
    }
    fma_each_portable(alpha, g, beta, c);
}

#[inline(always)]
fn fma_each_portable(alpha: f32, g: &[f32], beta: f32, c: &mut [f32]) {
    if beta == 0.0 {
        c.iter_mut().zip(g).for_each(|(c, &g)| *c = alpha.mul_add(g, 0.0));
    } else {
        c.iter_mut().zip(g).for_each(|(c, &g)| *c = alpha.mul_add(g, *c * beta));
    }
}

/// # Safety
/// The CPU must have FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
unsafe fn fma_each_fma(alpha: f32, g: &[f32], beta: f32, c: &mut [f32]) {
    fma_each_portable(alpha, g, beta, c);
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

    #[test]
    fn bf16_rounding_keeps_8_significant_bits_ties_to_even_and_special_values() {
        assert_eq!(to_bf16(1.0), 1.0);
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties to the even one, 1.
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0), 1.0);
        // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6: ties to the even one, 1 + 2^-6.
        assert_eq!(to_bf16(1.0 + 3.0 / 256.0), 1.0 + 1.0 / 64.0);
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0 + 1e-6), 1.0 + 1.0 / 128.0);
        assert_eq!(to_bf16(-std::f32::consts::PI), -3.140625);
        assert_eq!(to_bf16(f32::INFINITY), f32::INFINITY);
        assert_eq!(to_bf16(f32::MAX), f32::INFINITY);
        assert!(to_bf16(f32::NAN).is_nan());
        for x in [0.1f32, -7.3e-5, 123_456.7, 2.5e30] {
            let r = to_bf16(x);
            assert_eq!(r.to_bits() & 0xffff, 0, "{x}: low bits cleared");
            assert!(((r - x) / x).abs() <= 1.0 / 256.0, "{x} -> {r}: within half a bf16 ulp");
        }
    }

    /// The shared-product finish gives gemm's bits for SGD's (alpha, beta), for a gradient's (1, reg) and for
    /// (1, 0), on shapes with and without partial tiles.
    #[test]
    fn finish_rounds_a_shared_product_as_gemm_does() {
        let Some(finish) = Finish::detect() else {
            eprintln!("skipped: the GEMM backend's rounding is not known on this CPU (not x86-64 with AVX)");
            return;
        };
        let mut rng = crate::rng::rng_for(7, "finish");
        let normal = rand_distr::Normal::new(0.0f32, 1.0).expect("valid");
        let mut draw = |r: usize, c: usize| Array2::from_shape_simple_fn((r, c), || rand_distr::Distribution::sample(&normal, &mut rng));
        for (m, k, n) in [(64, 200, 32), (67, 200, 50), (3072, 200, 16), (40, 256, 13), (16, 7, 16)] {
            let a = draw(k, m);
            let b = draw(k, n);
            let c0 = draw(m, n);
            let g = matmul(&a.t(), &b);
            for (alpha, beta) in [(-0.0123f32, 0.99987f32), (1.0, 1e-3), (1.0, 0.0), (-0.5, 0.0)] {
                let mut want = c0.clone();
                gemm(alpha, a.t(), b.view(), beta, want.view_mut());
                let mut got = c0.clone();
                let mut mirror = Array2::zeros((m, n));
                finish.apply(alpha, g.view(), beta, got.view_mut(), Some(mirror.view_mut()));
                let bits = |x: &Array2<f32>| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "m={m} k={k} n={n} alpha={alpha} beta={beta}");
                assert_eq!(bits(&mirror), bits(&want));
            }
        }
    }
}
