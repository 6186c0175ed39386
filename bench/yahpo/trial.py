#!/usr/bin/env python3
"""A command trial for `sweep run` (docs/own-program.md) that "trains" a configuration of the YAHPO Gym LCBench
surrogate (Pfisterer et al. 2022, Apache 2.0; see surrogate.py) instead of a network.

Parameters (from SWEEP_PARAMS, a JSON object; then `--name=value` arguments, which win): `task` (an OpenML task id
of LCBench, e.g. 3945), the 7 hyperparameters batch_size, learning_rate, momentum, weight_decay, num_layers,
max_units, max_dropout, and `epochs` (the budget when SWEEP_BUDGET is unset, as when run by hand). Any other
parameter is refused (exit 2), so a typo in a grid does not go unnoticed.

What one run does, with sweep's environment:

* start = the epoch saved in SWEEP_CHECKPOINT_DIR/state.json when SWEEP_RESUME=1 (0 otherwise, or when the file is
  missing); budget = SWEEP_BUDGET, a whole number of epochs in 1..52 (the surrogate has no fractional epochs: a
  fractional budget, e.g. from `min_epochs = 0.5`, is refused with exit 2);
* one surrogate query for the configuration's whole curve (epochs 1..52, surrogate.curves), then, for each epoch
  e = start+1 .. budget in order, one JSON line appended to SWEEP_METRICS (or printed as `SWEEP_METRIC {...}` on
  stdout when SWEEP_METRICS is unset):
      {"epoch": e, "val_accuracy": ..., "time": ..., "val_cross_entropy": ..., "val_balanced_accuracy": ...,
       "test_cross_entropy": ..., "test_balanced_accuracy": ...}
  every value the surrogate's f32 output at epoch e widened to f64, written by Python's json (shortest repr);
  `time` is the predicted seconds of training from the start to epoch e (cumulative, so a run from start to budget
  costs time[budget] - time[start] and a trial's total is time at the last epoch it reached);
* then writes {"epoch": budget, "task": ..., "config": {...}} to state.json atomically and exits 0. On SIGTERM it
  exits 143 having saved the last epoch it reported (records are written before the checkpoint, so a crash between
  the two makes the next run report those epochs again: sweep keeps the newest record of an epoch).

The objective of the grid is `val_accuracy` (max). Run by hand: `python3 bench/yahpo/trial.py --task=3945
--batch_size=64 --learning_rate=0.01 --momentum=0.9 --weight_decay=1e-4 --num_layers=3 --max_units=256
--max_dropout=0.1 --epochs=3` prints three SWEEP_METRIC lines.
"""
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in bench/

KNOWN = {"task", "epochs", "batch_size", "learning_rate", "momentum", "weight_decay", "num_layers", "max_units",
         "max_dropout"}


def fail(message):
    print(f"trial.py: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def parse_value(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def load_params():
    params = {}
    path = os.environ.get("SWEEP_PARAMS")
    if path:
        with open(path) as f:
            params.update(json.load(f))
    for arg in sys.argv[1:]:
        if not arg.startswith("--") or "=" not in arg:
            fail(f"expected --name=value, found {arg!r}")
        name, value = arg[2:].split("=", 1)
        params[name.replace("-", "_")] = parse_value(value)
    unknown = sorted(set(params) - KNOWN)
    if unknown:
        fail(f"parameters it does not know: {', '.join(unknown)}")
    missing = sorted(KNOWN - {"epochs"} - set(params))
    if missing:
        fail(f"missing parameters: {', '.join(missing)}")
    return params


def save(path, state):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    p = load_params()
    budget_text = os.environ.get("SWEEP_BUDGET") or str(p.get("epochs", ""))
    try:
        budget_f = float(budget_text)
    except ValueError:
        fail(f"no budget: set SWEEP_BUDGET or --epochs (found {budget_text!r})")
    if budget_f != int(budget_f) or not 1 <= budget_f <= 52:
        fail(f"budget {budget_text}: the surrogate has whole epochs 1..52 only (use a whole min_epochs)")
    budget = int(budget_f)
    task = int(p["task"])
    config = {name: p[name] for name in sorted(KNOWN - {"task", "epochs"})}

    ckpt_dir = os.environ.get("SWEEP_CHECKPOINT_DIR")
    ckpt = os.path.join(ckpt_dir, "state.json") if ckpt_dir else None
    start = 0
    if ckpt and os.environ.get("SWEEP_RESUME") == "1" and os.path.exists(ckpt):
        with open(ckpt) as f:
            state = json.load(f)
        if state.get("task") != task or state.get("config") != config:
            fail(f"checkpoint {ckpt} is of another trial")
        start = int(state["epoch"])
        print(f"trial.py: resuming at epoch {start}", file=sys.stderr, flush=True)

    done = [start]

    def checkpoint():
        if ckpt:
            save(ckpt, {"epoch": done[0], "task": task, "config": config})

    def on_term(*_):
        checkpoint()
        print(f"trial.py: SIGTERM: saved at epoch {done[0]}, exiting", file=sys.stderr, flush=True)
        sys.exit(143)

    signal.signal(signal.SIGTERM, on_term)

    import surrogate  # onnxruntime's import is most of a run's time; after the cheap checks

    try:
        curve = surrogate.curves(task, [config])[0]
    except ValueError as e:
        fail(str(e))
    metrics_path = os.environ.get("SWEEP_METRICS")
    out = open(metrics_path, "a") if metrics_path else None
    for row in surrogate.rows_of(curve, range(start + 1, budget + 1)):
        line = json.dumps({"epoch": row["epoch"], "val_accuracy": row["val_accuracy"], "time": row["time"],
                           **{k: row[k] for k in surrogate.OUTPUTS if k not in ("time", "val_accuracy")}})
        if out:
            out.write(line + "\n")
            out.flush()
        else:
            print("SWEEP_METRIC " + line, flush=True)
        done[0] = row["epoch"]
    if out:
        out.close()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    done[0] = max(done[0], start)
    checkpoint()


if __name__ == "__main__":
    main()
