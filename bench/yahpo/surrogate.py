"""The YAHPO Gym LCBench surrogate (Pfisterer et al., AutoML Conf 2022; Apache 2.0), read with onnxruntime.

The data: ../shared/benchmarks/yahpo-lcbench/ (or $YAHPO_LCBENCH). The one place that queries the model, for
trial.py (sweep's command trials) and optuna_side.py alike: `evaluate(3945, config_dict, [1, 2, 3])` gives rows
{"epoch", "time", "val_accuracy", ...}.

How a query is made (what an in-process reimplementation, e.g. sweep's Rust side, must do to get the same bits):

* one InferenceSession per process on CPUExecutionProvider, intra- and inter-op threads 1, sequential execution,
  onnxruntime's default graph optimizations;
* inputs `x_cat` int32 [n, 1] = encoding.json["OpenML_task_id"][str(task)], and `x_cont` float32 [n, 8] =
  (epoch, batch_size, learning_rate, momentum, weight_decay, num_layers, max_units, max_dropout), each the Python
  float (f64) of the value rounded to the nearest f32 (numpy's astype(float32), Rust's `as f32`), no scaling;
* always a configuration's whole curve: 52 rows, epochs 1..52 (configurations stacked as 52-row blocks), the
  epochs asked picked from it: onnxruntime's CPU kernels change a row's last bits with the batch's row count (the
  7th row of a 7-row batch differs from the same query among 52 by 1e-7 relative);
* output float32 [n, 6]: time, val_accuracy, val_cross_entropy, val_balanced_accuracy, test_cross_entropy,
  test_balanced_accuracy; each is widened to f64 exactly (`float(np.float32)`, Rust's `f64::from(f32)`).

One session.run per call. A configuration's rows are the same alone, with any epochs asked, and stacked with 200
others (`python3 surrogate.py --check`).
"""

import json
import math
import os
import sys

import numpy as np
import onnxruntime as ort

DATA = os.environ.get(
    "YAHPO_LCBENCH",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "benchmarks", "yahpo-lcbench"),
)

# The model's continuous inputs after `epoch`, in its order.
PARAMS = ("batch_size", "learning_rate", "momentum", "weight_decay", "num_layers", "max_units", "max_dropout")
# Its outputs, in order.
OUTPUTS = ("time", "val_accuracy", "val_cross_entropy", "val_balanced_accuracy", "test_cross_entropy",
           "test_balanced_accuracy")
# The search space of config_space.json: (low, high, integer, log).
SPACE = {
    "batch_size": (16, 512, True, True),
    "learning_rate": (1e-4, 0.1, False, True),
    "momentum": (0.1, 0.99, False, False),
    "weight_decay": (1e-5, 0.1, False, False),
    "num_layers": (1, 5, True, False),
    "max_units": (64, 1024, True, True),
    "max_dropout": (0.0, 1.0, False, False),
}
MAX_EPOCH = 52
# The 26 tasks for development and tuning (the shared README's list); the other 8 are kept for evaluation.
DEV_TASKS = (3945, 7593, 34539, 126026, 126029, 167104, 167149, 167152, 167168, 167181, 167184, 167185, 167190,
             167200, 168329, 168331, 168335, 168868, 168908, 168910, 189862, 189865, 189866, 189873, 189905, 189908)

_session = None
_encoding = None


def session():
    """The process's one InferenceSession (CPU, one thread), created on first use."""
    global _session, _encoding
    if _session is None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        _session = ort.InferenceSession(os.path.join(DATA, "model.onnx"), sess_options=opts,
                                        providers=["CPUExecutionProvider"])
        with open(os.path.join(DATA, "encoding.json")) as f:
            _encoding = json.load(f)["OpenML_task_id"]
    return _session


def task_index(task):
    session()
    key = str(task)
    if key not in _encoding or key == "#na#":
        raise ValueError(f"unknown LCBench task {task!r}")
    return _encoding[key]


def check_config(config):
    """The 7 values as floats, in the model's order; ValueError for a missing, unknown or out-of-range one."""
    unknown = sorted(set(config) - set(PARAMS))
    if unknown:
        raise ValueError(f"not LCBench hyperparameters: {', '.join(unknown)}")
    values = []
    for name in PARAMS:
        if name not in config:
            raise ValueError(f"missing hyperparameter {name}")
        v = float(config[name])
        low, high, integer, _ = SPACE[name]
        if not math.isfinite(v) or v < low * (1 - 1e-9) or v > high * (1 + 1e-9):
            raise ValueError(f"{name} = {config[name]!r} is outside [{low}, {high}]")
        if integer and v != round(v):
            raise ValueError(f"{name} = {config[name]!r} is not a whole number")
        values.append(v)
    return values


def curves(task, configs):
    """Each configuration's whole curve (epochs 1..52), one session.run: float32 [len(configs), 52, 6]."""
    cont = []
    for config in configs:
        values = check_config(config)
        cont.extend([float(e)] + values for e in range(1, MAX_EPOCH + 1))
    if not cont:
        return np.zeros((0, MAX_EPOCH, len(OUTPUTS)), dtype=np.float32)
    x_cont = np.asarray(cont, dtype=np.float64).astype(np.float32)
    x_cat = np.full((len(cont), 1), task_index(task), dtype=np.int32)
    out = session().run(None, {"x_cat": x_cat, "x_cont": x_cont})[0]
    return out.reshape(len(configs), MAX_EPOCH, len(OUTPUTS))


def rows_of(curve, epochs):
    """Rows of one configuration's curve (float32 [52, 6]) at `epochs`: dicts with epoch, then OUTPUTS as floats."""
    rows = []
    for e in epochs:
        if e != int(e) or not 1 <= e <= MAX_EPOCH:
            raise ValueError(f"epoch {e!r}: the surrogate knows whole epochs 1..{MAX_EPOCH}")
        row = {"epoch": int(e)}
        row.update((name, float(v)) for name, v in zip(OUTPUTS, curve[int(e) - 1]))
        rows.append(row)
    return rows


def evaluate_many(task, queries):
    """queries: a list of (config_dict, epochs_list). One session.run for all; one list of rows per query."""
    out = curves(task, [config for config, _ in queries])
    return [rows_of(curve, epochs) for curve, (_, epochs) in zip(out, queries)]


def evaluate(task, config, epochs):
    """Rows of one configuration at `epochs` (whole, 1..52): [{"epoch": e, "time": s, "val_accuracy": pct, ...}];
    `time` is the predicted seconds of training up to that epoch (cumulative), val_accuracy in percent."""
    return evaluate_many(task, [(config, list(epochs))])[0]


def _check():
    """Rows do not depend on their batch (alone, some epochs, among 200 configurations); times a call."""
    import random
    import time

    rng = random.Random(1)

    def draw():
        c = {}
        for name, (low, high, integer, log) in SPACE.items():
            v = math.exp(rng.uniform(math.log(low), math.log(high))) if log else rng.uniform(low, high)
            c[name] = int(round(v)) if integer else v
        return c

    configs = [draw() for _ in range(200)]
    bad = 0
    for task in DEV_TASKS[:3]:
        together = evaluate_many(task, [(c, range(1, 53)) for c in configs])
        for c, rows in list(zip(configs, together))[:20]:
            alone = evaluate(task, c, range(1, 53))
            single = [evaluate(task, c, [e])[0] for e in (1, 17, 52)] + evaluate(task, c, range(4, 11))
            bad += alone != rows
            bad += single != [rows[0], rows[16], rows[51]] + rows[3:10]
    c = configs[0]
    t = time.perf_counter()
    for _ in range(200):
        evaluate(DEV_TASKS[0], c, range(1, 53))
    per = (time.perf_counter() - t) / 200
    rows = evaluate(DEV_TASKS[0], c, range(1, 53))
    nonmono = sum(b["time"] < a["time"] for a, b in zip(rows, rows[1:]))
    print(f"batch independence: {'ok' if bad == 0 else f'{bad} MISMATCHES'}; one call of 52 epochs: "
          f"{per * 1e3:.2f} ms; time decreasing between epochs in {nonmono} of 51 steps of one configuration")
    return bad == 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        sys.exit(0 if _check() else 1)
    sys.exit("usage: surrogate.py --check")
