"""Loading and saving checkpoints: formats, overrides, dtypes, hub cache, and bad input."""

import json
import logging
import os
import re

import keras
import numpy as np
import pytest
import torch
import transformers

import keras_tfm
from keras_tfm.checkpoints.errors import CheckpointError
from keras_tfm.checkpoints.hub import ModelNotFoundError
from tests.hub_cache import put_in_hub_cache
from tests.model_tester import make_inputs, to_np
from tests.test_bert import tiny_bert_config


@pytest.fixture
def hf_bert_dir(tmp_path):
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(tiny_bert_config()).eval()
    model.save_pretrained(tmp_path / "hf")
    return model, tmp_path / "hf"


def hf_logits(model, inputs):
    with torch.no_grad():
        return model(**{k: torch.tensor(v) for k, v in inputs.items()}).logits.numpy()


def test_pytorch_model_bin_and_sharded_safetensors(hf_bert_dir, tmp_path):
    model, path = hf_bert_dir
    inputs = make_inputs(99, True)
    expected = hf_logits(model, inputs)
    # pytorch_model.bin, as older checkpoints ship it
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "config.json").write_text((path / "config.json").read_text())
    torch.save(model.state_dict(), bin_dir / "pytorch_model.bin")
    ours = keras_tfm.AutoModelForSequenceClassification.from_pretrained(bin_dir)
    np.testing.assert_allclose(to_np(ours(**inputs).logits), expected, atol=1e-4)
    # sharded safetensors written by HF transformers
    sharded = tmp_path / "sharded"
    model.save_pretrained(sharded, max_shard_size="30KB")
    assert (sharded / "model.safetensors.index.json").exists()
    ours = keras_tfm.AutoModelForSequenceClassification.from_pretrained(sharded)
    np.testing.assert_allclose(to_np(ours(**inputs).logits), expected, atol=1e-4)


def test_save_as_pytorch_model_bin_loads_in_hf(hf_bert_dir, tmp_path):
    model, path = hf_bert_dir
    ours = keras_tfm.AutoModelForSequenceClassification.from_pretrained(path)
    ours.save_pretrained(tmp_path / "out", safe_serialization=False)
    assert (tmp_path / "out" / "pytorch_model.bin").exists()
    again = transformers.BertForSequenceClassification.from_pretrained(tmp_path / "out").eval()
    inputs = make_inputs(99, True)
    np.testing.assert_allclose(hf_logits(again, inputs), hf_logits(model, inputs), atol=1e-6)


def test_config_overrides_like_hf(hf_bert_dir):
    _, path = hf_bert_dir
    model = keras_tfm.AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=5, ignore_mismatched_sizes=True
    )
    assert model.config.num_labels == 5 and model.config.id2label[4] == "LABEL_4"
    assert to_np(model(**make_inputs(99, True)).logits).shape == (3, 5)
    labels = {0: "NEG", 1: "POS"}
    model = keras_tfm.AutoModelForSequenceClassification.from_pretrained(path, id2label=labels)
    assert model.config.id2label == labels and model.config.label2id["POS"] == 1
    config = keras_tfm.AutoConfig.from_pretrained(path, hidden_dropout_prob=0.0)
    assert config.hidden_dropout_prob == 0.0 and config.hidden_size == 32


def test_unknown_config_keys_survive_a_round_trip(hf_bert_dir, tmp_path):
    _, path = hf_bert_dir
    raw = json.loads((path / "config.json").read_text())
    raw["my_custom_key"] = {"a": [1, 2]}
    (path / "config.json").write_text(json.dumps(raw))
    config = keras_tfm.AutoConfig.from_pretrained(path)
    config.save_pretrained(tmp_path / "c")
    again = json.loads((tmp_path / "c" / "config.json").read_text())
    assert again["my_custom_key"] == {"a": [1, 2]}
    assert again["model_type"] == "bert"


def test_new_head_is_reported(tmp_path, caplog):
    torch.manual_seed(0)
    transformers.BertModel(tiny_bert_config()).save_pretrained(tmp_path)
    with caplog.at_level(logging.WARNING, logger="keras_tfm"):
        model, info = keras_tfm.AutoModelForSequenceClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert sorted(info["missing_keys"]) == ["classifier.bias", "classifier.weight"]
    assert info["unexpected_keys"] == []
    assert "newly initialized" in caplog.text and "classifier.weight" in caplog.text


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_loading(hf_bert_dir, dtype):
    model, path = hf_bert_dir
    ours = keras_tfm.AutoModelForSequenceClassification.from_pretrained(path, dtype=dtype)
    assert all(dtype in str(v.dtype) for v in ours.weights)
    inputs = make_inputs(99, True)
    logits = to_np(ours(**inputs).logits).astype("float32")
    np.testing.assert_allclose(logits, hf_logits(model, inputs), atol=0.05)


def test_loading_by_hub_id_from_the_cache(hf_bert_dir, tmp_path, monkeypatch):
    model, path = hf_bert_dir
    cache = tmp_path / "cache"
    put_in_hub_cache(cache, "someone/tiny-bert", path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ours = keras_tfm.AutoModelForSequenceClassification.from_pretrained("someone/tiny-bert", cache_dir=cache)
    inputs = make_inputs(99, True)
    np.testing.assert_allclose(to_np(ours(**inputs).logits), hf_logits(model, inputs), atol=1e-4)
    with pytest.raises(ModelNotFoundError, match="someone/other-model.*offline"):
        keras_tfm.AutoModel.from_pretrained("someone/other-model", cache_dir=cache)
    with pytest.raises(ModelNotFoundError, match="someone/tiny-bert"):
        keras_tfm.AutoModel.from_pretrained("someone/tiny-bert", cache_dir=cache, revision="v2")


def test_real_minilm_checkpoint_matches_hf():
    from tests.conftest import minilm_dir

    path = minilm_dir()
    tok = keras_tfm.AutoTokenizer.from_pretrained(path)
    texts = ["We are very happy to show you the Transformers library.", "We hope you don't hate it.", "Short"]
    batch = tok(texts, padding=True, truncation=True, max_length=512, return_tensors="np")
    hf = transformers.AutoModel.from_pretrained(path).eval()
    with torch.no_grad():
        theirs = hf(**{k: torch.tensor(v) for k, v in batch.items()})
    ours = keras_tfm.AutoModel.from_pretrained(path)(**batch)
    last = to_np(ours.last_hidden_state)
    np.testing.assert_allclose(last, theirs.last_hidden_state.numpy(), atol=1e-4)
    mask = batch["attention_mask"][..., None]
    ours_mean = (last * mask).sum(1) / mask.sum(1)
    theirs_mean = (theirs.last_hidden_state.numpy() * mask).sum(1) / mask.sum(1)
    np.testing.assert_allclose(ours_mean, theirs_mean, atol=1e-5)


# ---- bad input ---------------------------------------------------------------------


def test_missing_folder_and_missing_weights(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not-here"):
        keras_tfm.AutoModel.from_pretrained(str(tmp_path / "not-here"))
    (tmp_path / "config.json").write_text(json.dumps(tiny_bert_config().to_dict()))
    with pytest.raises(ModelNotFoundError, match="model.safetensors"):
        keras_tfm.AutoModel.from_pretrained(tmp_path)
    os.remove(tmp_path / "config.json")
    with pytest.raises(ModelNotFoundError, match="config.json"):
        keras_tfm.AutoModel.from_pretrained(tmp_path)


def test_corrupt_and_truncated_safetensors(hf_bert_dir):
    _, path = hf_bert_dir
    weights = path / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        keras_tfm.AutoModel.from_pretrained(path)
    weights.write_bytes(b"this is not a safetensors file at all")
    with pytest.raises(CheckpointError, match="model.safetensors"):
        keras_tfm.AutoModel.from_pretrained(path)


def test_wrong_shapes_name_the_tensor(hf_bert_dir):
    _, path = hf_bert_dir
    raw = json.loads((path / "config.json").read_text())
    raw["intermediate_size"] = 40
    (path / "config.json").write_text(json.dumps(raw))
    # every mismatch in one error, both shapes in the checkpoint's layout (a Linear weight is (out, in)), as HF
    with pytest.raises(CheckpointError, match=r"model\.safetensors into BertModel") as caught:
        keras_tfm.AutoModel.from_pretrained(path)
    message = str(caught.value)
    assert re.search(r"size mismatch for \S*layer\.0\.intermediate\.dense\.weight: shape \(37, 32\) in the "
                     r"checkpoint, \(40, 32\) in the model", message), message
    assert re.search(r"\S*layer\.1\.output\.dense\.weight: shape \(32, 37\) in the checkpoint, \(32, 40\)", message)
    assert message.count("size mismatch") == 2 * 3  # two layers: intermediate weight and bias, output weight
    model, info = keras_tfm.AutoModel.from_pretrained(path, ignore_mismatched_sizes=True, output_loading_info=True)
    assert sorted(info["mismatched_keys"])[0][1:] == ((37,), (40,))  # bias shapes
    assert len(info["mismatched_keys"]) == 6 and model.config.intermediate_size == 40


def test_a_checkpoint_with_none_of_the_weights_is_an_error(tmp_path):
    from safetensors.numpy import save_file

    keras_tfm.BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                         intermediate_size=37).save_pretrained(tmp_path)
    save_file({"vision.patch.weight": np.zeros((4, 3), "float32")}, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"model\.safetensors provides none of BertModel's weights"):
        keras_tfm.AutoModel.from_pretrained(tmp_path)


def test_unknown_model_type(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "no-such-arch"}))
    with pytest.raises(ValueError, match="no-such-arch"):
        keras_tfm.AutoConfig.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json"):
        keras_tfm.AutoConfig.from_pretrained(tmp_path)


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_with_code_is_refused_and_not_run(hf_bert_dir):
    _, path = hf_bert_dir
    os.remove(path / "model.safetensors")
    marker = path / "code_ran"
    torch.save({"embeddings.word_embeddings.weight": _RunsCode(str(marker))}, path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="pytorch_model.bin"):
        keras_tfm.AutoModel.from_pretrained(path)
    assert not marker.exists()


def test_save_into_a_file_fails_cleanly(hf_bert_dir, tmp_path):
    _, path = hf_bert_dir
    model = keras_tfm.AutoModel.from_pretrained(path)
    target = tmp_path / "a_file"
    target.write_text("x")
    with pytest.raises(NotADirectoryError, match="a_file"):
        model.save_pretrained(target)
    out = tmp_path / "out"
    model.save_pretrained(out)
    assert sorted(os.listdir(out)) == ["config.json", "model.safetensors"]  # no temporary files left


# ---- name tables ----------------------------------------------------------------------


class _EncoderDecoder(keras_tfm.PreTrainedModel):
    """A BERT encoder and a GPT-2 decoder side by side, named by a map composed of their own tables."""

    config_class = keras_tfm.BertConfig

    def __init__(self, config, decoder_config, **kwargs):
        from keras_tfm.checkpoints.weight_map import WeightMap, linear
        from keras_tfm.models.bert import convert_bert
        from keras_tfm.models.gpt2 import convert_gpt2

        super().__init__(config, **kwargs)
        self.encoder = keras_tfm.BertModel(config, add_pooling_layer=False)
        self.decoder = keras_tfm.GPT2Model(decoder_config)
        self.lm_head = keras.layers.Dense(decoder_config.vocab_size)
        # Two existing backbone tables under two prefixes (BART-like on the decoder side:
        # HF "model.decoder." <-> keras "decoder."), and a head at the top: no new rules.
        self.weight_map = WeightMap.compose(
            WeightMap(convert_bert.BACKBONE).mount("encoder."),
            WeightMap(convert_gpt2.BACKBONE).mount("model.decoder.", "decoder."),
            WeightMap(linear("lm_head", "lm_head")),
        )

    def call(self, input_ids):
        encoded = self.encoder(input_ids).last_hidden_state
        decoded = self.decoder(input_ids).last_hidden_state
        return encoded, self.lm_head(decoded)


def _ours(*hf_configs):
    """keras_tfm configs of the same fields as HF ``transformers`` configs."""
    from keras_tfm.registry import CONFIGS

    return [CONFIGS[c.model_type].from_dict(c.to_dict()) for c in hf_configs]


def test_weight_maps_compose_by_prefix_and_round_trip():
    from keras_tfm.checkpoints.weight_map import TRANSPOSE, Rule, WeightMap
    from tests.test_gpt2 import tiny_gpt2_config

    model = _EncoderDecoder(*_ours(tiny_bert_config(), tiny_gpt2_config())).build_weights()
    weight_map = model.weight_map
    encoder = keras_tfm.BertModel(_ours(tiny_bert_config())[0], add_pooling_layer=False).build_weights()
    decoder = keras_tfm.GPT2Model(_ours(tiny_gpt2_config())[0]).build_weights()
    # Every variable maps both ways, to its own model's HF name under the part's prefix.
    for part, hf_prefix, keras_prefix in ((encoder, "encoder.", "encoder."), (decoder, "model.decoder.", "decoder.")):
        for path in keras_tfm.modeling_utils.named_variables(part):
            hf = hf_prefix + part.weight_map.hf_name(path)
            assert weight_map.hf_name(keras_prefix + path) == hf
            assert weight_map.keras_path(hf) == keras_prefix + path
            assert weight_map.transform_for(keras_prefix + path) is part.weight_map.transform_for(path)
    assert weight_map.keras_path("lm_head.weight") == "lm_head.kernel"
    assert weight_map.hf_name("lm_head.bias") == "lm_head.bias"
    # Known buffers stay skipped under their prefix; a name under the wrong prefix is unknown.
    assert weight_map.keras_path("encoder.embeddings.position_ids") is None
    assert weight_map.keras_path("model.decoder.h.0.attn.bias") is None
    assert weight_map.keras_path("decoder.h.0.attn.bias") is False
    assert weight_map.keras_path("h.0.ln_1.weight") is False
    with pytest.raises(KeyError, match="backbone.wte"):
        weight_map.hf_name("backbone.wte.embeddings")
    # A rule found through a mount keeps its flags.
    optional = WeightMap([Rule("lm_head.weight", "lm_head.kernel", TRANSPOSE, optional=True)]).mount("model.")
    assert optional.is_optional("model.lm_head.weight") and not weight_map.is_optional("lm_head.weight")
    # The whole model round-trips through HF names: saved, loaded into a fresh one, nothing left over.
    state = model.state_dict_hf()
    assert {n for n in state if n.startswith("encoder.")} == {"encoder." + n for n in encoder.state_dict_hf()}
    assert {n for n in state if n.startswith("model.decoder.")} == {"model.decoder." + n for n in decoder.state_dict_hf()}
    fresh = _EncoderDecoder(*_ours(tiny_bert_config(), tiny_gpt2_config())).build_weights()
    info = fresh.load_state_dict_hf(state)
    assert info == {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []}
    again = fresh.state_dict_hf()
    assert set(again) == set(state)
    for name in state:
        np.testing.assert_array_equal(again[name], state[name])


def test_the_default_weight_map_reads_prefixed_and_bare_checkpoints():
    """A base model reads a task checkpoint's prefixed names; a task model reads a base checkpoint's bare ones."""
    base, task = keras_tfm.BertModel.weight_map, keras_tfm.BertForSequenceClassification.weight_map
    hf = "encoder.layer.1.output.dense.weight"
    path = base.keras_path(hf)
    assert path.startswith("encoder.") and path.endswith(".kernel")
    assert base.keras_path("bert." + hf) == path
    assert base.hf_name(path) == hf
    assert task.keras_path(hf) == task.keras_path("bert." + hf) == "backbone." + path
    assert task.hf_name("backbone." + path) == "bert." + hf
    assert task.keras_path("classifier.weight") == "classifier.kernel"
    assert task.keras_path("bert.classifier.weight") is False
    legacy = task.keras_path("bert.embeddings.LayerNorm.gamma")  # TF-era names
    assert legacy and legacy == task.keras_path("bert.embeddings.LayerNorm.weight")


def test_conversion_tables_are_registered_by_model_type():
    from keras_tfm.checkpoints.conversion_tables import (
        EMPTY,
        ConversionTables,
        conversion_tables,
        register_conversion,
    )
    from keras_tfm.models.bert import convert_bert
    from keras_tfm.models.llama import convert_llama

    assert conversion_tables("bert") is convert_bert.TABLES
    assert conversion_tables("mistral") is conversion_tables("qwen2") is conversion_tables("llama")
    assert conversion_tables("llama") is convert_llama.TABLES
    assert conversion_tables("no-such-arch") is EMPTY and conversion_tables(None) is EMPTY
    # Every architecture's model classes name their weights with the registered backbone table.
    for name in ("Bert", "DistilBert", "Roberta", "GPT2", "Llama", "Mistral", "Qwen2"):
        cls = getattr(keras_tfm, f"{name}Model")
        assert conversion_tables(cls.config_class.model_type).backbone == cls.weight_map.backbone, name
    assert conversion_tables("bert").heads["masked_lm"] == convert_bert.MASKED_LM
    with pytest.raises(ValueError, match="'bert' are registered twice"):
        register_conversion(ConversionTables(), "bert")


def test_plain_keras_load_weights_on_a_base_model(tmp_path):
    """A base model's ``base_model`` is the model itself (as in HF); Keras' loader must not walk into it."""
    config = _ours(tiny_bert_config())[0]
    model = keras_tfm.BertModel(config).build_weights()
    assert model.base_model is model
    model.save_weights(str(tmp_path / "bert.weights.h5"))
    fresh = keras_tfm.BertModel(config).build_weights()
    fresh.load_weights(str(tmp_path / "bert.weights.h5"))
    assert len(fresh.weights) == len(model.weights)
    for ours, theirs in zip(fresh.weights, model.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(ours), keras.ops.convert_to_numpy(theirs))


def test_a_mismatched_tensor_is_never_read(hf_bert_dir, monkeypatch):
    """Shapes are compared from the file's header: a header claiming a huge tensor is refused unread."""
    from keras_tfm.checkpoints.formats_safetensors import SafetensorsFile

    _, path = hf_bert_dir
    raw = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**raw, "intermediate_size": 40}))
    read = []
    real_get = SafetensorsFile.get
    monkeypatch.setattr(SafetensorsFile, "get", lambda self, name: read.append(name) or real_get(self, name))
    with pytest.raises(CheckpointError, match="size mismatch"):
        keras_tfm.AutoModelForSequenceClassification.from_pretrained(path)
    mismatched = re.compile(r"layer\.\d\.(intermediate\.dense\.(weight|bias)|output\.dense\.weight)$")
    assert read and not [name for name in read if mismatched.search(name)], read
