"""A static-shape key/value cache and the causal attention that reads it.

The cache of one layer is a pair ``(keys, values)`` of shape ``(B, N_kv, S, H)``: ``S``
slots allocated once (prompt + new tokens), written at ``cache_index`` on every call,
so that compiled decode steps (jax.jit, XLA) see the same shapes at every step. Heads
before slots is the layout the attention matmuls read (a batch of (S, H) matrices per
head): stored (B, S, N_kv, H), torch's SDPA copied every layer's cache at every step,
and XLA's transposes of it took 4.4 ms of a 28 ms GPT-2 step (JAX, batch 1; now 2.8 ms).

A query at slot ``q`` may attend the key at slot ``k`` when ``k <= q`` (causal), the key
is a real token (``key_valid``, from the attention mask), and, with a sliding window
``W``, ``k > q - W``. A query with no key left (a left-padding token) attends itself
in the softmax, so that no row is fully masked (no NaN), and its output is then set to
zero, as torch's SDPA (and so Hugging Face) returns for a fully masked row.
"""

from keras import ops

from keras_tfm import backend


def init_cache(num_layers, batch, slots, num_kv_heads, head_dim, dtype="float32"):
    """Zeros for every layer: ``[(keys, values)] * num_layers``, each ``(B, N_kv, S, H)``."""
    shape = (batch, num_kv_heads, slots, head_dim)
    return [(backend.cache_zeros(shape, dtype), backend.cache_zeros(shape, dtype)) for _ in range(num_layers)]


def reorder_cache(cache, index):
    """Gathers the batch rows ``index`` of every layer (beam search)."""
    index = ops.convert_to_tensor(index, "int32")
    return [(backend.cache_reorder(k, index), backend.cache_reorder(v, index)) for k, v in cache]


def attention_mask(query_slots, key_valid, num_slots, sliding_window=None):
    """``(allowed, has_key)``: may query ``t`` (at slot ``query_slots[t]``) attend slot ``s``,
    boolean ``(B, 1, T, S)``; and ``(B, T, 1, 1)`` 1.0 where the query has a real key at all
    (None when ``key_valid`` is None).

    ``key_valid``: ``(B, S)`` 1/0 (the attention mask over the slots); None for all valid.
    """
    q = ops.expand_dims(ops.cast(query_slots, "int32"), 1)  # (T, 1)
    k = ops.expand_dims(ops.arange(num_slots, dtype="int32"), 0)  # (1, S)
    causal = ops.less_equal(k, q)  # (T, S)
    if sliding_window:
        causal = ops.logical_and(causal, ops.greater(k, q - int(sliding_window)))
    causal = ops.expand_dims(causal, 0)  # (1, T, S)
    if key_valid is None:
        return ops.expand_dims(causal, 1), None
    valid = ops.expand_dims(ops.cast(key_valid, "bool"), 1)  # (B, 1, S)
    allowed = ops.logical_and(causal, valid)  # (B, T, S)
    empty = ops.logical_not(ops.any(allowed, axis=-1, keepdims=True))  # rows with no key at all
    allowed = ops.logical_or(allowed, ops.logical_and(empty, ops.expand_dims(ops.equal(k, q), 0)))
    has_key = ops.expand_dims(ops.cast(ops.logical_not(empty), "float32"), -1)  # (B, T, 1, 1)
    return ops.expand_dims(allowed, 1), has_key


def write(cache_tensor, update, index):
    """``cache_tensor`` (B, N_kv, S, H) with ``update`` (B, T, N_kv, H) written at slots ``index`` on."""
    return backend.cache_update(cache_tensor, ops.transpose(update, (0, 2, 1, 3)), index)


def build_mask(length, key_valid=None, cache=None, cache_index=None, sliding_window=None):
    """The attention mask of ``length`` queries, once per forward pass (shared by the layers).

    ``cache``: any layer's ``(keys, values)`` (for the number of slots), or None without a cache.
    Returns ``(mask (B|1, 1, T, S) bool, has_key (B, T, 1, 1) or None)``.
    """
    if cache is not None:
        index = ops.convert_to_tensor(cache_index if cache_index is not None else 0, "int32")
        query_slots = index + ops.arange(length, dtype="int32")
        num_slots = ops.shape(cache[0])[2]
    else:
        query_slots = ops.arange(length, dtype="int32")
        num_slots = length
    return attention_mask(query_slots, key_valid, num_slots, sliding_window)


def causal_attention(q, k, v, mask, *, cache=None, cache_index=None, scale=None, output_attentions=False):
    """Causal attention of ``q`` (B, T, N, H) over ``k, v`` (B, T, N_kv, H), through the cache if given.

    ``mask``: ``build_mask(...)``'s result. Returns ``(y (B, T, N, H), new (keys, values) or
    None, probabilities (B, N, T, S) or None)``.
    """
    mask, has_key = mask
    if cache is not None:
        index = ops.convert_to_tensor(cache_index if cache_index is not None else 0, "int32")
        new_cache = (write(cache[0], k, index), write(cache[1], v, index))
        # (B, S, N_kv, H) for the attention below: these transposes cancel the attention's
        # own (a view on torch, folded by XLA), so the cache is read where it lies.
        k, v = (ops.transpose(t, (0, 2, 1, 3)) for t in new_cache)
    else:
        new_cache = None
    groups = q.shape[2] // k.shape[2]
    head_dim = q.shape[-1]
    scale = (1.0 / head_dim ** 0.5) if scale is None else scale
    if groups > 1 and not output_attentions:
        return _grouped_attention(q, k, v, mask, has_key, groups, scale), new_cache, None
    if groups > 1:  # grouped-query attention: each key/value head serves `groups` query heads
        k = ops.repeat(k, groups, axis=2)
        v = ops.repeat(v, groups, axis=2)
    if output_attentions:
        y, probs = _written_out_attention(q, k, v, mask, scale)
        return y, new_cache, probs
    y = _attend(q, k, v, mask, scale)
    if has_key is not None:
        y = y * ops.cast(has_key, y.dtype)
    return y, new_cache, None


def _attend(q, k, v, mask, scale):
    """softmax(q k^T * scale, masked) v: the backend's fused kernel where it has one (torch's
    SDPA), else the written-out form, which XLA fuses."""
    if backend.FUSED_ATTENTION:
        return ops.dot_product_attention(q, k, v, mask=mask, scale=scale)
    return _written_out_attention(q, k, v, mask, scale)[0]


def _written_out_attention(q, k, v, mask, scale):
    """``(y (B, T, N, H), probabilities (B, N, T, S))`` of q (B, T, N, H) over k, v (B, S, N, H).

    The value product is computed as v^T p^T: in the form p v, TF's XLA fused the read of the
    value cache with the cache's update into a second copy of that update, and then copied
    each layer's values twice per decode step.
    """
    scores = ops.einsum("btnh,bsnh->bnts", q, k) * ops.cast(scale, q.dtype)
    scores = ops.where(mask, scores, ops.cast(-1e9 if scores.dtype == "float32" else -3e4, scores.dtype))
    probs = ops.softmax(ops.cast(scores, "float32"), axis=-1)
    y = ops.einsum("bsnh,bnts->bnht", v, ops.cast(probs, v.dtype))
    return ops.transpose(y, (0, 3, 1, 2)), probs


def _grouped_attention(q, k, v, mask, has_key, groups, scale):
    """Grouped-query attention without repeating keys/values: the ``groups`` query heads that
    share a key/value head become extra query rows of that head, (B, T, Nkv*G, H) ->
    (B, T*G, Nkv, H), so the attention reads each key/value head once."""
    b, t, n, h = ops.shape(q)[0], ops.shape(q)[1], q.shape[2], q.shape[3]
    kv_heads = n // groups
    q = ops.reshape(ops.transpose(ops.reshape(q, (b, t, kv_heads, groups, h)), (0, 1, 3, 2, 4)),
                    (b, t * groups, kv_heads, h))  # row t*G + g
    mask = ops.repeat(mask, groups, axis=2)  # (B|1, 1, T*G, S)
    y = _attend(q, k, v, mask, scale)  # (B, T*G, Nkv, H)
    y = ops.reshape(ops.transpose(ops.reshape(y, (b, t, groups, kv_heads, h)), (0, 1, 3, 2, 4)), (b, t, n, h))
    if has_key is not None:
        y = y * ops.cast(has_key, y.dtype)
    return y


def last_token_logits(hidden, logits_to_keep):
    """HF's ``logits_to_keep``: 0 keeps every position, n the last n."""
    if not logits_to_keep:
        return hidden
    return hidden[:, -int(logits_to_keep):, :]
