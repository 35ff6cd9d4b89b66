"""The post-LayerNorm Transformer encoder of BERT, RoBERTa and DistilBERT."""

import keras
from keras import ops

from keras_tfm.layers.activations import get_activation, normal_init
from keras_tfm.layers.attention import MultiHeadAttention


class TransformerEncoderLayer(keras.layers.Layer):
    def __init__(self, hidden_size, num_heads, intermediate_size, activation="gelu", dropout=0.0,
                 attention_dropout=0.0, layer_norm_eps=1e-12, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        d = self.dtype_policy
        self.attention = MultiHeadAttention(hidden_size, num_heads, attention_dropout, initializer_range, dtype=d)
        self.attention_norm = keras.layers.LayerNormalization(epsilon=layer_norm_eps, dtype=d)
        self.ffn_up = keras.layers.Dense(intermediate_size, kernel_initializer=normal_init(initializer_range), dtype=d)
        self.ffn_down = keras.layers.Dense(hidden_size, kernel_initializer=normal_init(initializer_range), dtype=d)
        self.ffn_norm = keras.layers.LayerNormalization(epsilon=layer_norm_eps, dtype=d)
        self.dropout = keras.layers.Dropout(dropout, dtype=d)
        self.activation = get_activation(activation)

    def call(self, x, key_mask=None, output_attentions=False, training=False):
        a, probs = self.attention(x, key_mask=key_mask, output_attentions=output_attentions, training=training)
        x = self.attention_norm(x + self.dropout(a, training=training))
        h = self.ffn_down(self.activation(self.ffn_up(x)))
        x = self.ffn_norm(x + self.dropout(h, training=training))
        return x, probs


class TransformerEncoder(keras.layers.Layer):
    """A stack of ``TransformerEncoderLayer``; returns the last state and, on request, all of them."""

    def __init__(self, num_layers, **layer_kwargs):
        super().__init__(dtype=layer_kwargs.pop("dtype", None))
        self.layers = [TransformerEncoderLayer(dtype=self.dtype_policy, **layer_kwargs) for _ in range(num_layers)]

    def call(self, x, attention_mask=None, output_hidden_states=False, output_attentions=False, training=False):
        key_mask = None
        if attention_mask is not None:  # (B, S) of 1/0 -> (B, 1, 1, S) booleans
            key_mask = ops.cast(attention_mask, "bool")[:, None, None, :]
        hidden_states, attentions = [x], []
        for layer in self.layers:
            x, probs = layer(x, key_mask=key_mask, output_attentions=output_attentions, training=training)
            hidden_states.append(x)
            attentions.append(probs)
        return (
            x,
            tuple(hidden_states) if output_hidden_states else None,
            tuple(attentions) if output_attentions else None,
        )
