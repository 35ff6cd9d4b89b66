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


def pin_threads(threads):
    """Pins this process to ``threads`` CPUs (0: all), before any framework starts its thread pools."""
    if threads:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])


def set_threads(threads, library, backend):
    """Every library of a benchmark on the same cores: pins this process to ``threads`` CPUs and gives torch
    (HF transformers, keras_tfm on torch) and TensorFlow that many threads; 0 leaves all CPUs and each
    framework's default (torch's: one thread per core). XLA on JAX has no thread setting: the pinning bounds it."""
    pin_threads(threads)
    if threads and (library == "hf" or backend == "torch"):
        import torch

        torch.set_num_threads(threads)
    if threads and library != "hf" and backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)


class Worker:
    """A worker subprocess of ``script`` and its line protocol; ``ready`` is None if it failed to start.
    ``keras_tfm`` is imported from the source tree ``tree`` (this checkout by default)."""

    def __init__(self, script, label, backend_name, worker_args, tree=ROOT):
        self.label, self.backend = label, backend_name
        self.log = tempfile.TemporaryFile(mode="w+")
        env = dict(os.environ, KERAS_BACKEND=backend_name, TF_CPP_MIN_LOG_LEVEL="3", HF_HUB_OFFLINE="1",
                   PYTHONPATH=os.pathsep.join(p for p in (tree, os.environ.get("PYTHONPATH")) if p))
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


def driver_parser(description, cases, name, tiny_help):
    """The command line every ``bench_<name>.py`` driver shares (its cases, rounds, threads, backends, results
    folder) and the hidden worker options; a script adds its own with ``add_argument``."""
    import argparse

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help=tiny_help)
    parser.add_argument("--cases", default=cases)
    parser.add_argument("--rounds", type=int, default=None, help="interleaved timed rounds (default 3; 1 with --tiny)")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPUs each worker is pinned to, and its torch / TF threads (0: all CPUs)")
    parser.add_argument("--backends", default="torch,tensorflow,jax")
    parser.add_argument("--no-keras-hub", action="store_true", help="skip KerasHub")
    parser.add_argument("--results", default=None,
                        help=f"folder for {name}.json / {name}.md (default benchmarks/results; a temporary folder "
                             "with --tiny)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--library", default="hf", help=argparse.SUPPRESS)
    parser.add_argument("--backend", default="torch", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    return parser


def parse_driver_args(parser, name):
    """``parser``'s arguments with the defaults that depend on ``--tiny`` filled in."""
    args = parser.parse_args()
    args.rounds = args.rounds or (1 if args.tiny else 3)
    args.results = args.results or (tempfile.mkdtemp(prefix=f"bench_{name}_") if args.tiny
                                    else os.path.join(ROOT, "benchmarks", "results"))
    return args


def save_report(report, folder, name, render):
    """Writes ``report`` as ``{name}.json`` and its rendering as ``{name}.md`` (keeping that file's notes) in
    ``folder``, and prints the rendering."""
    from results_notes import write_results_md

    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{name}.json"), "w") as f:
        json.dump(report, f, indent=1)
    text = render(report)
    write_results_md(os.path.join(folder, f"{name}.md"), text)
    print(text)
    print(f"(whole benchmark: {report['wall_s']:.0f} s; written to {folder}/{name}.{{json,md}})")


def machine_lines(report):
    """The report's machine, load and versions lines (what every driver's results start with)."""
    config = report["config"]
    return [
        f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, {config['threads'] or 'all'} used "
        f"by each worker. `uptime` at start: {report['uptime_start']}; at end: {report['uptime_end']}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(report["versions"].items())) + ".",
    ]


def ratio_table(report, target_of, rate_name="items/s", rate_digits=2):
    """The results table: one row per worker with its best / median time, rate, ratio to HF's best in its
    case, the target ``target_of(row)`` gives keras_tfm (None: none), the difference to HF's outputs and the
    load around each run; then the failed and mismatched workers."""
    lines = [f"| case | library | best (s) | median (s) | {rate_name} | ratio vs HF | target | max abs diff vs HF | "
             "load average before -> after each run |",
             "|---|---|---:|---:|---:|---:|---|---:|---|"]
    for r in report["rows"]:
        hf = next((x for x in report["rows"] if x["case"] == r["case"] and x["library"] == "hf"), None)
        value = r["best_s"] / hf["best_s"] if hf and hf["best_s"] else float("nan")
        target = target_of(r) if r["library"] == "keras_tfm" else None
        met = "" if target is None else f"<= {target}: " + ("met" if value <= target else "missed")
        diff = "" if r["max_abs_diff"] is None else f"{r['max_abs_diff']:.1e}"
        loads = "; ".join(f"{a:.2f} -> {b:.2f}" for a, b in r["load_average"])
        lines.append(f"| {r['case']} | {r['label'].split(': ')[1]} | {r['best_s']:.3f} | {r['median_s']:.3f} | "
                     f"{r['items'] / r['best_s']:.{rate_digits}f} | {value:.2f} | {met} | {diff} | {loads} |")
    if report["failed"]:
        lines += ["", "FAILED workers: " + ", ".join(report["failed"])]
    if report.get("mismatched"):
        lines += ["", "OUTPUT MISMATCH vs HF (not timed): " + ", ".join(report["mismatched"])]
    return lines
