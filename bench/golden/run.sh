#!/usr/bin/env bash
# The golden outputs of sweep: runs BIN on the fixed sweeps of bench/golden/grids/ (one worker each, so every run is
# deterministic), and `sweep plan` on grids/seed-table3.toml (a frozen copy of sweeps/seed-table3.toml) and on every
# grid whose jobs are known before it runs; then writes OUTDIR/manifest.txt, one line per output file,
# `sha256  relative/path`, sorted, after normalise.py has blanked what depends on the clock or the process (see
# README.md).
#
#   bench/golden/run.sh BIN OUTDIR
#   diff bench/golden/manifest.txt OUTDIR/manifest.txt
#
# OUTDIR must be empty or absent. Run it from anywhere: the sweeps run in the repository root, which the command
# sweeps' program (bench/golden/light/train.py, a frozen copy of examples/light/train.py) and the CIFAR-10 path
# (../shared/cifar10, the grid's own) are relative to. CIFAR10=PATH gives the data elsewhere (--data). Written:
#   OUTDIR/runs/<sweep>/        each sweep's results directory, as BIN left it
#   OUTDIR/plan/<grid>.ids      `sweep plan`'s job numbers and ids (the table's first two columns)
#   OUTDIR/exit-codes.txt       each command's exit status
#   OUTDIR/logs/, times.txt     stdout, stderr and wall time of each command (not in the manifest)
#   OUTDIR/normalised/          the files the manifest hashes, as normalised (diff two such trees to see what changed)
#   OUTDIR/manifest.txt
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 BIN OUTDIR" >&2
    exit 2
fi
BIN=$(realpath "$1")
[ -x "$BIN" ] || { echo "$0: $1 is not an executable" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
mkdir -p "$2"
OUT=$(realpath "$2")
if [ -n "$(ls -A "$OUT")" ]; then
    echo "$0: $OUT is not empty" >&2
    exit 2
fi
mkdir -p "$OUT/runs" "$OUT/plan" "$OUT/logs"
cd "$ROOT"
GRIDS=bench/golden/grids   # relative, so that what the runs record does not depend on where the clone is
DATA=()
if [ -n "${CIFAR10:-}" ]; then
    DATA=(--data "$CIFAR10")
fi
# Quiet, repeatable logs; the runs never read the terminal.
export NO_COLOR=1 RUST_LOG=info
unset SWEEP_SHARD_COUNT SLURM_ARRAY_TASK_ID SLURM_ARRAY_TASK_COUNT JOB_COMPLETION_INDEX || true

: > "$OUT/exit-codes.txt"
: > "$OUT/times.txt"
started=$(date +%s.%N)

# step NAME CMD...: runs CMD with its stdout in logs/NAME.out, its stderr in logs/NAME.err, and records its exit
# status and wall time.
step() {
    local name=$1
    shift
    local t0 t1 rc=0
    t0=$(date +%s.%N)
    "$@" </dev/null >"$OUT/logs/$name.out" 2>"$OUT/logs/$name.err" || rc=$?
    t1=$(date +%s.%N)
    echo "$name $rc" >>"$OUT/exit-codes.txt"
    printf '%-28s %7.1f s  (exit %s)\n' "$name" "$(awk "BEGIN{print $t1 - $t0}")" "$rc" | tee -a "$OUT/times.txt"
}

# sweep NAME [FLAGS...]: `sweep run` of grids/NAME.toml into runs/NAME with one worker.
sweep() {
    local name=$1
    shift
    step "run-$name" "$BIN" run "$GRIDS/$name.toml" --out "$OUT/runs/$name" --workers 1 "$@"
}

# ids GRID NAME: the job numbers and ids `sweep plan` prints for GRID, into plan/NAME.ids.
ids() {
    local grid=$1 name=$2
    step "plan-$name" "$BIN" plan "$grid" --workers 1
    # The table's rows: "  <n>  <id>  <values...>"; the values' formatting is not part of the contract, the ids are.
    awk '$1 ~ /^[0-9]+$/ && $2 ~ /^[0-9a-f]+$/ && length($2) == 12 { print $1, $2 }' "$OUT/logs/plan-$name.out" >"$OUT/plan/$name.ids"
    [ -s "$OUT/plan/$name.ids" ] || { echo "$0: no job ids in the plan of $grid (see $OUT/logs/plan-$name.*)" >&2; exit 1; }
}

ids "$GRIDS/seed-table3.toml" seed-table3
for g in toy-grid toy-random toy-sobol toy-halving toy-halving-sobol toy-hyperband toy-asha cifar-halving light light-asha; do
    ids "$GRIDS/$g.toml" "$g"
done

sweep toy-grid
sweep toy-random
sweep toy-sobol
sweep toy-halving
sweep toy-halving-sobol
sweep toy-hyperband
sweep toy-asha
sweep toy-tpe
sweep toy-tpe-finalists
sweep cifar-halving "${DATA[@]}"
sweep light
sweep light-tpe
sweep light-asha

finished=$(date +%s.%N)
printf '%-28s %7.1f s\n' total "$(awk "BEGIN{print $finished - $started}")" | tee -a "$OUT/times.txt"

python3 "$HERE/normalise.py" "$OUT" --root "$ROOT"
echo "$(wc -l <"$OUT/manifest.txt") files in $OUT/manifest.txt"
