"""Data parallel training on existing engines, compared with one device on the same global batch.

- JAX: ``keras.distribution.DataParallel`` over 8 virtual CPU devices
  (``XLA_FLAGS=--xla_force_host_platform_device_count=8``, in a subprocess); runs under
  ``KERAS_BACKEND=jax``.
- torch: ``torchrun --nproc_per_node=2`` (gloo): each process takes its share of every
  batch and the gradients are averaged; runs under ``KERAS_BACKEND=torch``.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TRAIN = r'''
import json, os, sys
import keras, numpy as np
sys.path.insert(0, {root!r})
from tests.test_trainer import fixed_rows, model_from, weights
from keras_tfm import Trainer, TrainingArguments
mode, out = sys.argv[1], sys.argv[2]
if mode == "data_parallel":
    keras.distribution.set_distribution(keras.distribution.DataParallel())  # before the model is built
model = model_from()
per_device = int(sys.argv[3])
args = TrainingArguments(os.path.join(out, "run"), per_device_train_batch_size=per_device, max_steps=3,
                         learning_rate=1e-2, weight_decay=0.1, save_strategy="no", disable_tqdm=True,
                         logging_steps=1)
trainer = Trainer(model=model, args=args, train_dataset=fixed_rows(48))
result = trainer.train()
info = {{"n_gpu": args.n_gpu, "world_size": args.world_size, "train_batch_size": args.train_batch_size,
        "loss": result.training_loss}}
if args.process_index == 0:
    np.savez(os.path.join(out, mode + ".npz"), **weights(model))
if mode == "data_parallel":  # Keras fit under the same distribution
    model.compile(optimizer="adam")
    data = model.prepare_tf_dataset(fixed_rows(32), batch_size=16)
    info["fit_loss"] = model.fit(data, epochs=1, verbose=0).history["loss"][-1]
if args.process_index == 0:
    json.dump(info, open(os.path.join(out, mode + ".json"), "w"))
'''


def _run(script, args, env_extra, timeout=400, module=None):
    env = dict(os.environ, **env_extra)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    cmd = [sys.executable] + (module or []) + [script] + list(args)
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return proc


def _compare(tmp_path, a, b):
    x, y = np.load(tmp_path / f"{a}.npz"), np.load(tmp_path / f"{b}.npz")
    assert sorted(x.files) == sorted(y.files)
    for k in x.files:
        np.testing.assert_allclose(x[k], y[k], atol=1e-5, err_msg=k)


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="the JAX data-parallel test runs under KERAS_BACKEND=jax")
def test_jax_data_parallel_on_8_virtual_devices(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(TRAIN.format(root=ROOT))
    eight = {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
    _run(str(script), ["data_parallel", str(tmp_path), "2"], eight)
    _run(str(script), ["single", str(tmp_path), "16"], {"KERAS_BACKEND": "jax", "XLA_FLAGS": ""})
    info = json.load(open(tmp_path / "data_parallel.json"))
    assert info["n_gpu"] == 8 and info["train_batch_size"] == 16  # 2 per device x 8 devices
    assert np.isfinite(info["fit_loss"])
    single = json.load(open(tmp_path / "single.json"))
    assert abs(info["loss"] - single["loss"]) < 1e-5
    _compare(tmp_path, "data_parallel", "single")


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the torch.distributed test runs under KERAS_BACKEND=torch")
def test_torch_distributed_two_processes_on_gloo(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(TRAIN.format(root=ROOT))
    env = {"KERAS_BACKEND": "torch", "OMP_NUM_THREADS": "1"}
    _run(str(script), ["ddp", str(tmp_path), "4"], env,
         module=["-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533"])
    _run(str(script), ["single", str(tmp_path), "8"], env)
    info = json.load(open(tmp_path / "ddp.json"))
    assert info["world_size"] == 2
    single = json.load(open(tmp_path / "single.json"))
    assert abs(info["loss"] - single["loss"]) < 1e-5
    _compare(tmp_path, "ddp", "single")
