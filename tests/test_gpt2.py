import numpy as np
import pytest
import transformers

import keras_tfm
from tests.generation_tester import DecoderTesterMixin, left_padded, save_hf
from tests.model_tester import to_np


def tiny_gpt2_config(**kwargs):
    # A large initializer_range gives peaked, varied logits: generation parity then means something.
    return transformers.GPT2Config(vocab_size=99, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                                   initializer_range=0.3, pad_token_id=1, bos_token_id=0, eos_token_id=2, **kwargs)


class TestGPT2(DecoderTesterMixin):
    hf_config = staticmethod(tiny_gpt2_config)
    causal_lm = "GPT2LMHeadModel"
    heads = {
        "causal_lm": ("GPT2LMHeadModel", "GPT2LMHeadModel", "AutoModelForCausalLM"),
        "sequence": ("GPT2ForSequenceClassification", "GPT2ForSequenceClassification",
                     "AutoModelForSequenceClassification"),
        "base": ("GPT2Model", "GPT2Model", "AutoModel"),
    }


def test_fused_conv1d_weights_load_unchanged(tmp_path):
    hf = save_hf("GPT2LMHeadModel", tiny_gpt2_config(), tmp_path)
    ours = keras_tfm.GPT2LMHeadModel.from_pretrained(tmp_path)
    np.testing.assert_array_equal(to_np(ours.backbone.decoder.layers[0].self_attention.qkv_proj.kernel),
                                  hf.transformer.h[0].attn.c_attn.weight.detach().numpy())
    assert "lm_head.weight" not in ours.state_dict_hf()  # tied to wte


def test_prompt_longer_than_context(tmp_path):
    save_hf("GPT2LMHeadModel", tiny_gpt2_config(), tmp_path)
    model = keras_tfm.AutoModelForCausalLM.from_pretrained(tmp_path)
    ids = np.full((1, 60), 5)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model.generate(ids, max_new_tokens=10)


def test_sequence_classification_picks_last_real_token(tmp_path):
    save_hf("GPT2ForSequenceClassification", tiny_gpt2_config(num_labels=3), tmp_path)
    model = keras_tfm.AutoModelForSequenceClassification.from_pretrained(tmp_path)
    ids, _ = left_padded(99)
    right = np.concatenate([ids[:1, :4], np.ones((1, 3), "int64")], axis=1)  # right-padded with pad id 1
    a = to_np(model(right).logits)
    b = to_np(model(ids[:1, :4]).logits)
    np.testing.assert_allclose(a, b, atol=1e-5)
