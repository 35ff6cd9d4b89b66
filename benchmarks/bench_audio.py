"""Audio speed: keras_tfm (torch / tensorflow / jax) vs HF transformers vs KerasHub: Wav2Vec2, Whisper, log-mel.

One command, one run:

    python benchmarks/bench_audio.py                 # the four cases below, 3 interleaved rounds
    python benchmarks/bench_audio.py --cases wav2vec2,logmel
    python benchmarks/bench_audio.py --tiny          # small models, short clips, few tokens: a smoke run

Cases (random weights, built by HF transformers and saved once; every worker loads that folder; the
same seeded inputs for everyone):

- ``wav2vec2``: Wav2Vec2ForCTC with the shape of facebook/wav2vec2-base-960h (7 conv layers, 12 layers,
  768 wide, group norm, vocab 32), 8 clips of 10 s at 16 kHz: one forward pass (logits).
- ``whisper``: WhisperForConditionalGeneration with the shape of openai/whisper-base (6 + 6 layers, 512
  wide, vocab 51865, 80 mel bins), 4 clips of 30 s (their log-mel features): greedy ``generate`` of
  exactly 64 new tokens (``min_new_tokens`` = ``max_new_tokens``, so an early end of text cannot
  shorten anyone's run). Token ids are compared with HF's.
- ``whisper_forward``: the same Whisper, one teacher-forced pass (encoder + decoder over 64 tokens,
  decoder hidden states), beside KerasHub's ``WhisperBackbone`` of the same shape (random weights of its
  own; KerasHub has no Whisper generation).
- ``logmel``: Whisper's log-mel feature extractor on 4 clips of 30 s (80 bins, 3000 frames each).
  HF's baseline is its numpy path (what transformers runs without torch; chosen by its own switch,
  ``is_torch_available``, turned off in that worker only); HF's torch STFT path and KerasHub's
  ``WhisperAudioConverter`` (on each backend) are reported beside it.

Each library / backend runs in its own long-lived subprocess (``benchmarks/workers.py``), pinned to the
same CPUs (``--threads``, default all). keras_tfm runs its compiled forward
(``keras_tfm.inference.compiled_forward``) or ``generate``; HF its eager PyTorch model under
``torch.no_grad``. Every worker runs the request twice untimed, then ``--rounds`` interleaved timed
rounds; reported: best and median seconds, clips per second, ratio of bests to HF's (< 1 is faster than
HF), and the largest difference of its outputs from HF's. Results: ``benchmarks/results/audio.{json,md}``.
"""

import argparse
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

RATE = 16000
WAV2VEC2_BASE = dict(vocab_size=32, pad_token_id=0, ctc_loss_reduction="sum")  # HF's defaults: wav2vec2-base's shape
WAV2VEC2_TINY = dict(WAV2VEC2_BASE, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                     conv_dim=(32, 32, 32), conv_stride=(5, 4, 4), conv_kernel=(10, 4, 4), num_conv_pos_embeddings=16,
                     num_conv_pos_embedding_groups=4)
WHISPER_BASE = dict(vocab_size=51865, num_mel_bins=80, d_model=512, encoder_layers=6, decoder_layers=6,
                    encoder_attention_heads=8, decoder_attention_heads=8, encoder_ffn_dim=2048, decoder_ffn_dim=2048,
                    max_source_positions=1500, max_target_positions=448, pad_token_id=50257, bos_token_id=50257,
                    eos_token_id=50257, decoder_start_token_id=50258)
WHISPER_TINY = dict(WHISPER_BASE, vocab_size=1000, d_model=32, encoder_layers=1, decoder_layers=1,
                    encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
                    pad_token_id=999, bos_token_id=999, eos_token_id=999, decoder_start_token_id=998)
SHAPES = {  # case -> {tiny: (clips, seconds per clip, new / decoder tokens)}
    "wav2vec2": {False: (8, 10.0, 0), True: (2, 1.0, 0)},
    "whisper": {False: (4, 30.0, 64), True: (2, 30.0, 8)},
    "whisper_forward": {False: (4, 30.0, 64), True: (2, 30.0, 8)},
    "logmel": {False: (4, 30.0, 0), True: (2, 30.0, 0)},
}
TARGETS = {"wav2vec2": (1.0, 0.7), "whisper": (1.0, 0.7), "whisper_forward": (1.0, 0.7), "logmel": (1.0, 1.0)}


def clips(case, tiny):
    """Seeded audio: a chirp plus noise per clip, float32 in [-1, 1]."""
    count, seconds, _ = SHAPES[case][tiny]
    rng = np.random.RandomState(0)
    t = np.arange(int(seconds * RATE)) / RATE
    out = []
    for _ in range(count):
        f0, f1 = rng.uniform(100, 400), rng.uniform(1000, 4000)
        chirp = 0.5 * np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * seconds)))
        out.append((chirp + 0.05 * rng.standard_normal(t.shape)).astype("float32"))
    return out


def features(tiny):
    """The Whisper cases' input features: HF's log-mel (numpy path) of the clips, (clips, 80, 3000)."""
    import transformers

    extractor = transformers.WhisperFeatureExtractor(feature_size=80)
    return np.asarray(extractor(clips("whisper", tiny), sampling_rate=RATE, return_tensors="np")["input_features"],
                      "float32")


def decoder_ids(tiny):
    count, _, length = SHAPES["whisper_forward"][tiny]
    vocab = (WHISPER_TINY if tiny else WHISPER_BASE)["vocab_size"]
    return np.random.RandomState(1).randint(0, vocab - 10, (count, length)).astype("int64")


def prepare(folder, tiny):
    """Saves the random-weight HF models under ``folder``/wav2vec2 and ``folder``/whisper."""
    import torch
    import transformers

    torch.manual_seed(0)
    wav2vec2 = transformers.Wav2Vec2ForCTC(transformers.Wav2Vec2Config(**(WAV2VEC2_TINY if tiny else WAV2VEC2_BASE)))
    wav2vec2.eval().save_pretrained(os.path.join(folder, "wav2vec2"))
    whisper = transformers.WhisperForConditionalGeneration(
        transformers.WhisperConfig(**(WHISPER_TINY if tiny else WHISPER_BASE)))
    whisper.eval().save_pretrained(os.path.join(folder, "whisper"))
    np.save(os.path.join(folder, "features.npy"), features(tiny))
    return {"transformers": transformers.__version__, "torch": torch.__version__,
            "wav2vec2_parameters": sum(p.numel() for p in wav2vec2.parameters()),
            "whisper_parameters": sum(p.numel() for p in whisper.parameters())}


# ---- workers ----------------------------------------------------------------------------------------
def generation_settings(args):
    new = SHAPES["whisper"][args.tiny][2]
    return dict(max_new_tokens=new, min_new_tokens=new, num_beams=1, do_sample=False)


def hf_request(args):
    import torch
    import transformers

    torch.set_grad_enabled(False)
    versions = {"transformers": transformers.__version__, "torch": torch.__version__}
    if args.case == "logmel":
        if args.variant == "numpy":  # transformers' own switch between its torch and numpy STFT
            from transformers.models.whisper import feature_extraction_whisper

            feature_extraction_whisper.is_torch_available = lambda: False
        extractor = transformers.WhisperFeatureExtractor(feature_size=80)
        audio = clips(args.case, args.tiny)
        return (lambda: {"input_features": extractor(audio, sampling_rate=RATE, return_tensors="np")
                         ["input_features"]}), versions
    if args.case == "wav2vec2":
        model = transformers.Wav2Vec2ForCTC.from_pretrained(os.path.join(args.folder, "wav2vec2")).eval()
        values = torch.tensor(np.stack(clips(args.case, args.tiny)))
        return (lambda: {"logits": model(input_values=values).logits.numpy()}), versions
    model = transformers.WhisperForConditionalGeneration.from_pretrained(os.path.join(args.folder, "whisper")).eval()
    inputs = torch.tensor(np.load(os.path.join(args.folder, "features.npy")))
    if args.case == "whisper":
        settings = generation_settings(args)
        return (lambda: {"sequences": model.generate(input_features=inputs, **settings).numpy()}), versions
    ids = torch.tensor(decoder_ids(args.tiny))
    return (lambda: {"decoder_hidden": model.model(input_features=inputs, decoder_input_ids=ids)
                     .last_hidden_state.numpy()}), versions


def keras_hub_request(args):
    import keras
    import keras_hub

    versions = {"keras_hub": keras_hub.__version__}
    if args.case == "logmel":
        converter = keras_hub.layers.WhisperAudioConverter()
        audio = np.stack(clips(args.case, args.tiny))
        return (lambda: {"input_features": keras.ops.convert_to_numpy(converter(audio))}), versions
    config = WHISPER_TINY if args.tiny else WHISPER_BASE
    model = keras_hub.models.WhisperBackbone(
        vocabulary_size=config["vocab_size"], num_layers=config["encoder_layers"],
        num_heads=config["encoder_attention_heads"], hidden_dim=config["d_model"],
        intermediate_dim=config["encoder_ffn_dim"], num_mels=config["num_mel_bins"])
    ids = decoder_ids(args.tiny)
    inputs = {"encoder_features": np.transpose(np.load(os.path.join(args.folder, "features.npy")), (0, 2, 1)),
              "decoder_token_ids": ids, "decoder_padding_mask": np.ones_like(ids)}
    return (lambda: {"decoder_hidden": np.asarray(model.predict_on_batch(inputs)["decoder_sequence_output"])}), \
        versions


def keras_tfm_request(args):
    import keras_tfm
    from keras_tfm import backend
    from keras_tfm.inference import compiled_forward

    def numpy(value):
        return np.asarray(backend.to_numpy(value))

    if args.case == "logmel":
        extractor = keras_tfm.WhisperFeatureExtractor(feature_size=80)
        audio = clips(args.case, args.tiny)
        return lambda: {"input_features": np.asarray(extractor(audio, sampling_rate=RATE, return_tensors="np")
                                                     ["input_features"])}
    if args.case == "wav2vec2":
        forward = compiled_forward(keras_tfm.AutoModelForCTC.from_pretrained(os.path.join(args.folder, "wav2vec2")))
        values = np.stack(clips(args.case, args.tiny))
        return lambda: {"logits": numpy(forward(input_values=values)["logits"])}
    folder = os.path.join(args.folder, "whisper")
    inputs = np.load(os.path.join(args.folder, "features.npy"))
    if args.case == "whisper":
        model = keras_tfm.AutoModelForSpeechSeq2Seq.from_pretrained(folder)
        settings = generation_settings(args)
        return lambda: {"sequences": numpy(model.generate(input_features=inputs, **settings))}
    forward = compiled_forward(keras_tfm.AutoModel.from_pretrained(folder))
    ids = decoder_ids(args.tiny)
    return lambda: {"decoder_hidden": numpy(forward(input_features=inputs, decoder_input_ids=ids)["last_hidden_state"])}


def load_request(args):
    if args.library == "hf":
        return hf_request(args)
    import keras

    versions = {"keras": keras.__version__, args.backend: __import__(args.backend).__version__}
    if args.library == "keras_hub":
        request, more = keras_hub_request(args)
        return request, dict(versions, **more)
    return keras_tfm_request(args), versions


def worker(args):
    set_threads(args.threads, args.library, args.backend)
    request, versions = load_request(args)
    outputs = request()
    np.savez(os.path.join(args.folder, f"out-{args.case}-{args.library}-{args.variant}-{args.backend}.npz"),
             **outputs)

    def timed():
        request()
        return {"peak_rss_mb": peak_rss_mb(), "versions": versions}

    serve(timed)


# ---- the driver ---------------------------------------------------------------------------------------
def jobs(args):
    """(case, library, variant, backend) of every worker; the first of each case is the HF baseline."""
    backends = args.backends.split(",")
    for case in args.cases.split(","):
        if case == "logmel":
            yield case, "hf", "numpy", "torch"
            yield case, "hf", "torch", "torch"
            yield case, "keras_tfm", "", "torch"  # numpy: the backend does not matter
        else:
            yield case, "hf", "", "torch"
            for b in backends:
                yield case, "keras_tfm", "", b
        if case in ("logmel", "whisper_forward") and not args.no_keras_hub:
            for b in backends:
                yield case, "keras_hub", "", b


def label(case, library, variant, backend_name):
    name = {"hf": "transformers", "keras_tfm": "keras_tfm", "keras_hub": "keras_hub"}[library]
    if library == "hf":
        return f"{case}: {name}" + (f" ({variant})" if variant else "")
    return f"{case}: {name}" + ("" if case == "logmel" and library == "keras_tfm" else f"/{backend_name}")


def max_diff(folder, case, library, variant, backend_name, baseline):
    if library == "keras_hub" and case != "logmel":
        return None  # random weights of its own
    ours = np.load(os.path.join(folder, f"out-{case}-{library}-{variant}-{backend_name}.npz"))
    hf = np.load(os.path.join(folder, f"out-{case}-hf-{baseline}-torch.npz"))
    diffs = []
    for key in hf.files:
        a, b = ours[key], hf[key]
        if a.shape != b.shape:  # e.g. KerasHub's converter: (clips, frames, bins); HF's: (clips, bins, frames)
            a = np.swapaxes(a, -1, -2) if np.swapaxes(a, -1, -2).shape == b.shape else a
        if a.shape != b.shape:
            return float("inf")
        diffs.append(float(np.abs(a.astype("float64") - b).max()))
    return max(diffs)


def render(report):
    config = report["config"]
    shapes = ", ".join(f"{case} {SHAPES[case][config['tiny']]}" for case in config["cases"].split(","))
    lines = [
        "# Audio: Wav2Vec2-base CTC, Whisper-base generation and forward, Whisper log-mel, fp32, CPU"
        + (" (tiny smoke run)" if config["tiny"] else ""),
        "",
        *machine_lines(report),
        f"Inputs (clips, seconds per clip, new / decoder tokens): {shapes}. {config['rounds']} interleaved rounds "
        "after two untimed runs; best = min over the rounds; ratio = best / HF's best (< 1 is faster than HF; "
        "log-mel: HF's numpy path is the baseline). keras_tfm: compiled path / generate; HF: eager PyTorch, "
        "no_grad; KerasHub: random weights of its own (its log-mel is compared with HF's).",
        "",
    ]
    lines += ratio_table(report, lambda r: TARGETS[r["case"]][r["backend"] != "torch" and r["case"] != "logmel"],
                         "clips/s", 2)
    return "\n".join(lines) + "\n"


def main():
    parser = driver_parser(__doc__, "wav2vec2,whisper,whisper_forward,logmel", "audio", "small models, short clips: a smoke run")
    parser.add_argument("--smoke", dest="tiny", action="store_true", help="the same as --tiny")
    parser.add_argument("--variant", default="", help=argparse.SUPPRESS)
    args = parse_driver_args(parser, "audio")
    unknown = set(args.cases.split(",")) - set(SHAPES)
    if unknown:
        parser.error(f"unknown case(s) {sorted(unknown)}; choose from {sorted(SHAPES)}")
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
            case_jobs = [j for j in jobs(args) if j[0] == case]
            baseline = case_jobs[0][2]
            for _, library, variant, backend_name in case_jobs:
                worker_args = ["--case", case, "--library", library, "--variant", variant, "--folder", folder,
                               "--threads", str(args.threads)] + (["--tiny"] if args.tiny else [])
                w = Worker(__file__, label(case, library, variant, backend_name), backend_name, worker_args)
                w.library, w.variant = library, variant
                print(f"  {w.label:36s} " + ("failed" if w.ready is None else
                                             f"ready (warm-up {w.ready['warmup_s']:.1f} s)"), file=sys.stderr)
                (workers if w.ready is not None else report["failed"]).append(w if w.ready is not None else w.label)
            runs = run_rounds(workers, args.rounds, report["failed"])
            for w in workers:
                w.close()
                times = [r["seconds"] for r in runs[w.label]]
                if not times:
                    continue
                report["versions"].update(runs[w.label][-1]["versions"])
                report["rows"].append(dict(
                    case=case, label=w.label, library=w.library, variant=w.variant, backend=w.backend,
                    best_s=min(times), median_s=float(np.median(times)), times_s=times, warmup_s=w.ready["warmup_s"],
                    items=SHAPES[case][args.tiny][0], load_average=[r["load_average"] for r in runs[w.label]],
                    peak_rss_mb=runs[w.label][-1]["peak_rss_mb"],
                    max_abs_diff=None if (w.library, w.variant) == ("hf", baseline)
                    else max_diff(folder, case, w.library, w.variant, w.backend, baseline)))
    report["uptime_end"] = uptime()
    report["machine"]["load_average_end"] = os.getloadavg()
    report["wall_s"] = time.perf_counter() - start
    save_report(report, args.results, "audio", render)
    # Token ids must be equal; features and logits within 1e-3 (KerasHub's log-mel is its own recipe: not judged).
    wrong = [r["label"] for r in report["rows"] if r["max_abs_diff"] is not None and r["library"] != "keras_hub"
             and r["max_abs_diff"] > (0 if r["case"] == "whisper" else 1e-3)]
    if wrong:
        print(f"OUTPUT MISMATCH vs HF: {wrong}", file=sys.stderr)
    return 1 if wrong or report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
