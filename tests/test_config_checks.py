"""config.json files from strangers: wrong types, impossible or absurd sizes and malformed labels are
refused with a ConfigError (a ValueError) naming the file and the field, before a model is built."""

import json

import pytest

import keras_tfm
from keras_tfm import ConfigError


def bert_config(**changes):
    raw = {"model_type": "bert", "vocab_size": 99, "hidden_size": 32, "num_hidden_layers": 2,
           "num_attention_heads": 4, "intermediate_size": 37, "max_position_embeddings": 64}
    return {**raw, **changes}


@pytest.mark.parametrize("changes, culprit", [
    ({"num_attention_heads": 0}, "num_attention_heads=0 must be at least 1"),
    ({"hidden_size": "32"}, "hidden_size='32' must be an integer"),
    ({"hidden_size": 32.0}, "hidden_size=32.0 must be an integer"),
    ({"num_hidden_layers": -1}, "num_hidden_layers=-1 must be at least 0"),
    ({"vocab_size": True}, "vocab_size=True must be an integer"),
    ({"id2label": ["NEG", "POS"]}, "id2label must be an object"),
    ({"id2label": {"zero": "NEG"}}, "not an integer id"),
    ({"hidden_size": 10**9}, "GB of weights even in bfloat16"),
])
@pytest.mark.parametrize("loader", [keras_tfm.AutoConfig, keras_tfm.BertConfig, keras_tfm.AutoModel])
def test_bad_config_json_names_the_file_and_field(tmp_path, changes, culprit, loader):
    (tmp_path / "config.json").write_text(json.dumps(bert_config(**changes)))
    with pytest.raises(ConfigError, match="config.json") as error:
        loader.from_pretrained(tmp_path)
    assert culprit in str(error.value)
    assert isinstance(error.value, ValueError)  # what HF users catch


def test_bad_json_and_overrides_are_config_errors(tmp_path):
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="config.json.*JSON object"):
        keras_tfm.AutoConfig.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(ConfigError, match="config.json"):
        keras_tfm.AutoConfig.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(bert_config()))
    with pytest.raises(ConfigError, match="num_hidden_layers=-2"):
        keras_tfm.AutoConfig.from_pretrained(tmp_path, num_hidden_layers=-2)


def test_a_sound_config_still_loads(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(bert_config(id2label={"0": "NEG", "1": "POS"}, n_inner=None)))
    config = keras_tfm.AutoConfig.from_pretrained(tmp_path)
    assert config.num_attention_heads == 4 and config.id2label == {0: "NEG", 1: "POS"}
