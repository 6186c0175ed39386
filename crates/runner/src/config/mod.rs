//! What a sweep is made of before it runs: the hyperparameter table ([`params`]), grid files checked into a list of
//! jobs ([`grid`], [`axis`], [`expand`]), the memory a grid's largest job needs ([`memory`]), and whether a results
//! directory can take a grid that grew ([`grow`]).

pub mod axis;
pub mod command;
pub mod expand;
mod fields;
pub mod grid;
pub mod grow;
pub mod memory;
pub mod params;
pub mod trials;

pub use grid::{Axis, DataSection, DataSource, Grid, Job};
