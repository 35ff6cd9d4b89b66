"""LayoutLM (v1): every head against HF transformers (both ways, losses), bbox checks."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

import keras_tfm
from keras_tfm.processing import tokenize_with_boxes
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


# ---- the tokenizer with boxes, against transformers 4.57's document-question-answering pipeline ----

FIXTURES = Path(__file__).parent / "fixtures" / "layoutlm"
SPANS = json.loads((FIXTURES / "spans.json").read_text())["cases"]


@pytest.fixture(scope="module")
def tokenizers():
    return {name: keras_tfm.AutoTokenizer.from_pretrained(FIXTURES / name) for name in ("wordpiece", "bpe")}


@pytest.mark.parametrize("case", SPANS, ids=[c["name"] for c in SPANS])
def test_tokenize_with_boxes_matches_hf_pipeline(case, tokenizers):
    tokenizer = tokenizers[case["tokenizer"]]
    words, boxes = [w for w, _ in case["word_boxes"]], [b for _, b in case["word_boxes"]]
    spans = tokenize_with_boxes(tokenizer, case["question"], words, boxes, **case["kwargs"])
    assert len(spans) == len(case["spans"])
    for ours, theirs in zip(spans, case["spans"]):
        for key in ("input_ids", "token_type_ids", "attention_mask", "bbox"):
            assert ours[key].dtype == np.int64 and ours[key].shape[0] == 1, key
            assert ours[key][0].tolist() == theirs[key], key
        assert ours["p_mask"].tolist() == theirs["p_mask"]
        assert ours["word_ids"] == theirs["word_ids"]


def test_layoutlm_tokenizer_class_and_auto_classes(tokenizers, tmp_path):
    tokenizer = tokenizers["wordpiece"]
    assert type(tokenizer) is keras_tfm.LayoutLMTokenizer and keras_tfm.LayoutLMTokenizerFast is keras_tfm.LayoutLMTokenizer
    assert type(keras_tfm.AutoProcessor.from_pretrained(FIXTURES / "wordpiece")) is keras_tfm.LayoutLMTokenizer
    case = SPANS[0]
    words, boxes = [w for w, _ in case["word_boxes"]], [b for _, b in case["word_boxes"]]
    assert tokenizer.encode_with_boxes(case["question"], words, boxes)[0]["bbox"][0].tolist() == case["spans"][0]["bbox"]
    # By config.json's model_type when tokenizer_config.json names no class (as transformers 5 saves BertTokenizer).
    folder = tmp_path / "by-model-type"
    tokenizer.save_pretrained(folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("tokenizer_class")
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    (folder / "config.json").write_text(json.dumps({"model_type": "layoutlm"}))
    again = keras_tfm.AutoTokenizer.from_pretrained(folder)
    assert type(again) is keras_tfm.LayoutLMTokenizer and again("total due")["input_ids"] == tokenizer("total due")["input_ids"]


@pytest.mark.parametrize("words, boxes, match", [
    (["total", "due"], [[0, 0, 10, 10]], "2 words but 1 boxes"),
    (["total"], [[0, 0, 1001, 10]], r"word 0 \('total'\) is \[0, 0, 1001, 10\].*0\.\.1000"),
    (["total"], [[-1, 0, 10, 10]], "0..1000"),
    (["total"], [[50, 0, 10, 10]], "right >= left"),
    (["total"], [[0, 0, 10]], "a box is"),
    ([], [], "no words"),
])
def test_tokenize_with_boxes_rejects_bad_boxes(tokenizers, words, boxes, match):
    with pytest.raises(ValueError, match=match):
        tokenize_with_boxes(tokenizers["wordpiece"], "what is due?", words, boxes)


def test_tokenize_with_boxes_rejects_empty_question(tokenizers):
    with pytest.raises(ValueError, match="question"):
        tokenize_with_boxes(tokenizers["wordpiece"], "  ", ["total"], [[0, 0, 1, 1]])
