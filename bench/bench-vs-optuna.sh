#!/usr/bin/env bash
# sweep against Optuna + PyTorch on the report's Table III space (6 learning rates x 6 reg x 7 hidden sizes x 6
# decays), the same data, the same machine, one run after the other, for several seeds with the same wall budget
# (issue 20's benchmark). For each seed S:
#   Optuna: bench/bench_optuna.py: default TPESampler(seed=S), HyperbandPruner() on validation accuracy per epoch,
#     2 trials at a time (n_jobs=2) with one torch thread each, the report's two-layer net trained as sweep's grid
#     fixes it ([train]: epochs, batch size, optimizer, flips; so both tools search the same space for the same
#     model), on the very split sweep trains on (crates/core/examples/export_split.rs, grid seed S, val_size 10000:
#     .npy files); with --optuna-recipe plain instead as issue 20's baseline did (plain SGD, batch 200, 25 epochs);
#   sweep: bench/bench_sweep_run.py: `sweep -v run GRID --out DIR` with the grid's seed set to S, epoch times from
#     its progress log (<out>/progress/*.jsonl) or, until that exists, its log lines; best.safetensors copied when
#     the clock reaches each report time, tested afterwards with `sweep eval --split test`.
# The clock starts when the tool's process starts (data loading included) and stops at the budget.
# Prints per tool and seed the seconds to the first validation accuracy >= 52 % and >= 54 % (and the CPU seconds the
# tool had used by then: other load on the machine slows the wall clock), the best completed trial's validation and
# test accuracy after 10 and 30 minutes, each tool's medians, the ratios of the medians, and the CPU. Raw logs stay in RESULTS (default /tmp/bench-vs-optuna), so `--report-only` rebuilds the table; a run that
# ended is not run again (delete its folder to redo it).
#
#   bench/bench-vs-optuna.sh [DATA] [options]
#     DATA              CIFAR-10 (image folder, binary dir or .tar.gz) [default: ../shared/cifar10]
#     --seeds "0 1 2"   seeds [default: "0 1 2 3 4"]
#     --budget MIN      wall minutes per run [default: 30]
#     --at "10 30"      report times in minutes [default: "10 30"]
#     --grid FILE       sweep's search [default: sweeps/seed-table3-tpe.toml, or seed-table3-halving.toml while
#                       that does not exist]
#     --only optuna|sweep   run one side only
#     --optuna-recipe grid|plain   Optuna's trials train the model of the grid's [train] (grid), or the report's
#                       plain SGD for 25 epochs (plain) [default: grid]; give each its own --results
#     --results DIR     raw logs and the table [default: /tmp/bench-vs-optuna]
#     --venv DIR        the Python environment, created from PyPI if missing [default: RESULTS/venv]
#     --nice N          niceness of the timed runs [default: 0]
#     --report-only     only print the table from RESULTS
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=../shared/cifar10
SEEDS="0 1 2 3 4"
BUDGET_MIN=30
AT_MIN="10 30"
GRID=""
ONLY=""
RECIPE=grid
RESULTS=/tmp/bench-vs-optuna
VENV=""
NICE=0
REPORT_ONLY=""
usage() { sed -n '/^#   bench/,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) SEEDS=$2; shift 2 ;;
    --budget) BUDGET_MIN=$2; shift 2 ;;
    --at) AT_MIN=$2; shift 2 ;;
    --grid) GRID=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --optuna-recipe) RECIPE=$2; shift 2 ;;
    --results) RESULTS=$2; shift 2 ;;
    --venv) VENV=$2; shift 2 ;;
    --nice) NICE=$2; shift 2 ;;
    --report-only) REPORT_ONLY=1; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "bench-vs-optuna.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) DATA=$1; shift ;;
  esac
done
case "$ONLY" in "" | optuna | sweep) ;; *) echo "--only: give optuna or sweep, not '$ONLY'" >&2; exit 2 ;; esac
case "$RECIPE" in grid | plain) ;; *) echo "--optuna-recipe: give grid or plain, not '$RECIPE'" >&2; exit 2 ;; esac
for s in $SEEDS; do
  case "$s" in '' | *[!0-9]*) echo "--seeds: '$s' is not an integer >= 0" >&2; exit 2 ;; esac
done
BUDGET_S=$(awk -v m="$BUDGET_MIN" 'BEGIN { if (m + 0 <= 0) exit 1; printf "%d", m * 60 }') ||
  { echo "--budget: give minutes > 0, not '$BUDGET_MIN'" >&2; exit 2; }
AT_S=$(for m in $AT_MIN; do awk -v m="$m" 'BEGIN { printf "%d ", m * 60 }'; done)
mkdir -p "$RESULTS"
VENV=${VENV:-$RESULTS/venv}
PY="$VENV/bin/python"

report() {
  # Any Python 3 will do for the table (standard library only).
  local py=python3
  [ -x "$PY" ] && py=$PY
  "$py" bench/bench_report.py "$RESULTS" --at "$AT_S"
}
if [ -n "$REPORT_ONLY" ]; then
  report
  exit 0
fi
[ -e "$DATA" ] || { echo "DATA: $DATA does not exist (give CIFAR-10 as an image folder, binary dir or .tar.gz)" >&2; exit 2; }

if [ ! -x "$PY" ] || ! "$PY" -c "import optuna, torch, numpy" 2>/dev/null; then
  echo "== setting up Optuna, PyTorch and NumPy in $VENV (PyPI: PyTorch's Linux wheel brings CUDA libraries, about 5 GB)"
  started=$(date +%s)
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q optuna torch numpy
  echo "venv set up in $(($(date +%s) - started)) s: $("$PY" -c 'import optuna, torch, numpy; print("optuna", optuna.__version__, "torch", torch.__version__, "numpy", numpy.__version__)')" |
    tee "$RESULTS/venv-setup.txt"
fi

if [ -z "$GRID" ]; then
  GRID=sweeps/seed-table3-tpe.toml
  if [ ! -f "$GRID" ]; then
    GRID=sweeps/seed-table3-halving.toml
    echo "== sweeps/seed-table3-tpe.toml does not exist yet: sweep runs $GRID instead"
  fi
fi
[ "$ONLY" = optuna ] && [ "$RECIPE" = plain ] || [ -f "$GRID" ] || { echo "--grid: $GRID does not exist" >&2; exit 2; }
OPTUNA_RECIPE=()
[ "$RECIPE" = grid ] && OPTUNA_RECIPE=(--grid "$GRID")

if [ "$ONLY" = optuna ]; then
  echo "== building the export_split example"
else
  echo "== building sweep and the export_split example"
  nice -n 10 cargo build --release -q -p sweep
fi
nice -n 10 cargo build --release -q -p sweep-core --example export_split
SWEEP=$PWD/target/release/sweep

# The machine, once per results folder (the table reads it back).
{
  echo "model name: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "cpu family / model: $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ') / $(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')"
  echo "cores: $(nproc)"
  echo "flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E -x 'avx|avx2|fma|avx512f|avx512bw|avx512vl|avx512_vnni|avx512_bf16|amx_bf16|amx_tile' | tr '\n' ' ')"
  if [ -x "$PY" ]; then
    "$PY" - <<'PY' 2>&1 | grep -v '^MKL_VERBOSE SGEMM' || true
import os
os.environ["MKL_VERBOSE"] = "1"
import torch
print("torch CPU capability (ATen kernels):", torch.backends.cpu.get_cpu_capability())
torch.ones(4, 4) @ torch.ones(4, 4)  # MKL prints which processors it is built for (its GEMM path)
PY
    echo
  fi
} >"$RESULTS/machine.txt"

split_dir() { echo "$RESULTS/data/split-seed$1"; }
ended() { [ -f "$1/events.jsonl" ] && grep -q '"event": "end"' "$1/events.jsonl"; }

for seed in $SEEDS; do
  if [ "$ONLY" != sweep ]; then
    run="$RESULTS/optuna-seed$seed"
    if ended "$run"; then
      echo "== optuna seed $seed: done before ($run), not run again"
    else
      if [ ! -d "$(split_dir "$seed")" ]; then
        echo "== exporting the split of seed $seed to $(split_dir "$seed")"
        nice -n 10 target/release/examples/export_split "$DATA" "$(split_dir "$seed")" "$seed"
      fi
      rm -rf "$run"
      mkdir -p "$run"
      echo "== optuna seed $seed, $BUDGET_MIN min ($(date -u +%H:%M:%S) UTC, load average $(cut -d' ' -f1-3 /proc/loadavg))"
      nice -n "$NICE" "$PY" bench/bench_optuna.py --data "$(split_dir "$seed")" --seed "$seed" --budget "$BUDGET_S" \
        "${OPTUNA_RECIPE[@]}" --out "$run" 2>"$run/stderr.txt" || { echo "optuna seed $seed failed: see $run/stderr.txt" >&2; exit 1; }
    fi
  fi
  if [ "$ONLY" != optuna ]; then
    run="$RESULTS/sweep-seed$seed"
    if ended "$run"; then
      echo "== sweep seed $seed: done before ($run), not run again"
    else
      rm -rf "$run"
      mkdir -p "$run"
      # The shipped search with its seed set to S (split, initializations, data order and the search's draws).
      if grep -q '^seed *=' "$GRID"; then
        sed "s/^seed *=.*/seed = $seed/" "$GRID" >"$run/grid.toml"
      else
        { echo "seed = $seed"; cat "$GRID"; } >"$run/grid.toml"
      fi
      echo "== sweep seed $seed ($GRID), $BUDGET_MIN min ($(date -u +%H:%M:%S) UTC, load average $(cut -d' ' -f1-3 /proc/loadavg))"
      "${PY:-python3}" bench/bench_sweep_run.py --sweep "$SWEEP" --grid "$run/grid.toml" --data "$DATA" --seed "$seed" \
        --budget "$BUDGET_S" --at "$AT_S" --nice "$NICE" --search "$GRID" --out "$run" ||
        { echo "sweep seed $seed failed: see $run/sweep.log" >&2; exit 1; }
    fi
  fi
done
report | tee "$RESULTS/table.txt"
