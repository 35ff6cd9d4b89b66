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


def cache_update(cache, update, index):
    import keras

    return keras.ops.slice_update(cache, [0, index] + [0] * (len(cache.shape) - 2), keras.ops.cast(update, cache.dtype))


def compile_decode_step(model, fn):
    """``fn(cache, *inputs)`` (which calls ``model``) jitted as a pure function of the weights.

    The weights are arguments, not constants baked into the program; the cache is donated,
    so XLA updates it in place instead of copying every layer's keys and values each step.
    """
    import keras

    variables = list(model.trainable_variables) + list(model.non_trainable_variables)

    def pure(values, cache, *inputs):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            return fn(cache, *inputs)

    jitted = jax.jit(pure, donate_argnums=(1,))
    return lambda cache, *inputs: jitted([v.value for v in variables], cache, *inputs)
