"""Ids outside an embedding table are an error on every backend (as HF's PyTorch gather raises),
never a silent clamp, wrap-around or NaN; generate checks its prompt against the vocabulary."""

import numpy as np
import pytest
import torch
import transformers

import keras_tfm
from tests.conftest import minilm_dir


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bert")
    torch.manual_seed(0)
    transformers.BertModel(transformers.BertConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37,
        max_position_embeddings=16)).save_pretrained(folder)
    return keras_tfm.AutoModel.from_pretrained(folder)


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpt2")
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=99, n_embd=32, n_layer=1, n_head=4, n_positions=32, bos_token_id=1, eos_token_id=2,
    )).save_pretrained(folder)
    return keras_tfm.AutoModelForCausalLM.from_pretrained(folder)


@pytest.mark.parametrize("inputs, message", [
    ({"input_ids": [[1, 99]]}, "table of 99 rows.*id 99"),
    ({"input_ids": [[1, -3]]}, "table of 99 rows.*id -3"),
    ({"input_ids": [[1, 2]], "token_type_ids": [[0, 5]]}, "table of 2 rows.*id 5"),
    ({"input_ids": [[1] * 17]}, "table of 16 rows.*id 16"),
])
def test_ids_outside_a_table_are_refused(bert, inputs, message):
    with pytest.raises(ValueError, match=message):
        bert(**{k: np.array(v, "int32") for k, v in inputs.items()})


def test_ids_inside_the_tables_still_run(bert):
    out = bert(input_ids=np.array([[0, 98] + [1] * 14], "int32"), token_type_ids=np.ones((1, 16), "int32"))
    assert np.isfinite(keras_tfm.backend.to_numpy(out.last_hidden_state)).all()


@pytest.mark.parametrize("prompt, bad", [([[1, 150]], "150"), ([[-1, 4]], "-1")])
def test_generate_refuses_a_prompt_outside_the_vocabulary(gpt2, prompt, bad):
    with pytest.raises(ValueError, match=f"input_ids holds the id {bad}, outside the vocabulary"):
        gpt2.generate(np.array(prompt), max_new_tokens=2)
    assert keras_tfm.backend.to_numpy(gpt2.generate(np.array([[1, 5]]), max_new_tokens=2)).shape == (1, 4)


@pytest.fixture(scope="module")
def bert_classifier(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bert_cls")
    torch.manual_seed(0)
    transformers.BertForSequenceClassification(transformers.BertConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37,
        num_labels=2)).save_pretrained(folder)
    return keras_tfm.AutoModelForSequenceClassification.from_pretrained(folder)


@pytest.mark.parametrize("label", [5, 2, -1])
def test_labels_outside_the_classes_are_refused(bert_classifier, label):
    ids = np.array([[1, 2, 3], [4, 5, 6]], "int32")
    with pytest.raises(ValueError, match=f"labels holds {label}, but the logits have 2 classes"):
        bert_classifier(input_ids=ids, labels=np.array([0, label]))
    loss = keras_tfm.backend.to_numpy(bert_classifier(input_ids=ids, labels=np.array([0, 1])).loss)
    assert np.isfinite(loss)


def test_a_10_mb_text_is_refused_with_the_limit_named_or_cut_with_truncation():
    """A 10 MB text (2.3 million tokens) into a 512-position model: the pipeline refuses it before the
    model runs, naming the limit and truncation=True; with truncation=True it is cut to 512 tokens."""
    text = ("the movie was really good and I liked it a lot " * 220_000)[:10_000_000]
    extractor = keras_tfm.pipeline("feature-extraction", model=minilm_dir())
    with pytest.raises(ValueError, match=r"\d+ tokens long, but the model takes at most 512 positions.*truncation=True"):
        extractor(text)
    features = extractor(text, truncation=True, return_tensors=True)
    assert np.shape(features) == (1, 512, 384)
