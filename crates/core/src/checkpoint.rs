//! Checkpoints as safetensors files (W1, b1, W2, b2, mean image + metadata), written atomically, loaded as a predictor.

use std::path::Path;

use ndarray::{Array1, Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::error::{CheckpointError, DataError, FormatError};
pub use crate::file::write_atomic;
use crate::file::{Reader, Writer};
use crate::network::{softmax, TwoLayerNet};
use crate::train::TrainConfig;

/// Written into every checkpoint's metadata as `format`.
pub const FORMAT: &str = "sweep-two-layer";
/// Bumped when the layout changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;
/// What a checkpoint file is, for errors.
const KIND: &str = "sweep checkpoint";

/// What a checkpoint says about its model besides the tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// The configuration the model was trained with.
    pub hyperparameters: TrainConfig,
    /// One name per output, in the order of the scores.
    pub class_names: Vec<String>,
    /// Shape of one raw input, e.g. `[3, 32, 32]`.
    pub input_shape: Vec<usize>,
    /// The validation accuracy the model was chosen by (0 to 1).
    pub val_accuracy: f64,
    /// How the training data were split (seed, val_size, subsets), when they came from files.
    pub data_split: Option<crate::data::DataSpec>,
}

/// A trained model: the network, the mean image it was trained with, and its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub net: TwoLayerNet<f32>,
    pub mean: Array1<f32>,
    pub meta: ModelMeta,
}

/// The same thing under the name used for files on disk.
pub type Checkpoint = Model;

/// One prediction: class id, its name and the probability of every class.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub class_id: usize,
    pub class_name: String,
    pub probabilities: Vec<f32>,
}

impl Model {
    /// Serializes to safetensors bytes (the same model always gives the same bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(FORMAT, FORMAT_VERSION);
        w.params("", &self.net.params);
        w.f32s("mean", self.mean.shape(), self.mean.iter().copied());
        w.json("hyperparameters", &self.meta.hyperparameters);
        w.json("class_names", &self.meta.class_names);
        w.json("input_shape", &self.meta.input_shape);
        w.text("val_accuracy", &self.meta.val_accuracy.to_string());
        if let Some(split) = &self.meta.data_split {
            w.json("data_split", split);
        }
        w.into_bytes()
    }

    /// Writes the checkpoint atomically: a temporary file in the same directory, then a rename over `path`.
    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        crate::file::save(path, &self.to_bytes())
    }

    /// Reads a checkpoint written by [`Model::save`].
    pub fn load(path: &Path) -> Result<Model, CheckpointError> {
        crate::file::load(path, KIND, Self::from_bytes)
    }

    /// Reads a checkpoint from bytes written by [`Model::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, FormatError> {
        let r = Reader::open(bytes, FORMAT, &[FORMAT_VERSION])?;
        let meta = ModelMeta {
            hyperparameters: r.json("hyperparameters")?,
            class_names: r.json("class_names")?,
            input_shape: r.json("input_shape")?,
            val_accuracy: r.number("val_accuracy")?,
            data_split: match r.get("data_split") {
                Some(_) => Some(r.json("data_split")?),
                None => None,
            },
        };
        let net = r.net("")?;
        let mean = r.vector("mean")?;
        if mean.len() != net.input_size() || meta.input_shape.iter().product::<usize>() != net.input_size() {
            return Err(FormatError::Inconsistent {
                what: format!(
                    "mean has {} values, input_shape {:?}, but W1 expects {} inputs",
                    mean.len(),
                    meta.input_shape,
                    net.input_size()
                ),
            });
        }
        if meta.class_names.len() != net.num_classes() {
            return Err(FormatError::Inconsistent {
                what: format!("{} class names for {} outputs", meta.class_names.len(), net.num_classes()),
            });
        }
        Ok(Model { net, mean, meta })
    }

    /// Class ids and probabilities for raw pixels (N, D) in 0..=255, channel-major, preprocessed as in training.
    pub fn predict_pixels(&self, pixels: ArrayView2<'_, u8>) -> Vec<Prediction> {
        let x = crate::data::preprocess(pixels, &self.mean);
        let probs = softmax(&self.net.scores(x.view()));
        probs
            .rows()
            .into_iter()
            .map(|row| {
                let id = crate::network::argmax(row);
                Prediction {
                    class_id: id,
                    class_name: self.meta.class_names[id].clone(),
                    probabilities: row.to_vec(),
                }
            })
            .collect()
    }

    /// Decodes image files and predicts each; an image of another size than the model's input is scaled to it
    /// ([`crate::data::load_image_resized`]). The second value lists the images that were resized.
    pub fn predict_files<'p>(&self, paths: &[&'p Path]) -> Result<(Vec<Prediction>, Vec<&'p Path>), DataError> {
        let d = self.net.input_size();
        let mut pixels = Array2::<u8>::zeros((paths.len(), d));
        let mut resized = Vec::new();
        for (mut row, p) in pixels.rows_mut().into_iter().zip(paths) {
            let (px, scaled) = crate::data::load_image_resized(p, &self.meta.input_shape)?;
            if scaled {
                resized.push(*p);
            }
            row.assign(&ndarray::ArrayView1::from(&px[..]));
        }
        Ok((self.predict_pixels(pixels.view()), resized))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Init;
    use rand::SeedableRng;

    fn model() -> Model {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let net = TwoLayerNet::<f32>::new(12, 5, 3, Init::Kaiming, &mut rng);
        Model {
            net,
            mean: Array1::from_shape_fn(12, |i| i as f32 / 100.0),
            meta: ModelMeta {
                hyperparameters: TrainConfig::default(),
                class_names: vec!["x".into(), "y".into(), "z".into()],
                input_shape: vec![3, 2, 2],
                val_accuracy: 0.5,
                data_split: Some(crate::DataSpec {
                    val_size: 7,
                    train_size: Some(9),
                    test_size: None,
                    seed: 3,
                }),
            },
        }
    }

    #[test]
    fn round_trip_keeps_every_tensor_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        let m = model();
        m.save(&path).unwrap();
        let back = Model::load(&path).unwrap();
        assert_eq!(back, m);
        let px = Array2::from_shape_fn((4, 12), |(i, j)| (i * 37 + j * 11) as u8);
        assert_eq!(back.predict_pixels(px.view()), m.predict_pixels(px.view()));
        // No temporary file is left beside it, and it is readable by others like any file.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        #[cfg(unix)]
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions()) & 0o777,
            0o644
        );
    }

    #[test]
    fn file_follows_the_safetensors_layout() {
        // Layout: u64 little-endian header length N, then N bytes of JSON header with dtype/shape/data_offsets per
        // tensor and __metadata__ (string -> string), then the raw little-endian data.
        let bytes = model().to_bytes();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        assert_eq!(header["W1"]["dtype"], "F32");
        assert_eq!(header["W1"]["shape"], serde_json::json!([12, 5]));
        assert_eq!(header["__metadata__"]["format"], FORMAT);
        let mut total = 0;
        for name in ["W1", "b1", "W2", "b2", "mean"] {
            let off = header[name]["data_offsets"].as_array().unwrap();
            total += off[1].as_u64().unwrap() - off[0].as_u64().unwrap();
        }
        assert_eq!(total as usize, bytes.len() - 8 - n);
        assert_eq!(total, 4 * (60 + 5 + 15 + 3 + 12));
        assert_eq!(n % 8, 0);
        // Same model, same bytes (the metadata map would otherwise be written in random order).
        assert_eq!(model().to_bytes(), bytes);
    }

    #[test]
    fn probabilities_sum_to_one_and_argmax_matches() {
        let m = model();
        let px = Array2::from_shape_fn((3, 12), |(i, j)| (i * 90 + j * 7) as u8);
        for p in m.predict_pixels(px.view()) {
            let s: f32 = p.probabilities.iter().sum();
            assert!((s - 1.0).abs() < 1e-5);
            let best = p.probabilities.iter().cloned().fold(f32::MIN, f32::max);
            assert_eq!(p.probabilities[p.class_id], best);
        }
    }

    /// An image of another size than the model's input is scaled to it, and predicts as the same picture made at the
    /// model's size would; a model whose input is not an image names that, not a size of 0x0.
    #[test]
    fn predict_resizes_images_and_names_a_model_that_takes_no_images() {
        let dir = tempfile::tempdir().unwrap();
        let m = model();
        let (small, big) = (dir.path().join("small.png"), dir.path().join("big.png"));
        // One color: an 8x8 image of it, resized to the model's 2x2, is the 2x2 image of it.
        let color = image::Rgb([200, 30, 90]);
        image::RgbImage::from_pixel(2, 2, color).save(&small).unwrap();
        image::RgbImage::from_pixel(8, 8, color).save(&big).unwrap();
        let (px, scaled) = crate::data::load_image_resized(&big, &m.meta.input_shape).unwrap();
        assert!(scaled);
        assert_eq!(px, crate::data::load_image_resized(&small, &m.meta.input_shape).unwrap().0);
        let (got, resized) = m.predict_files(&[small.as_path(), big.as_path()]).unwrap();
        assert_eq!(resized, [big.as_path()]);
        assert_eq!(got[0], got[1]);
        let mut toy = model();
        toy.meta.input_shape = vec![12];
        let err = toy.predict_files(&[small.as_path()]).unwrap_err().to_string();
        assert!(err.contains("input is not an image (input shape [12])"), "{err}");
        assert!(!err.contains("0x0"), "{err}");
    }

    #[test]
    fn corrupt_or_foreign_files_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.safetensors");
        std::fs::write(&p, b"not a checkpoint").unwrap();
        assert!(matches!(Model::load(&p), Err(CheckpointError::Format { .. })));
        let bytes = model().to_bytes();
        std::fs::write(&p, &bytes[..bytes.len() - 10]).unwrap();
        assert!(matches!(Model::load(&p), Err(CheckpointError::Format { .. })));
        assert!(matches!(
            Model::load(&dir.path().join("missing")),
            Err(CheckpointError::Read { .. })
        ));
    }
}
