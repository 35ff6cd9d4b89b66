"""Normalisation layers: LayerNorm (keras' LayerNormalization, fast-called) and RMSNorm."""

from keras import ops

from keras_tfm.layers.fast import Layer, LayerNormalization

LayerNorm = LayerNormalization


class RMSNorm(Layer):
    """x / sqrt(mean(x^2) + eps) * weight, computed in float32 (Llama, Mistral, Qwen2, T5)."""

    def __init__(self, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        self.weight = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="weight")

    def call(self, x):
        h = ops.cast(x, "float32")
        h = h * ops.rsqrt(ops.mean(ops.square(h), axis=-1, keepdims=True) + self.epsilon)
        return ops.cast(self.weight, x.dtype) * ops.cast(h, x.dtype)
