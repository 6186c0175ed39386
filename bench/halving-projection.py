#!/usr/bin/env python3
"""Projects the time of a successive-halving sweep (eta 3, rungs at 1, 3 and 10 epochs, as
sweeps/seed-table3-halving.toml) and of the exhaustive sweep from the records of its first rung.

    bench/halving-projection.py RESULTS_DIR [WORKERS]

Reads RESULTS_DIR/rungs/*.csv (each job's record after rung 0: its validation accuracy and seconds) and
RESULTS_DIR/writers/*.csv (jobs that diverged in rung 0). Each hidden size's epoch time is the 10th percentile of its
rung-0 jobs' seconds (robust to jobs that ran beside other work). The exhaustive sweep is every job that did not
diverge trained 10 epochs, plus the diverged jobs' actual seconds; rung 1 is exact (the best third trains 2 more
epochs); rung 2 (the best third of those, 7 more epochs) is bounded by average and by widest survivors, since
their ranking needs the epoch-3 accuracies.
"""
import csv
import glob
import math
import sys
from collections import Counter

out = sys.argv[1]
workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
rows = [r for f in glob.glob(out + "/rungs/*.csv") for r in csv.DictReader(open(f)) if r["rung"] == "0"]
diverged = [r for f in glob.glob(out + "/writers/*.csv") for r in csv.DictReader(open(f)) if r["status"] == "diverged"]
hidden = sorted({int(r["hidden_size"]) for r in rows})
rate = {}
for h in hidden:
    s = sorted(float(r["seconds"]) for r in rows if int(r["hidden_size"]) == h)
    rate[h] = s[len(s) // 10]
print(f"rung 0: {len(rows)} jobs trained 1 epoch, {len(diverged)} diverged in it")
for h in hidden:
    print(f"  hidden {h:5d}: {rate[h]:6.2f} s per epoch per job ({workers} jobs at a time)")
rung0 = (sum(rate[int(r['hidden_size'])] for r in rows) + sum(float(r["seconds"]) for r in diverged)) / workers
exhaustive = (sum(10 * rate[int(r["hidden_size"])] for r in rows) + sum(float(r["seconds"]) for r in diverged)) / workers
n = len(rows) + len(diverged)
survivors = sorted(rows, key=lambda r: -float(r["best_val_acc"]))[: math.ceil(n / 3)]
print("rung-1 survivors by hidden size:", dict(sorted(Counter(int(r["hidden_size"]) for r in survivors).items())))
rung1 = sum(2 * rate[int(r["hidden_size"])] for r in survivors) / workers
k2 = math.ceil(len(survivors) / 3)
avg = k2 * 7 * sum(rate[int(r["hidden_size"])] for r in survivors) / len(survivors) / workers
widest = sum(7 * rate[int(r["hidden_size"])] for r in sorted(survivors, key=lambda r: -int(r["hidden_size"]))[:k2]) / workers
lo, hi = rung0 + rung1 + avg, rung0 + rung1 + widest
print(f"exhaustive: {exhaustive / 3600:.2f} h")
print(f"halving: rung 0 {rung0 / 60:.0f} min + rung 1 {rung1 / 60:.0f} min + rung 2 {avg / 60:.0f}-{widest / 60:.0f} min"
      f" = {lo / 3600:.2f}-{hi / 3600:.2f} h, {lo / exhaustive:.2f}-{hi / exhaustive:.2f} of exhaustive")
