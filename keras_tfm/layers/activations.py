"""Activation functions by their Hugging Face config names (``hidden_act``)."""

import keras
from keras import ops

_ACTIVATIONS = {
    "gelu": lambda x: ops.gelu(x, approximate=False),  # HF "gelu" is the exact erf form
    "gelu_new": lambda x: ops.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: ops.gelu(x, approximate=True),
    "gelu_fast": lambda x: ops.gelu(x, approximate=True),
    "relu": ops.relu,
    "silu": ops.silu,
    "swish": ops.silu,
    "tanh": ops.tanh,
}

ACTIVATION_NAMES = frozenset(_ACTIVATIONS)


def get_activation(name):
    if callable(name):
        return name
    if name not in _ACTIVATIONS:
        raise ValueError(f"Unknown activation {name!r}; supported: {', '.join(sorted(_ACTIVATIONS))}.")
    return _ACTIVATIONS[name]


def normal_init(stddev):
    """HF initialises dense and embedding weights from N(0, initializer_range)."""
    return keras.initializers.RandomNormal(stddev=stddev)
