#!/usr/bin/env bash
# Runs the test suite on torch, tensorflow and jax at once (each in its own process, as
# backends/run_suite.sh does), then prints each backend's log in turn. Most of a backend's
# time is single-threaded (tracing, XLA compilation, Python), so the three overlap well on a
# 2-core machine. Fails if any backend fails (pytest's exit 5, no test collected, included).
set -uo pipefail
PY="${PY:-.venv/bin/python}"
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
declare -A pids
for backend in torch tensorflow jax; do
    (start=$SECONDS; PY="$PY" backends/run_suite.sh "$backend" "$@" >"$logs/$backend.log" 2>&1
     status=$?; echo "=== $backend: exit $status after $((SECONDS - start)) s ===" >>"$logs/$backend.log"; exit $status) &
    pids[$backend]=$!
done
failed=()
for backend in torch tensorflow jax; do
    wait "${pids[$backend]}" || failed+=("$backend")
    cat "$logs/$backend.log"
done
if ((${#failed[@]})); then
    echo "FAILED on: ${failed[*]}" >&2
    exit 1
fi
echo "all three backends passed"
