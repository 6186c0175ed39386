//! Every matrix multiply of the network goes through this module, so that the GEMM backend can be swapped in one place.
//!
//! The backend today is ndarray's `general_mat_mul`, i.e. the `matrixmultiply` crate's sgemm/dgemm kernels, with its
//! `avx512` feature on (see the workspace Cargo.toml): about 180 GFLOP/s per core here instead of about 95.

use std::any::TypeId;

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayBase, ArrayView2, ArrayViewMut2, Axis, Data};

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

/// How many threads one job's large matrix multiplies may use, with results bit-identical to a single call.
///
/// A product is cut into pieces of `c` on the f32 kernel's tile boundaries (whole MR x NR tiles; only the pieces at
/// the matrix edge keep its partial tiles, as the whole product has them there), each piece one GEMM call run with
/// `rayon::join`: an idle thread of the current rayon pool steals a piece, a busy pool runs both itself. Every output
/// is then summed in the same order and rounded with the same final step as in the single call, because the backend
/// computes each tile from its rows of `a` and columns of `b` alone with the k-blocking of the whole product (`k` is
/// never cut). The longer side of `c` is cut, so that the operand each piece packs again is the smaller one.
///
/// Only f32 products are cut, and only where [`Finish::detect`] knows the kernel's tile (x86-64 with AVX); elsewhere,
/// and for products too small to pay for a thread, it is one plain call.
///
/// A thread that waits for a stolen piece may run other work queued in its pool meanwhile (rayon's work stealing):
/// turn this on where no other long task waits for a thread (the tail of a sweep, a single job), or the job waits
/// for that task too (its results stay the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parallel {
    /// Pieces at most.
    threads: usize,
    /// The kernel's tile (rows, columns of `c`), when known.
    tile: Option<(usize, usize)>,
    /// The fewest multiply-adds a piece may have.
    min_piece: usize,
}

impl Default for Parallel {
    fn default() -> Self {
        Self::new(1)
    }
}

impl Parallel {
    /// The fewest multiply-adds (m·n·k) worth a piece of its own: about 0.2 ms at this kernel's rate, against a few
    /// microseconds to hand a piece to another thread.
    pub const MIN_PIECE: usize = 1 << 24;

    /// Products cut into at most `threads` pieces (1 or 0: never cut).
    pub fn new(threads: usize) -> Self {
        Self {
            threads: threads.max(1),
            tile: Finish::detect().map(|f| (f.mr, f.nr)),
            min_piece: Self::MIN_PIECE,
        }
    }

    /// The most pieces a product is cut into.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The same with another smallest piece (tests cut small products).
    #[cfg(test)]
    pub(crate) fn min_piece(self, min_piece: usize) -> Self {
        Self { min_piece, ..self }
    }

    /// `c = alpha * a · b + beta * c`, bit for bit as [`gemm`], cut into pieces for idle threads where it pays.
    pub fn gemm<F: Scalar>(&self, alpha: F, a: ArrayView2<'_, F>, b: ArrayView2<'_, F>, beta: F, c: ArrayViewMut2<'_, F>) {
        match self.tile {
            Some(tile) if self.threads > 1 && TypeId::of::<F>() == TypeId::of::<f32>() => {
                self.split(alpha, a, b, beta, c, tile, self.threads)
            }
            _ => gemm(alpha, a, b, beta, c),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn split<F: Scalar>(
        &self,
        alpha: F,
        a: ArrayView2<'_, F>,
        b: ArrayView2<'_, F>,
        beta: F,
        c: ArrayViewMut2<'_, F>,
        tile: (usize, usize),
        pieces: usize,
    ) {
        let (m, n) = c.dim();
        match self.cut(m, n, a.ncols(), tile, pieces) {
            None => gemm(alpha, a, b, beta, c),
            Some((Axis(0), at, left)) => {
                let (a1, a2) = a.split_at(Axis(0), at);
                let (c1, c2) = c.split_at(Axis(0), at);
                rayon::join(
                    || self.split(alpha, a1, b, beta, c1, tile, left),
                    || self.split(alpha, a2, b, beta, c2, tile, pieces - left),
                );
            }
            Some((_, at, left)) => {
                let (b1, b2) = b.split_at(Axis(1), at);
                let (c1, c2) = c.split_at(Axis(1), at);
                rayon::join(
                    || self.split(alpha, a, b1, beta, c1, tile, left),
                    || self.split(alpha, a, b2, beta, c2, tile, pieces - left),
                );
            }
        }
    }

    /// Where an (m, n) output with inner dimension k is cut to make `pieces` pieces: the axis (0: rows, 1: columns),
    /// the index (a multiple of the tile on that axis) and the pieces the first part makes; `None`: not cut.
    fn cut(&self, m: usize, n: usize, k: usize, (mr, nr): (usize, usize), pieces: usize) -> Option<(Axis, usize, usize)> {
        let left = pieces / 2;
        if pieces < 2 || m * n * k < 2 * self.min_piece {
            return None;
        }
        let (axis, len, tile) = if m >= n { (Axis(0), m, mr) } else { (Axis(1), n, nr) };
        // The first part's share of the whole tiles, at least one tile; the rest (with any partial tile) the second's.
        let at = ((len / tile) * left / pieces).max(1) * tile;
        (at < len).then_some((axis, at, left))
    }

    /// The pieces an (m, n, k) product is cut into, as (rows, columns) ranges of `c`, in order.
    #[cfg(test)]
    fn pieces(&self, m: usize, n: usize, k: usize) -> Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> {
        fn go(
            p: &Parallel,
            rows: std::ops::Range<usize>,
            cols: std::ops::Range<usize>,
            k: usize,
            pieces: usize,
            out: &mut Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
        ) {
            let tile = p.tile.expect("a known kernel");
            match p.cut(rows.len(), cols.len(), k, tile, pieces) {
                None => out.push((rows, cols)),
                Some((Axis(0), at, left)) => {
                    go(p, rows.start..rows.start + at, cols.clone(), k, left, out);
                    go(p, rows.start + at..rows.end, cols, k, pieces - left, out);
                }
                Some((_, at, left)) => {
                    go(p, rows.clone(), cols.start..cols.start + at, k, left, out);
                    go(p, rows, cols.start + at..cols.end, k, pieces - left, out);
                }
            }
        }
        let mut out = Vec::new();
        if self.threads > 1 {
            go(self, 0..m, 0..n, k, self.threads, &mut out);
        } else {
            out.push((0..m, 0..n));
        }
        out
    }
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

    /// A product cut for idle threads gives the single call's bits: outputs with partial tiles at both edges,
    /// inner dimensions past the backend's k-block (256), transposed operands as the step passes them (`xᵀ`), and
    /// the (alpha, beta) of the forward product, the SGD update and a gradient; run in a pool of 4 threads.
    #[test]
    fn a_product_cut_on_tile_boundaries_gives_the_bits_of_one_call() {
        let Some(finish) = Finish::detect() else {
            eprintln!("skipped: the GEMM kernel's tile is not known on this CPU (not x86-64 with AVX)");
            return;
        };
        let (mr, nr) = (finish.mr, finish.nr);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().expect("a pool");
        let mut rng = crate::rng::rng_for(3, "split");
        let normal = rand_distr::Normal::new(0.0f32, 1.0).expect("valid");
        let mut draw = |r: usize, c: usize| Array2::from_shape_simple_fn((r, c), || rand_distr::Distribution::sample(&normal, &mut rng));
        let bits = |x: &Array2<f32>| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        // (m, k, n): X·W1 (B x D times D x H), the W1 update xᵀ·dh (D x B times B x H), small and odd shapes.
        let shapes = [
            (200, 3072, 64),
            (3072, 200, 64),
            (200, 3072, 1024),
            (3072, 200, 1024),
            (50, 300, 37),
            (67, 513, 250),
            (37, 5, 1000),
            (1000, 7, 3),
        ];
        for (threads, min_piece) in [(2, 1), (3, 1), (4, 1), (4, 1 << 20)] {
            let par = Parallel::new(threads).min_piece(min_piece);
            for &(m, k, n) in shapes.iter().filter(|&&(m, k, n)| threads == 2 || m * k * n < 1 << 26) {
                let pieces = par.pieces(m, n, k);
                assert!(pieces.len() <= threads);
                for (rows, cols) in &pieces {
                    assert!(rows.start % mr == 0 && cols.start % nr == 0, "{m}x{n}: piece {rows:?} {cols:?}");
                    assert!((rows.end % mr == 0 || rows.end == m) && (cols.end % nr == 0 || cols.end == n));
                }
                let transposed = m > k;
                let a = if transposed { draw(k, m) } else { draw(m, k) };
                let a = if transposed { a.t() } else { a.view() };
                let b = draw(k, n);
                let c0 = draw(m, n);
                for (alpha, beta) in [(1.0f32, 0.0f32), (-0.0123, 0.99987), (1.0, 1e-3)] {
                    let mut want = c0.clone();
                    gemm(alpha, a, b.view(), beta, want.view_mut());
                    let mut got = c0.clone();
                    pool.install(|| par.gemm(alpha, a, b.view(), beta, got.view_mut()));
                    assert!(
                        bits(&got) == bits(&want),
                        "{m}x{k}x{n} in {} pieces, alpha={alpha} beta={beta}",
                        pieces.len()
                    );
                }
            }
        }
        // Cut where it pays: both step products at H = 1024 in two, a tiny one not at all.
        let par = Parallel::new(2);
        assert_eq!(par.pieces(200, 1024, 3072).len(), 2);
        assert_eq!(par.pieces(3072, 1024, 200).len(), 2);
        assert_eq!(par.pieces(200, 10, 1024).len(), 1);
        assert_eq!(Parallel::new(1).pieces(3072, 1024, 200).len(), 1);
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
