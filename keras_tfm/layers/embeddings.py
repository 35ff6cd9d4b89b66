"""Token + position (+ segment) embeddings, normalised, as in BERT-family encoders."""

import keras
from keras import ops

from keras_tfm.layers.activations import normal_init
from keras_tfm.layers.fast import Embedding


class TextEmbeddings(keras.layers.Layer):
    """Sum of token, learned position and (if ``type_vocab_size``) segment embeddings.

    ``padding_idx`` switches on RoBERTa's positions: counted from ``padding_idx + 1``
    over non-padding tokens, padding tokens get position ``padding_idx``.
    ``position_initializer`` overrides the initializer of the position table (DistilBERT's
    sinusoidal table). ``call(..., extra=...)`` adds further (B, T, C) embeddings to the sum
    before the norm (LayoutLM's 2-D positions).
    """

    def __init__(self, vocab_size, hidden_size, max_positions, type_vocab_size=0, layer_norm_eps=1e-12,
                 dropout=0.0, initializer_range=0.02, padding_idx=None, position_initializer=None, **kwargs):
        super().__init__(**kwargs)
        emb = dict(embeddings_initializer=normal_init(initializer_range), dtype=self.dtype_policy)
        self.token_embedding = Embedding(vocab_size, hidden_size, **emb)
        self.position_embedding = Embedding(
            max_positions, hidden_size, **{**emb, "embeddings_initializer": position_initializer or emb["embeddings_initializer"]})
        self.segment_embedding = Embedding(type_vocab_size, hidden_size, **emb) if type_vocab_size else None
        self.norm = keras.layers.LayerNormalization(epsilon=layer_norm_eps, dtype=self.dtype_policy)
        self.dropout = keras.layers.Dropout(dropout, dtype=self.dtype_policy)
        self.padding_idx = padding_idx

    def position_ids(self, input_ids):
        if self.padding_idx is None:
            return ops.expand_dims(ops.arange(ops.shape(input_ids)[1], dtype="int32"), 0)
        not_pad = ops.cast(ops.not_equal(input_ids, self.padding_idx), "int32")
        return ops.cumsum(not_pad, axis=1) * not_pad + self.padding_idx

    def call(self, input_ids, token_type_ids=None, position_ids=None, extra=None, training=False):
        if position_ids is None:
            position_ids = self.position_ids(input_ids)
        x = self.token_embedding(input_ids) + self.position_embedding(position_ids)  # (B, T, C)
        if extra is not None:
            x = x + extra
        if self.segment_embedding is not None:
            if token_type_ids is None:
                token_type_ids = ops.zeros_like(input_ids)
            x = x + self.segment_embedding(token_type_ids)
        return self.dropout(self.norm(x), training=training)
