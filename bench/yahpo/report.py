#!/usr/bin/env python3
"""Tables and figure of the LCBench benchmark (README.md) from curves.csv(.gz) files (tool,method,task,seed,epochs,
best_val,sim_seconds). A study (tool, method, task, seed) has found after n epochs the best_val of its last row with
epochs <= n, and needs a row at each budget. Regret = the task's max val_accuracy of YAHPO's 500,000 random
configurations minus that, in points. Per budget: median and mean regret, mean rank over the pairs every method ran
(ties share), and the pairs where each --ours method (default: all but --baseline) is lower / higher / equal.
Writes OUT/report.md and OUT/curves.png (median regret against epochs, log axes; nothing found yet = infinite).

Usage: python3 bench/yahpo/report.py CURVES.csv [...] [--ours sweep:tpe,...] [--baseline optuna:tpe-hyperband]
       [--budgets 520,1300,2600] [--out DIR (default: the first file's)] [--targets CSV] [--png-dpi 72]
"""
import argparse
import bisect
import csv
import gzip
import math
import os
import statistics
import sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))


def read_curves(paths):
    """{(tool, method): {(task, seed): ([epochs...], [best...])}}, sorted by epochs."""
    rows = defaultdict(lambda: defaultdict(list))
    for path in paths:
        with (gzip.open if path.endswith(".gz") else open)(path, "rt") as f:
            for r in csv.DictReader(f):
                pair = (int(r["task"]), int(r["seed"]))
                rows[(r["tool"], r["method"])][pair].append((int(r["epochs"]), float(r["best_val"])))
    return {k: {p: tuple(map(list, zip(*sorted(v)))) for p, v in pairs.items()} for k, pairs in rows.items()}


def ranks(values):
    """1-based ranks, lowest first, ties sharing their mean rank."""
    return [sum(v < x for v in values) + (sum(v == x for v in values) + 1) / 2 for x in values]


name = ":".join


def parse_key(text):
    return tuple(text.split(":", 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("curves", nargs="+")
    for flag, default in (("ours", None), ("baseline", "optuna:tpe-hyperband"), ("budgets", "520,1300,2600"),
                          ("out", None), ("targets", None)):
        ap.add_argument("--" + flag, default=default)
    ap.add_argument("--png-dpi", type=int, default=72)  # 72: the PNG fits 8 KB
    args = ap.parse_args()
    if args.targets is None:
        sys.path.insert(0, HERE)
        sys.dont_write_bytecode = True
        import surrogate

        args.targets = os.path.join(surrogate.DATA, "target_statistics.csv")
    with open(args.targets) as f:
        targets = {int(r["instance"]): float(r["value"]) for r in csv.DictReader(f)
                   if r["metric"] == "val_accuracy" and r["statistic"] == "max"}
    studies = read_curves(args.curves)
    budgets = [int(b) for b in args.budgets.split(",")]
    methods = sorted(studies)
    baseline = parse_key(args.baseline)
    ours = [parse_key(k) for k in args.ours.split(",")] if args.ours else [k for k in methods if k != baseline]
    for k in ours + [baseline]:
        if k not in studies:
            sys.exit(f"report.py: no study of {name(k)} (found: {', '.join(map(name, methods))})")

    regret = {k: {b: {} for b in budgets} for k in methods}  # [method][budget][(task, seed)]
    for k in methods:
        for pair, (epochs, best) in studies[k].items():
            for b in budgets:
                if epochs[-1] < b:
                    print(f"report.py: {name(k)} {pair} ends at {epochs[-1]}: left out at {b}", file=sys.stderr)
                    continue
                i = bisect.bisect_right(epochs, b)
                regret[k][b][pair] = targets[pair[0]] - best[i - 1] if i else math.inf

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

    common = {b: set.intersection(*(set(regret[k][b]) for k in methods)) for b in budgets}
    rank = {k: {} for k in methods}
    for b in budgets:
        r = [ranks([regret[k][b][p] for k in methods]) for p in common[b]]
        for j, k in enumerate(methods):
            rank[k][b] = sum(x[j] for x in r) / len(r) if r else math.nan
    tasks = sorted({p[0] for k in methods for p in studies[k]})
    seeds = sorted({p[1] for k in methods for p in studies[k]})
    out("Regret = the task's best val_accuracy of YAHPO's 500,000 random configurations minus the best found, in "
        "points; lower is better.")
    out(f"{len(tasks)} tasks, seeds {seeds[0]}-{seeds[-1]}; mean rank over the {len(common[budgets[-1]])} (task, seed) "
        f"pairs that all {len(methods)} methods ran.")
    out()
    table([f"median regret, {b} ep" for b in budgets] + [f"mean rank, {b} ep" for b in budgets] + ["pairs"],
          {k: [f"{statistics.median(regret[k][b].values()):.2f}" for b in budgets] +
           [f"{rank[k][b]:.2f}" for b in budgets] + [str(len(regret[k][budgets[-1]]))] for k in methods})
    table([f"mean regret, {b} ep" for b in budgets],
          {k: [f"{statistics.fmean(regret[k][b].values()):.2f}" for b in budgets] for k in methods})
    out(f"Against {name(baseline)}: (task, seed) pairs where the method's regret is lower / higher / equal.")
    out()
    cells = {}
    for k in ours:
        cells[k] = []
        for b in budgets:
            ps = set(regret[k][b]) & set(regret[baseline][b])
            lo = sum(regret[k][b][p] < regret[baseline][b][p] for p in ps)
            hi = sum(regret[k][b][p] > regret[baseline][b][p] for p in ps)
            cells[k].append(f"{lo} / {hi} / {len(ps) - lo - hi} of {len(ps)}")
    table([f"{b} epochs" for b in budgets], cells)

    out_dir = args.out or os.path.dirname(os.path.abspath(args.curves[0]))
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write("# LCBench surrogate: regret at equal epoch budgets\n\nMade by `python3 bench/yahpo/report.py "
                + " ".join(sys.argv[1:]) + "`.\n\n" + "\n".join(lines).rstrip() + "\n")
    plot(studies, targets, budgets, os.path.join(out_dir, "curves.png"), args.png_dpi)


def plot(studies, targets, budgets, path, dpi):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import FuncFormatter

    last = max(budgets)
    xs = np.unique(np.round(np.geomspace(1, last, 160)).astype(int))
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    # Distinct colours and dashes: the 16-colour palette below merges near hues.
    styles = [("#d62728", "-"), ("#1f77b4", "--"), ("#2ca02c", "-."), ("#ff7f0e", ":"), ("#9467bd", "-"),
              ("#000000", "--"), ("#8c564b", "-."), ("#e377c2", ":")]
    for n, k in enumerate(sorted(studies, key=lambda k: (k[0] != "sweep", k))):
        colour, dash = styles[n % len(styles)]
        m = []
        for pair, (epochs, best) in sorted(studies[k].items()):
            i = np.searchsorted(epochs, xs, side="right")
            r = np.where(i > 0, targets[pair[0]] - np.asarray(best)[np.maximum(i - 1, 0)], np.inf)
            m.append(np.where(xs > epochs[-1], np.nan, r))  # past the study's end: not drawn
        med = np.median(np.asarray(m), axis=0)  # nan where any study ended
        med[~np.isfinite(med)] = np.nan
        ax.plot(xs, np.clip(med, 0.01, None), label=f"{k[0]}: {k[1]} ({len(m)} runs)", lw=1.6, color=colour, ls=dash)
    for b in budgets:
        ax.axvline(b, color="0.5", ls=":", lw=1)
    ax.set(xscale="log", yscale="log", xlim=(30, last * 1.08), xlabel="epochs spent (all trials, pruned ones included)",
           ylabel="median regret (points of val. accuracy)",
           title="YAHPO Gym LCBench surrogate: median regret over (task, seed) pairs")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:g}"[0] in "25" else ""))
    ax.tick_params(which="minor", labelsize=7)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    from PIL import Image  # a 16-colour palette: a third of the bytes

    Image.open(path).convert("RGB").quantize(colors=16).save(path, optimize=True)


if __name__ == "__main__":
    main()
