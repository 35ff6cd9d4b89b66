"""Image resizing with PyTorch's ``F.interpolate`` arithmetic, on every backend.

The backends' own resize kernels differ from torch's (bicubic with A=-0.5 instead of -0.75,
other half-pixel rules, antialiasing), and HF's models resize with torch (ViT's interpolated
position embeddings; SegFormer's and DETR's upsampling). Here each spatial axis gets an
(out, in) interpolation matrix built in numpy from torch's formulas, applied as two matrix
products: torch's values to float rounding, differentiable, and fast for the small maps
models resize. Sizes must be known when tracing (static shapes).
"""

import numpy as np
from keras import ops

from keras_tfm.layers.conv import CHANNELS_FIRST, image_data_format

MODES = ("nearest", "nearest-exact", "bilinear", "bicubic")
CUBIC_A = -0.75  # torch's bicubic coefficient


def _scale(in_size, out_size, align_corners):
    # torch's area_pixel_compute_scale for a given output size (no scale_factor)
    if align_corners:
        return (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    return in_size / out_size


def _cubic_weights(t):
    """torch's get_cubic_upsample_coefficients: the 4 weights of offsets -1, 0, 1, 2 at fraction ``t``."""
    a = CUBIC_A

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=-1)


def interpolation_matrix(in_size, out_size, mode="bilinear", align_corners=False):
    """The (out_size, in_size) float64 matrix ``M`` with ``resized = M @ x`` along one axis, as
    ``torch.nn.functional.interpolate(..., size=out_size, mode=mode, align_corners=align_corners)``
    computes it (``antialias=False``)."""
    if mode not in MODES:
        raise ValueError(f"Unknown resize mode {mode!r}; expected one of {MODES}.")
    in_size, out_size = int(in_size), int(out_size)
    if in_size < 1 or out_size < 1:
        raise ValueError(f"Cannot resize an axis of size {in_size} to size {out_size}.")
    matrix = np.zeros((out_size, in_size))
    rows = np.arange(out_size)
    if in_size == out_size:
        matrix[rows, rows] = 1.0  # torch copies when the sizes agree
        return matrix
    if mode.startswith("nearest"):
        scale = np.float32(in_size) / np.float32(out_size)  # torch computes these indices in float32
        offset = np.float32(0.5) if mode == "nearest-exact" else np.float32(0.0)
        src = np.floor((rows.astype(np.float32) + offset) * scale).astype(np.int64)
        matrix[rows, np.minimum(src, in_size - 1)] = 1.0
        return matrix
    scale = _scale(in_size, out_size, align_corners)
    real = scale * rows if align_corners else scale * (rows + 0.5) - 0.5
    if mode == "bilinear":
        real = np.maximum(real, 0.0)
        low = np.floor(real).astype(np.int64)
        high = np.where(low < in_size - 1, low + 1, low)
        frac = np.clip(real - low, 0.0, 1.0)
        np.add.at(matrix, (rows, low), 1.0 - frac)
        np.add.at(matrix, (rows, high), frac)
        return matrix
    low = np.floor(real).astype(np.int64)
    weights = _cubic_weights(real - low)  # (out, 4)
    for k in range(4):  # neighbours beyond the border repeat the edge value
        np.add.at(matrix, (rows, np.clip(low - 1 + k, 0, in_size - 1)), weights[:, k])
    return matrix


def resize(x, size, mode="bilinear", align_corners=False, data_format=None):
    """Resizes the spatial axes of a 4-D image tensor as torch's ``F.interpolate(x, size, mode,
    align_corners)``.

    Args:
        x: (B, C, H, W) or (B, H, W, C), as ``data_format`` says (default: the models' internal
            ``image_data_format()``).
        size: (height, width) of the output, plain ints.
        mode: "nearest", "nearest-exact", "bilinear" or "bicubic" (torch's A=-0.75).
        align_corners: torch's ``align_corners`` (bilinear and bicubic).
    """
    data_format = data_format or image_data_format()
    shape = ops.shape(x)
    in_h, in_w = (shape[2], shape[3]) if data_format == CHANNELS_FIRST else (shape[1], shape[2])
    if not all(isinstance(n, (int, np.integer)) for n in (in_h, in_w, *size)):
        raise ValueError(f"resize needs static spatial sizes; got input {(in_h, in_w)} and size {tuple(size)}.")
    out_h, out_w = (int(n) for n in size)
    if (in_h, in_w) == (out_h, out_w):
        return x
    rows = ops.convert_to_tensor(interpolation_matrix(in_h, out_h, mode, align_corners), dtype=x.dtype)
    cols = ops.convert_to_tensor(interpolation_matrix(in_w, out_w, mode, align_corners), dtype=x.dtype)
    if data_format == CHANNELS_FIRST:
        x = ops.einsum("oh,bchw->bcow", rows, x)
        return ops.einsum("pw,bcow->bcop", cols, x)
    x = ops.einsum("oh,bhwc->bowc", rows, x)
    return ops.einsum("pw,bowc->bopc", cols, x)


# From the detr branch (merged here for the pipelines' tests; the lead merges the two resize.py files):
# nearest resize with sizes known only at run time.
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
