"""TensorFlow backend functions (see keras_tfm/backend/__init__.py)."""

import contextlib
import contextvars

import keras
import numpy as np
import tensorflow as tf

try:  # TF's own binding of XLA's optimization barrier (not exported under tf.*)
    from tensorflow.compiler.tf2xla.python.xla import optimization_barrier as _xla_barrier
except ImportError:  # pragma: no cover - a TF without it: dots stay fusible
    _xla_barrier = None

# True while a generation step is traced for XLA (the only place `decode_matmul` adds its barrier).
_tracing_generation_step = contextvars.ContextVar("keras_tfm_tracing_generation_step", default=False)


def is_tensor(x):
    return tf.is_tensor(x)


def to_numpy(x):
    return x.numpy() if tf.is_tensor(x) else x


def inference_mode():
    return contextlib.nullcontext()


def concrete_int(x):
    """The int value of a 0-d tensor known now (eager, or a constant of a graph), or None in a graph."""
    value = tf.get_static_value(x)
    return None if value is None else int(value)


def numpy_function(fn, inputs, outputs):
    """``fn`` (numpy in, numpy out) on the values of ``inputs``; ``outputs``: its results' (shape, dtype).

    Eagerly: called directly. Inside a ``tf.function``: ``tf.numpy_function`` (a host op; a
    ``None`` in a shape is a dimension known only when it runs).
    """
    def host(*args):
        return [np.asarray(r, dtype=dtype) for r, (_, dtype) in zip(fn(*args), outputs)]

    if tf.executing_eagerly():
        return [tf.convert_to_tensor(r) for r in host(*[to_numpy(x) for x in inputs])]
    results = tf.numpy_function(host, list(inputs), [tf.as_dtype(dtype) for _, dtype in outputs], stateful=False)
    for result, (shape, _) in zip(results, outputs):
        result.set_shape(shape)
    return list(results)


def compile_function(fn):
    """``fn(values, tensors)`` for one input signature, compiled by XLA and called through its concrete function.

    A ``tf.function`` call matches the trace type of every argument first (a few
    microseconds per weight: a millisecond for a small BERT); the concrete function,
    fetched at the first call, takes the arguments as they are. The caller makes one
    compiled function per input signature (``keras_tfm/inference.py``).
    """
    function = tf.function(fn, jit_compile=True)
    concrete = []

    def call(values, tensors):
        if not concrete:
            concrete.append(function.get_concrete_function(values, tensors))
        return concrete[0](values, tensors)

    return call


# XLA compiles loops: greedy decoding runs many steps per compiled call (generation/search.py).
COMPILED_LOOPS = True


# No fused attention kernel: keras_tfm/layers/attention.py writes decoder attention out for XLA to fuse.
# Attention one head at a time: JAX only (see backend/jax.py).
head_by_head_attention = None

FUSED_ATTENTION = False


def shapes_only(fn):
    fn()  # a traced graph (tf.function) measured no leaner or faster to load than running it


def cache_zeros(shape, dtype):
    """A KV-cache tensor held in a ``tf.Variable``.

    A cache passed into an XLA program as a tensor and returned updated is copied whole at
    every step (TF has no buffer donation). A variable's update inside the program may
    reuse its buffer, so one step writes only its new keys and values.
    """
    return tf.Variable(tf.zeros(shape, dtype=dtype), trainable=False)


def cache_update(cache, update, index):
    start = [0, 0, index, 0]
    return keras.ops.slice_update(tf.convert_to_tensor(cache), start, keras.ops.cast(update, cache.dtype))


def cache_grow(cache, slots):
    grown = tf.pad(cache, [(0, 0), (0, 0), (0, slots - cache.shape[2]), (0, 0)])
    return tf.Variable(grown, trainable=False) if isinstance(cache, tf.Variable) else grown


def cache_reorder(cache, index):
    rows = tf.gather(cache, index, axis=0)
    if isinstance(cache, tf.Variable):
        cache.assign(rows)
        return cache
    return rows


def decode_matmul(a, b):
    """``a @ b``, kept out of XLA's CPU output fusion in the generation steps.

    XLA on CPU fuses a matrix-vector dot with the add after it (bias, residual) into one
    loop, and that loop runs on one thread; the dot alone is a library call on every core.
    A batch-1 decode step is mostly such dots: the barrier took a GPT-2 124M step from 35.5
    to 30.5 ms on 2 cores. Only while a generation step is traced: the barrier has no
    gradient and no kernel outside XLA.
    """
    x = keras.ops.matmul(a, b)
    if _xla_barrier is None or not _tracing_generation_step.get():
        return x
    return _xla_barrier(x)[0]


def _generation_trace(fn):
    def traced(*args):
        token = _tracing_generation_step.set(True)
        try:
            return fn(*args)
        finally:
            _tracing_generation_step.reset(token)

    return traced


def compile_decode_step(model, fn):
    """``fn(cache, *inputs)`` (which calls ``model``) as one XLA program per input shape.

    The step index is a tensor, so decode steps never retrace. ``cache`` holds the
    ``tf.Variable``s of ``cache_zeros`` (kept so by ``cache_reorder``): the program assigns
    ``fn``'s new cache to them, in place (XLA writes only the new slots), and returns the
    rest of ``fn``'s result; the caller's cache is the updated one.

    Each signature's concrete function is called directly: ``tf.function``'s own dispatch
    (matching some 30 arguments, 24 of them variables, to a trace) cost 1-2 ms of a 30 ms
    GPT-2 step.
    """

    def assign_cache(cache, *inputs):
        out, new_cache = fn(cache, *inputs)
        for variable, value in zip(cache.tensors(), new_cache.tensors()):
            variable.assign(value)
        return out

    program = tf.function(_generation_trace(assign_cache), jit_compile=True, reduce_retracing=False)
    traces = {}

    def step(cache, *inputs):
        key = tuple((tuple(t.shape), t.dtype) for t in inputs) + cache.trace_key()
        traced = traces.get(key)
        if traced is None:
            traced = traces[key] = program.get_concrete_function(cache, *inputs)
        return traced(cache, *inputs), cache

    return step


# The prompt pass is compiled as the decode step is (one program per prompt shape).
compile_prefill_step = compile_decode_step
