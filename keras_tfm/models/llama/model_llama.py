"""Llama (Touvron et al. 2023) as Keras 3 layers: RMSNorm, RoPE, SwiGLU, grouped-query attention.

Mistral (sliding-window attention) and Qwen2 (bias on q/k/v) are the same code with
config switches (``config.layer_sliding_windows()``, ``config.qkv_bias``).
"""

from keras import ops

from keras_tfm.checkpoints.weight_map import WeightMap
from keras_tfm.generation import fast_layers as layers
from keras_tfm.generation.decoder import DecoderForCausalLM, DecoderForSequenceClassification
from keras_tfm.generation.kv_cache import build_mask, causal_attention
from keras_tfm.layers.activations import get_activation, normal_init
from keras_tfm.modeling_outputs import BaseModelOutputWithPast
from keras_tfm.modeling_utils import PreTrainedModel
from keras_tfm.models.llama import convert_llama
from keras_tfm.models.llama.config_llama import LlamaConfig, MistralConfig, Qwen2Config
from keras_tfm.models.llama.rope import RotaryEmbedding, apply_rotary
from keras_tfm.registry import register_model


class RMSNorm(layers.Layer):
    """x / sqrt(mean(x^2) + eps) * weight, computed in float32."""

    def __init__(self, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        self.weight = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="weight")

    def call(self, x):
        h = ops.cast(x, "float32")
        h = h * ops.rsqrt(ops.mean(ops.square(h), axis=-1, keepdims=True) + self.epsilon)
        return ops.cast(self.weight, x.dtype) * ops.cast(h, x.dtype)


class LlamaAttention(layers.Layer):
    def __init__(self, config, sliding_window=None, **kwargs):
        super().__init__(**kwargs)
        c = config
        self.num_heads, self.num_kv_heads, self.head_dim = c.num_attention_heads, c.num_key_value_heads, c.head_dim
        self.sliding_window = sliding_window
        dense = dict(kernel_initializer=normal_init(c.initializer_range), dtype=self.dtype_policy)
        self.q_proj = layers.Dense(self.num_heads * self.head_dim, use_bias=c.qkv_bias, **dense)
        self.k_proj = layers.Dense(self.num_kv_heads * self.head_dim, use_bias=c.qkv_bias, **dense)
        self.v_proj = layers.Dense(self.num_kv_heads * self.head_dim, use_bias=c.qkv_bias, **dense)
        self.o_proj = layers.Dense(c.hidden_size, use_bias=c.attention_bias, **dense)

    def call(self, x, cos, sin, mask, cache=None, cache_index=None, output_attentions=False):
        b, t = ops.shape(x)[0], ops.shape(x)[1]
        q = ops.reshape(self.q_proj(x), (b, t, self.num_heads, self.head_dim))  # (B, T, N, H)
        k = ops.reshape(self.k_proj(x), (b, t, self.num_kv_heads, self.head_dim))  # (B, T, Nkv, H)
        v = ops.reshape(self.v_proj(x), (b, t, self.num_kv_heads, self.head_dim))
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        y, new_cache, probs = causal_attention(q, k, v, mask, cache=cache, cache_index=cache_index,
                                               output_attentions=output_attentions)
        return self.o_proj(ops.reshape(y, (b, t, self.num_heads * self.head_dim))), new_cache, probs


class LlamaMLP(layers.Layer):
    """SwiGLU: down(act(gate(x)) * up(x))."""

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        c = config
        dense = dict(kernel_initializer=normal_init(c.initializer_range), use_bias=c.mlp_bias, dtype=self.dtype_policy)
        self.gate_proj = layers.Dense(c.intermediate_size, **dense)
        self.up_proj = layers.Dense(c.intermediate_size, **dense)
        self.down_proj = layers.Dense(c.hidden_size, **dense)
        self.act = get_activation(c.hidden_act)

    def call(self, x):
        return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(layers.Layer):
    def __init__(self, config, sliding_window=None, **kwargs):
        super().__init__(**kwargs)
        d = self.dtype_policy
        self.input_layernorm = RMSNorm(config.rms_norm_eps, dtype=d)
        self.self_attn = LlamaAttention(config, sliding_window, dtype=d)
        self.post_attention_layernorm = RMSNorm(config.rms_norm_eps, dtype=d)
        self.mlp = LlamaMLP(config, dtype=d)

    def call(self, x, cos, sin, mask, cache=None, cache_index=None, output_attentions=False):
        a, new_cache, probs = self.self_attn(self.input_layernorm(x), cos, sin, mask, cache=cache,
                                             cache_index=cache_index, output_attentions=output_attentions)
        x = x + a
        x = x + self.mlp(self.post_attention_layernorm(x))
        return x, new_cache, probs


@register_model("AutoModel")
class LlamaModel(PreTrainedModel):
    config_class = LlamaConfig
    base_model_prefix = "model"
    weight_map = WeightMap(convert_llama.BACKBONE, prefix="model")

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        c, d = config, self.dtype_policy
        self.embed_tokens = layers.Embedding(c.vocab_size, c.hidden_size,
                                                   embeddings_initializer=normal_init(c.initializer_range), dtype=d)
        windows = self._windows = list(c.layer_sliding_windows())
        self.decoder_layers = [LlamaDecoderLayer(c, windows[i], dtype=d) for i in range(c.num_hidden_layers)]
        self.norm = RMSNorm(c.rms_norm_eps, dtype=d)
        self._rotary = RotaryEmbedding(c)

    def get_input_embeddings(self):
        return self.embed_tokens

    def cache_spec(self):
        c = self.config
        return c.num_hidden_layers, c.num_key_value_heads, c.head_dim

    def call(self, input_ids, attention_mask=None, position_ids=None, past_key_values=None, cache_index=None,
             use_cache=None, output_hidden_states=False, output_attentions=False, training=False):
        if position_ids is None:
            start = 0 if cache_index is None else cache_index
            position_ids = ops.expand_dims(ops.arange(ops.shape(input_ids)[1], dtype="int32") + start, 0)
        x = self.embed_tokens(input_ids)  # (B, T, C)
        cos, sin = self._rotary.cos_sin(position_ids)
        first = past_key_values[0] if past_key_values is not None else None
        masks = {w: build_mask(ops.shape(input_ids)[1], attention_mask, first, cache_index, w)
                 for w in set(self._windows)}  # one mask per distinct sliding window, shared by the layers
        hidden_states, attentions, new_cache = [], [], []
        for i, layer in enumerate(self.decoder_layers):
            hidden_states.append(x)
            cache = past_key_values[i] if past_key_values is not None else None
            x, layer_cache, probs = layer(x, cos, sin, masks[self._windows[i]], cache=cache, cache_index=cache_index,
                                          output_attentions=output_attentions)
            new_cache.append(layer_cache)
            attentions.append(probs)
        x = self.norm(x)
        hidden_states.append(x)
        return BaseModelOutputWithPast(
            last_hidden_state=x,
            past_key_values=new_cache if past_key_values is not None else None,
            hidden_states=tuple(hidden_states) if output_hidden_states else None,
            attentions=tuple(attentions) if output_attentions else None,
        )


class _LlamaTask:
    config_class = LlamaConfig
    base_model_prefix = "model"
    backbone_class = LlamaModel
    backbone_rules = convert_llama.BACKBONE


@register_model("AutoModelForCausalLM")
class LlamaForCausalLM(_LlamaTask, DecoderForCausalLM):
    pass


@register_model("AutoModelForSequenceClassification")
class LlamaForSequenceClassification(_LlamaTask, DecoderForSequenceClassification):
    pass


# Mistral and Qwen2: Llama's code, their own config (model_type) and class names.
@register_model("AutoModel")
class MistralModel(LlamaModel):
    config_class = MistralConfig


@register_model("AutoModelForCausalLM")
class MistralForCausalLM(LlamaForCausalLM):
    config_class = MistralConfig
    backbone_class = MistralModel


@register_model("AutoModelForSequenceClassification")
class MistralForSequenceClassification(LlamaForSequenceClassification):
    config_class = MistralConfig
    backbone_class = MistralModel


@register_model("AutoModel")
class Qwen2Model(LlamaModel):
    config_class = Qwen2Config


@register_model("AutoModelForCausalLM")
class Qwen2ForCausalLM(LlamaForCausalLM):
    config_class = Qwen2Config
    backbone_class = Qwen2Model


@register_model("AutoModelForSequenceClassification")
class Qwen2ForSequenceClassification(LlamaForSequenceClassification):
    config_class = Qwen2Config
    backbone_class = Qwen2Model
