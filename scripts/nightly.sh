#!/usr/bin/env bash
# Why: the nightly sweep in one place, so a local run and CI cannot drift (.github/workflows/nightly.yml calls this
# script): build in release mode, find or download CIFAR-10, run sweeps/nightly.toml with its HTML report, and fail
# when the best model's test accuracy falls below MIN_TEST_ACC.
#
# Usage:  scripts/nightly.sh [DATA]
#   DATA           CIFAR-10 binary dir, .tar.gz or image folder; default $SWEEP_DATA, else ../shared/cifar10 if it
#                  exists, else data/cifar-10-batches-bin (downloaded, SHA-256 checked, when missing).
# Environment:
#   MIN_TEST_ACC   fail below this best test accuracy (fraction), default 0.50 (the report reached 0.54)
#   OUT            results directory, default results/nightly (an existing one of the same grid is resumed;
#                  delete it to start over)
#   WORKERS        parallel jobs, default all cores
#   CARGO_TARGET_DIR  where cargo builds, default target/
set -euo pipefail

DEFAULT_MIN_TEST_ACC=0.50
MIN_TEST_ACC="${MIN_TEST_ACC:-$DEFAULT_MIN_TEST_ACC}"
GRID=sweeps/nightly.toml
OUT="${OUT:-results/nightly}"

cd "$(dirname "${BASH_SOURCE[0]}")/.."

DATA="${1:-${SWEEP_DATA:-}}"
if [[ -z "$DATA" ]]; then
    if [[ -d ../shared/cifar10 ]]; then DATA=../shared/cifar10; else DATA=data/cifar-10-batches-bin; fi
fi
extra=()
if [[ ! -e "$DATA" ]]; then
    echo "nightly: $DATA does not exist: it will be downloaded"
    extra+=(--download)
fi
if [[ -n "${WORKERS:-}" ]]; then extra+=(--workers "$WORKERS"); fi

echo "nightly: building (release)"
cargo build --release --locked -p sweep
SWEEP="${CARGO_TARGET_DIR:-target}/release/sweep"

echo "nightly: running $GRID on $DATA into $OUT (threshold: test accuracy >= $MIN_TEST_ACC)"
start=$(date +%s)
"$SWEEP" run "$GRID" --data "$DATA" --out "$OUT" --report ${extra[@]+"${extra[@]}"}
elapsed=$(( $(date +%s) - start ))


best="$OUT/best.json"
if [[ ! -f "$best" ]]; then
    echo "nightly: FAILED: no job completed, $best was not written (see $OUT/results.csv)" >&2
    exit 1
fi
# best.json is pretty-printed by serde_json: one `"key": value` per line.
field() { sed -n "s/^ *\"$1\": *\"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\} *$/\1/p" "$best" | head -n 1; }
test_acc=$(field test_acc)
val_acc=$(field val_acc)
id=$(field id)

echo
echo "nightly: best job $id: validation accuracy $val_acc, test accuracy $test_acc (threshold $MIN_TEST_ACC)"
echo "nightly: took ${elapsed}s for the sweep; report: $OUT/report/index.html"
echo "nightly: figures:"
for f in "$OUT"/report/*.png; do [[ -e "$f" ]] && echo "  $f"; done

if [[ -z "$test_acc" || "$test_acc" == null ]]; then
    echo "nightly: FAILED: $best has no test accuracy" >&2
    exit 1
fi
if ! awk -v a="$test_acc" -v m="$MIN_TEST_ACC" 'BEGIN { exit !(a + 0 >= m + 0) }'; then
    echo "nightly: FAILED: best test accuracy $test_acc is below the threshold MIN_TEST_ACC=$MIN_TEST_ACC" >&2
    exit 1
fi
echo "nightly: OK: test accuracy $test_acc >= $MIN_TEST_ACC"
