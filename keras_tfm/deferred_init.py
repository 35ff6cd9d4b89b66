"""Loading without drawing random weights first.

``from_pretrained`` builds a model, then overwrites nearly every variable from the checkpoint.
Drawing their random initial values first is wasted work, and on JAX each new shape of a random
initializer is an XLA compilation (half of a small vision model's load time). Inside
``deferred_initialization()`` every variable created with a Keras initializer starts as host zeros
and keeps its initializer; ``initialize_deferred(variables)`` then draws the real initial values
of those the checkpoint did not fill (a new head, reinitialised mismatched sizes), as HF does.
"""

import contextlib
import threading

import keras
import numpy as np
from keras.src.backend.common.variables import Variable as _KerasVariable

_state = threading.local()
_ATTRIBUTE = "_keras_tfm_initializer"


@contextlib.contextmanager
def deferred_initialization():
    """Variables created in this block (this thread) start as zeros; see the module docstring."""
    _install()
    previous = getattr(_state, "active", False)
    _state.active = True
    try:
        yield
    finally:
        _state.active = previous


def initialize_deferred(variables):
    """Draws the deferred initial value of each of ``variables`` that has one."""
    for variable in variables:
        initializer = getattr(variable, _ATTRIBUTE, None)
        if initializer is not None:
            variable.assign(initializer(variable.shape, dtype=variable.dtype))
            setattr(variable, _ATTRIBUTE, None)


def forget_deferred(variables):
    """Drops the kept initializers (the checkpoint filled these variables)."""
    for variable in variables:
        if getattr(variable, _ATTRIBUTE, None) is not None:
            setattr(variable, _ATTRIBUTE, None)


def _install():
    if getattr(_KerasVariable, "_keras_tfm_deferred", False):
        return
    original = _KerasVariable.__init__

    def __init__(self, initializer, *args, **kwargs):
        deferred = None
        if getattr(_state, "active", False) and isinstance(initializer, keras.initializers.Initializer):
            deferred, initializer = initializer, _zeros_like_initializer(initializer)
        original(self, initializer, *args, **kwargs)
        if deferred is not None:
            setattr(self, _ATTRIBUTE, deferred)

    _KerasVariable.__init__ = __init__
    _KerasVariable._keras_tfm_deferred = True


def _zeros_like_initializer(initializer):
    def zeros(shape, dtype=None):
        try:
            return np.zeros(shape, dtype=np.dtype(dtype or "float32"))
        except TypeError:  # a dtype numpy does not name (bfloat16 without ml_dtypes): draw it for real
            return initializer(shape, dtype=dtype)

    return zeros
