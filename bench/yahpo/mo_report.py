#!/usr/bin/env python3
"""Hypervolume tables of the multi-objective LCBench benchmark (validation accuracy up, training time down) from
points.csv files (tool,method,task,seed,trial,epochs,acc,time; optuna_mo.py writes Optuna's, sweep's bench the
same columns). A file's lines are in recording order (epochs nondecreasing within a study); a later line of the
same (tool, method, task, seed, trial) replaces the earlier one (that trial was continued to a later rung).

A study (tool, method, task, seed) at a budget of B epochs: for each trial, its latest line with epochs <= B; the
hypervolume of those (acc, time) points (acc maximised, time minimised) inside the task's reference box, exact in
2-D, divided by (acc_ideal - acc_ref) * (time_ref - time_ideal) so that tasks compare (it can pass 1 slightly).

The reference (mo_reference.csv, task,acc_ref,time_ref,acc_ideal,time_ideal) is fixed, made once by
--make-reference: 1,000 configurations drawn with numpy default_rng(0), the same 1,000 for every task (for each of
surrogate.PARAMS in order, 1,000 values uniform on [low, high], or exp(uniform on [ln low, ln high]) where SPACE says
log; integers rounded), each trained 52 epochs on the surrogate and given sweep's point (best val_accuracy over
epochs 1..52, the earliest epoch among equal values, and `time` at that epoch); acc_ref = the sample's min acc,
time_ref = its max time, acc_ideal = its max acc, time_ideal = its min time (4 decimals).

Per budget: the median normalised HV of every tool:method over its (task, seed) pairs, and for each --ours the
pairs (matched on task, seed) where its HV is higher / lower / equal than --peer's. Then, per --ours, the epochs it
takes to reach the peer's HV at the largest budget: per pair, the first epochs among our recorded lines at which our
HV >= that, as a fraction of the largest budget (inf if never); median fraction, and how many pairs reach it within
the budget. Writes OUT/report.md (also printed) and OUT/hv.png (median normalised HV against epochs, 52 marks).

Usage: python3 bench/yahpo/mo_report.py --make-reference [--reference CSV]
       python3 bench/yahpo/mo_report.py POINTS.csv [...] [--ours sweep:default-mo,...] [--peer optuna:motpe]
       [--budgets 520,867,1300,2600] [--out DIR (default: the first file's)] [--reference CSV] [--png-dpi 72]
"""
import argparse
import csv
import gzip
import math
import os
import statistics
import sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "mo_reference.csv")
REFERENCE_FIELDS = ("task", "acc_ref", "time_ref", "acc_ideal", "time_ideal")
SAMPLE = 1000
MARKS = 52

name = ":".join


def parse_key(text):
    return tuple(text.split(":", 1))


def make_reference(path):
    """Draws the sample, evaluates it on every development task and writes the reference CSV."""
    sys.path.insert(0, HERE)
    sys.dont_write_bytecode = True
    import numpy as np

    import surrogate

    rng = np.random.default_rng(0)
    columns = {}
    for p in surrogate.PARAMS:
        low, high, integer, log = surrogate.SPACE[p]
        v = np.exp(rng.uniform(math.log(low), math.log(high), SAMPLE)) if log else rng.uniform(low, high, SAMPLE)
        columns[p] = np.clip(np.round(v), low, high).astype(int) if integer else v
    configs = [{p: (int(columns[p][i]) if surrogate.SPACE[p][2] else float(columns[p][i])) for p in surrogate.PARAMS}
               for i in range(SAMPLE)]
    rows = []
    for task in surrogate.DEV_TASKS:
        out = surrogate.curves(task, configs)  # [1000, 52, 6]: time, val_accuracy, ...
        best = np.argmax(out[:, :, 1], axis=1)  # the earliest epoch among equal values
        acc = out[np.arange(SAMPLE), best, 1].astype(float)
        secs = out[np.arange(SAMPLE), best, 0].astype(float)
        rows.append((task, f"{acc.min():.4f}", f"{secs.max():.4f}", f"{acc.max():.4f}", f"{secs.min():.4f}"))
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(REFERENCE_FIELDS)
        w.writerows(rows)
    print(f"mo_report.py: {path}: {len(rows)} tasks, {SAMPLE} configurations each (numpy default_rng(0))")


def read_reference(path):
    with open(path) as f:
        return {int(r["task"]): tuple(float(r[k]) for k in REFERENCE_FIELDS[1:]) for r in csv.DictReader(f)}


def read_points(paths):
    """{(tool, method): {(task, seed): [(epochs, trial, acc, time), ...]}} in recording order (a stable sort on
    epochs, in case files were concatenated)."""
    studies = defaultdict(lambda: defaultdict(list))
    for path in paths:
        with (gzip.open if path.endswith(".gz") else open)(path, "rt") as f:
            for r in csv.DictReader(f):
                studies[(r["tool"], r["method"])][(int(r["task"]), int(r["seed"]))].append(
                    (int(r["epochs"]), r["trial"], float(r["acc"]), float(r["time"])))
    return {k: {p: sorted(v, key=lambda x: x[0]) for p, v in pairs.items()} for k, pairs in studies.items()}


def hypervolume(points, ref):
    """Exact 2-D hypervolume of (acc, time) points, acc maximised and time minimised, above (acc_ref, time_ref)
    and below time_ref, normalised by the ideal box: sort by acc descending (time ascending on ties) and add each
    point's strip of time below the lowest time seen so far."""
    acc_ref, time_ref, acc_ideal, time_ideal = ref
    hv, lowest = 0.0, time_ref
    for acc, secs in sorted(points, key=lambda p: (-p[0], p[1])):
        if acc <= acc_ref:
            break
        if secs < lowest:
            hv += (acc - acc_ref) * (lowest - secs)
            lowest = secs
    return hv / ((acc_ideal - acc_ref) * (time_ref - time_ideal))


def hv_at(lines, budgets, ref):
    """The normalised HV after each of `budgets` (ascending) epochs: each trial's latest line with epochs <= B."""
    latest, out, i = {}, [], 0
    for b in budgets:
        while i < len(lines) and lines[i][0] <= b:
            latest[lines[i][1]] = lines[i][2:]
            i += 1
        out.append(hypervolume(latest.values(), ref))
    return out


def epochs_to_reach(lines, target, ref):
    """The first recorded epochs at which the HV of the lines so far is >= target; inf if never."""
    latest = {}
    for i, (epochs, trial, acc, secs) in enumerate(lines):
        latest[trial] = (acc, secs)
        if i + 1 < len(lines) and lines[i + 1][0] == epochs:
            continue  # all the lines of one epochs count together
        if hypervolume(latest.values(), ref) >= target:
            return epochs
    return math.inf


def fmt_fraction(x):
    return "never" if math.isinf(x) else f"{x:.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("points", nargs="*")
    for flag, default in (("ours", None), ("peer", "optuna:motpe"), ("budgets", "520,867,1300,2600"),
                          ("out", None), ("reference", REFERENCE)):
        ap.add_argument("--" + flag, default=default)
    ap.add_argument("--make-reference", action="store_true")
    ap.add_argument("--png-dpi", type=int, default=72)
    args = ap.parse_args()
    if args.make_reference:
        make_reference(args.reference)
        return
    if not args.points:
        ap.error("give points.csv files (or --make-reference)")
    ref = read_reference(args.reference)
    studies = read_points(args.points)
    budgets = sorted(int(b) for b in args.budgets.split(","))
    last = budgets[-1]
    methods = sorted(studies)
    peer = parse_key(args.peer)
    ours = [parse_key(k) for k in args.ours.split(",")] if args.ours else [k for k in methods if k != peer]
    for k in ours + [peer]:
        if k not in studies:
            sys.exit(f"mo_report.py: no study of {name(k)} (found: {', '.join(map(name, methods))})")
    for k in methods:
        short = [p for p, lines in studies[k].items() if lines[-1][0] < last]
        if short:
            print(f"mo_report.py: {name(k)}: {len(short)} studies end before {last} epochs (e.g. {short[0]})",
                  file=sys.stderr)
        missing = {p[0] for p in studies[k]} - set(ref)
        if missing:
            sys.exit(f"mo_report.py: no reference for tasks {sorted(missing)} in {args.reference}")

    hv = {k: {p: dict(zip(budgets, hv_at(lines, budgets, ref[p[0]]))) for p, lines in studies[k].items()}
          for k in methods}  # [method][(task, seed)][budget]

    lines = []

    def out(text=""):
        print(text)
        lines.append(text)

    def table(head, cells):
        out("| method | " + " | ".join(head) + " |")
        out("|" + " --- |" * (1 + len(head)))
        for k in cells:
            out(f"| {name(k)} | " + " | ".join(cells[k]) + " |")
        out()

    tasks = sorted({p[0] for k in methods for p in studies[k]})
    seeds = sorted({p[1] for k in methods for p in studies[k]})
    out("Hypervolume of (val_accuracy up, training time down) per (task, seed), each trial's latest point within the "
        "budget, normalised by the task's reference box (mo_reference.csv: min acc / max time to max acc / min time "
        f"of 1,000 random configurations); higher is better. {len(tasks)} tasks, seeds {seeds[0]}-{seeds[-1]}.")
    out()
    table([f"median HV, {b} ep" for b in budgets] + ["pairs"],
          {k: [f"{statistics.median(hv[k][p][b] for p in hv[k]):.4f}" for b in budgets] + [str(len(hv[k]))]
           for k in methods})
    table([f"mean HV, {b} ep" for b in budgets],
          {k: [f"{statistics.fmean(hv[k][p][b] for p in hv[k]):.4f}" for b in budgets] for k in methods})

    for b in budgets:
        out(f"### {b} epochs: against {name(peer)}")
        out()
        cells = {}
        for k in ours:
            ps = sorted(set(hv[k]) & set(hv[peer]))
            if not ps:
                sys.exit(f"mo_report.py: {name(k)} and {name(peer)} share no (task, seed) pair")
            hi = sum(hv[k][p][b] > hv[peer][p][b] for p in ps)
            lo = sum(hv[k][p][b] < hv[peer][p][b] for p in ps)
            cells[k] = [f"{statistics.median(hv[k][p][b] for p in ps):.4f}",
                        f"{statistics.median(hv[peer][p][b] for p in ps):.4f}",
                        f"higher on {hi} of {len(ps)} pairs (lower {lo}, equal {len(ps) - hi - lo})"]
        table(["median HV", f"{name(peer)}'s median HV", "pairs"], cells)

    out(f"Epochs to reach {name(peer)}'s HV at {last} epochs, as a fraction of {last} (per pair: the first of our "
        "recorded epochs with HV >= the peer's; never = inf, counted in the median).")
    out()
    cells = {}
    for k in ours:
        ps = sorted(set(hv[k]) & set(hv[peer]))
        frac = [epochs_to_reach(studies[k][p], hv[peer][p][last], ref[p[0]]) / last for p in ps]
        within = sum(f <= 1 for f in frac)
        cells[k] = [fmt_fraction(statistics.median(frac)) if frac else "-",
                    fmt_fraction(sorted(frac)[(len(frac) - 1) // 4]) if frac else "-",
                    f"{within} of {len(ps)}", f"{sum(not math.isinf(f) for f in frac)} of {len(ps)}"]
    table(["median fraction", "lower quartile (nearest rank)", f"pairs reaching it by {last} ep", "pairs reaching it at all"], cells)

    out_dir = args.out or os.path.dirname(os.path.abspath(args.points[0]))
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write("# LCBench surrogate, two objectives: hypervolume at equal epoch budgets\n\nMade by "
                "`python3 bench/yahpo/mo_report.py " + " ".join(sys.argv[1:]) + "`.\n\n"
                + "\n".join(lines).rstrip() + "\n")
    plot(studies, ref, budgets, os.path.join(out_dir, "hv.png"), args.png_dpi)


def plot(studies, ref, budgets, path, dpi):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    last = max(budgets)
    xs = [round(last * (i + 1) / MARKS) for i in range(MARKS)]
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    styles = [("#d62728", "-"), ("#1f77b4", "--"), ("#2ca02c", "-."), ("#ff7f0e", ":"), ("#9467bd", "-"),
              ("#000000", "--"), ("#8c564b", "-."), ("#e377c2", ":")]
    for n, k in enumerate(sorted(studies, key=lambda k: (k[0] != "sweep", k))):
        colour, dash = styles[n % len(styles)]
        m = np.asarray([hv_at(lines, xs, ref[p[0]]) for p, lines in sorted(studies[k].items())])
        ax.plot(xs, np.median(m, axis=0), label=f"{k[0]}: {k[1]} ({len(m)} runs)", lw=1.6, color=colour, ls=dash)
    for b in budgets:
        ax.axvline(b, color="0.5", ls=":", lw=1)
    ax.set(xlim=(0, last * 1.02), xlabel="epochs spent", ylabel="median normalised hypervolume",
           title="LCBench surrogate: accuracy up, training time down (median over pairs)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    try:
        from PIL import Image  # a 16-colour palette: a third of the bytes
    except ImportError:
        return
    Image.open(path).convert("RGB").quantize(colors=16).save(path, optimize=True)


if __name__ == "__main__":
    main()
