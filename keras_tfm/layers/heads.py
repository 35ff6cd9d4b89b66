"""Task heads shared by the encoder architectures."""

import keras
from keras import ops

from keras_tfm import backend
from keras_tfm.layers.activations import get_activation, normal_init


class MaskedLMHead(keras.layers.Layer):
    """dense -> activation -> LayerNorm -> logits on the tied input embedding matrix (+ bias)."""

    def __init__(self, hidden_size, vocab_size, activation="gelu", layer_norm_eps=1e-12, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(hidden_size, kernel_initializer=normal_init(initializer_range), dtype=self.dtype_policy)
        self.norm = keras.layers.LayerNormalization(epsilon=layer_norm_eps, dtype=self.dtype_policy)
        self.activation = get_activation(activation)
        self.vocab_size = vocab_size

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(self.vocab_size,), initializer="zeros", name="bias")

    def call(self, x, embedding_matrix):
        h = self.norm(self.activation(self.dense(x)))
        return ops.matmul(h, ops.transpose(ops.cast(embedding_matrix, h.dtype))) + ops.cast(self.bias, h.dtype)


class ClassificationHead(keras.layers.Layer):
    """A pooled state (B, C) -> dropout -> dense -> tanh -> dropout -> out_proj (B, labels)
    (RoBERTa's and BART's sequence classification heads)."""

    def __init__(self, hidden_size, num_labels, dropout=0.1, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        dense = dict(kernel_initializer=normal_init(initializer_range), dtype=self.dtype_policy)
        self.dense = keras.layers.Dense(hidden_size, **dense)
        self.out_proj = keras.layers.Dense(num_labels, **dense)
        self.dropout = keras.layers.Dropout(dropout, dtype=self.dtype_policy)

    def call(self, pooled, training=False):
        x = self.dropout(pooled, training=training)
        x = self.dropout(ops.tanh(self.dense(x)), training=training)
        return self.out_proj(x)


def tied_lm_logits(h, table):
    """Logits ``h @ table.T``: hidden states (B, T, C) against the embedding table (V, C).

    With one position (a decode step) they are computed as ``table @ h.T``: XLA on CPU then
    reads the table row by row in one library matrix-vector product, where for ``h @ table.T``
    it fused a transpose of the whole table into a slower loop; torch splits the table's rows
    across threads (``backend.decode_matmul``). With more positions the (V, B*T) product would
    cost a transpose of all the logits instead.
    """
    if h.shape[1] != 1:
        return ops.matmul(h, ops.transpose(table))
    logits = backend.decode_matmul(table, ops.transpose(h[:, 0, :]))  # (V, B)
    return ops.expand_dims(ops.transpose(logits), 1)


def last_positions(hidden, logits_to_keep):
    """HF's ``logits_to_keep``: 0 keeps every position, n the last n."""
    if not logits_to_keep:
        return hidden
    return hidden[:, -int(logits_to_keep):, :]
