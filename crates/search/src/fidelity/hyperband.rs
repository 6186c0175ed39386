//! Hyperband (Li et al., JMLR 2018): bracket s (s = s_max..0) starts `ceil((s_max + 1) / (s + 1) * eta^s)`
//! configurations at the ladder's rung s_max - s, each bracket a successive halving; the jobs are dealt to the
//! brackets in those proportions by a seeded shuffle.

use super::{halving_ladder, Fidelity};
use crate::schedule::Bracket;
use crate::Search;

pub struct Hyperband;

/// Hyperband's bracket sizes: bracket s (index 0 = s_max, the most aggressive) starts this many configurations
/// (saturating at `usize::MAX`: the grid refuses ladders whose counts matter at that size).
pub fn counts(eta: usize, s_max: usize) -> Vec<usize> {
    (0..=s_max)
        .rev()
        .map(|s| ((s_max + 1) as f64 / (s + 1) as f64 * (eta as f64).powi(s as i32)).ceil() as usize)
        .collect()
}

/// The configurations Hyperband's brackets start in all (saturating).
pub fn total(eta: usize, s_max: usize) -> usize {
    counts(eta, s_max).into_iter().fold(0usize, usize::saturating_add)
}

impl Fidelity for Hyperband {
    fn name(&self) -> &'static str {
        "hyperband"
    }

    fn about(&self) -> &'static str {
        "Hyperband"
    }

    fn default_samples(&self, search: &Search, max: usize) -> Option<usize> {
        Some(total(search.eta, halving_ladder(search, max).len() - 1))
    }

    fn brackets(&self, search: &Search, jobs: Vec<usize>, ladder: &[f64], seed: u64, batch: usize) -> Vec<Bracket> {
        let s_max = ladder.len() - 1;
        let counts = counts(search.eta, s_max);
        // Deal the jobs to brackets in proportion to Li et al.'s counts (largest remainder), in a seeded order.
        // (In u128: the products stay exact however large the counts.)
        let total: u128 = counts.iter().map(|&c| c as u128).sum();
        let n = jobs.len();
        let mut sizes: Vec<usize> = counts.iter().map(|&c| (c as u128 * n as u128 / total) as usize).collect();
        let mut rest: Vec<(u128, usize)> = counts
            .iter()
            .enumerate()
            .map(|(i, &c)| (c as u128 * n as u128 % total, i))
            .collect();
        rest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, i) in rest.iter().take(n - sizes.iter().sum::<usize>()) {
            sizes[*i] += 1;
        }
        let mut order = jobs;
        {
            use rand::seq::SliceRandom;
            let tag = match batch {
                0 => "hyperband-brackets".to_string(),
                b => format!("hyperband-brackets-{b}"),
            };
            order.shuffle(&mut sweep_core::rng::rng_for(seed, &tag));
        }
        let mut brackets = Vec::new();
        let mut at = 0;
        for (b, size) in sizes.into_iter().enumerate() {
            let mut members: Vec<usize> = order[at..at + size].to_vec();
            members.sort_unstable();
            at += size;
            if !members.is_empty() {
                brackets.push(Bracket {
                    jobs: members,
                    rungs: ladder[b..].to_vec(),
                });
            }
        }
        brackets
    }
}
