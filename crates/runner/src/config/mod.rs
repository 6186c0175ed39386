//! What a sweep is made of before it runs: the hyperparameter table ([`params`]), grid files checked into a list of
//! jobs ([`grid`], [`axis`], [`expand`]), the memory a grid's largest job needs ([`memory`]), and whether a results
//! directory can take a grid that grew ([`grow`]).

pub mod axis;
pub mod command;
pub mod expand;
pub mod grid;
pub mod grow;
pub mod memory;
pub use sweep_params::params;
pub mod trials;

#[cfg(test)]
mod search_tests;

pub use grid::{Axis, DataSection, DataSource, Grid, Job};
