"""Feed-forward blocks: dense-activation-dense (BERT, GPT-2) and gated (Llama's SwiGLU)."""

from keras_tfm.layers.activations import get_activation, normal_init
from keras_tfm.layers.fast import Dense, Layer


def _dense(units, initializer_range, use_bias, dtype):
    return Dense(units, use_bias=use_bias, kernel_initializer=normal_init(initializer_range), dtype=dtype)


class MLP(Layer):
    """down(act(up(x))): (B, T, C) -> (B, T, C) through ``intermediate_size``."""

    def __init__(self, hidden_size, intermediate_size, activation="gelu", use_bias=True, initializer_range=0.02,
                 **kwargs):
        super().__init__(**kwargs)
        self.up_proj = _dense(intermediate_size, initializer_range, use_bias, self.dtype_policy)
        self.down_proj = _dense(hidden_size, initializer_range, use_bias, self.dtype_policy)
        self.act = get_activation(activation)

    def call(self, x):
        return self.down_proj(self.act(self.up_proj(x)))


class GatedMLP(Layer):
    """down(act(gate(x)) * up(x)): SwiGLU with ``activation="silu"``."""

    def __init__(self, hidden_size, intermediate_size, activation="silu", use_bias=False, initializer_range=0.02,
                 **kwargs):
        super().__init__(**kwargs)
        self.gate_proj = _dense(intermediate_size, initializer_range, use_bias, self.dtype_policy)
        self.up_proj = _dense(intermediate_size, initializer_range, use_bias, self.dtype_policy)
        self.down_proj = _dense(hidden_size, initializer_range, use_bias, self.dtype_policy)
        self.act = get_activation(activation)

    def call(self, x):
        return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))
