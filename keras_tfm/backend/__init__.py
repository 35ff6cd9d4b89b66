"""Backend shim: the one place that knows which framework Keras runs on.

The module for the active backend (``KERAS_BACKEND``: torch, tensorflow or jax) is
picked once at import; each module defines the same functions:

- ``is_tensor(x)``: whether ``x`` is a tensor of this backend.
- ``to_numpy(x)``: a numpy array from a backend tensor.
- ``inference_mode()``: a context manager that turns off gradient tracking.
- ``concrete_int(x)``: a 0-d tensor's value as an int when it is known now, None while the ops
  are traced for compilation (data-dependent lengths: ViLT's patch count).
- ``numpy_function(fn, inputs, outputs)``: ``fn`` run on the host on numpy values of ``inputs``
  (also inside jax.jit / tf.function), its results (``outputs``: their shapes and dtypes) as
  tensors; not differentiable (DETR's Hungarian matching).
- ``compile_function(fn)``: ``fn(values, tensors)`` (weights, dict of inputs) compiled for
  repeated calls with one input signature (names, shapes, dtypes of ``tensors``).
- ``cache_zeros(shape, dtype)``, ``cache_update(cache, update, index)``,
  ``cache_reorder(cache, index)``, ``cache_grow(cache, slots)``: a static KV-cache tensor
  (B, N, S, H) in the container the backend updates fastest, its write of (B, N, T, H) at
  slot ``index`` (axis 2), its batch-row gather, and a copy of it with ``slots`` slots (the
  new ones zero) in the same container.
- ``compile_prefill_step(model, fn)``, ``compile_decode_step(model, fn)``: the model
  functions of ``generate()`` (the prompt pass; a decode step, or a loop of them), compiled
  the way that is fastest on the backend.
- ``FUSED_ATTENTION``: whether ``keras.ops.dot_product_attention`` is the backend's fused
  kernel (torch's SDPA); else decoder attention is written out for the compiler to fuse.
- ``head_by_head_attention(q, k, v, key_valid, scale)``: attention one (batch, head) at a
  time, where that beats all heads at once for long inputs (JAX); None elsewhere.
- ``COMPILED_LOOPS``: whether a compiled step may hold a loop (XLA): greedy decoding then
  runs many steps per call.
- ``shapes_only(fn)``: runs ``fn()`` for its side effects on the model (the variables it creates)
  where the backend can trace it without computing (JAX: ``jax.eval_shape``: no XLA compilation, no
  buffers); elsewhere runs it.
- ``decode_matmul(a, b)``: ``a @ b`` where one side is a few rows (a decode step's Dense layers and
  tied head), computed so that it uses every core: TensorFlow's XLA keeps it a library call (not
  fused with the add after it) in the generation steps; torch on CPU, without gradients, splits the
  long side into one slice per thread.
"""

import importlib

import keras

from keras_tfm.backend.tensors import to_framework_tensor  # noqa: F401

BACKEND = keras.backend.backend()
if BACKEND not in ("torch", "tensorflow", "jax"):
    raise ImportError(
        f"keras_tfm supports KERAS_BACKEND=torch, tensorflow or jax; Keras is set to {BACKEND!r}."
    )

_impl = importlib.import_module(f"keras_tfm.backend.{BACKEND}")
is_tensor = _impl.is_tensor
to_numpy = _impl.to_numpy
inference_mode = _impl.inference_mode
concrete_int = _impl.concrete_int
numpy_function = _impl.numpy_function
compile_function = _impl.compile_function
cache_update = _impl.cache_update
compile_decode_step = _impl.compile_decode_step
compile_prefill_step = _impl.compile_prefill_step
cache_zeros = _impl.cache_zeros
COMPILED_LOOPS = _impl.COMPILED_LOOPS
FUSED_ATTENTION = _impl.FUSED_ATTENTION
head_by_head_attention = _impl.head_by_head_attention
cache_reorder = _impl.cache_reorder
shapes_only = _impl.shapes_only
cache_grow = _impl.cache_grow
decode_matmul = _impl.decode_matmul
