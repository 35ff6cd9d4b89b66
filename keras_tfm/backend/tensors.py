"""Conversion of numpy arrays to the tensors a user asks for with ``return_tensors``.

This depends on the framework the user names, not on the Keras backend: a user on the
JAX backend may still ask a tokenizer for PyTorch tensors.
"""

import numpy as np

FRAMEWORKS = ("pt", "tf", "jax", "np")


def to_framework_tensor(array, framework):
    """Returns ``array`` as a tensor of ``framework`` ("pt", "tf", "jax", "np" or None)."""
    if framework is None or framework == "np":
        return np.asarray(array)
    if framework == "pt":
        import torch

        return torch.from_numpy(np.ascontiguousarray(array))
    if framework == "tf":
        import tensorflow as tf

        return tf.convert_to_tensor(array)
    if framework == "jax":
        import jax.numpy as jnp

        return jnp.asarray(array)
    raise ValueError(f"return_tensors={framework!r} is not supported; use one of {FRAMEWORKS}.")
