//! CIFAR-10 loading (official binary directory, its .tar.gz, or an image folder), seeded splits and preprocessing.
//!
//! Preprocessing: pixels / 255, minus the mean image of the training split (computed after the validation split is
//! carved out), flattened channel-major. All splits are held once in f32 and can be shared read-only by many runs.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::rng::rng_for;
use crate::train::TrainData;

/// Bytes of one record in the official binary format: 1 label byte + 3,072 pixel bytes.
pub const RECORD: usize = 1 + 3072;
const TRAIN_BATCHES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
const TEST_BATCH: &str = "test_batch.bin";
const META: &str = "batches.meta.txt";
const BIN_DIR: &str = "cifar-10-batches-bin";
const ARCHIVE: &str = "cifar-10-binary.tar.gz";

/// How to split and subset the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSpec {
    /// Training images held out for validation by a seeded shuffle.
    pub val_size: usize,
    /// Use only this many of the remaining training images (quick runs).
    pub train_size: Option<usize>,
    /// Use only this many test images (a seeded sample).
    pub test_size: Option<usize>,
    /// Seed of the split.
    pub seed: u64,
}

/// Training images held out for validation unless a grid or flag says otherwise: the report's 40,000 / 10,000 split.
pub const DEFAULT_VAL_SIZE: usize = 10_000;

impl Default for DataSpec {
    fn default() -> Self {
        Self {
            val_size: DEFAULT_VAL_SIZE,
            train_size: None,
            test_size: None,
            seed: 0,
        }
    }
}

/// Train, validation and test splits, preprocessed, with the mean image and class names.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub x_train: Array2<f32>,
    pub y_train: Vec<u8>,
    pub x_val: Array2<f32>,
    pub y_val: Vec<u8>,
    pub x_test: Array2<f32>,
    pub y_test: Vec<u8>,
    /// Mean of the (raw / 255) training split, subtracted from every split.
    pub mean: Array1<f32>,
    pub class_names: Vec<String>,
    /// Shape of one input before flattening: `[channels, height, width]` for images.
    pub input_shape: Vec<usize>,
    /// What was loaded, for logs.
    pub description: String,
    /// How the splits were drawn (None for the synthetic toy problem), saved with checkpoints so that the
    /// validation split can be re-drawn exactly for evaluation.
    pub spec: Option<DataSpec>,
}

impl Dataset {
    pub fn train_data(&self) -> TrainData<'_> {
        TrainData {
            x_train: self.x_train.view(),
            y_train: &self.y_train,
            x_val: self.x_val.view(),
            y_val: &self.y_val,
            num_classes: self.class_names.len(),
            mean: self.mean.view(),
            input_shape: &self.input_shape,
        }
    }
    pub fn input_size(&self) -> usize {
        self.x_train.ncols()
    }
}

/// The formats this module reads, recognised from what is at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `cifar-10-batches-bin/` with data_batch_1..5.bin, test_batch.bin, batches.meta.txt.
    BinaryDir(PathBuf),
    /// `cifar-10-binary.tar.gz`, read without unpacking.
    Archive(PathBuf),
    /// `<root>/{train,test}/<class>/*.{jpg,jpeg,png}`.
    ImageFolder(PathBuf),
}

impl Source {
    /// Recognises the format at `path` (also a directory that contains the binary directory or the archive).
    pub fn detect(path: &Path) -> Result<Source, DataError> {
        let looked_for = format!(
            "a directory with {} (the official binary release), `{ARCHIVE}`, or an image folder with train/ and test/ class folders",
            TRAIN_BATCHES[0]
        );
        if path.is_file() {
            let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
            if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
                return Ok(Source::Archive(path.to_path_buf()));
            }
            return Err(DataError::Invalid {
                path: path.to_path_buf(),
                reason: format!("is a file but not a .tar.gz archive; expected {looked_for}"),
            });
        }
        if !path.is_dir() {
            return Err(DataError::NotFound {
                path: path.to_path_buf(),
                looked_for,
            });
        }
        if path.join(TRAIN_BATCHES[0]).exists() || path.join(TEST_BATCH).exists() {
            return Ok(Source::BinaryDir(path.to_path_buf()));
        }
        if path.join(BIN_DIR).is_dir() {
            return Ok(Source::BinaryDir(path.join(BIN_DIR)));
        }
        if path.join(ARCHIVE).is_file() {
            return Ok(Source::Archive(path.join(ARCHIVE)));
        }
        if path.join("train").is_dir() || path.join("test").is_dir() {
            return Ok(Source::ImageFolder(path.to_path_buf()));
        }
        Err(DataError::NotFound {
            path: path.to_path_buf(),
            looked_for,
        })
    }
}

/// The pixels of one split before selection: either in memory (binary) or as files to decode (image folder).
struct RawSplit {
    labels: Vec<u8>,
    pixels: Pixels,
}

enum Pixels {
    /// Concatenated records' pixel bytes, `dim` bytes each, with the file each came from (for errors).
    Memory(Vec<u8>),
    Files(Vec<PathBuf>),
}

struct Raw {
    train: RawSplit,
    test: RawSplit,
    class_names: Vec<String>,
    input_shape: Vec<usize>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Parses one binary batch; `classes` bounds the labels.
fn parse_batch(path: &Path, bytes: &[u8], classes: usize, out: &mut RawSplit) -> Result<(), DataError> {
    if bytes.len() % RECORD != 0 || bytes.is_empty() {
        return Err(DataError::BadSize {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
            record: RECORD,
        });
    }
    let Pixels::Memory(px) = &mut out.pixels else {
        unreachable!("binary batches are held in memory")
    };
    px.reserve(bytes.len() / RECORD * (RECORD - 1));
    for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] as usize >= classes {
            return Err(DataError::LabelOutOfRange {
                path: path.to_path_buf(),
                record: i,
                label: rec[0],
                classes,
            });
        }
        out.labels.push(rec[0]);
        px.extend_from_slice(&rec[1..]);
    }
    Ok(())
}

fn parse_meta(path: &Path, bytes: &[u8]) -> Result<Vec<String>, DataError> {
    let text = std::str::from_utf8(bytes).map_err(|_| DataError::Invalid {
        path: path.to_path_buf(),
        reason: "is not UTF-8 text (one class name per line)".into(),
    })?;
    let names: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    if names.is_empty() {
        return Err(DataError::Invalid {
            path: path.to_path_buf(),
            reason: "lists no class names".into(),
        });
    }
    Ok(names)
}

/// Builds the raw splits from the files of the binary release, given a way to read each by name.
fn read_binary(root: &Path, mut read: impl FnMut(&str) -> Result<Option<Vec<u8>>, DataError>) -> Result<Raw, DataError> {
    let mut get = |name: &str| -> Result<(PathBuf, Vec<u8>), DataError> {
        let path = root.join(name);
        match read(name)? {
            Some(b) => Ok((path, b)),
            None => Err(DataError::NotFound {
                path: path.clone(),
                looked_for: format!(
                    "{name} of the CIFAR-10 binary release ({META}, {}..5.bin, {TEST_BATCH})",
                    TRAIN_BATCHES[0].trim_end_matches("1.bin")
                ),
            }),
        }
    };
    let (meta_path, meta) = get(META)?;
    let class_names = parse_meta(&meta_path, &meta)?;
    let mut train = RawSplit {
        labels: Vec::new(),
        pixels: Pixels::Memory(Vec::new()),
    };
    for name in TRAIN_BATCHES {
        let (p, b) = get(name)?;
        parse_batch(&p, &b, class_names.len(), &mut train)?;
    }
    let mut test = RawSplit {
        labels: Vec::new(),
        pixels: Pixels::Memory(Vec::new()),
    };
    let (p, b) = get(TEST_BATCH)?;
    parse_batch(&p, &b, class_names.len(), &mut test)?;
    Ok(Raw {
        train,
        test,
        class_names,
        input_shape: vec![3, 32, 32],
    })
}

fn read_binary_dir(dir: &Path) -> Result<Raw, DataError> {
    read_binary(dir, |name| {
        let p = dir.join(name);
        if !p.is_file() {
            return Ok(None);
        }
        fs::read(&p).map(Some).map_err(io_err(&p))
    })
}

fn read_archive(path: &Path) -> Result<Raw, DataError> {
    let file = fs::File::open(path).map_err(io_err(path))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let wanted: Vec<&str> = TRAIN_BATCHES.iter().copied().chain([TEST_BATCH, META]).collect();
    let mut members: std::collections::HashMap<String, Vec<u8>> = Default::default();
    let bad = |source| DataError::Archive {
        path: path.to_path_buf(),
        source,
    };
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let name = entry
            .path()
            .map_err(bad)?
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if wanted.contains(&name.as_str()) {
            let mut buf = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut buf).map_err(bad)?;
            members.insert(name, buf);
        }
    }
    read_binary(&path.join(BIN_DIR), |name| Ok(members.remove(name)))
}

fn is_image(p: &Path) -> bool {
    matches!(
        p.extension().map(|e| e.to_string_lossy().to_lowercase()).as_deref(),
        Some("jpg" | "jpeg" | "png")
    )
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    v.sort();
    Ok(v)
}

/// Lists `<root>/<split>/<class>/*` in sorted order.
fn list_folder_split(root: &Path, split: &str) -> Result<(Vec<String>, RawSplit), DataError> {
    let dir = root.join(split);
    if !dir.is_dir() {
        return Err(DataError::NotFound {
            path: dir,
            looked_for: format!("the {split}/ folder of an image-folder data set (<root>/{{train,test}}/<class>/*.jpg)"),
        });
    }
    let classes: Vec<PathBuf> = sorted_entries(&dir)?.into_iter().filter(|p| p.is_dir()).collect();
    if classes.is_empty() {
        return Err(DataError::Invalid {
            path: dir,
            reason: "has no class folders; expected <class>/*.jpg inside".into(),
        });
    }
    if classes.len() > 256 {
        return Err(DataError::Invalid {
            path: dir,
            reason: format!("has {} class folders; at most 256 are supported", classes.len()),
        });
    }
    let mut names = Vec::new();
    let mut labels = Vec::new();
    let mut files = Vec::new();
    for (label, class_dir) in classes.iter().enumerate() {
        let imgs: Vec<PathBuf> = sorted_entries(class_dir)?
            .into_iter()
            .filter(|p| p.is_file() && is_image(p))
            .collect();
        if imgs.is_empty() {
            return Err(DataError::EmptyClass { path: class_dir.clone() });
        }
        names.push(class_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        labels.extend(std::iter::repeat_n(label as u8, imgs.len()));
        files.extend(imgs);
    }
    Ok((
        names,
        RawSplit {
            labels,
            pixels: Pixels::Files(files),
        },
    ))
}

fn read_folder(root: &Path) -> Result<Raw, DataError> {
    let (class_names, train) = list_folder_split(root, "train")?;
    let (test_names, test) = list_folder_split(root, "test")?;
    if test_names != class_names {
        return Err(DataError::Invalid {
            path: root.join("test"),
            reason: format!("has classes {test_names:?}, but train/ has {class_names:?}; both must have the same class folders"),
        });
    }
    let Pixels::Files(files) = &train.pixels else { unreachable!() };
    let (w, h, _) = decode_image(&files[0])?;
    Ok(Raw {
        train,
        test,
        class_names,
        input_shape: vec![3, h as usize, w as usize],
    })
}

/// Decodes an image file to RGB and returns (width, height, channel-major bytes).
pub fn decode_image(path: &Path) -> Result<(u32, u32, Vec<u8>), DataError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    let img = image::load_from_memory(&bytes).map_err(|source| DataError::BadImage {
        path: path.to_path_buf(),
        source: Box::new(source),
    })?;
    let rgb = img.to_rgb8();
    let (w, h) = rgb.dimensions();
    Ok((w, h, channel_major(&rgb)))
}

/// The filter [`load_image_resized`] scales an image with: Catmull-Rom (bicubic), the `image` crate's
/// [`image::imageops::FilterType::CatmullRom`], sharp enough for downscaling photos and cheap at 32x32.
pub const RESIZE_FILTER: image::imageops::FilterType = image::imageops::FilterType::CatmullRom;

/// The `(height, width)` of an image input shape `[3, h, w]`, or `None` when the shape is not an RGB image (the toy
/// problem's `[4]`).
pub fn image_size(input_shape: &[usize]) -> Option<(u32, u32)> {
    match input_shape {
        [3, h, w] if *h > 0 && *w > 0 => Some((u32::try_from(*h).ok()?, u32::try_from(*w).ok()?)),
        _ => None,
    }
}

/// Decodes an image and scales it to the `[3, h, w]` of `input_shape` with [`RESIZE_FILTER`] when its size differs
/// (`sweep predict` on a photo of any size); returns channel-major bytes and whether it was resized. An input shape
/// that is not an image's is [`DataError::NotAnImageModel`].
pub fn load_image_resized(path: &Path, input_shape: &[usize]) -> Result<(Vec<u8>, bool), DataError> {
    let Some((want_h, want_w)) = image_size(input_shape) else {
        return Err(DataError::NotAnImageModel {
            input_shape: input_shape.to_vec(),
        });
    };
    let bytes = fs::read(path).map_err(io_err(path))?;
    let img = image::load_from_memory(&bytes).map_err(|source| DataError::BadImage {
        path: path.to_path_buf(),
        source: Box::new(source),
    })?;
    let mut rgb = img.to_rgb8();
    let resized = rgb.dimensions() != (want_w, want_h);
    if resized {
        rgb = image::imageops::resize(&rgb, want_w, want_h, RESIZE_FILTER);
    }
    Ok((channel_major(&rgb), resized))
}

/// An RGB image's bytes, one plane per channel (R, then G, then B), as the network's input is laid out.
fn channel_major(rgb: &image::RgbImage) -> Vec<u8> {
    let (w, h) = rgb.dimensions();
    let plane = (w * h) as usize;
    let mut out = vec![0u8; 3 * plane];
    for (i, px) in rgb.pixels().enumerate() {
        out[i] = px[0];
        out[plane + i] = px[1];
        out[2 * plane + i] = px[2];
    }
    out
}

/// Decodes an image and checks it has the expected `[3, h, w]` shape.
pub fn load_image_checked(path: &Path, input_shape: &[usize]) -> Result<Vec<u8>, DataError> {
    let (w, h, px) = decode_image(path)?;
    let (want_h, want_w) = (input_shape.get(1).copied().unwrap_or(0), input_shape.get(2).copied().unwrap_or(0));
    if (h as usize, w as usize) != (want_h, want_w) {
        return Err(DataError::ImageSize {
            path: path.to_path_buf(),
            got_w: w,
            got_h: h,
            want_w: want_w as u32,
            want_h: want_h as u32,
        });
    }
    Ok(px)
}

impl RawSplit {
    /// The selected rows as f32 pixels / 255, and their labels. Image files are decoded in parallel.
    fn select(&self, idx: &[usize], input_shape: &[usize]) -> Result<(Array2<f32>, Vec<u8>), DataError> {
        let dim: usize = input_shape.iter().product();
        let mut x = Array2::<f32>::zeros((idx.len(), dim));
        let labels = idx.iter().map(|&i| self.labels[i]).collect();
        let rows = x.as_slice_mut().expect("fresh array is contiguous").par_chunks_mut(dim.max(1));
        match &self.pixels {
            Pixels::Memory(px) => rows.zip(idx.par_iter()).for_each(|(row, &i)| {
                for (o, &p) in row.iter_mut().zip(&px[i * dim..(i + 1) * dim]) {
                    *o = f32::from(p) / 255.0;
                }
            }),
            Pixels::Files(files) => rows.zip(idx.par_iter()).try_for_each(|(row, &i)| -> Result<(), DataError> {
                let px = load_image_checked(&files[i], input_shape)?;
                for (o, p) in row.iter_mut().zip(px) {
                    *o = f32::from(p) / 255.0;
                }
                Ok(())
            })?,
        }
        Ok((x, labels))
    }
}

/// Row indices of the train, validation and test splits.
pub type SplitIndices = (Vec<usize>, Vec<usize>, Vec<usize>);

/// Chooses (train, val) indices out of `n` training images, and test indices out of `n_test`, per `spec`.
pub fn split_indices(n: usize, n_test: usize, spec: &DataSpec) -> Result<SplitIndices, DataError> {
    if spec.val_size >= n {
        return Err(DataError::Split {
            what: "val_size",
            value: spec.val_size,
            valid: format!(
                "0..={} (the data set has {n} training images and at least one must remain for training)",
                n.saturating_sub(1)
            ),
        });
    }
    let mut perm: Vec<usize> = (0..n).collect();
    perm.shuffle(&mut rng_for(spec.seed, "split"));
    let val = perm[..spec.val_size].to_vec();
    let mut train = perm[spec.val_size..].to_vec();
    if let Some(t) = spec.train_size {
        if t == 0 || t > train.len() {
            return Err(DataError::Split {
                what: "train_size",
                value: t,
                valid: format!("1..={} (training images left after val_size)", train.len()),
            });
        }
        train.truncate(t);
    }
    let test = match spec.test_size {
        None => (0..n_test).collect(),
        Some(t) if t <= n_test => {
            let mut p: Vec<usize> = (0..n_test).collect();
            p.shuffle(&mut rng_for(spec.seed, "test-subset"));
            p.truncate(t);
            p
        }
        Some(t) => {
            return Err(DataError::Split {
                what: "test_size",
                value: t,
                valid: format!("0..={n_test} (test images in the data set)"),
            })
        }
    };
    Ok((train, val, test))
}

/// Loads the data set at `path` (format recognised from what is there), splits and preprocesses it.
pub fn load(path: &Path, spec: &DataSpec) -> Result<Dataset, DataError> {
    let source = Source::detect(path)?;
    let raw = match &source {
        Source::BinaryDir(p) => read_binary_dir(p)?,
        Source::Archive(p) => read_archive(p)?,
        Source::ImageFolder(p) => read_folder(p)?,
    };
    let (tr, va, te) = split_indices(raw.train.labels.len(), raw.test.labels.len(), spec)?;
    let (mut x_train, y_train) = raw.train.select(&tr, &raw.input_shape)?;
    let (mut x_val, y_val) = raw.train.select(&va, &raw.input_shape)?;
    let (mut x_test, y_test) = raw.test.select(&te, &raw.input_shape)?;
    let mean = x_train.mean_axis(Axis(0)).expect("at least one training image");
    for x in [&mut x_train, &mut x_val, &mut x_test] {
        let m = mean.as_slice().expect("contiguous");
        if let Some(s) = x.as_slice_mut() {
            s.par_chunks_mut(m.len())
                .for_each(|row| row.iter_mut().zip(m).for_each(|(v, mu)| *v -= mu));
        }
    }
    let description = format!(
        "{source:?}: {} train / {} val / {} test images, {} classes",
        y_train.len(),
        y_val.len(),
        y_test.len(),
        raw.class_names.len()
    );
    let splits = [(x_train, y_train), (x_val, y_val), (x_test, y_test)];
    Ok(Dataset::assemble(
        splits,
        mean,
        raw.class_names,
        raw.input_shape,
        description,
        Some(spec.clone()),
    ))
}

impl Dataset {
    /// A data set from its train, validation and test splits (inputs, labels) and what describes them.
    fn assemble(
        splits: [(Array2<f32>, Vec<u8>); 3],
        mean: Array1<f32>,
        class_names: Vec<String>,
        input_shape: Vec<usize>,
        description: String,
        spec: Option<DataSpec>,
    ) -> Dataset {
        let [(x_train, y_train), (x_val, y_val), (x_test, y_test)] = splits;
        Dataset {
            x_train,
            y_train,
            x_val,
            y_val,
            x_test,
            y_test,
            mean,
            class_names,
            input_shape,
            description,
            spec,
        }
    }
}

/// A synthetic 3-class problem with the report's toy shapes (D=4, C=3): Gaussian blobs, learnable, no files needed.
pub fn toy_dataset(seed: u64, n_train: usize, n_val: usize, n_test: usize) -> Dataset {
    use rand_distr::{Distribution, Normal};
    let mut rng = rng_for(seed, "toy-data");
    let normal = Normal::new(0.0f32, 1.0).expect("valid normal");
    let centers: Array2<f32> = Array2::from_shape_simple_fn((3, 4), || 2.0 * normal.sample(&mut rng));
    let mut make = |n: usize| {
        let y: Vec<u8> = (0..n).map(|i| (i % 3) as u8).collect();
        let mut x = Array2::from_shape_simple_fn((n, 4), || normal.sample(&mut rng));
        for (mut row, &c) in x.rows_mut().into_iter().zip(&y) {
            row += &centers.row(c as usize);
        }
        (x, y)
    };
    let splits = [make(n_train), make(n_val), make(n_test)];
    let description = format!("toy: {n_train} train / {n_val} val / {n_test} test, D=4, 3 classes");
    let class_names = vec!["a".into(), "b".into(), "c".into()];
    Dataset::assemble(splits, Array1::zeros(4), class_names, vec![4], description, None)
}

/// Raw pixels (N, D) as bytes -> preprocessed inputs, with the given mean image.
pub fn preprocess(pixels: ArrayView2<'_, u8>, mean: &Array1<f32>) -> Array2<f32> {
    let mut x = pixels.mapv(|p| f32::from(p) / 255.0);
    x -= mean;
    x
}

/// Writes records in the official binary format (label byte + channel-major pixels): for tests and tools.
pub fn write_binary_batch(path: &Path, labels: &[u8], pixels: &[u8]) -> std::io::Result<()> {
    let dim = RECORD - 1;
    let mut out = Vec::with_capacity(labels.len() * RECORD);
    for (i, &l) in labels.iter().enumerate() {
        out.push(l);
        out.extend_from_slice(&pixels[i * dim..(i + 1) * dim]);
    }
    fs::write(path, out)
}
