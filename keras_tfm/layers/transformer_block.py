"""One transformer block: self-attention, optional cross-attention, feed-forward, each with a
residual and a norm, pre-norm (GPT-2, Llama, ViT) or post-norm (BERT, BART)."""

from keras_tfm.layers.fast import Dropout, Layer


class TransformerBlock(Layer):
    """``x + drop(f(norm(x)))`` per sublayer with ``norm_first``, else ``norm(x + drop(f(x)))``.

    Args:
        self_attention: a self-attention layer (``SelfAttention``, ``FusedQKVSelfAttention``).
        mlp: the feed-forward layer (``MLP``, ``GatedMLP``).
        attention_norm, mlp_norm: the norms around them.
        cross_attention, cross_attention_norm: a ``CrossAttention`` and its norm, or None.
        cross_attention_optional: a call without encoder states (and no cross cache) skips the
            cross-attention (HF's GPT-2 built with ``add_cross_attention``); else it is an error.
        norm_first: pre-norm (True) or post-norm (False).
        dropout: the rate on each sublayer's output before its residual.
    """

    def __init__(self, self_attention, mlp, attention_norm, mlp_norm, cross_attention=None,
                 cross_attention_norm=None, norm_first=True, dropout=0.0, cross_attention_optional=False, **kwargs):
        super().__init__(**kwargs)
        self.cross_attention_optional = cross_attention_optional
        self.attention_norm = attention_norm
        self.self_attention = self_attention
        self.cross_attention_norm = cross_attention_norm
        self.cross_attention = cross_attention
        self.mlp_norm = mlp_norm
        self.mlp = mlp
        self.norm_first = norm_first
        self.dropout = Dropout(dropout, dtype=self.dtype_policy) if dropout else None

    def _norm_in(self, norm, x):
        return norm(x) if self.norm_first else x

    def _residual(self, x, out, norm, training):
        if self.dropout is not None:
            out = self.dropout(out, training=training)
        return x + out if self.norm_first else norm(x + out)

    def call(self, x, attention_mask=None, cache=None, cache_index=None, rotary=None, bias=None, encoder_hidden_states=None,
             cross_mask=None, cross_cache=None, output_attentions=False, training=False, positions=None,
             encoder_positions=None):
        """x: (B, T, C); attention_mask, cross_mask: ``AttentionMask``s; positions (B|1, T, C): added to the
        queries and keys of self-attention and to the queries of cross-attention; encoder_positions
        (B|1, S, C): added to the keys of cross-attention (DETR). Returns ``(x, new cache, new cross cache,
        attention probabilities, cross-attention probabilities)``; caches and probabilities are None when
        not asked for."""
        extra = {} if positions is None else {"positions": positions}
        a, new_cache, probs = self.self_attention(
            self._norm_in(self.attention_norm, x), attention_mask, cache=cache, cache_index=cache_index, rotary=rotary,
            bias=bias, output_attentions=output_attentions, training=training, **extra)
        x = self._residual(x, a, self.attention_norm, training)
        new_cross_cache = cross_probs = None
        skip_cross = self.cross_attention_optional and encoder_hidden_states is None and cross_cache is None
        if self.cross_attention is not None and not skip_cross:
            extra = {k: v for k, v in (("query_positions", positions), ("key_positions", encoder_positions))
                     if v is not None}
            a, new_cross_cache, cross_probs = self.cross_attention(
                self._norm_in(self.cross_attention_norm, x), encoder_hidden_states, cross_mask, cache=cross_cache,
                output_attentions=output_attentions, training=training, **extra)
            x = self._residual(x, a, self.cross_attention_norm, training)
        x = self._residual(x, self.mlp(self._norm_in(self.mlp_norm, x), training=training), self.mlp_norm, training)
        return x, new_cache, new_cross_cache, probs, cross_probs
