#!/usr/bin/env bash
# Runs the test suite once on one Keras backend: backends/run_suite.sh torch|tensorflow|jax [pytest options]
#
# The test files run in SUITE_CHUNKS (default 3) pytest processes, one after the other: what a process
# keeps for its whole life (TensorFlow's compiled XLA programs grew one process past 11 GB over the
# suite) is given back between chunks, so the three backends' suites fit side by side in memory.
# SUITE_LIMIT (seconds, default 4800) bounds the whole run: past it the running pytest gets SIGINT and
# prints where it was and its summary, so a suite that hangs fails with its story told instead of being
# cut off by CI's clock.
set -uo pipefail
backend="$1"; shift
case "$backend" in torch|tensorflow|jax) ;; *) echo "unknown backend: $backend" >&2; exit 2 ;; esac
PY="${PY:-.venv/bin/python}"
chunks="${SUITE_CHUNKS:-3}"
deadline=$((SECONDS + ${SUITE_LIMIT:-4800}))
mapfile -t files < <(ls tests/test_*.py | sort)
echo "=== KERAS_BACKEND=$backend: ${#files[@]} test files in $chunks processes ==="
failed=0
ran=0
for ((chunk = 0; chunk < chunks; chunk++)); do
    part=()
    for ((i = chunk; i < ${#files[@]}; i += chunks)); do part+=("${files[i]}"); done
    ((${#part[@]})) || continue
    left=$((deadline - SECONDS))
    if ((left <= 0)); then
        echo "=== chunk $((chunk + 1)) of $chunks not run: SUITE_LIMIT reached ==="
        failed=1
        continue
    fi
    echo "=== chunk $((chunk + 1)) of $chunks: ${part[*]} ==="
    KERAS_BACKEND="$backend" HF_HUB_OFFLINE=1 TF_CPP_MIN_LOG_LEVEL=3 timeout -s INT -k 60 "$left" \
        "$PY" -m pytest -q -p no:cacheprovider --durations=10 "$@" "${part[@]}"
    status=$?
    # pytest exits 5 when it collects no test: fine for one chunk under a -k selection, a failure for all
    if ((status == 0)); then ran=1; elif ((status != 5)); then failed=1; fi
done
if ((!failed && !ran)); then
    echo "=== no test ran (pytest exit 5 in every chunk): a failure, never a pass ==="
    failed=1
fi
exit $failed
