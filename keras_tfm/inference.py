"""Compiled inference: a model's forward pass, compiled once per input shape for the active backend.

```python
model = keras_tfm.AutoModel.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")
forward = keras_tfm.inference.compiled_forward(model)
out = forward(input_ids=ids, attention_mask=mask)  # a ModelOutput, as model(...) returns
```

The forward pass is written as a pure function of the model's variables and the inputs
(the model called in a ``keras.StatelessScope`` that maps each variable to an
argument), then handed to ``backend.compile_function``:

- JAX: ``jax.jit``; the variables are arguments of the compiled function, not constants
  baked into it, so assigning new weights needs no recompilation. On CPU, XLA is asked
  for oneDNN matmuls (``keras_tfm/backend/jax.py``).
- TensorFlow: ``tf.function(jit_compile=True)``, called through its concrete function:
  XLA was faster than plain ``tf.function`` on CPU (``benchmarks/README.md``).
- PyTorch: traced with ``torch.jit.trace`` at the second call of a shape (the weights
  are inputs of the trace), so that Keras' per-layer Python runs once per shape instead
  of at every call; ``torch.compile`` did not pay for itself on CPU (minutes of
  compilation for about 10%).

On every backend it also calls ``tune_allocator()`` (see there): most of the
speed-up over a plain eager call on torch and JAX comes from not page-faulting the
intermediate tensors in again on every call.

Tensor inputs are traced; other keyword arguments (``output_hidden_states=True``...)
are static. Each distinct set of static arguments and input shapes (and dtypes) gets its
own compiled function, made once and reused: callers that pad their inputs to a few
shapes (the pipelines do) compile a few times. An ``attention_mask`` of all
ones is dropped, as ``transformers`` does (the same result, without the masking work).
"""

import ctypes
import inspect
import logging
import os
from collections.abc import Mapping

import keras
import numpy as np

from keras_tfm import backend

logger = logging.getLogger(__name__)

__all__ = ["compiled_forward", "CompiledForward", "tune_allocator"]


def compiled_forward(model, tune_malloc=True):
    """Returns ``f(**inputs) -> ModelOutput``: ``model``'s inference forward pass, compiled.

    Args:
        model: a ``PreTrainedModel`` (any Keras model whose ``call`` takes keyword inputs
            and returns a ``ModelOutput`` or a dict of tensors).
        tune_malloc: call ``tune_allocator()`` (glibc keeps freed memory for reuse
            instead of handing it back to the OS after every call); process-wide.

    Returns:
        A ``CompiledForward``, called like the model: ``f(input_ids=..., attention_mask=...)``
        with numpy arrays, lists or backend tensors; it returns backend tensors. Dropout
        is off (``training=False``).
    """
    if tune_malloc:
        tune_allocator()
    return CompiledForward(model)


_ALLOCATOR_TUNED = False


def tune_allocator(mmap_threshold=256 << 20, trim_threshold=1 << 30):
    """Makes glibc's malloc keep large freed blocks for reuse (Linux only; process-wide, once).

    By default glibc serves blocks above a (dynamic) threshold with fresh ``mmap`` pages
    and trims the heap's free top back to the OS, so each forward pass page-faults its
    intermediate tensors in again (tens of thousands of faults per call for a small
    BERT at batch 32 x 128, mostly on the torch backend and in eager JAX). Raising both
    thresholds keeps those pages: the process's RSS stays at its peak working set
    instead of shrinking between calls. Same as ``MALLOC_MMAP_THRESHOLD_`` /
    ``MALLOC_TRIM_THRESHOLD_`` in the environment. Returns whether it was applied.

    Applied at every call (two ``mallopt`` calls): others set these too. TensorFlow's
    ``Dataset.from_generator`` sets the mmap threshold to 128 KiB when its iterator starts
    (a Python 3.11 workaround of TF's); on the torch backend every large tensor of a
    training step was then ``mmap``-ed afresh (10x the page faults, a step 1.5x slower),
    which is why keras_tfm's own ``tf.data`` pipelines do not use it.
    ``compiled_forward``, ``fit`` and ``Trainer.train`` call this.
    """
    if not _glibc():
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        logger.debug("tune_allocator: MALLOC_*_THRESHOLD_ set in the environment; left as is.")
        return False
    try:
        libc = ctypes.CDLL(None)
        m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
        ok = libc.mallopt(m_mmap_threshold, int(mmap_threshold)) == 1
        ok = libc.mallopt(m_trim_threshold, int(trim_threshold)) == 1 and ok
    except (OSError, AttributeError) as e:
        logger.debug("tune_allocator: mallopt unavailable (%s)", e)
        return False
    logger.debug("tune_allocator: mmap threshold %d, trim threshold %d: %s", mmap_threshold, trim_threshold, ok)
    return ok


def _glibc():
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):
        return False


def _is_tensor_input(value):
    return isinstance(value, (np.ndarray, list, tuple)) or backend.is_tensor(value)


def _all_ones(mask):
    mask = np.asarray(backend.to_numpy(mask) if backend.is_tensor(mask) else mask)
    return mask.size > 0 and bool(np.all(mask == 1))


def _as_tensor(value):
    if isinstance(value, (list, tuple)):
        value = np.asarray(value)
    if isinstance(value, np.ndarray) and value.dtype == np.int64:
        value = value.astype("int32")  # as PreTrainedModel.__call__ does
    return keras.ops.convert_to_tensor(value)


try:  # the scopes under which a Keras variable's value is not its stored value
    from keras.src.backend.common.global_state import get_global_attribute as _keras_global
except ImportError:  # pragma: no cover - another Keras layout: read through `.value`
    _keras_global = None


def _read_values(variables):
    """``[v.value for v in variables]``, the variables' current values.

    Outside a stateless or autocast scope (the usual case) ``v.value`` is the stored
    ``v._value``; reading that directly skips Keras' scope lookups, a few microseconds per
    variable at every call (0.1-0.4 ms per call for a small BERT).
    """
    if _keras_global is None or _keras_global("stateless_scope") is not None or \
            _keras_global("autocast_scope") is not None:
        return [v.value for v in variables]
    values = [getattr(v, "_value", None) for v in variables]
    return [v.value for v in variables] if any(value is None for value in values) else values


class CompiledForward:
    """The callable ``compiled_forward`` returns: one compiled function per set of static arguments and input shapes."""

    def __init__(self, model):
        if hasattr(model, "build_weights"):
            model.build_weights()
        if not model.built:
            raise ValueError(f"compiled_forward: {type(model).__name__} is not built; call it once on an input first.")
        self.model = model
        self._signature = inspect.signature(model.call)
        self._parameters = set(self._signature.parameters)
        self._takes_any_keyword = any(p.kind == p.VAR_KEYWORD for p in self._signature.parameters.values())
        self._variables = list(model.trainable_variables) + list(model.non_trainable_variables)
        self._compiled = {}  # (static kwargs, input signature) -> compiled function
        self._output_class = {}  # static kwargs -> class of the model's output, seen while tracing

    def _compile(self, static):
        model, key, variables = self.model, tuple(sorted(static.items())), self._variables

        def forward(values, tensors):
            # The model's own __call__ (input conversion, autocast), reading variables from `values`.
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                outputs = model(**tensors, **static, training=False)
            self._output_class[key] = type(outputs)
            # A plain dict: a ModelOutput subclass is no JAX pytree and tf.nest cannot rebuild it.
            return dict(outputs) if isinstance(outputs, Mapping) else outputs

        logger.debug("compiled_forward: compiling %s with %s", type(model).__name__, static or "no static arguments")
        return backend.compile_function(forward)

    def compiled_function(self, **kwargs):
        """The compiled function a call with ``kwargs`` runs (compiled now if it is new)."""
        tensors, static = self._split(kwargs)
        return self._compiled_for(tensors, static)[1]

    def _bind(self, args, kwargs):
        if not args and (self._takes_any_keyword or self._parameters.issuperset(kwargs)):
            return kwargs  # keyword arguments only: nothing to bind
        try:
            return self._signature.bind_partial(*args, **kwargs).arguments
        except TypeError as e:
            raise TypeError(f"compiled_forward({type(self.model).__name__}): {e}") from None

    def _split(self, arguments):
        """(tensor inputs, static arguments) of a call."""
        tensors, static = {}, {}
        for name, value in arguments.items():
            if name == "training" and value:
                raise ValueError("compiled_forward runs inference only: training=True is not supported.")
            if name == "training":
                continue
            if name == "attention_mask" and _is_tensor_input(value) and _all_ones(value):
                continue  # as transformers does: a mask of ones is no mask, and the unmasked kernels are faster
            if _is_tensor_input(value):
                tensors[name] = _as_tensor(value)
            elif value is not None:
                try:
                    hash(value)
                except TypeError:
                    raise TypeError(
                        f"compiled_forward: argument {name}={value!r} is neither a tensor nor a hashable "
                        "constant (bool, int, str); pass tensors as numpy arrays or backend tensors."
                    ) from None
                static[name] = value
        return tensors, static

    def _compiled_for(self, tensors, static):
        static_key = tuple(sorted(static.items()))
        inputs_key = tuple((name, tuple(t.shape), str(t.dtype)) for name, t in sorted(tensors.items()))
        fn = self._compiled.get((static_key, inputs_key))
        if fn is None:
            fn = self._compiled[(static_key, inputs_key)] = self._compile(static)
        return static_key, fn

    def __call__(self, *args, **kwargs):
        return_dict = kwargs.pop("return_dict", None)
        tensors, static = self._split(self._bind(args, kwargs))
        key, fn = self._compiled_for(tensors, static)
        values = _read_values(self._variables)  # read each call: assigned weights are used
        with backend.inference_mode():
            outputs = fn(values, tensors)
        cls = self._output_class.get(key)
        if cls is not None and cls is not dict and isinstance(outputs, Mapping):
            outputs = cls(**outputs)
        return outputs.to_tuple() if return_dict is False and hasattr(outputs, "to_tuple") else outputs
