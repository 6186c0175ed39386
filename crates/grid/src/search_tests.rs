//! The search's settings and samplers as a grid file sets them: `[search]` keys refused with the key named, Hyperband's
//! brackets over a grid's jobs, and the draws of random and Sobol searches (these read grid files, so they live
//! where grids are parsed).

use std::collections::HashSet;
use std::path::Path;

use sweep_core::TrainConfig;
use sweep_search::fidelity::hyperband;
use sweep_search::{sample_configs, SAMPLERS};

use crate::grid::Grid;

fn grid(text: &str) -> Grid {
    Grid::parse(Path::new("g.toml"), text).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn bad_search_tables_name_the_key() {
    let cases = [
        ("[search]\nmethod = \"bayes\"\n", "search.method"),
        ("[search]\nmethod = \"random\"\n[grid]\nreg = [0.1]\n", "search.samples"),
        ("[search]\nmetod = \"random\"\n", "did you mean `method`"),
        ("[search]\nmethod = \"halving\"\neta = 1\n", "search.eta"),
        (
            "[train]\nepochs = 4\n[search]\nmethod = \"halving\"\nmin_epochs = 5\n",
            "search.min_epochs",
        ),
        ("[search]\nmethod = \"halving\"\n[grid]\nepochs = [1, 2]\n", "grid.epochs"),
        ("[grid]\nreg = { log = [1e-4, 1e-2] }\n", "grid.reg.num"),
        ("[search]\nmethod = \"random\"\nsampler = \"sobol\"\nsamples = 4\n", "search.sampler"),
        ("[search]\nmethod = \"halving\"\nscheduler = \"asha\"\n", "search.scheduler"),
        ("[search]\nscheduler = \"pbt\"\n", "search.scheduler"),
        ("[search]\nsamples = 4\n[grid]\nreg = [0.1, 0.2]\n", "search.samples"),
        (
            "[train]\nepochs = 4\n[search]\nmethod = \"tpe\"\nscheduler = \"asha\"\nsamples = 4\nfinalists = 1\nfinal_epochs = 8\n[grid]\nreg = [0.1, 0.2]\n",
            "search.finalists",
        ),
        ("[search]\nmethod = \"sobol\"\nsamples = 70000\n", "search.samples"),
        ("[search]\nstate_limit_gb = -1\n", "search.state_limit_gb"),
        ("[search]\nmethod = \"random\"\nsamples = 4\npipeline = 2\n", "search.pipeline"),
        ("[search]\nmethod = \"tpe\"\nsamples = 4\npipeline = 0\n", "search.pipeline"),
        ("[search]\nmethod = \"halving\"\nfinalists = 2\n", "search.finalists"),
        // An asynchronous search needs proposals (tpe or mtpe) promoted by asha, and has no batches.
        ("[search]\nmethod = \"random\"\nsamples = 4\nasynchronous = true\n", "search.asynchronous"),
        ("[search]\nsampler = \"mtpe\"\nscheduler = \"halving\"\nsamples = 4\nasynchronous = true\n", "search.asynchronous"),
        ("[search]\nbudget = 100\nasynchronous = true\nbatch = 4\n", "search.batch"),
        ("[search]\nbudget = 100\nasynchronous = true\npipeline = 2\n", "search.pipeline"),
        ("[search]\nbudget = 100\nasynchronous = \"yes\"\n", "search.asynchronous: expected true or false"),
        (
            "[train]\nepochs = 16\n[search]\nbudget = 100\nasynchronous = true\nfinalists = 1\nfinal_epochs = 20\n",
            "search.final_epochs: an asynchronous search has no last batch",
        ),
        // Rungs of 1, 3 and 16 epochs need 9 trials at the first for one to reach the last: 28 epochs.
        (
            "[train]\nepochs = 16\n[search]\nbudget = 27\nasynchronous = true\n[grid]\nreg = { log = [1e-4, 1e-2] }\n",
            "budget = 27 epochs cannot take one trial to the last rung",
        ),
        // asha alone cannot be fitted to a budget, and the message says what can.
        (
            "[search]\nsampler = \"mtpe\"\nscheduler = \"asha\"\nbudget = 100\n",
            "or asynchronous = true (each unit then starts only if it fits in the budget)",
        ),
        (
            "[search]\nmethod = \"tpe\"\nsamples = 4\nfinalists = 2\n[grid]\nreg = [0.1, 0.2]\n",
            "search.final_epochs: missing",
        ),
        (
            "[search]\nmethod = \"tpe\"\nsamples = 4\nfinal_epochs = 20\n[grid]\nreg = [0.1, 0.2]\n",
            "search.finalists: missing",
        ),
        (
            "[train]\nepochs = 4\n[search]\nmethod = \"tpe\"\nsamples = 4\nfinalists = 1\nfinal_epochs = 4\n[grid]\nreg = [0.1, 0.2]\n",
            "is not more than [train] epochs = 4",
        ),
        // A ladder of absurdly many rungs is refused (it used to overflow Hyperband's bracket counts: a panic).
        (
            "[train]\nepochs = 10\n[search]\nmethod = \"hyperband\"\nmin_epochs = 1e-19\n[grid]\nreg = [0.1, 0.2]\n",
            "g.toml:7:14: search.min_epochs: min_epochs = 0.0000000000000000001 with eta = 3 gives 42 rungs up to [train] \
             epochs = 10; a ladder has at most 20: raise min_epochs to at least 0.0000000087 (or raise eta)",
        ),
        (
            "[train]\nepochs = 10\n[search]\nmethod = \"hyperband\"\nmin_epochs = 1e-19\n[grid]\nreg = { log = [1e-4, 1.0] }\n",
            "search.min_epochs: min_epochs = 0.0000000000000000001 with eta = 3 gives 42 rungs",
        ),
        (
            "[train]\nepochs = 10\n[search]\nmethod = \"tpe\"\nsamples = 4\nmin_epochs = 1e-12\n[grid]\nreg = [0.1, 0.2]\n",
            "search.min_epochs: min_epochs = 0.000000000001 with eta = 3 gives 28 rungs",
        ),
        // Hyperband's own counts beyond what can be drawn.
        (
            "[train]\nepochs = 1000\nbatch_size = 1\n[search]\nmethod = \"hyperband\"\nmin_epochs = 0.01\n[grid]\nreg = { log = [1e-4, 1.0] }\n",
            "search.min_epochs: Hyperband's brackets over 11 rungs",
        ),
        // The finalists are some of the trials.
        (
            "[train]\nepochs = 4\n[search]\nmethod = \"tpe\"\nsamples = 4\nfinalists = 10\nfinal_epochs = 8\n[grid]\nreg = { linear = [0.1, 0.2] }\n",
            "g.toml:8:13: search.finalists: finalists = 10 is more than samples = 4",
        ),
        // More samples than the lists give.
        (
            "[search]\nmethod = \"random\"\nsamples = 100\n[grid]\nreg = [0.1, 0.2]\nhidden_size = [8, 16]\nlr_decay = [0.9, 1.0]\n",
            "g.toml:5:11: search.samples: samples = 100 is more than the 8 distinct configurations",
        ),
        (
            "[search]\nmethod = \"tpe\"\nsamples = 9\n[grid]\nreg = [0.1, 0.2]\nhidden_size = [8, 16]\nlr_decay = [0.9, 1.0]\n",
            "search.samples: samples = 9 is more than the 8",
        ),
        // A first rung shorter than one step (toy data: 600 examples in batches of 200 are 3 steps an epoch).
        (
            "[train]\nepochs = 4\n[search]\nmethod = \"halving\"\nmin_epochs = 0.1\n[grid]\nreg = [0.1, 0.2]\n",
            "g.toml:7:14: search.min_epochs: min_epochs = 0.1 is less than one optimizer step: an epoch of 600 training \
             examples in batches of 200 is 3 steps",
        ),
        (
            "[train]\nepochs = 4\n[search]\nmethod = \"asha\"\nmin_epochs = 0.02\n[grid]\nbatch_size = [10, 100]\n",
            "in batches of 100 is 6 steps",
        ),
    ];
    for (body, want) in cases {
        let text = format!("[data]\nsource = \"toy\"\n{body}");
        let e = Grid::parse(Path::new("g.toml"), &text).expect_err(body).to_string();
        assert!(e.starts_with("g.toml:"), "{e}");
        assert!(e.contains(want), "{body:?}: {e}");
    }
}

/// Ranges (never running out) and as many samples as the lists give are taken; so is a rung of exactly one step.
#[test]
fn samples_and_rungs_within_bounds_are_taken() {
    for body in [
        "[search]\nmethod = \"random\"\nsamples = 8\n[grid]\nreg = [0.1, 0.2]\nhidden_size = [8, 16]\nlr_decay = [0.9, 1.0]\n",
        "[search]\nmethod = \"random\"\nsamples = 100\n[grid]\nreg = { linear = [0.1, 0.2] }\nhidden_size = [8, 16]\n",
        "[train]\nepochs = 9\n[search]\nmethod = \"halving\"\nmin_epochs = 0.33333333333333333\n[grid]\nreg = [0.1, 0.2]\n",
        "[train]\nepochs = 10\n[search]\nmethod = \"hyperband\"\nmin_epochs = 0.002\n[grid]\nreg = [0.1, 0.2]\nbatch_size = [1]\n",
        "[data]\npath = \"cifar\"\n[train]\nepochs = 4\n[search]\nmethod = \"halving\"\nmin_epochs = 0.001\n",
    ] {
        let text = if body.starts_with("[data]") {
            body.to_string()
        } else {
            format!("[data]\nsource = \"toy\"\n{body}")
        };
        Grid::parse(Path::new("g.toml"), &text).unwrap_or_else(|e| panic!("{body:?}: {e}"));
    }
}

/// ASHA promotes the best floor(n / eta) of a rung's n jobs: a grid too small for its rungs would complete no job,
/// while the plan promised one. It is refused, naming the key; a grid that fills every rung is planned with the
/// runner's own counts.
#[test]
fn asha_grids_too_small_for_their_rungs_are_refused_and_planned_counts_are_the_runners() {
    let head = "[data]\nsource = \"toy\"\n[train]\nbatch_size = 50\n";
    let eight = format!(
        "{head}epochs = 3\n[search]\nmethod = \"asha\"\nmin_epochs = 0.2\n[grid]\nreg = [0.1, 0.2]\nhidden_size = [8, 16]\n\
         lr_decay = [0.9, 1.0]\n"
    );
    let e = grid(&eight).expand().expect_err("8 jobs over 0.2, 0.6, 3").to_string();
    assert!(
        e.starts_with(
            "g.toml:8:14: search.min_epochs: asha promotes the best floor(n / eta) of the n jobs recorded at a rung: 8 \
             jobs with eta = 3 over rungs of 0.2, 0.6, 3 epochs give 8, 2, 0 jobs"
        ),
        "{e}"
    );
    assert!(e.contains("or at least 9 jobs"), "{e}");
    assert!(grid(&eight).jobs().is_err(), "plan and run read the jobs through the same check");
    let two = format!("{head}epochs = 3\n[search]\nmethod = \"asha\"\n[grid]\nreg = [0.1, 0.2]\n");
    let e = grid(&two).expand().expect_err("2 jobs over 1, 3").to_string();
    assert!(e.contains("2 jobs with eta = 3 over rungs of 1, 3 epochs give 2, 0 jobs"), "{e}");
    // min_epochs is not written: the message points at [search].
    assert!(e.starts_with("g.toml:6:1: search.min_epochs:"), "{e}");
    // TPE's batches are halved each on its own.
    let tpe = format!(
        "{head}epochs = 3\n[search]\nsampler = \"tpe\"\nscheduler = \"asha\"\nsamples = 10\nbatch = 2\nmin_epochs = 1\n\
         [grid]\nreg = {{ linear = [0.1, 0.2] }}\n"
    );
    assert!(grid(&tpe)
        .expand()
        .expect_err("batches of 2")
        .to_string()
        .contains("2 jobs in a batch"));
    // Nine jobs fill both rungs; the plan's counts are the runner's (floor), halving's stay ceil.
    let nine = grid(&two.replace("reg = [0.1, 0.2]", "reg = [0.1, 0.2, 0.3]\nhidden_size = [8, 16, 32]"));
    let jobs = nine.jobs().unwrap();
    let schedule = nine.search.schedule(&jobs, nine.seed);
    assert_eq!(nine.search.planned_counts(&schedule.brackets[0]), vec![9, 3]);
    let ten = grid(&two.replace("reg = [0.1, 0.2]", "reg = [0.1, 0.2]\nhidden_size = [8, 16, 32, 64, 128]"));
    let jobs = ten.jobs().unwrap();
    let schedule = ten.search.schedule(&jobs, ten.seed);
    assert_eq!(ten.search.planned_counts(&schedule.brackets[0]), vec![10, 3]);
    let halving = grid(&two.replace("asha", "halving"));
    let jobs = halving.jobs().unwrap();
    let schedule = halving.search.schedule(&jobs, halving.seed);
    assert_eq!(halving.search.planned_counts(&schedule.brackets[0]), vec![2, 1]);
}

#[test]
fn hyperband_brackets_follow_li_et_al() {
    // R = 27, eta = 3: s_max = 3, n = 27, 12, 6, 4 (Li et al. 2018, Table 1 with R = 81 scaled down by one rung).
    assert_eq!(hyperband::counts(3, 3), vec![27, 12, 6, 4]);
    let g = grid("seed = 4\n[data]\nsource = \"toy\"\n[train]\nepochs = 27\n[search]\nmethod = \"hyperband\"\n[grid]\nlearning_rate = { log = [1e-3, 1.0] }\nreg = { log = [1e-6, 1e-2] }\n");
    let jobs = g.jobs().unwrap();
    assert_eq!(jobs.len(), 49);
    let sched = g.search.schedule(&jobs, g.seed);
    let sizes: Vec<usize> = sched.brackets.iter().map(|b| b.jobs.len()).collect();
    assert_eq!(sizes, vec![27, 12, 6, 4]);
    let rungs: Vec<Vec<f64>> = sched.brackets.iter().map(|b| b.rungs.clone()).collect();
    assert_eq!(
        rungs,
        vec![vec![1.0, 3.0, 9.0, 27.0], vec![3.0, 9.0, 27.0], vec![9.0, 27.0], vec![27.0]]
    );
    let mut all: Vec<usize> = sched.brackets.iter().flat_map(|b| b.jobs.clone()).collect();
    all.sort_unstable();
    assert_eq!(all, (0..49).collect::<Vec<_>>(), "every job in exactly one bracket");
    assert_eq!(sched.brackets[0].planned_counts(3), vec![27, 9, 3, 1]);
}

#[test]
fn the_same_file_gives_the_same_samples_and_log_samples_cover_the_range() {
    for method in ["random", "sobol"] {
        let text = format!(
            "seed = 7\n[data]\nsource = \"toy\"\n[search]\nmethod = \"{method}\"\nsamples = 400\n[grid]\n\
             learning_rate = {{ log = [1e-4, 1.0] }}\nhidden_size = {{ log = [8, 64] }}\nreg = {{ linear = [0.0, 0.01] }}\nlr_decay = [0.9, 0.95, 1.0]\n"
        );
        let a = grid(&text).jobs().unwrap();
        let b = grid(&text).jobs().unwrap();
        assert_eq!(a, b, "{method}: same file, same jobs");
        assert_eq!(a.len(), 400, "{method}: continuous draws do not repeat");
        let other = grid(&text.replace("seed = 7", "seed = 8")).jobs().unwrap();
        assert_ne!(
            a[0].config.learning_rate, other[0].config.learning_rate,
            "{method}: the seed matters"
        );
        let lrs: Vec<f64> = a.iter().map(|j| j.config.learning_rate).collect();
        assert!(lrs.iter().all(|&x| (1e-4..=1.0).contains(&x)), "{method}: in range");
        // Log-uniform: each decade of the four gets about a quarter; both ends are reached.
        for d in 0..4 {
            let (lo, hi) = (10f64.powi(d - 4), 10f64.powi(d - 3));
            let k = lrs.iter().filter(|&&x| x >= lo && x < hi).count();
            assert!((70..=130).contains(&k), "{method}: decade {lo}..{hi} has {k} of 400");
        }
        assert!(
            lrs.iter().any(|&x| x < 1.5e-4) && lrs.iter().any(|&x| x > 0.7),
            "{method}: both ends"
        );
        let hs: HashSet<usize> = a.iter().map(|j| j.config.hidden_size).collect();
        assert!(
            hs.contains(&8) && hs.contains(&64) && hs.iter().all(|h| (8..=64).contains(h)),
            "{method}: {hs:?}"
        );
        let regs: Vec<f64> = a.iter().map(|j| j.config.reg).collect();
        assert!(regs.iter().all(|&r| (0.0..=0.01).contains(&r)));
        assert!(regs.iter().filter(|&&r| r < 0.005).count() > 150, "{method}: linear is uniform");
        let decays: HashSet<u64> = a.iter().map(|j| j.config.lr_decay.to_bits()).collect();
        assert_eq!(decays.len(), 3, "{method}: every listed value drawn");
    }
}

#[test]
fn sobol_points_are_better_spread_than_random_ones() {
    // 64 points in 1-D: a scrambled Sobol sequence puts exactly one point in each 1/64 cell.
    let text =
        |m: &str| format!("[data]\nsource = \"toy\"\n[search]\nmethod = \"{m}\"\nsamples = 64\n[grid]\nreg = {{ linear = [0.0, 1.0] }}\n");
    let cells = |m: &str| {
        let jobs = grid(&text(m)).jobs().unwrap();
        jobs.iter().map(|j| (j.config.reg * 64.0) as usize).collect::<HashSet<_>>().len()
    };
    assert_eq!(cells("sobol"), 64);
    assert!(cells("random") < 64);
}

#[test]
fn list_only_samples_are_deduplicated() {
    // (More samples than the 4 configurations are refused: see `bad_search_tables_name_the_key`.)
    let g = grid(
        "[data]\nsource = \"toy\"\n[search]\nmethod = \"random\"\nsamples = 4\n[grid]\nlearning_rate = [0.1, 0.2]\nreg = [0.0, 0.1]\n",
    );
    let jobs = g.jobs().unwrap();
    assert!(jobs.len() <= 4, "four distinct configurations at most");
    let ids: HashSet<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(ids.len(), jobs.len());
}

/// Raising `samples` keeps every earlier draw, so a sampled sweep can grow into the same results directory.
#[test]
fn more_samples_keep_the_first_ones() {
    let axes = grid("[data]\nsource = \"toy\"\n[search]\nmethod = \"random\"\nsamples = 3\n[grid]\nreg = { linear = [0.0, 1.0] }\nhidden_size = [8, 16]\n").axes;
    for sampler in SAMPLERS.into_iter().filter(|s| s.unit_points(1, 1, 0).is_some()) {
        let few = sample_configs(&TrainConfig::default(), &axes, sampler, 5, 9);
        let many = sample_configs(&TrainConfig::default(), &axes, sampler, 12, 9);
        assert_eq!(few[..], many[..5], "{}", sampler.name());
    }
}

/// `budget` alone runs the default search (multivariate TPE through halving from [train] epochs / 16), with as many
/// trials as its planned epochs allow: at most the budget, and within one trial's cost of it.
#[test]
fn budget_alone_is_the_default_search_fitted_to_it() {
    let g = grid("[train]\nepochs = 52\n[grid]\nlearning_rate = { log = [1e-3, 1e-1] }\n[search]\nbudget = 2600\n");
    let s = &g.search;
    assert!(s.is_default);
    assert_eq!((s.sampler, s.scheduler, s.batch, s.eta), ("mtpe", "halving", 9, 3));
    assert_eq!(s.min_epochs, 3.0, "52 / 16 rounded");
    assert_eq!(s.ladder(52), vec![3.0, 9.0, 52.0]);
    let samples = s.samples.unwrap();
    let planned = s.planned_epochs(samples, 52);
    assert!(planned <= 2600.0, "{planned}");
    assert!(planned > 2600.0 - 52.0, "close to the budget: {planned}");
    assert!(s.planned_epochs(samples + 1, 52) > 2600.0, "the most that fit");
    // A batch of 9: 9 x 3 + 3 x 6 + 1 x 43 epochs.
    assert_eq!(s.planned_epochs(9, 52), 88.0);
    // Budget with a method sets its samples; with samples, or with asha, it is refused by name.
    let t =
        grid("[train]\nepochs = 20\n[grid]\nlearning_rate = { log = [1e-3, 1e-1] }\n[search]\nmethod = \"tpe\"\nbatch = 4\nbudget = 200\n");
    assert!(
        !t.search.is_default && t.search.samples == Some(10),
        "10 trials of 20 epochs: {:?}",
        t.search.samples
    );
    // A space of lists holds so many configurations: a large budget proposes each once, and is not refused for
    // samples the user never wrote.
    let lists = grid("[train]\nepochs = 20\n[grid]\nlearning_rate = [0.01, 0.1]\nreg = [0.0, 0.001]\n[search]\nbudget = 10000\n");
    assert_eq!(lists.search.samples, Some(4));
    for (text, key) in [
        (
            "[search]\nbudget = 100\nsamples = 4\n[grid]\nlearning_rate = { log = [1e-3, 1e-1] }\n",
            "search.samples",
        ),
        (
            "[search]\nbudget = 100\nmethod = \"asha\"\n[grid]\nlearning_rate = { log = [1e-3, 1e-1] }\n",
            "search.budget",
        ),
        (
            "[search]\nbudget = 100\nmethod = \"grid\"\n[grid]\nlearning_rate = [0.1, 0.2]\n",
            "search.budget",
        ),
        (
            "[train]\nepochs = 50\n[search]\nbudget = 2\n[grid]\nlearning_rate = { log = [1e-3, 1e-1] }\n",
            "search.budget",
        ),
    ] {
        let e = Grid::parse(Path::new("g.toml"), text).unwrap_err().to_string();
        assert!(e.contains(key), "{text}: {e}");
    }
}

/// The default's rows do not depend on the worker count: its batches are proposed from recorded rows only (the
/// runner's test `samplers_and_schedulers_combine` runs it with 1 and 2 workers); here, the same grid proposes the
/// same first batches whatever else is parsed.
#[test]
fn default_search_is_in_the_reference() {
    assert!(SAMPLERS.iter().any(|s| s.name() == "mtpe"));
}

/// `asynchronous = true` beside `budget` is the default pair made asynchronous (mtpe through asha, at most the
/// trials whose first rung fits); with `scheduler = "asha"` or `samples` and no sampler it still proposes with mtpe.
#[test]
fn asynchronous_makes_the_default_propose_on_demand_through_asha() {
    let g = grid("[train]\nepochs = 52\n[grid]\nlearning_rate = { log = [1e-3, 1e-1] }\n[search]\nbudget = 2600\nasynchronous = true\n");
    let s = &g.search;
    assert!(s.asynchronous && s.is_default);
    assert_eq!((s.sampler, s.scheduler, s.min_epochs), ("mtpe", "asha", 3.0));
    assert_eq!(s.samples, Some(866), "2,600 / 3 epochs of a first rung");
    let written = grid(
        "[train]\nepochs = 52\n[grid]\nlearning_rate = { log = [1e-3, 1e-1] }\n[search]\nbudget = 2600\nasynchronous = true\n\
         scheduler = \"asha\"\nmin_epochs = 3\n",
    );
    assert_eq!((written.search.sampler, written.search.scheduler), ("mtpe", "asha"));
    let samples =
        grid("[train]\nepochs = 52\n[grid]\nlearning_rate = { log = [1e-3, 1e-1] }\n[search]\nsamples = 50\nasynchronous = true\n");
    assert_eq!(
        (samples.search.sampler, samples.search.scheduler, samples.search.samples),
        ("mtpe", "asha", Some(50))
    );
}
