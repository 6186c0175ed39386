#!/usr/bin/env python3
"""Optuna's side of the multi-objective LCBench benchmark: validation accuracy (maximise) against training time
(minimise) on the YAHPO Gym LCBench surrogate (Pfisterer et al. 2022, Apache 2.0). One study per (task, seed) over
the development tasks: Optuna 5.x `TPESampler(seed=seed)` with Optuna's defaults (MOTPE for two objectives),
directions ["maximize", "minimize"], no pruner (Optuna does not prune multi-objective studies), one trial at a time.

A trial trains the full 52 epochs (the space of optuna_side.py's `suggest`). Its two values are sweep's rows' rule:
acc = the best val_accuracy over epochs 1..k (the earliest epoch among equal values) and time = the surrogate's
`time` (cumulative seconds of training) AT THAT SAME EPOCH, with k = 52. Trials run until --budget epochs (2,600)
are spent; a trial that would cross the budget is cut there (k < 52, its values over the k epochs it got; with
2,600 = 50 x 52 none is cut).

Writes to OUT (default ${YAHPO_RESULTS:-/tmp/yahpo-results}/optuna-<version>-mo):
  points.csv  tool,method,task,seed,trial,epochs,acc,time: one line per trial as it is told (tool=optuna,
              method=motpe, trial = Optuna's trial number, epochs = the epochs spent by the study once that trial
              ended, acc in percent with 4 decimals, time in seconds with 4 decimals); mo_report.py reads it
  runs.csv    per study: trials, cut (1 if the last trial was cut by the budget), epochs, front (Pareto-optimal
              trials), wall_s; written last, so a study is done when it is here
  run.json    command, CPU, versions, wall time
Skips the studies already in runs.csv unless --fresh.

Usage: nice -n 19 python3 bench/yahpo/optuna_mo.py [--tasks dev|ID,...] [--seeds 0-9] [--budget 2600]
       [--processes 2] [--out DIR] [--fresh]
"""
import argparse
import json
import multiprocessing
import os
import platform
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True

import numpy as np  # noqa: E402
import optuna  # noqa: E402

import surrogate  # noqa: E402
from optuna_side import cpu_name, parse_seeds, parse_tasks, read_rows, suggest, write_rows  # noqa: E402

TOOL, METHOD = "optuna", "motpe"
POINT_FIELDS = ("tool", "method", "task", "seed", "trial", "epochs", "acc", "time")
RUN_FIELDS = ("tool", "method", "task", "seed", "trials", "cut", "epochs", "front", "wall_s")


def point_of(curve, k):
    """(acc, time) of a curve (float32 [52, 6]) trained k epochs: the best val_accuracy over epochs 1..k (argmax:
    the earliest epoch among equal values) and the `time` at that epoch."""
    e = int(np.argmax(curve[:k, 1]))
    return float(curve[e, 1]), float(curve[e, 0])


def run_study(job):
    task, seed, budget = job
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.TPESampler(seed=seed),
                                study_name=f"lcbench-mo-{task}-seed{seed}")
    spent, cut, points = 0, 0, []
    while spent < budget:
        trial = study.ask()
        curve = surrogate.curves(task, [suggest(trial)])[0]
        k = min(surrogate.MAX_EPOCH, budget - spent)
        cut = int(k < surrogate.MAX_EPOCH)
        acc, secs = point_of(curve, k)
        spent += k
        study.tell(trial, [acc, secs])
        points.append((TOOL, METHOD, task, seed, trial.number, spent, f"{acc:.4f}", f"{secs:.4f}"))
    run = (TOOL, METHOD, task, seed, len(points), cut, spent, len(study.best_trials),
           f"{time.perf_counter() - t0:.2f}")
    return points, run


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for flag, default in (("tasks", "dev"), ("seeds", "0-9"), ("out", None)):
        ap.add_argument("--" + flag, default=default)
    ap.add_argument("--budget", type=int, default=2600)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--fresh", action="store_true")
    args = ap.parse_args()
    tasks, seeds = parse_tasks(args.tasks), parse_seeds(args.seeds)
    out = args.out or os.path.join(os.environ.get("YAHPO_RESULTS", "/tmp/yahpo-results"),
                                   f"optuna-{optuna.__version__}-mo")
    os.makedirs(out, exist_ok=True)

    points_path, runs_path = os.path.join(out, "points.csv"), os.path.join(out, "runs.csv")
    points = [] if args.fresh else read_rows(points_path)
    runs = [] if args.fresh else read_rows(runs_path)
    done = {(r[2], r[3]) for r in runs}
    points = [r for r in points if (r[2], r[3]) in done]  # runs.csv is written last
    jobs = [(t, s, args.budget) for t in tasks for s in seeds if (str(t), str(s)) not in done]
    print(f"optuna_mo.py: {len(jobs)} studies to run, {len(done)} done", file=sys.stderr, flush=True)
    if not jobs:
        return
    t0 = time.perf_counter()

    def save():
        # A stable sort: each study's lines stay in the order they were recorded.
        write_rows(points_path, POINT_FIELDS, sorted(points, key=lambda r: (int(r[2]), int(r[3]), int(r[5]))))
        write_rows(runs_path, RUN_FIELDS, sorted(runs, key=lambda r: (int(r[2]), int(r[3]))))

    with multiprocessing.get_context("fork").Pool(args.processes, maxtasksperchild=50) as pool:
        for k, (study_points, run) in enumerate(pool.imap_unordered(run_study, jobs), 1):
            points.extend(study_points)
            runs.append(run)
            if k % 5 == 0 or k == len(jobs):
                save()
                print(f"  {k}/{len(jobs)}, {time.perf_counter() - t0:.0f} s (last study {run[-1]} s)",
                      file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0
    info = dict(command=f"nice -n {os.nice(0)} python3 {' '.join(sys.argv)}", cpu=cpu_name(), cores=os.cpu_count(),
                processes=args.processes, python=platform.python_version(), optuna=optuna.__version__,
                onnxruntime=surrogate.ort.__version__, numpy=np.__version__, tasks=len(tasks), seeds=args.seeds,
                sampler="TPESampler(seed=seed), Optuna's defaults; directions maximize acc, minimize time",
                budget_epochs=args.budget, studies_run=len(jobs), wall_s=round(wall, 1))
    with open(os.path.join(out, "run.json"), "w") as f:
        f.write(json.dumps(info, indent=1) + "\n")
    print(f"optuna_mo.py: {wall:.1f} s; {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
