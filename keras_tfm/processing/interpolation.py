"""PyTorch's ``F.interpolate(x, size, mode="bilinear", align_corners=False)`` in numpy.

Post-processing resizes logits and mask probabilities to each image's size with it, then
takes an argmax or a threshold: the source indices and weights are computed as PyTorch's CPU
kernel does (float32, same clamping, the fused multiply-adds of its compiled loop), so values
differ from PyTorch's by a few float32 ulps at most (PyTorch's own rounding depends on the
shape through its vectorized loops), and maps agree but for rare exact ties.
"""

import numpy as np


def _source_indices(in_size, out_size):
    """For each output index: the two source indices and their float32 weights (PyTorch's
    ``compute_source_index_and_lambda``)."""
    if in_size == out_size:
        index = np.arange(out_size)
        return index, index, np.ones(out_size, np.float32), np.zeros(out_size, np.float32)
    scale = np.float32(in_size) / np.float32(out_size)
    source = _fma(scale, np.arange(out_size, dtype=np.float32) + np.float32(0.5), np.float32(-0.5))
    source = np.maximum(source, np.float32(0.0))
    index0 = np.minimum(np.floor(source).astype(np.int64), in_size - 1)
    lambda1 = np.clip(source - index0.astype(np.float32), 0, 1).astype(np.float32)
    index1 = index0 + (index0 < in_size - 1)
    return index0, index1, (np.float32(1.0) - lambda1).astype(np.float32), lambda1


def _fma(a, b, c):
    """float32 ``a * b + c`` with one rounding (float32 products are exact in float64)."""
    return (np.asarray(a, np.float64) * np.asarray(b, np.float64) + np.asarray(c, np.float64)).astype(np.float32)


def interpolate_bilinear(x, size):
    """Resizes the last two axes of ``x`` (..., H, W) to ``size`` = (height, width), bilinearly
    with half-pixel centres (``align_corners=False``), as ``torch.nn.functional.interpolate``.

    Returns a float32 array (..., height, width).
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 2:
        raise ValueError(f"interpolate_bilinear needs an array of at least 2 dimensions (..., H, W); got {x.shape}.")
    height, width = (int(s) for s in size)
    if height < 1 or width < 1:
        raise ValueError(f"Cannot resize to {height}x{width}: the target size must be positive.")
    h0, h1, lh0, lh1 = _source_indices(x.shape[-2], height)
    w0, w1, lw0, lw1 = _source_indices(x.shape[-1], width)
    top, bottom = x[..., h0, :], x[..., h1, :]  # (..., height, W)
    # lh0 * (lw0 * x00 + lw1 * x01) + lh1 * (lw0 * x10 + lw1 * x11), fused as PyTorch's loop
    top = _fma(lw0, top[..., w0], lw1 * top[..., w1])
    bottom = _fma(lw0, bottom[..., w0], lw1 * bottom[..., w1])
    return _fma(lh0[:, None], top, lh1[:, None] * bottom)
