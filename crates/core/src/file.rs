//! The safetensors files sweep writes (model checkpoints and training states): tensors plus string metadata, written
//! with a canonical header (the same content always gives the same bytes) and atomically, read back with typed
//! errors ([`FormatError`]) that say what is wrong.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use ndarray::{Array1, Array2};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{CheckpointError, FormatError};
use crate::network::{Params, TwoLayerNet};

/// Tensors and metadata on their way into one file.
#[derive(Default)]
pub(crate) struct Writer {
    tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>,
    metadata: HashMap<String, String>,
}

impl Writer {
    /// A file of kind `format` at `version`.
    pub(crate) fn new(format: &str, version: u32) -> Self {
        let mut w = Self::default();
        w.text("format", format);
        w.text("format_version", &version.to_string());
        w
    }

    /// Metadata `key` as text.
    pub(crate) fn text(&mut self, key: &str, value: &str) {
        self.metadata.insert(key.to_string(), value.to_string());
    }

    /// Metadata `key` as JSON.
    pub(crate) fn json(&mut self, key: &str, value: &impl serde::Serialize) {
        let text = serde_json::to_string(value).expect("plain data serializes");
        self.metadata.insert(key.to_string(), text);
    }

    pub(crate) fn f32s(&mut self, name: &str, shape: &[usize], values: impl Iterator<Item = f32>) {
        let data = values.flat_map(f32::to_le_bytes).collect();
        self.tensors.push((name.to_string(), Dtype::F32, shape.to_vec(), data));
    }

    pub(crate) fn f64s(&mut self, name: &str, shape: &[usize], values: &[f64]) {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensors.push((name.to_string(), Dtype::F64, shape.to_vec(), data));
    }

    /// The four parameters as `{prefix}W1`, `{prefix}b1`, `{prefix}W2`, `{prefix}b2`.
    pub(crate) fn params(&mut self, prefix: &str, p: &Params<f32>) {
        self.f32s(&format!("{prefix}W1"), p.w1.shape(), p.w1.iter().copied());
        self.f32s(&format!("{prefix}b1"), p.b1.shape(), p.b1.iter().copied());
        self.f32s(&format!("{prefix}W2"), p.w2.shape(), p.w2.iter().copied());
        self.f32s(&format!("{prefix}b2"), p.b2.shape(), p.b2.iter().copied());
    }

    /// The file's bytes.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        let views: Vec<(&str, TensorView<'_>)> = self
            .tensors
            .iter()
            .map(|(name, dtype, shape, data)| {
                let v = TensorView::new(*dtype, shape.clone(), data).expect("sizes agree by construction");
                (name.as_str(), v)
            })
            .collect();
        let bytes = safetensors::tensor::serialize(views, &Some(self.metadata)).expect("in-memory serialization succeeds");
        canonical_header(bytes)
    }
}

/// Rewrites the JSON header with sorted keys (the metadata map's order is otherwise random), so that the same content
/// always gives the same bytes. The header stays padded with spaces to a multiple of 8 bytes, as safetensors does.
fn canonical_header(bytes: Vec<u8>) -> Vec<u8> {
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

/// Writes `bytes` atomically to `path`; the error names the path.
pub(crate) fn save(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    write_atomic(path, bytes).map_err(|source| CheckpointError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads the file at `path` and decodes it with `decode`; the error names the path and says the file is not a valid
/// `kind`.
pub(crate) fn load<T>(path: &Path, kind: &'static str, decode: impl FnOnce(&[u8]) -> Result<T, FormatError>) -> Result<T, CheckpointError> {
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    decode(&bytes).map_err(|source| CheckpointError::Format {
        path: path.to_path_buf(),
        kind,
        source: Box::new(source),
    })
}

/// A sweep safetensors file being read: its tensors and its metadata, checked to be of one format.
pub(crate) struct Reader<'b> {
    st: SafeTensors<'b>,
    meta: HashMap<String, String>,
    /// The format version of the file (one of those the reader was opened for).
    pub(crate) version: u32,
}

impl<'b> Reader<'b> {
    /// Opens `bytes` as a file of kind `format` at one of `versions`.
    pub(crate) fn open(bytes: &'b [u8], format: &'static str, versions: &[u32]) -> Result<Self, FormatError> {
        let st = SafeTensors::deserialize(bytes).map_err(|source| FormatError::Safetensors { source })?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|source| FormatError::Safetensors { source })?;
        let meta = header.metadata().clone().ok_or(FormatError::NoMetadata)?;
        let mut r = Self { st, meta, version: 0 };
        let found = r.text("format")?;
        if found != format {
            return Err(FormatError::Kind {
                found: found.to_string(),
                expected: format,
            });
        }
        let found = r.text("format_version")?;
        r.version = match found.parse() {
            Ok(v) if versions.contains(&v) => v,
            _ => {
                let supported: Vec<String> = versions.iter().map(u32::to_string).collect();
                return Err(FormatError::Version {
                    found: found.to_string(),
                    supported: supported.join(" and "),
                });
            }
        };
        Ok(r)
    }

    /// Metadata `key`, if there.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.meta.get(key).map(String::as_str)
    }

    /// Metadata `key` as text.
    pub(crate) fn text(&self, key: &'static str) -> Result<&str, FormatError> {
        self.get(key).ok_or(FormatError::MissingKey { key })
    }

    /// Metadata `key` as a number.
    pub(crate) fn number<T: FromStr>(&self, key: &'static str) -> Result<T, FormatError> {
        let text = self.text(key)?;
        text.parse().map_err(|_| FormatError::NotANumber {
            key,
            value: text.to_string(),
        })
    }

    /// Metadata `key` as JSON.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self, key: &'static str) -> Result<T, FormatError> {
        serde_json::from_str(self.text(key)?).map_err(|source| FormatError::BadKey { key, source })
    }

    /// Whether there is a tensor `name`.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.st.names().iter().any(|n| *n == name)
    }

    /// Tensor `name`'s shape and bytes, checked to be of `dtype` with `dims` dimensions.
    fn tensor(&self, name: &str, dtype: Dtype, dims: usize) -> Result<(Vec<usize>, &[u8]), FormatError> {
        let t = self
            .st
            .tensor(name)
            .map_err(|_| FormatError::MissingTensor { name: name.to_string() })?;
        if t.dtype() != dtype {
            return Err(FormatError::Dtype {
                name: name.to_string(),
                found: format!("{:?}", t.dtype()),
                expected: if dtype == Dtype::F32 { "F32" } else { "F64" },
            });
        }
        if t.shape().len() != dims {
            return Err(FormatError::Shape {
                name: name.to_string(),
                shape: t.shape().to_vec(),
                expected: if dims == 1 { "1 dimension" } else { "2 dimensions" },
            });
        }
        Ok((t.shape().to_vec(), t.data()))
    }

    /// An f32 vector.
    pub(crate) fn vector(&self, name: &str) -> Result<Array1<f32>, FormatError> {
        let (_, d) = self.tensor(name, Dtype::F32, 1)?;
        Ok(Array1::from(f32s(d)))
    }

    /// An f32 matrix.
    pub(crate) fn matrix(&self, name: &str) -> Result<Array2<f32>, FormatError> {
        let (s, d) = self.tensor(name, Dtype::F32, 2)?;
        Array2::from_shape_vec((s[0], s[1]), f32s(d)).map_err(|_| FormatError::Shape {
            name: name.to_string(),
            shape: s,
            expected: "as many values as its shape holds",
        })
    }

    /// An f64 tensor of `dims` dimensions: its shape and values.
    pub(crate) fn f64s(&self, name: &str, dims: usize) -> Result<(Vec<usize>, Vec<f64>), FormatError> {
        let (s, d) = self.tensor(name, Dtype::F64, dims)?;
        let values = d
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        Ok((s, values))
    }

    /// The network stored as `{prefix}W1`, `{prefix}b1`, `{prefix}W2`, `{prefix}b2`.
    pub(crate) fn net(&self, prefix: &str) -> Result<TwoLayerNet<f32>, FormatError> {
        let name = |n: &str| format!("{prefix}{n}");
        let params = Params {
            w1: self.matrix(&name("W1"))?,
            b1: self.vector(&name("b1"))?,
            w2: self.matrix(&name("W2"))?,
            b2: self.vector(&name("b2"))?,
        };
        TwoLayerNet::from_params(params).map_err(|source| FormatError::Network {
            prefix: prefix.to_string(),
            source,
        })
    }
}

fn f32s(d: &[u8]) -> Vec<f32> {
    d.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}
