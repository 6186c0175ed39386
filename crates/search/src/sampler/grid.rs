//! The grid: every combination of the axes' values, first axis outermost (built where grid files are expanded).

use super::Sampler;

pub struct Grid;

impl Sampler for Grid {
    fn name(&self) -> &'static str {
        "grid"
    }

    fn about(&self) -> &'static str {
        "every combination of the axes' values (the default)"
    }
}
