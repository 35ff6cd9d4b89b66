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
