//! No early stopping: every job trains once, to its own `epochs` (one bracket of one rung).

use super::Fidelity;
use crate::schedule::Bracket;
use crate::Search;

pub struct NoStop;

impl Fidelity for NoStop {
    fn name(&self) -> &'static str {
        "none"
    }

    fn about(&self) -> &'static str {
        "no early stopping: every job trains to its epochs (the default)"
    }

    fn stops_early(&self) -> bool {
        false
    }

    fn ladder(&self, _search: &Search, _max: usize) -> Vec<f64> {
        Vec::new()
    }

    fn brackets(&self, _search: &Search, jobs: Vec<usize>, _ladder: &[f64], _seed: u64, _batch: usize) -> Vec<Bracket> {
        vec![Bracket { jobs, rungs: vec![] }]
    }
}
