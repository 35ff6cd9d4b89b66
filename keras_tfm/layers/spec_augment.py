"""SpecAugment's span masks (Park et al. 2019) as Wav2Vec2-style models draw them in training.

``compute_mask_indices`` follows HF's ``_compute_mask_indices``: per row,
``int(mask_prob * length / mask_length + eps)`` spans (one ``eps`` ~ U[0, 1) per batch, at least
``min_masks``, at most what fits), their starts drawn uniformly without replacement from the
row's real frames. It runs in ``keras.ops`` with ``keras.random`` (not numpy), so that a compiled
train step (XLA, jit) draws new masks at every step instead of baking one in at tracing.
"""

import keras
from keras import ops


def compute_mask_indices(shape, mask_prob, mask_length, lengths=None, min_masks=0, seed=None):
    """A (B, T) boolean mask of random spans of ``mask_length`` frames.

    Args:
        shape: (B, T), static ints.
        mask_prob: the fraction of each row to cover (an upper bound: spans may overlap).
        mask_length: frames per span.
        lengths: (B,) real lengths of right-padded rows (spans stay inside them), or None (all T).
        min_masks: the least number of spans per row (if it fits).
        seed: a ``keras.random.SeedGenerator`` (or int) for the draws.
    """
    batch, length = shape
    if mask_length < 1:
        raise ValueError("`mask_length` has to be bigger than 0.")
    if mask_length > length:
        raise ValueError(f"`mask_length` has to be smaller than `sequence_length`, but got `mask_length`: "
                         f"{mask_length} and `sequence_length`: {length}`")
    lengths = (ops.full((batch,), length, "float32") if lengths is None else ops.cast(lengths, "float32"))
    epsilon = keras.random.uniform((), seed=seed)
    spans = ops.floor(mask_prob * lengths / mask_length + epsilon)
    spans = ops.maximum(spans, float(min_masks))
    spans = ops.where(spans * mask_length > length, float(length // mask_length), spans)
    starts_available = ops.maximum(lengths - (mask_length - 1), 0.0)
    spans = ops.minimum(spans, starts_available)  # (B,)
    # a uniform draw without replacement: the `spans` lowest of random scores over the valid starts
    positions = ops.arange(length, dtype="float32")[None]
    scores = keras.random.uniform((batch, length), seed=seed)
    scores = ops.where(positions < starts_available[:, None], scores, 2.0)
    rank = ops.argsort(ops.argsort(scores, axis=-1), axis=-1)
    starts = ops.cast(ops.cast(rank, "float32") < spans[:, None], "int32")  # (B, T)
    # frame t is masked when a span starts in (t - mask_length, t]
    covered = ops.cumsum(starts, axis=-1)
    before = ops.pad(covered, [(0, 0), (mask_length, 0)])[:, :length]
    return (covered - before) > 0
