"""T5 (Raffel et al. 2020) as Keras 3 layers: pre-norm blocks with RMS norms, no attention scaling
and no projection biases, a learned relative-position bias computed once per stack and shared
by its blocks, ReLU (v1.0) or gated-GELU (v1.1 / Flan-T5, mT5) feed-forward.

An encoder-decoder on the shared base (``models/seq2seq_tasks.py``): ``generate()`` runs it
through the encoder-decoder stepper, the decoder's relative bias counted from the cache index.
"""

import keras
import numpy as np
from keras import ops

from keras_tfm.checkpoints.weight_map import WeightMap
from keras_tfm.layers import (
    MLP,
    CrossAttention,
    DecoderStack,
    Dropout,
    Embedding,
    EncoderStack,
    GatedMLP,
    RelativePositionBias,
    RMSNorm,
    SelfAttention,
    TransformerBlock,
    embedding_table,
    normal_init,
    tied_lm_logits,
)
from keras_tfm.modeling_outputs import BaseModelOutput
from keras_tfm.models.base import Backbone
from keras_tfm.models.seq2seq_tasks import EncoderDecoderModel, Seq2SeqForConditionalGeneration
from keras_tfm.models.t5 import convert_t5
from keras_tfm.models.t5.config_t5 import MT5Config, T5Config
from keras_tfm.registry import register_model


class _Builder:
    """T5's layers for one config, with HF's initialisation scales (``initializer_factor``)."""

    def __init__(self, config, dtype):
        self.c, self.d = config, dtype

    def init(self, stddev):
        return normal_init(self.c.initializer_factor * stddev)

    def norm(self):
        return RMSNorm(self.c.layer_norm_epsilon, dtype=self.d)

    def attention(self, kind, **kwargs):
        c = self.c
        layer = kind(c.d_model, c.num_heads, head_dim=c.d_kv, use_bias=False, scale=1.0, dropout=c.dropout_rate,
                     initializer_range=c.initializer_factor * c.d_model ** -0.5, dtype=self.d, **kwargs)
        # HF's scales (its scores are not scaled, so q starts smaller): q over d_model * d_kv, o over
        # the heads' width; k and v over d_model. Set before the kernels are built.
        layer.q_proj.kernel_initializer = self.init((c.d_model * c.d_kv) ** -0.5)
        layer.o_proj.kernel_initializer = self.init((c.num_heads * c.d_kv) ** -0.5)
        return layer

    def feed_forward(self):
        c = self.c
        kind = GatedMLP if c.is_gated_act else MLP
        layer = kind(c.d_model, c.d_ff, c.dense_act_fn, use_bias=False, dropout=c.dropout_rate,
                     initializer_range=c.initializer_factor * c.d_model ** -0.5, dtype=self.d)
        layer.down_proj.kernel_initializer = self.init(c.d_ff ** -0.5)  # HF: wo over d_ff
        return layer

    def block(self, cross):
        return TransformerBlock(
            self.attention(SelfAttention, fused=True if not cross else None), self.feed_forward(),
            attention_norm=self.norm(), mlp_norm=self.norm(),
            cross_attention=self.attention(CrossAttention) if cross else None,
            cross_attention_norm=self.norm() if cross else None, dropout=self.c.dropout_rate, dtype=self.d)

    def position_bias(self, bidirectional):
        c = self.c
        return RelativePositionBias(c.relative_attention_num_buckets, c.num_heads, c.relative_attention_max_distance,
                                    bidirectional, initializer=self.init(c.d_model ** -0.5), dtype=self.d)


def _weight_map(cls, config, rules):
    """``cls.weight_map``, or for a gated (v1.1) config the same map saving ``wi_0`` / ``wi_1``."""
    if not config.is_gated_act:
        return cls.weight_map
    base = cls.weight_map
    return WeightMap(rules(True), getattr(cls, "head_rules", ()), prefix=base.prefix, is_base=base.is_base)


class _T5Encoder:
    """The shared token embeddings and the encoder stack (``T5Model`` and ``T5EncoderModel``)."""

    def build_encoder(self, config):
        b = _Builder(config, self.dtype_policy)
        self.shared = Embedding(config.vocab_size, config.d_model, embeddings_initializer=b.init(1.0),
                                dtype=self.dtype_policy)
        self.dropout = Dropout(config.dropout_rate, dtype=self.dtype_policy)
        self.encoder_position_bias = b.position_bias(bidirectional=True)
        self.encoder = EncoderStack([b.block(cross=False) for _ in range(config.num_layers)], b.norm(),
                                    dtype=self.dtype_policy)
        return b

    def get_input_embeddings(self):
        return self.shared

    def run_encoder(self, input_ids, attention_mask, output_hidden_states, output_attentions, training):
        x = self.dropout(self.shared(input_ids), training=training)
        positions = ops.arange(ops.shape(input_ids)[1], dtype="int32")
        bias = self.encoder_position_bias(positions, positions)
        x, hidden, attentions = self.encoder(x, attention_mask, bias=bias, output_hidden_states=output_hidden_states,
                                             output_attentions=output_attentions, training=training)
        x = self.dropout(x, training=training)
        if hidden is not None:  # HF: each block's input, then the normed output (not the last block's)
            hidden = hidden[:-1] + (x,)
        return BaseModelOutput(last_hidden_state=x, hidden_states=hidden, attentions=attentions)


@register_model("AutoModel")
class T5Model(_T5Encoder, EncoderDecoderModel):
    config_class = T5Config
    base_model_prefix = ""
    weight_map = WeightMap(convert_t5.BACKBONE)

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.weight_map = _weight_map(type(self), config, convert_t5.backbone_rules)
        b = self.build_encoder(config)
        self.decoder_position_bias = b.position_bias(bidirectional=False)
        self.decoder = DecoderStack([b.block(cross=True) for _ in range(config.num_decoder_layers)], b.norm(),
                                    dtype=self.dtype_policy)

    def dummy_inputs(self):
        return {"input_ids": np.array([[1, 2]], "int32"), "decoder_input_ids": np.array([[0, 1]], "int32")}

    def cache_spec(self):
        c = self.config
        return c.num_decoder_layers, c.num_heads, c.d_kv

    def run_decoder(self, decoder_input_ids, encoder_hidden_states, attention_mask, decoder_attention_mask,
                    decoder_position_ids, past_key_values, cache_index, output_hidden_states, output_attentions,
                    training):
        length = ops.shape(decoder_input_ids)[1]
        bias = self.decoder_position_bias.for_decoding(
            length, cache_index, length if past_key_values is None else past_key_values.num_slots)
        y = self.dropout(self.shared(decoder_input_ids), training=training)
        x, cache, hidden, attentions, cross = self.decoder(
            y, decoder_attention_mask, decoder_position_ids, cache=past_key_values, cache_index=cache_index,
            encoder_hidden_states=encoder_hidden_states, encoder_attention_mask=attention_mask,
            bias=bias, output_hidden_states=output_hidden_states,
            output_attentions=output_attentions, training=training)
        x = self.dropout(x, training=training)
        if hidden is not None:
            hidden = hidden[:-1] + (x,)
        return x, cache, hidden, attentions, cross


@register_model("AutoModelForSeq2SeqLM")
class T5ForConditionalGeneration(Seq2SeqForConditionalGeneration):
    """T5 with its LM head: tied to ``shared`` and fed the decoder's output times ``d_model ** -0.5``
    (v1.0), or a head of its own without the scaling (v1.1, ``tie_word_embeddings=False``)."""

    backbone_class = T5Model
    head_rules = convert_t5.LM_HEAD

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.weight_map = _weight_map(type(self), config, convert_t5.backbone_rules)
        self.lm_head = None if config.tie_word_embeddings else self._new_lm_head()

    def _new_lm_head(self):
        return keras.layers.Dense(self.config.vocab_size, use_bias=False, dtype=self.dtype_policy,
                                  kernel_initializer=normal_init(self.config.initializer_factor))

    def dummy_inputs(self):
        return self.backbone.dummy_inputs()

    def load_state_dict_hf(self, state, ignore_mismatched_sizes=False):
        """As every model; and a tied config whose checkpoint holds an ``lm_head.weight`` of its own
        (transformers 5 writes ``tie_word_embeddings: true`` for every T5, v1.1 included) gets an
        untied head, as transformers 5 then gives it."""
        if self.lm_head is None and "lm_head.weight" in state and "shared.weight" in state and not np.array_equal(
                np.asarray(state["lm_head.weight"]), np.asarray(state["shared.weight"])):
            if self.built:
                raise ValueError("This checkpoint's lm_head.weight is not its shared.weight: load it into a model "
                                 "built from a config with tie_word_embeddings=False.")
            self.config.tie_word_embeddings = False
            self.lm_head = self._new_lm_head()
        return super().load_state_dict_hf(state, ignore_mismatched_sizes=ignore_mismatched_sizes)

    def lm_logits(self, hidden):
        if self.config.scale_decoder_outputs:
            hidden = hidden * ops.cast(self.config.d_model ** -0.5, hidden.dtype)
        if self.lm_head is not None:
            return self.lm_head(hidden)
        return tied_lm_logits(hidden, embedding_table(self.get_input_embeddings(), hidden.dtype))


@register_model("AutoModelForTextEncoding")
class T5EncoderModel(_T5Encoder, Backbone):
    """T5's encoder alone (HF's ``T5EncoderModel``): the last hidden state of ``input_ids``."""

    config_class = T5Config
    base_model_prefix = ""
    weight_map = WeightMap(convert_t5.encoder_only_rules())

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.weight_map = _weight_map(type(self), config, convert_t5.encoder_only_rules)
        self.build_encoder(config)

    def call(self, input_ids=None, attention_mask=None, output_hidden_states=None, output_attentions=None,
             training=False):
        return self.run_encoder(input_ids, attention_mask, self.flag("output_hidden_states", output_hidden_states),
                                self.flag("output_attentions", output_attentions), training)


def _mt5(cls):
    """``cls``'s mT5 twin: the same code under ``MT5Config`` (model_type "mt5") and an MT5 name."""
    name = cls.__name__.replace("T5", "MT5", 1)
    attributes = {"config_class": MT5Config, "__doc__": f"mT5's {cls.__name__} (T5 v1.1's architecture)."}
    if cls is T5ForConditionalGeneration:
        attributes["backbone_class"] = MT5Model
    return type(name, (cls,), attributes)


MT5Model = register_model("AutoModel")(_mt5(T5Model))
MT5ForConditionalGeneration = register_model("AutoModelForSeq2SeqLM")(_mt5(T5ForConditionalGeneration))
MT5EncoderModel = register_model("AutoModelForTextEncoding")(_mt5(T5EncoderModel))
