"""GPT-2 (Radford et al. 2019) from the layer kit: pre-LayerNorm blocks, learned positions, tied head."""

import numpy as np
from keras import ops

from keras_tfm.checkpoints.weight_map import WeightMap
from keras_tfm.layers import (
    MLP,
    CrossAttention,
    DecoderStack,
    Dropout,
    Embedding,
    FusedQKVSelfAttention,
    LayerNorm,
    TransformerBlock,
    default_position_ids,
    normal_init,
)
from keras_tfm.modeling_outputs import BaseModelOutputWithPastAndCrossAttentions, CausalLMOutputWithCrossAttentions
from keras_tfm.models.decoder_tasks import DecoderForCausalLM, DecoderForSequenceClassification, DecoderModel
from keras_tfm.models.gpt2 import convert_gpt2
from keras_tfm.models.gpt2.config_gpt2 import GPT2Config
from keras_tfm.registry import register_model


def _block(c, layer_idx, dtype):
    head_dim = c.n_embd // c.n_head
    scale = 1.0 / head_dim ** 0.5 if c.scale_attn_weights else 1.0
    if c.scale_attn_by_inverse_layer_idx:
        scale /= float(layer_idx + 1)
    cross = {}
    if getattr(c, "add_cross_attention", False):  # HF: the same attention class, is_cross_attention=True
        cross = dict(cross_attention=CrossAttention(c.n_embd, c.n_head, scale=scale, fused_kv=True,
                                                    initializer_range=c.initializer_range, dtype=dtype),
                     cross_attention_norm=LayerNorm(epsilon=c.layer_norm_epsilon, dtype=dtype),
                     cross_attention_optional=True)  # HF's GPT-2 runs without encoder states too
    return TransformerBlock(
        FusedQKVSelfAttention(c.n_embd, c.n_head, scale=scale, initializer_range=c.initializer_range, dtype=dtype),
        MLP(c.n_embd, c.n_inner or 4 * c.n_embd, c.activation_function, initializer_range=c.initializer_range,
            dtype=dtype),
        attention_norm=LayerNorm(epsilon=c.layer_norm_epsilon, dtype=dtype),
        mlp_norm=LayerNorm(epsilon=c.layer_norm_epsilon, dtype=dtype),
        dropout=c.resid_pdrop, dtype=dtype, **cross)


@register_model("AutoModel")
class GPT2Model(DecoderModel):
    config_class = GPT2Config
    base_model_prefix = "transformer"
    weight_map = WeightMap(convert_gpt2.BACKBONE, prefix="transformer")
    output_class = BaseModelOutputWithPastAndCrossAttentions

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        c, d = config, self.dtype_policy
        emb = dict(embeddings_initializer=normal_init(c.initializer_range), dtype=d)
        self.wte = Embedding(c.vocab_size, c.n_embd, **emb)
        self.wpe = Embedding(c.n_positions, c.n_embd, **emb)
        self.drop = Dropout(c.embd_pdrop, dtype=d)
        self.decoder = DecoderStack([_block(c, i, d) for i in range(c.n_layer)],
                                    LayerNorm(epsilon=c.layer_norm_epsilon, dtype=d), dtype=d)

    def get_input_embeddings(self):
        return self.wte

    def cache_spec(self):
        """(layers, key/value heads, head size) of the KV cache."""
        c = self.config
        return c.n_layer, c.n_head, c.n_embd // c.n_head

    def dummy_inputs(self):
        inputs = super().dummy_inputs()
        if self.config.add_cross_attention:  # the cross-attention's variables are made on a call with encoder states
            inputs["encoder_hidden_states"] = np.zeros((1, 1, self.config.n_embd), "float32")
        return inputs

    def call(self, input_ids, attention_mask=None, position_ids=None, past_key_values=None, cache_index=None,
             use_cache=None, output_hidden_states=False, output_attentions=False, training=False,
             encoder_hidden_states=None, encoder_attention_mask=None):
        """``encoder_hidden_states`` (B, S, n_embd) / ``encoder_attention_mask`` (B, S): what the blocks'
        cross-attention attends to (``add_cross_attention``); without them (and no cross keys in the
        cache) the blocks skip it, as HF's."""
        if position_ids is None:  # HF: positions count from the first cache slot, padding or not
            position_ids = default_position_ids(ops.shape(input_ids)[1], cache_index)
        if encoder_hidden_states is not None and not self.config.add_cross_attention:
            raise ValueError(f"If `encoder_hidden_states` are passed, {type(self).__name__} has to be instantiated "
                             "with cross-attention layers by setting `config.add_cross_attention=True`")
        x = self.drop(self.wte(input_ids) + self.wpe(position_ids), training=training)  # (B, T, C)
        return self.run_decoder(x, attention_mask, position_ids, past_key_values, cache_index, output_hidden_states,
                                output_attentions, training, encoder_hidden_states, encoder_attention_mask)


@register_model("AutoModelForCausalLM")
class GPT2LMHeadModel(DecoderForCausalLM):
    backbone_class = GPT2Model
    uses_learned_positions = True
    output_class = CausalLMOutputWithCrossAttentions

    def dummy_inputs(self):
        return self.backbone.dummy_inputs()


@register_model("AutoModelForSequenceClassification")
class GPT2ForSequenceClassification(DecoderForSequenceClassification):
    backbone_class = GPT2Model
