"""GPT-2 (Radford et al. 2019) as Keras 3 layers: pre-LayerNorm blocks, learned positions, tied head."""

from keras import ops

from keras_tfm.checkpoints.weight_map import WeightMap
from keras_tfm.generation import fast_layers as layers
from keras_tfm.generation.decoder import DecoderForCausalLM, DecoderForSequenceClassification
from keras_tfm.generation.kv_cache import build_mask, causal_attention
from keras_tfm.layers.activations import get_activation, normal_init
from keras_tfm.modeling_outputs import BaseModelOutputWithPast
from keras_tfm.modeling_utils import PreTrainedModel
from keras_tfm.models.gpt2 import convert_gpt2
from keras_tfm.models.gpt2.config_gpt2 import GPT2Config
from keras_tfm.registry import register_model


class GPT2Attention(layers.Layer):
    def __init__(self, config, layer_idx, **kwargs):
        super().__init__(**kwargs)
        c, d = config, self.dtype_policy
        self.num_heads, self.head_dim = c.n_head, c.n_embd // c.n_head
        dense = dict(kernel_initializer=normal_init(c.initializer_range), dtype=d)
        self.c_attn = layers.Dense(3 * c.n_embd, **dense)  # fused q, k, v: (C, 3C) as HF's Conv1D
        self.c_proj = layers.Dense(c.n_embd, **dense)
        self.attn_dropout = layers.Dropout(c.attn_pdrop, dtype=d)
        self.resid_dropout = layers.Dropout(c.resid_pdrop, dtype=d)
        scale = 1.0 / self.head_dim ** 0.5 if c.scale_attn_weights else 1.0
        if c.scale_attn_by_inverse_layer_idx:
            scale /= float(layer_idx + 1)
        self.scale = scale

    def call(self, x, mask, cache=None, cache_index=None, output_attentions=False, training=False):
        b, t = ops.shape(x)[0], ops.shape(x)[1]
        q, k, v = ops.split(self.c_attn(x), 3, axis=-1)  # 3 x (B, T, C)
        q, k, v = (ops.reshape(z, (b, t, self.num_heads, self.head_dim)) for z in (q, k, v))
        y, new_cache, probs = causal_attention(q, k, v, mask, cache=cache, cache_index=cache_index, scale=self.scale,
                                               output_attentions=output_attentions)
        y = ops.reshape(y, (b, t, self.num_heads * self.head_dim))
        return self.resid_dropout(self.c_proj(y), training=training), new_cache, probs


class GPT2MLP(layers.Layer):
    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        c = config
        dense = dict(kernel_initializer=normal_init(c.initializer_range), dtype=self.dtype_policy)
        self.c_fc = layers.Dense(c.n_inner or 4 * c.n_embd, **dense)
        self.c_proj = layers.Dense(c.n_embd, **dense)
        self.act = get_activation(c.activation_function)
        self.dropout = layers.Dropout(c.resid_pdrop, dtype=self.dtype_policy)

    def call(self, x, training=False):
        return self.dropout(self.c_proj(self.act(self.c_fc(x))), training=training)


class GPT2Block(layers.Layer):
    def __init__(self, config, layer_idx, **kwargs):
        super().__init__(**kwargs)
        d, eps = self.dtype_policy, config.layer_norm_epsilon
        self.ln_1 = layers.LayerNormalization(epsilon=eps, dtype=d)
        self.attn = GPT2Attention(config, layer_idx, dtype=d)
        self.ln_2 = layers.LayerNormalization(epsilon=eps, dtype=d)
        self.mlp = GPT2MLP(config, dtype=d)

    def call(self, x, mask, cache=None, cache_index=None, output_attentions=False, training=False):
        a, new_cache, probs = self.attn(self.ln_1(x), mask, cache=cache, cache_index=cache_index,
                                        output_attentions=output_attentions, training=training)
        x = x + a
        x = x + self.mlp(self.ln_2(x), training=training)
        return x, new_cache, probs


@register_model("AutoModel")
class GPT2Model(PreTrainedModel):
    config_class = GPT2Config
    base_model_prefix = "transformer"
    weight_map = WeightMap(convert_gpt2.BACKBONE, prefix="transformer")

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        c, d = config, self.dtype_policy
        emb = dict(embeddings_initializer=normal_init(c.initializer_range), dtype=d)
        self.wte = layers.Embedding(c.vocab_size, c.n_embd, **emb)
        self.wpe = layers.Embedding(c.n_positions, c.n_embd, **emb)
        self.drop = layers.Dropout(c.embd_pdrop, dtype=d)
        self.h = [GPT2Block(c, i, dtype=d) for i in range(c.n_layer)]
        self.ln_f = layers.LayerNormalization(epsilon=c.layer_norm_epsilon, dtype=d)

    def get_input_embeddings(self):
        return self.wte

    def cache_spec(self):
        """(layers, key/value heads, head size) of the KV cache."""
        c = self.config
        return c.n_layer, c.n_head, c.n_embd // c.n_head

    def call(self, input_ids, attention_mask=None, position_ids=None, past_key_values=None, cache_index=None,
             use_cache=None, output_hidden_states=False, output_attentions=False, training=False):
        if position_ids is None:  # HF: positions count from the first cache slot, padding or not
            start = 0 if cache_index is None else cache_index
            position_ids = ops.expand_dims(ops.arange(ops.shape(input_ids)[1], dtype="int32") + start, 0)
        x = self.drop(self.wte(input_ids) + self.wpe(position_ids), training=training)  # (B, T, C)
        first = past_key_values[0] if past_key_values is not None else None
        mask = build_mask(ops.shape(input_ids)[1], attention_mask, first, cache_index)  # shared by the blocks
        hidden_states, attentions, new_cache = [], [], []
        for i, block in enumerate(self.h):
            hidden_states.append(x)
            cache = past_key_values[i] if past_key_values is not None else None
            x, layer_cache, probs = block(x, mask, cache=cache, cache_index=cache_index,
                                          output_attentions=output_attentions, training=training)
            new_cache.append(layer_cache)
            attentions.append(probs)
        x = self.ln_f(x)
        hidden_states.append(x)
        return BaseModelOutputWithPast(
            last_hidden_state=x,
            past_key_values=new_cache if past_key_values is not None else None,
            hidden_states=tuple(hidden_states) if output_hidden_states else None,
            attentions=tuple(attentions) if output_attentions else None,
        )


class _GPT2Task:
    config_class = GPT2Config
    base_model_prefix = "transformer"
    backbone_class = GPT2Model
    backbone_rules = convert_gpt2.BACKBONE


@register_model("AutoModelForCausalLM")
class GPT2LMHeadModel(_GPT2Task, DecoderForCausalLM):
    uses_learned_positions = True


@register_model("AutoModelForSequenceClassification")
class GPT2ForSequenceClassification(_GPT2Task, DecoderForSequenceClassification):
    pass
