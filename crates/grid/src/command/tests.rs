//! Command grids: what they take and every mistake they refuse, with its file, line, column and key.

use std::path::Path;

use crate::grid::Grid;

fn refused(text: &str) -> String {
    Grid::parse(Path::new("g.toml"), text).expect_err(text).to_string()
}

const HEAD: &str = "[command]\nrun = [\"python3\", \"t.py\", \"--lr={lr}\"]\nmetric = \"val_acc\"\n";

#[test]
fn a_command_grid_takes_free_names_and_keeps_file_order() {
    let g = Grid::parse(
        Path::new("g.toml"),
        &format!(
            "{HEAD}mode = \"min\"\ntimeout_s = 1.5\ngrace_s = 0\n[train]\nepochs = 3\nopt = \"adam\"\nflag = true\n\
             [grid]\nwidth = {{ log = [16, 256], num = 5 }}\nlr = [0.1, 1e-3]\nact = [\"relu\", \"gelu\"]\n"
        ),
    )
    .unwrap();
    let c = g.command.as_ref().unwrap();
    assert_eq!(c.command.objective.mode, super::Mode::Min);
    assert_eq!(c.command.timeout, Some(std::time::Duration::from_millis(1500)));
    assert_eq!(c.command.grace, std::time::Duration::ZERO);
    assert_eq!(c.columns(), ["width", "lr", "act", "epochs", "opt", "flag"]);
    assert_eq!(c.axes[0].values, [16, 32, 64, 128, 256].map(serde_json::Value::from));
    assert_eq!(g.base_config().epochs, 3);
    assert!(g.axes.is_empty());
}

#[test]
fn every_mistake_names_file_line_column_and_key() {
    let cases: Vec<(String, &str)> = vec![
        (
            "[command]\nrun = [\"p\"]\n[train]\nepochs = 2\n".into(),
            "g.toml:1:1: command.metric: missing: name the objective",
        ),
        (
            "[command]\nmetric = \"m\"\n[train]\nepochs = 2\n".into(),
            "g.toml:1:1: command.run: missing: the program to run",
        ),
        (
            format!("{HEAD}[grid]\nlr = [0.1]\n"),
            "g.toml:1:1: train.epochs: missing: a command sweep needs the budget",
        ),
        (
            format!("{HEAD}mode = \"down\"\n[train]\nepochs = 2\n"),
            "g.toml:4:8: command.mode: expected \"max\" or \"min\"",
        ),
        (
            format!("{HEAD}timout_s = 3\n"),
            "g.toml:4:1: command.timout_s: unknown key; did you mean `timeout_s`?",
        ),
        (
            format!("{HEAD}timeout_s = 0\n"),
            "g.toml:4:13: command.timeout_s: expected a number of seconds > 0",
        ),
        (
            format!("{HEAD}timeout_s = 9223372036854775807\n"),
            "g.toml:4:13: command.timeout_s: expected a number of seconds > 0 and at most 1000000000 (about 31 years), \
             found 9223372036854775807",
        ),
        (
            "[command]\nrun = [\"p\", \"--a=1\", \"x\\u0000y\"]\nmetric = \"m\"\n[train]\nepochs = 2\n".into(),
            "g.toml:2:22: command.run: argument 2 holds a NUL byte",
        ),
        (
            format!("{HEAD}[train]\nepochs = 2\nopt = \"a\\u0000\"\n"),
            "g.toml:6:7: train.opt: a value cannot hold a NUL byte",
        ),
        (
            format!("{HEAD}[train]\nepochs = 2\n[search]\nmethod = \"random\"\nsamples = 5\n[grid]\nlr = [1, 2]\nb = [3, 4]\n"),
            "g.toml:8:11: search.samples: samples = 5 is more than the 4 distinct configurations",
        ),
        (
            format!("{HEAD}[train]\nepochs = 3\n[search]\nmethod = \"hyperband\"\nmin_epochs = 1e-19\n[grid]\nlr = [1, 2]\n"),
            "g.toml:8:14: search.min_epochs: min_epochs = 0.0000000000000000001 with eta = 3 gives 41 rungs",
        ),
        (
            "[command]\nrun = [\"p\", \"--x={width}\"]\nmetric = \"m\"\n[train]\nepochs = 2\n".into(),
            "g.toml:2:13: command.run: `run` argument 1 (`--x={width}`) names `{width}`, which is not a value",
        ),
        (
            "[command]\nrun = \"p x\"\nmetric = \"m\"\n".into(),
            "g.toml:2:7: command.run: expected a list of arguments",
        ),
        (
            format!("{HEAD}[train]\nepochs = 2.5\n"),
            "g.toml:5:10: train.epochs: epochs = 2.5 is invalid",
        ),
        (
            format!("{HEAD}[train]\nepochs = 2\nseed = 3\n"),
            "g.toml:6:1: train.seed: `seed` is the column of each trial's own seed",
        ),
        (
            format!("{HEAD}[train]\nepochs = 2\nval_acc = 3\n"),
            "train.val_acc: `val_acc` is the objective's column",
        ),
        (
            format!("{HEAD}[train]\nepochs = 2\nstatus = 3\n"),
            "train.status: `status` is a column results.csv has",
        ),
        (
            format!("{HEAD}[train]\nepochs = 2\nx = nan\n"),
            "g.toml:6:5: train.x: NaN is not a finite number",
        ),
        (
            format!("{HEAD}[train]\nepochs = 2\nx = [1, 2]\n"),
            "train.x: a fixed value is a number, a string or a boolean",
        ),
        (
            format!("{HEAD}[train]\nepochs = 2\n[grid]\nlr = []\n"),
            "g.toml:7:6: grid.lr: the axis is empty",
        ),
        (
            format!("{HEAD}[train]\nepochs = 2\n[grid]\nlr = [1, 1]\n"),
            "grid.lr: 1 is listed twice",
        ),
        (
            format!("{HEAD}[train]\nepochs = 2\n[grid]\nlr = [[1]]\n"),
            "grid.lr: expected a number, a string or a boolean",
        ),
        (
            format!("{HEAD}[train]\nepochs = 2\n[grid]\nlr = {{ log = [0, 1] }}\n"),
            "grid.lr: log-spaced bounds must be > 0",
        ),
        (
            format!("{HEAD}[train]\nepochs = 2\n[grid]\nlr = {{ log = [1e-3, 1] }}\n"),
            "grid.lr.num: missing",
        ),
        (
            format!("{HEAD}[train]\nepochs = 2\nlr = 1\n[grid]\nlr = [1]\n"),
            "grid.lr: `lr` is both fixed in [train] (line 6)",
        ),
        (
            format!("{HEAD}[train]\nepochs = 2\n[grid]\n\"a b\" = [1]\n"),
            "grid.a b: `a b` cannot name a value",
        ),
        (
            format!("{HEAD}[data]\npath = \"x\"\n[train]\nepochs = 2\n"),
            "g.toml:4:2: data: a command sweep's program reads its own data",
        ),
        (
            format!("{HEAD}[search]\nmethod = \"halving\"\n[grid]\nepochs = [1, 2]\nlr = [1]\n"),
            "grid.epochs: halving decides how long each job trains",
        ),
        (
            format!("{HEAD}[train]\nepochs = 2\n[grid]\nlr = {{ linear = [1, 4], num = 9 }}\n"),
            "9 values from 1 to 4 give 1 twice after rounding to whole numbers (write the bounds as 1.0, 2.0 for real numbers)",
        ),
        (
            format!(
                "{HEAD}[train]\nepochs = 2\n[search]\nmethod = \"tpe\"\nsamples = 4\nfinalists = 1\nfinal_epochs = 5\n\
                 [grid]\nlr = [1, 2, 3, 4]\n"
            ),
            "search.finalists: a command sweep has no finalists",
        ),
    ];
    for (text, want) in cases {
        let e = refused(&text);
        assert!(e.contains(want), "grid:\n{text}\nwanted: {want}\ngot: {e}");
    }
}

#[test]
fn gpus_takes_whole_devices_or_a_share_of_one() {
    let gpus = |v: &str| {
        let g = Grid::parse(
            Path::new("g.toml"),
            &format!("{HEAD}gpus = {v}\n[train]\nepochs = 2\n[grid]\nlr = [1, 2]\n"),
        )
        .unwrap();
        g.command.unwrap().command.gpus.unwrap()
    };
    let two = gpus("2");
    assert_eq!((two.devices(), two.trials_per_device(), two.capacity(5)), (2, 1, 2));
    assert_eq!(two.pos, (4, 8));
    let half = gpus("0.5");
    assert_eq!((half.devices(), half.trials_per_device(), half.capacity(3)), (1, 2, 6));
    let third = gpus("0.3333333333333333");
    assert_eq!(third.trials_per_device(), 3);
    let one = gpus("1.0");
    assert_eq!((one.devices(), one.capacity(4)), (1, 4));
    let none = Grid::parse(Path::new("g.toml"), &format!("{HEAD}[train]\nepochs = 2\n[grid]\nlr = [1, 2]\n")).unwrap();
    assert_eq!(none.command.unwrap().command.gpus, None);
    for (v, want) in [
        ("0", "g.toml:4:8: command.gpus: gpus = 0: give at least a share of one device"),
        ("-1", "g.toml:4:8: command.gpus: gpus = -1: give at least a share of one device"),
        (
            "1.5",
            "g.toml:4:8: command.gpus: gpus = 1.5: above 1 a trial takes whole devices; give 1 or 2",
        ),
        (
            "\"all\"",
            "g.toml:4:8: command.gpus: expected the GPUs each trial gets, a number such as 1, 2 or 0.5",
        ),
        ("nan", "g.toml:4:8: command.gpus: expected the GPUs each trial gets"),
        ("4096", "g.toml:4:8: command.gpus: gpus = 4096: at most 1024 devices per trial"),
    ] {
        let text = format!("{HEAD}gpus = {v}\n[train]\nepochs = 2\n[grid]\nlr = [1, 2]\n");
        let got = refused(&text);
        assert!(got.starts_with(want), "gpus = {v}: {got}");
    }
}
