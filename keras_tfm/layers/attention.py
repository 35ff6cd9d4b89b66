"""The one attention function of every model, its masks, and its writes into a KV cache.

Shapes: queries ``(B, T, N, H)``; keys and values ``(B, S, N_kv, H)`` with ``N`` a multiple
of ``N_kv`` (grouped-query attention); a mask ``(B|1, 1, T, S)`` of booleans, True where
the query may attend the key; an additive bias ``(B|1, N, T, S)`` (T5's relative positions,
ALiBi); a KV cache ``(B, N_kv, S, H)`` per layer: ``S`` slots allocated once, written at
``cache_index``, so that compiled steps see the same shapes at every call. Heads before
slots is the layout the attention matmuls read, so the cache is read where it lies.

Masks come as ``AttentionMask(allowed, has_key)``. A causal mask lets the query at slot
``q`` attend the key at slot ``k`` when ``k <= q``, the key is a real token (``key_valid``)
and, with a sliding window ``W``, ``k > q - W``. A query with no key left (a left-padding
token) attends itself in the softmax, so that no row is fully masked (no NaN), and its
output is then set to zero (``has_key``), as torch's SDPA (and so Hugging Face) returns for
a fully masked row. A padding mask (encoders, cross-attention) has no ``has_key``.
"""

from typing import NamedTuple, Optional

import keras
from keras import ops

from keras_tfm import backend


class AttentionMask(NamedTuple):
    allowed: object  # (B|1, 1, T, S) bool
    has_key: Optional[object] = None  # (B, T, 1, 1) float32, 0.0 for a query with no key; None: all have one


def padding_mask(key_valid):
    """Bidirectional attention over the real keys: ``key_valid`` (B, S) 1/0 -> (B, 1, 1, S); None -> None."""
    if key_valid is None:
        return None
    return AttentionMask(ops.cast(key_valid, "bool")[:, None, None, :])


def causal_mask(length, key_valid=None, num_slots=None, cache_index=None, sliding_window=None):
    """The causal mask of ``length`` queries, built once per forward pass and shared by the layers.

    Args:
        length: number of queries ``T``.
        key_valid: ``(B, S)`` 1/0 over the key slots (the attention mask); None for all valid.
        num_slots: ``S``, the cache's number of slots; None without a cache (``S = T``).
        cache_index: slot of the first query (a scalar tensor in a decode step); None for 0.
        sliding_window: ``W`` (Mistral), or None.
    """
    if num_slots is not None:
        index = ops.convert_to_tensor(cache_index if cache_index is not None else 0, "int32")
        query_slots = index + ops.arange(length, dtype="int32")
    else:
        query_slots = ops.arange(length, dtype="int32")
        num_slots = length
    q = ops.expand_dims(query_slots, 1)  # (T, 1)
    k = ops.expand_dims(ops.arange(num_slots, dtype="int32"), 0)  # (1, S)
    causal = ops.less_equal(k, q)  # (T, S)
    if sliding_window:
        causal = ops.logical_and(causal, ops.greater(k, q - int(sliding_window)))
    causal = ops.expand_dims(causal, 0)  # (1, T, S)
    if key_valid is None:
        return AttentionMask(ops.expand_dims(causal, 1))
    valid = ops.expand_dims(ops.cast(key_valid, "bool"), 1)  # (B, 1, S)
    allowed = ops.logical_and(causal, valid)  # (B, T, S)
    empty = ops.logical_not(ops.any(allowed, axis=-1, keepdims=True))  # rows with no key at all
    allowed = ops.logical_or(allowed, ops.logical_and(empty, ops.expand_dims(ops.equal(k, q), 0)))
    has_key = ops.expand_dims(ops.cast(ops.logical_not(empty), "float32"), -1)  # (B, T, 1, 1)
    return AttentionMask(ops.expand_dims(allowed, 1), has_key)


def write_cache(layer_cache, k, v, cache_index):
    """Writes ``k, v`` (B, T, N_kv, H) into one layer's ``(keys, values)`` (B, N_kv, S, H) at
    slot ``cache_index`` on.

    Returns ``(keys, values)`` to attend, as (B, S, N_kv, H), and the new ``(keys, values)``.
    The transposes back cancel the attention's own (a view on torch, folded by XLA), so the
    cache is read where it lies.
    """
    index = ops.convert_to_tensor(cache_index if cache_index is not None else 0, "int32")
    new = tuple(backend.cache_update(c, ops.transpose(t, (0, 2, 1, 3)), index) for c, t in zip(layer_cache, (k, v)))
    return ops.transpose(new[0], (0, 2, 1, 3)), ops.transpose(new[1], (0, 2, 1, 3)), new


def read_cache(layer_cache):
    """One layer's ``(keys, values)`` (B, N_kv, S, H) as (B, S, N_kv, H) to attend."""
    return tuple(ops.transpose(t, (0, 2, 1, 3)) for t in layer_cache)


def attention(q, k, v, mask=None, *, bias=None, scale=None, fused=None, output_attentions=False, dropout=None):
    """softmax(q k^T * scale + bias, masked) v over heads, grouped-query aware.

    Args:
        q: queries (B, T, N, H).
        k, v: keys and values (B, S, N_kv, H); ``N_kv`` divides ``N``.
        mask: an ``AttentionMask`` (``causal_mask`` / ``padding_mask``) or None (all keys).
        bias: additive scores (B|1, N, T, S) or None.
        scale: the scores' factor; None for 1/sqrt(H) (T5 uses 1.0).
        fused: use ``keras.ops.dot_product_attention`` (the backend's fused kernel: torch's
            SDPA); None for ``backend.FUSED_ATTENTION``, where the XLA backends write the
            attention out for the compiler to fuse (decoder attention over a cache).
        output_attentions: also return the probabilities (B, N, T, S).
        dropout: a function applied to the probabilities (attention dropout in training).

    Returns:
        ``(y (B, T, N, H), probabilities or None)``.
    """
    groups = q.shape[2] // k.shape[2]
    scale = (1.0 / q.shape[-1] ** 0.5) if scale is None else scale
    fused = backend.FUSED_ATTENTION if fused is None else fused
    written_out = output_attentions or dropout is not None
    allowed, has_key = (None, None) if mask is None else mask
    key_valid = _key_valid(allowed)
    if _head_by_head(q, k, groups, written_out, bias, allowed, key_valid):
        y = backend.head_by_head_attention(q, k, v, key_valid, scale)
    elif groups > 1 and not written_out and bias is None:
        y = _grouped_attention(q, k, v, allowed, groups, scale, fused)
        probs = None
    else:
        if groups > 1:  # each key/value head serves `groups` query heads
            k = ops.repeat(k, groups, axis=2)
            v = ops.repeat(v, groups, axis=2)
        if written_out or not fused:
            y, probs = _written_out_attention(q, k, v, allowed, bias, scale, dropout)
        else:
            if bias is not None and allowed is not None:  # the kernels take one of them: the mask joins the bias
                bias = ops.where(allowed, ops.cast(bias, q.dtype), _masked_score(q.dtype))
                allowed = None
            y, probs = ops.dot_product_attention(q, k, v, bias=bias, mask=allowed, scale=scale), None
        if output_attentions:  # HF's eager attention: a row without keys is not zeroed
            return y, probs
    if has_key is not None:
        y = y * ops.cast(has_key, y.dtype)
    return y, None


# Queries x keys from which attention runs head by head where the backend has that (JAX): below it,
# all heads at once are as fast (measured 0.37-0.46x the time at 200-1500 positions, 1.05x at 64).
HEAD_BY_HEAD_MIN_SCORES = 256 * 256


def _head_by_head(q, k, groups, written_out, bias, allowed, key_valid):
    """Whether ``backend.head_by_head_attention`` serves this call: long, bidirectional, no bias."""
    if backend.head_by_head_attention is None or written_out or bias is not None or groups > 1:
        return False
    if allowed is not None and key_valid is None:  # a causal / 2-D mask: the general path
        return False
    t, s = q.shape[1], k.shape[1]
    return t is not None and s is not None and t * s >= HEAD_BY_HEAD_MIN_SCORES


def _key_valid(allowed):
    """A padding mask (B|1, 1, 1, S) as (B|1, S); None for no mask or a mask over queries too."""
    if allowed is None or allowed.shape[1] != 1 or allowed.shape[2] != 1:
        return None
    return allowed[:, 0, 0, :]


def _masked_score(dtype):
    """The score of a masked key: its probability underflows to 0 in float32 and float16."""
    return ops.cast(-1e9 if keras.backend.standardize_dtype(dtype) == "float32" else -3e4, dtype)


def _written_out_attention(q, k, v, allowed, bias, scale, dropout=None):
    """``(y (B, T, N, H), probabilities (B, N, T, S))`` of q (B, T, N, H) over k, v (B, S, N, H).

    The value product is computed as v^T p^T: in the form p v, TF's XLA fused the read of the
    value cache with the cache's update into a second copy of that update.
    """
    scores = ops.einsum("btnh,bsnh->bnts", q, k) * ops.cast(scale, q.dtype)
    if bias is not None:
        scores = scores + ops.cast(bias, scores.dtype)
    if allowed is not None:
        scores = ops.where(allowed, scores, _masked_score(scores.dtype))
    probs = ops.softmax(ops.cast(scores, "float32"), axis=-1)
    weights = ops.cast(probs if dropout is None else dropout(probs), v.dtype)
    y = ops.einsum("bsnh,bnts->bnht", v, weights)
    return ops.transpose(y, (0, 3, 1, 2)), probs


def _grouped_attention(q, k, v, allowed, groups, scale, fused):
    """Grouped-query attention without repeating keys/values: the ``groups`` query heads that
    share a key/value head become extra query rows of that head, (B, T, Nkv*G, H) ->
    (B, T*G, Nkv, H), so the attention reads each key/value head once."""
    b, t, n, h = ops.shape(q)[0], ops.shape(q)[1], q.shape[2], q.shape[3]
    kv_heads = n // groups
    q = ops.reshape(ops.transpose(ops.reshape(q, (b, t, kv_heads, groups, h)), (0, 1, 3, 2, 4)),
                    (b, t * groups, kv_heads, h))  # row t*G + g
    if allowed is not None:
        allowed = ops.repeat(allowed, groups, axis=2)  # (B|1, 1, T*G, S)
    if fused:
        y = ops.dot_product_attention(q, k, v, mask=allowed, scale=scale)
    else:
        y = _written_out_attention(q, k, v, allowed, None, scale)[0]  # (B, T*G, Nkv, H)
    return ops.reshape(ops.transpose(ops.reshape(y, (b, t, groups, kv_heads, h)), (0, 1, 3, 2, 4)), (b, t, n, h))
