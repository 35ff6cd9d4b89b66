"""The format layer against the committed fixtures written by HF transformers 4's own writers.

tests/fixtures/convert/<arch>-<head>[-sharded]/ hold the same tiny random model as
model.safetensors, pytorch_model.bin, tf_model.h5 and flax_model.msgpack (made by
tests/make_fixtures.py), and reference.npz: fixed inputs and the PyTorch logits.
"""

import json
import os
import shutil

import numpy as np
import pytest
import torch
import transformers

import keras_tfm
from keras_tfm.checkpoints.flax_names import pt_to_flax
from keras_tfm.checkpoints.formats import open_checkpoint, open_hf_state, write_checkpoint
from keras_tfm.checkpoints.naming import read_config
from keras_tfm.checkpoints.tf_names import pt_to_tf
from tests.model_tester import to_np

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "convert")
NAMES = sorted(d for d in os.listdir(FIXTURES) if os.path.isdir(os.path.join(FIXTURES, d)))
ATOL = 1e-4
FLAGS = {"safetensors": {"use_safetensors": True}, "bin": {"from_pt": True, "use_safetensors": False},
         "tf": {"from_tf": True}, "flax": {"from_flax": True}}


FILES = {"safetensors": "model.safetensors", "bin": "pytorch_model.bin", "tf": "tf_model.h5",
         "flax": "flax_model.msgpack"}
with open(os.path.join(FIXTURES, "manifest.json")) as _f:
    MANIFEST = json.load(_f)["fixtures"]


def fixture(name):
    return os.path.join(FIXTURES, name)


def formats_of(name):
    """The formats fixture ``name`` holds: all four but those HF transformers 4 did not write for it (the
    manifest has no TF / Flax difference: no TF Llama, an unreliable Flax Mistral; see make_fixtures.py).
    Our own writers are round-tripped for those in test_convert.py."""
    entry = MANIFEST[name]
    return [f for f in FILES if f not in ("tf", "flax") or entry[f"{f}_vs_pt"] is not None]


# Tensors tied to another one, which some writers list again (.bin files, TF / Flax heads).
TIED_COPIES = {"vocab_projector.weight", "lm_head.decoder.weight", "lm_head.decoder.bias",
               "cls.predictions.decoder.weight", "cls.predictions.decoder.bias", "lm_head.weight",
               *(f"{p}{side}.embed_tokens.weight" for p in ("", "model.") for side in ("encoder", "decoder")),  # BART
               "proj_out.weight",  # Whisper
               "text_decoder.cls.predictions.decoder.weight", "text_decoder.cls.predictions.decoder.bias",  # BLIP
               "decoder.lm_head.weight"}  # VisionEncoderDecoder's GPT-2


def reference(name):
    ref = np.load(os.path.join(fixture(name), "reference.npz"))
    return {k: ref[k] for k in ref.files if k != "logits"}, ref["logits"]


def our_class(folder):
    arch = read_config(folder)["architectures"][0]
    return getattr(keras_tfm, arch)


def logits_of(model, inputs):
    """Logits; the last hidden state for a base model (its reference.npz stores that as "logits")."""
    out = model(**inputs)
    return to_np(out.logits if "logits" in out.keys() else out.last_hidden_state)


def test_fixture_set_is_complete_and_small():
    assert len(NAMES) == 33  # 13 + T5 (v1.0: three classes; v1.1) + BART (three) and MBart + ResNet, ViT, SegFormer
    # + Wav2Vec2, Whisper + LayoutLM (two) + BLIP + VisionEncoderDecoder
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(FIXTURES) for f in fs)
    # 5 MB of text models, 0.6 MB of vision ones, 0.11 MB of Wav2Vec2, 0.14 MB of Whisper, 0.23 MB of LayoutLM,
    # 0.16 MB of BLIP, 0.23 MB of ViT-GPT-2
    assert total < 6.48e6
    for name in NAMES:
        files = set(os.listdir(fixture(name)))
        wanted = {FILES[f] + (".index.json" if name.endswith("sharded") else "") for f in formats_of(name)}
        assert wanted <= files, (name, wanted - files)


@pytest.mark.parametrize("name", NAMES)
def test_every_format_loads_and_matches_the_reference(name):
    """Each format of each fixture, loaded into one model (zeroed in between), gives the reference logits."""
    from keras_tfm.checkpoints.loading import load_pretrained_weights

    folder = fixture(name)
    inputs, expected = reference(name)
    model = our_class(folder).from_pretrained(folder)
    for fmt in formats_of(name):
        for v in model.weights:
            v.assign(np.zeros(v.shape, v.dtype))
        info = load_pretrained_weights(model, folder, fmt)
        assert info["missing_keys"] == [] and info["unexpected_keys"] == [], (fmt, info)
        diff = float(np.abs(logits_of(model, inputs) - expected).max())
        assert diff <= ATOL, f"{name} {fmt}: max abs diff {diff}"


@pytest.mark.parametrize("fmt", ["safetensors", "bin", "tf", "flax"])
def test_from_pretrained_flags(fmt):
    name = "bert-ForSequenceClassification-sharded"
    inputs, expected = reference(name)
    model, info = keras_tfm.AutoModelForSequenceClassification.from_pretrained(
        fixture(name), output_loading_info=True, **FLAGS[fmt])
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    assert np.abs(logits_of(model, inputs) - expected).max() <= ATOL


@pytest.mark.parametrize("name", NAMES)
def test_readers_give_identical_tensors_and_hf_names(name):
    """Every format, translated to PyTorch names, holds bit-identical tensors; our PT -> TF /
    Flax naming reproduces the names HF's own TF and Flax writers used."""
    folder = fixture(name)
    config = read_config(folder)
    arch, model_type = config["architectures"][0], config["model_type"]
    ref = open_hf_state(folder, "safetensors")
    for fmt in formats_of(name)[1:]:
        state = open_hf_state(folder, fmt, model_type, arch)
        assert set(state) <= set(ref) | TIED_COPIES
        # Batch norms' step counters: buffers HF's TF and Flax models do not keep.
        kept = {n for n in ref if fmt not in ("tf", "flax") or not n.endswith(".num_batches_tracked")}
        assert kept <= set(state)
        for n in kept:
            np.testing.assert_array_equal(state[n], ref[n], err_msg=f"{fmt} {n}")
    if "tf" in formats_of(name):
        assert set(pt_to_tf(ref, model_type, arch)) == set(open_checkpoint(folder, "tf"))
    if "flax" in formats_of(name):
        assert set(pt_to_flax(ref, model_type, arch)) == set(open_checkpoint(folder, "flax"))


@pytest.mark.parametrize("name", ["bert-ForMaskedLM", "distilbert-ForSequenceClassification", "resnet-Model"])
def test_msgpack_writer_is_byte_identical_to_flax(name, tmp_path):
    folder = fixture(name)
    ckpt = open_checkpoint(folder, "flax")
    write_checkpoint(ckpt, tmp_path, "flax")
    ours = (tmp_path / "flax_model.msgpack").read_bytes()
    assert ours == open(os.path.join(folder, "flax_model.msgpack"), "rb").read()


def test_detection_order_and_single_formats(tmp_path):
    name = "roberta-ForSequenceClassification"
    inputs, expected = reference(name)
    for keep in ("tf_model.h5", "flax_model.msgpack", "pytorch_model.bin"):
        d = tmp_path / keep
        d.mkdir()
        shutil.copy(os.path.join(fixture(name), "config.json"), d)
        shutil.copy(os.path.join(fixture(name), keep), d)
        model = keras_tfm.AutoModelForSequenceClassification.from_pretrained(d)  # detected, no flag
        assert np.abs(logits_of(model, inputs) - expected).max() <= ATOL
    with pytest.raises(keras_tfm.checkpoints.hub.ModelNotFoundError, match="tf_model.h5"):
        keras_tfm.AutoModelForSequenceClassification.from_pretrained(tmp_path / "tf_model.h5", from_flax=True)
    with pytest.raises(ValueError, match="at most one"):
        keras_tfm.AutoModel.from_pretrained(fixture(name), from_tf=True, from_flax=True)


@pytest.mark.parametrize("name", ["bert-ForMaskedLM", "distilbert-ForSequenceClassification", "roberta-ForMaskedLM",
                                  "segformer-ForSemanticSegmentation"])
def test_every_format_we_write_loads_back(name, tmp_path):
    from keras_tfm.checkpoints.loading import load_pretrained_weights

    inputs, expected = reference(name)
    model = our_class(fixture(name)).from_pretrained(fixture(name))
    other = our_class(fixture(name)).from_pretrained(fixture(name))
    for fmt in ("safetensors", "bin", "tf", "flax", "keras"):
        for sharded in (False, True) if fmt != "keras" else (False,):
            out = tmp_path / f"{fmt}-{sharded}"
            kwargs = {"max_shard_size": "6KB"} if sharded else {}
            if fmt in ("safetensors", "bin"):
                model.save_pretrained(out, safe_serialization=fmt == "safetensors", **kwargs)
            else:
                model.save_pretrained(out, format=fmt, **kwargs)
            assert sharded == any(f.endswith(".index.json") for f in os.listdir(out)), os.listdir(out)
            for v in other.weights:
                v.assign(np.zeros(v.shape, v.dtype))
            load_pretrained_weights(other, out, fmt)
            diff = float(np.abs(logits_of(other, inputs) - expected).max())
            assert diff <= ATOL, f"{name} {fmt} sharded={sharded}: {diff}"
    again = our_class(out).from_pretrained(out)  # the Keras-native folder, detected
    assert np.abs(logits_of(again, inputs) - expected).max() <= ATOL


@pytest.mark.parametrize("safe", [True, False])
def test_pt_files_we_write_load_in_hf_transformers(safe, tmp_path):
    for name in ("bert-ForSequenceClassification", "distilbert-ForMaskedLM", "roberta-ForMaskedLM"):
        inputs, expected = reference(name)
        # Read from the TF checkpoint, write PyTorch files: HF 5 must take them as they are.
        model = our_class(fixture(name)).from_pretrained(fixture(name), from_tf=True)
        model.save_pretrained(tmp_path / name, safe_serialization=safe)
        arch = read_config(fixture(name))["architectures"][0]
        hf = getattr(transformers, arch).from_pretrained(tmp_path / name).eval()
        with torch.no_grad():
            theirs = hf(**{k: torch.tensor(v) for k, v in inputs.items()}).logits.numpy()
        assert np.abs(theirs - expected).max() <= ATOL


def test_keras_weights_are_keras_native(tmp_path):
    import keras

    name = "bert-ForSequenceClassification"
    inputs, expected = reference(name)
    model = keras_tfm.BertForSequenceClassification.from_pretrained(fixture(name))
    model.save_pretrained(tmp_path, format="keras")
    assert sorted(os.listdir(tmp_path)) == ["config.json", "model.weights.h5"]
    # Plain Keras reads it into a fresh model of the same class.
    fresh = keras_tfm.BertForSequenceClassification(keras_tfm.BertConfig.from_pretrained(tmp_path)).build_weights()
    fresh.load_weights(str(tmp_path / "model.weights.h5"))
    assert np.abs(logits_of(fresh, inputs) - expected).max() <= ATOL
    assert isinstance(fresh, keras.Model)
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == ["BertForSequenceClassification"]
    # The .keras archive (Model.save) of the same model, read back by from_pretrained.
    model.save_pretrained(tmp_path / "archive", format="keras_archive")
    assert sorted(os.listdir(tmp_path / "archive")) == ["config.json", "model.keras"]
    again = keras_tfm.AutoModelForSequenceClassification.from_pretrained(tmp_path / "archive")
    assert np.abs(logits_of(again, inputs) - expected).max() <= ATOL
