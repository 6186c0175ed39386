//! Several objectives at once: Pareto dominance, non-dominated ranks (NSGA-II's fast sort), the crowding distance
//! that orders a rank deterministically, and the hypervolume a set of points dominates. Every vector is "higher is
//! better" (a minimized objective negated), as [`crate::decide::score`] is for one objective; callers leave out
//! points with a non-finite value (a failed or diverged trial has no place on a front).

use std::cmp::Ordering;

/// Whether `a` dominates `b`: at least as good in every objective and better in one.
pub fn dominates(a: &[f64], b: &[f64]) -> bool {
    let mut better = false;
    for (x, y) in a.iter().zip(b) {
        if x < y {
            return false;
        }
        better |= x > y;
    }
    better
}

/// Each point's non-dominated rank: 0 for the points no other dominates (the Pareto front), 1 for the front of the
/// rest, and so on: one more than the highest rank of the points that dominate it. Points sorted in decreasing
/// lexicographic order come after every point that dominates them, so one pass decides each rank from the ones before
/// it: O(n log n) in two objectives (binary search over the fronts), O(objectives × n²) time and O(n) memory above.
pub fn ranks(points: &[Vec<f64>]) -> Vec<usize> {
    let n = points.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        points[b]
            .iter()
            .zip(&points[a])
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
            .then(a.cmp(&b))
    });
    let mut rank = vec![0usize; n];
    if points.iter().all(|p| p.len() == 2) {
        // Per front so far: its largest second value, and the largest first value among its points that have it. A
        // front dominates p (whose first value is at most every earlier one's) when it has a larger second value, or
        // the same with a larger first one; fronts further on dominate less, so the first that does not is p's.
        let mut fronts: Vec<(f64, f64)> = Vec::new();
        for &i in &order {
            let (x, y) = (points[i][0], points[i][1]);
            let dominates_p = |&(fy, fx): &(f64, f64)| fy > y || (fy == y && fx > x);
            let r = fronts.partition_point(dominates_p);
            rank[i] = r;
            match fronts.get_mut(r) {
                None => fronts.push((y, x)),
                Some(f) if y > f.0 => *f = (y, x),
                Some(f) if y == f.0 => f.1 = f.1.max(x),
                Some(_) => {}
            }
        }
        return rank;
    }
    for (k, &i) in order.iter().enumerate() {
        rank[i] = order[..k]
            .iter()
            .filter(|&&j| dominates(&points[j], &points[i]))
            .map(|&j| rank[j] + 1)
            .max()
            .unwrap_or(0);
    }
    rank
}

/// The crowding distance of each point of one front (NSGA-II): per objective, the gap between its two neighbours
/// over the front's span, summed; the extremes of each objective get infinity, so they are kept first.
#[allow(clippy::needless_range_loop)] // `d` indexes each point's objectives, not the front
pub fn crowding(front: &[&[f64]]) -> Vec<f64> {
    let n = front.len();
    let mut distance = vec![0.0f64; n];
    if n <= 2 {
        return vec![f64::INFINITY; n];
    }
    let dims = front[0].len();
    for d in 0..dims {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| front[a][d].total_cmp(&front[b][d]).then(a.cmp(&b)));
        let (lo, hi) = (front[order[0]][d], front[order[n - 1]][d]);
        distance[order[0]] = f64::INFINITY;
        distance[order[n - 1]] = f64::INFINITY;
        let span = hi - lo;
        if span <= 0.0 {
            continue;
        }
        for k in 1..n - 1 {
            distance[order[k]] += (front[order[k + 1]][d] - front[order[k - 1]][d]) / span;
        }
    }
    distance
}

/// The points' indices best first: by non-dominated rank, then by crowding distance within the rank (larger first:
/// the ones that spread the front), then by index (the earlier trial), so the order depends on the points alone.
pub fn order(points: &[Vec<f64>]) -> Vec<usize> {
    let rank = ranks(points);
    let mut crowd = vec![0.0f64; points.len()];
    let fronts = rank.iter().copied().max().map_or(0, |m| m + 1);
    for r in 0..fronts {
        let members: Vec<usize> = (0..points.len()).filter(|&i| rank[i] == r).collect();
        let front: Vec<&[f64]> = members.iter().map(|&i| points[i].as_slice()).collect();
        for (k, d) in crowding(&front).into_iter().enumerate() {
            crowd[members[k]] = d;
        }
    }
    let mut idx: Vec<usize> = (0..points.len()).collect();
    idx.sort_by(|&a, &b| {
        rank[a]
            .cmp(&rank[b])
            .then(crowd[b].partial_cmp(&crowd[a]).unwrap_or(Ordering::Equal))
            .then(a.cmp(&b))
    });
    idx
}

/// The hypervolume of `points` above `reference`: the measure of the set of vectors that are at least the reference
/// and at most some point, in every objective. A point below the reference in an objective adds nothing. Exact:
/// sorted sweeps in two dimensions, slices along the last objective above (O(n² log n) in three).
pub fn hypervolume(points: &[Vec<f64>], reference: &[f64]) -> f64 {
    let clipped: Vec<Vec<f64>> = points
        .iter()
        .filter(|p| p.iter().zip(reference).all(|(x, r)| x > r))
        .map(|p| p.to_vec())
        .collect();
    hv(&clipped, reference)
}

fn hv(points: &[Vec<f64>], reference: &[f64]) -> f64 {
    let dims = reference.len();
    if points.is_empty() || dims == 0 {
        return 0.0;
    }
    if dims == 1 {
        return points.iter().map(|p| p[0]).fold(f64::NEG_INFINITY, f64::max) - reference[0];
    }
    if dims == 2 {
        // By the first objective, best first: each point adds the strip its second objective has above the best so far.
        let mut sorted: Vec<&Vec<f64>> = points.iter().collect();
        sorted.sort_by(|a, b| b[0].total_cmp(&a[0]).then(b[1].total_cmp(&a[1])));
        let mut volume = 0.0;
        let mut top = reference[1];
        for p in sorted {
            if p[1] > top {
                volume += (p[0] - reference[0]) * (p[1] - top);
                top = p[1];
            }
        }
        return volume;
    }
    // Slices along the last objective, highest first: between the i-th and the (i+1)-th level, the points 0..=i
    // (projected) dominate the slice.
    let last = dims - 1;
    let mut sorted: Vec<&Vec<f64>> = points.iter().collect();
    sorted.sort_by(|a, b| b[last].total_cmp(&a[last]));
    let mut volume = 0.0;
    let mut above: Vec<Vec<f64>> = Vec::with_capacity(sorted.len());
    for (i, p) in sorted.iter().enumerate() {
        above.push(p[..last].to_vec());
        let next = sorted.get(i + 1).map_or(reference[last], |q| q[last]);
        let height = p[last] - next;
        if height > 0.0 {
            volume += hv(&above, &reference[..last]) * height;
        }
    }
    volume
}

/// Each point's exclusive contribution to the hypervolume: what the set loses without it.
pub fn contributions(points: &[Vec<f64>], reference: &[f64]) -> Vec<f64> {
    let all = hypervolume(points, reference);
    (0..points.len())
        .map(|i| {
            let rest: Vec<Vec<f64>> = points.iter().enumerate().filter(|&(k, _)| k != i).map(|(_, p)| p.clone()).collect();
            (all - hypervolume(&rest, reference)).max(0.0)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random_points(n: usize, dims: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        // Coarse values, so ties and duplicates happen.
        (0..n)
            .map(|_| (0..dims).map(|_| rng.gen_range(0..8) as f64 / 8.0).collect())
            .collect()
    }

    /// The ranks equal peeling the non-dominated set again and again by brute force.
    #[test]
    fn ranks_equal_repeatedly_peeled_non_dominated_sets() {
        for (seed, n) in (0..20).map(|s| (s, 40)).chain([(20, 300), (21, 300)]) {
            for dims in 2..=4 {
                let points = random_points(n, dims, seed);
                let got = ranks(&points);
                let mut left: Vec<usize> = (0..points.len()).collect();
                let mut want = vec![usize::MAX; points.len()];
                let mut r = 0;
                while !left.is_empty() {
                    let front: Vec<usize> = left
                        .iter()
                        .copied()
                        .filter(|&i| !left.iter().any(|&j| dominates(&points[j], &points[i])))
                        .collect();
                    assert!(!front.is_empty());
                    for &i in &front {
                        want[i] = r;
                    }
                    left.retain(|i| !front.contains(i));
                    r += 1;
                }
                assert_eq!(got, want, "seed {seed}, {dims} objectives");
            }
        }
    }

    /// Inclusion-exclusion over every subset: the hypervolume as a sum of boxes, exact for a few points.
    fn brute_hypervolume(points: &[Vec<f64>], reference: &[f64]) -> f64 {
        let n = points.len();
        let mut total = 0.0;
        for mask in 1u32..(1 << n) {
            let mut corner: Vec<f64> = vec![f64::INFINITY; reference.len()];
            for (i, p) in points.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    for (c, x) in corner.iter_mut().zip(p) {
                        *c = c.min(*x);
                    }
                }
            }
            let volume: f64 = corner.iter().zip(reference).map(|(c, r)| (c - r).max(0.0)).product();
            total += if mask.count_ones() % 2 == 1 { volume } else { -volume };
        }
        total
    }

    #[test]
    fn hypervolume_equals_inclusion_exclusion_in_two_to_four_objectives() {
        for seed in 0..30 {
            for dims in 2..=4 {
                let points = random_points(9, dims, 100 + seed);
                let reference = vec![0.1; dims];
                let got = hypervolume(&points, &reference);
                let want = brute_hypervolume(&points, &reference);
                assert!((got - want).abs() < 1e-12, "seed {seed}, {dims}: {got} vs {want}");
            }
        }
        // One point: its box; a dominated point adds nothing; a point below the reference adds nothing.
        assert_eq!(hypervolume(&[vec![2.0, 3.0]], &[0.0, 0.0]), 6.0);
        assert_eq!(hypervolume(&[vec![2.0, 3.0], vec![1.0, 1.0]], &[0.0, 0.0]), 6.0);
        assert_eq!(hypervolume(&[vec![2.0, 3.0], vec![5.0, -1.0]], &[0.0, 0.0]), 6.0);
        assert_eq!(hypervolume(&[vec![1.0, 2.0], vec![2.0, 1.0]], &[0.0, 0.0]), 3.0);
    }

    #[test]
    fn contributions_are_what_each_point_alone_adds() {
        let points = vec![vec![1.0, 3.0], vec![2.0, 2.0], vec![3.0, 1.0], vec![1.0, 1.0]];
        let c = contributions(&points, &[0.0, 0.0]);
        assert_eq!(c, vec![1.0, 1.0, 1.0, 0.0]);
    }

    /// The order puts the front first, its extremes before its middle, and breaks ties by index.
    #[test]
    fn order_is_rank_then_crowding_then_index() {
        let points = vec![
            vec![0.5, 0.5],   // front, middle
            vec![0.0, 1.0],   // front, extreme
            vec![0.2, 0.2],   // rank 1
            vec![1.0, 0.0],   // front, extreme
            vec![0.45, 0.55], // front, crowded beside 0
            vec![0.2, 0.2],   // rank 1, a duplicate of 2
        ];
        assert_eq!(ranks(&points), vec![0, 0, 1, 0, 0, 1]);
        let o = order(&points);
        assert_eq!(&o[..2], &[1, 3]);
        assert_eq!(&o[4..], &[2, 5]);
        // A ZDT1-like front: every point on f2 = 1 - sqrt(f1) is non-dominated; pushed back, they are not.
        let front: Vec<Vec<f64>> = (0..20)
            .map(|i| i as f64 / 19.0)
            .map(|f1: f64| vec![-f1, -(1.0 - f1.sqrt())])
            .collect();
        assert!(ranks(&front).iter().all(|&r| r == 0));
        let mut behind = front.clone();
        behind.extend(front.iter().map(|p| vec![p[0] - 0.01, p[1] - 0.01]));
        let r = ranks(&behind);
        assert!(r[..20].iter().all(|&x| x == 0) && r[20..].iter().all(|&x| x == 1));
    }
}
