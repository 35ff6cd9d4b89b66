"""Stochastic depth ("drop path", Huang et al. 2016) on residual branches."""

import keras
from keras import ops

from keras_tfm.layers.fast import Layer


class DropPath(Layer):
    """Zeroes a residual branch for a random ``rate`` of the samples in training, scaling the
    kept ones by 1 / (1 - rate) (HF's ``*DropPath``); the identity at inference.

    Args:
        rate: the probability of dropping a sample's branch.
        seed: seed of the layer's random draws.
    """

    def __init__(self, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.seed_generator = keras.random.SeedGenerator(seed) if self.rate > 0 else None

    def call(self, x, training=False):
        if not training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        shape = (ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)  # one draw per sample
        mask = ops.floor(keras.random.uniform(shape, dtype=x.dtype, seed=self.seed_generator) + keep)
        return x / keep * mask
