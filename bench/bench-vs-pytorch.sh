#!/usr/bin/env bash
# sweep against PyTorch on the same 4-job sweep (learning rate {0.05, 0.1} x reg {1e-4, 1e-3}, batch 200, 40,000
# training images of ../shared/cifar10), in one run on this machine, data loading excluded on both sides:
#   sweep: `sweep run` with 2 workers, f32: each job alone (--fuse 1), and as it runs by default (jobs with at most
#   64 hidden units trained together, see sweep_core::fused; bf16 is not built yet, see the open issue)
#   PyTorch: one process looping over the jobs on 2 threads, 2 processes of 1 thread, and bf16 autocast
# Prints seconds and ratios, and the CPU model. Sets up a PyTorch venv (PyPI) in $TORCH_VENV if it has none, and
# converts the image folder to an .npz the PyTorch side reads (cached in $BENCH_DIR).
#
#   bench/bench-vs-pytorch.sh [DATA] [CASES]      CASES: "H:E ..." (default "512:3 1024:2 64:3 16:3")
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/cifar10}
CASES=${2-"512:3 1024:2 64:3 16:3"}
TORCH_VENV=${TORCH_VENV:-/tmp/torchvenv}
BENCH_DIR=${BENCH_DIR:-/tmp/sweep-bench}
mkdir -p "$BENCH_DIR"
# The benchmark may pick the BLAS kernels for the CPU it runs on (never done in tests or CI).
unset OPENBLAS_CORETYPE

if [ ! -x "$TORCH_VENV/bin/python" ] || ! "$TORCH_VENV/bin/python" -c "import torch, numpy, PIL" 2>/dev/null; then
  echo "== setting up PyTorch in $TORCH_VENV (PyPI; several GB, a few minutes)"
  python3 -m venv "$TORCH_VENV"
  "$TORCH_VENV/bin/pip" install -q torch numpy pillow
fi

cargo build --release -q -p sweep
SWEEP=target/release/sweep

NPZ="$BENCH_DIR/cifar-train40k-val10k.npz"
if [ ! -f "$NPZ" ]; then
  echo "== converting $DATA to $NPZ (the split and the mean subtraction as sweep makes them)"
  "$TORCH_VENV/bin/python" - "$DATA" "$NPZ" <<'PY'
import sys, pathlib
import numpy as np
from PIL import Image
data, out = pathlib.Path(sys.argv[1]), sys.argv[2]
classes = sorted(p.name for p in (data / "train").iterdir())
xs, ys = [], []
for c, name in enumerate(classes):
    for f in sorted((data / "train" / name).glob("*.jpg")):
        xs.append(np.asarray(Image.open(f).convert("RGB"), dtype=np.float32).transpose(2, 0, 1).reshape(-1))
        ys.append(c)
x, y = np.stack(xs), np.array(ys, dtype=np.int64)
perm = np.random.default_rng(0).permutation(len(x))
x, y = x[perm], y[perm]
mean = x[:40000].mean(0)
np.savez(out, x=x[:40000] - mean, y=y[:40000], xv=x[40000:50000] - mean, yv=y[40000:50000])
PY
fi

# bf16 autocast only where the CPU multiplies bf16 natively (PyTorch emulates it elsewhere, far slower).
BF16=""
if grep -q -w -E 'avx512_bf16|amx_bf16' /proc/cpuinfo; then BF16=--bf16; fi
printf '%s\n' "== CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
printf '%-7s %-7s %13s %9s %13s %15s %13s %11s %12s\n' "hidden" "epochs" "sweep alone s" "sweep s" "torch loop s" "torch 2 proc s" "torch bf16 s" "loop/sweep" "2proc/sweep"
for case in $CASES; do
  H=${case%%:*}
  E=${case##*:}
  GRID="$BENCH_DIR/bench-$H-$E.toml"
  cat >"$GRID" <<TOML
name = "bench-$H-$E"
seed = 0
[data]
path = "$(realpath "$DATA")"
val_size = 10000
train_size = 40000
[train]
hidden_size = $H
epochs = $E
batch_size = 200
[grid]
learning_rate = [0.05, 0.1]
reg = [1e-4, 1e-3]
TOML
  # "N jobs run in X s": from the end of loading to the end of the sweep.
  rm -rf "$BENCH_DIR/out-$H-$E"
  S1=$("$SWEEP" run "$GRID" --workers 2 --fuse 1 --out "$BENCH_DIR/out-$H-$E" -q | sed -n 's/.* jobs run in \([0-9.]*\) s.*/\1/p')
  rm -rf "$BENCH_DIR/out-$H-$E"
  S=$("$SWEEP" run "$GRID" --workers 2 --out "$BENCH_DIR/out-$H-$E" -q | sed -n 's/.* jobs run in \([0-9.]*\) s.*/\1/p')
  T=$("$TORCH_VENV/bin/python" bench/bench_torch.py "$NPZ" "$H" "$E" $BF16)
  L=$(echo "$T" | awk '$2=="loop"{print $5}')
  P=$(echo "$T" | awk '$2=="2-processes"{print $5}')
  B=$(echo "$T" | awk '$2=="bf16-autocast"{print $5}')
  B=${B:-n/a}
  printf '%-7s %-7s %13s %9s %13s %15s %13s %11s %12s\n' "$H" "$E" "$S1" "$S" "$L" "$P" "$B" \
    "$(awk -v a="$L" -v b="$S" 'BEGIN{printf "%.2fx", a/b}')" "$(awk -v a="$P" -v b="$S" 'BEGIN{printf "%.2fx", a/b}')"
done
