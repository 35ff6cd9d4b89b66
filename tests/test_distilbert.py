import json

import numpy as np
import torch
import transformers

import keras_tfm
from tests.model_tester import ModelTesterMixin, compare, make_inputs, to_np


def tiny_distilbert_config(**kwargs):
    return transformers.DistilBertConfig(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37,
                                         max_position_embeddings=64, pad_token_id=1, **kwargs)


class TestDistilBert(ModelTesterMixin):
    hf_config = staticmethod(tiny_distilbert_config)
    uses_token_type_ids = False
    heads = {
        "base": ("DistilBertModel", "DistilBertModel", "AutoModel"),
        "sequence": ("DistilBertForSequenceClassification", "DistilBertForSequenceClassification",
                     "AutoModelForSequenceClassification"),
        "token": ("DistilBertForTokenClassification", "DistilBertForTokenClassification",
                  "AutoModelForTokenClassification"),
        "qa": ("DistilBertForQuestionAnswering", "DistilBertForQuestionAnswering", "AutoModelForQuestionAnswering"),
        "mlm": ("DistilBertForMaskedLM", "DistilBertForMaskedLM", "AutoModelForMaskedLM"),
    }


def test_config_aliases_and_overrides(tmp_path):
    tiny_distilbert_config().save_pretrained(tmp_path)
    config = keras_tfm.AutoConfig.from_pretrained(tmp_path, n_heads=8, hidden_size=64)
    assert isinstance(config, keras_tfm.DistilBertConfig)
    assert (config.n_heads, config.num_attention_heads, config.dim, config.hidden_size) == (8, 8, 64, 64)
    assert (config.n_layers, config.num_hidden_layers) == (2, 2)
    config.num_hidden_layers = 3  # writing an alias writes the real field
    assert config.n_layers == 3 and "num_hidden_layers" not in config.to_dict()
    saved = tmp_path / "again"
    config.save_pretrained(saved)
    on_disk = json.loads((saved / "config.json").read_text())
    assert (on_disk["n_heads"], on_disk["dim"], on_disk["n_layers"]) == (8, 64, 3)
    hf = transformers.AutoConfig.from_pretrained(saved)
    assert (hf.n_heads, hf.dim, hf.n_layers, hf.hidden_dim) == (8, 64, 3, 37)


def test_config_defaults_match_hf():
    ours, theirs = keras_tfm.DistilBertConfig().to_dict(), transformers.DistilBertConfig().to_dict()
    for key, value in ours.items():
        if key in theirs and key not in ("architectures", "id2label", "label2id"):
            assert theirs[key] == value, key


def test_sinusoidal_position_embeddings(tmp_path):
    # HF writes a fixed sin/cos table; a checkpoint holds it as a plain tensor.
    torch.manual_seed(0)
    hf = transformers.DistilBertModel(tiny_distilbert_config(sinusoidal_pos_embds=True)).eval()
    hf.save_pretrained(tmp_path)
    ours = keras_tfm.AutoModel.from_pretrained(tmp_path)
    inputs = make_inputs(99, uses_token_type_ids=False)
    with torch.no_grad():
        theirs = hf(**{k: torch.tensor(v) for k, v in inputs.items()}, output_hidden_states=True)
    compare(ours(**inputs, output_hidden_states=True), theirs, list(theirs.keys()))
    # A fresh model starts from the same table as HF's.
    fresh = keras_tfm.DistilBertModel.from_config(keras_tfm.DistilBertConfig(**tiny_distilbert_config(
        sinusoidal_pos_embds=True).to_dict()))
    np.testing.assert_allclose(to_np(fresh.embeddings.position_embedding.embeddings),
                               hf.embeddings.position_embeddings.weight.detach().numpy(), atol=1e-6)


def test_token_type_ids_rejected():
    model = keras_tfm.DistilBertForSequenceClassification.from_config(
        keras_tfm.DistilBertConfig(**tiny_distilbert_config().to_dict()))
    inputs = make_inputs(99, uses_token_type_ids=True)
    try:
        model(**inputs)
    except (ValueError, TypeError) as e:
        assert "token_type_ids" in str(e)
    else:
        raise AssertionError("token_type_ids was accepted")
