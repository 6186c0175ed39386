#!/usr/bin/env python3
"""Reduces the raw logs of bench-vs-optuna.sh runs to the compact CSVs kept in bench/results/ (standard library only).

    bench/compact.py RAW_ROOT OUT_ROOT        e.g. bench/compact.py /tmp/bench-vs-optuna bench/results/2027-01-05

Every folder under RAW_ROOT that holds run folders `<tool>-seed<S>/events.jsonl` (written by bench_optuna.py and
bench_sweep_run.py) becomes the folder at the same relative path under OUT_ROOT, with:

* `machine.txt`, copied;
* `runs.csv`: one row per run: its tool, seed, budget, whether it ended, Optuna's trial count, the mean 1-minute load
  average, where its points came from, sweep's search file, Optuna's median seconds per epoch by hidden size, the
  versions line, and the best trial of `out/best.json` (sweep; with its test accuracy when the file has one);
* `points.csv`: the points the table of bench_report.py is computed from:
  - `reach`: every evaluated point (an epoch of any trial) that raised the run's best validation accuracy so far,
    with the seconds from the run's start and the tool's CPU seconds then: the first point at or above any threshold
    is one of these, so the times to 52 % and 54 % are exact;
  - `best` (Optuna): every completed trial that became the best completed trial so far (ties stay with the earlier
    one, as Optuna's best_trial), with the test accuracy measured after the run when it was measured;
  - `snapshot` (sweep): the best completed trial when the clock reached each report time, and its test accuracy;
* `trials.csv`: one row per trial: its four axis values, status, epochs run, best validation accuracy, and seconds
  (sweep: the row's `seconds`; Optuna: when the trial ended, from the run's start).

Folders named `finalists-seed<S>` (a results directory resumed to train TPE's finalists: results.csv, best.json,
run.log) and `<run>/resumed/` (a run resumed to its end: out/results.csv, out/best.json, test.txt) add their trials
to trials.csv and a row to runs.csv (tool `finalists` or `resumed`, wall seconds from run.log's "jobs run in").
A run folder that is a symbolic link to another results folder's run is one runs.csv row naming it by that relative
path (`../sweep/sweep-seed0`); its points and trials stay in the folder it lives in.

`bench_report.py OUT_ROOT/<folder>` prints from these files the table it prints from the raw logs.
"""

import csv
import glob
import json
import os
import re
import shutil
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_report  # noqa: E402  (the same point reader as the table's)

AXES = ("learning_rate", "reg", "hidden_size", "lr_decay")
RUN_COLS = [
    "run", "tool", "seed", "budget_s", "ended", "trials", "load_avg", "points_from", "search", "epoch_seconds",
    "versions", "best_id", "best_val_acc", "best_test_acc", "wall_s",
]
POINT_COLS = ["run", "kind", "t", "val_acc", "test_acc", "cpu_s", "trial"]
TRIAL_COLS = ["run", "trial", *AXES, "status", "epochs_run", "val_acc", "seconds", "t_end"]


def num(x, digits=None):
    """A number as text: None is empty; floats exactly as logged (repr), or to `digits` significant digits."""
    if x is None or x == "":
        return ""
    if isinstance(x, bool):
        return "1" if x else "0"
    if isinstance(x, int):
        return str(x)
    return repr(float(x)) if digits is None else f"{float(x):.{digits}g}"


def best_json(path):
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def sweep_trials(run_name, results_csv):
    rows = []
    if not os.path.exists(results_csv):
        return rows
    with open(results_csv, newline="") as f:
        for r in csv.DictReader(f):
            status = r["status"] if r["status"] != "pruned" else f"pruned@{r['epochs_run']}"
            rows.append([run_name, r["id"], *(r[a] for a in AXES), status, r["epochs_run"], r["best_val_acc"],
                         num(float(r["seconds"]), 4) if r["seconds"] else "", ""])
    return rows


def compact_run(run):
    """(runs row, points rows, trials rows) of one run folder with events.jsonl."""
    name = os.path.basename(run)
    events = bench_report.read_jsonl(os.path.join(run, "events.jsonl"))
    start = next(e for e in events if e["event"] == "start")
    tool = start["tool"]
    loads = [e["loadavg"][0] for e in events if e["event"] == "load"]
    points, trials = [], []
    row = {c: "" for c in RUN_COLS}
    row.update(run=name, tool=tool, seed=start["seed"], budget_s=num(start["budget"]),
               ended=num(any(e["event"] == "end" for e in events)),
               load_avg=num(statistics.mean(loads)) if loads else "")
    if tool == "optuna":
        evaluated = sorted((e["t"], e["val_acc"], e.get("cpu")) for e in events if e["event"] == "epoch")
        row["points_from"] = "events"
        tests = {e["trial"]: e["test_acc"] for e in events if e["event"] == "test"}
        done = [e for e in events if e["event"] == "trial_end" and e["state"] == "complete"]
        best = None
        for e in sorted(done, key=lambda e: e["t"]):
            if best is None or e["value"] > best:
                best = e["value"]
                points.append([name, "best", num(e["t"]), num(e["value"]), num(tests.get(e["trial"])),
                               num(e.get("cpu")), e["trial"]])
        params = {e["trial"]: e["params"] for e in events if e["event"] == "trial_start"}
        row["trials"] = len(params)
        secs = {}
        for e in events:
            if e["event"] == "epoch":
                secs.setdefault(params[e["trial"]]["hidden_size"], []).append(e["seconds"])
        row["epoch_seconds"] = " ".join(f"{h}:{num(statistics.median(v))}" for h, v in sorted(secs.items()))
        v = start["versions"]
        row["versions"] = (f"optuna {v['optuna']}, torch {v['torch']} ({start['torch_cpu_capability']} kernels, "
                           f"{start['torch_threads']} thread per trial, n_jobs {start['n_jobs']}), "
                           f"numpy {v['numpy']}, python {v['python']}")
        for e in events:
            if e["event"] == "trial_end":
                p = params[e["trial"]]
                trials.append([name, e["trial"], *(num(p[a]) for a in AXES), e["state"], e["epochs"],
                               num(e.get("value"), 6), "", num(e["t"], 6)])
    else:
        evaluated, source = bench_report.sweep_points(run, start["unix_t0"], events)
        row["points_from"] = source
        row["search"] = os.path.basename(start.get("search") or start.get("grid", "?"))
        row["versions"] = f"{start.get('version', 'sweep')}, grid {start.get('grid')}"
        tests = {e["at"]: e["test_acc"] for e in events if e["event"] == "test"}
        for e in events:
            if e["event"] == "snapshot":
                points.append([name, "snapshot", num(e["at"]), num(e.get("val_acc")), num(tests.get(e["at"])), "",
                               e.get("id", "")])
        b = best_json(os.path.join(run, "out", "best.json"))
        row.update(best_id=b.get("id", ""), best_val_acc=num(b.get("val_acc")), best_test_acc=num(b.get("test_acc")))
        trials = sweep_trials(name, os.path.join(run, "out", "results.csv"))
    record = None
    reach = []
    for t, acc, cpu in evaluated:
        if record is None or acc > record:
            record = acc
            reach.append([name, "reach", num(t), num(acc), "", num(cpu), ""])
    return row, reach + points, trials


def compact_extra(path, name, tool):
    """A finalists-seed<S> folder or a resumed/ run: its trials and a runs row."""
    out = path if tool == "finalists" else os.path.join(path, "out")
    row = {c: "" for c in RUN_COLS}
    row.update(run=name, tool=tool, seed=re.search(r"seed(\d+)", name).group(1))
    b = best_json(os.path.join(out, "best.json"))
    row.update(best_id=b.get("id", ""), best_val_acc=num(b.get("val_acc")), best_test_acc=num(b.get("test_acc")))
    for log in ("run.log", "sweep.log"):
        p = os.path.join(path, log)
        if os.path.exists(p):
            with open(p, errors="replace") as f:
                m = re.search(r"jobs run in ([0-9.]+) s", f.read())
            if m:
                row["wall_s"] = m.group(1)
                break
    test = os.path.join(path, "test.txt")
    if not row["best_test_acc"] and os.path.exists(test):
        with open(test) as f:
            m = re.search(r"([0-9.]+)%", f.read())
        row["best_test_acc"] = num(float(m.group(1)) / 100, 6) if m else ""
    return row, sweep_trials(name, os.path.join(out, "results.csv"))


def write_csv(path, cols, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(cols)
        w.writerows(rows)


def compact_folder(src, dst):
    os.makedirs(dst, exist_ok=True)
    if os.path.exists(os.path.join(src, "machine.txt")):
        shutil.copyfile(os.path.join(src, "machine.txt"), os.path.join(dst, "machine.txt"))
    runs, points, trials = [], [], []
    for run in sorted(glob.glob(os.path.join(src, "*-seed*"))):
        name = os.path.basename(run)
        if os.path.islink(run):
            # A run shared with another folder (2026-12-02's sweep runs, linked from plain/ and q/): named by its
            # relative path, its points and trials kept once, in the folder it lives in.
            row = {c: "" for c in RUN_COLS}
            target = os.readlink(run)
            start = next(e for e in bench_report.read_jsonl(os.path.join(run, "events.jsonl")) if e["event"] == "start")
            row.update(run=target, tool=start["tool"], seed=start["seed"])
            runs.append(row)
        elif os.path.exists(os.path.join(run, "events.jsonl")):
            r, p, t = compact_run(run)
            runs.append(r), points.extend(p), trials.extend(t)
            if os.path.isdir(os.path.join(run, "resumed")):
                r, t = compact_extra(os.path.join(run, "resumed"), f"{name}-resumed", "resumed")
                runs.append(r), trials.extend(t)
        elif name.startswith("finalists-seed"):
            r, t = compact_extra(run, name, "finalists")
            runs.append(r), trials.extend(t)
    write_csv(os.path.join(dst, "runs.csv"), RUN_COLS, [[r[c] for c in RUN_COLS] for r in runs])
    write_csv(os.path.join(dst, "points.csv"), POINT_COLS, points)
    write_csv(os.path.join(dst, "trials.csv"), TRIAL_COLS, trials)
    print(f"{src} -> {dst}: {len(runs)} runs, {len(points)} points, {len(trials)} trials")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    raw, out = sys.argv[1:]
    folders = sorted({os.path.dirname(os.path.dirname(p)) for p in glob.glob(os.path.join(raw, "**", "*-seed*", "events.jsonl"), recursive=True)})
    # A run folder's own resumed/ copy is not a results folder of its own.
    folders = [f for f in folders if not os.path.basename(f) == "resumed"]
    for src in folders:
        compact_folder(src, os.path.join(out, os.path.relpath(src, raw)))


if __name__ == "__main__":
    main()
