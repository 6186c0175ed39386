#!/usr/bin/env python3
"""Optuna's side of the LCBench benchmark (README.md, issue 34): Optuna 5.x on the YAHPO Gym LCBench surrogate
(Pfisterer et al. 2022, Apache 2.0), one study per (method, task, seed), one trial at a time, until --budget epochs
(2,600) are spent, pruned trials' epochs included (the last trial is cut there). tpe-hyperband: TPESampler(seed),
Optuna's defaults; random-hyperband: RandomSampler(seed); both with HyperbandPruner(min_resource=1,
max_resource=52, reduction_factor=3). A trial reports val_accuracy at step = epoch and asks should_prune(); one
that reaches 52 is told its best val_accuracy (as sweep's objective). Studies are named `lcbench-<task>-seed<seed>`
(Hyperband's brackets hash the name).

Writes to OUT (default ${YAHPO_RESULTS:-/tmp/yahpo-results}/optuna-<version>) curves.csv (the rows README.md
describes), runs.csv (per study) and run.json; skips the studies done unless --fresh.

Usage: nice -n 19 python3 bench/yahpo/optuna_side.py [--tasks dev|ID,...] [--seeds 0-9] [--methods M,...]
       [--budget 2600] [--processes 2] [--out DIR] [--fresh]
"""
import argparse
import csv
import json
import math
import multiprocessing
import os
import platform
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True

import optuna  # noqa: E402

import surrogate  # noqa: E402

TOOL = "optuna"
METHODS = ("tpe-hyperband", "random-hyperband")
MARKS = (520, 1300, 2600)
CURVE_FIELDS = ("tool", "method", "task", "seed", "epochs", "best_val", "sim_seconds")
RUN_FIELDS = CURVE_FIELDS[:4] + ("trials", "pruned", "complete", "epochs", "best_val", "sim_seconds", "wall_s")


def make_study(method, task, seed):
    sampler = {"tpe-hyperband": optuna.samplers.TPESampler, "random-hyperband": optuna.samplers.RandomSampler}
    sampler = sampler[method](seed=seed)
    pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=surrogate.MAX_EPOCH, reduction_factor=3)
    return optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner,
                               study_name=f"lcbench-{task}-seed{seed}")


def suggest(trial):
    config = {}
    for name in surrogate.PARAMS:
        low, high, integer, log = surrogate.SPACE[name]
        config[name] = (trial.suggest_int if integer else trial.suggest_float)(name, low, high, log=log)
    return config


def run_study(job):
    method, task, seed, budget, marks = job
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    study = make_study(method, task, seed)
    spent, best, sim_done = 0, -math.inf, 0.0
    curve, n = [], {"trials": 0, "pruned": 0, "complete": 0}

    def row(epochs, sim):
        return (TOOL, method, task, seed, epochs, f"{best:.4f}", f"{sim:.0f}")

    while spent < budget:
        trial = study.ask()
        values = surrogate.curves(task, [suggest(trial)])[0]
        n["trials"] += 1
        before = best
        trial_best, reached, state = -math.inf, 0, None
        for e in range(1, surrogate.MAX_EPOCH + 1):
            if spent >= budget:
                state = "budget"
                break
            spent += 1
            reached = e
            val = float(values[e - 1, 1])
            trial_best = max(trial_best, val)
            best = max(best, val)
            if spent in marks:  # the best of exactly `spent` epochs
                curve.append(row(spent, sim_done + float(values[e - 1, 0])))
            trial.report(val, e)
            if trial.should_prune():
                state = "pruned"
                break
        sim_done += float(values[reached - 1, 0]) if reached else 0.0
        if best > before and not (curve and curve[-1][4] == spent):
            curve.append(row(spent, sim_done))
        if state in ("pruned", "budget"):
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            n["pruned"] += state == "pruned"
        else:
            study.tell(trial, trial_best)
            n["complete"] += 1
    wall = time.perf_counter() - t0
    run = (TOOL, method, task, seed, n["trials"], n["pruned"], n["complete"], spent, f"{best:.4f}",
           f"{sim_done:.0f}", f"{wall:.2f}")
    return curve, run


def parse_tasks(text):
    if text == "dev":
        return list(surrogate.DEV_TASKS)
    tasks = [int(t) for t in text.split(",")]
    for t in tasks:
        if t not in surrogate.DEV_TASKS:
            sys.exit(f"optuna_side.py: {t} is not a development task (the 8 others are kept for evaluation)")
    return tasks


def parse_seeds(text):
    seeds = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        seeds.extend(range(int(a), int(b or a) + 1))
    return seeds


def cpu_name():
    with open("/proc/cpuinfo") as f:
        return next((x.split(":", 1)[1].strip() for x in f if x.startswith("model name")), platform.processor())


def read_rows(path):
    return list(csv.reader(open(path)))[1:] if os.path.exists(path) else []


def write_rows(path, fields, rows):
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(fields)
        w.writerows(rows)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for flag, default in (("tasks", "dev"), ("seeds", "0-9"), ("methods", ",".join(METHODS)), ("out", None)):
        ap.add_argument("--" + flag, default=default)
    ap.add_argument("--budget", type=int, default=2600)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--fresh", action="store_true")
    args = ap.parse_args()
    tasks, seeds = parse_tasks(args.tasks), parse_seeds(args.seeds)
    methods = args.methods.split(",")
    if set(methods) - set(METHODS):
        sys.exit(f"optuna_side.py: methods are {', '.join(METHODS)}")
    out = args.out or os.path.join(os.environ.get("YAHPO_RESULTS", "/tmp/yahpo-results"),
                                   f"optuna-{optuna.__version__}")
    os.makedirs(out, exist_ok=True)
    marks = {m for m in MARKS if m <= args.budget} | {args.budget}

    curves_path, runs_path = os.path.join(out, "curves.csv"), os.path.join(out, "runs.csv")
    curves = [] if args.fresh else read_rows(curves_path)
    runs = [] if args.fresh else read_rows(runs_path)
    done = {(r[1], r[2], r[3]) for r in runs}
    curves = [r for r in curves if (r[1], r[2], r[3]) in done]  # runs.csv is written last
    jobs = [(m, t, s, args.budget, marks) for m in methods for t in tasks for s in seeds
            if (m, str(t), str(s)) not in done]
    print(f"optuna_side.py: {len(jobs)} studies to run, {len(done)} done", file=sys.stderr, flush=True)
    if not jobs:
        return
    t0 = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(args.processes, maxtasksperchild=50) as pool:
        for k, (curve, run) in enumerate(pool.imap_unordered(run_study, jobs), 1):
            curves.extend(curve)
            runs.append(run)
            if k % 10 == 0 or k == len(jobs):
                write_rows(curves_path, CURVE_FIELDS,
                           sorted(curves, key=lambda r: (r[1], int(r[2]), int(r[3]), int(r[4]))))
                write_rows(runs_path, RUN_FIELDS, sorted(runs, key=lambda r: (r[1], int(r[2]), int(r[3]))))
                print(f"  {k}/{len(jobs)}, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0
    info = dict(command=f"nice -n {os.nice(0)} python3 {' '.join(sys.argv)}", cpu=cpu_name(), cores=os.cpu_count(),
                processes=args.processes, python=platform.python_version(), optuna=optuna.__version__,
                onnxruntime=surrogate.ort.__version__, numpy=surrogate.np.__version__, tasks=len(tasks),
                seeds=args.seeds, methods=methods, budget_epochs=args.budget, studies_run=len(jobs),
                wall_s=round(wall, 1))
    with open(os.path.join(out, "run.json"), "w") as f:
        f.write(json.dumps(info, indent=1) + "\n")
    print(f"optuna_side.py: {wall:.1f} s; {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
