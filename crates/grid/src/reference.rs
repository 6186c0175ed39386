//! The reference of every key a grid file takes, generated from the definitions the parser itself reads: the
//! parameter table (`assets/params.toml`), the search's key table and its samplers and schedulers, and the keys of
//! `[data]` and `[command]`. `docs/reference.md` is this text; a test fails when it is stale (regenerate it with
//! `SWEEP_BLESS=1 cargo test -p sweep-grid reference`).

use std::fmt::Write;

use sweep_core::TrainConfig;
use sweep_params::params::{params, Kind};
use sweep_search::{SAMPLERS, SCHEDULERS, SETTINGS};

use crate::command::COMMAND_KEYS;
use crate::grid::{DATA_KEYS, TOP_KEYS};

/// What each top-level, `[data]` and `[command]` key does (the parser's key lists say which exist; a test checks that
/// each has its line here).
const ABOUT: [(&str, &str); 19] = [
    ("name", "the sweep's name: the folder under `results/` (a plain folder name)"),
    (
        "seed",
        "the sweep seed: every draw (data split, initialization, samples, proposals) derives from it",
    ),
    (
        "objectives",
        "several metrics at once, each with its direction, in the order written: `objectives = { val_acc = \"max\", \
         seconds = \"min\" }`. Trials are then compared by Pareto dominance (halving, Hyperband and ASHA keep the \
         best non-dominated ranks, ties by crowding distance; TPE's good group is chosen by rank and hypervolume \
         contribution); results.csv gains `pareto_rank` and best.json the front. The first objective picks a trial's \
         best epoch, the others are read at it. A command sweep names keys of its program's records (in place of \
         `metric` and `mode`); the built-in network measures `val_acc` (max), `seconds` (min), `params` (min) and \
         `predict_s` (min). At most 4; one objective is exactly a single-objective sweep",
    ),
    ("data", "the `[data]` table: where the data come from and how they are split"),
    ("train", "the `[train]` table: parameters every job shares (any parameter below)"),
    (
        "grid",
        "the `[grid]` table: the axes, one parameter each (a list, a spaced range, or a continuous range)",
    ),
    ("search", "the `[search]` table: the sampler and the fidelity scheduler"),
    (
        "command",
        "the `[command]` table: a program of yours as the trial, instead of the built-in network",
    ),
    (
        "data.path",
        "CIFAR-10: the official binary folder, its .tar.gz, or an image folder `train|test/<class>/*.jpg`",
    ),
    ("data.source", "`\"toy\"`: the synthetic toy problem, no files needed"),
    ("data.val_size", "images held out of the training split for validation"),
    ("data.train_size", "train on the first N images of the (shuffled) training split"),
    ("data.test_size", "evaluate the best model on N test images"),
    ("command.run", "the program and its arguments (`{name}` is replaced by a value)"),
    (
        "command.metric",
        "the key of the program's records that ranks the trials (or the grid's `objectives`, for several)",
    ),
    ("command.mode", "`\"max\"` or `\"min\"`: the metric's direction"),
    (
        "command.timeout_s",
        "a trial running longer than this is stopped and recorded as failed",
    ),
    (
        "command.grace_s",
        "seconds between SIGTERM and SIGKILL when a trial is stopped (default 30)",
    ),
    (
        "command.gpus",
        "GPUs each trial gets, its own in `CUDA_VISIBLE_DEVICES` (a fraction such as 0.5 shares one device); \
         see [gpus.md](gpus.md)",
    ),
];

fn about(key: &str) -> String {
    ABOUT
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(String::new(), |(_, a)| a.replace('|', "\\|"))
}

/// `docs/reference.md`.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Grid file reference\n\nGenerated from the definitions the parser reads (`crates/params/assets/params.toml`, \
         the search's key table, the samplers and schedulers it lists, and the `[data]` and `[command]` key lists); \
         do not edit by hand: `SWEEP_BLESS=1 cargo test -p sweep-grid reference` regenerates it, and the test fails \
         when it is stale. How to use them: [grids.md](grids.md), [search.md](search.md), \
         [own-program.md](own-program.md).\n\n## Top level\n\n| key | what |\n| --- | --- |\n",
    );
    for k in TOP_KEYS {
        let _ = writeln!(out, "| `{k}` | {} |", about(k));
    }
    out.push_str("\n## `[data]`\n\n| key | what |\n| --- | --- |\n");
    for k in DATA_KEYS {
        let _ = writeln!(out, "| `{k}` | {} |", about(&format!("data.{k}")));
    }
    out.push_str(
        "\n## Parameters: `[train]` and `[grid]`\n\nEach is a key of `[train]` (one value for every job) or of `[grid]` \
         (an axis). The default is the built-in network's.\n\n| parameter | kind | default | what (valid range) | only when |\n\
         | --- | --- | --- | --- | --- |\n",
    );
    let defaults = TrainConfig::default();
    for p in params() {
        let kind = match &p.kind {
            Kind::Int => "integer".to_string(),
            Kind::Float => "number".to_string(),
            Kind::Choice(names) => names.iter().map(|n| format!("`\"{n}\"`")).collect::<Vec<_>>().join(", "),
            Kind::Init => "number, or `\"kaiming\"`".to_string(),
        };
        let only = p.only_when.as_ref().map_or(String::new(), |c| {
            format!(
                "{} is {}",
                c.param,
                c.values.iter().map(|v| format!("`\"{v}\"`")).collect::<Vec<_>>().join(" or ")
            )
        });
        let _ = writeln!(
            out,
            "| `{}` | {kind} | `{}` | {} | {only} |",
            p.name,
            p.get(&defaults),
            p.help.replace('|', "\\|")
        );
    }
    out.push_str("\n## `[search]`\n\n| key | what |\n| --- | --- |\n");
    for (k, what) in SETTINGS {
        let what = what.replace("SAMPLERS", "below").replace("SCHEDULERS", "below");
        let _ = writeln!(out, "| `{k}` | {} |", what.replace('|', "\\|"));
    }
    out.push_str("\n### Samplers (`sampler`): what to try\n\n| name | what |\n| --- | --- |\n");
    for s in SAMPLERS {
        let _ = writeln!(out, "| `{}` | {} |", s.name(), s.about());
    }
    out.push_str("\n### Schedulers (`scheduler`): when to stop\n\n| name | what |\n| --- | --- |\n");
    for s in SCHEDULERS {
        let _ = writeln!(out, "| `{}` | {} |", s.name(), s.about());
    }
    out.push_str("\n## `[command]`\n\n| key | what |\n| --- | --- |\n");
    for k in COMMAND_KEYS {
        let _ = writeln!(out, "| `{k}` | {} |", about(&format!("command.{k}")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_the_parser_takes_is_described() {
        let keys = TOP_KEYS
            .iter()
            .map(|k| k.to_string())
            .chain(DATA_KEYS.iter().map(|k| format!("data.{k}")))
            .chain(COMMAND_KEYS.iter().map(|k| format!("command.{k}")));
        for k in keys {
            assert!(!about(&k).is_empty(), "{k} has no line in reference.rs's ABOUT");
        }
    }

    /// `docs/reference.md` is what [`markdown`] writes: adding a parameter, a search key, a sampler or a scheduler
    /// without regenerating it fails here.
    #[test]
    fn reference_md_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/reference.md");
        let want = markdown();
        if std::env::var_os("SWEEP_BLESS").is_some() {
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "{} is stale: run `SWEEP_BLESS=1 cargo test -p sweep-grid reference` and commit it",
            path.display()
        );
    }
}
