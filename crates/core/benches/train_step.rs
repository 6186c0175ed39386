//! Measures training speed where it matters: FLOP/s of one f32 SGD step (B=200, D=3072, C=10) per hidden size; one
//! H=1024 step with its products cut for 2 threads ([`Parallel`]) when both threads of a pool are free, and the cost of
//! the cut when no thread is (a pool of 1 runs both pieces itself); and the wall time of one full epoch (40,000
//! training + 5,000 train-accuracy + 10,000 validation images) at H=512.
//!
//! Run with `cargo bench -p sweep-core --bench train_step`. Inputs are synthetic but seeded, so runs are comparable.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use ndarray::Array2;
use rand::Rng;
use sweep_core::linalg::{gemm, Parallel};
use sweep_core::network::{Init, TwoLayerNet, Workspace};
use sweep_core::rng::rng_for;
use sweep_core::train::{train, Quiet, TrainConfig, TrainData, TRAIN_ACC_SAMPLE};

const B: usize = 200;
const D: usize = 3072;
const C: usize = 10;
const HIDDEN: [usize; 3] = [64, 512, 1024];
const N_TRAIN: usize = 40_000;
const N_VAL: usize = 10_000;
const EPOCH_SAMPLES: usize = 10;
/// Extra timed steps per H for the explicit median printed after criterion's runs.
const MEDIAN_REPS: usize = 21;

/// Floating-point operations of one step at hidden size `h`, from the cost model `sweep plan` and the runner use.
fn step_flops(h: usize) -> u64 {
    sweep_core::cost::step_flops(B, D, h, C)
}

/// A seeded (rows, cols) matrix of uniform values in [-0.5, 0.5), roughly the range of mean-subtracted pixels.
fn random_inputs(rows: usize, cols: usize, tag: &str) -> Array2<f32> {
    let mut rng = rng_for(0, tag);
    Array2::from_shape_simple_fn((rows, cols), || rng.gen::<f32>() - 0.5)
}

fn random_labels(n: usize, tag: &str) -> Vec<u8> {
    let mut rng = rng_for(0, tag);
    (0..n).map(|_| rng.gen_range(0..C as u8)).collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    assert!(!v.is_empty(), "median of no timings");
    v.sort_unstable();
    v[v.len() / 2]
}

/// `cargo bench` passes `--bench`; `cargo test --benches` does not, and then only a smoke run is wanted.
fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn train_step(c: &mut Criterion) {
    let x = random_inputs(B, D, "bench-step-x");
    let y = random_labels(B, "bench-step-y");
    let (reg, lr) = (1e-4f32, 1e-3f32);
    let nets: Vec<TwoLayerNet<f32>> = HIDDEN
        .iter()
        .map(|&h| TwoLayerNet::new(D, h, C, Init::Kaiming, &mut rng_for(0, "bench-step-init")))
        .collect();

    let mut group = c.benchmark_group("train_step_flops");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for (&h, net) in HIDDEN.iter().zip(&nets) {
        let mut net = net.clone();
        let mut ws = Workspace::new(B, h, C);
        group.throughput(Throughput::Elements(step_flops(h)));
        group.bench_function(format!("H={h}"), |bench| {
            bench.iter(|| black_box(net.sgd_step(x.view(), &y, reg, lr, &mut ws)))
        });
    }
    group.finish();

    let reps = if bench_mode() { MEDIAN_REPS } else { 1 };
    for (&h, net) in HIDDEN.iter().zip(&nets) {
        let mut net = net.clone();
        let mut ws = Workspace::new(B, h, C);
        black_box(net.sgd_step(x.view(), &y, reg, lr, &mut ws));
        let times: Vec<Duration> = (0..reps)
            .map(|_| {
                let t = Instant::now();
                black_box(net.sgd_step(x.view(), &y, reg, lr, &mut ws));
                t.elapsed()
            })
            .collect();
        let med = median(times);
        let gflops = step_flops(h) as f64 / med.as_secs_f64() / 1e9;
        // Baseline in the same run: the step's largest GEMM alone (X·W1, B×D times D×H), through the same backend.
        let mut out = Array2::<f32>::zeros((B, h));
        let gemm_times: Vec<Duration> = (0..reps.max(3))
            .map(|_| {
                let t = Instant::now();
                gemm(1.0, x.view(), net.params.w1.view(), 0.0, out.view_mut());
                black_box(&out);
                t.elapsed()
            })
            .collect();
        let gemm_gflops = (2 * B * D * h) as f64 / median(gemm_times).as_secs_f64() / 1e9;
        println!(
            "train_step H={h}: median {:.2} ms/step over {reps} steps, {gflops:.1} GFLOP/s (B={B}, D={D}, C={C}); \
             baseline GEMM X·W1 alone {gemm_gflops:.1} GFLOP/s, step at {:.0} % of it",
            med.as_secs_f64() * 1e3,
            100.0 * gflops / gemm_gflops
        );
    }
}

/// One H=1024 step in a rayon pool of `threads`, its products cut into at most `pieces`.
struct PoolStep {
    name: String,
    pool: rayon::ThreadPool,
    net: TwoLayerNet<f32>,
    ws: Workspace<f32>,
}

fn train_step_threads(c: &mut Criterion) {
    const H: usize = 1024;
    let x = random_inputs(B, D, "bench-step-x");
    let y = random_labels(B, "bench-step-y");
    let (reg, lr) = (1e-4f32, 1e-3f32);
    let net = TwoLayerNet::new(D, H, C, Init::Kaiming, &mut rng_for(0, "bench-step-init"));
    let mut cases: Vec<PoolStep> = [
        ("1 thread, not cut", 1, 1),
        ("1 thread, cut in 2 (no thread free)", 1, 2),
        ("2 threads free, cut in 2", 2, 2),
    ]
    .into_iter()
    .map(|(name, threads, pieces)| {
        let mut ws = Workspace::new(B, H, C);
        ws.set_parallel(Parallel::new(pieces));
        PoolStep {
            name: format!("H={H} {name}"),
            pool: rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a pool"),
            net: net.clone(),
            ws,
        }
    })
    .collect();

    let mut group = c.benchmark_group("train_step_threads");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Elements(step_flops(H)));
    for case in &mut cases {
        let PoolStep { name, pool, net, ws } = case;
        group.bench_function(name.as_str(), |bench| {
            bench.iter(|| pool.install(|| black_box(net.sgd_step(x.view(), &y, reg, lr, ws))))
        });
    }
    group.finish();

    // The explicit medians take the cases in turn, step by step, so that a machine whose load drifts (other work on
    // its cores) slows every case alike; each pool thread's CPU time is counted too, which other work does not inflate.
    let reps = if bench_mode() { 3 * MEDIAN_REPS } else { 1 };
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); cases.len()];
    let cpu_before: Vec<Vec<Option<u64>>> = cases.iter().map(|c| c.pool.broadcast(|_| thread_cpu_ns())).collect();
    for _ in 0..reps {
        for (case, times) in cases.iter_mut().zip(&mut times) {
            let PoolStep { pool, net, ws, .. } = case;
            let t = Instant::now();
            pool.install(|| black_box(net.sgd_step(x.view(), &y, reg, lr, ws)));
            times.push(t.elapsed());
        }
    }
    let medians: Vec<f64> = times.into_iter().map(|t| median(t).as_secs_f64()).collect();
    for ((case, med), before) in cases.iter().zip(&medians).zip(&cpu_before) {
        // CPU time of each thread of the case's pool over its steps: what the step costs whatever else runs on the
        // machine; the busiest thread's is the step's time on free cores (less any wait for the other piece).
        let after = case.pool.broadcast(|_| thread_cpu_ns());
        let cpu: Option<Vec<f64>> = before
            .iter()
            .zip(&after)
            .map(|(b, a)| Some((a.as_ref()? - b.as_ref()?) as f64 / 1e6 / reps as f64))
            .collect();
        let cpu = cpu.map_or("thread CPU time unknown".to_string(), |c| {
            let busiest = c.iter().cloned().fold(0.0, f64::max);
            format!("CPU {:.2} ms/step in all, busiest thread {busiest:.2} ms", c.iter().sum::<f64>())
        });
        println!(
            "train_step_threads {}: median {:.2} ms/step over {reps} steps taken in turn with the other cases \
             ({:.3}x the uncut step's time); {cpu}",
            case.name,
            med * 1e3,
            med / medians[0]
        );
    }
}

/// The CPU time the calling thread has used, in nanoseconds (Linux's `/proc/thread-self/schedstat`; `None`
/// elsewhere).
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn train_epoch(c: &mut Criterion) {
    let x_train = random_inputs(N_TRAIN, D, "bench-epoch-x-train");
    let y_train = random_labels(N_TRAIN, "bench-epoch-y-train");
    let x_val = random_inputs(N_VAL, D, "bench-epoch-x-val");
    let y_val = random_labels(N_VAL, "bench-epoch-y-val");
    let mean = ndarray::Array1::<f32>::zeros(D);
    let data = TrainData {
        x_train: x_train.view(),
        y_train: &y_train,
        x_val: x_val.view(),
        y_val: &y_val,
        num_classes: C,
        mean: mean.view(),
        input_shape: &[3, 32, 32],
    };
    let cfg = TrainConfig {
        epochs: 1,
        hidden_size: 512,
        batch_size: B,
        learning_rate: 1e-3,
        ..TrainConfig::default()
    }
    .check()
    .expect("bench config is valid");

    // Per-iteration time of every call criterion makes; the last EPOCH_SAMPLES are its measured samples.
    let mut per_epoch: Vec<Duration> = Vec::new();
    let mut group = c.benchmark_group("train_epoch");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(EPOCH_SAMPLES)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(50));
    group.bench_function("H=512 40k train + 10k val", |bench| {
        bench.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                black_box(train(&cfg, data, &mut Quiet));
            }
            let elapsed = t.elapsed();
            per_epoch.push(elapsed / iters.max(1) as u32);
            elapsed
        })
    });
    group.finish();

    let n = per_epoch.len().min(EPOCH_SAMPLES);
    if n > 0 {
        let med = median(per_epoch[per_epoch.len() - n..].to_vec());
        println!(
            "train_epoch H=512: median {:.2} s/epoch over {n} samples ({N_TRAIN} train + {TRAIN_ACC_SAMPLE} train-acc + {N_VAL} val images)",
            med.as_secs_f64()
        );
    }
}

criterion_group!(benches, train_step, train_step_threads, train_epoch);
criterion_main!(benches);
