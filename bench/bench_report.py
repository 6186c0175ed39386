"""The table of bench/bench-vs-optuna.sh, rebuilt from the raw logs in a results folder (standard library only).

For each run folder RESULTS/<tool>-seed<S>/ (events.jsonl written by bench_optuna.py or bench_sweep_run.py):
  - the seconds from the run's start (data loading included) to the first validation accuracy >= 52 % and >= 54 %
    reported by any trial (Optuna: every epoch of every trial; sweep: its progress log
    out/progress/*.jsonl, or the per-epoch lines of sweep.log while there is none);
  - at each report time T: the validation accuracy of the best completed trial at T and its test accuracy
    (Optuna: the best trial completed by T, tested after the run; sweep: best.json and the checkpoint copied at T);
then each tool's median over its seeds and the ratio of the medians (sweep / Optuna: below 1 is sweep faster for
times, above 1 is sweep better for accuracies). "never" is a threshold not reached within the budget (counted as
later than any time when taking medians); "none" is no completed trial yet at that time, "n/a" a report time past
a run's budget, "?" a test accuracy that was not computed (a run stopped before its end).

RESULTS may also be a compact folder of bench/results/ (runs.csv, points.csv, trials.csv, made from raw logs by
bench/compact.py): the table is then computed from those files and is the one the raw logs gave.

Usage: bench_report.py RESULTS [--at "600 1800"]
"""

import argparse
import bisect
import csv
import glob
import json
import os
import re
import statistics

THRESHOLDS = (0.52, 0.54)
EPOCH_LINE = re.compile(r"job (\S+) epoch ([0-9.]+): .*\bval ([0-9.]+)")
INF = float("inf")


def read_jsonl(path):
    """Objects of a JSON-lines file; a torn or foreign line is skipped."""
    rows = []
    with open(path, errors="replace") as f:
        for line in f:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict):
                rows.append(row)
    return rows


def interpolate(series, t):
    """The value at t of a sorted (t, value) series, linear between samples; None outside it."""
    i = bisect.bisect_left(series, (t,))
    if i < len(series) and series[i][0] == t:
        return series[i][1]
    if i == 0 or i == len(series):
        return None
    (t0, v0), (t1, v1) = series[i - 1], series[i]
    return v0 + (v1 - v0) * (t - t0) / (t1 - t0) if t1 > t0 else v1


def sweep_points(run, unix_t0, events):
    """(t, val_acc, cpu) of every evaluated point of a sweep run, and where they came from. cpu (sweep's CPU
    seconds) is read from the stamped log line, or interpolated between the driver's samples."""
    clock, epoch_lines = [], []
    log = os.path.join(run, "sweep.log")
    if os.path.exists(log):
        with open(log, errors="replace") as f:
            for line in f:
                parts = line.split("\t", 2)
                if len(parts) != 3:  # a line from before CPU stamps: `<t>\t<line>`
                    parts = [parts[0], "", parts[-1]]
                try:
                    t = float(parts[0])
                    cpu = float(parts[1]) if parts[1] else None
                except ValueError:
                    continue
                if cpu is not None:
                    clock.append((t, cpu))
                m = EPOCH_LINE.search(parts[2])
                if m:
                    epoch_lines.append((t, float(m.group(3)), cpu))
    clock += [(e["t"], e["cpu"]) for e in events if e["event"] == "load" and e.get("cpu") is not None]
    clock.sort()
    points = []
    for path in sorted(glob.glob(os.path.join(run, "out", "progress", "*.jsonl"))):
        for row in read_jsonl(path):
            acc = (row.get("metrics") or {}).get("val_acc")
            if isinstance(row.get("t"), (int, float)) and isinstance(acc, (int, float)):
                t = row["t"] - unix_t0
                points.append((t, acc, interpolate(clock, t)))
    if points:
        return sorted(points), "progress log"
    return sorted(epoch_lines), "sweep.log"


def summarize(run, at):
    events = read_jsonl(os.path.join(run, "events.jsonl"))
    start = next((e for e in events if e["event"] == "start"), None)
    if start is None:
        return None
    tool, budget = start["tool"], start["budget"]
    ended = any(e["event"] == "end" for e in events)
    if tool == "optuna":
        points = sorted((e["t"], e["val_acc"], e.get("cpu")) for e in events if e["event"] == "epoch")
        source = "events"
        tests = {e["trial"]: e["test_acc"] for e in events if e["event"] == "test"}
        done = [e for e in events if e["event"] == "trial_end" and e["state"] == "complete"]
        best_at = {}
        for t in at:
            if t > budget:
                continue
            before = [e for e in done if e["t"] <= t]
            # The best value; a tie goes to the trial completed first (as Optuna's best_trial).
            b = max(before, key=lambda e: (e["value"], -e["t"]), default=None)
            best_at[t] = (b["value"], tests.get(b["trial"])) if b else (None, None)
        trials = len({e["trial"] for e in events if e["event"] == "trial_start"})
    else:
        points, source = sweep_points(run, start["unix_t0"], events)
        snaps = {e["at"]: e for e in events if e["event"] == "snapshot"}
        tests = {e["at"]: e["test_acc"] for e in events if e["event"] == "test"}
        best_at = {t: (snaps[t].get("val_acc"), tests.get(t)) for t in at if t in snaps}
        trials = None
    first, first_cpu = {}, {}
    for thr in THRESHOLDS:
        hit = next(((t, cpu) for t, acc, cpu in points if acc >= thr and t <= budget), None)
        first[thr] = hit and hit[0]
        first_cpu[thr] = hit and hit[1]
    loads = [e["loadavg"][0] for e in events if e["event"] == "load"]
    epoch_secs = {}
    if tool == "optuna":
        # Seconds per epoch by hidden size (two trials ran at a time), for the notes.
        params = {e["trial"]: e["params"] for e in events if e["event"] == "trial_start"}
        for e in events:
            if e["event"] == "epoch":
                epoch_secs.setdefault(params[e["trial"]]["hidden_size"], []).append(e["seconds"])
    return {
        "tool": tool,
        "seed": start["seed"],
        "budget": budget,
        "ended": ended,
        "first": first,
        "first_cpu": first_cpu,
        "best_at": best_at,
        "load": statistics.mean(loads) if loads else None,
        "source": source,
        "trials": trials,
        "epoch_secs": epoch_secs,
        "start": start,
    }


def summarize_compact(results, at):
    """The summaries of every run of a compact folder (bench/compact.py), as summarize gives them from raw logs."""

    def rows(folder, name):
        with open(os.path.join(folder, name), newline="") as f:
            return list(csv.DictReader(f))

    def fnum(x):
        return float(x) if x != "" else None

    out = []
    for r in rows(results, "runs.csv"):
        if r["tool"] not in ("optuna", "sweep"):
            continue  # finalists or resumed copies: trials only, no clock
        folder = results
        if "/" in r["run"]:  # a run kept in another folder, named by its relative path (../sweep/sweep-seed0)
            folder, name = os.path.split(os.path.normpath(os.path.join(results, r["run"])))
            r = next(x for x in rows(folder, "runs.csv") if x["run"] == name)
        mine = [p for p in rows(folder, "points.csv") if p["run"] == r["run"]]
        budget = float(r["budget_s"])
        reach = [(float(p["t"]), float(p["val_acc"]), fnum(p["cpu_s"])) for p in mine if p["kind"] == "reach"]
        if r["tool"] == "optuna":
            bests = [(float(p["t"]), float(p["val_acc"]), fnum(p["test_acc"])) for p in mine if p["kind"] == "best"]
            best_at = {}
            for t in at:
                if t > budget:
                    continue
                before = [b for b in bests if b[0] <= t]
                best_at[t] = (before[-1][1], before[-1][2]) if before else (None, None)
            trials = int(r["trials"])
        else:
            best_at = {}
            for p in mine:
                if p["kind"] == "snapshot" and float(p["t"]) in at:
                    best_at[float(p["t"])] = (fnum(p["val_acc"]), fnum(p["test_acc"]))
            trials = None
        first, first_cpu = {}, {}
        for thr in THRESHOLDS:
            hit = next(((t, cpu) for t, acc, cpu in reach if acc >= thr and t <= budget), None)
            first[thr] = hit and hit[0]
            first_cpu[thr] = hit and hit[1]
        epoch_secs = {}
        for pair in r["epoch_seconds"].split():
            h, sec = pair.split(":")
            epoch_secs[int(h)] = [float(sec)]
        out.append({
            "tool": r["tool"],
            "seed": int(r["seed"]),
            "budget": budget,
            "ended": r["ended"] == "1",
            "first": first,
            "first_cpu": first_cpu,
            "best_at": best_at,
            "load": fnum(r["load_avg"]),
            "source": r["points_from"],
            "trials": trials,
            "epoch_secs": epoch_secs,
            "start": {"search": r["search"], "versions_line": r["versions"]},
        })
    return out


def fmt_time(t):
    return "never" if t is None or t == INF else f"{t:.0f}"


def fmt_acc(a, missing="none"):
    if a == -INF:
        return "none"
    return missing if a is None else f"{100 * a:.2f}"


def median(values):
    """Median of the values present; None counts as later / worse than any (inf), a missing value is left out."""
    vals = [INF if v is None else v for v in values]
    return statistics.median(vals) if vals else None


def label(t):
    return f"{t / 60:g}min" if t % 60 == 0 else f"{t:g}s"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--at", default="600 1800", help="report times, seconds")
    args = ap.parse_args()
    at = sorted({float(t) for t in args.at.split()})
    runs = []
    if os.path.exists(os.path.join(args.results, "runs.csv")):
        runs = summarize_compact(args.results, at)
    for run in sorted(glob.glob(os.path.join(args.results, "*-seed*"))):
        if os.path.isdir(run) and os.path.exists(os.path.join(run, "events.jsonl")):
            s = summarize(run, at)
            if s:
                runs.append(s)
    machine = os.path.join(args.results, "machine.txt")
    if os.path.exists(machine):
        with open(machine) as f:
            print(f.read().strip())
    if not runs:
        print(f"no runs in {args.results}")
        return
    # Each column: its title, how a run's value is read, and what it is: the time to a threshold (thr; None is
    # never), or the validation (0) / test (1) accuracy of the best completed trial at report time t.
    metrics = []
    for clock, key in (("s", "first"), ("cpu s", "first_cpu")):
        for thr in THRESHOLDS:
            metrics.append((f"{thr * 100:g}% {clock}", lambda r, k=key, thr=thr: r[k][thr], ("time", thr)))
    for t in at:
        for k, name in ((0, "val"), (1, "test")):
            metrics.append((f"{name}@{label(t)}", lambda r, t=t, k=k: r["best_at"].get(t, (None, None))[k], ("acc", t)))
    cols = ["tool", "seed", "budget s"] + [m[0] for m in metrics] + ["load avg", "notes"]
    rows = []
    for r in sorted(runs, key=lambda r: (r["tool"] != "optuna", r["seed"])):
        row = [r["tool"], str(r["seed"]), f"{r['budget']:.0f}"]
        for title, get, (kind, arg) in metrics:
            v = get(r)
            if kind == "time":
                # A threshold reached without a CPU reading (a log from before they were taken): "-".
                row.append(fmt_time(v) if v is not None or r["first"][arg] is None else "-")
            elif arg not in r["best_at"]:
                row.append("n/a")
            elif title.startswith("test") and v is None:
                row.append("none" if r["best_at"][arg][0] is None else "?")
            else:
                row.append(fmt_acc(v))
        notes = [] if r["ended"] else ["unfinished"]
        if r["tool"] == "sweep":
            search = r["start"].get("search") or r["start"].get("grid", "?")
            notes.append(f"times from {r['source']}; {os.path.basename(search)}")
        else:
            notes.append(f"{r['trials']} trials")
        row += ["-" if r["load"] is None else f"{r['load']:.1f}", "; ".join(notes)]
        rows.append(row)
    medians = {}
    for tool in ("optuna", "sweep"):
        rs = [r for r in runs if r["tool"] == tool]
        if not rs:
            continue
        med = {}
        for title, get, (kind, arg) in metrics:
            if kind == "time":
                med[title] = median([get(r) for r in rs])
            else:
                # No completed trial yet at that time counts as worse than any; a run whose budget ended before that
                # time, or whose test accuracy was not computed, is left out.
                vals = [
                    get(r) if get(r) is not None else -INF
                    for r in rs
                    if arg in r["best_at"] and (get(r) is not None or r["best_at"][arg][0] is None)
                ]
                med[title] = statistics.median(vals) if vals else None
        medians[tool] = med
        rows.append([tool, f"median of {len(rs)}", ""] + [fmt_time(med[m[0]]) if m[2][0] == "time" else fmt_acc(med[m[0]], "n/a") for m in metrics] + ["", ""])
    if len(medians) == 2:
        o, s = medians["optuna"], medians["sweep"]
        row = ["sweep/optuna", "ratio", ""]
        for title, _, _ in metrics:
            a, b = s[title], o[title]
            if a is None or b is None or b in (0, INF, -INF) or a in (INF, -INF):
                row.append("-")
            else:
                row.append(f"{a / b:.2f}")
        rows.append(row + ["", ""])
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    print()
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip())
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    print()
    print("52%/54% s: seconds from the run's start (data loading included) to the first validation accuracy >= 52 % / 54 %;")
    print("cpu s: the CPU seconds the tool's process had used by then (all threads: less affected by other load);")
    print("val/test: the best completed trial at that time (%); ratio: sweep's median / Optuna's; load avg: the machine's")
    print("1-minute load average during the run (2 cores: above 2 means other processes shared them)")
    for r in runs:
        if r["tool"] == "optuna" and r["epoch_secs"]:
            per = ", ".join(f"H={h}: {statistics.median(v):.1f} s" for h, v in sorted(r["epoch_secs"].items()))
            print(f"optuna seed {r['seed']}: median seconds per epoch (2 trials at a time) {per}")
    opt = next((r["start"] for r in runs if r["tool"] == "optuna"), None)
    if opt and "versions_line" in opt:
        print(opt["versions_line"])
    elif opt:
        v = opt["versions"]
        print(f"optuna {v['optuna']}, torch {v['torch']} ({opt['torch_cpu_capability']} kernels, {opt['torch_threads']} thread per trial, n_jobs {opt['n_jobs']}), numpy {v['numpy']}, python {v['python']}")
    sw = next((r["start"] for r in runs if r["tool"] == "sweep"), None)
    if sw and "versions_line" in sw:
        print(sw["versions_line"])
    elif sw:
        print(f"{sw.get('version', 'sweep')}, grid {sw.get('grid')}")


if __name__ == "__main__":
    main()
