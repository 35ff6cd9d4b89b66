"""Convolutions and the image layout inside models.

Models take ``pixel_values`` as HF does, channels first (B, C, H, W), and return feature maps
channels first. Inside, images run in ``image_data_format()``: channels first on torch (its
convolutions' native layout), channels last on TensorFlow (its CPU convolutions take NHWC only)
and JAX. Every layer here follows that layout; ``to_internal`` / ``to_channels_first`` cross the
model's border, ``flatten_spatial`` / ``unflatten_spatial`` go between maps and token sequences.

Kernels are stored as Keras stores them, (kh, kw, in / groups, out), whatever the layout; the
``conv2d`` rule of ``checkpoints.weight_map`` transposes PyTorch's (out, in / groups, kh, kw).
"""

import keras
from keras import ops

from keras_tfm.layers.fast import FastCall

CHANNELS_FIRST, CHANNELS_LAST = "channels_first", "channels_last"


def image_data_format():
    """The layout of image tensors inside models on the current backend."""
    return CHANNELS_FIRST if keras.backend.backend() == "torch" else CHANNELS_LAST


def channel_axis():
    """The channel axis of a 4-D image tensor in ``image_data_format()``."""
    return 1 if image_data_format() == CHANNELS_FIRST else -1


def spatial_shape(x):
    """(height, width) of a 4-D image tensor in the internal layout."""
    shape = ops.shape(x)
    return (shape[2], shape[3]) if image_data_format() == CHANNELS_FIRST else (shape[1], shape[2])


def to_internal(pixel_values):
    """(B, C, H, W) -> the internal layout."""
    return pixel_values if image_data_format() == CHANNELS_FIRST else ops.transpose(pixel_values, (0, 2, 3, 1))


def to_channels_first(x):
    """The internal layout -> (B, C, H, W), the layout of HF's outputs."""
    return x if image_data_format() == CHANNELS_FIRST else ops.transpose(x, (0, 3, 1, 2))


def flatten_spatial(x):
    """An image tensor (internal layout) -> (B, H * W, C) tokens, row-major over (H, W) as HF's
    ``flatten(2).transpose(1, 2)``."""
    if image_data_format() == CHANNELS_FIRST:
        b, c = ops.shape(x)[0], ops.shape(x)[1]
        return ops.transpose(ops.reshape(x, (b, c, -1)), (0, 2, 1))
    b, c = ops.shape(x)[0], ops.shape(x)[-1]
    return ops.reshape(x, (b, -1, c))


def unflatten_spatial(x, height, width):
    """(B, H * W, C) tokens -> an image tensor in the internal layout."""
    b, c = ops.shape(x)[0], ops.shape(x)[-1]
    x = ops.reshape(x, (b, height, width, c))
    return ops.transpose(x, (0, 3, 1, 2)) if image_data_format() == CHANNELS_FIRST else x


class Conv2D(FastCall, keras.layers.Layer):
    """``torch.nn.Conv2d`` in the internal layout: symmetric zero ``padding`` (an int or (ph, pw)),
    ``stride``, ``dilation`` and ``groups`` as torch counts them.

    Args:
        filters: output channels.
        kernel_size: an int or (kh, kw).
        strides, padding, dilation: ints or pairs, as torch's ``stride`` / ``padding`` / ``dilation``.
        groups: input channels are split into this many groups (``in_channels`` for depthwise).
        use_bias: add a bias.
        kernel_initializer: a Keras initializer (default: He uniform, as torch's default scale).
    """

    def __init__(self, filters, kernel_size, strides=1, padding=0, dilation=1, groups=1, use_bias=True,
                 kernel_initializer="he_uniform", **kwargs):
        super().__init__(**kwargs)
        self.filters, self.groups, self.use_bias = filters, groups, use_bias
        self.kernel_size, self.strides = _pair(kernel_size), _pair(strides)
        self.padding, self.dilation = _pair(padding), _pair(dilation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        in_channels = input_shape[channel_axis()]
        if in_channels % self.groups or self.filters % self.groups:
            raise ValueError(f"{self.name}: {in_channels} input and {self.filters} output channels do not split into "
                             f"{self.groups} groups.")
        self.kernel = self.add_weight(name="kernel", shape=(*self.kernel_size, in_channels // self.groups, self.filters),
                                      initializer=self.kernel_initializer)
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros") if self.use_bias else None
        self.built = True

    def call(self, x):
        x = _pad_spatial(x, self.padding)
        x = ops.conv(x, self.kernel, strides=self.strides, padding="valid", data_format=image_data_format(),
                     dilation_rate=self.dilation)
        if self.bias is not None:
            x = x + (ops.reshape(self.bias, (1, -1, 1, 1)) if image_data_format() == CHANNELS_FIRST else self.bias)
        return x

    def compute_output_shape(self, input_shape):
        return _pooled_shape(input_shape, self.kernel_size, self.strides, self.padding, self.filters, self.dilation)


class MaxPool2D(FastCall, keras.layers.Layer):
    """``torch.nn.MaxPool2d`` in the internal layout: symmetric ``padding`` with -inf, so padded
    cells never win (Keras' "same" padding would place them differently).

    Args:
        pool_size: an int or (kh, kw).
        strides: an int or pair (default: ``pool_size``, as torch).
        padding: an int or (ph, pw), as torch's.
    """

    def __init__(self, pool_size, strides=None, padding=0, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = _pair(pool_size)
        self.strides = _pair(strides) if strides is not None else self.pool_size
        self.padding = _pair(padding)

    def call(self, x):
        x = _pad_spatial(x, self.padding, float("-inf"))
        return ops.max_pool(x, self.pool_size, strides=self.strides, padding="valid", data_format=image_data_format())

    def compute_output_shape(self, input_shape):
        return _pooled_shape(input_shape, self.pool_size, self.strides, self.padding, _channels(input_shape))


def global_average_pool(x):
    """(B, C, H, W) or (B, H, W, C) -> the same rank with H = W = 1 (torch's ``AdaptiveAvgPool2d((1, 1))``)."""
    return ops.mean(x, axis=(2, 3) if image_data_format() == CHANNELS_FIRST else (1, 2), keepdims=True)


class BatchNorm(FastCall, keras.layers.BatchNormalization):
    """``torch.nn.BatchNorm2d`` in the internal layout (torch's momentum 0.1 is Keras' 0.9)."""

    def __init__(self, epsilon=1e-5, momentum=0.1, **kwargs):
        super().__init__(axis=channel_axis(), epsilon=epsilon, momentum=1.0 - momentum, **kwargs)


class FrozenBatchNorm(BatchNorm):
    """Batch norm with fixed statistics and affine parameters (HF's ``DetrFrozenBatchNorm2d``):
    never trained, always in inference mode, whatever ``trainable`` says."""

    def build(self, input_shape):
        super().build(input_shape)
        for weight in (self.gamma, self.beta):
            weight.trainable = False

    def call(self, inputs, training=None, mask=None):
        return super().call(inputs, training=False)


def _pad_spatial(x, padding, value=0.0):
    """``x`` padded by ``padding`` = (ph, pw) cells of ``value`` on each side of H and W."""
    ph, pw = padding
    if not (ph or pw):
        return x
    spatial = [(ph, ph), (pw, pw)]
    pads = [(0, 0), (0, 0), *spatial] if image_data_format() == CHANNELS_FIRST else [(0, 0), *spatial, (0, 0)]
    return ops.pad(x, pads, constant_values=value)


def _channels(shape):
    return shape[1] if image_data_format() == CHANNELS_FIRST else shape[-1]


def _pooled_shape(input_shape, kernel_size, strides, padding, channels, dilation=(1, 1)):
    """The output shape of a window op with torch's size arithmetic."""
    spatial_in = input_shape[2:] if image_data_format() == CHANNELS_FIRST else input_shape[1:3]
    spatial = [None if n is None else (n + 2 * p - d * (k - 1) - 1) // s + 1
               for n, k, s, p, d in zip(spatial_in, kernel_size, strides, padding, dilation)]
    if image_data_format() == CHANNELS_FIRST:
        return (input_shape[0], channels, *spatial)
    return (input_shape[0], *spatial, channels)


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)
