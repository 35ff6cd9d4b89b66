"""The encoder stack: bidirectional transformer blocks over a padding mask (BERT, RoBERTa,
DistilBERT post-norm; ViT-style pre-norm with a final norm)."""

from keras_tfm.layers.attention import padding_mask
from keras_tfm.layers.attention_layers import SelfAttention
from keras_tfm.layers.fast import Layer
from keras_tfm.layers.mlp import MLP
from keras_tfm.layers.norms import LayerNorm
from keras_tfm.layers.transformer_block import TransformerBlock


class EncoderStack(Layer):
    """A list of ``TransformerBlock``s (without cross-attention) and an optional final norm.

    Returns ``(last state, hidden states, attentions)``: the hidden states are the input and
    every block's output (before ``final_norm``), as Hugging Face's encoders return them.
    """

    def __init__(self, blocks, final_norm=None, **kwargs):
        super().__init__(**kwargs)
        self.layers = list(blocks)
        self.final_norm = final_norm

    def call(self, x, attention_mask=None, bias=None, output_hidden_states=False, output_attentions=False,
             training=False, positions=None):
        """x: (B, T, C); attention_mask: (B, T) 1/0; bias: additive scores (B|1, N, T, T); positions:
        (B|1, T, C) added to every block's queries and keys (DETR), or None."""
        mask = padding_mask(attention_mask)
        hidden_states, attentions = [x], []
        extra = {} if positions is None else {"positions": positions}
        for block in self.layers:
            x, _, _, probs, _ = block(x, mask, bias=bias, output_attentions=output_attentions, training=training,
                                      **extra)
            hidden_states.append(x)
            attentions.append(probs)
        if self.final_norm is not None:
            x = self.final_norm(x)
        return (
            x,
            tuple(hidden_states) if output_hidden_states else None,
            tuple(attentions) if output_attentions else None,
        )


def encoder_stack(num_layers, hidden_size, num_heads, intermediate_size, activation="gelu", dropout=0.0,
                  attention_dropout=0.0, layer_norm_eps=1e-12, initializer_range=0.02, norm_first=False,
                  final_norm=False, qkv_bias=True, dtype=None):
    """An ``EncoderStack`` of LayerNorm blocks with a dense-activation-dense MLP (BERT's shape;
    ``norm_first=True, final_norm=True`` for ViT's; ``qkv_bias=False``: q / k / v without biases,
    the output projection keeps its own).

    Encoder attention runs in ``keras.ops.dot_product_attention`` on every backend (XLA fuses
    it well without a cache), written out only for probabilities or attention dropout.
    """
    def norm():
        return LayerNorm(epsilon=layer_norm_eps, dtype=dtype)

    blocks = [
        TransformerBlock(
            SelfAttention(hidden_size, num_heads, use_bias=qkv_bias, output_bias=True, fused=True, dropout=attention_dropout,
                          initializer_range=initializer_range, dtype=dtype),
            MLP(hidden_size, intermediate_size, activation, initializer_range=initializer_range, dtype=dtype),
            attention_norm=norm(), mlp_norm=norm(), norm_first=norm_first, dropout=dropout, dtype=dtype)
        for _ in range(num_layers)
    ]
    return EncoderStack(blocks, norm() if final_norm else None, dtype=dtype)
