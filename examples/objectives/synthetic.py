#!/usr/bin/env python3
"""A trial program with known Pareto fronts, for multi-objective sweeps (`objectives = {...}` in a grid): Python's
standard library only. It speaks sweep's protocol (docs/own-program.md):

* reads its values from SWEEP_PARAMS (a JSON object), then from `--name=value` arguments, which win;
* "trains" to SWEEP_BUDGET epochs (whole ones), appending one JSON record per epoch to SWEEP_METRICS;
* saves the epoch it reached to SWEEP_CHECKPOINT_DIR/state.json and continues from it when SWEEP_RESUME=1.

Problems (`problem`), all minimized, values x1, x2, x3 in [0, 1]:

* `zdt1` (Zitzler, Deb and Thiele 2000), two objectives: f1 = x1, g = 1 + 9 (x2 + x3) / 2, f2 = g (1 - sqrt(f1 / g)).
  The front is x2 = x3 = 0: f2 = 1 - sqrt(f1).
* `dtlz2` (Deb, Thiele, Laumanns and Zitzler 2002), three objectives: g = (x3 - 0.5)^2,
  f1 = (1 + g) cos(x1 pi/2) cos(x2 pi/2), f2 = (1 + g) cos(x1 pi/2) sin(x2 pi/2), f3 = (1 + g) sin(x1 pi/2).
  The front is x3 = 0.5: the positive eighth of the unit sphere.

A record at epoch e reports each objective times (1 + 1 / e), so a longer run is better in every objective, as
training is, and a rung's ranking foretells the last one's. The values depend on the values and the epoch alone, so
the rows are the same however the runs are split. `sleep` (seconds per epoch) slows it down, for tests that stop a
sweep mid-run.

By hand: python3 synthetic.py --problem=zdt1 --x1=0.3 --x2=0 --x3=0 --epochs=3
"""
import json
import math
import os
import sys
import time

DEFAULTS = {"problem": "zdt1", "x1": 0.5, "x2": 0.5, "x3": 0.5, "epochs": 3, "sleep": 0.0}


def load_params():
    params = dict(DEFAULTS)
    path = os.environ.get("SWEEP_PARAMS")
    if path:
        with open(path) as f:
            params.update(json.load(f))
    for arg in sys.argv[1:]:
        if not arg.startswith("--") or "=" not in arg:
            sys.exit(f"synthetic.py: expected --name=value, found {arg!r}")
        name, value = arg[2:].split("=", 1)
        try:
            params[name] = json.loads(value)
        except ValueError:
            params[name] = value
    return params


def objectives(p):
    x1, x2, x3 = (float(p[k]) for k in ("x1", "x2", "x3"))
    if p["problem"] == "zdt1":
        g = 1 + 9 * (x2 + x3) / 2
        return {"f1": x1, "f2": g * (1 - math.sqrt(x1 / g))}
    if p["problem"] == "dtlz2":
        g = (x3 - 0.5) ** 2
        a, b = x1 * math.pi / 2, x2 * math.pi / 2
        return {
            "f1": (1 + g) * math.cos(a) * math.cos(b),
            "f2": (1 + g) * math.cos(a) * math.sin(b),
            "f3": (1 + g) * math.sin(a),
        }
    sys.exit(f"synthetic.py: unknown problem {p['problem']!r} (zdt1 or dtlz2)")


def main():
    p = load_params()
    budget = int(float(os.environ.get("SWEEP_BUDGET", p["epochs"])))
    ckpt_dir = os.environ.get("SWEEP_CHECKPOINT_DIR")
    ckpt = os.path.join(ckpt_dir, "state.json") if ckpt_dir else None
    start = 0
    if ckpt and os.environ.get("SWEEP_RESUME") == "1" and os.path.exists(ckpt):
        with open(ckpt) as f:
            start = json.load(f)["epoch"]
    metrics_path = os.environ.get("SWEEP_METRICS")
    out = open(metrics_path, "a") if metrics_path else sys.stdout
    f = objectives(p)
    for epoch in range(start + 1, budget + 1):
        time.sleep(float(p["sleep"]))
        rec = {"epoch": epoch}
        rec.update({k: v * (1 + 1 / epoch) for k, v in f.items()})
        out.write(json.dumps(rec) + "\n")
        out.flush()
        if ckpt:
            tmp = ckpt + ".tmp"
            with open(tmp, "w") as c:
                json.dump({"epoch": epoch}, c)
            os.replace(tmp, ckpt)


if __name__ == "__main__":
    main()
