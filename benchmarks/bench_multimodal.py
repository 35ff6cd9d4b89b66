"""Multimodal speed: keras_tfm (torch / tensorflow / jax) vs HF transformers: a ViT-GPT2 captioner, ViLT VQA.

One command, one run:

    python benchmarks/bench_multimodal.py                  # both cases below, 3 interleaved rounds
    python benchmarks/bench_multimodal.py --cases vilt
    python benchmarks/bench_multimodal.py --tiny           # small models, small images: a smoke run

Cases (random weights, built by HF transformers and saved once; every worker loads that folder; the
same seeded inputs for everyone):

- ``captioner``: VisionEncoderDecoderModel with the shape of ydshieh/vit-gpt2-coco-en (ViT-base, 224 px,
  patches of 16; GPT-2 124M with cross-attention, vocab 50257), 8 images: greedy ``generate`` of exactly
  20 new tokens (``min_new_tokens`` = ``max_new_tokens``, so an early end of text cannot shorten anyone's
  run). Token ids are compared with HF's.
- ``vilt``: ViltForQuestionAnswering with the shape of dandelin/vilt-b32-finetuned-vqa (384 x 384 images,
  patches of 32, 40 text tokens, 3129 answers), 16 image-question pairs: one forward pass (logits).

Each library / backend runs in its own long-lived subprocess (``benchmarks/workers.py``), pinned to the
same CPUs (``--threads``, default all). keras_tfm runs ``generate`` or its compiled forward
(``keras_tfm.inference.compiled_forward``); HF its eager PyTorch model under ``torch.no_grad``. Every
worker runs the request twice untimed, then ``--rounds`` interleaved timed rounds; reported: best and
median seconds, items per second, ratio of bests to HF's (< 1 is faster than HF), and the largest
difference of its outputs from HF's (outputs are checked before timing: a mismatch fails the run).
Results: ``benchmarks/results/multimodal.{json,md}``.
"""

import os
import platform
import sys
import tempfile
import time

import numpy as np

from bench_encoder import machine_info, peak_rss_mb
from bench_pipeline import uptime
from workers import (Worker, driver_parser, machine_lines, parse_driver_args, ratio_table, run_rounds, save_report,
                     serve, set_threads)

VIT_BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, image_size=224,
                patch_size=16)
GPT2_124M = dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12, bos_token_id=50256,
                 eos_token_id=50256, pad_token_id=50256)
VIT_TINY = dict(VIT_BASE, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                image_size=64, patch_size=16)
GPT2_TINY = dict(GPT2_124M, vocab_size=1000, n_positions=64, n_embd=32, n_layer=2, n_head=2, bos_token_id=999,
                 eos_token_id=999, pad_token_id=999)
VILT_B32 = dict(num_labels=3129, max_position_embeddings=40, image_size=384, patch_size=32)  # else HF's defaults
VILT_TINY = dict(VILT_B32, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                 image_size=64, max_image_length=-1, num_labels=50, vocab_size=1000)
SHAPES = {  # case -> {tiny: (batch, image side, new / text tokens)}
    "captioner": {False: (8, 224, 20), True: (2, 64, 5)},
    "vilt": {False: (16, 384, 40), True: (2, 64, 8)},
}
TARGETS = {"captioner": (1.0, 0.7), "vilt": (1.0, 1.0)}  # (torch, TF / JAX): at most this times HF's time


def settings(tiny):
    """The configs of the two models, tiny or full size."""
    return dict(vit=VIT_TINY if tiny else VIT_BASE, gpt2=GPT2_TINY if tiny else GPT2_124M,
                vilt=VILT_TINY if tiny else VILT_B32)


def pixels(case, tiny):
    """Seeded pixel values in [-1, 1], (batch, 3, side, side)."""
    batch, side, _ = SHAPES[case][tiny]
    return np.random.RandomState(0).uniform(-1, 1, (batch, 3, side, side)).astype("float32")


def vilt_inputs(tiny):
    """ViLT's inputs: a padded batch of questions (ids, mask, token types), the pixels and their full pixel mask."""
    batch, side, tokens = SHAPES["vilt"][tiny]
    rng = np.random.RandomState(1)
    vocab = settings(tiny)["vilt"].get("vocab_size", 30522)
    ids = rng.randint(1000 if not tiny else 10, vocab - 1, (batch, tokens)).astype("int64")
    mask = np.ones_like(ids)
    for row, length in enumerate(rng.randint(tokens // 2, tokens + 1, batch)):  # questions of different lengths
        ids[row, length:], mask[row, length:] = 0, 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids),
            "pixel_values": pixels("vilt", tiny), "pixel_mask": np.ones((batch, side, side), "int64")}


def prepare(folder, tiny):
    """Saves the random-weight HF models under ``folder``/captioner and ``folder``/vilt."""
    import torch
    import transformers

    shapes = settings(tiny)
    torch.manual_seed(0)
    config = transformers.VisionEncoderDecoderConfig.from_encoder_decoder_configs(
        transformers.ViTConfig(**shapes["vit"]),
        transformers.GPT2Config(add_cross_attention=True, **shapes["gpt2"]),
        decoder_start_token_id=shapes["gpt2"]["bos_token_id"], pad_token_id=shapes["gpt2"]["pad_token_id"],
        eos_token_id=shapes["gpt2"]["eos_token_id"])
    captioner = transformers.VisionEncoderDecoderModel(config).eval()
    captioner.save_pretrained(os.path.join(folder, "captioner"))
    labels = shapes["vilt"]["num_labels"]
    vilt_config = {k: v for k, v in shapes["vilt"].items() if k != "num_labels"}
    vilt = transformers.ViltForQuestionAnswering(transformers.ViltConfig(
        id2label={i: f"answer {i}" for i in range(labels)}, label2id={f"answer {i}": i for i in range(labels)},
        **vilt_config)).eval()
    vilt.save_pretrained(os.path.join(folder, "vilt"))
    return {"transformers": transformers.__version__, "torch": torch.__version__,
            "captioner_parameters": sum(p.numel() for p in captioner.parameters()),
            "vilt_parameters": sum(p.numel() for p in vilt.parameters())}


# ---- workers ----------------------------------------------------------------------------------------
def generation_settings(tiny):
    new = SHAPES["captioner"][tiny][2]
    return dict(max_new_tokens=new, min_new_tokens=new, num_beams=1, do_sample=False)


def hf_request(args):
    import torch
    import transformers

    torch.set_grad_enabled(False)
    if args.case == "captioner":
        model = transformers.VisionEncoderDecoderModel.from_pretrained(os.path.join(args.folder, "captioner")).eval()
        values, gen = torch.tensor(pixels(args.case, args.tiny)), generation_settings(args.tiny)
        return lambda: {"sequences": model.generate(pixel_values=values, **gen).numpy()}
    model = transformers.ViltForQuestionAnswering.from_pretrained(os.path.join(args.folder, "vilt")).eval()
    inputs = {k: torch.tensor(v) for k, v in vilt_inputs(args.tiny).items()}
    return lambda: {"logits": model(**inputs).logits.numpy()}


def keras_tfm_request(args):
    import keras_tfm
    from keras_tfm import backend
    from keras_tfm.inference import compiled_forward

    def numpy(x):
        return np.asarray(backend.to_numpy(x))

    if args.case == "captioner":
        model = keras_tfm.AutoModelForVision2Seq.from_pretrained(os.path.join(args.folder, "captioner"))
        values, gen = pixels(args.case, args.tiny), generation_settings(args.tiny)
        return lambda: {"sequences": numpy(model.generate(pixel_values=values, **gen))}
    forward = compiled_forward(keras_tfm.ViltForQuestionAnswering.from_pretrained(os.path.join(args.folder, "vilt")))
    inputs = vilt_inputs(args.tiny)
    return lambda: {"logits": numpy(forward(**inputs)["logits"])}


def load_request(args):
    if args.library == "hf":
        import torch
        import transformers

        return hf_request(args), {"transformers": transformers.__version__, "torch": torch.__version__}
    import keras

    return keras_tfm_request(args), {"keras": keras.__version__, args.backend: __import__(args.backend).__version__}


def worker(args):
    set_threads(args.threads, args.library, args.backend)
    request, versions = load_request(args)
    np.savez(os.path.join(args.folder, f"out-{args.case}-{args.library}-{args.backend}.npz"), **request())

    def timed():
        request()
        return {"peak_rss_mb": peak_rss_mb(), "versions": versions}

    serve(timed)


# ---- the driver ---------------------------------------------------------------------------------------
def max_diff(folder, case, library, backend_name):
    """The largest difference of a worker's outputs from HF's (inf when shapes differ)."""
    ours = np.load(os.path.join(folder, f"out-{case}-{library}-{backend_name}.npz"))
    hf = np.load(os.path.join(folder, f"out-{case}-hf-torch.npz"))
    diffs = []
    for key in hf.files:
        if ours[key].shape != hf[key].shape:
            return float("inf")
        diffs.append(float(np.abs(ours[key].astype("float64") - hf[key]).max()))
    return max(diffs)


def render(report):
    config = report["config"]
    shapes = ", ".join(f"{case} {SHAPES[case][config['tiny']]}" for case in config["cases"].split(","))
    lines = [
        "# Multimodal: ViT-GPT2 captioner generation, ViLT-b32 VQA forward, fp32, CPU"
        + (" (tiny smoke run)" if config["tiny"] else ""),
        "",
        *machine_lines(report),
        f"Inputs (batch, image side, new / text tokens): {shapes}. {config['rounds']} interleaved rounds after two "
        "untimed runs; best = min over the rounds; ratio = best / HF's best (< 1 is faster than HF). keras_tfm: "
        "generate / compiled forward; HF: eager PyTorch, no_grad. Random weights, the same on both sides.",
        "",
    ]
    lines += ratio_table(report, lambda r: TARGETS[r["case"]][r["backend"] != "torch"], "items/s", 2)
    return "\n".join(lines) + "\n"


def run_case(case, args, folder, report):
    """Starts the case's workers (HF first), checks their outputs against HF's, times the ones that agree."""
    worker_args = ["--case", case, "--folder", folder, "--threads", str(args.threads)]
    worker_args += ["--tiny"] if args.tiny else []
    jobs = [("hf", "torch")] + [("keras_tfm", b) for b in args.backends.split(",")]
    workers = []
    for library, backend_name in jobs:
        name = "transformers" if library == "hf" else f"keras_tfm/{backend_name}"
        w = Worker(__file__, f"{case}: {name}", backend_name, worker_args + ["--library", library])
        w.library = library
        print(f"  {w.label:32s} " + ("failed" if w.ready is None else f"ready (warm-up {w.ready['warmup_s']:.1f} s)"),
              file=sys.stderr)
        if w.ready is None:
            report["failed"].append(w.label)
            continue
        # Token ids must be equal; logits within 1e-3: a worker that disagrees is not timed.
        w.diff = None if library == "hf" else max_diff(folder, case, library, backend_name)
        if w.diff is not None and w.diff > (0 if case == "captioner" else 1e-3):
            report["mismatched"].append(f"{w.label} ({w.diff:.1e})")
            w.close()
            continue
        workers.append(w)
    runs = run_rounds(workers, args.rounds, report["failed"])
    for w in workers:
        w.close()
        times = [r["seconds"] for r in runs[w.label]]
        if not times:
            continue
        report["versions"].update(runs[w.label][-1]["versions"])
        report["rows"].append(dict(
            case=case, label=w.label, library=w.library, backend=w.backend, best_s=min(times),
            median_s=float(np.median(times)), times_s=times, warmup_s=w.ready["warmup_s"],
            items=SHAPES[case][args.tiny][0], load_average=[r["load_average"] for r in runs[w.label]],
            peak_rss_mb=runs[w.label][-1]["peak_rss_mb"], max_abs_diff=w.diff))


def main():
    parser = driver_parser(__doc__, "captioner,vilt", "multimodal", "small models, small images: a smoke run")
    args = parse_driver_args(parser, "multimodal")
    unknown = set(args.cases.split(",")) - set(SHAPES)
    if unknown:
        parser.error(f"unknown case(s) {sorted(unknown)}; choose from {sorted(SHAPES)}")
    if args.worker:
        return worker(args)

    start = time.perf_counter()
    report = {"config": dict(tiny=args.tiny, rounds=args.rounds, threads=args.threads, cases=args.cases),
              "machine": machine_info(), "uptime_start": uptime(), "versions": {"python": platform.python_version()},
              "rows": [], "failed": [], "mismatched": []}
    with tempfile.TemporaryDirectory() as folder:
        report["versions"].update(prepare(folder, args.tiny))
        for case in args.cases.split(","):  # one case at a time: its workers only are in memory
            run_case(case, args, folder, report)
    report["uptime_end"] = uptime()
    report["machine"]["load_average_end"] = os.getloadavg()
    report["wall_s"] = time.perf_counter() - start
    save_report(report, args.results, "multimodal", render)
    if report["mismatched"]:
        print(f"OUTPUT MISMATCH vs HF: {report['mismatched']}", file=sys.stderr)
    return 1 if report["mismatched"] or report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
