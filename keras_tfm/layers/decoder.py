"""The decoder stack: causal pre-norm transformer blocks over a typed KV cache, with
optional rotary positions, sliding windows and cross-attention (GPT-2, Llama / Mistral /
Qwen2, and the decoders of encoder-decoders)."""

from keras import ops

from keras_tfm.layers.attention import causal_mask, padding_mask
from keras_tfm.layers.cache import KVCache
from keras_tfm.layers.fast import Layer
from keras_tfm.layers.positions import default_position_ids


class DecoderStack(Layer):
    """A list of ``TransformerBlock``s and the final norm.

    Args:
        blocks: the blocks (with ``cross_attention`` for an encoder-decoder's decoder).
        final_norm: the norm after the last block; None for none (BART's post-norm decoder).
        rotary: a ``RotaryEmbedding`` whose (cos, sin) of the positions every block's
            self-attention applies to q and k; None without rotary positions.
        sliding_windows: each block's sliding window (None: full causal attention).
    """

    def __init__(self, blocks, final_norm, rotary=None, sliding_windows=None, **kwargs):
        super().__init__(**kwargs)
        self.layers = list(blocks)
        self.final_norm = final_norm
        self._rotary = rotary
        self._windows = list(sliding_windows) if sliding_windows is not None else [None] * len(self.layers)

    def call(self, x, attention_mask=None, position_ids=None, cache=None, cache_index=None,
             encoder_hidden_states=None, encoder_attention_mask=None, bias=None, output_hidden_states=False,
             output_attentions=False, training=False):
        """Runs the blocks over ``x`` (B, T, C).

        Args:
            attention_mask: (B, S) 1/0 over the self-attention keys (the cache's slots with a
                cache, else the T tokens).
            position_ids: (B|1, T), for rotary positions; None counts from ``cache_index``.
            cache: a ``KVCache`` written at slot ``cache_index``; its cross part is filled from
                ``encoder_hidden_states`` when they are given, else read.
            encoder_hidden_states: (B, S_enc, C) for cross-attention, or None.
            encoder_attention_mask: (B, S_enc) 1/0 over the encoder's tokens.
            bias: additive self-attention scores (B|1, N, T, S) shared by the blocks (T5's
                relative positions), or None.

        Returns:
            ``(last state, new cache or None, hidden states, attentions, cross attentions)``:
            the hidden states are every block's input and the normed output, as Hugging
            Face's decoders return them.
        """
        length = ops.shape(x)[1]
        num_slots = cache.num_slots if cache is not None else None
        # one mask per distinct sliding window, shared by the blocks
        masks = {w: causal_mask(length, attention_mask, num_slots, cache_index, w) for w in set(self._windows)}
        rotary = None
        if self._rotary is not None:
            if position_ids is None:
                position_ids = default_position_ids(length, cache_index)
            rotary = self._rotary.cos_sin(position_ids)
        cross_mask = padding_mask(encoder_attention_mask)
        hidden_states, attentions, cross_attentions, self_cache, cross_cache = [], [], [], [], []
        for i, block in enumerate(self.layers):
            hidden_states.append(x)
            x, layer_cache, layer_cross, probs, cross_probs = block(
                x, masks[self._windows[i]], cache=cache.layer(i) if cache is not None else None,
                cache_index=cache_index, rotary=rotary, bias=bias, encoder_hidden_states=encoder_hidden_states,
                cross_mask=cross_mask, cross_cache=cache.cross_layer(i) if cache is not None else None,
                output_attentions=output_attentions, training=training)
            self_cache.append(layer_cache)
            cross_cache.append(layer_cross)
            attentions.append(probs)
            cross_attentions.append(cross_probs)
        if self.final_norm is not None:
            x = self.final_norm(x)
        hidden_states.append(x)
        new_cache = None
        if cache is not None:
            new_cache = KVCache.from_layers(self_cache, cross_cache if cache.is_encoder_decoder else ())
        return (
            x,
            new_cache,
            tuple(hidden_states) if output_hidden_states else None,
            tuple(attentions) if output_attentions else None,
            tuple(cross_attentions) if output_attentions and any(p is not None for p in cross_attentions) else None,
        )
