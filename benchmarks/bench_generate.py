"""Generation speed: keras_tfm ``generate`` (torch / tensorflow / jax) vs HF transformers ``generate``.

One command, one run:

    python benchmarks/bench_generate.py             # GPT-2 124M and Llama ~100M, batch 1 and 8, 128 + 128 tokens
    python benchmarks/bench_generate.py --tiny      # a smoke run: GPT-2, batch 1, 32 + 32 tokens, one round
    python benchmarks/bench_generate.py --cases gpt2-124M --dtypes float32,bfloat16 --thread-settings 0

Models (random weights, built by HF transformers and saved once; every worker loads that folder): a
GPT-2 124M-shaped model and a ~100M Llama-shaped model (GQA, SwiGLU, RoPE). Greedy decoding, no eos.

Fair by construction: every library runs in its own long-lived subprocess (``benchmarks/workers.py``)
pinned to the same CPUs, with the same thread count, inputs and dtype. Each thread setting
(``--thread-settings``, default ``0,1``: torch's default threads on all CPUs, then one thread for
everyone) gets its own table. Each worker generates once untimed (compiling what it compiles), times
its time to first token (a ``max_new_tokens=1`` call, best of 3), then ``--rounds`` interleaved timed
rounds run every worker of a case in turn, the others idle, with the load average before and after
each run; best and median are reported. keras_tfm: ``model.generate`` (greedy takes the on-device loop
on JAX and TF); HF: ``model.generate`` with its default dynamic cache and with
``cache_implementation="static"``; KerasHub (``--keras-hub``): its own ``GPT2CausalLM`` / ``LlamaCausalLM``
loaded from the same folder by its transformers converter, ``generate`` with its greedy sampler.

The machine's limit is measured in the same run: a read-bandwidth probe (a sum over a 1 GiB buffer,
torch at the same threads) gives GB/s; a batch-1 decode step reads every weight once (the input
embedding tables only by lookup), so weight bytes / bandwidth is the fastest possible step, and each
batch-1 row reports its decode step (time after the first token / new tokens after the first) as a
fraction of that roofline.

Tokens: each keras_tfm and KerasHub row's greedy tokens against HF's of the same dtype (``tokens match HF``, and the
fraction of positions that agree); bf16 rows also against HF in fp32.
Results: ``benchmarks/results/generate.{json,md}``.
"""

import argparse
import os
import platform
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from bench_encoder import machine_info  # noqa: E402
from bench_pipeline import uptime  # noqa: E402
from workers import (Worker, driver_parser, parse_driver_args, run_rounds, save_report, serve,  # noqa: E402
                     set_threads)

BACKENDS = ("torch", "tensorflow", "jax")
HF_CACHES = ("dynamic", "static")
DTYPES = ("float32", "bfloat16", "int8")  # int8: fp32 weights quantized by Keras (keras_tfm only; HF has no CPU int8)
PROBE_BYTES = 1 << 30

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


# ---- workers: one per subprocess ------------------------------------------------------------
def weight_bytes_read_per_step(model):
    """Bytes of an HF model's weights a batch-1 decode step reads: every parameter once, except the
    embedding tables it only looks rows up in (a tied output head reads its table whole)."""
    import torch

    head = model.get_output_embeddings()
    head_weight = None if head is None else head.weight
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    lookups = sum(m.weight.numel() * m.weight.element_size() for m in model.modules()
                  if isinstance(m, torch.nn.Embedding) and m.weight is not head_weight)
    return total - lookups


def load_generator(args):
    """``(generate(ids, new_tokens) -> numpy (B, prompt + new), versions, info)`` for this worker's library."""
    path = os.path.join(args.folder, args.case)
    if args.library == "hf":
        import torch
        import transformers

        torch.set_grad_enabled(False)
        model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, args.dtype)).eval()
        extra = {"cache_implementation": "static"} if args.hf_cache == "static" else {}

        def generate(ids, n):
            ids = torch.from_numpy(ids)
            return model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n,
                                  do_sample=False, eos_token_id=None, pad_token_id=0, **extra).numpy()

        info = {"weight_bytes": weight_bytes_read_per_step(model), "vocab_size": model.config.vocab_size,
                "torch_threads": torch.get_num_threads()}
        return generate, {"transformers": transformers.__version__, "torch": torch.__version__}, info
    if args.library == "keras_hub":
        return load_keras_hub_generator(args, path)
    import keras

    import keras_tfm
    from keras_tfm import backend

    if args.dtype == "int8":
        model = keras_tfm.AutoModelForCausalLM.from_pretrained(path, quantization_config="int8")
    else:
        model = keras_tfm.AutoModelForCausalLM.from_pretrained(path, dtype=args.dtype)

    def generate(ids, n):
        out = model.generate(ids, max_new_tokens=n, do_sample=False, eos_token_id=None, pad_token_id=0)
        return np.asarray(backend.to_numpy(out))

    versions = {"keras": keras.__version__, args.backend: __import__(args.backend).__version__}
    info = {"vocab_size": model.config.vocab_size, "keras_tfm_file": keras_tfm.__file__}
    if args.dtype == "int8":
        info["weight_bytes"] = int8_weight_bytes(model, model.get_input_embeddings(),
                                                 tied=getattr(model, "lm_head", None) is None)
    return generate, versions, info


KERAS_HUB_MODELS = {"gpt2-124M": ("GPT2Backbone", "GPT2CausalLM"), "llama-100M": ("LlamaBackbone", "LlamaCausalLM")}


def load_keras_hub_generator(args, path):
    """KerasHub's own model of the case, loaded from the same HF folder by KerasHub's transformers
    converter, generating greedily with its compiled sampler. Without a preprocessor KerasHub generates
    into the padded positions of ``token_ids``: the prompt, then ``n`` masked slots."""
    import keras
    import keras_hub

    backbone_name, lm_name = KERAS_HUB_MODELS[args.case]
    dtype = None if args.dtype == "int8" else args.dtype
    backbone = getattr(keras_hub.models, backbone_name).from_preset(path, dtype=dtype)
    model = getattr(keras_hub.models, lm_name)(backbone=backbone, preprocessor=None)
    if args.dtype == "int8":
        model.quantize("int8")
    model.compile(sampler="greedy")

    def generate(ids, n):
        batch, prompt = ids.shape
        token_ids = np.zeros((batch, prompt + n), "int32")
        token_ids[:, :prompt] = ids
        padding_mask = np.arange(prompt + n)[None, :].repeat(batch, 0) < prompt
        out = model.generate({"token_ids": token_ids, "padding_mask": padding_mask}, stop_token_ids=None)
        return np.asarray(out["token_ids"])

    versions = {"keras": keras.__version__, "keras_hub": keras_hub.__version__,
                args.backend: __import__(args.backend).__version__}
    info = {"vocab_size": backbone.vocabulary_size}
    if args.dtype == "int8":
        info["weight_bytes"] = int8_weight_bytes(model, backbone.token_embedding,
                                                 tied=getattr(backbone, "tie_word_embeddings", True))
    return generate, versions, info


def int8_weight_bytes(model, input_embedding, tied):
    """The bytes a batch-1 step of an int8 Keras model reads: every int8 kernel and scale, norms, biases,
    a tied table; the other embedding tables are only looked up."""
    import keras

    lookups = {id(v) for layer in model._flatten_layers() if isinstance(layer, keras.layers.Embedding)
               and not (tied and layer is input_embedding) for v in layer.weights}
    return sum(int(np.prod(v.shape)) * np.dtype(keras.backend.standardize_dtype(v.dtype)).itemsize
               for v in model.weights if id(v) not in lookups)


def best_of(fn, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def worker(args):
    set_threads(args.threads, args.library, args.backend)
    if args.library == "probe":
        return probe(args)
    generate, versions, info = load_generator(args)
    ids = prompts(args.batch, args.prompt, info["vocab_size"])
    start = time.perf_counter()
    tokens = generate(ids, args.new)[:, args.prompt:]  # compiles prefill and decode for these shapes
    generate(ids, 1)
    compile_s = time.perf_counter() - start
    ttft = best_of(lambda: generate(ids, 1), 3)

    def request():
        generate(ids, args.new)
        return {}

    ready = iter([{"tokens": tokens.tolist(), "ttft_s": ttft, "compile_s": compile_s, "versions": versions, **info}])
    serve(lambda: next(ready, None) or request())  # the first (untimed) answer is READY's


def probe(args):
    """Read bandwidth (GB/s): the best of 5 sums over a ``PROBE_BYTES`` float32 buffer (larger than any
    cache), at this worker's threads."""
    import torch

    buffer = torch.ones(PROBE_BYTES // 4)
    buffer.sum()

    def request():
        return {"gb_per_s": PROBE_BYTES / best_of(buffer.sum, 5) / 1e9, "torch_threads": torch.get_num_threads()}

    serve(request)


# ---- the driver ---------------------------------------------------------------------------------------
def labels(args, dtype):
    """``(label, library, backend, hf_cache)`` of every worker of one case."""
    out = [] if dtype == "int8" else [(f"transformers ({cache} cache)", "hf", "torch", cache)
                                      for cache in args.hf_caches.split(",")]
    out += [(f"keras_tfm/{b}", "keras_tfm", b, "dynamic") for b in args.backends.split(",")]
    return out + [(f"KerasHub/{b}", "keras_hub", b, "dynamic") for b in args.keras_hub.split(",") if b]


def worker_args(args, case, library, backend_name, hf_cache, batch, dtype, threads):
    return ["--case", case, "--library", library, "--folder", args.folder, "--threads", str(threads),
            "--batch", str(batch), "--prompt", str(args.prompt), "--new", str(args.new), "--dtype", dtype,
            "--hf-cache", hf_cache]


def measure_bandwidth(args, threads):
    w = Worker(__file__, "bandwidth probe", "torch", ["--library", "probe", "--threads", str(threads)])
    results = [w.run() for _ in range(3)] if w.ready is not None else []
    w.close()
    return max((r["gb_per_s"] for r in results if r), default=None)


def run_case(args, report, threads, case, batch, dtype, bandwidth):
    workers = []
    for label, library, backend_name, hf_cache in labels(args, dtype):
        w = Worker(__file__, label, backend_name,
                   worker_args(args, case, library, backend_name, hf_cache, batch, dtype, threads))
        w.library = library
        print(f"  [{threads or 'all'} threads, {case}, batch {batch}, {dtype}] {label:28s} "
              + ("failed" if w.ready is None else f"ready (first two generations {w.ready['compile_s']:.1f} s)"), file=sys.stderr)
        if w.ready is None:
            report["failed"].append(f"{case}/{batch}/{dtype}/{threads}: {label}")
        else:
            workers.append(w)
    failed = []
    runs = run_rounds(workers, args.rounds, failed)
    report["failed"] += [f"{case}/{batch}/{dtype}/{threads}: {label}" for label in failed]
    for w in workers:
        w.close()
        times = [r["seconds"] for r in runs[w.label]]
        if not times:
            continue
        report["versions"].update(w.ready["versions"])
        best = min(times)
        decode_s = (best - w.ready["ttft_s"]) / max(1, args.new - 1)
        row = dict(threads=threads, case=case, batch=batch, dtype=dtype, label=w.label, library=w.library,
                   backend=w.backend, best_s=best, median_s=float(np.median(times)), times_s=times,
                   tokens_per_s=batch * args.new / best, ttft_s=w.ready["ttft_s"], decode_step_s=decode_s,
                   first_generations_s=w.ready["compile_s"], load_average=[r["load_average"] for r in runs[w.label]],
                   tokens=w.ready["tokens"], weight_bytes=w.ready.get("weight_bytes"),
                   keras_tfm_file=w.ready.get("keras_tfm_file"))
        report["rows"].append(row)
    hf = [r for r in report["rows"] if (r["threads"], r["case"], r["batch"]) == (threads, case, batch)
          and r["library"] == "hf" and "dynamic" in r["label"]]
    for r in report["rows"]:
        if (r["threads"], r["case"], r["batch"], r["dtype"]) != (threads, case, batch, dtype):
            continue
        fp32 = next((h for h in hf if h["dtype"] == "float32"), None)
        same = next((h for h in hf if h["dtype"] == dtype), None) or fp32  # int8: against HF in fp32
        r["vs_hf"] = r["tokens_per_s"] / same["tokens_per_s"] if same else None
        r["agree_hf"] = agreement(r["tokens"], same["tokens"]) if same else None
        r["agree_hf_fp32"] = agreement(r["tokens"], fp32["tokens"]) if fp32 else None
        weight_bytes = r["weight_bytes"] or (same or {}).get("weight_bytes")
        if batch == 1 and bandwidth and weight_bytes:
            r["roofline_fraction"] = weight_bytes / (bandwidth * 1e9) / r["decode_step_s"]


def agreement(a, b):
    """The fraction of greedy token positions where ``a`` and ``b`` hold the same token."""
    a, b = np.asarray(a), np.asarray(b)
    return float((a == b).mean()) if a.shape == b.shape else 0.0


def render(report):
    config = report["config"]
    lines = [f"# Generation: greedy, {config['prompt']}-token prompt + {config['new']} new tokens, CPU"
             + (" (tiny smoke run)" if config["tiny"] else ""), "",
             f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores. `uptime` at start: "
             f"{report['uptime_start']}; at end: {report['uptime_end']}.",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(report["versions"].items())) + ".",
             f"{config['rounds']} interleaved rounds per case after an untimed generation; tokens/s = batch x new "
             "tokens / best time; ratio = tokens/s / HF's (dynamic cache, same dtype, same threads; int8 rows: HF in fp32); roofline = "
             "(weight bytes read per step / measured read bandwidth) / measured decode step, batch 1.", ""]
    for threads in config["thread_settings"]:
        bandwidth = report["bandwidth_gb_per_s"].get(str(threads))
        title = "torch's default threads, all CPUs" if threads == 0 else f"{threads} thread(s) for every library"
        lines += [f"## {title}", "",
                  f"Read bandwidth at these threads: {bandwidth:.1f} GB/s." if bandwidth else "Bandwidth: not measured.",
                  "", "| model | batch | dtype | library | tokens/s | ratio vs HF | time to first token (s) | "
                  "decode step (ms) | roofline | tokens match HF | agreement with HF (same dtype / fp32) | "
                  "load average before -> after each run |",
                  "|---|---:|---|---|---:|---:|---:|---:|---:|---|---|---|"]
        for r in (r for r in report["rows"] if r["threads"] == threads):
            ratio = "" if r.get("vs_hf") is None else f"{r['vs_hf']:.2f}x"
            roof = f"{r['roofline_fraction']:.0%}" if r.get("roofline_fraction") else ""
            match = "" if r["library"] == "hf" else str(r.get("agree_hf") == 1.0)
            agree = "" if r["library"] == "hf" and r["dtype"] == "float32" else " / ".join(
                "" if v is None else f"{v:.2f}" for v in (r.get("agree_hf"), r.get("agree_hf_fp32")))
            loads = "; ".join(f"{a:.2f} -> {b:.2f}" for a, b in r["load_average"])
            lines.append(f"| {r['case']} | {r['batch']} | {r['dtype']} | {r['label']} | {r['tokens_per_s']:.1f} | "
                         f"{ratio} | {r['ttft_s']:.3f} | {r['decode_step_s'] * 1e3:.1f} | {roof} | {match} | "
                         f"{agree} | {loads} |")
        lines.append("")
    if report["failed"]:
        lines += ["FAILED workers: " + ", ".join(report["failed"]), ""]
    return "\n".join(lines)


def main():
    parser = driver_parser(__doc__, ",".join(MODELS), "generate", "GPT-2, batch 1, 32 + 32 tokens, one round")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--prompt", type=int, default=128)
    parser.add_argument("--new", type=int, default=128)
    parser.add_argument("--dtypes", default="float32", help=f"comma-separated, of {DTYPES}")
    parser.add_argument("--thread-settings", default="0,1",
                        help="thread counts, one table each (0: torch's default threads on all CPUs)")
    parser.add_argument("--hf-caches", default=",".join(HF_CACHES))
    parser.add_argument("--keras-hub", default=",".join(BACKENDS),
                        help="backends KerasHub's own GPT-2 / Llama runs on ('' to leave KerasHub out)")
    parser.add_argument("--report-name", default="generate", help="results/<name>.{json,md}")
    parser.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
    parser.add_argument("--hf-cache", default="dynamic", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    args = parse_driver_args(parser, "generate")
    if args.worker:
        return worker(args)
    if args.tiny:
        args.cases, args.batches, args.prompt, args.new, args.thread_settings = "gpt2-124M", "1", 32, 32, "0"
    thread_settings = [int(t) for t in args.thread_settings.split(",")]
    start = time.perf_counter()
    report = {"config": dict(tiny=args.tiny, rounds=args.rounds, prompt=args.prompt, new=args.new,
                             thread_settings=thread_settings, cases=args.cases, dtypes=args.dtypes),
              "machine": machine_info(), "uptime_start": uptime(), "versions": {"python": platform.python_version()},
              "rows": [], "failed": [], "bandwidth_gb_per_s": {}}
    with tempfile.TemporaryDirectory() as folder:
        args.folder = folder
        make_models(folder, args.cases.split(","))
        for threads in thread_settings:
            bandwidth = measure_bandwidth(args, threads)
            report["bandwidth_gb_per_s"][str(threads)] = bandwidth
            for case in args.cases.split(","):
                for batch in map(int, args.batches.split(",")):
                    for dtype in args.dtypes.split(","):  # one group at a time: only its workers are in memory
                        run_case(args, report, threads, case, batch, dtype, bandwidth)
    for r in report["rows"]:
        r.pop("tokens")
    report["uptime_end"] = uptime()
    report["machine"]["load_average_end"] = os.getloadavg()
    report["wall_s"] = time.perf_counter() - start
    save_report(report, args.results, args.report_name, render)
    wrong = [f"{r['case']}/{r['batch']}/{r['label']}" for r in report["rows"]
             if r["library"] == "keras_tfm" and r["dtype"] == "float32" and r.get("agree_hf") != 1.0]
    if wrong:
        print(f"TOKENS DIFFER from HF's in fp32: {wrong}", file=sys.stderr)
    return 1 if wrong or report["failed"] else 0


def run_worker(lib, path, args, tree=ROOT):
    """One worker per batch size of ``args.batches`` for ``ab.py``: keras_tfm from the source tree ``tree``
    (``lib`` a backend) or HF (``lib == "hf"``, dynamic cache), ``args.runs`` timed runs each; rows of
    ``lib, batch, seconds, ttft, tokens, keras_tfm_file``, or one row with ``error``."""
    library, backend_name = ("hf", "torch") if lib == "hf" else ("keras_tfm", lib)
    rows = []
    for batch in args.batches:
        options = ["--case", os.path.basename(path), "--library", library, "--folder", os.path.dirname(path),
                   "--threads", str(args.threads), "--batch", str(batch), "--prompt", str(args.prompt),
                   "--new", str(args.new), "--dtype", "float32", "--hf-cache", "dynamic"]
        w = Worker(__file__, lib, backend_name, options, tree=tree)
        results = [w.run() for _ in range(args.runs)] if w.ready is not None else [None]
        w.close()
        if None in results:
            return [dict(lib=lib, error=f"the {lib} worker failed (its log is above)")]
        rows.append(dict(lib="hf-dynamic" if lib == "hf" else f"keras_tfm-{lib}", batch=batch,
                         seconds=min(r["seconds"] for r in results), ttft=w.ready["ttft_s"],
                         tokens=w.ready["tokens"], keras_tfm_file=w.ready.get("keras_tfm_file")))
    return rows


if __name__ == "__main__":
    sys.exit(main())
