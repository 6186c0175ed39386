//! Synchronous successive halving: one bracket over the ladder; rung r < s trains the survivors to
//! `min_epochs * eta^r` epochs and the last rung to `[train] epochs`; the best `ceil(n / eta)` of a rung's n jobs by
//! validation (the best reached so far) go on, ties to the lower job index, diverged and failed jobs never. Promoted
//! jobs continue from their saved training state.

use super::Fidelity;
use crate::schedule::Bracket;
use crate::Search;

pub struct Halving;

impl Fidelity for Halving {
    fn name(&self) -> &'static str {
        "halving"
    }

    fn about(&self) -> &'static str {
        "successive halving"
    }

    fn brackets(&self, _search: &Search, jobs: Vec<usize>, ladder: &[f64], _seed: u64, _batch: usize) -> Vec<Bracket> {
        vec![Bracket {
            jobs,
            rungs: ladder.to_vec(),
        }]
    }
}
