"""Weight-normalised convolutions (Salimans & Kingma 2016), as torch's ``weight_norm``.

The variables are the direction ``kernel`` (torch's ``weight_v`` / ``original1``) and the magnitude
``weight_g`` (``weight_g`` / ``original0``); the kernel the convolution uses is computed per call,
``g * v / ||v||``, so training updates g and v as torch does.
"""

import math

import keras
from keras import ops

from keras_tfm.layers.conv import Conv1D


class WeightNormConv1D(Conv1D):
    """A ``Conv1D`` whose kernel is weight-normalised over torch's ``dim`` (Wav2Vec2's positional conv
    uses ``dim=2``: one magnitude per kernel tap, the norm over output and input channels).

    Kernels are stored in Keras' (k, in / groups, out) layout; ``weight_g`` has torch's shape
    transposed the same way ((k, 1, 1) for ``dim=2``), so one conv1d rule converts both.
    """

    def __init__(self, *args, dim=2, **kwargs):
        super().__init__(*args, **kwargs)
        if dim not in (0, 2):
            raise ValueError(f"WeightNormConv1D supports torch's dim=0 (per output channel) or dim=2 (per tap), "
                             f"got {dim}.")
        self.dim = dim
        # the axes of the Keras kernel that the norm runs over (all but torch's `dim`)
        self.norm_axes = (1, 2) if dim == 2 else (0, 1)

    def build(self, input_shape):
        super().build(input_shape)
        g_shape = (self.kernel_size[0], 1, 1) if self.dim == 2 else (1, 1, self.filters)
        # torch starts g at ||v||; for a normal kernel initializer that is about sqrt(fan) * stddev
        fan = math.prod(self.kernel.shape[a] for a in self.norm_axes)
        scale = math.sqrt(fan) * getattr(self.kernel_initializer, "stddev", 1.0 / math.sqrt(fan))
        self.weight_g = self.add_weight(name="weight_g", shape=g_shape, initializer=keras.initializers.Constant(scale))

    def normalized_kernel(self):
        """``g * v / ||v||`` in Keras' kernel layout."""
        v = self.kernel
        norm = ops.sqrt(ops.sum(ops.square(v), axis=self.norm_axes, keepdims=True))
        return self.weight_g * v / norm

    def call(self, x):
        return self.convolve(x, ops.cast(self.normalized_kernel(), x.dtype), self.bias)

