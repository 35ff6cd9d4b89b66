"""TensorFlow backend functions (see keras_tfm/backend/__init__.py)."""

import contextlib

import tensorflow as tf


def is_tensor(x):
    return tf.is_tensor(x)


def to_numpy(x):
    return x.numpy() if tf.is_tensor(x) else x


def inference_mode():
    return contextlib.nullcontext()


def compile_function(fn):
    # XLA: one trace per input shape, then fused kernels.
    return tf.function(fn, jit_compile=True, reduce_retracing=True)


def cache_update(cache, update, index):
    import keras

    return keras.ops.slice_update(cache, [0, index] + [0] * (len(cache.shape) - 2), keras.ops.cast(update, cache.dtype))


def compile_decode_step(model, fn):
    """``fn(cache, *inputs)`` (which calls ``model``) as one XLA program per input shape.

    The step index is a tensor, so decode steps never retrace; tf.Variables are captured
    by reference.
    """
    return tf.function(fn, jit_compile=True, reduce_retracing=False)
