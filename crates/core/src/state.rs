//! [`TrainState`], everything a paused run needs to continue exactly, and its file: one safetensors file of the
//! tensors (parameters, best parameters, optimizer moments, loss history) plus JSON metadata (config, counters),
//! written atomically.
//!
//! Floating-point values that must survive bit for bit are tensors (f32 or f64), never decimal text; the config's
//! numbers are JSON, which serde_json (with `float_roundtrip`) reads back exactly.

use std::collections::HashMap;
use std::path::Path;

use ndarray::{Array1, Array2};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{bytes_of, canonical_header, checked_metadata, erased, read_with, write_atomic};
use crate::error::CheckpointError;
use crate::network::{Params, TwoLayerNet};
use crate::optim::OptimState;
use crate::train::{EpochRecord, History, Status, TrainConfig, TrainOutcome};

/// Everything needed to continue a run exactly where it paused: after any epoch, or after any iteration if an
/// observer stopped it mid-epoch. Saved and loaded as one safetensors file by [`TrainState::save`] / [`TrainState::load`].
#[derive(Debug, Clone, PartialEq)]
pub struct TrainState {
    /// The configuration the run belongs to.
    pub config: TrainConfig,
    /// Current parameters.
    pub net: TwoLayerNet<f32>,
    /// The epoch (1-based) that runs next; `epochs_done() = next_epoch - 1`.
    pub next_epoch: usize,
    /// The iteration of `next_epoch` that runs next (0 at an epoch boundary; > 0 only after a stop mid-epoch).
    pub next_iteration: usize,
    /// Sum of the losses of `next_epoch`'s iterations done so far (0 at an epoch boundary).
    pub epoch_loss_sum: f64,
    /// The `step` schedule's learning rate for `next_epoch`: `learning_rate * lr_decay^(next_epoch - 1)`, kept as a
    /// running product (so that results stay bit-identical to multiplying once per epoch).
    pub lr: f64,
    pub history: History,
    /// The epoch (1-based) with the best validation accuracy so far.
    pub best_epoch: Option<usize>,
    pub best_val_acc: f64,
    /// Parameters at `best_epoch`.
    pub best_net: Option<TwoLayerNet<f32>>,
    /// The first iteration's loss, the reference of divergence detection.
    pub start_loss: Option<f64>,
    /// How the last call of [`Trainer::run_to`](crate::Trainer::run_to) ended (`Completed` also for a fresh state). A diverged run does not go on.
    pub status: Status,
    /// Training and validation set sizes the state was made with, checked when continuing.
    pub n_train: usize,
    pub n_val: usize,
    /// The optimizer's buffers and step count.
    pub optim: OptimState,
}

impl TrainState {
    /// Epochs finished so far.
    pub fn epochs_done(&self) -> usize {
        self.next_epoch - 1
    }

    /// The result so far, as [`train`](crate::train::train) returns it.
    pub fn outcome(&self) -> TrainOutcome {
        TrainOutcome {
            status: self.status,
            history: self.history.clone(),
            best_epoch: self.best_epoch,
            best_val_acc: self.best_val_acc,
            best_net: self.best_net.clone(),
        }
    }

    /// The same, consuming the state (no copies).
    pub fn into_outcome(self) -> TrainOutcome {
        TrainOutcome {
            status: self.status,
            history: self.history,
            best_epoch: self.best_epoch,
            best_val_acc: self.best_val_acc,
            best_net: self.best_net,
        }
    }
}

/// Written into every state file's metadata as `format`.
pub const STATE_FORMAT: &str = "sweep-train-state";
/// Bumped when the layout changes incompatibly.
pub const STATE_FORMAT_VERSION: u32 = 1;

/// The counters of a state (JSON metadata `state`).
#[derive(Debug, Serialize, Deserialize)]
struct Counters {
    next_epoch: usize,
    next_iteration: usize,
    best_epoch: Option<usize>,
    status: Status,
    n_train: usize,
    n_val: usize,
    has_start_loss: bool,
}

/// An owned tensor before serialization.
struct Owned {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

fn f32_tensor(name: &str, shape: &[usize], values: impl Iterator<Item = f32>) -> Owned {
    Owned {
        name: name.to_string(),
        dtype: Dtype::F32,
        shape: shape.to_vec(),
        data: bytes_of(&values.collect::<Vec<_>>()),
    }
}

fn f64_tensor(name: &str, shape: &[usize], values: &[f64]) -> Owned {
    Owned {
        name: name.to_string(),
        dtype: Dtype::F64,
        shape: shape.to_vec(),
        data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

fn push_params(out: &mut Vec<Owned>, prefix: &str, p: &Params<f32>) {
    out.push(f32_tensor(&format!("{prefix}W1"), p.w1.shape(), p.w1.iter().copied()));
    out.push(f32_tensor(&format!("{prefix}b1"), p.b1.shape(), p.b1.iter().copied()));
    out.push(f32_tensor(&format!("{prefix}W2"), p.w2.shape(), p.w2.iter().copied()));
    out.push(f32_tensor(&format!("{prefix}b2"), p.b2.shape(), p.b2.iter().copied()));
}

/// Tensors of the optimizer state, by name prefix.
pub(crate) const OPT_PREFIXES: [&str; 2] = ["opt.m.", "opt.v."];

impl TrainState {
    /// Serializes to safetensors bytes (the same state always gives the same bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut owned = Vec::new();
        push_params(&mut owned, "", &self.net.params);
        // The best epoch is often the last one: then the best parameters are the current ones and are stored once
        // (half the file; successive halving keeps many states between rungs).
        let best_is_current = self.best_net.as_ref().is_some_and(|b| b.params == self.net.params);
        if let (Some(best), false) = (&self.best_net, best_is_current) {
            push_params(&mut owned, "best.", &best.params);
        }
        for (prefix, p) in OPT_PREFIXES.iter().zip(self.optim.buffers()) {
            if let Some(p) = p {
                push_params(&mut owned, prefix, p);
            }
        }
        owned.push(f32_tensor(
            "iter_loss",
            &[self.history.iter_loss.len()],
            self.history.iter_loss.iter().copied(),
        ));
        let epochs: Vec<f64> = self
            .history
            .epochs
            .iter()
            .flat_map(|r| [r.epoch as f64, r.lr, r.loss, r.train_acc, r.val_acc])
            .collect();
        owned.push(f64_tensor("epochs", &[self.history.epochs.len(), 5], &epochs));
        owned.push(f64_tensor(
            "scalars",
            &[4],
            &[self.lr, self.best_val_acc, self.start_loss.unwrap_or(0.0), self.epoch_loss_sum],
        ));
        let counters = Counters {
            next_epoch: self.next_epoch,
            next_iteration: self.next_iteration,
            best_epoch: self.best_epoch,
            status: self.status,
            n_train: self.n_train,
            n_val: self.n_val,
            has_start_loss: self.start_loss.is_some(),
        };
        let json = |v: &dyn erased::Ser| v.to_json();
        let metadata: HashMap<String, String> = [
            ("format".to_string(), STATE_FORMAT.to_string()),
            ("format_version".to_string(), STATE_FORMAT_VERSION.to_string()),
            ("config".to_string(), json(&self.config)),
            ("state".to_string(), json(&counters)),
            ("optimizer_step".to_string(), self.optim.step.to_string()),
            ("best_is_current".to_string(), best_is_current.to_string()),
        ]
        .into_iter()
        .collect();
        let views: Vec<(&str, TensorView<'_>)> = owned
            .iter()
            .map(|t| {
                let v = TensorView::new(t.dtype, t.shape.clone(), &t.data).expect("sizes agree by construction");
                (t.name.as_str(), v)
            })
            .collect();
        let bytes = safetensors::tensor::serialize(views, &Some(metadata)).expect("in-memory serialization succeeds");
        canonical_header(bytes)
    }

    /// Reads a state from bytes written by [`TrainState::to_bytes`]; the error says what is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Result<TrainState, String> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file ({e})"))?;
        let meta = checked_metadata(bytes, STATE_FORMAT, STATE_FORMAT_VERSION, "no metadata: not a sweep training state")?;
        let field = |k: &str| meta.get(k).ok_or_else(|| format!("metadata lacks `{k}`"));
        let config: TrainConfig = serde_json::from_str(field("config")?).map_err(|e| format!("metadata `config`: {e}"))?;
        let c: Counters = serde_json::from_str(field("state")?).map_err(|e| format!("metadata `state`: {e}"))?;
        let optimizer_step: u64 = field("optimizer_step")?.parse().map_err(|_| "optimizer_step is not a number")?;

        let has = |name: &str| st.names().iter().any(|n| *n == name);
        let tensor = |name: &str, dtype: Dtype, dims: usize| -> Result<(Vec<usize>, &[u8]), String> {
            let t = st.tensor(name).map_err(|_| format!("tensor `{name}` is missing"))?;
            if t.dtype() != dtype {
                return Err(format!("tensor `{name}` is {:?}, expected {dtype:?}", t.dtype()));
            }
            if t.shape().len() != dims {
                return Err(format!("tensor `{name}` has shape {:?}, expected {dims} dimensions", t.shape()));
            }
            Ok((t.shape().to_vec(), t.data()))
        };
        let f32s = |d: &[u8]| -> Vec<f32> { d.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect() };
        let f64s = |d: &[u8]| -> Vec<f64> {
            d.chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect()
        };
        let params = |prefix: &str| -> Result<Params<f32>, String> {
            let mat = |n: &str| -> Result<Array2<f32>, String> {
                let (s, d) = tensor(&format!("{prefix}{n}"), Dtype::F32, 2)?;
                Array2::from_shape_vec((s[0], s[1]), f32s(d)).map_err(|e| e.to_string())
            };
            let vec =
                |n: &str| -> Result<Array1<f32>, String> { Ok(Array1::from(f32s(tensor(&format!("{prefix}{n}"), Dtype::F32, 1)?.1))) };
            let p = Params {
                w1: mat("W1")?,
                b1: vec("b1")?,
                w2: mat("W2")?,
                b2: vec("b2")?,
            };
            TwoLayerNet::from_params(p)
                .map(|n| n.params)
                .map_err(|e| format!("tensors `{prefix}*`: {e}"))
        };
        let net = TwoLayerNet::from_params(params("")?).map_err(|e| e.to_string())?;
        let same_shape = |p: &Params<f32>, what: &str| -> Result<(), String> {
            if p.w1.dim() != net.params.w1.dim() || p.w2.dim() != net.params.w2.dim() {
                return Err(format!("{what} have other shapes than the parameters"));
            }
            Ok(())
        };
        let best_net = if meta.get("best_is_current").is_some_and(|v| v == "true") {
            Some(net.clone())
        } else if has("best.W1") {
            let p = params("best.")?;
            same_shape(&p, "best parameters")?;
            Some(TwoLayerNet { params: p })
        } else {
            None
        };
        let mut buffers = [None, None];
        for (slot, prefix) in buffers.iter_mut().zip(OPT_PREFIXES) {
            if has(&format!("{prefix}W1")) {
                let p = params(prefix)?;
                same_shape(&p, "optimizer buffers")?;
                *slot = Some(p);
            }
        }
        let [m, v] = buffers;
        let optim = OptimState {
            step: optimizer_step,
            m,
            v,
        };
        optim.check_fits(config.optimizer).map_err(|e| format!("optimizer state: {e}"))?;

        let iter_loss = f32s(tensor("iter_loss", Dtype::F32, 1)?.1);
        let (es, ed) = tensor("epochs", Dtype::F64, 2)?;
        if es[1] != 5 {
            return Err(format!("tensor `epochs` has shape {es:?}, expected (E, 5)"));
        }
        let epochs: Vec<EpochRecord> = f64s(ed)
            .chunks_exact(5)
            .map(|r| EpochRecord {
                epoch: r[0] as usize,
                lr: r[1],
                loss: r[2],
                train_acc: r[3],
                val_acc: r[4],
            })
            .collect();
        let (ss, sd) = tensor("scalars", Dtype::F64, 1)?;
        if ss[0] != 4 {
            return Err(format!("tensor `scalars` has shape {ss:?}, expected (4)"));
        }
        let sc = f64s(sd);
        if epochs.len() + 1 != c.next_epoch || (best_net.is_some() != c.best_epoch.is_some()) {
            return Err(format!(
                "{} epoch records for next epoch {}, best epoch {:?}: inconsistent",
                epochs.len(),
                c.next_epoch,
                c.best_epoch
            ));
        }
        if net.hidden_size() != config.hidden_size {
            return Err(format!(
                "W1 has {} hidden units, the config {}",
                net.hidden_size(),
                config.hidden_size
            ));
        }
        Ok(TrainState {
            config,
            net,
            next_epoch: c.next_epoch,
            next_iteration: c.next_iteration,
            epoch_loss_sum: sc[3],
            lr: sc[0],
            history: History { iter_loss, epochs },
            best_epoch: c.best_epoch,
            best_val_acc: sc[1],
            best_net,
            start_loss: c.has_start_loss.then_some(sc[2]),
            status: c.status,
            n_train: c.n_train,
            n_val: c.n_val,
            optim,
        })
    }

    /// Writes the state atomically (a temporary file in the same directory, then a rename).
    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        write_atomic(path, &self.to_bytes()).map_err(|source| CheckpointError::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads a state written by [`TrainState::save`].
    pub fn load(path: &Path) -> Result<TrainState, CheckpointError> {
        read_with(path, Self::from_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::toy_dataset;
    use crate::train::testing::cfg;
    use crate::train::{Quiet, Trainer};

    #[test]
    fn corrupt_foreign_and_inconsistent_state_files_are_typed_errors() {
        let ds = toy_dataset(0, 300, 100, 100);
        let mut t = Trainer::new(&cfg(0.5, 2), ds.train_data()).unwrap();
        t.run_to(1, &mut Quiet);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.safetensors");
        let bytes = t.state().to_bytes();
        // Truncated.
        std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
        let e = TrainState::load(&path).unwrap_err();
        assert!(matches!(e, CheckpointError::Format { .. }), "{e}");
        // A model checkpoint is not a training state.
        let model = crate::Model {
            net: t.state().net.clone(),
            mean: ndarray::Array1::zeros(4),
            meta: crate::checkpoint::ModelMeta {
                hyperparameters: TrainConfig::default(),
                class_names: vec!["a".into(), "b".into(), "c".into()],
                input_shape: vec![4],
                val_accuracy: 0.0,
                data_split: None,
            },
        };
        model.save(&path).unwrap();
        let e = TrainState::load(&path).unwrap_err().to_string();
        assert!(e.contains("expected `sweep-train-state`"), "{e}");
        // Missing file.
        let e = TrainState::load(&dir.path().join("none")).unwrap_err();
        assert!(matches!(e, CheckpointError::Read { .. }), "{e}");
        // A state whose hidden size disagrees with its config.
        let mut s = t.state().clone();
        s.config.hidden_size = 11;
        let e = TrainState::from_bytes(&s.to_bytes()).unwrap_err();
        assert!(e.contains("hidden units"), "{e}");
    }
}
