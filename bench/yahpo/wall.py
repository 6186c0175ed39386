#!/usr/bin/env python3
"""Simulated wall time (issue 34): from yahpo-bench's runs.csv and wall.csv of a run with `--workers 1,4,16,64`,
per worker count: how busy the workers were (the sum of every unit's surrogate seconds over workers x the last
unit's end), the simulated time to finish, and the median regret reached by a fixed wall-clock budget per task: the
1-worker run's total seconds / 16 (what 16 perfectly busy workers would need for the whole search).

Usage: python3 bench/yahpo/wall.py DIR [--method default]  (DIR holds runs.csv and wall.csv)
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--method", default="default")
    args = ap.parse_args()
    import surrogate
    with open(os.path.join(surrogate.DATA, "target_statistics.csv")) as f:
        target = {int(r["instance"]): float(r["value"]) for r in csv.DictReader(f)
                  if r["metric"] == "val_accuracy" and r["statistic"] == "max"}
    runs = defaultdict(dict)
    with open(os.path.join(args.dir, "runs.csv")) as f:
        for r in csv.DictReader(f):
            if r["method"] == args.method:
                runs[int(r["workers"])][(int(r["task"]), int(r["seed"]))] = r
    walls = defaultdict(lambda: defaultdict(list))
    with open(os.path.join(args.dir, "wall.csv")) as f:
        for r in csv.DictReader(f):
            if r["method"] == args.method:
                walls[int(r["workers"])][(int(r["task"]), int(r["seed"]))].append(
                    (float(r["sim_seconds"]), float(r["best_val"])))
    one = runs[1]
    print(f"| workers | busy (median) | simulated hours to finish (median) | median regret by the budget | pairs |")
    print("| --- | --- | --- | --- | --- |")
    for w in sorted(runs):
        busy = statistics.median(float(r["busy"]) for r in runs[w].values())
        hours = statistics.median(float(r["sim_seconds"]) / 3600 for r in runs[w].values())
        regrets = []
        for pair, r in runs[w].items():
            budget = float(one[pair]["sim_seconds"]) / 16
            pts = sorted(walls[w][pair])
            i = bisect.bisect_right([t for t, _ in pts], budget)
            best = pts[i - 1][1] if i else float("-inf")
            regrets.append(target[pair[0]] - best)
        print(f"| {w} | {busy:.1%} | {hours:.1f} | {statistics.median(regrets):.2f} | {len(regrets)} |")


if __name__ == "__main__":
    main()
