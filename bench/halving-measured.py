#!/usr/bin/env python3
"""Compares a finished successive-halving sweep (such as sweeps/seed-table3-halving.toml) with the exhaustive sweep
of the same grid, from the records the run left, using per-epoch rates measured in that same run.

    bench/halving-measured.py RESULTS_DIR [WALL_SECONDS] [WORKERS]

Reads RESULTS_DIR/rungs/*.csv (each job's record at the end of every rung but its last) and RESULTS_DIR/writers/*.csv
(one final row per job: completed, pruned, diverged or failed). Seconds in both are cumulative per job, and a job
trained alone or in a fused group is charged its share of the group's time.

* Each hidden size's epoch time is the median of its rung-0 jobs' seconds (every configuration's first epoch, trained
  exactly as the exhaustive sweep would train it, fused groups included). The median of the last rung's per-epoch
  times is printed beside it as a check (it can include epochs retrained after a dropped state).
* Exhaustive: every job that did not diverge trains [train] epochs at its size's rate; a job that diverged (in any
  rung: training is bit-identical, so it diverges at the same step exhaustively) costs what it cost.
* Halving: the jobs' own seconds (all rungs, retrained epochs included), and, when WALL_SECONDS is given, the wall
  time of the run, compared with the exhaustive estimate plus the same time outside training (loading, the test).
"""
import csv
import glob
import statistics
import sys
from collections import defaultdict

out = sys.argv[1]
wall = float(sys.argv[2]) if len(sys.argv) > 2 else None
workers = int(sys.argv[3]) if len(sys.argv) > 3 else 2
read = lambda pattern: [r for f in glob.glob(f"{out}/{pattern}") for r in csv.DictReader(open(f))]
rungs = read("rungs/*.csv")
finals = read("writers/*.csv")
if not finals or not any(r["status"] == "completed" for r in finals):
    sys.exit(f"{out}: no completed job yet; for a run stopped after rung 0 use bench/halving-projection.py")
epochs = max(int(r["epochs"]) for r in finals)
last = max(int(r["rung"]) for r in finals if r["rung"])
by_rung = defaultdict(dict)
for r in rungs:
    by_rung[int(r["rung"])][r["id"]] = r

rate0 = defaultdict(list)
for r in by_rung[0].values():
    rate0[int(r["hidden_size"])].append(float(r["seconds"]) / int(r["epochs_run"]))
rate_last = defaultdict(list)
for r in finals:
    prev = by_rung[last - 1].get(r["id"])
    if r["status"] == "completed" and prev:
        rate_last[int(r["hidden_size"])].append((float(r["seconds"]) - float(prev["seconds"])) / (int(r["epochs_run"]) - int(prev["epochs_run"])))
rate = {h: statistics.median(v) for h, v in rate0.items()}
print(f"{len(finals)} jobs, {workers} at a time; seconds per epoch per job by hidden size (median):")
for h in sorted(rate):
    check = f"{statistics.median(rate_last[h]):7.2f} s in the last rung ({len(rate_last[h])} jobs)" if rate_last[h] else ""
    print(f"  hidden {h:5d}: {rate[h]:7.2f} s in rung 0 ({len(rate0[h])} jobs)  {check}")

status = defaultdict(int)
for r in finals:
    status[(r["status"], r["rung"])] += 1
print("rows:", ", ".join(f"{s} at rung {k}: {n}" for (s, k), n in sorted(status.items())))
diverged = [r for r in finals if r["status"] == "diverged"]
exhaustive = (sum(float(r["seconds"]) for r in diverged)
              + sum(epochs * rate[int(r["hidden_size"])] for r in finals if r["status"] != "diverged")) / workers
halving = sum(float(r["seconds"]) for r in finals) / workers
trained = sum(int(r["epochs_run"]) for r in finals)
print(f"epochs in the rows: {trained} (exhaustive: {epochs} per job that does not diverge)")
print(f"training time: halving {halving / 3600:.2f} h, exhaustive (estimated) {exhaustive / 3600:.2f} h:"
      f" {halving / exhaustive:.3f} of exhaustive")
if wall is not None:
    outside = max(wall - halving, 0.0)
    print(f"wall time: halving {wall / 3600:.2f} h ({outside / 60:.1f} min outside the jobs' training),"
          f" exhaustive (estimated, with the same) {(exhaustive + outside) / 3600:.2f} h:"
          f" {wall / (exhaustive + outside):.3f} of exhaustive")
best = max((r for r in finals if r["status"] == "completed"), key=lambda r: float(r["best_val_acc"]))
print(f"best: {best['id']} val {100 * float(best['best_val_acc']):.2f} % (lr {best['learning_rate']}, reg {best['reg']},"
      f" hidden {best['hidden_size']}, decay {best['lr_decay']})")
