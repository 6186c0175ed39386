//! What a sweep is made of before it runs: the hyperparameter table ([`params`]) and grid files checked into a
//! list of jobs ([`grid`]).

pub mod grid;
pub mod params;

pub use grid::{Axis, DataSection, DataSource, Grid, Job};
