"""Llama (Touvron et al. 2023) as Keras 3 layers: RMSNorm, RoPE, SwiGLU, grouped-query attention.

Mistral (sliding-window attention) and Qwen2 (bias on q/k/v) are the same code with
config switches (``config.layer_sliding_windows()``, ``config.qkv_bias``).
"""

from keras_tfm.checkpoints.weight_map import WeightMap
from keras_tfm.layers import (
    DecoderStack,
    Embedding,
    GatedMLP,
    RMSNorm,
    RotaryEmbedding,
    SelfAttention,
    TransformerBlock,
    normal_init,
)
from keras_tfm.models.decoder_tasks import DecoderForCausalLM, DecoderForSequenceClassification, DecoderModel
from keras_tfm.models.llama import convert_llama
from keras_tfm.models.llama.config_llama import LlamaConfig, MistralConfig, Qwen2Config
from keras_tfm.registry import register_model


def _block(c, dtype):
    return TransformerBlock(
        SelfAttention(c.hidden_size, c.num_attention_heads, c.num_key_value_heads, c.head_dim, use_bias=c.qkv_bias,
                      output_bias=c.attention_bias, initializer_range=c.initializer_range, dtype=dtype),
        GatedMLP(c.hidden_size, c.intermediate_size, c.hidden_act, use_bias=c.mlp_bias,
                 initializer_range=c.initializer_range, dtype=dtype),
        attention_norm=RMSNorm(c.rms_norm_eps, dtype=dtype),
        mlp_norm=RMSNorm(c.rms_norm_eps, dtype=dtype), dtype=dtype)


@register_model("AutoModel")
class LlamaModel(DecoderModel):
    config_class = LlamaConfig
    base_model_prefix = "model"
    weight_map = WeightMap(convert_llama.BACKBONE, prefix="model")

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        c, d = config, self.dtype_policy
        self.embed_tokens = Embedding(c.vocab_size, c.hidden_size,
                                      embeddings_initializer=normal_init(c.initializer_range), dtype=d)
        self.decoder = DecoderStack([_block(c, d) for _ in range(c.num_hidden_layers)], RMSNorm(c.rms_norm_eps, dtype=d),
                                    rotary=RotaryEmbedding(c), sliding_windows=c.layer_sliding_windows(), dtype=d)

    def get_input_embeddings(self):
        return self.embed_tokens

    def cache_spec(self):
        c = self.config
        return c.num_hidden_layers, c.num_key_value_heads, c.head_dim

    def call(self, input_ids, attention_mask=None, position_ids=None, past_key_values=None, cache_index=None,
             use_cache=None, output_hidden_states=False, output_attentions=False, training=False):
        return self.run_decoder(self.embed_tokens(input_ids), attention_mask, position_ids, past_key_values,
                                cache_index, output_hidden_states, output_attentions, training)


@register_model("AutoModelForCausalLM")
class LlamaForCausalLM(DecoderForCausalLM):
    backbone_class = LlamaModel


@register_model("AutoModelForSequenceClassification")
class LlamaForSequenceClassification(DecoderForSequenceClassification):
    backbone_class = LlamaModel


# Mistral and Qwen2: Llama's code, their own config (model_type) and class names.
def _variant(name, config_class):
    """``{name}Model``, ``{name}ForCausalLM`` and ``{name}ForSequenceClassification`` on Llama's code."""
    model = register_model("AutoModel")(type(f"{name}Model", (LlamaModel,), {"config_class": config_class}))
    heads = [register_model(auto)(type(f"{name}{task}", (base,), {"backbone_class": model}))
             for auto, task, base in (("AutoModelForCausalLM", "ForCausalLM", LlamaForCausalLM),
                                      ("AutoModelForSequenceClassification", "ForSequenceClassification",
                                       LlamaForSequenceClassification))]
    return (model, *heads)


MistralModel, MistralForCausalLM, MistralForSequenceClassification = _variant("Mistral", MistralConfig)
Qwen2Model, Qwen2ForCausalLM, Qwen2ForSequenceClassification = _variant("Qwen2", Qwen2Config)
