import numpy as np
import pytest
import transformers

import keras_tfm
from tests.generation_tester import (
    DecoderTesterMixin,
    assert_cached_logits_match,
    assert_generate_matches,
    assert_logits_match,
    left_padded,
    save_hf,
)

COMMON = dict(vocab_size=99, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=64, initializer_range=0.3, pad_token_id=1,
              bos_token_id=0, eos_token_id=2)


def tiny_llama_config(**kwargs):
    return transformers.LlamaConfig(**{**COMMON, **kwargs})


class TestLlama(DecoderTesterMixin):
    hf_config = staticmethod(tiny_llama_config)
    causal_lm = "LlamaForCausalLM"
    heads = {
        "causal_lm": ("LlamaForCausalLM", "LlamaForCausalLM", "AutoModelForCausalLM"),
        "sequence": ("LlamaForSequenceClassification", "LlamaForSequenceClassification",
                     "AutoModelForSequenceClassification"),
        "base": ("LlamaModel", "LlamaModel", "AutoModel"),
    }


class TestMistral(DecoderTesterMixin):
    # A window shorter than the prompt, so that the sliding window changes the result.
    hf_config = staticmethod(lambda **kw: transformers.MistralConfig(**{**COMMON, "sliding_window": 3, **kw}))
    causal_lm = "MistralForCausalLM"
    heads = {
        "causal_lm": ("MistralForCausalLM", "MistralForCausalLM", "AutoModelForCausalLM"),
        "sequence": ("MistralForSequenceClassification", "MistralForSequenceClassification",
                     "AutoModelForSequenceClassification"),
    }


class TestQwen2(DecoderTesterMixin):
    hf_config = staticmethod(lambda **kw: transformers.Qwen2Config(
        **{**COMMON, "use_sliding_window": True, "sliding_window": 4, "max_window_layers": 1, **kw}))
    causal_lm = "Qwen2ForCausalLM"
    heads = {
        "causal_lm": ("Qwen2ForCausalLM", "Qwen2ForCausalLM", "AutoModelForCausalLM"),
        "sequence": ("Qwen2ForSequenceClassification", "Qwen2ForSequenceClassification",
                     "AutoModelForSequenceClassification"),
    }


ROPE_VARIANTS = {
    "linear": {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0},
    # max_position_embeddings=8 < prompt + new tokens: HF's dynamic NTK frequencies grow during generation.
    "dynamic": {"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0},
    "llama3": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 16, "rope_theta": 500000.0},
}


@pytest.mark.parametrize("variant", sorted(ROPE_VARIANTS))
def test_rope_scaling_variants(tmp_path, variant):
    extra = {"max_position_embeddings": 8} if variant == "dynamic" else {}
    config = tiny_llama_config(rope_parameters=ROPE_VARIANTS[variant], **extra)
    hf = save_hf("LlamaForCausalLM", config, tmp_path)
    ours = keras_tfm.AutoModelForCausalLM.from_pretrained(tmp_path)
    ids, mask = left_padded(99)
    assert_logits_match(ours, hf, ids[:1], mask[:1])
    assert_generate_matches(ours, hf, ids[:1], mask[:1], max_new_tokens=12, do_sample=False)


def test_legacy_rope_scaling_keys():
    config = keras_tfm.LlamaConfig(rope_theta=5e5, rope_scaling={"type": "linear", "factor": 4.0})
    assert config.rope_parameters == {"rope_type": "linear", "factor": 4.0, "rope_theta": 5e5}


def test_unsupported_rope_type_is_clear():
    config = keras_tfm.LlamaConfig(**{**COMMON, "rope_parameters": {"rope_type": "yarn", "factor": 2.0,
                                                                   "rope_theta": 1e4}})
    with pytest.raises(NotImplementedError, match="yarn"):
        keras_tfm.LlamaForCausalLM(config)


def test_untied_and_tied_heads_round_trip(tmp_path):
    for tied in (False, True):
        config = keras_tfm.LlamaConfig(**{**COMMON, "tie_word_embeddings": tied})
        model = keras_tfm.LlamaForCausalLM.from_config(config)
        assert ("lm_head.weight" in model.state_dict_hf()) == (not tied)
        model.save_pretrained(tmp_path / str(tied))
        hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / str(tied)).eval()
        ids, mask = left_padded(99)
        assert_logits_match(model, hf, ids, mask)
        assert_cached_logits_match(model, hf, ids[:, :6])


def test_generation_config_round_trip(tmp_path):
    hf = save_hf("LlamaForCausalLM", tiny_llama_config(), tmp_path)
    hf.generation_config.max_new_tokens = 5
    hf.generation_config.save_pretrained(tmp_path)
    model = keras_tfm.AutoModelForCausalLM.from_pretrained(tmp_path)
    assert model.generation_config.max_new_tokens == 5
    out = model.generate(np.array([[5, 6, 7]]))
    assert np.asarray(out).shape == (1, 8) or tuple(out.shape) == (1, 8)
    model.save_pretrained(tmp_path / "again")
    again = transformers.GenerationConfig.from_pretrained(tmp_path / "again")
    assert again.max_new_tokens == 5
