//! [`TrainState`], everything a paused run needs to continue exactly, and its file: one safetensors file of the
//! tensors (parameters, best parameters, optimizer moments, loss history) plus JSON metadata (config, counters),
//! written atomically.
//!
//! Floating-point values that must survive bit for bit are tensors (f32 or f64), never decimal text; the config's
//! numbers are JSON, which serde_json (with `float_roundtrip`) reads back exactly.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{CheckpointError, FormatError};
use crate::file::{Reader, Writer};
use crate::network::TwoLayerNet;
use crate::optim::OptimState;
use crate::train::{EpochRecord, History, Status, TrainConfig, TrainOutcome};

/// Everything needed to continue a run exactly where it paused: after any epoch, or after any iteration (a budget or
/// an observer stopped it mid-epoch). Continuing gives the uninterrupted run's state bit for bit, in every field but
/// `seconds` (wall time). Saved and loaded as one safetensors file by [`TrainState::save`] / [`TrainState::load`].
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
    /// How the last call of [`Trainer::run_until`](crate::Trainer::run_until) ended (`Completed` also for a fresh
    /// state). A diverged run does not go on.
    pub status: Status,
    /// Training and validation set sizes the state was made with, checked when continuing.
    pub n_train: usize,
    pub n_val: usize,
    /// The optimizer's buffers and step count.
    pub optim: OptimState,
    /// Wall-clock seconds spent training this job, summed over every run of it (across resumes; in fused training
    /// each member's share of the group's time). A file from before this was kept loads with 0.
    pub seconds: f64,
}

impl TrainState {
    /// Epochs finished so far.
    pub fn epochs_done(&self) -> usize {
        self.next_epoch - 1
    }

    /// SGD steps per epoch of this run (its batch size on its training set).
    pub fn iterations_per_epoch(&self) -> usize {
        crate::train::batching(self.config.batch_size, self.n_train).1
    }

    /// SGD steps taken since the start, across epochs and resumes.
    pub fn iterations_done(&self) -> usize {
        self.epochs_done() * self.iterations_per_epoch() + self.next_iteration
    }

    /// Epochs done, fractional mid-epoch: `iterations_done / iterations_per_epoch` (37 % into the third epoch is
    /// 2.37).
    pub fn epochs_run(&self) -> f64 {
        self.iterations_done() as f64 / self.iterations_per_epoch() as f64
    }

    /// The steps of a budget of `epochs`, fractional ones too: `round(epochs * iterations_per_epoch)` (halves away
    /// from zero), so an integer budget is exactly its epochs' steps; 0 for a budget that is not a positive number.
    pub fn iterations_for(&self, epochs: f64) -> usize {
        let steps = (epochs * self.iterations_per_epoch() as f64).round();
        if steps > 0.0 {
            steps as usize
        } else {
            0
        }
    }

    /// The result so far, as [`train`](crate::train::train) returns it.
    pub fn outcome(&self) -> TrainOutcome {
        TrainOutcome {
            status: self.status,
            history: self.history.clone(),
            best_epoch: self.best_epoch,
            best_val_acc: self.best_val_acc,
            best_net: self.best_net.clone(),
            seconds: self.seconds,
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
            seconds: self.seconds,
        }
    }
}

/// Written into every state file's metadata as `format`.
pub const STATE_FORMAT: &str = "sweep-train-state";
/// Bumped when the layout changes: 2 added the training seconds (the fifth of the `scalars`); files of version 1
/// are still read, with 0 seconds.
pub const STATE_FORMAT_VERSION: u32 = 2;

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

/// Tensors of the optimizer state, by name prefix.
pub(crate) const OPT_PREFIXES: [&str; 2] = ["opt.m.", "opt.v."];

/// What a state file is, for errors.
const KIND: &str = "sweep training state";

impl TrainState {
    /// Serializes to safetensors bytes (the same state always gives the same bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(STATE_FORMAT, STATE_FORMAT_VERSION);
        w.params("", &self.net.params);
        // The best epoch is often the last one: then the best parameters are the current ones and are stored once
        // (half the file; successive halving keeps many states between rungs).
        let best_is_current = self.best_net.as_ref().is_some_and(|b| b.params == self.net.params);
        if let (Some(best), false) = (&self.best_net, best_is_current) {
            w.params("best.", &best.params);
        }
        for (prefix, p) in OPT_PREFIXES.iter().zip(self.optim.buffers()) {
            if let Some(p) = p {
                w.params(prefix, p);
            }
        }
        let loss = &self.history.iter_loss;
        w.f32s("iter_loss", &[loss.len()], loss.iter().copied());
        let epochs: Vec<f64> = self
            .history
            .epochs
            .iter()
            .flat_map(|r| [r.epoch as f64, r.lr, r.loss, r.train_acc, r.val_acc])
            .collect();
        w.f64s("epochs", &[self.history.epochs.len(), 5], &epochs);
        let scalars = [
            self.lr,
            self.best_val_acc,
            self.start_loss.unwrap_or(0.0),
            self.epoch_loss_sum,
            self.seconds,
        ];
        w.f64s("scalars", &[scalars.len()], &scalars);
        w.json(
            "state",
            &Counters {
                next_epoch: self.next_epoch,
                next_iteration: self.next_iteration,
                best_epoch: self.best_epoch,
                status: self.status,
                n_train: self.n_train,
                n_val: self.n_val,
                has_start_loss: self.start_loss.is_some(),
            },
        );
        w.json("config", &self.config);
        w.text("optimizer_step", &self.optim.step.to_string());
        w.text("best_is_current", &best_is_current.to_string());
        w.into_bytes()
    }

    /// Reads a state from bytes written by [`TrainState::to_bytes`]; the error says what is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Result<TrainState, FormatError> {
        let r = Reader::open(bytes, STATE_FORMAT, &[1, STATE_FORMAT_VERSION])?;
        let config: TrainConfig = r.json("config")?;
        let c: Counters = r.json("state")?;
        let net = r.net("")?;
        let inconsistent = |what: String| Err(FormatError::Inconsistent { what });
        let same_shape = |n: &TwoLayerNet<f32>| n.params.w1.dim() == net.params.w1.dim() && n.params.w2.dim() == net.params.w2.dim();
        let best_net = if r.get("best_is_current") == Some("true") {
            Some(net.clone())
        } else if r.has("best.W1") {
            let best = r.net("best.")?;
            if !same_shape(&best) {
                return inconsistent("the best parameters have other shapes than the parameters".into());
            }
            Some(best)
        } else {
            None
        };
        let mut buffers = [None, None];
        for (slot, prefix) in buffers.iter_mut().zip(OPT_PREFIXES) {
            if r.has(&format!("{prefix}W1")) {
                *slot = Some(r.net(prefix)?.params);
            }
        }
        let [m, v] = buffers;
        let optim = OptimState {
            step: r.number("optimizer_step")?,
            m,
            v,
        };
        optim
            .check_fits(config.optimizer, &net.params)
            .map_err(|source| FormatError::Optimizer { source })?;

        let iter_loss = r.vector("iter_loss")?.to_vec();
        let (es, e) = r.f64s("epochs", 2)?;
        if es[1] != 5 {
            return Err(FormatError::Shape {
                name: "epochs".into(),
                shape: es,
                expected: "(epochs, 5)",
            });
        }
        let epochs: Vec<EpochRecord> = e
            .chunks_exact(5)
            .map(|r| EpochRecord {
                epoch: r[0] as usize,
                lr: r[1],
                loss: r[2],
                train_acc: r[3],
                val_acc: r[4],
            })
            .collect();
        let (ss, sc) = r.f64s("scalars", 1)?;
        if ss[0] != if r.version == 1 { 4 } else { 5 } {
            return Err(FormatError::Shape {
                name: "scalars".into(),
                shape: ss,
                expected: "(4) in format version 1, (5) from version 2",
            });
        }
        if epochs.len() + 1 != c.next_epoch || (best_net.is_some() != c.best_epoch.is_some()) {
            return inconsistent(format!(
                "{} epoch records for next epoch {}, best epoch {:?}",
                epochs.len(),
                c.next_epoch,
                c.best_epoch
            ));
        }
        if net.hidden_size() != config.hidden_size {
            return inconsistent(format!(
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
            seconds: sc.get(4).copied().unwrap_or(0.0),
        })
    }

    /// Writes the state atomically (a temporary file in the same directory, then a rename).
    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        crate::file::save(path, &self.to_bytes())
    }

    /// Reads a state written by [`TrainState::save`].
    pub fn load(path: &Path) -> Result<TrainState, CheckpointError> {
        crate::file::load(path, KIND, Self::from_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::toy_dataset;
    use crate::train::testing::cfg;
    use crate::train::{Quiet, Trainer};

    /// `bytes` (a state of the current version) rewritten as `format_version` `version` with `scalars` cut to `keep`.
    fn as_version(bytes: &[u8], version: &str, keep: usize) -> Vec<u8> {
        use safetensors::tensor::{SafeTensors, TensorView};
        let st = SafeTensors::deserialize(bytes).unwrap();
        let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
        let mut meta = header.metadata().clone().unwrap();
        meta.insert("format_version".into(), version.into());
        let tensors = st.tensors();
        let views = tensors.iter().map(|(name, t)| {
            let data = if name == "scalars" { &t.data()[..8 * keep] } else { t.data() };
            let shape = if name == "scalars" { vec![keep] } else { t.shape().to_vec() };
            (name.clone(), TensorView::new(t.dtype(), shape, data).unwrap())
        });
        safetensors::tensor::serialize(views, &Some(meta)).unwrap()
    }

    #[test]
    fn a_version_1_state_loads_with_0_seconds_and_a_newer_one_is_refused() {
        let ds = toy_dataset(0, 300, 100, 100);
        let mut t = Trainer::new(&cfg(0.5, 2), ds.train_data()).unwrap();
        t.run_until(9, &mut Quiet);
        assert!(t.state().seconds > 0.0);
        let old = TrainState::from_bytes(&as_version(&t.state().to_bytes(), "1", 4)).unwrap();
        assert_eq!(
            old,
            TrainState {
                seconds: 0.0,
                ..t.state().clone()
            }
        );
        let e = TrainState::from_bytes(&as_version(&t.state().to_bytes(), "3", 5))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "format_version 3 is not supported (this build reads 1 and 2)");
        let e = TrainState::from_bytes(&as_version(&t.state().to_bytes(), "2", 4))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("tensor `scalars` has shape [4], expected (4) in format version 1"),
            "{e}"
        );
    }

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
        let e = TrainState::load(&path).unwrap_err();
        assert!(matches!(e, CheckpointError::Format { .. }), "{e}");
        let e = crate::error::chain(&e);
        assert!(
            e.ends_with("is not a valid sweep training state: metadata format is `sweep-two-layer`, expected `sweep-train-state`"),
            "{e}"
        );
        // Missing file.
        let e = TrainState::load(&dir.path().join("none")).unwrap_err();
        assert!(matches!(e, CheckpointError::Read { .. }), "{e}");
        // A state whose hidden size disagrees with its config.
        let mut s = t.state().clone();
        s.config.hidden_size = 11;
        let e = TrainState::from_bytes(&s.to_bytes()).unwrap_err().to_string();
        assert_eq!(e, "W1 has 10 hidden units, the config 11");
    }
}
