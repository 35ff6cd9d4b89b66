"""JAX backend functions (see keras_tfm/backend/__init__.py)."""

import contextlib

import jax
import keras
import numpy as np


def is_tensor(x):
    return isinstance(x, jax.Array)


def to_numpy(x):
    return np.asarray(x) if isinstance(x, jax.Array) else x


def inference_mode():
    return contextlib.nullcontext()


def concrete_int(x):
    """The int value of a 0-d array known now, or None under ``jax.jit`` (a tracer)."""
    return None if isinstance(x, jax.core.Tracer) else int(x)


def numpy_function(fn, inputs, outputs):
    """``fn`` (numpy in, numpy out) on the values of ``inputs``; ``outputs``: its results' (shape, dtype).

    ``jax.pure_callback``: runs on the host inside ``jax.jit`` too (shapes must be static).
    """
    specs = tuple(jax.ShapeDtypeStruct(tuple(shape), dtype) for shape, dtype in outputs)

    def host(*args):
        return tuple(np.asarray(r, dtype=dtype) for r, (_, dtype) in zip(fn(*args), outputs))

    return list(jax.pure_callback(host, specs, *inputs))


# On CPU, XLA's oneDNN matmuls ran BERT-sized dots faster than its default library (YNNPACK):
# about 8% on all-MiniLM-L6-v2 at batch 32 x 128 (benchmarks/README.md). Per-program options,
# so nothing process-wide changes; probed once, dropped if this XLA does not know them.
# Not "xla_cpu_experimental_onednn_fusion_type": "LIBRARY_FUSION_TYPE_DOT": on jaxlib 0.10.2 its
# fusion of two dots and a multiply (T5 / BART decoders) fails to compile ("partition compile
# failed") and the program then dies of SIGILL.
_CPU_COMPILER_OPTIONS = {
    "xla_cpu_use_onednn": True,
}
_compiler_options = None


def _cpu_compiler_options():
    global _compiler_options
    if _compiler_options is None:
        _compiler_options = {}
        if jax.default_backend() == "cpu":
            try:
                x = np.ones((8, 8), np.float32)
                jax.jit(lambda a: a @ a, compiler_options=_CPU_COMPILER_OPTIONS).lower(x).compile()
                _compiler_options = dict(_CPU_COMPILER_OPTIONS)
            except Exception:  # an XLA without these options: its defaults are fine
                pass
    return _compiler_options


def jit(fn, **kwargs):
    """``jax.jit(fn, **kwargs)`` with the CPU compiler options above where this XLA has them."""
    options = _cpu_compiler_options()
    return jax.jit(fn, compiler_options=options, **kwargs) if options else jax.jit(fn, **kwargs)


def compile_function(fn):
    """``fn(values, tensors)`` jitted; the caller makes one per input signature (``keras_tfm/inference.py``)."""
    return jit(fn)


# XLA compiles loops: greedy decoding runs many steps per compiled call (generation/search.py).
COMPILED_LOOPS = True


# No fused attention kernel on CPU: keras_tfm/layers/attention.py writes decoder attention out for XLA to fuse.
FUSED_ATTENTION = False


def head_by_head_attention(q, k, v, key_valid, scale):
    """softmax(q k^T * scale) v for q (B, T, N, H), k, v (B, S, N, H), one (batch, head) at a time
    under ``lax.map``; ``key_valid`` (B|1, S) bool or None.

    Written out over all heads at once, XLA on CPU materialises the (B, N, T, S) scores and reads
    them back for the max, the exp, the sum and the value product: for long inputs (Whisper's 1500
    positions) that memory traffic is most of the time, ~3x torch's fused kernel. One head's scores
    stay in cache. The softmax's division is applied to the (T, H) output instead of the (T, S)
    probabilities.
    """
    import jax
    import jax.numpy as jnp

    b, t, n, h = q.shape
    s = k.shape[1]

    def heads(x, length):
        return jnp.transpose(x, (0, 2, 1, 3)).reshape(b * n, length, h)

    def one(args):
        q_head, k_head, v_head, valid = args
        scores = jnp.matmul(q_head, k_head.T).astype("float32") * scale
        if valid is not None:
            scores = jnp.where(valid, scores, -1e9)
        e = jnp.exp(scores - jnp.max(scores, axis=-1, keepdims=True))
        y = jnp.matmul(e, v_head.astype("float32")) / jnp.sum(e, axis=-1, keepdims=True)
        return y.astype(q_head.dtype)

    valid = None
    if key_valid is not None:
        valid = jnp.broadcast_to(key_valid[:, None, None, :], (b, n, 1, s)).reshape(b * n, 1, s)
    y = jax.lax.map(one, (heads(q, t), heads(k, s), heads(v, s), valid))
    return jnp.transpose(y.reshape(b, n, t, h), (0, 2, 1, 3))


def shapes_only(fn):
    jax.eval_shape(fn)


def cache_zeros(shape, dtype):
    return keras.ops.zeros(shape, dtype=dtype)


def cache_grow(cache, slots):
    return keras.ops.pad(cache, [(0, 0), (0, 0), (0, slots - cache.shape[2]), (0, 0)])


def cache_reorder(cache, index):
    return keras.ops.take(cache, index, axis=0)


def cache_update(cache, update, index):
    return keras.ops.slice_update(cache, [0, 0, index, 0], keras.ops.cast(update, cache.dtype))


def decode_matmul(a, b):
    return keras.ops.matmul(a, b)  # XLA's dots on JAX use every core as they are (see tensorflow.py, torch.py)


def compile_decode_step(model, fn):
    """``fn(cache, *inputs)`` (which calls ``model``) jitted as a pure function of the weights.

    The weights are arguments, not constants baked into the program; the cache is donated,
    so XLA updates it in place instead of copying every layer's keys and values each step.
    """
    variables = list(model.trainable_variables) + list(model.non_trainable_variables)

    def pure(values, cache, *inputs):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            return fn(cache, *inputs)

    jitted = jax.jit(pure, donate_argnums=(1,))
    return lambda cache, *inputs: jitted([v.value for v in variables], cache, *inputs)


# The prompt pass is compiled as the decode step is (one program per prompt shape).
compile_prefill_step = compile_decode_step
