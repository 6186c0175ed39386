#!/usr/bin/env python3
"""The report's two-layer network in PyTorch, as a sweep command trial (issue 18): affine - ReLU - affine, softmax
loss with L2 on both weight matrices in the loss (0.5 * reg * (|W1|^2 + |W2|^2), the report's eq. 5), minibatch SGD
with the learning rate decayed once per epoch (lr * lr_decay^(epoch - 1)), on CIFAR-10 as an image folder
(train|test/<class>/*.jpg).

Data: the 50,000 training images are split by a seeded shuffle (`data_seed`) into `train_size` (default 40,000) to
train on and `val_size` (10,000) to validate on; pixels are scaled to [0, 1] and the mean training image is subtracted
from every image (as sweep's built-in network does). The decoded
images are cached once per data folder (in .cache/ beside this file, or $SWEEP_EXAMPLE_CACHE), so only the first
trial pays for decoding 60,000 JPEGs.

The contract (see sweep's docs/own-program.md): parameters from SWEEP_PARAMS, then `--name=value` arguments; trains to
SWEEP_BUDGET epochs (a fractional budget ends mid-epoch, at the nearest minibatch) and appends one record per epoch,
and one at the budget, to SWEEP_METRICS: `{"epoch", "val_acc", "train_acc" (on 5,000 training images), "loss" (mean
minibatch loss of the epoch), "lr"}`, plus `test_acc` on the record that completes all `epochs`; saves its state
(weights, the step, the epoch's loss so far) to SWEEP_CHECKPOINT_DIR/state.pt after every epoch, at the budget and on
SIGTERM, and continues from it when SWEEP_RESUME=1. Each epoch's order derives from `data_seed` and the epoch alone
and the initialization from `seed`, so a paused and resumed trial trains exactly as an uninterrupted one.

Device: CUDA when PyTorch sees a GPU (sweep gives each trial its own in CUDA_VISIBLE_DEVICES when the grid's
[command] sets `gpus`, see sweep's docs/gpus.md), else the CPU, unchanged; `device = "cpu"` (or "cuda") forces one.
The initialization and each epoch's order are drawn on the CPU either way, so both devices train on the same
minibatches from the same weights (their sums may differ in the last bits).

By hand: `.venv/bin/python train.py --data ../../../shared/cifar10 --epochs=2 --train_size=5000 --val_size=1000`.
"""
import argparse
import fcntl
import hashlib
import json
import math
import os
import signal
import sys
import time

import numpy as np
import torch
from PIL import Image

DEFAULTS = {
    "learning_rate": 0.1,
    "reg": 1e-4,
    "lr_decay": 0.95,
    "hidden_size": 512,
    "batch_size": 200,
    "epochs": 10,
    "init_std": "kaiming",
    "seed": 0,
    "data_seed": 0,
    "train_size": 40000,
    "val_size": 10000,
    "threads": 1,
    "device": "auto",
}
HERE = os.path.dirname(os.path.abspath(__file__))


def parse_value(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def load_params(rest):
    params = dict(DEFAULTS)
    if os.environ.get("SWEEP_PARAMS"):
        with open(os.environ["SWEEP_PARAMS"]) as f:
            params.update(json.load(f))
    for arg in rest:
        if not arg.startswith("--") or "=" not in arg:
            sys.exit(f"train.py: expected --name=value, found {arg!r}")
        name, value = arg[2:].split("=", 1)
        params[name.replace("-", "_")] = parse_value(value)
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        print(f"train.py: ignoring parameters it does not know: {', '.join(unknown)}", file=sys.stderr)
    return params


def decode(folder):
    """Every image of folder/<class>/*.jpg as uint8 rows (channel-major, 3,072 values) and its class index."""
    classes = sorted(os.listdir(folder))
    xs, ys = [], []
    for c, name in enumerate(classes):
        for f in sorted(os.listdir(os.path.join(folder, name))):
            img = np.asarray(Image.open(os.path.join(folder, name, f)).convert("RGB"), dtype=np.uint8)
            xs.append(img.transpose(2, 0, 1).reshape(-1))
            ys.append(c)
    return np.stack(xs), np.array(ys, dtype=np.int64)


def load_images(data):
    """The decoded train and test images, from the cache or decoded once (under a lock: trials start together)."""
    data = os.path.abspath(data)
    cache_dir = os.environ.get("SWEEP_EXAMPLE_CACHE", os.path.join(HERE, ".cache"))
    os.makedirs(cache_dir, exist_ok=True)
    key = hashlib.sha256(f"{data}:{os.stat(os.path.join(data, 'train')).st_mtime_ns}".encode()).hexdigest()[:16]
    path = os.path.join(cache_dir, f"cifar10-{key}.npz")
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(path):
            t = time.time()
            x, y = decode(os.path.join(data, "train"))
            xt, yt = decode(os.path.join(data, "test"))
            tmp = path + f".tmp{os.getpid()}.npz"
            np.savez(tmp, x=x, y=y, xt=xt, yt=yt)
            os.replace(tmp, path)
            print(f"train.py: decoded {len(x) + len(xt)} images into {path} in {time.time() - t:.1f} s", file=sys.stderr)
    z = np.load(path)
    return z["x"], z["y"], z["xt"], z["yt"]


def pick_device(p):
    """CUDA when a GPU is visible (or asked for), else the CPU."""
    want = p["device"]
    if want == "auto":
        want = "cuda" if torch.cuda.is_available() else "cpu"
    if want == "cuda" and not torch.cuda.is_available():
        sys.exit("train.py: device = cuda, but PyTorch sees no GPU (CUDA_VISIBLE_DEVICES=%s)" % os.environ.get("CUDA_VISIBLE_DEVICES", "unset"))
    dev = torch.device(want)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    print(f"train.py: training on {dev} ({name}; CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')})", file=sys.stderr)
    return dev


def prepare(data, p):
    x, y, xt, yt = load_images(data)
    perm = np.random.default_rng(p["data_seed"]).permutation(len(x))
    n, v = p["train_size"], p["val_size"]
    if n + v > len(x):
        sys.exit(f"train.py: train_size + val_size = {n + v} is more than the {len(x)} training images")
    tr, va = perm[:n], perm[len(x) - v :]
    xtr = torch.from_numpy(x[tr].astype(np.float32) / 255)
    mean = xtr.mean(0)
    as_float = lambda a: torch.from_numpy(a.astype(np.float32) / 255) - mean
    return (xtr - mean, torch.from_numpy(y[tr])), (as_float(x[va]), torch.from_numpy(y[va])), (as_float(xt), torch.from_numpy(yt))


def init(p, d, c):
    g = torch.Generator().manual_seed(p["seed"])
    h = p["hidden_size"]
    std1, std2 = (math.sqrt(2 / d), math.sqrt(2 / h)) if p["init_std"] == "kaiming" else (p["init_std"], p["init_std"])
    return {"W1": torch.randn(d, h, generator=g) * std1, "b1": torch.zeros(h), "W2": torch.randn(h, c, generator=g) * std2, "b2": torch.zeros(c)}


def scores(w, x):
    return torch.relu(x @ w["W1"] + w["b1"]) @ w["W2"] + w["b2"]


@torch.no_grad()
def accuracy(w, x, y):
    right = sum((scores(w, x[i : i + 5000]).argmax(1) == y[i : i + 5000]).sum().item() for i in range(0, len(x), 5000))
    return right / len(x)


def save(path, state):
    tmp = path + ".tmp"
    torch.save(state, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.path.join(HERE, "../../../shared/cifar10"), help="the image folder")
    args, rest = ap.parse_known_args()
    p = load_params(rest)
    torch.set_num_threads(int(p["threads"]))
    budget = float(os.environ.get("SWEEP_BUDGET", p["epochs"]))
    ckpt_dir = os.environ.get("SWEEP_CHECKPOINT_DIR")
    ckpt = os.path.join(ckpt_dir, "state.pt") if ckpt_dir else None
    metrics_path = os.environ.get("SWEEP_METRICS")
    terminated = []
    signal.signal(signal.SIGTERM, lambda *_: terminated.append(True))

    dev = pick_device(p)
    t0 = time.time()
    (x, y), (xv, yv), (xt, yt) = (tuple(t.to(dev) for t in pair) for pair in prepare(args.data, p))
    print(f"train.py: {len(x)} train / {len(xv)} val / {len(xt)} test images ready in {time.time() - t0:.1f} s", file=sys.stderr)
    per_epoch = len(x) // p["batch_size"]
    last_step = max(1, round(budget * per_epoch))
    state = {"step": 0, "loss_sum": 0.0, "weights": init(p, x.shape[1], 10)}
    if ckpt and os.environ.get("SWEEP_RESUME") == "1" and os.path.exists(ckpt):
        # A checkpoint saved on either device loads on this one.
        state = torch.load(ckpt, map_location=dev)
        print(f"train.py: resuming at epoch {state['step'] / per_epoch:g}", file=sys.stderr)
    state["weights"] = {k: t.to(dev) for k, t in state["weights"].items()}
    w = state["weights"]
    for t in w.values():
        t.requires_grad_(True)
    metrics = open(metrics_path, "a") if metrics_path else None

    def report(epoch, lr, steps_in_epoch):
        rec = {"epoch": epoch, "val_acc": accuracy(w, xv, yv), "train_acc": accuracy(w, x[:5000], y[:5000]),
               "loss": state["loss_sum"] / max(1, steps_in_epoch), "lr": lr}
        if epoch >= p["epochs"]:
            rec["test_acc"] = accuracy(w, xt, yt)
        line = json.dumps(rec)
        if metrics:
            metrics.write(line + "\n")
            metrics.flush()
        else:
            print("SWEEP_METRIC " + line, flush=True)

    order, order_epoch = None, None
    while state["step"] < last_step:
        step = state["step"]
        epoch, k = step // per_epoch + 1, step % per_epoch
        if terminated:
            if ckpt:
                save(ckpt, state)
            print(f"train.py: SIGTERM: saved at epoch {step / per_epoch:g}, exiting", file=sys.stderr, flush=True)
            sys.exit(143)
        if order_epoch != epoch:
            order = torch.randperm(len(x), generator=torch.Generator().manual_seed(p["data_seed"] * 1_000_003 + epoch))
            order_epoch = epoch
        lr = p["learning_rate"] * p["lr_decay"] ** (epoch - 1)
        idx = order[k * p["batch_size"] : (k + 1) * p["batch_size"]].to(dev)
        loss = torch.nn.functional.cross_entropy(scores(w, x[idx]), y[idx]) + 0.5 * p["reg"] * ((w["W1"] ** 2).sum() + (w["W2"] ** 2).sum())
        grads = torch.autograd.grad(loss, list(w.values()))
        with torch.no_grad():
            for t, g in zip(w.values(), grads):
                t -= lr * g
        state["loss_sum"] += loss.item()
        state["step"] = step + 1
        if not math.isfinite(loss.item()):
            # Diverged: one last record with every value non-finite (the objective too), and stop.
            nan = float("nan")
            line = json.dumps({"epoch": state["step"] / per_epoch, "val_acc": nan, "train_acc": nan, "loss": loss.item(), "lr": lr})
            print(f"train.py: diverged at step {state['step']}", file=sys.stderr)
            if metrics:
                metrics.write(line + "\n")
            else:
                print("SWEEP_METRIC " + line, flush=True)
            sys.exit(0)
        if state["step"] == last_step:
            done = budget
        elif state["step"] % per_epoch == 0:
            done = state["step"] // per_epoch
        else:
            continue
        report(int(done) if float(done).is_integer() else done, lr, k + 1)
        if state["step"] % per_epoch == 0:
            state["loss_sum"] = 0.0
        if ckpt:
            save(ckpt, state)
    if metrics:
        metrics.close()


if __name__ == "__main__":
    main()
