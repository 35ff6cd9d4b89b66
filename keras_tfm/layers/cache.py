"""The typed key/value cache that decoder stacks read and write.

One type serves decoder-only models and encoder-decoders: ``KVCache`` holds, per layer,
the self-attention keys and values (written at ``cache_index`` at every call) and, for an
encoder-decoder, the cross-attention keys and values (computed once from the encoder's
output, then only read). Each tensor is ``(B, N_kv, S, H)``. It is a ``typing.NamedTuple``
of tuples of tensors, so ``jax.jit``, ``tf.function`` / ``tf.nest`` and ``keras.tree`` take
it as a tree and hand back the same type; the torch shim flattens it with ``tensors()``.
"""

from typing import NamedTuple

from keras import ops

from keras_tfm import backend


class KVCache(NamedTuple):
    keys: tuple  # per layer (B, N_kv, S, H): self-attention
    values: tuple
    cross_keys: tuple = ()  # per layer (B, N_kv, S_enc, H): cross-attention (encoder-decoders); () otherwise
    cross_values: tuple = ()

    @classmethod
    def zeros(cls, num_layers, batch, slots, num_kv_heads, head_dim, dtype="float32", cross_slots=None,
              cross_kv_heads=None):
        """A cache of zeros in the backend's fastest container (``backend.cache_zeros``).

        ``cross_slots``: the encoder's length, for an encoder-decoder cache; None for a
        decoder-only cache. ``cross_kv_heads`` defaults to ``num_kv_heads``.
        """
        def make(heads, n):
            return tuple(backend.cache_zeros((batch, heads, n, head_dim), dtype) for _ in range(num_layers))

        if cross_slots is None:
            return cls(make(num_kv_heads, slots), make(num_kv_heads, slots))
        heads = cross_kv_heads or num_kv_heads
        return cls(make(num_kv_heads, slots), make(num_kv_heads, slots),
                   make(heads, cross_slots), make(heads, cross_slots))

    @classmethod
    def from_layers(cls, self_layers, cross_layers=()):
        """From per-layer ``(keys, values)`` pairs (what the stacks produce)."""
        return cls(tuple(k for k, _ in self_layers), tuple(v for _, v in self_layers),
                   tuple(k for k, _ in cross_layers), tuple(v for _, v in cross_layers))

    @property
    def num_layers(self):
        return len(self.keys)

    @property
    def num_slots(self):
        """``S``, the self-attention slots."""
        return self.keys[0].shape[2]

    @property
    def is_encoder_decoder(self):
        return bool(self.cross_keys)

    def layer(self, i):
        """Layer ``i``'s self-attention ``(keys, values)``."""
        return self.keys[i], self.values[i]

    def cross_layer(self, i):
        """Layer ``i``'s cross-attention ``(keys, values)``; None in a decoder-only cache."""
        return (self.cross_keys[i], self.cross_values[i]) if self.cross_keys else None

    def tensors(self):
        """Every tensor, in a fixed order (``from_tensors`` rebuilds the cache)."""
        return (*self.keys, *self.values, *self.cross_keys, *self.cross_values)

    def from_tensors(self, tensors):
        """A cache of this one's structure holding ``tensors`` (the order of ``tensors()``)."""
        n, m = len(self.keys), len(self.cross_keys)
        tensors = tuple(tensors)
        return KVCache(tensors[:n], tensors[n:2 * n], tensors[2 * n:2 * n + m], tensors[2 * n + m:])

    def trace_key(self):
        """What a compiled step's trace depends on: the shapes and dtypes of one layer's
        self and cross tensors (every layer's are alike) and the structure."""
        parts = (self.keys[0], *(self.cross_keys[:1]))
        return (self.num_layers, self.is_encoder_decoder) + tuple(
            (tuple(t.shape), str(t.dtype), getattr(t, "stride", lambda: None)()) for t in parts)

    def reorder(self, index):
        """Gathers the batch rows ``index`` of every tensor (beam search)."""
        index = ops.convert_to_tensor(index, "int32")
        return self.from_tensors(backend.cache_reorder(t, index) for t in self.tensors())
