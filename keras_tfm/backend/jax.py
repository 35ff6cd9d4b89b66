"""JAX backend functions (see keras_tfm/backend/__init__.py)."""

import contextlib

import jax
import numpy as np


def is_tensor(x):
    return isinstance(x, jax.Array)


def to_numpy(x):
    return np.asarray(x) if isinstance(x, jax.Array) else x


def inference_mode():
    return contextlib.nullcontext()


def compile_function(fn):
    return jax.jit(fn)
