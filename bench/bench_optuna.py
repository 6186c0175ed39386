"""The Optuna side of bench/bench-vs-optuna.sh: one Optuna study on the report's Table III space, timed from the
process start (data loading included) until a wall budget.

Optuna as its users run it: the default TPESampler(seed=SEED), HyperbandPruner() with its defaults on the validation
accuracy reported after every epoch (step = epoch - 1, as in Optuna's PyTorch example), `study.optimize(n_jobs=2)`
(two trials at a time in threads) with torch.set_num_threads(1). Each trial trains the report's two-layer net
(affine - ReLU - affine, softmax cross-entropy + 0.5 * reg * (|W1|^2 + |W2|^2), plain minibatch SGD with the L2
gradient as weight_decay on W1 and W2, batch 200,
Kaiming-normal weights, zero biases, lr * lr_decay^(epoch - 1) in epoch e) for up to 25 epochs on the data that
`sweep run` trains on (the .npy files of crates/core/examples/export_split.rs), and returns its best validation
accuracy. A trial whose minibatch loss is not finite or above 10 times its first one (or 1) is pruned after reporting
chance accuracy for that epoch, as sweep stops a diverged job.

Every event goes to OUT/events.jsonl (one JSON object a line, appended and flushed; "t" is seconds since the process
started, "cpu" the CPU seconds the process has used so far, all threads): start, loaded, trial_start (params), epoch (val_acc, loss, seconds), trial_end (complete / pruned /
diverged / budget), load (the load average every 30 s: other processes on the machine), test, end. A completed trial
that beats every trial completed before it keeps its best epoch's weights (OUT/weights/trial-N.npz); when the budget
is over their test accuracies are computed and logged, so "the best completed trial at time T" has a test accuracy
for every T. At the budget the running trials are stopped (logged as `budget`, not complete).

With --grid GRID (what bench-vs-optuna.sh passes: sweep's search of the same run), the trials train the model that
the grid's [train] fixes, so that the two tools search the same space for the same model: its epochs (the trials'
budget, unless --epochs is given), batch_size, optimizer ("sgd", "momentum" or "nesterov", as torch.optim.SGD with
that momentum and nesterov=True for "nesterov") and flip (each training image of a batch flipped left-right with that
probability, drawn from the trial's generator; on the mean-subtracted pixels, where sweep flips the raw pixels and
subtracts the mean after, a difference of the mean image's left-right asymmetry). A [train] key it does not
implement, or a [grid] that is not the four Table III axes with their values, is refused rather than ignored.
Without --grid: plain SGD, batch 200, 25 epochs, no flips (the baseline of issue 20).

Usage: bench_optuna.py --data SPLITDIR --seed S --budget SECONDS --out DIR [--grid GRID] [--epochs E] [--n-jobs 2]
"""

import time

T0 = time.time()  # before the heavy imports: the run's clock includes them and the data loading

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import tomllib  # noqa: E402

import numpy as np  # noqa: E402
import optuna  # noqa: E402
import torch  # noqa: E402

# The report's Table III, in its order (suggest_categorical over exactly these values).
SPACE = {
    "learning_rate": [5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 1.0],
    "reg": [1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 1e-5],
    "hidden_size": [16, 32, 64, 128, 256, 512, 1024],
    "lr_decay": [1.0, 0.99, 0.98, 0.97, 0.95, 0.92],
}
# The training recipe without --grid (the report's: plain SGD, batch 200, no augmentation, 25 epochs).
PLAIN = {"epochs": 25, "batch_size": 200, "optimizer": "sgd", "momentum": 0.0, "flip": 0.0}
# The TPE settings worth recording with each run (Optuna's defaults change between releases).
# A minibatch loss above this many times the first one (or 1, if larger) is divergence, as in sweep_core::train.
DIVERGENCE_FACTOR = 10.0
SAMPLER_SETTINGS = ("_n_startup_trials", "_n_ei_candidates", "_multivariate", "_group", "_constant_liar", "_gamma")


class Log:
    """events.jsonl, one line per event, appended and flushed (several trial threads write to it)."""

    def __init__(self, path):
        self.f = open(path, "a", buffering=1)
        self.lock = threading.Lock()

    def __call__(self, event, **fields):
        # cpu: this process's CPU seconds so far (all threads), a clock that other load on the machine slows less.
        row = {"t": round(time.time() - T0, 3), "cpu": round(time.process_time(), 3), "event": event, **fields}
        with self.lock:
            self.f.write(json.dumps(row) + "\n")
            self.f.flush()


def recipe_from_grid(path):
    """The fixed training settings of sweep's grid file, refusing what this script does not implement."""
    with open(path, "rb") as f:
        grid = tomllib.load(f)
    train = dict(grid.get("train", {}))
    unknown = sorted(set(train) - set(PLAIN))
    if unknown:
        sys.exit(f"{path}: [train] {', '.join(unknown)}: bench_optuna.py does not implement these, so the two tools would train different models; remove them from the grid or implement them here")
    axes = grid.get("grid", {})
    if {k: [float(v) for v in vs] for k, vs in axes.items()} != {k: [float(v) for v in vs] for k, vs in SPACE.items()}:
        sys.exit(f"{path}: [grid] is not the report's Table III space ({SPACE}); this benchmark compares searches of that space")
    recipe = {**PLAIN, "momentum": 0.9 if train.get("optimizer", "sgd") != "sgd" else 0.0, **train}
    if recipe["optimizer"] not in ("sgd", "momentum", "nesterov"):
        sys.exit(f"{path}: [train] optimizer = {recipe['optimizer']!r}: bench_optuna.py implements sgd, momentum and nesterov")
    if recipe["optimizer"] == "sgd":
        recipe["momentum"] = 0.0
    return recipe


def load(split_dir):
    z = {k: np.load(os.path.join(split_dir, f"{k}.npy")) for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
    x = {k: torch.from_numpy(v) for k, v in z.items() if k.startswith("x_")}
    y = {k: torch.from_numpy(v.astype(np.int64)) for k, v in z.items() if k.startswith("y_")}
    return x, y


def accuracy(x, y, w1, b1, w2, b2):
    with torch.no_grad():
        return ((torch.relu(x @ w1 + b1) @ w2 + b2).argmax(1) == y).float().mean().item()


class Run:
    def __init__(self, args, log):
        self.args, self.log = args, log
        self.deadline = T0 + args.budget
        self.recipe = recipe_from_grid(args.grid) if args.grid else dict(PLAIN)
        self.epochs = args.epochs or self.recipe["epochs"]
        self.x, self.y = load(args.data)
        self.lock = threading.Lock()
        self.best_completed = -1.0  # value of the best completed trial so far
        self.records = []  # completed trials that beat every earlier completed one: (trial, weights file)
        os.makedirs(os.path.join(args.out, "weights"), exist_ok=True)

    def objective(self, trial):
        p = {k: trial.suggest_categorical(k, v) for k, v in SPACE.items()}
        self.log("trial_start", trial=trial.number, params=p)
        x, y, xv, yv = self.x["x_train"], self.y["y_train"], self.x["x_val"], self.y["y_val"]
        n, d, h, c = x.shape[0], x.shape[1], p["hidden_size"], 10
        g = torch.Generator().manual_seed(1_000_003 * self.args.seed + trial.number)
        w1 = (torch.randn(d, h, generator=g) * (2.0 / d) ** 0.5).requires_grad_()
        b1 = torch.zeros(h, requires_grad=True)
        w2 = (torch.randn(h, c, generator=g) * (2.0 / h) ** 0.5).requires_grad_()
        b2 = torch.zeros(c, requires_grad=True)
        params = [w1, b1, w2, b2]
        # L2 on the weights (not the biases) as SGD's weight_decay: the gradient of 0.5 * reg * |W|^2 added to W's
        # gradient inside the update, the same step as the penalty in the loss without its extra passes over W1.
        reg = p["reg"]
        r = self.recipe
        batch = r["batch_size"]
        opt = torch.optim.SGD(
            [{"params": [w1, w2], "weight_decay": reg}, {"params": [b1, b2]}],
            lr=p["learning_rate"],
            momentum=r["momentum"],
            nesterov=r["optimizer"] == "nesterov",
        )
        image = x.reshape(n, 3, 32, 32)
        best, best_epoch, best_weights, val, first = -1.0, None, None, 0.0, None
        for epoch in range(1, self.epochs + 1):
            started = time.time()
            for group in opt.param_groups:
                group["lr"] = p["learning_rate"] * p["lr_decay"] ** (epoch - 1)
            perm = torch.randperm(n, generator=g)
            total = 0.0
            for i in range(n // batch):
                if time.time() >= self.deadline:
                    self.log("trial_end", trial=trial.number, state="budget", epochs=epoch - 1, value=best)
                    trial.study.stop()
                    raise optuna.TrialPruned("wall budget over")
                idx = perm[i * batch : (i + 1) * batch]
                xb = x[idx]
                if r["flip"] > 0:
                    flip = torch.rand(batch, generator=g) < r["flip"]
                    xb = torch.where(flip[:, None], image[idx].flip(3).reshape(batch, d), xb)
                scores = torch.relu(xb @ w1 + b1) @ w2 + b2
                loss = torch.nn.functional.cross_entropy(scores, y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                lv = loss.item()
                total += lv
                first = lv if first is None else first
                if not np.isfinite(lv) or lv > DIVERGENCE_FACTOR * max(first, 1.0):
                    total = float("nan")
                    break
            with torch.no_grad():
                total += (n // batch) * 0.5 * reg * ((w1 * w1).sum() + (w2 * w2).sum()).item()
            finite = np.isfinite(total)
            val = accuracy(xv, yv, w1, b1, w2, b2) if finite else 0.1
            # loss: the epoch's mean data loss plus the L2 penalty at the end of the epoch.
            self.log("epoch", trial=trial.number, epoch=epoch, val_acc=val, loss=total / (n // batch), seconds=round(time.time() - started, 3))
            if val > best:
                best, best_epoch = val, epoch
                best_weights = [t.detach().clone() for t in params]
            trial.report(val, epoch - 1)
            if not finite:
                self.log("trial_end", trial=trial.number, state="diverged", epochs=epoch, value=best)
                raise optuna.TrialPruned("loss is not finite")
            if trial.should_prune():
                self.log("trial_end", trial=trial.number, state="pruned", epochs=epoch, value=best)
                raise optuna.TrialPruned()
        with self.lock:
            if best > self.best_completed:
                self.best_completed = best
                path = os.path.join(self.args.out, "weights", f"trial-{trial.number}.npz")
                np.savez(path, *[t.numpy() for t in best_weights])
                self.records.append((trial.number, path))
        self.log("trial_end", trial=trial.number, state="complete", epochs=self.epochs, value=best, best_epoch=best_epoch)
        return best


def watch_load(log, stop):
    while not stop.wait(30):
        with open("/proc/loadavg") as f:
            log("load", loadavg=[float(v) for v in f.read().split()[:3]])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="a directory written by the export_split example")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--budget", type=float, required=True, help="wall seconds from the process start")
    ap.add_argument("--out", required=True)
    ap.add_argument("--grid", help="sweep's grid file: train the model its [train] fixes (see above)")
    ap.add_argument("--epochs", type=int, help="the trials' budget [default: the grid's epochs, or 25]")
    ap.add_argument("--n-jobs", type=int, default=2)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    log = Log(os.path.join(args.out, "events.jsonl"))
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=args.seed)
    pruner = optuna.pruners.HyperbandPruner()
    log(
        "start",
        tool="optuna",
        seed=args.seed,
        budget=args.budget,
        grid=args.grid,
        n_jobs=args.n_jobs,
        unix_t0=T0,
        versions={"optuna": optuna.__version__, "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version()},
        torch_threads=torch.get_num_threads(),
        torch_cpu_capability=torch.backends.cpu.get_cpu_capability(),
        sampler={k.lstrip("_"): repr(v) for k, v in vars(sampler).items() if k in SAMPLER_SETTINGS},
        pruner={"min_resource": pruner._min_resource, "max_resource": pruner._max_resource, "reduction_factor": pruner._reduction_factor},
        data=os.path.abspath(args.data),
    )
    stop = threading.Event()
    threading.Thread(target=watch_load, args=(log, stop), daemon=True).start()
    run = Run(args, log)
    log("loaded", recipe=run.recipe, epochs=run.epochs, train=int(run.x["x_train"].shape[0]), val=int(run.x["x_val"].shape[0]), test=int(run.x["x_test"].shape[0]))
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    study.optimize(run.objective, n_jobs=args.n_jobs, timeout=max(0.0, run.deadline - time.time()))
    stop.set()
    log("budget_over", trials=len(study.trials))
    # After the clock: the test accuracy of every trial that was ever the best completed one.
    for number, path in run.records:
        w = np.load(path)
        w1, b1, w2, b2 = (torch.from_numpy(w[f"arr_{i}"]) for i in range(4))
        log("test", trial=number, test_acc=accuracy(run.x["x_test"], run.y["y_test"], w1, b1, w2, b2))
    log("end")


if __name__ == "__main__":
    main()
