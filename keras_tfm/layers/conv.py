"""Convolutions and the image / signal layout inside models.

Models take ``pixel_values`` as HF does, channels first (B, C, H, W), and return feature maps
channels first. Inside, images run in ``image_data_format()``: channels first on torch (its
convolutions' native layout), channels last on TensorFlow (its CPU convolutions take NHWC only)
and JAX. Every layer here follows that layout; ``to_internal`` / ``to_channels_first`` cross the
model's border, ``flatten_spatial`` / ``unflatten_spatial`` go between maps and token sequences.
1-D signals (audio: (B, C, T)) follow the same rule with ``Conv1D``: ``to_internal`` /
``to_channels_first`` take tensors of any rank.

Kernels are stored as Keras stores them, (kh, kw, in / groups, out) or (k, in / groups, out),
whatever the layout; the ``conv2d`` / ``conv1d`` rules of ``checkpoints.weight_map`` transpose
PyTorch's (out, in / groups, kh, kw) / (out, in / groups, k).
"""

import keras
from keras import ops

from keras_tfm.layers.fast import FastCall

CHANNELS_FIRST, CHANNELS_LAST = "channels_first", "channels_last"


def image_data_format():
    """The layout of image tensors inside models on the current backend."""
    return CHANNELS_FIRST if keras.backend.backend() == "torch" else CHANNELS_LAST


def channel_axis():
    """The channel axis of an image (or 1-D signal) tensor in ``image_data_format()``."""
    return 1 if image_data_format() == CHANNELS_FIRST else -1


def spatial_shape(x):
    """(height, width) of a 4-D image tensor in the internal layout."""
    shape = ops.shape(x)
    return (shape[2], shape[3]) if image_data_format() == CHANNELS_FIRST else (shape[1], shape[2])


def to_internal(pixel_values):
    """(B, C, H, W) (or (B, C, T), any rank) -> the internal layout."""
    if image_data_format() == CHANNELS_FIRST:
        return pixel_values
    rank = len(pixel_values.shape)
    return ops.transpose(pixel_values, (0, *range(2, rank), 1))


def to_channels_first(x):
    """The internal layout -> (B, C, H, W) (or (B, C, T), any rank), the layout of HF's outputs."""
    if image_data_format() == CHANNELS_FIRST:
        return x
    rank = len(x.shape)
    return ops.transpose(x, (0, rank - 1, *range(1, rank - 1)))


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


class _Conv(FastCall, keras.layers.Layer):
    """``torch.nn.Conv{rank}d`` in the internal layout: symmetric zero ``padding``, ``stride``,
    ``dilation`` and ``groups`` as torch counts them. ``Conv1D`` / ``Conv2D`` fix the rank.

    Args:
        filters: output channels.
        kernel_size: an int or a tuple of ``rank`` ints.
        strides, padding, dilation: ints or tuples, as torch's ``stride`` / ``padding`` / ``dilation``.
        groups: input channels are split into this many groups (``in_channels`` for depthwise).
        use_bias: add a bias.
        kernel_initializer: a Keras initializer (default: He uniform, as torch's default scale).
    """

    rank = None

    def __init__(self, filters, kernel_size, strides=1, padding=0, dilation=1, groups=1, use_bias=True,
                 kernel_initializer="he_uniform", **kwargs):
        super().__init__(**kwargs)
        self.filters, self.groups, self.use_bias = filters, groups, use_bias
        self.kernel_size, self.strides = _tuple(kernel_size, self.rank), _tuple(strides, self.rank)
        self.padding, self.dilation = _tuple(padding, self.rank), _tuple(dilation, self.rank)
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
        return self.convolve(x, self.kernel, self.bias)

    def convolve(self, x, kernel, bias=None):
        """This layer's convolution with another ``kernel`` / ``bias`` (a batch norm folded in, a
        weight-normed kernel)."""
        x = _pad_spatial(x, self.padding)
        x = ops.conv(x, kernel, strides=self.strides, padding="valid", data_format=image_data_format(),
                     dilation_rate=self.dilation)
        if bias is not None:
            x = x + (ops.reshape(bias, (1, -1) + (1,) * self.rank) if image_data_format() == CHANNELS_FIRST else bias)
        return x

    def compute_output_shape(self, input_shape):
        return _pooled_shape(input_shape, self.kernel_size, self.strides, self.padding, self.filters, self.dilation)


class Conv1D(_Conv):
    """``torch.nn.Conv1d`` on (B, C, T) / (B, T, C) signals in the internal layout (see ``_Conv``)."""

    rank = 1


class Conv2D(_Conv):
    """``torch.nn.Conv2d`` on images in the internal layout (see ``_Conv``)."""

    rank = 2


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

    def uses_batch_statistics(self, training):
        """Whether a call normalises by the batch's statistics (training) rather than the moving ones."""
        return bool(training and self.trainable)

    def inference_affine(self):
        """(scale, shift) per channel, float32: inference-mode batch norm is ``x * scale + shift``."""
        scale = self.gamma * ops.rsqrt(self.moving_variance + self.epsilon)
        return scale, self.beta - self.moving_mean * scale


class FrozenBatchNorm(BatchNorm):
    """Batch norm with fixed statistics and affine parameters (HF's ``DetrFrozenBatchNorm2d``):
    never trained, always in inference mode, whatever ``trainable`` says."""

    def build(self, input_shape):
        super().build(input_shape)
        for weight in (self.gamma, self.beta):
            weight.trainable = False

    def call(self, inputs, training=None, mask=None):
        return super().call(inputs, training=False)

    def uses_batch_statistics(self, training):
        return False


def conv_batch_norm(conv, norm, x, training=False):
    """``norm(conv(x))`` for a ``Conv2D`` without bias and a ``BatchNorm``; at inference the norm is
    folded into the conv's kernel and bias (one pass over the output instead of three), as exact up
    to rounding."""
    if not (conv.built and norm.built) or norm.uses_batch_statistics(training):  # the first call builds them
        return norm(conv(x), training=training)
    scale, shift = norm.inference_affine()
    return conv.convolve(x, ops.cast(conv.kernel * scale, x.dtype), ops.cast(shift, x.dtype))


def _pad_spatial(x, padding, value=0.0):
    """``x`` padded by ``padding`` = (ph, pw) (or (pt,)) cells of ``value`` on each side of each spatial axis."""
    if not any(padding):
        return x
    spatial = [(p, p) for p in padding]
    pads = [(0, 0), (0, 0), *spatial] if image_data_format() == CHANNELS_FIRST else [(0, 0), *spatial, (0, 0)]
    return ops.pad(x, pads, constant_values=value)


def _channels(shape):
    return shape[1] if image_data_format() == CHANNELS_FIRST else shape[-1]


def _pooled_shape(input_shape, kernel_size, strides, padding, channels, dilation=None):
    """The output shape of a window op with torch's size arithmetic."""
    spatial_in = input_shape[2:] if image_data_format() == CHANNELS_FIRST else input_shape[1:-1]
    dilation = dilation or (1,) * len(kernel_size)
    spatial = [None if n is None else (n + 2 * p - d * (k - 1) - 1) // s + 1
               for n, k, s, p, d in zip(spatial_in, kernel_size, strides, padding, dilation)]
    if image_data_format() == CHANNELS_FIRST:
        return (input_shape[0], channels, *spatial)
    return (input_shape[0], *spatial, channels)


def _tuple(value, rank):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * rank


def _pair(value):
    return _tuple(value, 2)
