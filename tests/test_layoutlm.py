"""LayoutLM (v1): every head against HF transformers (both ways, losses), bbox checks."""

import numpy as np
import pytest
import torch
import transformers

import keras_tfm
from tests.model_tester import ModelTesterMixin, make_inputs, to_np


def tiny_layoutlm_config():
    return transformers.LayoutLMConfig(vocab_size=99, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                       intermediate_size=24, max_position_embeddings=64, pad_token_id=1)


def random_boxes(batch, length, seed=0):
    """(B, T, 4) valid boxes (left, upper, right, lower) in 0..1000."""
    rng = np.random.RandomState(seed)
    corner = rng.randint(0, 900, (batch, length, 2))
    size = rng.randint(0, 100, (batch, length, 2))
    return np.concatenate([corner, corner + size], axis=-1).astype("int64")


def layout_inputs(vocab_size=99, seed=0):
    inputs = make_inputs(vocab_size, uses_token_type_ids=True, seed=seed)
    boxes = random_boxes(*inputs["input_ids"].shape, seed=seed)
    boxes[inputs["attention_mask"] == 0] = 0
    return {**inputs, "bbox": boxes}


class TestLayoutLM(ModelTesterMixin):
    hf_config = staticmethod(tiny_layoutlm_config)
    heads = {
        "base": ("LayoutLMModel", "LayoutLMModel", "AutoModel"),
        "sequence": ("LayoutLMForSequenceClassification", "LayoutLMForSequenceClassification",
                     "AutoModelForSequenceClassification"),
        "token": ("LayoutLMForTokenClassification", "LayoutLMForTokenClassification",
                  "AutoModelForTokenClassification"),
        "qa": ("LayoutLMForQuestionAnswering", "LayoutLMForQuestionAnswering", "AutoModelForQuestionAnswering"),
        "docqa": ("LayoutLMForQuestionAnswering", "LayoutLMForQuestionAnswering",
                  "AutoModelForDocumentQuestionAnswering"),
        "mlm": ("LayoutLMForMaskedLM", "LayoutLMForMaskedLM", "AutoModelForMaskedLM"),
    }

    def model_inputs(self, config):
        return layout_inputs(config.vocab_size)
