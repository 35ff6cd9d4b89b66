"""Position information: default position ids, the sinusoidal table, T5's relative-position buckets.

Rotary embeddings (Llama's ``rope_type`` variants) are in ``keras_tfm.layers.rotary``;
learned positions are an ``Embedding`` indexed by ``position_ids``.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_tfm.layers.fast import Embedding, Layer


def default_position_ids(length, cache_index=None):
    """(1, T) positions counted from the first cache slot (HF: padding or not)."""
    start = 0 if cache_index is None else cache_index
    return ops.expand_dims(ops.arange(length, dtype="int32") + start, 0)


class SinusoidalPositions(keras.initializers.Initializer):
    """The fixed sin/cos table (P, C): sin on even channels, cos on odd ones (DistilBERT's
    ``sinusoidal_pos_embds=True``).

    Only the initial value of a position table: a checkpoint's table is loaded over it
    like any weight.
    """

    def __call__(self, shape, dtype=None):
        n_pos, dim = shape
        j = np.arange(dim)[None, :]
        angles = np.arange(n_pos)[:, None] / np.power(10000, 2 * (j // 2) / dim)  # (P, C)
        table = np.where(j % 2 == 0, np.sin(angles), np.cos(angles)).astype("float32")
        return ops.cast(table, dtype or "float32")


class ConcatenatedSinusoids(keras.initializers.Initializer):
    """The fixed table (P, C) of Whisper's encoder: sin of every timescale on the first C / 2
    channels, cos on the rest, timescales from 1 to 1 / ``max_timescale`` in C / 2 geometric steps
    (HF's ``sinusoids``). Only the initial value: a checkpoint's table is loaded over it."""

    def __init__(self, max_timescale=10000):
        self.max_timescale = max_timescale

    def __call__(self, shape, dtype=None):
        length, channels = shape
        if channels % 2:
            raise ValueError(f"Sinusoidal positions need an even number of channels, got {channels}.")
        increment = math.log(self.max_timescale) / (channels // 2 - 1)
        inv_timescales = np.exp(-increment * np.arange(channels // 2, dtype="float32"))
        scaled = np.arange(length, dtype="float32")[:, None] * inv_timescales[None, :]
        table = np.concatenate([np.sin(scaled), np.cos(scaled)], axis=1).astype("float32")
        return ops.cast(table, dtype or "float32")

    def get_config(self):
        return {"max_timescale": self.max_timescale}


def relative_position_buckets(query_positions, key_positions, bidirectional=True, num_buckets=32, max_distance=128):
    """T5's bucket of each (query, key) distance: (T,) and (S,) positions -> (T, S) int32.

    Half the buckets (per direction, when bidirectional) hold exact small distances; the rest
    grow logarithmically up to ``max_distance``, beyond which distances share the last bucket.
    """
    relative = ops.expand_dims(ops.cast(key_positions, "int32"), 0) - ops.expand_dims(
        ops.cast(query_positions, "int32"), 1)  # (T, S): key - query
    buckets = ops.zeros_like(relative)
    if bidirectional:
        num_buckets //= 2
        buckets = buckets + ops.cast(relative > 0, "int32") * num_buckets
        distance = ops.abs(relative)
    else:
        distance = -ops.minimum(relative, 0)
    max_exact = num_buckets // 2
    is_small = distance < max_exact
    scaled = ops.log(ops.maximum(ops.cast(distance, "float32"), 1.0) / max_exact) / math.log(max_distance / max_exact)
    large = max_exact + ops.cast(scaled * (num_buckets - max_exact), "int32")
    large = ops.minimum(large, num_buckets - 1)
    return buckets + ops.where(is_small, distance, large)


class RelativePositionBias(Layer):
    """T5's learned relative-position bias: one score per head and bucket, added to the attention scores.

    Called with the query positions (T,) and the key positions (S,) (int32), it returns the
    additive bias (1, N, T, S) that every block of a stack shares. Through a KV cache the
    query positions start at the cache index and the keys are the cache's slots.

    Args:
        num_buckets, max_distance: as ``relative_position_buckets``.
        num_heads: ``N``.
        bidirectional: True for an encoder, False for a causal decoder.
        initializer: the initializer of the (buckets, N) table.
    """

    def __init__(self, num_buckets, num_heads, max_distance, bidirectional, initializer="uniform", **kwargs):
        super().__init__(**kwargs)
        self.num_buckets, self.max_distance, self.bidirectional = num_buckets, max_distance, bidirectional
        self.embedding = Embedding(num_buckets, num_heads, embeddings_initializer=initializer, dtype=self.dtype_policy)

    def call(self, query_positions, key_positions):
        buckets = relative_position_buckets(query_positions, key_positions, self.bidirectional, self.num_buckets,
                                            self.max_distance)  # (T, S)
        return ops.expand_dims(ops.transpose(self.embedding(buckets), (2, 0, 1)), 0)

    def for_decoding(self, length, cache_index, num_keys):
        """The bias of ``length`` queries from position ``cache_index`` (None: 0) over ``num_keys``
        keys from position 0: a decoder's, with or without a KV cache."""
        start = 0 if cache_index is None else ops.cast(cache_index, "int32")
        return self(ops.arange(length, dtype="int32") + start, ops.arange(num_keys, dtype="int32"))
