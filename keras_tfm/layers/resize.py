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


def static_dim(dim):
    """A dimension as an int (``torch.jit.trace`` gives 0-d tensors, fixed per trace), or None where it
    is unknown (TF graphs)."""
    if dim is None or isinstance(dim, int):
        return dim
    try:
        return int(dim)
    except (TypeError, ValueError):
        return None


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
    in_h, in_w = (static_dim(n) for n in ((shape[2], shape[3]) if data_format == CHANNELS_FIRST else shape[1:3]))
    if None in (in_h, in_w) or not all(isinstance(n, (int, np.integer)) for n in size):
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


# Nearest neighbour with sizes known only at run time (DETR's pixel masks and FPN of padded batches).
def nearest_indices(in_size, out_size):
    """(out_size,) int32: the source row of each output row, as torch's legacy "nearest" picks it:
    ``min(floor(i * (in / out)), in - 1)`` with the scale in float32."""
    if isinstance(in_size, int) and in_size == out_size:  # sizes may be tensors in a TF graph
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


def downsample_mask(pixel_mask, size):
    """``pixel_mask`` (B, H, W) -> (B, h, w) bool at a feature map's ``size``, as HF's nearest interpolation
    of a padded batch's pixel mask (DETR, ViLT)."""
    h_in, w_in = ops.shape(pixel_mask)[1], ops.shape(pixel_mask)[2]
    mask = ops.take(pixel_mask, nearest_indices(h_in, size[0]), axis=1)
    mask = ops.take(mask, nearest_indices(w_in, size[1]), axis=2)
    return ops.cast(mask, "bool")


def bilinear_rows(valid, out_size, in_size, align_corners=True):
    """(B, out_size, in_size) float32: per sample ``b``, the matrix resizing an axis of ``in_size`` to
    ``valid[b]`` as torch's bilinear ``interpolate``, in rows ``0 .. valid[b] - 1``; later rows are
    zero (the padding beyond each sample's extent). ``valid`` (B,) may be known only at run time."""
    valid = ops.cast(ops.reshape(valid, (-1, 1)), "float32")  # (B, 1)
    rows = ops.cast(ops.arange(out_size), "float32")[None, :]  # (1, out)
    if align_corners:
        scale = ops.where(valid > 1, (in_size - 1) / ops.maximum(valid - 1, 1.0), 0.0)
        real = scale * rows
    else:
        real = ops.maximum(in_size / ops.maximum(valid, 1.0) * (rows + 0.5) - 0.5, 0.0)
    low = ops.minimum(ops.floor(real), in_size - 1)
    frac = ops.clip(real - low, 0.0, 1.0)
    high = ops.minimum(low + 1, in_size - 1)
    low_hot = ops.one_hot(ops.cast(low, "int32"), in_size, dtype="float32")  # (B, out, in)
    high_hot = ops.one_hot(ops.cast(high, "int32"), in_size, dtype="float32")
    matrix = low_hot * (1.0 - frac)[..., None] + high_hot * frac[..., None]
    inside = ops.cast(rows < valid, "float32")[..., None]
    return matrix * inside


def resize_per_sample(grid, heights, widths, size, align_corners=True):
    """A (h, w, C) grid resized bilinearly to each sample's ``heights[b]`` x ``widths[b]`` and zero-padded
    at the bottom / right to ``size`` (height, width): (B, height, width, C), as HF's ViLT computes its
    position embeddings per image (``F.interpolate`` then ``F.pad``). ``heights`` / ``widths`` (B,), and
    ``size`` too, may be known only at run time; the grid's size must be static."""
    in_h, in_w = (static_dim(n) for n in ops.shape(grid)[:2])
    rows = ops.cast(bilinear_rows(heights, size[0], in_h, align_corners), grid.dtype)  # (B, H, h)
    cols = ops.cast(bilinear_rows(widths, size[1], in_w, align_corners), grid.dtype)  # (B, W, w)
    return ops.einsum("boh,bpw,hwc->bopc", rows, cols, grid)
