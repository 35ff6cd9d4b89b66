"""Multi-head self-attention with the fused kernel of each backend."""

import keras
from keras import ops

from keras_tfm.layers.activations import normal_init


class MultiHeadAttention(keras.layers.Layer):
    """Bidirectional multi-head self-attention with query/key/value/output projections.

    Uses ``keras.ops.dot_product_attention`` (torch SDPA, XLA, jax.nn) unless the
    attention probabilities are asked for or attention dropout is active in training.
    """

    def __init__(self, hidden_size, num_heads, dropout=0.0, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size={hidden_size} is not a multiple of num_attention_heads={num_heads}.")
        self.num_heads, self.head_dim = num_heads, hidden_size // num_heads
        dense = dict(kernel_initializer=normal_init(initializer_range), dtype=self.dtype_policy)
        self.query = keras.layers.Dense(hidden_size, **dense)
        self.key = keras.layers.Dense(hidden_size, **dense)
        self.value = keras.layers.Dense(hidden_size, **dense)
        self.output_dense = keras.layers.Dense(hidden_size, **dense)
        self.dropout_rate = dropout
        self.dropout = keras.layers.Dropout(dropout, dtype=self.dtype_policy)

    def _heads(self, x):  # (B, T, C) -> (B, T, N, H)
        return ops.reshape(x, (ops.shape(x)[0], ops.shape(x)[1], self.num_heads, self.head_dim))

    def call(self, x, key_mask=None, output_attentions=False, training=False):
        """x: (B, T, C); key_mask: boolean (B, 1, 1, T), True where a key may be attended."""
        q, k, v = self._heads(self.query(x)), self._heads(self.key(x)), self._heads(self.value(x))
        probs = None
        if output_attentions or (training and self.dropout_rate > 0):
            scores = ops.einsum("btnh,bsnh->bnts", q, k) / ops.sqrt(ops.cast(self.head_dim, q.dtype))
            if key_mask is not None:
                scores = ops.where(key_mask, scores, ops.cast(-1e9 if scores.dtype == "float32" else -3e4, scores.dtype))
            probs = ops.softmax(scores, axis=-1)  # (B, N, T, S)
            y = ops.einsum("bnts,bsnh->btnh", self.dropout(probs, training=training), v)
        else:
            y = ops.dot_product_attention(q, k, v, mask=key_mask)  # (B, T, N, H)
        y = ops.reshape(y, (ops.shape(x)[0], ops.shape(x)[1], self.num_heads * self.head_dim))
        return self.output_dense(y), probs
