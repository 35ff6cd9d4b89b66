"""Shared checks for decoder-only models: HF parity of logits (padding, cache) and of generate()."""

import os

import numpy as np
import torch
import transformers

import keras_tfm
from keras_tfm.layers import KVCache
from tests.model_tester import ATOL, ModelTesterMixin, to_np

# Tiny models on a shared 2-core machine: torch's thread pool spinning against other processes made
# each tiny matmul ~50x slower. One intra-op thread, unless the environment says otherwise.
if "OMP_NUM_THREADS" not in os.environ:
    torch.set_num_threads(1)


def left_padded(vocab_size, batch=2, length=7, pad=1, seed=0):
    rng = np.random.RandomState(seed)
    ids = rng.randint(3, vocab_size, (batch, length)).astype("int64")
    mask = np.ones_like(ids)
    mask[1, :3] = 0
    ids[mask == 0] = pad
    return ids, mask


def save_hf(hf_class_name, config, path, seed=0):
    torch.manual_seed(seed)
    model = getattr(transformers, hf_class_name)(config).eval()
    model.save_pretrained(path)
    return model


def assert_logits_match(ours, hf, ids, mask):
    """Logits at real tokens, left padding included, against HF's forward pass."""
    with torch.no_grad():
        theirs = hf(torch.tensor(ids), attention_mask=torch.tensor(mask), use_cache=False).logits.numpy()
    mine = to_np(ours(ids, attention_mask=mask).logits)
    real = mask.astype(bool)
    worst = float(np.abs(mine[real] - theirs[real]).max())
    assert worst <= ATOL, worst
    return worst


def assert_cached_logits_match(ours, hf, ids, prefill=4):
    """Prefill ``prefill`` tokens into a static cache, then one token per step: same logits as HF in one pass."""
    with torch.no_grad():
        theirs = hf(torch.tensor(ids), use_cache=False).logits.numpy()
    batch, length = ids.shape
    layers, kv_heads, head_dim = ours.cache_spec()
    slots = 16
    cache = KVCache.zeros(layers, batch, slots, kv_heads, head_dim)
    key_valid = np.ones((batch, slots), "int32")
    out = ours(ids[:, :prefill], attention_mask=key_valid, past_key_values=cache, cache_index=np.int32(0))
    got = [to_np(out.logits)]
    cache = out.past_key_values
    for t in range(prefill, length):
        out = ours(ids[:, t:t + 1], attention_mask=key_valid, past_key_values=cache, cache_index=np.int32(t))
        cache = out.past_key_values
        got.append(to_np(out.logits))
    worst = float(np.abs(np.concatenate(got, axis=1) - theirs).max())
    assert worst <= ATOL, worst
    return worst


def hf_generate(hf, ids, mask, **kwargs):
    with torch.no_grad():
        return hf.generate(torch.tensor(ids), attention_mask=torch.tensor(mask), **kwargs).numpy()


def assert_generate_matches(ours, hf, ids, mask, **kwargs):
    theirs = hf_generate(hf, ids, mask, **kwargs)
    mine = to_np(ours.generate(ids, attention_mask=mask, **kwargs))
    assert mine.shape == theirs.shape, (mine.shape, theirs.shape)
    np.testing.assert_array_equal(mine, theirs)
    return mine


class DecoderTesterMixin(ModelTesterMixin):
    """ModelTesterMixin for decoders: HF runs without its cache object in the outputs."""

    uses_token_type_ids = False

    def run_hf(self, model, inputs):
        with torch.no_grad():
            return model(**{k: torch.tensor(v) for k, v in inputs.items()}, output_hidden_states=True,
                         use_cache=False)

    def test_attentions_and_return_dict(self, tmp_path):
        hf_name, ours_name, auto_name = next(iter(self.heads.values()))
        config = self.hf_config()
        config._attn_implementation = "eager"
        hf = save_hf(hf_name, config, tmp_path)
        ids, mask = left_padded(config.vocab_size)
        with torch.no_grad():
            theirs = hf(torch.tensor(ids), attention_mask=torch.tensor(mask), output_attentions=True,
                        use_cache=False)
        model = getattr(keras_tfm, auto_name).from_pretrained(tmp_path)
        ours = model(ids, attention_mask=mask, output_attentions=True)
        real = mask.astype(bool)
        for a, b in zip(ours.attentions, theirs.attentions):
            a, b = to_np(a), b.numpy()
            for i in range(a.shape[0]):
                np.testing.assert_allclose(a[i][:, real[i]][:, :, real[i]], b[i][:, real[i]][:, :, real[i]], atol=ATOL)
        first = model(ids, attention_mask=mask, output_attentions=True, return_dict=False)[0]
        np.testing.assert_array_equal(to_np(first), to_np(ours.logits))

    def test_causal_lm_loss(self, tmp_path):
        config = self.hf_config()
        hf = save_hf(self.causal_lm, config, tmp_path)
        ids, mask = left_padded(config.vocab_size)
        labels = ids.copy()
        labels[mask == 0] = -100
        with torch.no_grad():
            theirs = hf(torch.tensor(ids), attention_mask=torch.tensor(mask), labels=torch.tensor(labels)).loss.item()
        ours = keras_tfm.AutoModelForCausalLM.from_pretrained(tmp_path)
        mine = float(to_np(ours(ids, attention_mask=mask, labels=labels).loss))
        assert abs(mine - theirs) <= 1e-5 * max(1.0, abs(theirs)), (mine, theirs)

    def test_logits_padding_and_cache(self, tmp_path):
        config = self.hf_config()
        hf = save_hf(self.causal_lm, config, tmp_path)
        ours = keras_tfm.AutoModelForCausalLM.from_pretrained(tmp_path)
        ids, mask = left_padded(config.vocab_size)
        assert_logits_match(ours, hf, ids, mask)
        assert_cached_logits_match(ours, hf, ids)

    def test_greedy_matches_hf(self, tmp_path):
        config = self.hf_config()
        hf = save_hf(self.causal_lm, config, tmp_path)
        ours = keras_tfm.AutoModelForCausalLM.from_pretrained(tmp_path)
        ids, mask = left_padded(config.vocab_size)
        assert_generate_matches(ours, hf, ids[:1], mask[:1], max_new_tokens=32, do_sample=False)  # no padding
        assert_generate_matches(ours, hf, ids, mask, max_new_tokens=32, do_sample=False)  # left padding

    def test_beam_search_matches_hf(self, tmp_path):
        config = self.hf_config()
        hf = save_hf(self.causal_lm, config, tmp_path)
        ours = keras_tfm.AutoModelForCausalLM.from_pretrained(tmp_path)
        ids, mask = left_padded(config.vocab_size)
        assert_generate_matches(ours, hf, ids, mask, max_new_tokens=32, num_beams=3, num_return_sequences=2,
                                do_sample=False)
