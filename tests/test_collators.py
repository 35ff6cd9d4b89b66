"""Collators against transformers' own (same tokenizer, same features), per return_tensors."""

import numpy as np
import pytest

from keras_tfm import AutoTokenizer, backend
from keras_tfm.training import (
    DataCollatorForLanguageModeling,
    DataCollatorForSeq2Seq,
    DataCollatorForTokenClassification,
    DataCollatorWithPadding,
    default_data_collator,
)
from keras_tfm.training.collators import native_framework
from tests.conftest import minilm_dir


@pytest.fixture(scope="module")
def tok():
    return AutoTokenizer.from_pretrained(minilm_dir())


@pytest.fixture(scope="module")
def hf_tok():
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(minilm_dir())


TEXTS = ["A short one.", "A somewhat longer sentence than the first one.", "Mid length text here."]


def _np(x):
    return np.asarray(backend.to_numpy(x)) if backend.is_tensor(x) else np.asarray(x)


def test_padding_collator_matches_transformers(tok, hf_tok):
    import transformers

    features = [dict(tok(t), label=i % 2) for i, t in enumerate(TEXTS)]
    ours = DataCollatorWithPadding(tok, return_tensors="np")(features)
    theirs = transformers.DataCollatorWithPadding(hf_tok, return_tensors="np")(
        [dict(hf_tok(t), label=i % 2) for i, t in enumerate(TEXTS)])
    assert sorted(ours) == sorted(theirs) == ["attention_mask", "input_ids", "labels", "token_type_ids"]
    for key in ours:
        np.testing.assert_array_equal(ours[key], theirs[key])
    assert ours["input_ids"].dtype == np.int64


def test_padding_collator_options_and_native_tensors(tok):
    features = [tok(t) for t in TEXTS]
    batch = DataCollatorWithPadding(tok, pad_to_multiple_of=8)(features)
    assert backend.is_tensor(batch["input_ids"])  # default: the backend's own tensors
    assert _np(batch["input_ids"]).shape[1] % 8 == 0
    assert native_framework() in ("pt", "tf", "jax")
    fixed = DataCollatorWithPadding(tok, padding="max_length", max_length=20, return_tensors="np")(features)
    assert fixed["input_ids"].shape == (3, 20)
    with pytest.raises(ValueError, match="input_ids"):
        DataCollatorWithPadding(tok)([{"text": "not tokenized"}])
    with pytest.raises(ValueError, match="return_tensors"):
        DataCollatorWithPadding(tok, return_tensors="mx")(features)


@pytest.mark.parametrize("return_tensors", ["pt", "tf", "jax", "np"])
def test_default_data_collator_frameworks(return_tensors):
    features = [{"input_ids": [1, 2, 3], "label": 1, "score": 0.5}, {"input_ids": [4, 5, 6], "label": 0, "score": 1.5}]
    batch = default_data_collator(features, return_tensors=return_tensors)
    assert sorted(batch) == ["input_ids", "labels", "score"]
    arrays = {k: np.asarray(v.numpy() if hasattr(v, "numpy") else v) for k, v in batch.items()}
    np.testing.assert_array_equal(arrays["labels"], [1, 0])
    int_type = np.int32 if return_tensors == "jax" else np.int64  # JAX: 32-bit unless x64 is enabled
    assert arrays["labels"].dtype == int_type and arrays["score"].dtype == np.float32
    with pytest.raises(ValueError, match="different lengths"):
        default_data_collator([{"input_ids": [1, 2]}, {"input_ids": [1]}], return_tensors="np")


def test_token_classification_collator_matches_transformers(tok, hf_tok):
    import transformers

    def feats(t):
        return [{**t(x), "labels": list(range(len(t(x)["input_ids"])))} for x in TEXTS]

    ours = DataCollatorForTokenClassification(tok, return_tensors="np")(feats(tok))
    theirs = transformers.DataCollatorForTokenClassification(hf_tok, return_tensors="np")(feats(hf_tok))
    for key in ("input_ids", "attention_mask", "labels"):
        np.testing.assert_array_equal(ours[key], theirs[key])
    assert (ours["labels"] == -100).sum() > 0


def test_language_modeling_collators(tok):
    features = [tok(t) for t in TEXTS * 20]
    mlm = DataCollatorForLanguageModeling(tok, mlm_probability=0.3, seed=0, return_tensors="np")(features)
    ids, labels = mlm["input_ids"], mlm["labels"]
    original = DataCollatorWithPadding(tok, return_tensors="np")(features)["input_ids"]
    chosen = labels != -100
    assert 0.2 < chosen[original != tok.pad_token_id].mean() < 0.4
    np.testing.assert_array_equal(labels[chosen], original[chosen])  # labels: the original tokens
    special = np.isin(original, tok.all_special_ids)
    assert not chosen[special].any()  # [CLS], [SEP], [PAD] never masked
    masked_share = (ids[chosen] == tok.mask_token_id).mean()
    assert 0.65 < masked_share < 0.95
    np.testing.assert_array_equal(ids[~chosen], original[~chosen])

    causal = DataCollatorForLanguageModeling(tok, mlm=False, return_tensors="np")(features[:3])
    expected = causal["input_ids"].copy()
    expected[causal["attention_mask"] == 0] = -100
    np.testing.assert_array_equal(causal["labels"], expected)


TARGETS = ["Short.", "A much longer target sentence than the others.", "Middle one here."]


def _seq2seq_features(t):
    return [{**t(x), "labels": t(y)["input_ids"]} for x, y in zip(TEXTS, TARGETS)]


@pytest.mark.parametrize("options", [
    {}, {"pad_to_multiple_of": 8}, {"padding": "max_length", "max_length": 16}, {"label_pad_token_id": 0},
    {"padding_side": "left"},
], ids=["longest", "multiple-of-8", "max-length", "label-pad-0", "left"])
def test_seq2seq_collator_matches_transformers(tok, hf_tok, options):
    import copy

    import transformers

    options = dict(options)
    side = options.pop("padding_side", "right")
    tok, hf_tok = copy.copy(tok), copy.copy(hf_tok)
    tok.padding_side = hf_tok.padding_side = side
    ours = DataCollatorForSeq2Seq(tok, return_tensors="np", **options)(_seq2seq_features(tok))
    theirs = transformers.DataCollatorForSeq2Seq(hf_tok, return_tensors="np", **options)(_seq2seq_features(hf_tok))
    assert sorted(ours) == sorted(theirs) == ["attention_mask", "input_ids", "labels", "token_type_ids"]
    for key in ours:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
        assert ours[key].dtype == np.int64, key
    pad = options.get("label_pad_token_id", -100)
    assert (ours["labels"] == pad).sum() > 0
    assert (ours["labels"][:, 0 if side == "left" else -1] == pad).any()


def test_seq2seq_collator_without_labels_native_tensors_and_errors(tok):
    batch = DataCollatorForSeq2Seq(tok)([tok(t) for t in TEXTS])
    assert "labels" not in batch and backend.is_tensor(batch["input_ids"])
    unpadded = [{"input_ids": [5, 6, 7], "labels": [1, 2]}, {"input_ids": [5, 6, 8], "labels": [3, 4]}]
    same = DataCollatorForSeq2Seq(tok, padding=False, return_tensors="np")(unpadded)
    np.testing.assert_array_equal(same["labels"], [[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="different lengths"):
        DataCollatorForSeq2Seq(tok, padding=False, return_tensors="np")(
            [{"input_ids": [5, 6], "labels": [1, 2, 3]}, {"input_ids": [5, 6], "labels": [1]}])
    with pytest.raises(ValueError, match="input_ids"):
        DataCollatorForSeq2Seq(tok)([{"text": "raw", "labels": [1]}])
    with pytest.raises(ValueError, match="max_length=2"):
        DataCollatorForSeq2Seq(tok, padding="max_length", max_length=2)(
            [{"input_ids": [5, 6], "labels": [1, 2, 3]}])
    with pytest.raises(ValueError, match="empty"):
        DataCollatorForSeq2Seq(tok)([])
