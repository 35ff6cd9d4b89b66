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


def cache_zeros(shape, dtype):
    """A KV-cache tensor held in a ``tf.Variable``.

    A cache passed into an XLA program as a tensor and returned updated is copied whole at
    every step (TF has no buffer donation). A variable's update inside the program may
    reuse its buffer, so one step writes only its new keys and values.
    """
    return tf.Variable(tf.zeros(shape, dtype=dtype), trainable=False)


def cache_update(cache, update, index):
    import keras

    start = [0, index] + [0] * (len(cache.shape) - 2)
    updated = keras.ops.slice_update(tf.convert_to_tensor(cache), start, keras.ops.cast(update, cache.dtype))
    if isinstance(cache, tf.Variable):
        cache.assign(updated)
    return updated


def cache_reorder(cache, index):
    rows = tf.gather(cache, index, axis=0)
    if isinstance(cache, tf.Variable):
        cache.assign(rows)
        return cache
    return rows


def compile_decode_step(model, fn):
    """``fn(cache, *inputs)`` (which calls ``model``) as one XLA program per input shape.

    The step index is a tensor, so decode steps never retrace. ``cache`` holds the
    ``tf.Variable``s of ``cache_zeros`` (kept so by ``cache_reorder``): they are passed by
    reference and updated in place, so the program returns the logits only, and the
    caller's cache is the updated one.
    """
    logits_only = tf.function(lambda cache, *inputs: fn(cache, *inputs)[0], jit_compile=True,
                              reduce_retracing=False)
    return lambda cache, *inputs: (logits_only(cache, *inputs), cache)


# The prompt pass is compiled as the decode step is (one program per prompt shape).
compile_prefill_step = compile_decode_step
