#!/usr/bin/env python3
"""Optuna's asynchronous parallel mode on the LCBench surrogate's clock (issue 34, item 4): W workers, each asking
the study for a trial whenever it is free (`study.ask()`, as `n_jobs=W` threads or W processes on one storage do),
the trials' epochs ending at the surrogate's `time`, each reported (`trial.report(val, epoch)`) and checked with
`should_prune()` when it ends, every trial still running visible to the sampler and the pruner as Optuna's RUNNING
trials are. One discrete-event loop drives it, so the order of events is the simulated clock's, not the host's
threads'. Same studies as optuna_side.py (TPESampler(seed) or with --constant-liar, HyperbandPruner(1, 52, 3), study
name `lcbench-<task>-seed<seed>`), until --budget epochs have ended.

Writes OUT/wall.csv (`tool,method,workers,task,seed,sim_seconds,best_val`: each improvement of the best on the
clock) and OUT/runs.csv (per study and worker count: trials, epochs, best, the clock at the budget, busy = epoch
seconds summed / (workers x the clock at the budget)). `wall.py --optuna OUT` reads them.

Usage: nice python3 bench/yahpo/optuna_parallel.py [--tasks dev|ID,...] [--seeds 0-2] [--workers 4,16,64]
       [--budget 2600] [--processes 2] [--constant-liar] [--out DIR]
"""
import argparse
import heapq
import math
import multiprocessing
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True

import optuna  # noqa: E402

import surrogate  # noqa: E402
from optuna_side import parse_seeds, parse_tasks, suggest, write_rows  # noqa: E402

WALL_FIELDS = ("tool", "method", "workers", "task", "seed", "sim_seconds", "best_val")
RUN_FIELDS = ("tool", "method", "workers", "task", "seed", "trials", "epochs", "best_val", "sim_seconds", "busy",
              "wall_s")


def run_study(job):
    task, seed, workers, budget, liar = job
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore")
    method = "tpe-hyperband-liar" if liar else "tpe-hyperband"
    t0 = time.perf_counter()
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, constant_liar=liar),
        pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=surrogate.MAX_EPOCH, reduction_factor=3),
        study_name=f"lcbench-{task}-seed{seed}")
    events, seq = [], 0  # (end time, seq, slot)
    running = {}  # slot -> [trial, curve, epoch, best of the trial, start of the current epoch]
    spent, best, busy, now, trials = 0, -math.inf, 0.0, 0.0, 0
    wall = []

    def start(slot):
        nonlocal seq, trials
        trial = study.ask()
        curve = surrogate.curves(task, [suggest(trial)])[0]
        trials += 1
        running[slot] = [trial, curve, 1, -math.inf, now]
        heapq.heappush(events, (now + float(curve[0, 0]), seq, slot))
        seq += 1

    for slot in range(workers):
        start(slot)
    while events and spent < budget:
        now, _, slot = heapq.heappop(events)
        trial, curve, e, trial_best, began = running[slot]
        busy += now - began
        spent += 1
        val = float(curve[e - 1, 1])
        trial_best = max(trial_best, val)
        if val > best:
            best = val
            wall.append(("optuna", method, workers, task, seed, f"{now:.1f}", f"{best:.4f}"))
        if spent >= budget:
            break
        trial.report(val, e)
        if trial.should_prune():
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elif e == surrogate.MAX_EPOCH:
            study.tell(trial, trial_best)
        else:
            running[slot] = [trial, curve, e + 1, trial_best, now]
            heapq.heappush(events, (now + float(curve[e, 0] - curve[e - 1, 0]), seq, slot))
            seq += 1
            continue
        del running[slot]
        start(slot)
    # The epochs still running when the budget ran out count as busy up to then.
    busy += sum(now - r[4] for s, r in running.items() if s != slot or spent < budget)
    run = ("optuna", method, workers, task, seed, trials, spent, f"{best:.4f}", f"{now:.1f}",
           f"{busy / (workers * now):.4f}" if now > 0 else "0", f"{time.perf_counter() - t0:.2f}")
    return wall, run


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", default="dev")
    ap.add_argument("--seeds", default="0-2")
    ap.add_argument("--workers", default="4,16,64")
    ap.add_argument("--budget", type=int, default=2600)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--constant-liar", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    out = args.out or os.path.join(os.environ.get("YAHPO_RESULTS", "/tmp/yahpo-results"),
                                   f"optuna-{optuna.__version__}-parallel")
    os.makedirs(out, exist_ok=True)
    jobs = [(t, s, int(w), args.budget, args.constant_liar) for w in args.workers.split(",")
            for t in parse_tasks(args.tasks) for s in parse_seeds(args.seeds)]
    t0 = time.perf_counter()
    walls, runs = [], []
    with multiprocessing.get_context("fork").Pool(args.processes, maxtasksperchild=20) as pool:
        for k, (wall, run) in enumerate(pool.imap_unordered(run_study, jobs), 1):
            walls.extend(wall)
            runs.append(run)
            if k % 20 == 0 or k == len(jobs):
                print(f"  {k}/{len(jobs)}, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    key = lambda r: (r[1], int(r[2]), int(r[3]), int(r[4]))  # noqa: E731
    write_rows(os.path.join(out, "wall.csv"), WALL_FIELDS, sorted(walls, key=lambda r: key(r) + (float(r[5]),)))
    write_rows(os.path.join(out, "runs.csv"), RUN_FIELDS, sorted(runs, key=key))
    print(f"optuna_parallel.py: {len(jobs)} studies in {time.perf_counter() - t0:.1f} s; {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
