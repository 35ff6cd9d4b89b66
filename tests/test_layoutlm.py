"""LayoutLM (v1): every head against HF transformers (both ways, losses), bbox checks, the tokenizer
with boxes and the OCR parsing against transformers 4.57's document-question-answering pipeline
(recorded by tests/make_layoutlm_fixtures.py)."""

import json
import sys
import types
from pathlib import Path

import keras
import numpy as np
import pytest
import torch
import transformers

import keras_tfm
from keras_tfm.processing import ocr, tokenize_with_boxes
from tests.model_tester import ModelTesterMixin, make_inputs, to_np


def tiny_layoutlm_config():
    return transformers.LayoutLMConfig(vocab_size=99, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
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
        "mlm": ("LayoutLMForMaskedLM", "LayoutLMForMaskedLM", "AutoModelForMaskedLM"),
    }

    def model_inputs(self, config):
        return layout_inputs(config.vocab_size)


def test_config_defaults_match_hf():
    ours, theirs = keras_tfm.LayoutLMConfig().to_dict(), transformers.LayoutLMConfig().to_dict()
    for key, value in ours.items():
        if key in theirs and key not in ("architectures", "id2label", "label2id"):
            assert theirs[key] == value, key
    assert ours["max_2d_position_embeddings"] == 1024 and ours["model_type"] == "layoutlm"


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
    assert type(tokenizer) is keras_tfm.LayoutLMTokenizer
    assert keras_tfm.LayoutLMTokenizerFast is keras_tfm.LayoutLMTokenizer
    assert type(keras_tfm.AutoProcessor.from_pretrained(FIXTURES / "wordpiece")) is keras_tfm.LayoutLMTokenizer
    case = SPANS[0]
    words, boxes = [w for w, _ in case["word_boxes"]], [b for _, b in case["word_boxes"]]
    spans = tokenizer.encode_with_boxes(case["question"], words, boxes)
    assert spans[0]["bbox"][0].tolist() == case["spans"][0]["bbox"]
    # By config.json's model_type when tokenizer_config.json names no class (as transformers 5 saves BertTokenizer).
    folder = tmp_path / "by-model-type"
    tokenizer.save_pretrained(folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("tokenizer_class")
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    (folder / "config.json").write_text(json.dumps({"model_type": "layoutlm"}))
    again = keras_tfm.AutoTokenizer.from_pretrained(folder)
    assert type(again) is keras_tfm.LayoutLMTokenizer
    assert again("total due")["input_ids"] == tokenizer("total due")["input_ids"]


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


# ---- boxes: missing ones are zeros (as HF), bad ones a clear error on every backend; compiled runs ----

@pytest.fixture(scope="module")
def qa_pair(tmp_path_factory):
    """A tiny HF LayoutLMForQuestionAnswering and ours, loaded from it."""
    torch.manual_seed(0)
    hf = transformers.LayoutLMForQuestionAnswering(tiny_layoutlm_config()).eval()
    path = tmp_path_factory.mktemp("layoutlm-qa")
    hf.save_pretrained(path)
    ours = keras_tfm.AutoModelForDocumentQuestionAnswering.from_pretrained(path)
    assert type(ours) is keras_tfm.LayoutLMForQuestionAnswering
    return hf, ours


def test_qa_logits_without_bbox_are_hfs(qa_pair):
    hf, ours = qa_pair
    inputs = {k: v for k, v in layout_inputs().items() if k != "bbox"}
    with torch.no_grad():
        theirs = hf(**{k: torch.tensor(v) for k, v in inputs.items()})
    out = ours(**inputs)
    for key in ("start_logits", "end_logits"):
        np.testing.assert_allclose(to_np(out[key]), theirs[key].numpy(), atol=1e-4)


@pytest.mark.parametrize("change, match", [
    (lambda b: b.__setitem__((1, 2, 2), 1024), r"bbox coordinate 1024 at bbox\[1, 2, 2\] is outside 0\.\.1023"),
    (lambda b: b.__setitem__((0, 0, 0), -3), r"bbox coordinate -3 at bbox\[0, 0, 0\]"),
    (lambda b: b.__setitem__((2, 1), [50, 10, 40, 20]), r"bbox\[2, 1\] = \[50, 10, 40, 20\] has right < left"),
    (lambda b: b.__setitem__((0, 3), [5, 30, 40, 20]), r"bbox\[0, 3\] = \[5, 30, 40, 20\] has lower < upper"),
])
def test_bad_boxes_are_a_clear_error(qa_pair, change, match):
    _, ours = qa_pair
    inputs = layout_inputs()
    change(inputs["bbox"])
    with pytest.raises(ValueError, match=match):
        ours(**inputs)
    tensors = {k: keras.ops.convert_to_tensor(v) for k, v in inputs.items()}
    with pytest.raises(ValueError, match=match):  # eager backend tensors too
        ours(**tensors)


def test_bbox_of_the_wrong_shape_is_a_clear_error(qa_pair):
    _, ours = qa_pair
    inputs = layout_inputs()
    with pytest.raises(ValueError, match=r"bbox must have shape \(batch, sequence_length, 4\), got \(3, 9, 2\)"):
        ours(**{**inputs, "bbox": inputs["bbox"][..., :2]})


def test_compiled_forward_takes_bbox(qa_pair):
    from keras_tfm.inference import compiled_forward

    _, ours = qa_pair
    inputs = layout_inputs()
    eager, compiled = ours(**inputs), compiled_forward(ours, tune_malloc=False)(**inputs)
    np.testing.assert_allclose(to_np(compiled["start_logits"]), to_np(eager.start_logits), atol=1e-5)


# ---- OCR: parsing of a recorded pytesseract.image_to_data dict against HF 4.57's apply_tesseract ----

OCR = json.loads((FIXTURES / "ocr.json").read_text())


def test_words_and_boxes_match_hf_apply_tesseract():
    words, boxes = ocr.words_and_boxes(OCR["image_to_data"], tuple(OCR["image_size"]))
    assert (words, boxes) == (OCR["words"], OCR["boxes"])


def test_apply_tesseract_calls_pytesseract(monkeypatch):
    """The call path around the recording: a stand-in pytesseract (no OCR engine here) gets the image, lang and
    config, as HF's pipeline passes them."""
    calls = []

    def image_to_data(image, lang=None, output_type=None, config=None):
        calls.append((image.size, lang, output_type, config))
        return OCR["image_to_data"]

    stand_in = types.SimpleNamespace(image_to_data=image_to_data, TesseractNotFoundError=OSError)
    monkeypatch.setitem(sys.modules, "pytesseract", stand_in)
    image = np.zeros(tuple(OCR["image_size"])[::-1] + (3,), "uint8")  # (H, W, C)
    assert ocr.apply_tesseract(image, lang="eng", tesseract_config="--psm 6") == (OCR["words"], OCR["boxes"])
    assert calls == [(tuple(OCR["image_size"]), "eng", "dict", "--psm 6")]


def test_apply_tesseract_without_pytesseract_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pytesseract", None)  # as if not installed (it is not, in CI)
    with pytest.raises(ImportError, match=r"pip install pytesseract.*tesseract binary"):
        ocr.apply_tesseract(np.zeros((8, 8, 3), "uint8"))


def test_apply_tesseract_without_the_binary_says_how_to_install(monkeypatch):
    class TesseractNotFoundError(OSError):
        pass

    def image_to_data(*args, **kwargs):
        raise TesseractNotFoundError("tesseract is not installed or it's not in your PATH.")

    stand_in = types.SimpleNamespace(image_to_data=image_to_data, TesseractNotFoundError=TesseractNotFoundError)
    monkeypatch.setitem(sys.modules, "pytesseract", stand_in)
    with pytest.raises(ImportError, match=r"tesseract binary is not installed.*pip install pytesseract"):
        ocr.apply_tesseract(np.zeros((8, 8, 3), "uint8"))
