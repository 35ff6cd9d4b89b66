"""Ids outside an embedding table are an error on every backend (as HF's PyTorch gather raises),
never a silent clamp, wrap-around or NaN; generate checks its prompt against the vocabulary."""

import numpy as np
import pytest
import torch
import transformers

import keras_tfm


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
