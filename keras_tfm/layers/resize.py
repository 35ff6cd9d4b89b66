"""Resizing image tensors with torch's ``nn.functional.interpolate(mode="nearest")`` semantics."""

from keras import ops

from keras_tfm.layers.conv import CHANNELS_FIRST, image_data_format


def nearest_indices(in_size, out_size):
    """(out_size,) int32: the source row of each output row, as torch's legacy "nearest" picks it:
    ``min(floor(i * (in / out)), in - 1)`` with the scale in float32."""
    if out_size == in_size:
        return ops.arange(out_size, dtype="int32")
    scale = ops.cast(ops.cast(in_size, "float32") / ops.cast(out_size, "float32"), "float32")
    index = ops.cast(ops.floor(ops.arange(out_size, dtype="float32") * scale), "int32")
    return ops.minimum(index, in_size - 1)


def resize_nearest(x, size, spatial_axes=None):
    """``x`` resized to ``size`` (height, width) by nearest neighbour, as torch's ``interpolate``.

    ``spatial_axes``: the (height, width) axes; None for a 4-D image in the internal layout.
    """
    if spatial_axes is None:
        spatial_axes = (2, 3) if image_data_format() == CHANNELS_FIRST else (1, 2)
    for axis, out_size in zip(spatial_axes, size):
        in_size = ops.shape(x)[axis]
        if in_size != out_size:
            x = ops.take(x, nearest_indices(in_size, out_size), axis=axis)
    return x
