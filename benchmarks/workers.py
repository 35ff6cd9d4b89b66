"""Long-lived benchmark workers: one subprocess per library / backend, timed in interleaved rounds.

A worker script, started with ``--worker``, loads its model, runs the request once untimed
(compilation happens then), prints ``READY {json}``, then answers each ``run`` line on stdin
with ``RESULT {json}`` holding at least ``seconds``. ``KERAS_BACKEND`` is fixed per process.
The driver (``run_rounds``) gives every worker one timed run per round in turn, the others
idle meanwhile, and records the machine's load average around each run.
"""

import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Worker:
    """A worker subprocess of ``script`` and its line protocol; ``ready`` is None if it failed to start."""

    def __init__(self, script, label, backend_name, worker_args):
        self.label, self.backend = label, backend_name
        self.log = tempfile.TemporaryFile(mode="w+")
        env = dict(os.environ, KERAS_BACKEND=backend_name, TF_CPP_MIN_LOG_LEVEL="3", HF_HUB_OFFLINE="1",
                   PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
        cmd = [sys.executable, os.path.abspath(script), "--worker", "--backend", backend_name, *worker_args]
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                     text=True)
        self.ready = self.read("READY")

    def read(self, tag):
        for line in self.proc.stdout:
            if line.startswith(tag + " "):
                return json.loads(line[len(tag) + 1:])
        self.log.seek(0)
        print(f"[{self.label}] FAILED (exit {self.proc.wait()}):\n{self.log.read()[-3000:]}", file=sys.stderr)
        return None

    def run(self):
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        return self.read("RESULT")

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=120)


def serve(request):
    """The worker side: ``request()`` -> a JSON-able dict; run once untimed, then once per ``run`` line."""
    import time

    start = time.perf_counter()
    first = request()
    print("READY " + json.dumps(dict(first, warmup_s=time.perf_counter() - start)), flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        start = time.perf_counter()
        result = request()
        print("RESULT " + json.dumps(dict(result, seconds=time.perf_counter() - start)), flush=True)


def run_rounds(workers, rounds, failed):
    """``{label: [result + load_average]}`` over ``rounds`` interleaved rounds; a worker that dies goes to ``failed``."""
    runs = {w.label: [] for w in workers}
    for round_index in range(rounds):
        for w in list(workers):
            before = os.getloadavg()[0]
            result = w.run()
            if result is None:
                workers.remove(w)
                failed.append(w.label)
                continue
            runs[w.label].append(dict(result, load_average=(before, os.getloadavg()[0])))
            print(f"  round {round_index + 1}: {w.label:28s} {result['seconds']:.3f} s", file=sys.stderr)
    return runs
