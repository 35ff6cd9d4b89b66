"""Vision speed: keras_tfm (torch / tensorflow / jax) vs HF transformers vs KerasHub, and the image processors.

One command, one run:

    python benchmarks/bench_vision.py            # ViT-base b16 @224, DETR-ResNet-50 b2 @800x1066, processors
    python benchmarks/bench_vision.py --tiny     # small models and images, for a smoke run

Cases (random weights, built by HF transformers and saved once; every worker loads that folder):

- ``vit``: ViTForImageClassification with the shape of google/vit-base-patch16-224 (12 layers, 768 wide,
  1000 labels), 16 images at 224x224; KerasHub's ViTBackbone of the same shape (no classifier) beside it.
- ``detr``: DetrForObjectDetection with the shape of facebook/detr-resnet-50 (HF's ResNet-50 backbone,
  6 + 6 layers, 100 queries), 2 images at 800x1066 with their pixel_mask.
- ``processor``: the image processors on the same images: ViT's on 64 images, DETR's on 16 (each of
  DETR's outputs is 800 pixels on its short side); HF's is its PIL / numpy one (what HF runs without
  torchvision), ours runs on numpy and Pillow.

Each library / backend runs in its own long-lived subprocess (``benchmarks/workers.py``), pinned to
the same CPUs (``--threads``, default all). keras_tfm runs its compiled path
(``keras_tfm.inference.compiled_forward``), HF its eager PyTorch model under ``torch.no_grad``.
Every worker runs the request twice untimed, then ``--rounds`` interleaved timed rounds; reported:
best and median seconds, items per second, ratio of bests to HF's (< 1 is faster than HF), and the
largest difference of its outputs from HF's. Results: ``benchmarks/results/vision.{json,md}``.
"""

import json
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
                patch_size=16, num_labels=1000)
VIT_TINY = dict(VIT_BASE, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                image_size=64, num_labels=10)
SHAPES = {  # case -> (batch, height, width) of the model inputs; processors: number of images
    "vit": {False: (16, 224, 224), True: (4, 64, 64)},
    "detr": {False: (2, 800, 1066), True: (2, 128, 160)},
    "processor": {False: (64, 16), True: (8, 4)},
}
TARGETS = {"vit": (1.0, 0.8), "detr": (1.0, 0.8), "processor": (1.0, 1.0)}  # (torch, TF / JAX) ratio targets


def detr_config(tiny):
    import transformers

    if not tiny:
        return transformers.DetrConfig(use_timm_backbone=False, use_pretrained_backbone=False, num_labels=91)
    backbone = transformers.ResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1],
                                         out_features=["stage4"])
    return transformers.DetrConfig(use_timm_backbone=False, use_pretrained_backbone=False, backbone_config=backbone,
                                   d_model=64, encoder_layers=2, decoder_layers=2, encoder_ffn_dim=128,
                                   decoder_ffn_dim=128, num_queries=20, num_labels=10)


def prepare(folder, tiny):
    """Saves the random-weight HF models under ``folder``/vit and ``folder``/detr."""
    import torch
    import transformers

    torch.manual_seed(0)
    vit = transformers.ViTForImageClassification(transformers.ViTConfig(**(VIT_TINY if tiny else VIT_BASE)))
    vit.eval().save_pretrained(os.path.join(folder, "vit"))
    detr = transformers.DetrForObjectDetection(detr_config(tiny))
    with torch.no_grad():  # random batch-norm statistics, so that the frozen batch norms do something
        for module in detr.modules():
            if hasattr(module, "running_var"):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    detr.eval().save_pretrained(os.path.join(folder, "detr"))
    return {"transformers": transformers.__version__, "torch": torch.__version__,
            "vit_parameters": sum(p.numel() for p in vit.parameters()),
            "detr_parameters": sum(p.numel() for p in detr.parameters())}


def model_inputs(case, tiny):
    batch, height, width = SHAPES[case][tiny]
    rng = np.random.RandomState(0)
    inputs = {"pixel_values": rng.standard_normal((batch, 3, height, width)).astype("float32")}
    if case == "detr":
        inputs["pixel_mask"] = np.ones((batch, height, width), dtype="int64")
    return inputs


def images(count, seed=0):
    """``count`` smooth RGB PIL images of different sizes (landscape and portrait, 300-640 pixels a side)."""
    from PIL import Image

    rng = np.random.RandomState(seed)
    out = []
    for _ in range(count):
        h, w = rng.randint(300, 641, 2)
        coarse = rng.randint(0, 256, (h // 16 + 1, w // 16 + 1, 3)).astype("uint8")
        out.append(Image.fromarray(coarse).resize((int(w), int(h)), Image.BILINEAR))
    return out


# ---- workers ----------------------------------------------------------------------------------------
def load_model_request(args):
    """``(request() -> numpy outputs, versions)`` for a model case."""
    inputs = model_inputs(args.case, args.tiny)
    folder = os.path.join(args.folder, args.case)
    if args.library == "hf":
        import torch
        import transformers

        torch.set_grad_enabled(False)
        model_class = transformers.ViTForImageClassification if args.case == "vit" else \
            transformers.DetrForObjectDetection
        model = model_class.from_pretrained(folder).eval()
        tensors = {k: torch.tensor(v) for k, v in inputs.items()}

        def request():
            out = model(**tensors)
            return {k: out[k].numpy() for k in ("logits", "pred_boxes") if k in out}

        return request, {"transformers": transformers.__version__, "torch": torch.__version__}
    import keras

    versions = {"keras": keras.__version__, args.backend: __import__(args.backend).__version__}
    if args.library == "keras_hub":
        import keras_hub

        config = VIT_TINY if args.tiny else VIT_BASE
        size = config["image_size"]
        model = keras_hub.models.ViTBackbone(
            image_shape=(size, size, 3), patch_size=config["patch_size"], num_layers=config["num_hidden_layers"],
            num_heads=config["num_attention_heads"], hidden_dim=config["hidden_size"],
            mlp_dim=config["intermediate_size"])
        pixels = np.transpose(inputs["pixel_values"], (0, 2, 3, 1))

        def request():
            return {"last_hidden_state": np.asarray(model.predict_on_batch(pixels))}

        return request, dict(versions, keras_hub=keras_hub.__version__)
    import keras_tfm
    from keras_tfm import backend
    from keras_tfm.inference import compiled_forward

    auto = keras_tfm.AutoModelForImageClassification if args.case == "vit" else keras_tfm.AutoModelForObjectDetection
    forward = compiled_forward(auto.from_pretrained(folder))

    def request():
        out = forward(**inputs)
        return {k: np.asarray(backend.to_numpy(out[k])) for k in ("logits", "pred_boxes") if k in out}

    return request, versions


def load_processor_request(args):
    vit_count, detr_count = SHAPES["processor"][args.tiny]
    pictures = images(vit_count)
    if args.library == "hf":
        import transformers

        vit, detr = transformers.ViTImageProcessorPil(), transformers.DetrImageProcessorPil()
        versions = {"transformers": transformers.__version__}
    else:
        import keras_tfm

        vit, detr = keras_tfm.ViTImageProcessor(), keras_tfm.DetrImageProcessor()
        versions = {}

    def request():
        a = vit(pictures, return_tensors="np")
        b = detr(pictures[:detr_count], return_tensors="np")
        return {"vit_pixel_values": a["pixel_values"], "detr_pixel_values": b["pixel_values"],
                "detr_pixel_mask": b["pixel_mask"].astype("float32")}

    return request, versions


def worker(args):
    set_threads(args.threads, args.library, args.backend)
    request, versions = (load_processor_request if args.case == "processor" else load_model_request)(args)
    outputs = request()
    np.savez(os.path.join(args.folder, f"out-{args.case}-{args.library}-{args.backend}.npz"), **outputs)

    def timed():
        request()
        return {"peak_rss_mb": peak_rss_mb(), "versions": versions}

    serve(timed)


# ---- the driver ---------------------------------------------------------------------------------------
def jobs(args):
    for case in args.cases.split(","):
        yield case, "hf", "torch"
        if case == "processor":
            yield case, "keras_tfm", "torch"  # numpy and Pillow: the backend does not matter
            continue
        for b in args.backends.split(","):
            yield case, "keras_tfm", b
        if case == "vit" and not args.no_keras_hub:
            for b in args.backends.split(","):
                yield case, "keras_hub", b


def label(case, library, backend_name):
    name = {"hf": "transformers", "keras_tfm": "keras_tfm", "keras_hub": "keras_hub"}[library]
    return f"{case}: {name}" + ("" if library == "hf" or case == "processor" else f"/{backend_name}")


def max_diff(folder, case, library, backend_name):
    if library == "keras_hub":
        return None  # random weights of its own
    ours = np.load(os.path.join(folder, f"out-{case}-{library}-{backend_name}.npz"))
    hf = np.load(os.path.join(folder, f"out-{case}-hf-torch.npz"))
    return max(float(np.abs(ours[k] - hf[k]).max()) for k in hf.files)


def render(report):
    config = report["config"]
    lines = [
        "# Vision: ViT-base, DETR-ResNet-50 and image processors, fp32, CPU" + (" (tiny smoke run)" if config["tiny"]
                                                                             else ""),
        "",
        *machine_lines(report),
        f"Inputs: ViT {SHAPES['vit'][config['tiny']]}, DETR {SHAPES['detr'][config['tiny']]} (batch, height, width); "
        f"processors: {SHAPES['processor'][config['tiny']][0]} images (ViT), the first "
        f"{SHAPES['processor'][config['tiny']][1]} (DETR). {config['rounds']} interleaved rounds after two untimed "
        "runs; best = min over the rounds; ratio = best / HF's best (< 1 is faster than HF). keras_tfm: compiled "
        "path; HF: eager PyTorch, no_grad; KerasHub: predict_on_batch, random weights of its own.",
        "",
    ]
    lines += ratio_table(report, lambda r: TARGETS[r["case"]][r["backend"] != "torch"], "items/s", 1)
    return "\n".join(lines) + "\n"


def main():
    parser = driver_parser(__doc__, "vit,detr,processor", "vision", "small models and images (a smoke run)")
    args = parse_driver_args(parser, "vision")
    if args.worker:
        return worker(args)

    start = time.perf_counter()
    report = {"config": dict(tiny=args.tiny, rounds=args.rounds, threads=args.threads, cases=args.cases),
              "machine": machine_info(), "uptime_start": uptime(), "versions": {"python": platform.python_version()},
              "rows": [], "failed": []}
    with tempfile.TemporaryDirectory() as folder:
        report["versions"].update(prepare(folder, args.tiny))
        for case in args.cases.split(","):  # one case at a time: its workers only are in memory
            workers = []
            for _, library, backend_name in (j for j in jobs(args) if j[0] == case):
                worker_args = ["--case", case, "--library", library, "--folder", folder, "--threads",
                               str(args.threads)] + (["--tiny"] if args.tiny else [])
                w = Worker(__file__, label(case, library, backend_name), backend_name, worker_args)
                w.library = library
                print(f"  {w.label:28s} " + ("failed" if w.ready is None else
                                             f"ready (warm-up {w.ready['warmup_s']:.1f} s)"), file=sys.stderr)
                (workers if w.ready is not None else report["failed"]).append(w if w.ready is not None else w.label)
            runs = run_rounds(workers, args.rounds, report["failed"])
            for w in workers:
                w.close()
                times = [r["seconds"] for r in runs[w.label]]
                report["versions"].update(runs[w.label][-1]["versions"])
                report["rows"].append(dict(
                    case=case, label=w.label, library=w.library, backend=w.backend, best_s=min(times),
                    median_s=float(np.median(times)), times_s=times, warmup_s=w.ready["warmup_s"],
                    items=SHAPES[case][args.tiny][0], load_average=[r["load_average"] for r in runs[w.label]],
                    peak_rss_mb=runs[w.label][-1]["peak_rss_mb"],
                    max_abs_diff=None if w.library == "hf" else max_diff(folder, case, w.library, w.backend)))
    report["uptime_end"] = uptime()
    report["machine"]["load_average_end"] = os.getloadavg()
    report["wall_s"] = time.perf_counter() - start
    save_report(report, args.results, "vision", render)
    wrong = [r["label"] for r in report["rows"] if r["max_abs_diff"] is not None and r["max_abs_diff"] > 1e-3]
    if wrong:
        print(f"OUTPUT MISMATCH vs HF (> 1e-3): {wrong}", file=sys.stderr)
    return 1 if wrong or report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
