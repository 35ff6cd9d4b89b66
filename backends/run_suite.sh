#!/usr/bin/env bash
# Runs the test suite once on one Keras backend: backends/run_suite.sh torch|tensorflow|jax [pytest args]
# SUITE_LIMIT (seconds, default 4800) bounds the run: past it pytest gets SIGINT and prints where it was
# and its summary, so a suite that hangs fails with its story told instead of being cut off by CI's clock.
set -euo pipefail
backend="$1"; shift
case "$backend" in torch|tensorflow|jax) ;; *) echo "unknown backend: $backend" >&2; exit 2 ;; esac
PY="${PY:-.venv/bin/python}"
echo "=== KERAS_BACKEND=$backend ==="
# pytest exits 5 when it collects no test: that is a failure here, never a pass.
KERAS_BACKEND="$backend" HF_HUB_OFFLINE=1 TF_CPP_MIN_LOG_LEVEL=3 timeout -s INT -k 60 "${SUITE_LIMIT:-4800}" \
    "$PY" -m pytest -q -p no:cacheprovider --durations=15 "$@" tests
