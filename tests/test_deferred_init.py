"""from_pretrained skips random draws for the variables a checkpoint fills, and draws them for the others."""

import keras
import numpy as np
import pytest
import torch
import transformers

import keras_tfm
from keras_tfm.deferred_init import deferred_initialization, initialize_deferred


def test_variables_start_undrawn_and_draw_their_initializer_on_request():
    with deferred_initialization():
        layer = keras.layers.Dense(8, kernel_initializer="glorot_uniform")
        layer.build((None, 4))
    if keras.backend.backend() != "torch":  # torch: memory never written, whatever it holds
        assert not np.any(keras.ops.convert_to_numpy(layer.kernel))
    initialize_deferred([layer.kernel])
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    assert np.all(np.abs(kernel) > 0) and np.abs(kernel).max() <= np.sqrt(6 / 12)
    outside = keras.layers.Dense(8)
    outside.build((None, 4))
    assert np.any(keras.ops.convert_to_numpy(outside.kernel))  # nothing deferred outside the block


def test_new_and_resized_heads_get_random_weights(tmp_path):
    config = transformers.BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=24, max_position_embeddings=32, num_labels=3)
    transformers.BertModel(config).save_pretrained(tmp_path / "base")
    transformers.BertForSequenceClassification(config).save_pretrained(tmp_path / "three")
    for folder, extra in (("base", {}), ("three", {"num_labels": 5, "ignore_mismatched_sizes": True})):
        model = keras_tfm.AutoModelForSequenceClassification.from_pretrained(tmp_path / folder, **extra)
        kernel = keras.ops.convert_to_numpy(model.classifier.kernel)
        assert kernel.std() > 1e-3, folder  # drawn from the initializer, not left at zero
    hf = transformers.BertModel.from_pretrained(tmp_path / "base")
    ours = keras_tfm.AutoModel.from_pretrained(tmp_path / "base")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(ours.embeddings.token_embedding.embeddings),
                                  hf.embeddings.word_embeddings.weight.detach().numpy())


# What each byte of weights costs from_pretrained in memory: once for the variable, plus passing copies
# (benchmarks/bench_load.py measures all of BERT-base: torch 1.07, TensorFlow 1.16, JAX 1.17 x the file;
# tests/test_huge_checkpoint.py a 13 GiB Llama). A fixed part (the build pass) is the same for two depths
# of one model, so the difference between them measures the cost per byte.
BYTE_COST_BOUND = 1.3
# The start of a script run in a fresh process: after its imports, ``peak_above_imports()`` is the peak RSS
# (bytes) reached since, above what the imports left.
PEAK_RSS_PRELUDE = """
import sys
import keras, keras_tfm
def kib(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak RSS (VmHWM) starts again from here: the imports' own peak is not counted
imports = kib("VmRSS")
def peak_above_imports():
    return (kib("VmHWM") - imports) * 1024
"""
LOAD = PEAK_RSS_PRELUDE + """
keras_tfm.AutoModel.from_pretrained(sys.argv[1])
print(peak_above_imports())
"""


@pytest.mark.slow
def test_loading_holds_each_weight_about_once(tmp_path):
    import os
    import subprocess
    import sys

    needed, size = {}, {}
    for layers in (2, 8):
        torch.manual_seed(0)
        config = transformers.BertConfig(vocab_size=8000, hidden_size=512, num_hidden_layers=layers,
                                         num_attention_heads=8, intermediate_size=2048)
        folder = tmp_path / str(layers)
        transformers.BertModel(config).save_pretrained(folder)
        size[layers] = os.path.getsize(folder / "model.safetensors")
        out = subprocess.run([sys.executable, "-c", LOAD, str(folder)], capture_output=True, text=True, check=True,
                             env={**os.environ, "KERAS_BACKEND": keras.backend.backend()})
        needed[layers] = int(out.stdout.split()[-1])
    cost = (needed[8] - needed[2]) / (size[8] - size[2])
    print(f"from_pretrained: {cost:.2f} bytes of memory per byte of weights, {needed[8] / size[8]:.2f} x the "
          f"8-layer file in all ({needed} bytes for {size})")
    assert cost <= BYTE_COST_BOUND, f"{cost:.2f} bytes of memory per byte of weights ({needed} for files of {size})"
