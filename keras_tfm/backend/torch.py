"""PyTorch backend functions (see keras_tfm/backend/__init__.py)."""

import logging
import warnings

import keras
import numpy as np
import torch

logger = logging.getLogger(__name__)


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


def concrete_int(x):
    """The int value of a 0-d tensor known now, or None while ``torch.jit.trace`` / ``torch.compile``
    records the ops (a value read there would be baked into the trace as a constant)."""
    if torch.jit.is_tracing() or torch.compiler.is_compiling():
        return None
    return int(x)


def numpy_function(fn, inputs, outputs):
    """``fn`` (numpy in, numpy out) on the values of ``inputs``; ``outputs``: its results' (shape, dtype).

    Eager torch: called directly (the host has the values), results as tensors on the device
    of ``inputs[0]``.
    """
    results = fn(*[to_numpy(x) for x in inputs])
    device = inputs[0].device if isinstance(inputs[0], torch.Tensor) else None
    return [torch.as_tensor(np.asarray(r, dtype=dtype), device=device) for r, (_, dtype) in zip(results, outputs)]


def compile_function(fn):
    """``fn(values, tensors)`` for one input signature, traced into a TorchScript graph at its second call.

    Eager Keras costs tens of microseconds of Python per layer call, most of a forward pass
    of a small model at batch 1. The trace records the torch ops once and replays them
    without Python; ``values`` (the weights) are inputs of the trace, so assigned weights
    are used. The first call runs eagerly, so a signature seen once costs no trace (a trace
    costs about as much as 5-20 eager calls). The trace is replayed without the graph
    executor's optimizing passes: their first, profiling calls were slower than eager ones,
    and the plain replay runs the recorded kernels, as eager does. (torch.compile costs
    minutes on CPU for small gains.) Shapes are constants of a trace: the caller makes one
    compiled function per input signature (``keras_tfm/inference.py``).
    """
    return _TracedAtSecondCall(fn)


class _TracedAtSecondCall:
    def __init__(self, fn):
        self.fn = fn
        self.calls = 0
        self.traced = None

    def __call__(self, values, tensors):
        values = tuple(values)
        if self.traced is None:
            self.calls += 1
            if self.calls < 2:
                return self.fn(values, tensors)
            self.traced = _trace(self.fn, (values, tensors), what="the forward pass", fallback="running it eagerly")
        with torch.jit.optimized_execution(False):
            return self.traced(values, tensors)


# A traced decode step cannot hold a loop of a data-dependent length: one step per call.
COMPILED_LOOPS = False


# Attention runs in SDPA (keras.ops.dot_product_attention), torch's fused kernel.
# Attention one head at a time: JAX only (see backend/jax.py).
head_by_head_attention = None

FUSED_ATTENTION = True


def shapes_only(fn):
    fn()  # the deferred variables hold never-written torch.empty memory: a real pass on them is cheap


def cache_zeros(shape, dtype):
    return keras.ops.zeros(shape, dtype=dtype)  # on Keras' device (CUDA where it runs)


def cache_update(cache, update, index):
    # In place (no copy of the whole cache per step), at a slot index that stays a tensor so
    # that a traced decode step reads it at every call instead of freezing its first value.
    index = torch.as_tensor(index, device=cache.device).reshape(())
    slots = index + torch.arange(update.shape[2], device=cache.device)
    return cache.index_copy_(2, slots, update.to(cache.dtype))


def cache_grow(cache, slots):
    return torch.nn.functional.pad(cache, (0, 0, 0, slots - cache.shape[2]))


def cache_reorder(cache, index):
    # In place: the step traced for this cache keeps reading the same storage.
    return cache.copy_(cache.index_select(0, torch.as_tensor(index, device=cache.device)))


# A product with at most this many rows (or columns) is split across threads by `decode_matmul`:
# measured on 2 cores, the split gains 30-50% up to 16 rows and nothing from 32.
FEW_ROWS = 16


def decode_matmul(a, b):
    """``a @ b`` where one side is a few rows: a decode step's Dense layers (``a``: B tokens) or its
    tied head (``b``: B hidden states as columns).

    Torch's CPU BLAS runs such a product on one thread, or on several poorly: a GPT-2 head
    (50257 x 768 against one vector) reads its table at 13 GB/s on 2 cores, half the speed of one
    core reading it in the other layout. Split into one slice of the long side per thread and
    multiplied as a batch (bmm runs one slice per thread), the same products took a GPT-2 124M
    decode step from 23.5 to 37 tokens/s at batch 1. Only in float32 (in bf16 the split products
    were 2.4x slower), on CPU, without gradients (inference: training keeps torch's matmul), with
    more than one thread; otherwise Keras' matmul.
    """
    a, b = keras.ops.convert_to_tensor(a), keras.ops.convert_to_tensor(b)
    threads = torch.get_num_threads()
    if (threads < 2 or torch.is_grad_enabled() or a.device.type != "cpu" or b.ndim != 2
            or a.dtype != torch.float32 or b.dtype != torch.float32):
        return keras.ops.matmul(a, b)
    rows = a.numel() // a.shape[-1]
    if rows <= FEW_ROWS:  # a Dense layer on a few tokens: slices of the kernel's columns
        return _split_columns(a.reshape(rows, a.shape[-1]), b, threads).reshape(*a.shape[:-1], b.shape[1])
    if a.ndim == 2 and b.shape[1] <= FEW_ROWS:  # a table against a few vectors: slices of the table's rows
        return _split_rows(a, b, threads)
    return keras.ops.matmul(a, b)


def _split_columns(x, w, threads):
    """``x (R, K) @ w (K, N)`` with ``w``'s columns in ``threads`` equal slices (views, no copy) multiplied
    as one batch; the ``N % threads`` last columns on their own."""
    n = w.shape[1] // threads * threads
    slices = w[:, :n].unflatten(1, (threads, n // threads)).transpose(0, 1)
    y = torch.bmm(x.expand(threads, -1, -1), slices).transpose(0, 1).reshape(x.shape[0], n)
    return y if n == w.shape[1] else torch.cat([y, x @ w[:, n:]], 1)


def _split_rows(w, x, threads):
    """``w (N, K) @ x (K, R)`` with ``w``'s rows in ``threads`` equal slices (views) multiplied as one batch;
    the ``N % threads`` last rows on their own. (For a table, 1.3x faster than slicing ``w.T``'s columns.)"""
    n = w.shape[0] // threads * threads
    y = torch.bmm(w[:n].unflatten(0, (threads, n // threads)), x.expand(threads, -1, -1)).reshape(n, x.shape[1])
    return y if n == w.shape[0] else torch.cat([y, w[n:] @ x], 0)


def compile_decode_step(model, fn):
    """``fn(cache, *inputs)`` (which calls ``model``) traced into a TorchScript graph per input shape.

    A decode step of a 124M model is ~300 small ops for one token: run eagerly, Keras'
    per-op dispatch cost about as much as the matmuls. The trace records the torch ops
    once and replays them without Python. The weights are inputs of the trace (read at
    every call, as on JAX), so a model trained or reloaded after the trace generates with
    its new weights; the cache is written in place.
    """
    variables = list(model.trainable_variables) + list(model.non_trainable_variables)

    def pure(values, structure, tensors, *inputs):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            logits, new_cache = fn(structure.from_tensors(tensors), *inputs)
        return logits, new_cache.tensors()

    traces = {}

    def step(cache, *inputs):
        # The trace takes the cache (a KVCache) as its flat tuple of tensors.
        values = tuple(v.value for v in variables)
        key = tuple((tuple(x.shape), x.dtype) for x in inputs) + cache.trace_key()
        traced = traces.get(key)
        if traced is None:
            traced = traces[key] = _trace(lambda v, t, *i: pure(v, cache, t, *i), (values, cache.tensors(), *inputs))
        logits, tensors = traced(values, cache.tensors(), *inputs)
        return logits, cache.from_tensors(tensors)

    return step


def _trace(fn, example, what="the decode step", fallback="generating eagerly"):
    """``torch.jit.trace(fn)``, or ``fn`` itself where tracing fails (deprecated in torch, gone on Python 3.14)."""
    try:
        with warnings.catch_warnings():  # TracerWarnings (shapes are fixed per trace on purpose), deprecation
            warnings.simplefilter("ignore")
            return torch.jit.trace(fn, example, check_trace=False, strict=False)
    except Exception as error:  # eager computes the same, only slower
        logger.warning("Could not trace %s (%s); %s.", what, error, fallback)
        return fn


def compile_prefill_step(model, fn):
    """The prompt pass: eager, as a new prompt length would need a new trace (one more forward pass)."""
    return fn
