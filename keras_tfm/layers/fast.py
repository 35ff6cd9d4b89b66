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


class Quantizable:
    """Mixin for a subclass of a Keras layer that Keras can quantize (Dense, Embedding): Keras' own
    ``quantize`` (it refuses subclasses unless told not to check) and its quantized call."""

    def quantize(self, mode=None, type_check=True, config=None):
        if mode != "int8":
            raise ValueError(f"quantize(mode={mode!r}): keras_tfm supports mode='int8'.")
        super().quantize(mode, type_check=False, config=config)


class Dense(Quantizable, FastCall, keras.layers.Dense):
    def call(self, inputs, training=None):
        if self.quantization_mode is not None:  # int8 kernel: Keras' quantized matmul
            return self.quantized_call(inputs, training=training)
        # keras' Dense.call, with the matmul as backend.decode_matmul computes it: on every core
        # where the backend's own matmul would use one (few tokens: a decode step).
        x = backend.decode_matmul(inputs, self.kernel)
        if self.bias is not None:
            x = ops.add(x, self.bias)
        if self.activation is not None:
            x = self.activation(x)
        return x


class Embedding(Quantizable, FastCall, keras.layers.Embedding):
    """keras' Embedding, refusing ids outside its table where their values are known (eager calls).

    A gather outside the table is no error on every backend (JAX clamps or gives NaN, TF on CPU may
    read zeros, negative ids wrap): the ids are checked here instead. Inside compiled programs
    (jit, tf.function) the values are unknown and the check is skipped; the ids those programs see
    come from eager entry points or from the model's own argmax.
    """

    def call(self, inputs):
        check_ids_in_range(inputs, self.input_dim, self.name)
        if self.quantization_mode is not None:
            return self.quantized_call(inputs)
        return super().call(inputs)


def embedding_table(layer, dtype):
    """An embedding layer's whole table (V, C) in ``dtype``, dequantized if Keras quantized it to int8
    (tied heads and learned queries read the table itself, not rows of it)."""
    table = ops.cast(layer.embeddings, dtype)
    if layer.quantization_mode == "int8":  # Keras' int8 rows are value * scale, one scale per row
        table = ops.divide(table, ops.expand_dims(ops.cast(layer.embeddings_scale, dtype), -1))
    return table


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
