//! The schedule of a search: its brackets, each a set of jobs over a ladder of rungs, and how many jobs each rung
//! keeps. The fidelity scheduler makes it ([`crate::Fidelity::brackets`]); the runner, `sweep plan` and the
//! report read it.

use sweep_params::Job;

use super::Search;

/// `x` to 12 significant digits: 0.3 rather than 0.30000000000000004, in budgets, rows and plots alike.
pub fn round12(x: f64) -> f64 {
    format!("{x:.11e}").parse().unwrap_or(x)
}

impl Search {
    /// The schedule of `jobs` (indices are job indices), for a sweep whose seed is `seed`: the scheduler's brackets
    /// over its ladder (one bracket of one rung when nothing stops early).
    pub fn schedule(&self, jobs: &[Job], seed: u64) -> Schedule {
        let all: Vec<usize> = (0..jobs.len()).collect();
        let fidelity = self.fidelity();
        if !self.is_multi_fidelity() || jobs.is_empty() {
            return Schedule {
                eta: self.eta,
                brackets: vec![Bracket { jobs: all, rungs: vec![] }],
            };
        }
        let ladder = self.ladder(jobs[0].config.epochs);
        Schedule {
            eta: self.eta,
            brackets: fidelity.brackets(self, all, &ladder, seed, 0),
        }
    }
}

/// One successive halving: its jobs and the epochs of its rungs (empty: one rung, each job to its own `epochs`).
#[derive(Debug, Clone, PartialEq)]
pub struct Bracket {
    pub jobs: Vec<usize>,
    pub rungs: Vec<f64>,
}

impl Bracket {
    /// Number of rungs (1 for a plain sweep).
    pub fn rung_count(&self) -> usize {
        self.rungs.len().max(1)
    }

    /// The epochs a job trains to in rung `r` (fractional: mid-epoch).
    pub fn target(&self, r: usize, job: &Job) -> f64 {
        self.rungs.get(r).copied().unwrap_or(job.config.epochs as f64)
    }

    /// Whether rung `r` is the bracket's last.
    pub fn is_last(&self, r: usize) -> bool {
        r + 1 >= self.rung_count()
    }

    /// The planned number of jobs in each rung: n, ceil(n / eta), ...
    pub fn planned_counts(&self, eta: usize) -> Vec<usize> {
        let mut n = self.jobs.len();
        (0..self.rung_count())
            .map(|r| {
                if r > 0 {
                    n = survivors_count(n, eta);
                }
                n
            })
            .collect()
    }
}

/// How many of a rung's `n` jobs go on.
pub fn survivors_count(n: usize, eta: usize) -> usize {
    n.div_ceil(eta)
}

/// The jobs and their rungs; a plain sweep is one bracket of one rung.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub eta: usize,
    pub brackets: Vec<Bracket>,
}

impl Schedule {
    /// The most rungs of any bracket (the runner's stages).
    pub fn stages(&self) -> usize {
        self.brackets.iter().map(Bracket::rung_count).max().unwrap_or(0)
    }

    /// Whether jobs stop early.
    pub fn is_multi_fidelity(&self) -> bool {
        self.brackets.iter().any(|b| !b.rungs.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fidelity::halving_ladder;

    #[test]
    fn ladder_ends_at_the_last_epoch() {
        let s = Search::default();
        assert_eq!(halving_ladder(&s, 10), vec![1.0, 3.0, 10.0]);
        assert_eq!(halving_ladder(&s, 9), vec![1.0, 3.0, 9.0]);
        assert_eq!(halving_ladder(&s, 27), vec![1.0, 3.0, 9.0, 27.0]);
        assert_eq!(halving_ladder(&s, 2), vec![2.0]);
        let tenth = Search {
            min_epochs: 0.1,
            ..s.clone()
        };
        assert_eq!(halving_ladder(&tenth, 20), vec![0.1, 0.3, 0.9, 2.7, 20.0]);
        assert_eq!(halving_ladder(&tenth, 25), vec![0.1, 0.3, 0.9, 2.7, 8.1, 25.0]);
        // Li et al.'s s_max = floor(log_eta(40 / 5)) = 1: a rung at 15 would be followed by one at 45 > 40.
        let five = Search {
            min_epochs: 5.0,
            ..s.clone()
        };
        assert_eq!(halving_ladder(&five, 40), vec![5.0, 40.0]);
        assert_eq!(halving_ladder(&five, 45), vec![5.0, 15.0, 45.0]);
        assert_eq!(halving_ladder(&Search { eta: 2, ..s }, 8), vec![1.0, 2.0, 4.0, 8.0]);
    }
}
