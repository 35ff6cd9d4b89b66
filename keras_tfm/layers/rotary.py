"""Rotary position embeddings with Hugging Face's ``rope_type`` variants (default, linear, dynamic, llama3).

``inv_freq`` is computed in numpy once, as ``transformers.modeling_rope_utils`` does;
``dynamic`` NTK scaling recomputes it in the graph from the longest position seen.
"""

import math

import numpy as np
from keras import ops

SUPPORTED = ("default", "linear", "dynamic", "llama3")


def _base_inv_freq(base, dim):
    return 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.int64).astype(np.float32) / dim))


def inv_freq_for(config):
    """(inv_freq (H/2,) float32, attention scaling) for ``config.rope_parameters``."""
    params = dict(config.rope_parameters or {})
    rope_type = params.get("rope_type", params.get("type", "default"))
    if rope_type not in SUPPORTED:
        raise NotImplementedError(f"rope_type={rope_type!r} is not supported; keras_tfm supports {SUPPORTED}.")
    base = params.get("rope_theta", 10000.0)
    dim = int(config.head_dim * params.get("partial_rotary_factor", 1.0))
    inv_freq = _base_inv_freq(base, dim).astype(np.float32)
    if rope_type == "linear":
        inv_freq = (inv_freq / np.float32(params["factor"])).astype(np.float32)
    elif rope_type == "llama3":
        factor, low, high = params["factor"], params["low_freq_factor"], params["high_freq_factor"]
        old = params["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old / low, old / high
        wavelen = 2 * math.pi / inv_freq
        scaled = np.where(wavelen > low_wavelen, inv_freq / factor, inv_freq)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
        inv_freq = np.where(medium, smoothed, scaled).astype(np.float32)
    return inv_freq, 1.0, rope_type, params, dim


class RotaryEmbedding:
    """cos / sin tables of ``position_ids`` for a config with ``head_dim``, ``rope_parameters``
    and ``max_position_embeddings`` (a plain object: it holds no weights)."""

    def __init__(self, config):
        self.inv_freq, self.scaling, self.rope_type, params, self.dim = inv_freq_for(config)
        self.base = params.get("rope_theta", 10000.0)
        self.factor = params.get("factor", 1.0)
        self.max_positions = config.max_position_embeddings

    def _inv_freq(self, position_ids):
        static = ops.convert_to_tensor(self.inv_freq)
        if self.rope_type != "dynamic":
            return static
        # HF grows the frequencies once a position passes max_position_embeddings.
        seq_len = ops.cast(ops.max(position_ids) + 1, "float32")
        grown = ops.maximum(seq_len, float(self.max_positions))
        ratio = (self.factor * grown / self.max_positions) - (self.factor - 1)
        base = self.base * ratio ** (self.dim / (self.dim - 2))
        exponents = ops.convert_to_tensor(np.arange(0, self.dim, 2, dtype=np.int64).astype(np.float32) / self.dim)
        dynamic = 1.0 / ops.power(base, exponents)
        return ops.where(seq_len > self.max_positions, dynamic, static)

    def cos_sin(self, position_ids):
        """position_ids (B, T) -> cos, sin of shape (B, T, 1, H) in float32."""
        freqs = ops.cast(position_ids, "float32")[:, :, None] * self._inv_freq(position_ids)[None, None, :]
        emb = ops.concatenate([freqs, freqs], axis=-1)
        return (ops.cos(emb) * self.scaling)[:, :, None, :], (ops.sin(emb) * self.scaling)[:, :, None, :]


def rotate_half(x):
    half = x.shape[-1] // 2
    return ops.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def apply_rotary(x, cos, sin):
    """x (B, T, N, H): x * cos + rotate_half(x) * sin."""
    cos, sin = ops.cast(cos, x.dtype), ops.cast(sin, x.dtype)
    return x * cos + rotate_half(x) * sin
