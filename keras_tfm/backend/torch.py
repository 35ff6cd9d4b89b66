"""PyTorch backend functions (see keras_tfm/backend/__init__.py)."""

import torch


def is_tensor(x):
    return isinstance(x, torch.Tensor)


def to_numpy(x):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.dtype == torch.bfloat16:  # numpy has no bfloat16: go through float32
            x = x.float()
        return x.numpy()
    return x


def inference_mode():
    return torch.no_grad()


def compile_function(fn):
    # torch.compile costs minutes on CPU for small gains in eager-friendly models;
    # eager calls already run on fused kernels (scaled_dot_product_attention).
    return fn


def cache_update(cache, update, index):
    # Eager torch: write the new keys/values in place (no copy of the whole cache per step).
    start = int(index)
    cache[:, start : start + update.shape[1]] = update.to(cache.dtype)
    return cache


def compile_decode_step(model, fn):
    """``fn(cache, *inputs)`` (which calls ``model``) for repeated generation steps.

    Eager: the in-place cache write and SDPA leave little for torch.compile to win on CPU,
    where it costs minutes of compilation.
    """
    return fn
