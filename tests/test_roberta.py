import numpy as np
import torch
import transformers

import keras_tfm
from tests.model_tester import ModelTesterMixin, compare, make_inputs, to_np


def tiny_roberta_config(**kwargs):
    # pad_token_id=1 is RoBERTa's; positions run up to pad + 1 + length, inside 64.
    fields = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                  max_position_embeddings=64, pad_token_id=1, type_vocab_size=1, layer_norm_eps=1e-5)
    return transformers.RobertaConfig(**{**fields, **kwargs})


class TestRoberta(ModelTesterMixin):
    hf_config = staticmethod(tiny_roberta_config)
    uses_token_type_ids = False  # type_vocab_size=1, as in roberta-base
    heads = {
        "base": ("RobertaModel", "RobertaModel", "AutoModel"),
        "sequence": ("RobertaForSequenceClassification", "RobertaForSequenceClassification",
                     "AutoModelForSequenceClassification"),
        "token": ("RobertaForTokenClassification", "RobertaForTokenClassification", "AutoModelForTokenClassification"),
        "qa": ("RobertaForQuestionAnswering", "RobertaForQuestionAnswering", "AutoModelForQuestionAnswering"),
        "mlm": ("RobertaForMaskedLM", "RobertaForMaskedLM", "AutoModelForMaskedLM"),
    }


class TestRobertaTokenTypes(ModelTesterMixin):
    """type_vocab_size=2 (HF's default) with token_type_ids, on the base model only."""

    hf_config = staticmethod(lambda: tiny_roberta_config(type_vocab_size=2))
    heads = {"base": ("RobertaModel", "RobertaModel", "AutoModel")}


def test_config_defaults_match_hf():
    ours, theirs = keras_tfm.RobertaConfig().to_dict(), transformers.RobertaConfig().to_dict()
    for key, value in ours.items():
        if key in theirs and key not in ("architectures", "id2label", "label2id"):
            assert theirs[key] == value, key
    assert (ours["pad_token_id"], ours["bos_token_id"], ours["eos_token_id"], ours["vocab_size"]) == (1, 0, 2, 50265)


def test_left_padding_positions(tmp_path):
    # Positions skip padding wherever it is: left padding gives the same states as right padding.
    torch.manual_seed(0)
    hf = transformers.RobertaModel(tiny_roberta_config()).eval()
    hf.save_pretrained(tmp_path)
    ours = keras_tfm.AutoModel.from_pretrained(tmp_path)
    inputs = make_inputs(99, uses_token_type_ids=False)
    left = {k: np.ascontiguousarray(v[:, ::-1]) for k, v in inputs.items()}
    with torch.no_grad():
        theirs = hf(**{k: torch.tensor(v) for k, v in left.items()}, output_hidden_states=True)
    compare(ours(**left, output_hidden_states=True), theirs, list(theirs.keys()))


def test_mlm_head_uses_gelu_whatever_hidden_act(tmp_path):
    torch.manual_seed(0)
    hf = transformers.RobertaForMaskedLM(tiny_roberta_config(hidden_act="relu")).eval()
    hf.save_pretrained(tmp_path)
    ours = keras_tfm.AutoModelForMaskedLM.from_pretrained(tmp_path)
    inputs = make_inputs(99, uses_token_type_ids=False)
    with torch.no_grad():
        theirs = hf(**{k: torch.tensor(v) for k, v in inputs.items()}).logits.numpy()
    np.testing.assert_allclose(to_np(ours(**inputs).logits), theirs, atol=1e-4)
