"""The sweep side of bench/bench-vs-optuna.sh: one `sweep run` timed from this process's start (sweep's data loading
included) until a wall budget, with the best completed model copied whenever the clock reaches a report time.

Runs `sweep -v run GRID --out OUT/out --data DATA` (at --nice), stamps every line sweep logs with the seconds since
the start and keeps them in OUT/sweep.log (sweep logs "job <id> epoch N: ... val V" per epoch at -v,
which the table reads when there is no progress log, OUT/out/progress/*.jsonl). At each report time T within the
budget, best.json is read and the best's checkpoint copied to OUT/best-at-<T>s.safetensors (from
candidates/<id>.safetensors, the file best.safetensors links to, so the copy and its record cannot be of two
different jobs; best.safetensors itself when there are no candidates). A sweep that ends before T leaves its final
best for T. At the budget, sweep gets SIGINT (it stops cleanly, keeping finished rows; SIGKILL after 120 s). Then each
copy's test accuracy comes from `sweep eval --model COPY --data DATA --split test`.

Events go to OUT/events.jsonl in the format of bench_optuna.py: start, snapshot (at, id, val_acc, config),
budget_over (sweep's exit code), load (every 10 s: the load average and sweep's CPU seconds so far), test (at, id,
test_acc), end. sweep.log lines are `<t>\t<sweep's CPU seconds>\t<line>`.

Usage: bench_sweep_run.py --sweep BIN --grid GRID --data DATA --seed S --budget SECONDS --at "600 1800" --out DIR
"""

import time

T0 = time.time()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402


class Log:
    """events.jsonl, one line per event, appended and flushed."""

    def __init__(self, path):
        self.f = open(path, "a", buffering=1)
        self.lock = threading.Lock()

    def __call__(self, event, **fields):
        row = {"t": round(time.time() - T0, 3), "event": event, **fields}
        with self.lock:
            self.f.write(json.dumps(row) + "\n")
            self.f.flush()


def cpu_seconds(pid):
    """CPU seconds (user + system, all threads) that process `pid` has used, None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def stamp_lines(stream, path, pid):
    """Each line sweep prints, as `<seconds since the start>\t<sweep's CPU seconds>\t<line>`."""
    with open(path, "a", buffering=1) as f:
        for line in stream:
            cpu = cpu_seconds(pid)
            f.write(f"{time.time() - T0:.3f}\t{'' if cpu is None else f'{cpu:.2f}'}\t{line}")
            f.flush()


def watch(log, stop, pid):
    """Every 10 s: sweep's CPU seconds so far (to place the progress log's points on a CPU clock) and the load."""
    while not stop.wait(10):
        with open("/proc/loadavg") as f:
            log("load", loadavg=[float(v) for v in f.read().split()[:3]], cpu=cpu_seconds(pid))


def snapshot(results, to):
    """The best completed job now: (its best.json, copied checkpoint) or (None, None) when there is none yet."""
    for _ in range(20):
        try:
            with open(os.path.join(results, "best.json")) as f:
                info = json.load(f)
        except FileNotFoundError:
            return None, None
        except json.JSONDecodeError:  # written atomically, so only a file from elsewhere; look again
            time.sleep(0.1)
            continue
        candidate = os.path.join(results, "candidates", f"{info['id']}.safetensors")
        source = candidate if os.path.isdir(os.path.join(results, "candidates")) else os.path.join(results, "best.safetensors")
        try:
            shutil.copyfile(source, to)
            return info, to
        except FileNotFoundError:  # replaced by a better one in between: read best.json again
            time.sleep(0.1)
    return None, None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sweep", required=True, help="the sweep binary")
    ap.add_argument("--grid", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--seed", type=int, required=True, help="the grid's seed (recorded; the grid file sets it)")
    ap.add_argument("--budget", type=float, required=True, help="wall seconds from the process start")
    ap.add_argument("--at", default="600 1800", help="report times, seconds")
    ap.add_argument("--nice", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--search", help="the shipped search the grid was made from (recorded)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    log = Log(os.path.join(args.out, "events.jsonl"))
    results = os.path.join(args.out, "out")
    version = subprocess.run([args.sweep, "--version"], capture_output=True, text=True).stdout.strip()
    log("start", tool="sweep", seed=args.seed, budget=args.budget, unix_t0=T0, grid=os.path.abspath(args.grid), search=args.search, version=version, data=args.data)
    cmd = ["nice", "-n", str(args.nice), args.sweep, "-v", "run", args.grid, "--out", results, "--data", args.data]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    reader = threading.Thread(target=stamp_lines, args=(proc.stdout, os.path.join(args.out, "sweep.log"), proc.pid))
    reader.start()
    stop = threading.Event()
    threading.Thread(target=watch, args=(log, stop, proc.pid), daemon=True).start()

    times = sorted({float(t) for t in args.at.split() if 0 < float(t) <= args.budget})
    copies = []
    for at in times:
        try:
            proc.wait(timeout=max(0.0, T0 + at - time.time()))
        except subprocess.TimeoutExpired:
            pass
        info, path = snapshot(results, os.path.join(args.out, f"best-at-{int(at)}s.safetensors"))
        finished = proc.poll() is not None
        log("snapshot", at=at, finished=finished, **({"id": info["id"], "val_acc": info["val_acc"], "best_epoch": info.get("best_epoch"), "config": info.get("config")} if info else {"id": None}))
        copies.append((at, info and info["id"], path))
    try:
        proc.wait(timeout=max(0.0, T0 + args.budget - time.time()))
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    stop.set()
    reader.join()
    log("budget_over", returncode=proc.returncode)
    # After the clock: the copies' test accuracy, as sweep computes it (once per job).
    tested = {}
    for at, job, path in copies:
        if path is None:
            continue
        if job not in tested:
            r = subprocess.run([args.sweep, "eval", "--model", path, "--data", args.data, "--split", "test"], capture_output=True, text=True)
            m = re.search(r"accuracy: ([0-9.]+)%", r.stdout)
            tested[job] = (float(m.group(1)) / 100 if m else None, (r.stdout + r.stderr).strip()[-500:])
        log("test", at=at, id=job, test_acc=tested[job][0], output=tested[job][1])
    # Training states of the jobs stopped at the budget are not needed for the table (and can be large).
    shutil.rmtree(os.path.join(results, "state"), ignore_errors=True)
    log("end")


if __name__ == "__main__":
    main()
