"""The PyTorch side of bench/bench-vs-pytorch.sh: the same 4-job sweep as sweep's (learning rate {0.05, 0.1} x
reg {1e-4, 1e-3}, batch 200, 40,000 training images, the two-layer net with L2 in the loss, plain SGD, decay 0.95),
timed without data loading, in three ways: one process looping over the jobs on 2 threads, 2 processes of 1 thread
with 2 jobs each, and the loop under bf16 autocast. Prints one line per mode: `torch <mode> H E seconds`.

Usage: bench_torch.py DATA.npz HIDDEN EPOCHS [--bf16]   (bf16 autocast only on CPUs with AVX512-BF16 or AMX: elsewhere
PyTorch emulates it, tens of times slower, which says nothing about a bf16 kernel)"""
import multiprocessing as mp
import sys
import time

import numpy as np
import torch

JOBS = [(lr, reg) for lr in (0.05, 0.1) for reg in (1e-4, 1e-3)]


def train(x, y, xv, yv, hidden, epochs, lr, reg, bf16=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    d, c = x.shape[1], 10
    w1 = (torch.randn(d, hidden, generator=g) * (2.0 / d) ** 0.5).requires_grad_()
    b1 = torch.zeros(hidden, requires_grad=True)
    w2 = (torch.randn(hidden, c, generator=g) * (2.0 / hidden) ** 0.5).requires_grad_()
    b2 = torch.zeros(c, requires_grad=True)
    params = [w1, b1, w2, b2]
    opt = torch.optim.SGD(params, lr=lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, 0.95)
    n, b = x.shape[0], 200
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        for i in range(n // b):
            idx = perm[i * b : (i + 1) * b]
            xb, yb = x[idx], y[idx]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                scores = torch.relu(xb @ w1 + b1) @ w2 + b2
            loss = torch.nn.functional.cross_entropy(scores.float(), yb) + 0.5 * reg * ((w1 * w1).sum() + (w2 * w2).sum())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            val = ((torch.relu(xv @ w1 + b1) @ w2 + b2).argmax(1) == yv).float().mean().item()
    return val


def load(path):
    z = np.load(path)
    return [torch.from_numpy(z[k]) for k in ("x", "y", "xv", "yv")]


def worker(path, hidden, epochs, jobs, q):
    torch.set_num_threads(1)
    x, y, xv, yv = load(path)
    t = time.perf_counter()
    for lr, reg in jobs:
        train(x, y, xv, yv, hidden, epochs, lr, reg)
    q.put(time.perf_counter() - t)


def main():
    path, hidden, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    x, y, xv, yv = load(path)
    torch.set_num_threads(2)
    modes = [("loop", False)] + ([("bf16-autocast", True)] if "--bf16" in sys.argv else [])
    for mode, bf16 in modes:
        t = time.perf_counter()
        for lr, reg in JOBS:
            train(x, y, xv, yv, hidden, epochs, lr, reg, bf16=bf16)
        print(f"torch {mode} {hidden} {epochs} {time.perf_counter() - t:.2f}", flush=True)
    q = mp.get_context("fork").Queue()
    procs = [mp.get_context("fork").Process(target=worker, args=(path, hidden, epochs, JOBS[i::2], q)) for i in range(2)]
    for p in procs:
        p.start()
    times = [q.get() for _ in procs]
    for p in procs:
        p.join()
    print(f"torch 2-processes {hidden} {epochs} {max(times):.2f}", flush=True)


if __name__ == "__main__":
    main()
