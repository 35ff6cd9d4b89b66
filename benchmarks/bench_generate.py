"""Generation speed: keras_tfm ``generate`` (torch / tensorflow / jax) vs HF transformers ``generate``.

One command, one run:

    python benchmarks/bench_generate.py                 # full: 128-token prompt, 128 new tokens
    python benchmarks/bench_generate.py --quick         # smaller: 32 + 32 tokens, for a smoke run

Models (random weights, fp32, CPU): a GPT-2 124M-shaped model and a ~100M Llama-shaped
model (GQA, SwiGLU, RoPE). Greedy decoding, batch 1 and 8, no early stop (no eos).
Each library / backend runs in its own subprocess (``KERAS_BACKEND`` is fixed per
process). keras_tfm: one warm-up generation of the same shape (compiles prefill and
decode), then timed runs (greedy takes the on-device loop of 16 steps per call on JAX
and TF, as a user's plain greedy call does); HF transformers (PyTorch) is timed with its default dynamic
cache and with ``cache_implementation="static"``. Reported: new tokens per second
(batch x new tokens / wall time), time to first token (a ``max_new_tokens=1`` call:
prefill + first token), and the ratio to HF's default. keras_tfm's tokens are checked
to equal HF's greedy tokens on the same model first (tokens_match).
Results: ``benchmarks/results/generate.json`` and ``benchmarks/results/generate.md``.
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

from results_notes import write_results_md

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
BACKENDS = ("torch", "tensorflow", "jax")
HF_CACHES = ("dynamic", "static")

MODELS = {
    "gpt2-124M": ("GPT2LMHeadModel", "GPT2Config",
                  dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12)),
    "llama-100M": ("LlamaForCausalLM", "LlamaConfig",
                   dict(vocab_size=32000, hidden_size=768, intermediate_size=2048, num_hidden_layers=8,
                        num_attention_heads=12, num_key_value_heads=4, max_position_embeddings=2048,
                        tie_word_embeddings=False)),
}


def make_models(root, names=None):
    """Saves a random-weight HF model per name in ``names`` (default: all of MODELS) under ``root``."""
    import torch
    import transformers

    paths = {}
    for name in names or MODELS:
        cls, cfg_cls, kwargs = MODELS[name]
        path = os.path.join(root, name)
        torch.manual_seed(0)
        model = getattr(transformers, cls)(getattr(transformers, cfg_cls)(**kwargs)).eval()
        model.save_pretrained(path)
        paths[name] = path
    return paths


def prompts(batch, length, vocab):
    return np.random.RandomState(0).randint(100, min(vocab, 30000), (batch, length)).astype("int64")


def _time(fn, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def worker(lib, args):
    """Runs in its own process (keras_tfm imported from the source tree ``args.tree``); prints one JSON line of results."""
    path, batches, prompt_len, new_tokens, runs = args.path, args.batches, args.prompt, args.new, args.runs
    torch_threads, tree = args.torch_threads, args.tree
    results = []
    if torch_threads and lib in ("hf", "torch"):
        import torch

        torch.set_num_threads(torch_threads)
    if lib == "hf":
        import torch
        import transformers

        torch.set_grad_enabled(False)
        model = transformers.AutoModelForCausalLM.from_pretrained(path).eval()
        for batch in batches:
            ids = torch.tensor(prompts(batch, prompt_len, model.config.vocab_size))
            for cache in args.hf_caches:
                extra = {"cache_implementation": "static"} if cache == "static" else {}

                def gen(n):
                    return model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n,
                                          min_new_tokens=n, do_sample=False, eos_token_id=None, pad_token_id=0,
                                          **extra)

                gen(2)  # warm-up
                seconds, out = _time(lambda: gen(new_tokens), runs)
                ttft, _ = _time(lambda: gen(1), runs)
                results.append(dict(lib=f"hf-{cache}", batch=batch, seconds=seconds, ttft=ttft,
                                    tokens=out[:, prompt_len:].numpy().tolist()))
    else:
        os.environ["KERAS_BACKEND"] = lib
        sys.path.insert(0, tree)
        import keras_tfm
        from keras_tfm import backend

        model = keras_tfm.AutoModelForCausalLM.from_pretrained(path)
        for batch in batches:
            ids = prompts(batch, prompt_len, model.config.vocab_size)

            def gen(n):
                return np.asarray(backend.to_numpy(model.generate(ids, max_new_tokens=n, do_sample=False,
                                                                  eos_token_id=None, pad_token_id=0)))

            start = time.perf_counter()
            gen(new_tokens)  # warm-up: compiles prefill and decode for these shapes
            gen(1)
            compile_seconds = time.perf_counter() - start
            seconds, out = _time(lambda: gen(new_tokens), runs)
            ttft, _ = _time(lambda: gen(1), runs)
            results.append(dict(lib=f"keras_tfm-{lib}", batch=batch, seconds=seconds, ttft=ttft,
                                warmup_seconds=compile_seconds, tokens=out[:, prompt_len:].tolist(),
                                keras_tfm_file=keras_tfm.__file__))
    print("RESULT " + json.dumps(results))


def run_worker(lib, path, args, tree=ROOT):
    """Runs one worker in a subprocess that imports ``keras_tfm`` from the source tree ``tree``; returns its rows."""
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", lib, "--path", path,
           "--batches", *map(str, args.batches), "--prompt", str(args.prompt), "--new", str(args.new),
           "--runs", str(args.runs), "--torch-threads", str(args.torch_threads), "--tree", tree,
           "--hf-caches", *args.hf_caches]
    env = {**os.environ, "PYTHONPATH": tree + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
    return [dict(lib=f"keras_tfm-{lib}" if lib != "hf" else "hf", error=(proc.stderr or proc.stdout)[-500:])]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker")
    parser.add_argument("--path")
    parser.add_argument("--tree", default=ROOT, help=argparse.SUPPRESS)  # the source tree keras_tfm is imported from
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--prompt", type=int, default=128)
    parser.add_argument("--new", type=int, default=128)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--quick", action="store_true", help="32-token prompt, 32 new tokens")
    parser.add_argument("--hf-caches", nargs="+", choices=HF_CACHES, default=list(HF_CACHES),
                        help="HF cache implementations to time (the ratios are against 'dynamic', HF's default)")
    parser.add_argument("--merge", action="store_true",
                        help="keep the rows of the models not run now from the existing generate.json")
    parser.add_argument("--timeout", type=int, default=3600)
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch intra-op threads for HF and keras_tfm-torch (0: torch's default); on a shared "
                             "2-core machine torch's spinning thread pool was up to 50x slower than one thread")
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args)
    if args.quick:
        args.prompt, args.new = 32, 32
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_models(tmp, args.models)
        for name in args.models:
            hf = {(r["lib"], r["batch"]): r for r in run_worker("hf", paths[name], args) if "error" not in r}
            for r in hf.values():
                rows.append(dict(model=name, **r))
            for b in args.backends:
                for r in run_worker(b, paths[name], args):
                    if "error" in r:
                        rows.append(dict(model=name, **r))
                        continue
                    ref = hf.get(("hf-dynamic", r["batch"]))
                    r["tokens_match"] = bool(ref and ref["tokens"] == r["tokens"])
                    rows.append(dict(model=name, **r))
    for r in rows:
        if "seconds" in r:
            r["tokens_per_s"] = r["batch"] * args.new / r["seconds"]
            ref = next((h for h in rows if h.get("lib") == "hf-dynamic" and h["model"] == r["model"]
                        and h["batch"] == r["batch"]), None)
            r["vs_hf_default"] = r["tokens_per_s"] / (ref["batch"] * args.new / ref["seconds"]) if ref else None
        r.pop("tokens", None)
    if args.merge and os.path.exists(os.path.join(RESULTS, "generate.json")):
        with open(os.path.join(RESULTS, "generate.json")) as f:
            kept = [r for r in json.load(f)["rows"] if r["model"] not in args.models]
        rows = kept + rows
    meta = dict(prompt_tokens=args.prompt, new_tokens=args.new, batches=args.batches, runs=args.runs,
                torch_threads=args.torch_threads,
                machine=platform.machine(), cpus=os.cpu_count(), python=platform.python_version(),
                note="CPU, fp32, greedy, random weights; min over runs; shared 2-core machine, figures are noisy")
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "generate.json"), "w") as f:
        json.dump(dict(meta=meta, rows=rows), f, indent=2)
    lines = [f"# Generation benchmark ({args.prompt}-token prompt, {args.new} new tokens, greedy, fp32, CPU)", "",
             "| model | library | batch | tokens/s | vs HF default | time to first token (s) | tokens match HF |",
             "| --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['lib']} | | error | | | |")
            continue
        ratio = f"{r['vs_hf_default']:.2f}x" if r.get("vs_hf_default") else ""
        lines.append(f"| {r['model']} | {r['lib']} | {r['batch']} | {r['tokens_per_s']:.1f} | {ratio} | "
                     f"{r['ttft']:.3f} | {r.get('tokens_match', '')} |")
    lines += ["", meta["note"]]
    write_results_md(os.path.join(RESULTS, "generate.md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
