"""Summarization speed: keras_tfm ``generate`` on an encoder-decoder (torch / tensorflow / jax) vs HF transformers.

One command, one run:

    python benchmarks/bench_seq2seq.py            # distilbart-cnn-12-6-shaped BART, 8 x 512 tokens, 64 new tokens
    python benchmarks/bench_seq2seq.py --tiny     # small dimensions, for a smoke run

The model is a BART with the shape of ``sshleifer/distilbart-cnn-12-6`` (12 encoder / 6
decoder layers, d_model 1024, 16 heads, ffn 4096, vocab 50264) and random weights, built
by HF transformers and saved once; every worker loads that folder. The request is 8
documents of 512 tokens, beam search with 4 beams and 64 new tokens, with distilbart's
generation settings given explicitly and identically to both libraries (``SETTINGS``).

Each library / backend runs in its own long-lived subprocess (``KERAS_BACKEND`` is fixed
per process), pinned to the same CPUs (``--threads``). A worker loads the model and runs
the request once untimed (keras_tfm compiles its steps then), then waits. The driver runs
``--rounds`` interleaved rounds, each worker one timed ``generate`` call per round in
turn, the others idle meanwhile, and records the machine's load average before and after
each call. Reported: the best (min) and median time of each, the ratio of bests to HF
(< 1 is faster than HF), and whether keras_tfm's token ids equal HF's. Results:
``benchmarks/results/seq2seq.json`` and ``benchmarks/results/seq2seq.md``.

On a machine other processes load, pass ``--threads 1``: torch's thread pool spinning
against them made HF and keras_tfm-torch 10-20x slower in the ``--tiny`` smoke run.
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np

from bench_encoder import machine_info, peak_rss_mb, ratio
from bench_pipeline import uptime
from results_notes import write_results_md
from workers import Worker, run_rounds, set_threads

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
BACKENDS = ("torch", "tensorflow", "jax")

DISTILBART = dict(vocab_size=50264, d_model=1024, encoder_layers=12, decoder_layers=6, encoder_attention_heads=16,
                  decoder_attention_heads=16, encoder_ffn_dim=4096, decoder_ffn_dim=4096,
                  max_position_embeddings=1024, activation_function="gelu", scale_embedding=False,
                  pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2, forced_eos_token_id=2)
TINY = dict(DISTILBART, vocab_size=1000, d_model=64, encoder_layers=2, decoder_layers=1, encoder_attention_heads=4,
            decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128, max_position_embeddings=256)
# distilbart-cnn-12-6's generation settings (its config.json: 4 beams, no_repeat_ngram_size 3, length_penalty 2.0,
# early_stopping; forced BOS / EOS as its parent bart-large-cnn's), but 64 new tokens and no minimum length
SETTINGS = dict(num_beams=4, min_length=0, no_repeat_ngram_size=3, length_penalty=2.0, early_stopping=True,
                forced_bos_token_id=0, forced_eos_token_id=2, decoder_start_token_id=2, eos_token_id=2,
                pad_token_id=1, do_sample=False)


def documents(count, length, vocab):
    """``count`` documents of ``length`` token ids, ``<s> ... </s>``, the same in every worker."""
    ids = np.random.RandomState(0).randint(4, vocab, (count, length)).astype("int64")
    ids[:, 0], ids[:, -1] = 0, 2
    return ids


# ---- workers: one long-lived subprocess each --------------------------------------------------
def prepare(folder, tiny):
    """Saves the random-weight BART (HF transformers) under ``folder``."""
    import torch
    import transformers

    torch.manual_seed(0)
    model = transformers.BartForConditionalGeneration(transformers.BartConfig(**(TINY if tiny else DISTILBART)))
    model.eval().save_pretrained(folder)
    return {"transformers": transformers.__version__, "torch": torch.__version__,
            "parameters": sum(p.numel() for p in model.parameters())}


def load(args):
    """``(generate(ids, mask) -> numpy sequences, versions)`` of this worker's library and backend."""
    if args.library == "hf":
        import torch
        import transformers

        torch.set_grad_enabled(False)
        model = transformers.BartForConditionalGeneration.from_pretrained(args.folder).eval()

        def generate(ids, mask):
            return model.generate(torch.tensor(ids), attention_mask=torch.tensor(mask),
                                  max_new_tokens=args.new_tokens, **SETTINGS).numpy()

        return generate, {"transformers": transformers.__version__, "torch": torch.__version__}
    sys.path.insert(0, ROOT)
    import keras

    import keras_tfm
    from keras_tfm import backend

    model = keras_tfm.AutoModelForSeq2SeqLM.from_pretrained(args.folder)

    def generate(ids, mask):
        out = model.generate(ids, attention_mask=mask, max_new_tokens=args.new_tokens, **SETTINGS)
        return np.asarray(backend.to_numpy(out))

    return generate, {"keras": keras.__version__, args.backend: __import__(args.backend).__version__}


def worker(args):
    """Loads, runs the request once untimed, prints ``READY``; then one timed run per ``run`` line on stdin."""
    set_threads(args.threads, args.library, args.backend)
    generate, versions = load(args)
    ids = documents(args.documents, args.length, (TINY if args.tiny else DISTILBART)["vocab_size"])
    mask = np.ones_like(ids)
    start = time.perf_counter()
    sequences = generate(ids, mask)
    print("READY " + json.dumps({"warmup_s": time.perf_counter() - start, "versions": versions,
                                 "sequences": sequences.tolist()}), flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        start = time.perf_counter()
        sequences = generate(ids, mask)
        seconds = time.perf_counter() - start
        print("RESULT " + json.dumps({"seconds": seconds, "sequences": sequences.tolist(),
                                      "peak_rss_mb": peak_rss_mb()}), flush=True)


# ---- the driver ---------------------------------------------------------------------------
def start_worker(args, library, backend_name):
    """A ``workers.Worker`` running this script's ``worker`` for ``library`` on ``backend_name``."""
    label = "transformers" if library == "hf" else f"keras_tfm/{backend_name}"
    worker_args = ["--library", library, "--folder", args.folder, "--threads", str(args.threads), "--documents",
                   str(args.documents), "--length", str(args.length), "--new-tokens", str(args.new_tokens)]
    return Worker(__file__, label, backend_name, worker_args + (["--tiny"] if args.tiny else []))


def render(report):
    config = report["config"]
    lines = [
        f"# Summarization: BART {config['shape']}, {config['documents']} documents x {config['length']} tokens, "
        f"{SETTINGS['num_beams']} beams, {config['new_tokens']} new tokens, fp32, CPU",
        "",
        f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, {config['threads'] or 'all'} used "
        f"by each worker. `uptime` at start: {report['uptime_start']}; at end: {report['uptime_end']}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(report["versions"].items())) + ".",
        f"Settings given to both libraries: {json.dumps(SETTINGS)}. {config['rounds']} interleaved rounds, one "
        "timed generate() per worker per round after an untimed one; best = min over the rounds; ratio = best / HF's "
        "best (< 1 is faster than HF). Targets: <= 1.0 on every backend, <= 0.7 on JAX and TF.",
        "",
        "| library | best (s) | median (s) | warm-up (s) | ratio vs HF | target | tokens equal HF | load average "
        "before -> after each run |",
        "|---|---:|---:|---:|---:|---|---|---|",
    ]
    hf_best = report["rows"][0]["best_s"] if report["rows"] and report["rows"][0]["library"] == "transformers" \
        else float("nan")
    for r in report["rows"]:
        target = {"transformers": None, "keras_tfm/torch": 1.0}.get(r["library"], 0.7)
        value = ratio(r["best_s"], hf_best)
        met = "" if target is None else ("met" if value <= target else "missed")
        loads = "; ".join(f"{a:.2f} -> {b:.2f}" for a, b in r["load_average"])
        lines.append(f"| {r['library']} | {r['best_s']:.2f} | {r['median_s']:.2f} | {r['warmup_s']:.1f} | "
                     f"{value:.2f} | {met} | {r['tokens_equal_hf']} | {loads} |")
    if report["failed"]:
        lines += ["", "FAILED workers: " + ", ".join(report["failed"])]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="small dimensions (a smoke run)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved timed rounds (default 3; 1 with --tiny)")
    parser.add_argument("--documents", type=int, default=8)
    parser.add_argument("--length", type=int, default=None, help="tokens per document (default 512; 64 with --tiny)")
    parser.add_argument("--new-tokens", type=int, default=None, help="default 64 (16 with --tiny)")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPUs each worker is pinned to, and its torch / TF threads (0: all CPUs)")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--results", default=None,
                        help="folder for seq2seq.json / seq2seq.md (default benchmarks/results; a temporary folder "
                             "with --tiny)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--library", default="hf", help=argparse.SUPPRESS)
    parser.add_argument("--backend", default="torch", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.rounds = args.rounds or (1 if args.tiny else 3)
    args.length = args.length or (64 if args.tiny else 512)
    args.new_tokens = args.new_tokens or (16 if args.tiny else 64)
    args.results = args.results or (tempfile.mkdtemp(prefix="bench_seq2seq_") if args.tiny else RESULTS)
    if args.worker:
        return worker(args)

    start = time.perf_counter()
    report = {"config": dict(shape="tiny" if args.tiny else "distilbart-cnn-12-6", documents=args.documents,
                             length=args.length, new_tokens=args.new_tokens, rounds=args.rounds, threads=args.threads,
                             settings=SETTINGS),
              "machine": machine_info(), "uptime_start": uptime(), "versions": {"python": platform.python_version()},
              "rows": [], "failed": []}
    with tempfile.TemporaryDirectory() as folder:
        args.folder = folder
        report["versions"].update(prepare(folder, args.tiny))
        workers = []
        for library, backend_name in [("hf", "torch")] + [("keras_tfm", b) for b in args.backends.split(",") if b]:
            w = start_worker(args, library, backend_name)
            print(f"  {w.label:22s} " + ("failed" if w.ready is None else f"ready (warm-up {w.ready['warmup_s']:.1f} s)"),
                  file=sys.stderr)
            (workers if w.ready is not None else report["failed"]).append(w if w.ready is not None else w.label)
        runs = run_rounds(workers, args.rounds, report["failed"])
        for w in workers:
            w.close()
    reference = next((r[-1]["sequences"] for label, r in runs.items() if label == "transformers" and r), None)
    for w in workers:
        times = [r["seconds"] for r in runs[w.label]]
        report["versions"].update(w.ready["versions"])
        report["rows"].append(dict(
            library=w.label, best_s=min(times), median_s=float(np.median(times)), times_s=times,
            warmup_s=w.ready["warmup_s"], load_average=[r["load_average"] for r in runs[w.label]],
            peak_rss_mb=runs[w.label][-1]["peak_rss_mb"], new_tokens=len(runs[w.label][-1]["sequences"][0]) - 1,
            tokens_equal_hf=None if reference is None else all(r["sequences"] == reference for r in runs[w.label])))
    report["uptime_end"] = uptime()
    report["machine"]["load_average_end"] = os.getloadavg()
    report["wall_s"] = time.perf_counter() - start
    hf_best = next((r["best_s"] for r in report["rows"] if r["library"] == "transformers"), None)
    for r in report["rows"]:
        r["ratio_vs_hf"] = ratio(r["best_s"], hf_best) if hf_best else None
    os.makedirs(args.results, exist_ok=True)
    name = "seq2seq"
    with open(os.path.join(args.results, name + ".json"), "w") as f:
        json.dump(report, f, indent=1)
    text = render(report)
    write_results_md(os.path.join(args.results, name + ".md"), text)
    print(text)
    print(f"(whole benchmark: {report['wall_s']:.0f} s; written to {args.results}/{name}.{{json,md}})")
    different = [r["library"] for r in report["rows"] if r["tokens_equal_hf"] is False]
    if different:
        print(f"TOKEN MISMATCH vs HF: {different}", file=sys.stderr)
    return 1 if different or report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
