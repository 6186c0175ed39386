//! Shards: which part of a sweep's jobs one `sweep run` process takes, given as `--shard I/N` or found in the
//! environment of a Slurm job array task or a Kubernetes Indexed Job pod (`--shard auto`), and the deterministic,
//! cost-balanced assignment of jobs to shards.
//!
//! Every shard computes the same assignment from the same grid, so N processes started with `0/N` … `N-1/N` split
//! the jobs between them without talking to each other. The assignment only decides who runs a job *first*;
//! [`sweep_results::claims`] is what guarantees that no job runs twice when shards overlap or restart.
//!
//! Environment read by [`ShardSpec::Auto`]:
//!
//! | variable | set by | meaning |
//! | --- | --- | --- |
//! | `SWEEP_SHARD_COUNT` | the user, or the generated sbatch script / Job manifest | N; wins over the others |
//! | `SLURM_ARRAY_TASK_ID` | Slurm, in each array task | I (the task id as is) |
//! | `SLURM_ARRAY_TASK_COUNT` | Slurm | N: the number of tasks of `--array=0-(N-1)%M`, not M |
//! | `SLURM_ARRAY_TASK_MIN`, `SLURM_ARRAY_TASK_MAX` | Slurm | N = MAX+1 when TASK_COUNT is missing (old Slurm) |
//! | `SLURM_ARRAY_JOB_ID` | Slurm | names the shard's identity ([`ShardContext::identity`]) |
//! | `JOB_COMPLETION_INDEX` | Kubernetes, in an Indexed Job's pods | I |
//! | `SWEEP_JOB_NAME` | the generated Job manifest (from the pod's `job-name` label) | names the identity |
//!
//! Task ids are used as shard indices unchanged, so an array must be numbered from 0 (`--array=0-(N-1)`).
//! Resubmitting only some tasks (`sbatch --array=2,5 ...` after failures) keeps the same partition when
//! `SWEEP_SHARD_COUNT=N` is set, as the generated sbatch script does; without it the task count of the resubmitted
//! array would not be N, which is refused with an explanation.

pub use crate::error::ShardError;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::str::FromStr;

/// Environment variable naming the number of shards; wins over what Slurm reports.
pub const SHARD_COUNT_ENV: &str = "SWEEP_SHARD_COUNT";
/// Environment variable the generated Kubernetes Job sets to the Job's name, for the shard identity.
pub const JOB_NAME_ENV: &str = "SWEEP_JOB_NAME";

/// One part of a sweep: shard `index` of `count`, numbered from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The whole sweep as one shard (`0/1`).
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Checks `index < count` and `count >= 1`; `what` names where the numbers came from, for the message.
    pub fn new(index: usize, count: usize, what: &str) -> Result<Shard, ShardError> {
        if count == 0 {
            return Err(ShardError(format!(
                "{what}: the shard count is 0; it must be at least 1 (e.g. --shard 0/4 for the first of 4 shards)"
            )));
        }
        if index >= count {
            return Err(ShardError(format!(
                "{what}: shard index {index} is out of range for {count} shards; shards are numbered from 0, \
                 so the index must be 0..={} (e.g. --shard 0/{count} … --shard {}/{count})",
                count - 1,
                count - 1
            )));
        }
        Ok(Shard { index, count })
    }

    /// Positions (in `costs` order) of the jobs this shard runs under [`assign`].
    pub fn select(&self, costs: &[u64]) -> Vec<usize> {
        assign(costs, self.count)
            .into_iter()
            .enumerate()
            .filter(|&(_, s)| s == self.index)
            .map(|(i, _)| i)
            .collect()
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    /// Parses `I/N` (0-based I, e.g. `0/4` … `3/4`).
    fn from_str(s: &str) -> Result<Shard, ShardError> {
        let s = s.trim();
        let bad = |why: &str| {
            ShardError(format!(
                "--shard {s:?}: {why}; write I/N with 0 <= I < N, e.g. --shard 0/4 for the first of 4 shards, \
                 or --shard auto inside a Slurm job array or a Kubernetes Indexed Job"
            ))
        };
        let (i, n) = s.split_once('/').ok_or_else(|| bad("expected a slash"))?;
        let index: usize = i
            .trim()
            .parse()
            .map_err(|_| bad(&format!("{:?} is not a shard index (0, 1, 2, …)", i.trim())))?;
        let count: usize = n
            .trim()
            .parse()
            .map_err(|_| bad(&format!("{:?} is not a shard count (1, 2, 3, …)", n.trim())))?;
        if count >= 1 && index == count && index >= 1 {
            return Err(ShardError(format!(
                "--shard {s}: shards are numbered from 0, so the last of {count} shards is {}/{count}; \
                 write --shard {}/{count} (and 0/{count} for the first)",
                count - 1,
                count - 1
            )));
        }
        Shard::new(index, count, &format!("--shard {s}"))
    }
}

/// The value of `--shard`: explicit, or found in the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardSpec {
    Fixed(Shard),
    /// From a Slurm array task or a Kubernetes Indexed Job pod.
    Auto,
}

impl FromStr for ShardSpec {
    type Err = ShardError;
    fn from_str(s: &str) -> Result<ShardSpec, ShardError> {
        if s.trim().eq_ignore_ascii_case("auto") {
            Ok(ShardSpec::Auto)
        } else {
            s.parse().map(ShardSpec::Fixed)
        }
    }
}

/// Where a shard came from, to name it across restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardSource {
    /// `--shard I/N` on the command line.
    Flag,
    /// A Slurm array task; the array's job id (`SLURM_ARRAY_JOB_ID`) when known.
    Slurm { array_job_id: Option<String> },
    /// A Kubernetes Indexed Job pod; the Job's name (`SWEEP_JOB_NAME`) when known.
    Kubernetes { job_name: Option<String> },
}

/// A shard and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardContext {
    pub shard: Shard,
    pub source: ShardSource,
}

impl ShardContext {
    /// A name that is the same for a restart of this shard (a requeued Slurm task, a retried pod, the same
    /// `--shard` given again) and differs between shards and between separate arrays/Jobs; for
    /// [`sweep_results::claims::Owner::shard`], which lets a restarted shard take back its own claims at once.
    pub fn identity(&self) -> String {
        match &self.source {
            ShardSource::Flag => format!("shard {}", self.shard),
            ShardSource::Slurm { array_job_id: Some(j) } => format!("slurm {j} shard {}", self.shard),
            ShardSource::Slurm { array_job_id: None } => format!("slurm shard {}", self.shard),
            ShardSource::Kubernetes { job_name: Some(j) } => format!("k8s {j} shard {}", self.shard),
            ShardSource::Kubernetes { job_name: None } => format!("k8s shard {}", self.shard),
        }
    }
}

impl ShardSpec {
    /// The shard, reading the process environment for `auto`; `count` (e.g. from the grid's job count or a flag)
    /// overrides any count found in the environment.
    pub fn resolve(self, count: Option<usize>) -> Result<ShardContext, ShardError> {
        self.resolve_with(|k| std::env::var(k).ok(), count)
    }

    /// [`ShardSpec::resolve`] with the environment given as a lookup function (for tests).
    pub fn resolve_with(self, env: impl Fn(&str) -> Option<String>, count: Option<usize>) -> Result<ShardContext, ShardError> {
        match self {
            ShardSpec::Fixed(shard) => Ok(ShardContext {
                shard,
                source: ShardSource::Flag,
            }),
            ShardSpec::Auto => from_env(env, count),
        }
    }
}

fn env_number(env: &impl Fn(&str) -> Option<String>, key: &str) -> Result<Option<usize>, ShardError> {
    match env(key) {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ShardError(format!("--shard auto: {key}={v:?} is not a non-negative whole number"))),
    }
}

fn from_env(env: impl Fn(&str) -> Option<String>, count: Option<usize>) -> Result<ShardContext, ShardError> {
    let explicit = match count {
        Some(n) => Some((n, "the given shard count".to_string())),
        None => env_number(&env, SHARD_COUNT_ENV)?.map(|n| (n, SHARD_COUNT_ENV.to_string())),
    };
    if let Some(task) = env_number(&env, "SLURM_ARRAY_TASK_ID")? {
        let array_job_id = env("SLURM_ARRAY_JOB_ID").filter(|s| !s.trim().is_empty());
        let min = env_number(&env, "SLURM_ARRAY_TASK_MIN")?;
        let max = env_number(&env, "SLURM_ARRAY_TASK_MAX")?;
        let (count, what) = match explicit {
            Some((n, what)) => (n, format!("--shard auto (SLURM_ARRAY_TASK_ID={task}, count from {what})")),
            None => {
                let n = match (env_number(&env, "SLURM_ARRAY_TASK_COUNT")?, max) {
                    (Some(n), _) => n,
                    (None, Some(max)) => max + 1,
                    (None, None) => {
                        return Err(ShardError(format!(
                            "--shard auto: SLURM_ARRAY_TASK_ID={task} is set but neither SLURM_ARRAY_TASK_COUNT nor \
                             SLURM_ARRAY_TASK_MAX is; set {SHARD_COUNT_ENV}=N (the number of array tasks) in the batch \
                             script, or give --shard {task}/N"
                        )))
                    }
                };
                // Ids must be 0..N-1: an array starting above 0, with gaps or a step would leave shards unrun.
                if min.is_some_and(|m| m != 0) || max.is_some_and(|m| m + 1 != n) {
                    return Err(ShardError(format!(
                        "--shard auto: this Slurm array is not numbered 0..N-1 (task {task}, min {}, max {}, count {n}); \
                         submit with --array=0-(N-1) (a %M limit is fine), or, when resubmitting only some tasks of an \
                         N-task sweep, set {SHARD_COUNT_ENV}=N so task ids keep their shard",
                        min.map_or("?".into(), |m| m.to_string()),
                        max.map_or("?".into(), |m| m.to_string()),
                    )));
                }
                (n, format!("--shard auto (SLURM_ARRAY_TASK_ID={task}, SLURM_ARRAY_TASK_COUNT={n})"))
            }
        };
        let shard = Shard::new(task, count, &what)?;
        return Ok(ShardContext {
            shard,
            source: ShardSource::Slurm { array_job_id },
        });
    }
    if let Some(index) = env_number(&env, "JOB_COMPLETION_INDEX")? {
        let Some((count, what)) = explicit else {
            return Err(ShardError(format!(
                "--shard auto: JOB_COMPLETION_INDEX={index} (a Kubernetes Indexed Job) gives the index but not the \
                 number of shards; set the env var {SHARD_COUNT_ENV} to the Job's `completions` in the pod spec"
            )));
        };
        let shard = Shard::new(
            index,
            count,
            &format!("--shard auto (JOB_COMPLETION_INDEX={index}, count from {what})"),
        )?;
        let job_name = env(JOB_NAME_ENV).filter(|s| !s.trim().is_empty());
        return Ok(ShardContext {
            shard,
            source: ShardSource::Kubernetes { job_name },
        });
    }
    Err(ShardError(
        "--shard auto: not inside a Slurm job array (no SLURM_ARRAY_TASK_ID) nor a Kubernetes Indexed Job \
         (no JOB_COMPLETION_INDEX); give the shard explicitly, e.g. --shard 0/4, or leave --shard out to run every job"
            .into(),
    ))
}

/// Assigns each job to a shard: the shard of job `i` is `assign(costs, count)[i]`.
///
/// Greedy longest-processing-time: jobs in order of cost (largest first, ties by position), each to the shard
/// with the least total cost so far (ties to the lowest shard index). Deterministic (depends only on `costs` and
/// `count`), every job gets exactly one shard, and the shards' totals differ by at most the largest job's cost.
///
/// # Panics
/// If `count` is 0 (a [`Shard`] never has count 0).
pub fn assign(costs: &[u64], count: usize) -> Vec<usize> {
    assert!(count >= 1, "assign: the shard count must be at least 1");
    let mut order: Vec<usize> = (0..costs.len()).collect();
    order.sort_by(|&a, &b| costs[b].cmp(&costs[a]).then(a.cmp(&b)));
    // Min-heap on (load, shard index): the least-loaded shard, ties to the lowest index.
    let mut heap: BinaryHeap<Reverse<(u128, usize)>> = (0..count).map(|s| Reverse((0, s))).collect();
    let mut shard_of = vec![0; costs.len()];
    for i in order {
        let Reverse((load, s)) = heap.pop().expect("count >= 1 shards in the heap");
        shard_of[i] = s;
        heap.push(Reverse((load + u128::from(costs[i]), s)));
    }
    shard_of
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn parses_i_of_n() {
        assert_eq!("0/4".parse::<Shard>().unwrap(), Shard { index: 0, count: 4 });
        assert_eq!(" 3/4 ".parse::<Shard>().unwrap(), Shard { index: 3, count: 4 });
        assert_eq!("0/1".parse::<Shard>().unwrap(), Shard::ALL);
        assert_eq!(Shard { index: 2, count: 5 }.to_string(), "2/5");
        assert_eq!("auto".parse::<ShardSpec>().unwrap(), ShardSpec::Auto);
        assert_eq!("1/2".parse::<ShardSpec>().unwrap(), ShardSpec::Fixed(Shard { index: 1, count: 2 }));
    }

    #[test]
    fn rejects_bad_shards_naming_the_flag_and_fix() {
        let e = "4/4".parse::<Shard>().unwrap_err().0;
        assert!(
            e.contains("--shard 4/4") && e.contains("numbered from 0") && e.contains("3/4"),
            "{e}"
        );
        let e = "5/4".parse::<Shard>().unwrap_err().0;
        assert!(e.contains("--shard 5/4") && e.contains("0..=3"), "{e}");
        let e = "0/0".parse::<Shard>().unwrap_err().0;
        assert!(e.contains("--shard 0/0") && e.contains("at least 1"), "{e}");
        for bad in ["3", "a/4", "1/b", "-1/4", "", "1/2/3"] {
            let e = bad.parse::<Shard>().unwrap_err().0;
            assert!(e.contains("--shard") && e.contains("e.g. --shard 0/4"), "{bad}: {e}");
        }
    }

    #[test]
    fn auto_from_slurm() {
        let c = ShardSpec::Auto
            .resolve_with(
                env_of(&[
                    ("SLURM_ARRAY_TASK_ID", "2"),
                    ("SLURM_ARRAY_TASK_COUNT", "8"),
                    ("SLURM_ARRAY_TASK_MIN", "0"),
                    ("SLURM_ARRAY_TASK_MAX", "7"),
                    ("SLURM_ARRAY_JOB_ID", "1234"),
                ]),
                None,
            )
            .unwrap();
        assert_eq!(c.shard, Shard { index: 2, count: 8 });
        assert_eq!(c.identity(), "slurm 1234 shard 2/8");
        // Old Slurm without TASK_COUNT: N from MAX.
        let c = ShardSpec::Auto
            .resolve_with(
                env_of(&[
                    ("SLURM_ARRAY_TASK_ID", "1"),
                    ("SLURM_ARRAY_TASK_MIN", "0"),
                    ("SLURM_ARRAY_TASK_MAX", "3"),
                ]),
                None,
            )
            .unwrap();
        assert_eq!(c.shard, Shard { index: 1, count: 4 });
    }

    #[test]
    fn auto_from_slurm_resubmitted_subset_needs_the_count() {
        // `sbatch --array=2,5` of an 8-task sweep: count 2, min 2, max 5.
        let subset = [
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "2"),
            ("SLURM_ARRAY_TASK_MIN", "2"),
            ("SLURM_ARRAY_TASK_MAX", "5"),
        ];
        let e = ShardSpec::Auto.resolve_with(env_of(&subset), None).unwrap_err().0;
        assert!(e.contains("--array=0-(N-1)") && e.contains(SHARD_COUNT_ENV), "{e}");
        let mut with_count = subset.to_vec();
        with_count.push((SHARD_COUNT_ENV, "8"));
        let c = ShardSpec::Auto.resolve_with(env_of(&with_count), None).unwrap();
        assert_eq!(c.shard, Shard { index: 5, count: 8 });
        // A given count wins over everything.
        let c = ShardSpec::Auto.resolve_with(env_of(&subset), Some(6)).unwrap();
        assert_eq!(c.shard, Shard { index: 5, count: 6 });
        let e = ShardSpec::Auto.resolve_with(env_of(&subset), Some(5)).unwrap_err().0;
        assert!(e.contains("SLURM_ARRAY_TASK_ID=5") && e.contains("out of range"), "{e}");
    }

    #[test]
    fn auto_from_kubernetes() {
        let env = env_of(&[("JOB_COMPLETION_INDEX", "3"), (SHARD_COUNT_ENV, "4"), (JOB_NAME_ENV, "sweep-cifar")]);
        let c = ShardSpec::Auto.resolve_with(env, None).unwrap();
        assert_eq!(c.shard, Shard { index: 3, count: 4 });
        assert_eq!(c.identity(), "k8s sweep-cifar shard 3/4");
        let e = ShardSpec::Auto
            .resolve_with(env_of(&[("JOB_COMPLETION_INDEX", "3")]), None)
            .unwrap_err()
            .0;
        assert!(e.contains(SHARD_COUNT_ENV) && e.contains("completions"), "{e}");
        let c = ShardSpec::Auto
            .resolve_with(env_of(&[("JOB_COMPLETION_INDEX", "0")]), Some(2))
            .unwrap();
        assert_eq!(c.shard, Shard { index: 0, count: 2 });
        let e = ShardSpec::Auto
            .resolve_with(env_of(&[("JOB_COMPLETION_INDEX", "x"), (SHARD_COUNT_ENV, "4")]), None)
            .unwrap_err()
            .0;
        assert!(e.contains("JOB_COMPLETION_INDEX=\"x\""), "{e}");
    }

    #[test]
    fn auto_outside_any_scheduler_says_what_to_do() {
        let e = ShardSpec::Auto.resolve_with(env_of(&[]), None).unwrap_err().0;
        assert!(
            e.contains("SLURM_ARRAY_TASK_ID") && e.contains("JOB_COMPLETION_INDEX") && e.contains("--shard 0/4"),
            "{e}"
        );
        let fixed = ShardSpec::Fixed(Shard { index: 1, count: 3 })
            .resolve_with(env_of(&[]), None)
            .unwrap();
        assert_eq!(fixed.identity(), "shard 1/3");
    }

    /// A small deterministic generator, so the tests need no `rand`.
    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        *seed >> 33
    }

    #[test]
    fn assign_is_greedy_lpt_with_documented_ties() {
        // Largest first, ties by position: job 1 (7) -> shard 0; job 0 (5) -> shard 1; job 3 (5) -> shard 1
        // (5 < 7); job 2 (3) -> shard 0 (7 < 10); job 4 (1) -> shard 0 (10 = 10: the lower index).
        assert_eq!(assign(&[5, 7, 3, 5, 1], 2), vec![1, 0, 0, 1, 0]);
        // Equal costs go round-robin in position order.
        assert_eq!(assign(&[1; 7], 3), vec![0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(assign(&[], 3), Vec::<usize>::new());
        assert_eq!(assign(&[4, 2], 1), vec![0, 0]);
        // More shards than jobs: some shards get nothing.
        assert_eq!(assign(&[1, 9], 4), vec![1, 0]);
    }

    #[test]
    fn assign_is_deterministic_complete_and_balanced() {
        let mut seed = 7;
        for round in 0..200 {
            let n = (lcg(&mut seed) % 300) as usize;
            let count = 1 + (lcg(&mut seed) % 16) as usize;
            let costs: Vec<u64> = (0..n).map(|_| 1 + lcg(&mut seed) % 10_000).collect();
            let a = assign(&costs, count);
            assert_eq!(a, assign(&costs, count), "round {round}: not deterministic");
            assert_eq!(a.len(), n);
            assert!(a.iter().all(|&s| s < count));
            // Every job in exactly one shard's selection.
            let mut seen = vec![0; n];
            for index in 0..count {
                for i in (Shard { index, count }).select(&costs) {
                    seen[i] += 1;
                }
            }
            assert!(seen.iter().all(|&k| k == 1), "round {round}");
            let mut load = vec![0u64; count];
            for (i, &s) in a.iter().enumerate() {
                load[s] += costs[i];
            }
            let biggest = costs.iter().copied().max().unwrap_or(0);
            let (lo, hi) = (load.iter().min().unwrap(), load.iter().max().unwrap());
            assert!(hi - lo <= biggest, "round {round}: loads {load:?}, largest job {biggest}");
        }
    }
}
