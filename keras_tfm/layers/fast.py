"""Keras layers whose calls skip Keras' per-call bookkeeping once they are built.

A decode step calls ~150 small layers for one token. On eager backends (torch) the
generic ``Layer.__call__`` (argument binding, tree flattening, masks, name scopes,
autocast scopes) then costs more than the matmuls themselves; once a layer is built,
calling its ``call`` directly computes the same thing. Under jax.jit / tf.function the
bookkeeping only runs while tracing, so this changes nothing there. Symbolic calls
(KerasTensor) and unbuilt layers go through the normal path.
"""

import keras
from keras import ops

from keras_tfm import backend


def _symbolic(values):
    return any(isinstance(v, keras.KerasTensor) for v in values)


class FastCall:
    """Mixin: ``layer(...)`` runs ``layer.call(...)`` directly when the layer is built."""

    def __call__(self, *args, **kwargs):
        if self.built and not _symbolic(args) and not _symbolic(kwargs.values()):
            return self.call(*args, **kwargs)
        return super().__call__(*args, **kwargs)


class Layer(FastCall, keras.layers.Layer):
    """A container layer: its sublayers build themselves on their first call."""

    def build(self, *args, **kwargs):
        self.built = True


class Dense(FastCall, keras.layers.Dense):
    def call(self, inputs, training=None):
        # keras' Dense.call, with the matmul's result passed through backend.separate_matmul
        # before the bias add (XLA on CPU would run the two as one single-threaded loop).
        x = backend.separate_matmul(ops.matmul(inputs, self.kernel))
        if self.bias is not None:
            x = ops.add(x, self.bias)
        if self.activation is not None:
            x = self.activation(x)
        return x


class Embedding(FastCall, keras.layers.Embedding):
    """keras' Embedding, refusing ids outside its table where their values are known (eager calls).

    A gather outside the table is no error on every backend (JAX clamps or gives NaN, TF on CPU may
    read zeros, negative ids wrap): the ids are checked here instead. Inside compiled programs
    (jit, tf.function) the values are unknown and the check is skipped; the ids those programs see
    come from eager entry points or from the model's own argmax.
    """

    def call(self, inputs):
        check_ids_in_range(inputs, self.input_dim, self.name)
        return super().call(inputs)


def check_ids_in_range(ids, size, table):
    """ValueError when a concrete ``ids`` tensor holds a value outside ``0 .. size - 1`` of ``table``."""
    if 0 in ids.shape:
        return
    low = backend.concrete_int(ops.min(ids))
    if low is None:  # traced: values unknown
        return
    high = backend.concrete_int(ops.max(ids))
    if low < 0 or high >= size:
        bad = low if low < 0 else high
        raise ValueError(
            f"An embedding table of {size} rows ({table}) was given the id {bad}: ids must lie in 0..{size - 1}. "
            "Token ids at or past vocab_size, type ids past type_vocab_size, or a sequence longer than the "
            "model's positions give this."
        )


class LayerNormalization(FastCall, keras.layers.LayerNormalization):
    pass


class Dropout(FastCall, keras.layers.Dropout):
    pass
