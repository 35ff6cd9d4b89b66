"""Self- and cross-attention layers: projections around ``keras_tfm.layers.attention.attention``.

Every layer returns ``(y (B, T, C), new layer cache or None, probabilities or None)``.

Position embeddings added to the attention inputs (DETR's spatial and object-query embeddings)
go to the queries and keys only, never to the values: ``positions`` in self-attention,
``query_positions`` / ``key_positions`` in cross-attention.
"""

from keras import ops

from keras_tfm.layers.activations import normal_init
from keras_tfm.layers.attention import attention, read_cache, write_cache
from keras_tfm.layers.fast import Dense, Dropout, Layer
from keras_tfm.layers.rotary import apply_rotary


class _Attention(Layer):
    """Heads, scale and attention dropout shared by the attention layers."""

    def __init__(self, hidden_size, num_heads, num_kv_heads=None, head_dim=None, scale=None, fused=None,
                 dropout=0.0, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        if head_dim is None:
            if hidden_size % num_heads:
                raise ValueError(f"hidden_size={hidden_size} is not a multiple of num_attention_heads={num_heads}.")
            head_dim = hidden_size // num_heads
        self.num_heads, self.head_dim = num_heads, head_dim
        self.num_kv_heads = num_kv_heads or num_heads
        if self.num_heads % self.num_kv_heads:
            raise ValueError(f"num_attention_heads={num_heads} is not a multiple of num_key_value_heads={num_kv_heads}.")
        self.hidden_size, self.scale, self.fused = hidden_size, scale, fused
        self.initializer_range = initializer_range
        self.attention_dropout = Dropout(dropout, dtype=self.dtype_policy) if dropout else None

    def dense(self, units, use_bias):
        return Dense(units, use_bias=use_bias, kernel_initializer=normal_init(self.initializer_range),
                     dtype=self.dtype_policy)

    def separate_projections(self, use_bias, output_bias, key_bias=None):
        """q / k / v / o projections (``output_bias`` / ``key_bias`` None: as ``use_bias``; Whisper's
        k_proj alone has no bias)."""
        kv_units = self.num_kv_heads * self.head_dim
        self.q_proj = self.dense(self.num_heads * self.head_dim, use_bias)
        self.k_proj = self.dense(kv_units, use_bias if key_bias is None else key_bias)
        self.v_proj = self.dense(kv_units, use_bias)
        self.o_proj = self.dense(self.hidden_size, use_bias if output_bias is None else output_bias)

    def heads(self, x, n):  # (B, T, n*H) -> (B, T, n, H)
        return ops.reshape(x, (ops.shape(x)[0], ops.shape(x)[1], n, self.head_dim))

    def attend(self, q, k, v, mask, bias, output_attentions, training):
        """(B, T, C) attention output before the output projection, and the probabilities."""
        dropout = None
        if training and self.attention_dropout is not None:
            dropout = lambda p: self.attention_dropout(p, training=True)  # noqa: E731
        y, probs = attention(q, k, v, mask, bias=bias, scale=self.scale, fused=self.fused,
                             output_attentions=output_attentions, dropout=dropout)
        b, t = ops.shape(q)[0], ops.shape(q)[1]
        return ops.reshape(y, (b, t, self.num_heads * self.head_dim)), probs


class _SelfAttention(_Attention):
    """Self-attention over ``x``, through one layer's KV cache when given."""

    def project(self, x, positions=None):
        """``x`` (B, T, C) -> q (B, T, N, H), k, v (B, T, N_kv, H); ``positions`` (B|1, T, C) added to
        the inputs of q and k."""
        raise NotImplementedError

    def call(self, x, attention_mask=None, cache=None, cache_index=None, rotary=None, bias=None, output_attentions=False,
             training=False, positions=None):
        """x: (B, T, C); attention_mask: an ``AttentionMask``; cache: this layer's ``(keys, values)``
        (B, N_kv, S, H) written at ``cache_index``; rotary: ``(cos, sin)`` applied to q and k;
        bias: additive scores (B|1, N, T, S); positions: (B|1, T, C) added to the q and k inputs."""
        q, k, v = self.project(x) if positions is None else self.project(x, positions)
        if rotary is not None:
            q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
        new_cache = None
        if cache is not None:
            k, v, new_cache = write_cache(cache, k, v, cache_index)
        y, probs = self.attend(q, k, v, attention_mask, bias, output_attentions, training)
        return self.o_proj(y), new_cache, probs


class SelfAttention(_SelfAttention):
    """Self-attention with separate q / k / v / o projections (grouped-query with ``num_kv_heads``)."""

    def __init__(self, hidden_size, num_heads, num_kv_heads=None, head_dim=None, use_bias=True, output_bias=None,
                 key_bias=None, **kwargs):
        super().__init__(hidden_size, num_heads, num_kv_heads, head_dim, **kwargs)
        self.separate_projections(use_bias, output_bias, key_bias)

    def project(self, x, positions=None):
        qk = x if positions is None else x + positions
        return (self.heads(self.q_proj(qk), self.num_heads), self.heads(self.k_proj(qk), self.num_kv_heads),
                self.heads(self.v_proj(x), self.num_kv_heads))


class FusedQKVSelfAttention(_SelfAttention):
    """Self-attention whose q, k, v come from one (C, 3C) projection (GPT-2's ``c_attn``)."""

    def __init__(self, hidden_size, num_heads, **kwargs):
        super().__init__(hidden_size, num_heads, **kwargs)
        self.qkv_proj = self.dense(3 * hidden_size, True)
        self.o_proj = self.dense(hidden_size, True)

    def project(self, x):
        q, k, v = ops.split(self.qkv_proj(x), 3, axis=-1)  # 3 x (B, T, C)
        return tuple(self.heads(z, self.num_heads) for z in (q, k, v))


class CrossAttention(_Attention):
    """Attention of ``x`` over an encoder's output, whose keys / values are computed once.

    Given ``encoder_hidden_states``, the keys and values are projected from them (and, with
    a cache, written into it at slot 0); without, they are read from the cache.

    ``fused_kv``: keys and values come from one (C_enc, 2 * C_kv) projection ``kv_proj`` (GPT-2's
    cross-attention ``c_attn``) instead of ``k_proj`` / ``v_proj``.
    """

    def __init__(self, hidden_size, num_heads, num_kv_heads=None, head_dim=None, use_bias=True, output_bias=None,
                 key_bias=None, fused_kv=False, **kwargs):
        super().__init__(hidden_size, num_heads, num_kv_heads, head_dim, **kwargs)
        if fused_kv:
            self.q_proj = self.dense(self.num_heads * self.head_dim, use_bias)
            self.kv_proj = self.dense(2 * self.num_kv_heads * self.head_dim, use_bias)
            self.o_proj = self.dense(self.hidden_size, use_bias if output_bias is None else output_bias)
        else:
            self.separate_projections(use_bias, output_bias, key_bias)
        self.fused_kv = fused_kv

    def project_kv(self, keys_in, values_in):
        """Keys and values (B, S, N_kv, H) of the encoder's states (``keys_in`` with any key positions added)."""
        if self.fused_kv:
            if keys_in is not values_in:
                raise ValueError("CrossAttention(fused_kv=True) projects keys and values together: it takes no "
                                 "key_positions.")
            k, v = ops.split(self.kv_proj(keys_in), 2, axis=-1)
        else:
            k, v = self.k_proj(keys_in), self.v_proj(values_in)
        return self.heads(k, self.num_kv_heads), self.heads(v, self.num_kv_heads)

    def call(self, x, encoder_hidden_states=None, attention_mask=None, cache=None, bias=None, output_attentions=False,
             training=False, query_positions=None, key_positions=None):
        """x: (B, T, C); encoder_hidden_states: (B, S, C_enc) or None (read ``cache``); attention_mask: a
        padding ``AttentionMask`` over the encoder's tokens; cache: this layer's cross
        ``(keys, values)`` (B, N_kv, S, H); query_positions (B|1, T, C) / key_positions (B|1, S, C_enc):
        added to the inputs of q / k."""
        q = self.heads(self.q_proj(x if query_positions is None else x + query_positions), self.num_heads)
        new_cache = cache
        if encoder_hidden_states is not None:
            keys_in = encoder_hidden_states if key_positions is None else encoder_hidden_states + key_positions
            k, v = self.project_kv(keys_in, encoder_hidden_states)
            if cache is not None:
                k, v, new_cache = write_cache(cache, k, v, 0)
        elif cache is not None:
            k, v = read_cache(cache)
        else:
            raise ValueError("CrossAttention needs encoder_hidden_states or a cache holding their keys and values.")
        y, probs = self.attend(q, k, v, attention_mask, bias, output_attentions, training)
        return self.o_proj(y), new_cache, probs
