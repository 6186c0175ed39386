//! The data a run reads and the seeded draws it makes from them: each epoch's order, the minibatches with their
//! flips and crops, the dropout masks and the fixed train-accuracy sample.
//!
//! Every draw is seeded by (seed, epoch[, iteration]) alone, never by a stream consumed since the start, so a run
//! can continue from any saved point exactly. The order, the augmentation and the train-accuracy sample derive from
//! `shuffle_seed` (shared by all jobs of a sweep), the dropout masks from the job's own `seed`.

use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut1, Zip};
use rand::seq::SliceRandom;
use rand::Rng;

use crate::error::TrainError;
use crate::rng::{derive_seed, rng_for};
use crate::train::TrainConfig;

/// Training images used for the per-epoch train accuracy: a fixed sample, so that it stays cheap.
pub const TRAIN_ACC_SAMPLE: usize = 5000;

/// What a training run reads: training and validation inputs (N,D) with labels, and the number of classes.
#[derive(Debug, Clone, Copy)]
pub struct TrainData<'a> {
    pub x_train: ArrayView2<'a, f32>,
    pub y_train: &'a [u8],
    pub x_val: ArrayView2<'a, f32>,
    pub y_val: &'a [u8],
    pub num_classes: usize,
    /// The mean image (D values) subtracted from every input; augmentation needs it (may be empty otherwise).
    pub mean: ArrayView1<'a, f32>,
    /// Shape of one input before flattening: `[channels, height, width]` (channel-major) for images.
    pub input_shape: &'a [usize],
}

/// Whether `cfg` can train on `data`, without training: a training set that is not empty, and images (with their
/// mean) when flip or crop is asked for. Returns the `[C, H, W]` image shape (zeros when augmentation is off). Cheap:
/// a sweep checks every job with it before it starts.
pub fn check_data(cfg: &TrainConfig, data: &TrainData<'_>) -> Result<[usize; 3], TrainError> {
    let (n, d) = data.x_train.dim();
    if n == 0 {
        return Err(TrainError::NoData);
    }
    let mut image_shape = [0; 3];
    if cfg.flip > 0.0 || cfg.crop > 0 {
        let shape = data.input_shape;
        let fits = shape.len() == 3 && shape.iter().product::<usize>() == d && data.mean.len() == d;
        if !fits {
            return Err(TrainError::NotImages {
                inputs: d,
                shape: shape.to_vec(),
                mean: data.mean.len(),
            });
        }
        image_shape = [shape[0], shape[1], shape[2]];
        if cfg.crop >= shape[1].min(shape[2]) {
            return Err(TrainError::CropTooLarge {
                crop: cfg.crop,
                width: shape[2],
                height: shape[1],
            });
        }
    }
    Ok(image_shape)
}

/// Rows per minibatch and steps per epoch for `batch_size` on `n` training rows: full batches of `batch_size` (a final
/// partial batch is dropped), or the whole set as one batch when it is smaller than one.
pub(crate) fn batching(batch_size: usize, n: usize) -> (usize, usize) {
    let batch = batch_size.min(n).max(1);
    (batch, (n / batch).max(1))
}

/// The training-set order of `epoch` (1-based) under `shuffle_seed`: a permutation of `0..n` drawn from an RNG seeded
/// by (shuffle_seed, epoch) alone, so it is the same for every job sharing the seed and needs no earlier epoch.
pub(crate) fn epoch_order(shuffle_seed: u64, epoch: usize, n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng_for(derive_seed(shuffle_seed, "shuffle"), &format!("epoch-{epoch}")));
    order
}

/// One image's random transform: a horizontal flip and/or a translation by (`dy`, `dx`) pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Augment {
    pub flip: bool,
    /// Output pixel (i, j) shows input pixel (i + dy, j + dx) (before the flip), or padding outside the image.
    pub dy: isize,
    pub dx: isize,
}

/// Writes the transformed image `t(src)` into `out`, both centred (raw / 255 minus `mean`) and flattened channel-major
/// with `shape = [C, H, W]`.
///
/// The transform acts in pixel space, as torchvision's `RandomCrop(padding=N)` then `RandomHorizontalFlip` would on the
/// raw image before normalization: output pixel (c, i, j) is raw pixel (c, i + dy, j' + dx) with `j' = W - 1 - j` when
/// flipped (else `j`), or 0 (zero padding) outside the image; then the mean of the *output* position is subtracted.
/// So a kept pixel is `src[s] + mean[s] - mean[d]` and a padded one is `-mean[d]`.
pub(crate) fn augment_image(
    src: ArrayView1<'_, f32>,
    mean: ArrayView1<'_, f32>,
    shape: [usize; 3],
    t: Augment,
    mut out: ArrayViewMut1<'_, f32>,
) {
    let [c, h, w] = shape;
    if t == Augment::default() {
        out.assign(&src);
        return;
    }
    let (hi, wi) = (h as isize, w as isize);
    for ch in 0..c {
        for i in 0..h {
            let si = i as isize + t.dy;
            let row = ch * h * w + i * w;
            for j in 0..w {
                let sj = if t.flip { (w - 1 - j) as isize } else { j as isize } + t.dx;
                let d = row + j;
                out[d] = if (0..hi).contains(&si) && (0..wi).contains(&sj) {
                    let s = ch * h * w + si as usize * w + sj as usize;
                    src[s] + mean[s] - mean[d]
                } else {
                    -mean[d]
                };
            }
        }
    }
}

/// Copies the rows of minibatch `iteration` of `epoch` (per `order`, of `xb.nrows()` rows) into `xb`/`yb`, each image
/// transformed as `cfg.flip` and `cfg.crop` say. The transforms are drawn from (shuffle_seed, epoch, iteration) only,
/// so every job sharing the shuffle seed (and batch size) trains on the same augmented batches.
///
/// `shape` is the image shape `[C, H, W]`; it is only read when augmentation is on.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gather_batch(
    cfg: &TrainConfig,
    data: &TrainData<'_>,
    shape: [usize; 3],
    epoch: usize,
    iteration: usize,
    order: &[usize],
    xb: &mut Array2<f32>,
    yb: &mut [u8],
) {
    let b = xb.nrows();
    let idx = &order[iteration * b..(iteration + 1) * b];
    if cfg.flip == 0.0 && cfg.crop == 0 {
        Zip::from(xb.rows_mut())
            .and(idx)
            .for_each(|mut row, &i| row.assign(&data.x_train.row(i)));
    } else {
        let mut rng = rng_for(
            derive_seed(cfg.shuffle_seed, "augment"),
            &format!("epoch-{epoch}-iteration-{iteration}"),
        );
        let c = cfg.crop as isize;
        for (row, &i) in xb.rows_mut().into_iter().zip(idx) {
            let flip = cfg.flip > 0.0 && rng.gen::<f64>() < cfg.flip;
            let (dy, dx) = if c > 0 {
                (rng.gen_range(-c..=c), rng.gen_range(-c..=c))
            } else {
                (0, 0)
            };
            augment_image(data.x_train.row(i), data.mean, shape, Augment { flip, dy, dx }, row);
        }
    }
    for (t, &i) in yb.iter_mut().zip(idx) {
        *t = data.y_train[i];
    }
}

/// Fills `mask` (B,H) with the dropout mask of job `seed` at (`epoch`, `iteration`): each entry independently 0 with
/// probability `p`, else `1 / (1 - p)`. Drawn from an RNG seeded by (seed, epoch, iteration) alone, so a run
/// continued from any point draws the same masks.
pub(crate) fn dropout_mask(seed: u64, epoch: usize, iteration: usize, p: f64, mask: &mut Array2<f32>) {
    let mut rng = rng_for(derive_seed(seed, "dropout"), &format!("epoch-{epoch}-iteration-{iteration}"));
    let (p, keep) = (p as f32, (1.0 / (1.0 - p)) as f32);
    mask.mapv_inplace(|_| if rng.gen::<f32>() < p { 0.0 } else { keep });
}

/// The fixed sample of training rows (sorted) whose accuracy is reported each epoch; derived from `shuffle_seed`.
pub(crate) fn train_acc_sample(shuffle_seed: u64, n: usize) -> Vec<usize> {
    let mut r = rng_for(shuffle_seed, "train-acc-sample");
    let mut s = rand::seq::index::sample(&mut r, n, n.min(TRAIN_ACC_SAMPLE)).into_vec();
    s.sort_unstable();
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::testing::{augmented, cfg, inputs, split, IMAGE};

    #[test]
    fn epoch_order_is_a_fresh_permutation_per_seed_and_epoch() {
        let a3 = epoch_order(5, 3, 100);
        let mut sorted = a3.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(a3, sorted);
        assert_ne!(epoch_order(5, 2, 100), a3);
        assert_ne!(epoch_order(6, 3, 100), a3);
        assert_eq!(train_acc_sample(0, 10_000).len(), TRAIN_ACC_SAMPLE);
        assert_eq!(train_acc_sample(9, 300), (0..300).collect::<Vec<_>>());
    }

    #[test]
    fn dropout_masks_have_rate_p_scale_1_over_1_minus_p_and_depend_on_seed_epoch_iteration() {
        let mut m = Array2::zeros((200, 100));
        dropout_mask(1, 2, 3, 0.25, &mut m);
        let dropped = m.iter().filter(|&&v| v == 0.0).count() as f64 / m.len() as f64;
        assert!((dropped - 0.25).abs() < 0.01, "{dropped}");
        assert!(m.iter().all(|&v| v == 0.0 || v == (1.0f64 / 0.75) as f32));
        let mut other = Array2::zeros((200, 100));
        for (s, e, i) in [(2, 2, 3), (1, 3, 3), (1, 2, 4)] {
            dropout_mask(s, e, i, 0.25, &mut other);
            assert_ne!(m, other, "{s} {e} {i}");
        }
    }

    #[test]
    fn flip_and_crop_of_a_known_image_pixel_by_pixel() {
        // One channel, 2x3 pixels: raw values (already / 255) and a mean image; inputs are stored centred.
        let raw = ndarray::array![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mean = ndarray::array![0.1f32, 0.2, 0.3, 0.4, 0.5, 0.6];
        let x = &raw - &mean;
        let run = |t: Augment| {
            let mut out = ndarray::Array1::zeros(6);
            augment_image(x.view(), mean.view(), [1, 2, 3], t, out.view_mut());
            out
        };
        let close = |got: ndarray::Array1<f32>, want: [f32; 6]| {
            for (k, (g, w)) in got.iter().zip(want).enumerate() {
                assert!((g - w).abs() < 1e-6, "pixel {k}: {g} vs {w}");
            }
        };
        let t = |flip, dy, dx| Augment { flip, dy, dx };
        // Nothing: the input itself, bit for bit.
        assert_eq!(run(Augment::default()), x);
        // Flip: raw [[3,2,1],[6,5,4]] minus the mean.
        close(run(t(true, 0, 0)), [2.9, 1.8, 0.7, 5.6, 4.5, 3.4]);
        // Shift by (1, 1): raw [[5,6,0],[0,0,0]] (zero padding in pixel space) minus the mean.
        close(run(t(false, 1, 1)), [4.9, 5.8, -0.3, -0.4, -0.5, -0.6]);
        // Shift by (-1, 0): raw [[0,0,0],[1,2,3]].
        close(run(t(false, -1, 0)), [-0.1, -0.2, -0.3, 0.6, 1.5, 2.4]);
        // Crop then flip (torchvision's order): raw [[0,3,2],[0,6,5]].
        close(run(t(true, 0, 1)), [-0.1, 2.8, 1.7, -0.4, 5.5, 4.4]);
        // Channels are transformed alike and independently (2 channels of 1x2).
        let x2 = ndarray::array![1.0f32, 2.0, 10.0, 20.0];
        let mut out = ndarray::Array1::zeros(4);
        augment_image(
            x2.view(),
            ndarray::Array1::zeros(4).view(),
            [2, 1, 2],
            t(true, 0, 0),
            out.view_mut(),
        );
        assert_eq!(out, ndarray::array![2.0f32, 1.0, 20.0, 10.0]);
    }

    #[test]
    fn augmented_batches_depend_on_the_shuffle_seed_epoch_and_iteration_only() {
        let (x, y, mean) = inputs(120, 48, "augmented-batches");
        let data = split(&x, &y, &mean, 90, &IMAGE);
        let c = augmented();
        let batch = |c: &TrainConfig, epoch, it| {
            let (mut xb, mut yb) = (Array2::zeros((30, 48)), vec![0; 30]);
            let order = epoch_order(c.shuffle_seed, epoch, 90);
            gather_batch(c, &data, IMAGE, epoch, it, &order, &mut xb, &mut yb);
            (xb, yb)
        };
        let (a, ya) = batch(&c, 2, 1);
        // Another job (other init seed, other dropout) of the same sweep sees the same augmented batch.
        let other_job = TrainConfig {
            seed: 1234,
            dropout: 0.2,
            ..c.clone()
        };
        assert_eq!(batch(&other_job, 2, 1), (a.clone(), ya.clone()));
        // Another sweep seed, epoch or iteration: another batch.
        let other_sweep = TrainConfig {
            shuffle_seed: 1234,
            ..c.clone()
        };
        assert_ne!(batch(&other_sweep, 2, 1).0, a);
        assert_ne!(batch(&c, 3, 1).0, a);
        assert_ne!(batch(&c, 2, 2).0, a);
        // Some rows are transformed, and the labels follow the rows.
        let plain = TrainConfig {
            flip: 0.0,
            crop: 0,
            ..c.clone()
        };
        let (p, yp) = batch(&plain, 2, 1);
        assert_eq!(ya, yp);
        let changed = a.rows().into_iter().zip(p.rows()).filter(|(u, v)| u != v).count();
        assert!(changed > 10, "{changed} of 30 rows transformed");
    }

    #[test]
    fn augmentation_needs_image_data_and_a_crop_smaller_than_the_image() {
        let (x, y, mean) = inputs(120, 48, "augmentation-checks");
        let with = |flip, crop| TrainConfig {
            flip,
            crop,
            ..(*cfg(0.1, 1)).clone()
        };
        let not_images = split(&x, &y, &mean, 90, &[]);
        assert!(check_data(&with(0.0, 0), &not_images).is_ok());
        let e = check_data(&with(0.5, 0), &not_images).unwrap_err().to_string();
        assert!(e.contains("flip and crop need images"), "{e}");
        let images = split(&x, &y, &mean, 90, &IMAGE);
        assert_eq!(check_data(&with(0.5, 3), &images).unwrap(), IMAGE);
        let e = check_data(&with(0.0, 4), &images).unwrap_err().to_string();
        assert!(e.contains("crop = 4 must be smaller than the image (4x4)"), "{e}");
        let empty = split(&x, &y, &mean, 0, &IMAGE);
        assert!(matches!(check_data(&with(0.0, 0), &empty), Err(TrainError::NoData)));
    }
}
