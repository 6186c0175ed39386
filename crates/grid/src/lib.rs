//! Grid files into checked jobs: the TOML of a sweep (`[data]`, `[train]`, `[grid]`, `[search]`, `[command]`) read
//! with positions and checked key by key ([`grid`], [`axis`], [`command`]), expanded into a deterministic list of jobs
//! ([`expand`], [`trials`]) by the search's sampler, the memory a grid's largest job needs ([`memory`]), whether a
//! results directory can take a grid that grew ([`grow`]), and a command trial's argv template ([`argv`]). Every
//! mistake is a [`GridError`] at file:line:col.

pub mod argv;
pub mod axis;
pub mod command;
pub mod expand;
pub mod grid;
pub mod grow;
pub mod memory;
pub mod objectives;
pub mod reference;
pub mod trials;

#[cfg(test)]
mod search_tests;

pub use grid::{Axis, DataSection, DataSource, Grid, Job};
pub use sweep_params::GridError;
