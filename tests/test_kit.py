"""The layer kit's parts on the active backend: the attention function against a numpy
reference (mask, additive bias, scale, grouped-query, fully masked rows), the typed cache
through every framework's tree utilities, T5's relative-position buckets against HF."""

import keras
import numpy as np
import pytest
import torch
from keras import ops

from keras_tfm import backend
from keras_tfm.layers import KVCache, attention, causal_mask, padding_mask, relative_position_buckets
from tests.model_tester import to_np


def reference_attention(q, k, v, allowed, bias, scale):
    """numpy: softmax(q k^T * scale + bias, masked) v, keys/values repeated over groups."""
    groups = q.shape[2] // k.shape[2]
    k, v = np.repeat(k, groups, axis=2), np.repeat(v, groups, axis=2)
    scores = np.einsum("btnh,bsnh->bnts", q, k) * scale
    if bias is not None:
        scores = scores + bias
    scores = np.where(allowed, scores, -1e9)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    return np.einsum("bnts,bsnh->btnh", probs, v), probs


def qkv(kv_heads, heads=4, b=2, t=5, h=8, seed=0):
    rng = np.random.RandomState(seed)
    return (rng.randn(b, t, heads, h).astype("float32"), rng.randn(b, t, kv_heads, h).astype("float32"),
            rng.randn(b, t, kv_heads, h).astype("float32"))


@pytest.mark.parametrize("kv_heads", [4, 2])
@pytest.mark.parametrize("fused", [True, False])
def test_causal_attention_matches_reference(kv_heads, fused):
    q, k, v = qkv(kv_heads)
    key_valid = np.ones((2, 5), "int32")
    key_valid[1, :2] = 0  # left padding: row 1's first two queries have no key
    mask = causal_mask(5, key_valid)
    y, _ = attention(*(ops.convert_to_tensor(x) for x in (q, k, v)), mask, fused=fused)
    allowed = to_np(mask.allowed)
    expected, _ = reference_attention(q, k, v, allowed, None, 1 / np.sqrt(8))
    expected[1, :2] = 0.0  # a query without keys gives zeros, as SDPA (and so HF)
    np.testing.assert_allclose(to_np(y), expected, atol=1e-5)


@pytest.mark.parametrize("masked", [False, True])
def test_long_bidirectional_attention_matches_reference(masked):
    """256 x 256 scores and more: JAX runs them head by head (backend.head_by_head_attention)."""
    from keras_tfm.layers.attention import HEAD_BY_HEAD_MIN_SCORES

    length = int(HEAD_BY_HEAD_MIN_SCORES ** 0.5) + 4
    q, k, v = qkv(4, b=2, t=length)
    key_valid = np.ones((2, length), "int32")
    if masked:
        key_valid[1, 200:] = 0
    mask = padding_mask(key_valid) if masked else None
    y, _ = attention(*(ops.convert_to_tensor(x) for x in (q, k, v)), mask)
    allowed = to_np(mask.allowed) if masked else np.ones((1, 1, length, length), bool)
    expected, _ = reference_attention(q, k, v, allowed, None, 1 / np.sqrt(8))
    np.testing.assert_allclose(to_np(y), expected, atol=1e-5)


def test_bias_scale_and_probabilities():
    q, k, v = qkv(4)
    bias = np.random.RandomState(1).randn(1, 4, 5, 5).astype("float32")
    key_valid = np.ones((2, 5), "int32")
    key_valid[0, 3:] = 0
    mask = padding_mask(key_valid)
    for fused in (True, False):
        y, probs = attention(*(ops.convert_to_tensor(x) for x in (q, k, v)), mask, bias=ops.convert_to_tensor(bias),
                             scale=1.0, fused=fused, output_attentions=not fused)
        expected, expected_probs = reference_attention(q, k, v, to_np(mask.allowed), bias, 1.0)
        np.testing.assert_allclose(to_np(y), expected, atol=1e-4)
        if not fused:
            np.testing.assert_allclose(to_np(probs), expected_probs, atol=1e-5)


def test_sliding_window_mask():
    allowed = to_np(causal_mask(6, sliding_window=3).allowed)[0, 0]
    q, k = np.arange(6)[:, None], np.arange(6)[None, :]
    np.testing.assert_array_equal(allowed, (k <= q) & (k > q - 3))


def small_cache(cross=True):
    """Two layers; tensor i of ``tensors()`` holds i everywhere."""
    cache = KVCache.zeros(2, 1, 4, 2, 3, cross_slots=5 if cross else None)
    return cache.from_tensors(ops.convert_to_tensor(np.full(t.shape, i, "float32"))
                              for i, t in enumerate(cache.tensors()))


def test_cache_structure_and_reorder():
    cache = KVCache.zeros(3, 2, 8, 2, 4, cross_slots=5)
    assert cache.num_layers == 3 and cache.num_slots == 8 and cache.is_encoder_decoder
    assert tuple(cache.cross_keys[0].shape) == (2, 2, 5, 4)
    assert not KVCache.zeros(3, 2, 8, 2, 4).is_encoder_decoder
    rows = KVCache(*(tuple(ops.convert_to_tensor(np.arange(2, dtype="float32")[:, None, None, None]
                                                 * np.ones((2, 1, 1, 1), "float32")) for _ in part)
                     for part in KVCache.zeros(1, 2, 1, 1, 1, cross_slots=1)))
    swapped = rows.reorder(np.array([1, 1]))
    for t in swapped.tensors():
        np.testing.assert_array_equal(to_np(t)[:, 0, 0, 0], [1, 1])
    assert len(cache.tensors()) == 12 and cache.from_tensors(cache.tensors()).num_layers == 3


def test_cache_is_a_tree_for_keras():
    cache = small_cache()
    doubled = keras.tree.map_structure(lambda t: t * 2, cache)
    assert isinstance(doubled, KVCache) and len(keras.tree.flatten(cache)) == 8
    np.testing.assert_array_equal(to_np(doubled.cross_values[1]), 14.0)


@pytest.mark.skipif(backend.BACKEND != "jax", reason="jax.jit")
def test_cache_through_jax_jit():
    import jax

    out = jax.jit(lambda c: KVCache(*(tuple(t + 1 for t in part) for part in c)))(small_cache())
    assert isinstance(out, KVCache) and float(out.keys[0][0, 0, 0, 0]) == 1.0


@pytest.mark.skipif(backend.BACKEND != "tensorflow", reason="tf.function / tf.nest")
def test_cache_through_tf_function():
    import tensorflow as tf

    cache = small_cache()
    assert len(tf.nest.flatten(cache)) == 8
    out = tf.function(lambda c: tf.nest.map_structure(lambda t: t + 1, c))(cache)
    assert isinstance(out, KVCache) and float(out.cross_keys[0][0, 0, 0, 0]) == 5.0


@pytest.mark.skipif(backend.BACKEND != "torch", reason="torch.jit.trace")
def test_cache_through_torch_trace():
    cache = small_cache()
    traced = torch.jit.trace(lambda *t: tuple(x + 1 for x in t), cache.tensors())
    out = cache.from_tensors(traced(*cache.tensors()))
    assert isinstance(out, KVCache) and float(out.cross_values[1][0, 0, 0, 0]) == 8.0


def test_trace_key_tells_caches_apart():
    a, b = KVCache.zeros(2, 1, 64, 2, 4), KVCache.zeros(2, 1, 128, 2, 4)
    assert a.trace_key() == KVCache.zeros(2, 1, 64, 2, 4).trace_key() != b.trace_key()
    assert a.trace_key() != KVCache.zeros(2, 1, 64, 2, 4, cross_slots=7).trace_key()


@pytest.mark.parametrize("bidirectional", [True, False])
def test_relative_position_buckets_match_t5(bidirectional):
    from transformers.models.t5.modeling_t5 import T5Attention

    context, memory = torch.arange(40)[:, None], torch.arange(300)[None, :]
    expected = T5Attention._relative_position_bucket(memory - context, bidirectional=bidirectional,
                                                     num_buckets=32, max_distance=128).numpy()
    got = to_np(relative_position_buckets(np.arange(40), np.arange(300), bidirectional, 32, 128))
    np.testing.assert_array_equal(got, expected)
