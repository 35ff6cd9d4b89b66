"""Feed-forward blocks: dense-activation-dense (BERT, GPT-2) and gated (Llama's SwiGLU)."""

from keras_tfm.layers.activations import get_activation, normal_init
from keras_tfm.layers.fast import Dense, Dropout, Layer


def _dense(units, initializer_range, use_bias, dtype):
    return Dense(units, use_bias=use_bias, kernel_initializer=normal_init(initializer_range), dtype=dtype)


class MLP(Layer):
    """down(drop(act(up(x)))): (B, T, C) -> (B, T, C) through ``intermediate_size``.

    ``dropout``: the rate on the activations in training (BART's ``activation_dropout``).
    """

    def __init__(self, hidden_size, intermediate_size, activation="gelu", use_bias=True, initializer_range=0.02,
                 dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.up_proj = _dense(intermediate_size, initializer_range, use_bias, self.dtype_policy)
        self.down_proj = _dense(hidden_size, initializer_range, use_bias, self.dtype_policy)
        self.act = get_activation(activation)
        self.dropout = Dropout(dropout, dtype=self.dtype_policy) if dropout else None

    def call(self, x, training=False):
        h = self.act(self.up_proj(x))
        if self.dropout is not None:
            h = self.dropout(h, training=training)
        return self.down_proj(h)


class GatedMLP(Layer):
    """down(drop(act(gate(x)) * up(x))): SwiGLU with ``activation="silu"``.

    ``dropout``: the rate on the gated activations in training (T5 v1.1's ``dropout_rate``).
    """

    def __init__(self, hidden_size, intermediate_size, activation="silu", use_bias=False, initializer_range=0.02,
                 dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.gate_proj = _dense(intermediate_size, initializer_range, use_bias, self.dtype_policy)
        self.up_proj = _dense(intermediate_size, initializer_range, use_bias, self.dtype_policy)
        self.down_proj = _dense(hidden_size, initializer_range, use_bias, self.dtype_policy)
        self.act = get_activation(activation)
        self.dropout = Dropout(dropout, dtype=self.dtype_policy) if dropout else None

    def call(self, x, training=False):
        h = self.act(self.gate_proj(x)) * self.up_proj(x)
        if self.dropout is not None:
            h = self.dropout(h, training=training)
        return self.down_proj(h)
