#!/usr/bin/env python3
"""Simulated wall time (issue 34): from yahpo-bench's runs.csv and wall.csv of a run with `--workers 1,4,16,64`,
per worker count: how busy the workers were (the sum of every unit's surrogate seconds over workers x the last
unit's end), the simulated time to finish, and the median regret reached by a fixed wall-clock budget per task: the
1-worker run's total seconds / 16 (what 16 perfectly busy workers would need for the whole search).

With --reference METHOD the budget is that sweep method's 1-worker time for every method compared (so one budget per
task and seed); with --optuna DIR the rows are optuna_parallel.py's (Optuna's asynchronous parallel mode on the same
clock; its busy counts up to the epoch that spent the budget, where sweep's counts until the last unit ends).

Usage: python3 bench/yahpo/wall.py DIR [--method default] [--reference default] [--optuna DIR]
"""
import argparse
import bisect
import csv
import os
import statistics
import sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True


def read(dir, method):
    runs = defaultdict(dict)
    with open(os.path.join(dir, "runs.csv")) as f:
        for r in csv.DictReader(f):
            if r["method"] == method:
                runs[int(r["workers"])][(int(r["task"]), int(r["seed"]))] = r
    walls = defaultdict(lambda: defaultdict(list))
    with open(os.path.join(dir, "wall.csv")) as f:
        for r in csv.DictReader(f):
            if r["method"] == method:
                walls[int(r["workers"])][(int(r["task"]), int(r["seed"]))].append(
                    (float(r["sim_seconds"]), float(r["best_val"])))
    return runs, walls


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--method", default="default")
    ap.add_argument("--reference", default=None,
                    help="the sweep method whose 1-worker run sets the wall budget (default: --method itself)")
    ap.add_argument("--optuna", default=None,
                    help="a directory of optuna_parallel.py: its tpe-hyperband rows instead of --method's")
    ap.add_argument("--optuna-method", default="tpe-hyperband")
    args = ap.parse_args()
    import surrogate
    with open(os.path.join(surrogate.DATA, "target_statistics.csv")) as f:
        target = {int(r["instance"]): float(r["value"]) for r in csv.DictReader(f)
                  if r["metric"] == "val_accuracy" and r["statistic"] == "max"}
    one = read(args.dir, args.reference or args.method)[0][1]
    runs, walls = read(args.optuna, args.optuna_method) if args.optuna else read(args.dir, args.method)
    print(f"| workers | busy (median) | simulated hours to finish (median) | median regret by the budget | pairs |")
    print("| --- | --- | --- | --- | --- |")
    for w in sorted(runs):
        pairs = [p for p in runs[w] if p in one]
        if not pairs:
            print(f"| {w} | no (task, seed) pair with a 1-worker run of the reference | | | 0 |")
            continue
        busy = statistics.median(float(runs[w][p]["busy"]) for p in pairs)
        hours = statistics.median(float(runs[w][p]["sim_seconds"]) / 3600 for p in pairs)
        regrets = []
        for pair in pairs:
            budget = float(one[pair]["sim_seconds"]) / 16
            pts = sorted(walls[w][pair])
            i = bisect.bisect_right([t for t, _ in pts], budget)
            best = pts[i - 1][1] if i else float("-inf")
            regrets.append(target[pair[0]] - best)
        print(f"| {w} | {busy:.1%} | {hours:.1f} | {statistics.median(regrets):.2f} | {len(regrets)} |")


if __name__ == "__main__":
    main()
