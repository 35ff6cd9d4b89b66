#!/usr/bin/env bash
# Runs the test suite on torch, tensorflow and jax at once (each in its own processes, as
# backends/run_suite.sh does) and prints each backend's log as soon as that backend ends. Most of a
# backend's time is single-threaded (tracing, XLA compilation, Python), so the three overlap well on a
# 2-core machine. Fails if any backend fails (pytest's exit 5, no test collected, included).
# Stopped from outside (SIGTERM / SIGINT), it prints the end of every log that was not printed yet.
set -uo pipefail
PY="${PY:-.venv/bin/python}"
logs="$(mktemp -d)"
declare -A pids backend_of
printed=()
stop_tree() {  # each process given and all of its descendants
    local pid
    for pid in "$@"; do
        stop_tree $(pgrep -P "$pid")
        kill "$pid" 2>/dev/null
    done
}
tell_the_rest() {
    trap - TERM INT
    for backend in "${!pids[@]}"; do
        [[ " ${printed[*]} " == *" $backend "* ]] && continue
        echo "=== $backend: stopped from outside; the end of its log ==="
        tail -n 200 "$logs/$backend.log"
    done
    stop_tree "${pids[@]}"
    rm -rf "$logs"
    exit 143
}
trap tell_the_rest TERM INT
for backend in torch tensorflow jax; do
    (start=$SECONDS; PY="$PY" backends/run_suite.sh "$backend" "$@" >"$logs/$backend.log" 2>&1
     status=$?; echo "=== $backend: exit $status after $((SECONDS - start)) s ===" >>"$logs/$backend.log"; exit $status) &
    pids[$backend]=$!
    backend_of[$!]=$backend
done
failed=()
for _ in 1 2 3; do
    wait -n -p pid
    status=$?
    backend="${backend_of[$pid]}"
    ((status)) && failed+=("$backend")
    cat "$logs/$backend.log"
    printed+=("$backend")
done
rm -rf "$logs"
if ((${#failed[@]})); then
    echo "FAILED on: ${failed[*]}" >&2
    exit 1
fi
echo "all three backends passed"
