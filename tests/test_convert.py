"""``keras-tfm convert``: round trips, dtype, sharding, side files, --check, and bad input."""

import json
import os
import shutil
import struct

import numpy as np
import pytest
import torch

import keras_tfm
from keras_tfm.checkpoints.convert import convert
from keras_tfm.checkpoints.errors import CheckpointError
from keras_tfm.checkpoints.formats import open_checkpoint, open_hf_state
from keras_tfm.checkpoints.hub import ModelNotFoundError
from keras_tfm.cli import main
from tests.test_formats import ATOL, fixture, logits_of, our_class, reference

SKIPPED = {"vocab_projector.weight", "lm_head.decoder.weight", "lm_head.decoder.bias",
           "cls.predictions.decoder.weight", "cls.predictions.decoder.bias"}


@pytest.mark.parametrize("name", ["bert-ForMaskedLM", "distilbert-ForMaskedLM", "roberta-ForSequenceClassification",
                                  "layoutlm-ForMaskedLM",
                                  "t5-Model", "t5-v1_1-ForConditionalGeneration", "bart-ForConditionalGeneration",
                                  "mbart-ForConditionalGeneration", "whisper-ForConditionalGeneration",
                                  "resnet-ForImageClassification",
                                  "vit-ForImageClassification", "vit-Model", "segformer-ForSemanticSegmentation",
                                  "vision-encoder-decoder-Model"])
def test_round_trip_pt_tf_flax_keras_pt_is_bit_exact(name, tmp_path):
    _assert_round_trip_bit_exact(fixture(name), tmp_path)


@pytest.mark.parametrize("hf_class", ["LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForSequenceClassification"])
def test_llama_family_round_trips_through_every_format(hf_class, tmp_path):
    """Every format through our own writers (HF-written fixtures cover only Llama's Flax and Mistral's TF files,
    test_formats.py; HF never had Qwen2 in TF or Flax), then HF's logits from the result."""
    transformers = pytest.importorskip("transformers")
    config = getattr(transformers, hf_class.split("For")[0] + "Config")(
        vocab_size=64, hidden_size=16, intermediate_size=24, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=32, pad_token_id=1, num_labels=3)
    torch.manual_seed(0)
    hf = getattr(transformers, hf_class)(config).eval()
    hf.save_pretrained(tmp_path / "src")
    final = _assert_round_trip_bit_exact(tmp_path / "src", tmp_path)
    ids = np.random.RandomState(0).randint(2, 64, (2, 7))
    with torch.no_grad():
        want = hf(torch.tensor(ids)).logits.numpy()
    got = keras_tfm.backend.to_numpy(getattr(keras_tfm, hf_class).from_pretrained(final)(input_ids=ids).logits)
    np.testing.assert_allclose(got, want, atol=ATOL)


def _assert_round_trip_bit_exact(src, tmp_path):
    """pt -> tf -> flax -> keras -> pt (TF and Flax sharded): every tensor back bit for bit; the last folder."""
    chain, prev = [("tf", "3KB"), ("flax", "4KB"), ("keras", "5GB"), ("pt", "5GB")], src
    for i, (to, shard) in enumerate(chain):
        out = tmp_path / f"{i}-{to}"
        report = convert(prev, out, to=to, max_shard_size=shard, progress=False)
        assert report["target_format"] == ("safetensors" if to == "pt" else to)
        prev = out
    original, final = open_hf_state(src, "safetensors"), open_hf_state(prev, "safetensors")
    def kept_names(state):  # batch norms' step counters: TF / Flax keep none, and we write them back as 0
        return set(state) - SKIPPED - {n for n in state if n.endswith(".num_batches_tracked")}

    kept = kept_names(original)
    assert kept == kept_names(final)
    for n in kept:
        assert original[n].dtype == final[n].dtype
        np.testing.assert_array_equal(original[n], final[n], err_msg=n)
    return prev


def test_cli_check_json_and_side_files(tmp_path, capsys):
    src = tmp_path / "src"
    shutil.copytree(fixture("bert-ForSequenceClassification"), src)
    (src / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    (src / "tokenizer_config.json").write_text("{}")
    rc = main(["convert", str(src), str(tmp_path / "tf"), "--to", "tf", "--check", "--json", "--no-progress"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["path"] == "file to file" and report["max_abs_diff"] <= 1e-6
    assert sorted(os.listdir(tmp_path / "tf")) == ["config.json", "tf_model.h5", "tokenizer_config.json", "vocab.txt"]
    rc = main(["convert", str(tmp_path / "tf"), str(tmp_path / "k"), "--to", "keras", "--check", "--no-progress"])
    assert rc == 0 and "max abs difference" in capsys.readouterr().out


def test_dtype_and_sharding(tmp_path):
    src = fixture("distilbert-ForSequenceClassification")
    convert(src, tmp_path / "bf16", to="pt", dtype="bfloat16", max_shard_size="8KB", progress=False)
    files = os.listdir(tmp_path / "bf16")
    assert "model.safetensors.index.json" in files and len([f for f in files if f.endswith(".safetensors")]) > 1
    state = open_hf_state(tmp_path / "bf16")
    assert all(str(state[n].dtype) == "bfloat16" for n in state)
    assert json.loads((tmp_path / "bf16" / "config.json").read_text())["dtype"] == "bfloat16"
    convert(tmp_path / "bf16", tmp_path / "flax16", to="flax", progress=False)
    assert all(str(v.dtype) == "bfloat16" for v in open_checkpoint(tmp_path / "flax16", "flax").values())
    model = keras_tfm.AutoModelForSequenceClassification.from_pretrained(tmp_path / "flax16", dtype="float32")
    inputs, expected = reference("distilbert-ForSequenceClassification")
    assert np.abs(logits_of(model, inputs) - expected).max() <= 0.05
    # HF transformers reads our bf16 safetensors shards.
    import transformers

    hf = transformers.DistilBertForSequenceClassification.from_pretrained(tmp_path / "bf16")
    assert hf.distilbert.embeddings.word_embeddings.weight.dtype == torch.bfloat16


def test_failed_conversion_leaves_nothing(tmp_path):
    src = fixture("bert-ForSequenceClassification")
    with pytest.raises(CheckpointError, match="bfloat16"):  # tf_model.h5 cannot hold bfloat16
        convert(src, tmp_path / "out", to="tf", dtype="bfloat16", progress=False)
    assert os.listdir(tmp_path) == []
    assert main(["convert", src, str(tmp_path / "out"), "--to", "tf", "--dtype", "bfloat16", "--no-progress"]) == 1
    assert os.listdir(tmp_path) == []
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(FileExistsError, match="full"):
        convert(src, tmp_path / "full", to="tf", progress=False)
    convert(src, tmp_path / "full", to="flax", progress=False, overwrite=True)
    assert sorted(os.listdir(tmp_path / "full")) == ["config.json", "flax_model.msgpack"]


# ---- bad input ---------------------------------------------------------------------
ONE = {"safetensors": "model.safetensors", "bin": "pytorch_model.bin", "tf": "tf_model.h5",
       "flax": "flax_model.msgpack"}
INDEX = {"safetensors": "model.safetensors.index.json", "bin": "pytorch_model.bin.index.json",
         "tf": "tf_model.h5.index.json", "flax": "flax_model.msgpack.index.json"}


def only(tmp_path, name, fmt, sharded=False):
    """A copy of a fixture holding only one format."""
    d = tmp_path / f"{fmt}{'-sharded' if sharded else ''}"
    d.mkdir()
    src = fixture(name + ("-sharded" if sharded else ""))
    for f in os.listdir(src):
        stem = ONE[fmt].rsplit(".", 1)[0].replace("model.", "model")
        if f == "config.json" or f == ONE[fmt] or f == INDEX[fmt] or (sharded and f.startswith(stem.split(".")[0] + "-")
                                                                      and f.endswith(ONE[fmt].rsplit(".", 1)[1])):
            shutil.copy(os.path.join(src, f), d)
    return d


@pytest.mark.parametrize("fmt", ["safetensors", "bin", "tf", "flax"])
def test_truncated_and_corrupt_files_name_the_file(fmt, tmp_path):
    d = only(tmp_path, "bert-ForSequenceClassification", fmt)
    path = d / ONE[fmt]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(CheckpointError, match=ONE[fmt].replace(".", r"\.")) as e:
        keras_tfm.AutoModelForSequenceClassification.from_pretrained(d)
    if fmt in ("safetensors", "flax"):  # offsets are known up front: the error names the tensor too
        assert "'" in str(e.value) and ("tensor" in str(e.value) or "read" in str(e.value))
    path.write_bytes(b"\x93NOT A CHECKPOINT" * 10)
    with pytest.raises(CheckpointError, match=ONE[fmt].replace(".", r"\.")):
        keras_tfm.AutoModelForSequenceClassification.from_pretrained(d)
    with pytest.raises(CheckpointError, match=ONE[fmt].replace(".", r"\.")):
        convert(d, tmp_path / "out", to="pt" if fmt != "safetensors" else "tf", progress=False)
    assert not (tmp_path / "out").exists()


def test_truncated_msgpack_names_the_tensor(tmp_path):
    d = only(tmp_path, "bert-ForSequenceClassification", "flax")
    path = d / "flax_model.msgpack"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match=r"flax_model\.msgpack is truncated.*'bert/"):
        open_checkpoint(d, "flax")


def test_truncated_safetensors_data_names_the_tensor(tmp_path):
    d = only(tmp_path, "bert-ForSequenceClassification", "safetensors")
    path = d / "model.safetensors"
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    path.write_bytes(data[: 8 + n + 100])
    with pytest.raises(CheckpointError, match=r"model\.safetensors.*tensor '.*' lies past the end"):
        open_checkpoint(d, "safetensors")


@pytest.mark.parametrize("fmt", ["safetensors", "bin", "tf", "flax"])
def test_index_naming_a_missing_shard(fmt, tmp_path):
    d = only(tmp_path, "roberta-ForSequenceClassification", fmt, sharded=True)
    index = json.loads((d / INDEX[fmt]).read_text())
    shard = sorted(set(index["weight_map"].values()))[-1]
    os.remove(d / shard)
    with pytest.raises(CheckpointError, match=f"{INDEX[fmt]}.*{shard}"):
        keras_tfm.AutoModelForSequenceClassification.from_pretrained(d)


@pytest.mark.parametrize("fmt", ["tf", "flax"])
def test_mismatched_shapes_name_the_tensor(fmt, tmp_path):
    d = only(tmp_path, "bert-ForSequenceClassification", fmt)
    raw = json.loads((d / "config.json").read_text())
    raw["intermediate_size"] = 40
    (d / "config.json").write_text(json.dumps(raw))
    # the file named; names and shapes as HF's PyTorch state dict has them
    name = "tf_model.h5" if fmt == "tf" else "flax_model.msgpack"
    with pytest.raises(CheckpointError, match=rf"(?s){name} into BertForSequenceClassification:\n.*size mismatch for "
                                              r"bert\.encoder\.layer\.0\.intermediate\.dense\.weight: shape \(24, 16\) "
                                              r"in the checkpoint, \(40, 16\) in the model"):
        keras_tfm.AutoModelForSequenceClassification.from_pretrained(d)


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_carrying_code_is_refused_by_convert(tmp_path):
    d = only(tmp_path, "bert-ForSequenceClassification", "bin")
    marker = tmp_path / "code_ran"
    torch.save({"bert.embeddings.word_embeddings.weight": _RunsCode(str(marker))}, d / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"pytorch_model\.bin.*weights_only"):
        convert(d, tmp_path / "out", to="tf", progress=False)
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_unmappable_name_is_a_clear_error(tmp_path):
    import h5py

    d = only(tmp_path, "bert-ForSequenceClassification", "tf")
    with h5py.File(d / "tf_model.h5", "a") as f:
        names = [n if isinstance(n, bytes) else n.encode() for n in f["bert"].attrs["weight_names"]]
        f["bert"].attrs["weight_names"] = np.asarray(names + [b"tf_bert_for_sequence_classification/bert/mystery/kernel:0"])
        f["bert"].create_dataset("tf_bert_for_sequence_classification/bert/mystery/kernel:0", data=np.zeros((2, 2)))
    with pytest.raises(CheckpointError, match=r"'bert/mystery/kernel:0' in .*tf_model\.h5 \(PyTorch name "
                                              r"'bert\.mystery\.weight'\)"):
        convert(d, tmp_path / "out", to="pt", progress=False)
    assert not (tmp_path / "out").exists()
    # from_pretrained keeps HF's behaviour: loads, and reports the tensor as unexpected.
    _, info = keras_tfm.AutoModelForSequenceClassification.from_pretrained(d, output_loading_info=True)
    assert info["unexpected_keys"] == ["bert.mystery.weight"]


def test_missing_weights_and_unknown_format(tmp_path):
    (tmp_path / "config.json").write_text(open(os.path.join(fixture("bert-ForMaskedLM"), "config.json")).read())
    with pytest.raises(ModelNotFoundError, match="tf_model.h5"):
        convert(tmp_path, tmp_path / "out", to="pt", progress=False)
    with pytest.raises(ValueError, match="Unknown target format"):
        convert(fixture("bert-ForMaskedLM"), tmp_path / "o2", to="onnx", progress=False)


def test_base_model_checkpoint_into_task_model_and_back(tmp_path):
    """A TF checkpoint of a task model loads into the base model (prefix handling, as HF)."""
    name = "roberta-ForMaskedLM"
    base = keras_tfm.RobertaModel.from_pretrained(fixture(name), from_tf=True)
    model = our_class(fixture(name)).from_pretrained(fixture(name), from_flax=True)
    a = to_arr(base(**reference(name)[0]).last_hidden_state)
    b = to_arr(model.backbone(**reference(name)[0]).last_hidden_state)
    np.testing.assert_allclose(a, b, atol=ATOL)


def to_arr(x):
    from tests.model_tester import to_np

    return to_np(x)


def test_architecture_can_ask_for_conversion_through_the_model(tmp_path, monkeypatch):
    from keras_tfm.models.distilbert import convert_distilbert

    monkeypatch.setattr(convert_distilbert.TABLES, "convert_through_model", True)
    src = fixture("distilbert-ForSequenceClassification")
    report = convert(src, tmp_path / "tf", to="tf", progress=False)
    assert report["path"] == "through the model"
    direct = open_checkpoint(src, "tf")
    ours = open_checkpoint(tmp_path / "tf", "tf")
    assert set(direct) == set(ours)
    for n in direct:
        np.testing.assert_array_equal(direct[n], ours[n])


def test_base_model_tf_names_keep_hf_main_layer(tmp_path):
    """HF's TF base model has a main layer (tf_bert_model/bert/...) that PyTorch's lacks."""
    src = fixture("bert-Model")
    convert(src, tmp_path / "tf", to="tf", max_shard_size="5KB", progress=False)
    assert set(open_checkpoint(tmp_path / "tf", "tf")) == set(open_checkpoint(src, "tf"))
    convert(src, tmp_path / "pt", to="pt", from_format="tf", progress=False)
    original, back = open_hf_state(src, "safetensors"), open_hf_state(tmp_path / "pt", "safetensors")
    assert set(original) == set(back)
    for n in original:
        np.testing.assert_array_equal(original[n], back[n])
