//! The vocabulary every other sweep crate speaks: the hyperparameter table (`assets/params.toml`) and its values, a
//! sweep axis, a job (a configuration, its id, a command trial's values), how a job ended, the error of a grid input
//! (file:line:col), and the small text helpers (hex, percentages, error chains). It knows no file format, no search
//! and no runner.

pub mod axis;
pub mod error;
mod fields;
pub mod job;
pub mod params;
pub mod status;
pub mod text;

pub use axis::Axis;
pub use error::GridError;
pub use job::{job_id, Job, Trial, Values};
pub use status::{Decision, JobStatus, Proposal};
