"""Generation in bfloat16 (against HF transformers in bfloat16) and int8 through Keras' own quantization."""

import json

import keras
import numpy as np
import pytest
import torch
import transformers

import keras_tfm
from keras_tfm.checkpoints.errors import CheckpointError
from tests.model_tester import to_np

PROMPT = np.random.RandomState(0).randint(5, 500, (2, 8))


def _configs():
    return {
        "llama": transformers.LlamaConfig(vocab_size=500, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                                          tie_word_embeddings=False),
        "gpt2": transformers.GPT2Config(vocab_size=500, n_embd=64, n_layer=2, n_head=4, n_positions=128,
                                        bos_token_id=0, eos_token_id=0),
    }


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def checkpoint(request, tmp_path_factory):
    """An HF model (fp32) saved to a folder; one with its own head (Llama), one tied (GPT-2)."""
    path = tmp_path_factory.mktemp(request.param)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(_configs()[request.param]).eval()
    model.save_pretrained(path)
    return path


def _greedy(model, new=16):
    return to_np(model.generate(PROMPT, max_new_tokens=new, do_sample=False, pad_token_id=0,
                                eos_token_id=None))[:, PROMPT.shape[1]:]


def _hf_greedy(hf, new=16):
    ids = torch.tensor(PROMPT)
    return hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new, min_new_tokens=new,
                       do_sample=False, pad_token_id=0, eos_token_id=None)[:, PROMPT.shape[1]:].numpy()


# ---- bfloat16 ------------------------------------------------------------------------------------
def test_bfloat16_logits_and_greedy_tokens_follow_hf_in_bfloat16(checkpoint):
    hf = transformers.AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.bfloat16).eval()
    ours = keras_tfm.AutoModelForCausalLM.from_pretrained(checkpoint, dtype="bfloat16")
    assert {keras.backend.standardize_dtype(v.dtype) for v in ours.weights} == {"bfloat16"}
    with torch.no_grad():
        expected = hf(torch.tensor(PROMPT)).logits.float().numpy()
    got = to_np(ours(input_ids=PROMPT).logits).astype("float32")
    # bf16 keeps 8 bits of mantissa: both libraries round differently along the way
    assert np.abs(got - expected).max() <= 0.05 * np.abs(expected).max()
    agreement = (_greedy(ours) == _hf_greedy(hf)).mean()
    assert agreement >= 0.9, agreement


# ---- int8 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("weight_only", [False, True])
def test_int8_quantizes_every_dense_and_embedding_and_keeps_greedy_tokens(checkpoint, weight_only):
    fp32 = keras_tfm.AutoModelForCausalLM.from_pretrained(checkpoint)
    reference_logits, reference_tokens = to_np(fp32(input_ids=PROMPT).logits), _greedy(fp32)
    model = keras_tfm.AutoModelForCausalLM.from_pretrained(
        checkpoint, quantization_config={"mode": "int8", "weight_only": weight_only})
    quantizable = [layer for layer in model._flatten_layers(include_self=False)
                   if isinstance(layer, (keras.layers.Dense, keras.layers.Embedding))]
    assert quantizable and all(layer.quantization_mode == "int8" for layer in quantizable)
    int8_bytes = sum(np.prod(v.shape) for v in model.weights if keras.backend.standardize_dtype(v.dtype) == "int8")
    assert int8_bytes > 0.9 * fp32.num_parameters()  # all but norms and biases
    logits = to_np(model(input_ids=PROMPT).logits)
    assert not np.array_equal(logits, reference_logits)  # it did change the arithmetic
    assert np.abs(logits - reference_logits).max() <= 0.05 * np.abs(reference_logits).max()
    assert (_greedy(model) == reference_tokens).mean() >= 0.9


def test_a_quantized_dense_computes_what_keras_own_quantized_dense_computes():
    from keras_tfm.layers import Dense

    x = np.random.RandomState(1).randn(3, 16).astype("float32")
    ours, theirs = Dense(8), keras.layers.Dense(8)
    ours.build((None, 16))
    theirs.build((None, 16))
    theirs.set_weights(ours.get_weights())
    ours.quantize("int8")
    theirs.quantize("int8")
    np.testing.assert_array_equal(to_np(ours(x)), to_np(theirs(x)))


def test_int8_saves_in_keras_format_and_loads_back_without_the_float_weights(checkpoint, tmp_path):
    model = keras_tfm.AutoModelForCausalLM.from_pretrained(checkpoint)
    model.quantize("int8", weight_only=True)
    model.save_pretrained(tmp_path, format="keras")
    with open(tmp_path / "config.json") as f:
        assert json.load(f)["quantization_config"] == {"quant_method": "keras", "mode": "int8", "weight_only": True}
    again = keras_tfm.AutoModelForCausalLM.from_pretrained(tmp_path)
    np.testing.assert_array_equal(to_np(again(input_ids=PROMPT).logits), to_np(model(input_ids=PROMPT).logits))
    np.testing.assert_array_equal(_greedy(again), _greedy(model))


def test_int8_refusals_name_the_problem(checkpoint, tmp_path):
    model = keras_tfm.AutoModelForCausalLM.from_pretrained(checkpoint)
    model.quantize("int8")
    with pytest.raises(ValueError, match="only the Keras formats"):
        model.save_pretrained(tmp_path / "st")
    assert not (tmp_path / "st").exists()
    with pytest.raises(ValueError, match="already quantized"):
        model.quantize("int8")
    with pytest.raises(ValueError, match="supports mode='int8'"):
        keras_tfm.AutoModelForCausalLM.from_pretrained(checkpoint, quantization_config="int4")
    with pytest.raises(ValueError, match="not bitsandbytes"):
        keras_tfm.AutoModelForCausalLM.from_pretrained(checkpoint, quantization_config={"quant_method": "bitsandbytes"})
    with pytest.raises(ValueError, match="unknown keys"):
        keras_tfm.AutoModelForCausalLM.from_pretrained(checkpoint, quantization_config={"load_in_8bit": True})
    # a config that says int8 beside float weights in HF format: refused, not loaded as float
    config = json.loads((checkpoint / "config.json").read_text())
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "config.json").write_text(json.dumps({**config, "quantization_config": {"quant_method": "keras",
                                                                                      "mode": "int8"}}))
    (mixed / "model.safetensors").symlink_to(checkpoint / "model.safetensors")
    with pytest.raises(CheckpointError, match="quantized"):
        keras_tfm.AutoModelForCausalLM.from_pretrained(mixed)
    # a hub checkpoint quantized by another library (GPTQ): refused by name, not loaded half-way
    (mixed / "config.json").write_text(json.dumps({**config, "quantization_config": {"quant_method": "gptq",
                                                                                      "bits": 4}}))
    with pytest.raises(ValueError, match="quant_method='gptq' is not supported"):
        keras_tfm.AutoModelForCausalLM.from_pretrained(mixed)
