//! One axis of a sweep: a parameter of the table and its values (or the continuous range a search samples from).

use crate::params::{Param, Value as PValue};

/// Values of one spaced range at most (and of a list): more is surely a typo, and would fill the memory.
pub const MAX_AXIS_VALUES: usize = 65_536;

/// One sweep axis: a parameter and its values in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub param: &'static Param,
    pub values: Vec<PValue>,
    /// Values came from `{ log = [lo, hi], num = n }` (or a log range is sampled): plots use a log axis.
    pub log: bool,
    /// `{ log = [lo, hi] }` or `{ linear = [lo, hi] }` without `num`: a continuous range that random, Sobol, halving
    /// and Hyperband searches sample from (`values` is then empty).
    pub range: Option<(f64, f64)>,
}

impl Axis {
    /// The axis's parameter name.
    pub fn name(&self) -> &'static str {
        self.param.name
    }
}
