//! A job: one configuration to train, its stable id, and (for a command sweep) the trial's values.

use std::sync::Arc;

use serde_json::{Map, Value as Json};
use sha2::{Digest, Sha256};
use sweep_core::{TrainConfig, ValidConfig};

use crate::params;
use crate::text::hex;

/// One configuration to train.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Position in expansion order (first axis outermost).
    pub index: usize,
    /// Stable id: a hash of the full training configuration (same config, same id, on any machine).
    pub id: String,
    /// The checked configuration, its seed derived from the sweep seed and the id. For a command trial only its
    /// `epochs` (the budget) and `seed` mean anything.
    pub config: ValidConfig,
    /// A command trial's values (`None` for the built-in network).
    pub trial: Option<Arc<Trial>>,
}

impl Job {
    /// `lr=0.1 reg=0.0001 hidden=512 ...`: what a log line says of the job.
    pub fn describe(&self) -> String {
        match &self.trial {
            Some(t) => t.described.clone(),
            None => params::describe(&self.config),
        }
    }
}

/// A trial's values by name (sorted: the canonical order), as the program gets them in `SWEEP_PARAMS`.
pub type Values = Map<String, Json>;

/// A command trial: its values, and how a log line describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    pub values: Values,
    /// `lr=0.01 width=256`: the axes' values (every value when the grid has no axes).
    pub described: String,
}

/// Stable id of a trial: the first 12 hex digits of the SHA-256 of its values as canonical JSON (keys sorted, no
/// spaces, numbers in their shortest round-trip form): the same values give the same id on any machine.
pub fn trial_id(values: &Values) -> String {
    let canonical = serde_json::to_string(values).unwrap_or_default();
    hex(&Sha256::digest(canonical.as_bytes()))[..12].to_string()
}

/// A value as a log line or a table shows it: strings bare, everything else as JSON.
pub fn value_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        // Number, Bool and the rest print as JSON (a Number in its shortest round-trip form).
        other => other.to_string(),
    }
}

/// Stable id of a configuration (its seed excluded): the first 12 hex digits of the SHA-256 of the canonical JSON of
/// what trains ([`params::canonical_json`]: parameters without effect are hashed at their default).
pub fn job_id(config: &TrainConfig) -> String {
    hex(&Sha256::digest(params::canonical_json(config).as_bytes()))[..12].to_string()
}
