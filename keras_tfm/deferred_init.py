"""Loading without drawing random weights first, and without a second copy of the weights in memory.

``from_pretrained`` builds a model, then overwrites nearly every variable from the checkpoint.
Drawing their random initial values first is wasted work (on JAX each new shape of a random
initializer is an XLA compilation: half of a small vision model's load time), and holding any
initial values at all doubles the memory a load needs. Inside ``deferred_initialization()`` every
variable created with a Keras initializer keeps its initializer and starts without a value of
its own:

- on TensorFlow and JAX it has no value yet (Keras' own uninitialised variable: reading it gives
  zeros made for that read, enough for the tiny forward pass that builds the model);
- on torch it holds memory that is never written, so never brought into RAM, until the
  checkpoint's values are copied in (Keras' torch layers keep each variable's tensor).

``fill(variable, value)`` gives a variable its checkpoint value; ``initialize_deferred(variables)``
draws the real initial values of those the checkpoint did not fill (a new head, reinitialised
mismatched sizes), as HF does; ``materialize(variables)`` gives the rest zeros before code that
can only assign (Keras' own ``load_weights``).
"""

import contextlib
import threading

import keras
import numpy as np
from keras.src.backend.common import global_state
from keras.src.backend.common.variables import Variable as _KerasVariable

_state = threading.local()
_ATTRIBUTE = "_keras_tfm_initializer"


@contextlib.contextmanager
def deferred_initialization(active=True):
    """Variables created in this block (this thread) start without values; see the module docstring.
    ``active=False`` suspends that inside an outer block (variables that are assigned at once)."""
    _install()
    previous = deferring()
    _state.active = active
    try:
        yield
    finally:
        _state.active = previous


def deferring():
    """Whether variables created now (in this thread) start without values."""
    return getattr(_state, "active", False)


def has_no_value(variable):
    return getattr(variable, "_value", True) is None


def fill(variable, value):
    """Gives ``variable`` the value ``value`` (an array of its shape), whether it has a value yet or not."""
    if has_no_value(variable):
        variable._initialize(variable._convert_to_tensor(value, dtype=variable.dtype))
        return
    if keras.backend.backend() == "torch" and isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
        import torch

        value = torch.from_numpy(value)  # shares the array: Keras would copy it before copying it in
    variable.assign(value)


def initialize_deferred(variables):
    """Draws the deferred initial value of each of ``variables`` that has one."""
    for variable in variables:
        initializer = getattr(variable, _ATTRIBUTE, None)
        if initializer is not None:
            fill(variable, initializer(variable.shape, dtype=variable.dtype))
            setattr(variable, _ATTRIBUTE, None)


def forget_deferred(variables):
    """Drops the kept initializers (the checkpoint filled these variables)."""
    for variable in variables:
        if getattr(variable, _ATTRIBUTE, None) is not None:
            setattr(variable, _ATTRIBUTE, None)


def materialize(variables):
    """Zeros for each of ``variables`` that has no value yet (its initializer is kept)."""
    for variable in variables:
        if has_no_value(variable):
            fill(variable, np.zeros(variable.shape, dtype=keras.backend.standardize_dtype(variable.dtype)))


def _install():
    if getattr(_KerasVariable, "_keras_tfm_deferred", False):
        return
    original = _KerasVariable.__init__

    def __init__(self, initializer, *args, **kwargs):
        if not (deferring() and isinstance(initializer, keras.initializers.Initializer)):
            return original(self, initializer, *args, **kwargs)
        placeholder = _placeholder_initializer(initializer)
        if keras.backend.backend() == "torch":
            original(self, placeholder, *args, **kwargs)
        else:  # created as in a stateless scope: no value; left out of Keras' list of variables to initialise
            uninitialized = global_state.get_global_attribute("uninitialized_variables", [], set_to_default=True)
            count = len(uninitialized)
            with keras.StatelessScope(initialize_variables=False):
                original(self, placeholder, *args, **kwargs)
            del uninitialized[count:]
        setattr(self, _ATTRIBUTE, initializer)

    _KerasVariable.__init__ = __init__
    _KerasVariable._keras_tfm_deferred = True


def _placeholder_initializer(initializer):
    def placeholder(shape, dtype=None):
        if keras.backend.backend() == "torch":
            import torch

            return torch.empty(tuple(shape), dtype=getattr(torch, keras.backend.standardize_dtype(dtype)))
        return keras.ops.zeros(shape, dtype=dtype)  # made for each read of a variable without a value

    return placeholder
