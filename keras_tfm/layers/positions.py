"""Position information: default position ids, the sinusoidal table, T5's relative-position buckets.

Rotary embeddings (Llama's ``rope_type`` variants) are in ``keras_tfm.layers.rotary``;
learned positions are an ``Embedding`` indexed by ``position_ids``.
"""

import math

import keras
import numpy as np
from keras import ops


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
