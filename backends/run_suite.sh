#!/usr/bin/env bash
# Runs the test suite once on one Keras backend: backends/run_suite.sh torch|tensorflow|jax [pytest args]
set -euo pipefail
backend="$1"; shift
case "$backend" in torch|tensorflow|jax) ;; *) echo "unknown backend: $backend" >&2; exit 2 ;; esac
PY="${PY:-.venv/bin/python}"
echo "=== KERAS_BACKEND=$backend ==="
# pytest exits 5 when it collects no test: that is a failure here, never a pass.
KERAS_BACKEND="$backend" HF_HUB_OFFLINE=1 TF_CPP_MIN_LOG_LEVEL=3 "$PY" -m pytest -q -p no:cacheprovider --durations=15 "$@" tests
