//! Checkpoints as safetensors files (W1, b1, W2, b2, mean image + metadata), written atomically, loaded as a predictor.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use ndarray::{Array1, Array2, ArrayView2};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::error::{CheckpointError, DataError};
use crate::network::{softmax, Params, TwoLayerNet};
use crate::train::TrainConfig;

/// Written into every checkpoint's metadata as `format`.
pub const FORMAT: &str = "sweep-two-layer";
/// Bumped when the layout changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;

/// Reads the file at `path` and decodes it with `decode`; the error names the path.
pub(crate) fn read_with<T>(path: &Path, decode: impl FnOnce(&[u8]) -> Result<T, String>) -> Result<T, CheckpointError> {
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    decode(&bytes).map_err(|reason| CheckpointError::Format {
        path: path.to_path_buf(),
        reason,
    })
}

/// The metadata of a sweep safetensors file of kind `format` (a checkpoint or a training state), after checking that
/// it is that kind at `version`; `missing` says what the file is not when it has no metadata at all.
pub(crate) fn checked_metadata(
    bytes: &[u8],
    format: &str,
    version: u32,
    missing: &str,
) -> Result<std::collections::HashMap<String, String>, String> {
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| format!("not a safetensors file ({e})"))?;
    let meta = header.metadata().clone().ok_or(missing)?;
    let field = |k: &str| meta.get(k).ok_or_else(|| format!("metadata lacks `{k}`"));
    if field("format")? != format {
        return Err(format!("metadata format is `{}`, expected `{format}`", field("format")?));
    }
    let found: u32 = field("format_version")?.parse().map_err(|_| "format_version is not a number")?;
    if found != version {
        return Err(format!("format_version {found} is not supported (this build reads {version})"));
    }
    Ok(meta)
}

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

pub(crate) fn bytes_of(a: &[f32]) -> Vec<u8> {
    a.iter().flat_map(|v| v.to_le_bytes()).collect()
}

impl Model {
    /// Serializes to safetensors bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, safetensors::SafeTensorError> {
        let p = &self.net.params;
        let owned: Vec<(&str, Vec<usize>, Vec<u8>)> = vec![
            ("W1", p.w1.shape().to_vec(), bytes_of(&p.w1.iter().copied().collect::<Vec<_>>())),
            ("b1", p.b1.shape().to_vec(), bytes_of(&p.b1.to_vec())),
            ("W2", p.w2.shape().to_vec(), bytes_of(&p.w2.iter().copied().collect::<Vec<_>>())),
            ("b2", p.b2.shape().to_vec(), bytes_of(&p.b2.to_vec())),
            ("mean", self.mean.shape().to_vec(), bytes_of(&self.mean.to_vec())),
        ];
        let mut views = Vec::new();
        for (name, shape, data) in &owned {
            views.push((*name, TensorView::new(Dtype::F32, shape.clone(), data)?));
        }
        let json = |v: &dyn erased::Ser| v.to_json();
        let mut metadata: HashMap<String, String> = [
            ("format".to_string(), FORMAT.to_string()),
            ("format_version".to_string(), FORMAT_VERSION.to_string()),
            ("hyperparameters".to_string(), json(&self.meta.hyperparameters)),
            ("class_names".to_string(), json(&self.meta.class_names)),
            ("input_shape".to_string(), json(&self.meta.input_shape)),
            ("val_accuracy".to_string(), self.meta.val_accuracy.to_string()),
        ]
        .into_iter()
        .collect();
        if let Some(split) = &self.meta.data_split {
            metadata.insert("data_split".to_string(), json(split));
        }
        let bytes = safetensors::tensor::serialize(views, &Some(metadata))?;
        Ok(canonical_header(bytes))
    }

    /// Writes the checkpoint atomically: a temporary file in the same directory, then a rename over `path`.
    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        let werr = |source| CheckpointError::Write {
            path: path.to_path_buf(),
            source,
        };
        let bytes = self.to_bytes().map_err(|e| werr(std::io::Error::other(e.to_string())))?;
        write_atomic(path, &bytes).map_err(werr)
    }

    /// Reads a checkpoint written by [`Model::save`].
    pub fn load(path: &Path) -> Result<Model, CheckpointError> {
        read_with(path, Self::from_bytes)
    }

    fn from_bytes(bytes: &[u8]) -> Result<Model, String> {
        let meta = checked_metadata(bytes, FORMAT, FORMAT_VERSION, "no metadata: not written by sweep")?;
        let field = |k: &str| meta.get(k).ok_or_else(|| format!("metadata lacks `{k}`"));
        let parse =
            |k: &str| -> Result<serde_json::Value, String> { serde_json::from_str(field(k)?).map_err(|e| format!("metadata `{k}`: {e}")) };
        let meta = ModelMeta {
            hyperparameters: serde_json::from_value(parse("hyperparameters")?).map_err(|e| format!("hyperparameters: {e}"))?,
            class_names: serde_json::from_value(parse("class_names")?).map_err(|e| format!("class_names: {e}"))?,
            input_shape: serde_json::from_value(parse("input_shape")?).map_err(|e| format!("input_shape: {e}"))?,
            val_accuracy: field("val_accuracy")?.parse().map_err(|_| "val_accuracy is not a number")?,
            data_split: match meta.get("data_split") {
                Some(s) => Some(serde_json::from_str(s).map_err(|e| format!("metadata `data_split`: {e}"))?),
                None => None,
            },
        };
        let st = SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file ({e})"))?;
        let tensor = |name: &str| -> Result<(Vec<usize>, Vec<f32>), String> {
            let t = st.tensor(name).map_err(|_| format!("tensor `{name}` is missing"))?;
            if t.dtype() != Dtype::F32 {
                return Err(format!("tensor `{name}` is {:?}, expected F32", t.dtype()));
            }
            let data = t
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            Ok((t.shape().to_vec(), data))
        };
        let mat = |name: &str| -> Result<Array2<f32>, String> {
            let (s, d) = tensor(name)?;
            if s.len() != 2 {
                return Err(format!("tensor `{name}` has shape {s:?}, expected 2 dimensions"));
            }
            Array2::from_shape_vec((s[0], s[1]), d).map_err(|e| e.to_string())
        };
        let vec = |name: &str| -> Result<Array1<f32>, String> {
            let (s, d) = tensor(name)?;
            if s.len() != 1 {
                return Err(format!("tensor `{name}` has shape {s:?}, expected 1 dimension"));
            }
            Ok(Array1::from(d))
        };
        let net = TwoLayerNet::from_params(Params {
            w1: mat("W1")?,
            b1: vec("b1")?,
            w2: mat("W2")?,
            b2: vec("b2")?,
        })
        .map_err(|e| e.to_string())?;
        let mean = vec("mean")?;
        if mean.len() != net.input_size() || meta.input_shape.iter().product::<usize>() != net.input_size() {
            return Err(format!(
                "mean has {} values, input_shape {:?}, but W1 expects {} inputs",
                mean.len(),
                meta.input_shape,
                net.input_size()
            ));
        }
        if meta.class_names.len() != net.num_classes() {
            return Err(format!("{} class names for {} outputs", meta.class_names.len(), net.num_classes()));
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

    /// Decodes image files and predicts each; images must have the model's input size.
    pub fn predict_files(&self, paths: &[&Path]) -> Result<Vec<Prediction>, DataError> {
        let d = self.net.input_size();
        let mut pixels = Array2::<u8>::zeros((paths.len(), d));
        for (mut row, p) in pixels.rows_mut().into_iter().zip(paths) {
            let px = crate::data::load_image_checked(p, &self.meta.input_shape)?;
            row.assign(&ndarray::ArrayView1::from(&px[..]));
        }
        Ok(self.predict_pixels(pixels.view()))
    }
}

/// Rewrites the JSON header with sorted keys (the metadata map's order is otherwise random), so that the same model
/// always gives the same bytes. The header stays padded with spaces to a multiple of 8 bytes, as safetensors does.
pub(crate) fn canonical_header(bytes: Vec<u8>) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8-byte length")) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).expect("safetensors wrote valid JSON");
    let mut text = serde_json::to_string(&header).expect("JSON value serializes"); // serde_json maps are sorted
    while text.len() % 8 != 0 {
        text.push(' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + bytes.len() - 8 - n);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so readers never see half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    // Temporary files are private (0600); results are meant to be shared and served like any other file.
    #[cfg(unix)]
    std::fs::set_permissions(tmp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

pub(crate) mod erased {
    //! Serialize-to-JSON through a trait object, so a file's metadata list stays one table (checkpoints, states).
    pub trait Ser {
        fn to_json(&self) -> String;
    }
    impl<T: serde::Serialize> Ser for T {
        fn to_json(&self) -> String {
            serde_json::to_string(self).expect("plain data serializes")
        }
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
        let bytes = model().to_bytes().unwrap();
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
        assert_eq!(model().to_bytes().unwrap(), bytes);
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

    #[test]
    fn corrupt_or_foreign_files_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.safetensors");
        std::fs::write(&p, b"not a checkpoint").unwrap();
        assert!(matches!(Model::load(&p), Err(CheckpointError::Format { .. })));
        let bytes = model().to_bytes().unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 10]).unwrap();
        assert!(matches!(Model::load(&p), Err(CheckpointError::Format { .. })));
        assert!(matches!(
            Model::load(&dir.path().join("missing")),
            Err(CheckpointError::Read { .. })
        ));
    }
}
