#!/usr/bin/env python3
"""A training program that honours sweep's command-trial contract, with nothing but Python's standard library.

It trains a logistic regression on a synthetic, seeded data set (the same for every trial) with minibatch SGD and a
per-epoch learning-rate decay, so its validation accuracy depends on its parameters; an epoch takes a few
milliseconds. What it does with sweep's environment:

* reads its parameters from SWEEP_PARAMS (a JSON object), then from `--name=value` arguments, which win;
* trains to SWEEP_BUDGET epochs (fractional budgets end mid-epoch, at the nearest minibatch) and reports a record
  after every epoch and at the budget, `{"epoch": ..., "val_acc": ..., "train_acc": ..., "loss": ..., "lr": ...}`,
  appended to SWEEP_METRICS (or printed as `SWEEP_METRIC {json}` lines: `report = "stdout"` or `"both"`);
* saves its state to SWEEP_CHECKPOINT_DIR/state.json (atomically) after every epoch, at the budget and on SIGTERM,
  and continues from it when SWEEP_RESUME=1: each epoch's data order derives from the seed and the epoch alone, so a
  paused and resumed trial reports exactly the numbers of an uninterrupted one;
* exits 0 at its budget, 143 after saving on SIGTERM.

Without SWEEP_BUDGET it trains `epochs` epochs and prints its records, so it also runs by hand:
`python3 examples/light/train.py --lr=0.3 --epochs=5 --report=stdout`.

Misbehaviour, for tests (parameters like any other, so a grid can set them): `fail_at = E` (exit 3 with a traceback
on stderr when epoch E starts), `exit_early_at = E` (exit 0 after reporting epoch E), `hang_at = E` (sleep forever
after reporting epoch E), `crash_at = E` (SIGKILL itself after reporting epoch E, before saving it), `nan_at = E`
(every value NaN from epoch E on: diverged), `garbage = true` (malformed lines among the records, in both places),
`ignore_sigterm = true`, `sleep = S` (seconds per epoch), `spawn_child = true` (start a `sleep` that never ends: a
grandchild for the no-orphan tests; its pid is printed on stderr).
"""
import json
import math
import os
import random
import signal
import subprocess
import sys
import time

DEFAULTS = {
    "lr": 0.5,
    "reg": 1e-3,
    "lr_decay": 0.95,
    "epochs": 10,
    "batch_size": 32,
    "seed": 0,
    "n_train": 512,
    "n_val": 256,
    "dim": 16,
    "noise": 0.5,
    "report": "file",
    "fail_at": None,
    "exit_early_at": None,
    "hang_at": None,
    "crash_at": None,
    "nan_at": None,
    "garbage": False,
    "ignore_sigterm": False,
    "sleep": 0.0,
    "spawn_child": False,
}


def parse_value(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def load_params():
    params = dict(DEFAULTS)
    path = os.environ.get("SWEEP_PARAMS")
    if path:
        with open(path) as f:
            params.update(json.load(f))
    for arg in sys.argv[1:]:
        if not arg.startswith("--") or "=" not in arg:
            sys.exit(f"train.py: expected --name=value, found {arg!r}")
        name, value = arg[2:].split("=", 1)
        params[name.replace("-", "_")] = parse_value(value)
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        print(f"train.py: ignoring parameters it does not know: {', '.join(unknown)}", file=sys.stderr)
    return params


def make_data(p):
    """The same data for every trial: a noisy linear boundary in `dim` dimensions."""
    rng = random.Random(12345)
    truth = [rng.gauss(0, 1) for _ in range(p["dim"])]

    def draw(n):
        xs, ys = [], []
        for _ in range(n):
            x = [rng.gauss(0, 1) for _ in range(p["dim"])]
            ys.append(1.0 if sum(a * b for a, b in zip(truth, x)) + p["noise"] * rng.gauss(0, 1) > 0 else 0.0)
            xs.append(x)
        return xs, ys

    return draw(p["n_train"]), draw(p["n_val"])


def sigmoid(z):
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def evaluate(w, b, xs, ys, reg):
    loss, right = 0.0, 0
    for x, y in zip(xs, ys):
        z = sum(a * c for a, c in zip(w, x)) + b
        q = min(max(sigmoid(z), 1e-12), 1 - 1e-12)
        loss -= y * math.log(q) + (1 - y) * math.log(1 - q)
        right += (z > 0) == (y > 0.5)
    return loss / len(xs) + 0.5 * reg * sum(a * a for a in w), right / len(xs)


def save(path, state):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    p = load_params()
    budget_text = os.environ.get("SWEEP_BUDGET")
    budget = float(budget_text) if budget_text else float(p["epochs"])
    ckpt_dir = os.environ.get("SWEEP_CHECKPOINT_DIR")
    ckpt = os.path.join(ckpt_dir, "state.json") if ckpt_dir else None
    metrics_path = os.environ.get("SWEEP_METRICS")
    mode = p["report"] if metrics_path else "stdout"
    metrics = open(metrics_path, "a") if metrics_path and mode in ("file", "both") else None

    terminated = []
    if p["ignore_sigterm"]:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: terminated.append(True))
    if p["spawn_child"]:
        child = subprocess.Popen(["sleep", "100000"])
        print(f"train.py: started child {child.pid}", file=sys.stderr, flush=True)

    (xs, ys), (xv, yv) = make_data(p)
    per_epoch = math.ceil(len(xs) / p["batch_size"])
    last_step = max(1, round(budget * per_epoch))
    init = random.Random(p["seed"])
    state = {"step": 0, "w": [init.gauss(0, 0.01) for _ in range(p["dim"])], "b": 0.0}
    if ckpt and os.environ.get("SWEEP_RESUME") == "1" and os.path.exists(ckpt):
        with open(ckpt) as f:
            state = json.load(f)
        print(f"train.py: resuming at epoch {state['step'] / per_epoch:g}", file=sys.stderr, flush=True)

    def report(epoch, lr):
        loss, train_acc = evaluate(state["w"], state["b"], xs, ys, p["reg"])
        _, val_acc = evaluate(state["w"], state["b"], xv, yv, p["reg"])
        rec = {"epoch": epoch, "val_acc": val_acc, "train_acc": train_acc, "loss": loss, "lr": lr}
        if p["nan_at"] is not None and epoch >= p["nan_at"]:
            rec.update(val_acc=float("nan"), train_acc=float("nan"), loss=float("nan"))
        line = json.dumps(rec)
        if p["garbage"]:
            garbage = ["epoch %s val_acc %s" % (epoch, val_acc), '{"epoch": %s, "val_acc": ' % epoch, "[1, 2, 3]"]
            if metrics:
                metrics.write("\n".join(garbage) + "\n")
            print("SWEEP_METRIC " + garbage[1], flush=True)
            print("progress: 100%|##########| noise without the marker", flush=True)
        if metrics:
            metrics.write(line + "\n")
            metrics.flush()
        if mode in ("stdout", "both"):
            print("SWEEP_METRIC " + line, flush=True)

    while state["step"] < last_step:
        step = state["step"]
        epoch, k = step // per_epoch + 1, step % per_epoch
        if k == 0 and p["fail_at"] is not None and epoch >= p["fail_at"]:
            print("Traceback (most recent call last):\n  File \"train.py\", in main", file=sys.stderr)
            print(f"RuntimeError: failing at epoch {epoch} as asked (fail_at)", file=sys.stderr, flush=True)
            sys.exit(3)
        if k == 0 and p["sleep"]:
            time.sleep(p["sleep"])
        if terminated:
            if ckpt:
                save(ckpt, state)
            print(f"train.py: SIGTERM: saved at epoch {step / per_epoch:g}, exiting", file=sys.stderr, flush=True)
            sys.exit(143)
        lr = p["lr"] * p["lr_decay"] ** (epoch - 1)
        order = list(range(len(xs)))
        random.Random(p["seed"] * 1_000_003 + epoch).shuffle(order)
        batch = order[k * p["batch_size"] : (k + 1) * p["batch_size"]]
        gw, gb = [0.0] * p["dim"], 0.0
        for i in batch:
            err = sigmoid(sum(a * c for a, c in zip(state["w"], xs[i])) + state["b"]) - ys[i]
            gw = [g + err * c for g, c in zip(gw, xs[i])]
            gb += err
        n = len(batch)
        state["w"] = [a - lr * (g / n + p["reg"] * a) for a, g in zip(state["w"], gw)]
        state["b"] -= lr * gb / n
        state["step"] = step + 1
        if state["step"] == last_step:
            done = budget  # the last record is at the budget exactly, even where it ends mid-epoch
        elif state["step"] % per_epoch == 0:
            done = state["step"] // per_epoch
        else:
            continue
        done = int(done) if float(done).is_integer() else done
        report(done, lr)
        if p["exit_early_at"] is not None and done >= p["exit_early_at"] and done < budget:
            print(f"train.py: exiting early at epoch {done:g} as asked (exit_early_at)", file=sys.stderr, flush=True)
            sys.exit(0)
        if p["crash_at"] is not None and done >= p["crash_at"] and os.environ.get("SWEEP_RESUME") != "1":
            os.kill(os.getpid(), signal.SIGKILL)
        if ckpt:
            save(ckpt, state)
        if p["hang_at"] is not None and done >= p["hang_at"] and done < budget:
            print(f"train.py: hanging at epoch {done:g} as asked (hang_at)", file=sys.stderr, flush=True)
            while True:
                time.sleep(3600)
    if metrics:
        metrics.close()


if __name__ == "__main__":
    main()
