"""BART (Lewis et al. 2019) as Keras 3 layers: learned positions offset by 2, an embedding norm,
post-norm encoder and decoder blocks, a tied LM head plus ``final_logits_bias``.

MBart is the same code with ``config.norm_first`` (pre-norm blocks, a final norm after the
encoder and after the decoder) and its own way of shifting labels right.
"""

import numpy as np
from keras import ops

from keras_tfm.checkpoints.weight_map import WeightMap
from keras_tfm.layers import (
    MLP,
    ClassificationHead,
    CrossAttention,
    DecoderStack,
    Dropout,
    Embedding,
    EncoderStack,
    LayerNorm,
    SelfAttention,
    TransformerBlock,
    default_position_ids,
    embedding_table,
    normal_init,
    tied_lm_logits,
)
from keras_tfm.losses import IGNORE_INDEX, sequence_classification_loss, span_loss
from keras_tfm.modeling_outputs import (
    BaseModelOutput,
    Seq2SeqQuestionAnsweringModelOutput,
    Seq2SeqSequenceClassifierOutput,
)
from keras_tfm.models.bart import convert_bart
from keras_tfm.models.bart.config_bart import BartConfig, MBartConfig
from keras_tfm.models.seq2seq_tasks import (
    EncoderDecoderModel,
    Seq2SeqForConditionalGeneration,
    Seq2SeqTaskModel,
    shift_tokens_right,
)
from keras_tfm.registry import register_model

# BART's learned position tables have 2 rows more than max_position_embeddings: position p is row p + 2.
POSITION_OFFSET = 2
LAYER_NORM_EPS = 1e-5  # torch's nn.LayerNorm default, which BART's layers use


def _norm(dtype):
    return LayerNorm(epsilon=LAYER_NORM_EPS, dtype=dtype)


def _block(c, heads, ffn_dim, dtype, cross):
    """One encoder block, or with ``cross`` one decoder block (self-, cross-attention, MLP)."""
    def attention(kind, **kwargs):
        return kind(c.d_model, heads, dropout=c.attention_dropout, initializer_range=c.init_std, dtype=dtype, **kwargs)

    return TransformerBlock(
        attention(SelfAttention, **({} if cross else {"fused": True})),
        MLP(c.d_model, ffn_dim, c.activation_function, initializer_range=c.init_std, dropout=c.activation_dropout,
            dtype=dtype),
        attention_norm=_norm(dtype), mlp_norm=_norm(dtype),
        cross_attention=attention(CrossAttention) if cross else None,
        cross_attention_norm=_norm(dtype) if cross else None,
        norm_first=c.norm_first, dropout=c.dropout, dtype=dtype)


def mbart_shift_tokens_right(input_ids, pad_token_id):
    """MBart's decoder inputs for ``input_ids`` (B, T): each row's last non-padding token (its
    language id) first, then the row but its last token; -100 read as ``pad_token_id``."""
    if pad_token_id is None:
        raise ValueError("config.pad_token_id is not set: it is needed to make decoder_input_ids from labels.")
    ids = ops.cast(input_ids, "int32")
    ids = ops.where(ops.equal(ids, IGNORE_INDEX), ops.full_like(ids, pad_token_id), ids)
    last = ops.sum(ops.cast(ops.not_equal(ids, pad_token_id), "int32"), axis=1) - 1  # (B,)
    start = ops.take_along_axis(ids, ops.expand_dims(ops.maximum(last, 0), 1), axis=1)  # (B, 1)
    return ops.concatenate([start, ids[:, :-1]], axis=1)


@register_model("AutoModel")
class BartModel(EncoderDecoderModel):
    """Shared token embeddings (scaled by ``config.embed_scale``), each side's learned positions
    and embedding norm, an ``EncoderStack`` and a ``DecoderStack`` (final norms with
    ``config.norm_first``)."""

    config_class = BartConfig
    base_model_prefix = "model"
    weight_map = WeightMap(convert_bart.BACKBONE, prefix="model")

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        c, d = config, self.dtype_policy
        init = normal_init(c.init_std)
        positions = c.max_position_embeddings + POSITION_OFFSET
        self.shared = Embedding(c.vocab_size, c.d_model, embeddings_initializer=init, dtype=d)
        # tie_word_embeddings=False unties the encoder's and decoder's token embeddings from
        # `shared` too (transformers 5); tied (None here), both sides read `shared`.
        self.encoder_embed_tokens = self.decoder_embed_tokens = None
        if not c.tie_word_embeddings:
            self.encoder_embed_tokens = Embedding(c.vocab_size, c.d_model, embeddings_initializer=init, dtype=d)
            self.decoder_embed_tokens = Embedding(c.vocab_size, c.d_model, embeddings_initializer=init, dtype=d)
            self.shared.build()  # read by no call then (HF keeps it as the input embeddings)
        self.encoder_positions = Embedding(positions, c.d_model, embeddings_initializer=init, dtype=d)
        self.encoder_embedding_norm = _norm(d)
        self.encoder = EncoderStack(
            [_block(c, c.encoder_attention_heads, c.encoder_ffn_dim, d, cross=False) for _ in range(c.encoder_layers)],
            _norm(d) if c.norm_first else None, dtype=d)
        self.decoder_positions = Embedding(positions, c.d_model, embeddings_initializer=init, dtype=d)
        self.decoder_embedding_norm = _norm(d)
        self.decoder = DecoderStack(
            [_block(c, c.decoder_attention_heads, c.decoder_ffn_dim, d, cross=True) for _ in range(c.decoder_layers)],
            _norm(d) if c.norm_first else None, dtype=d)
        self.embedding_dropout = Dropout(c.dropout, dtype=d) if c.dropout else None

    def get_input_embeddings(self):
        return self.shared

    def cache_spec(self):
        c = self.config
        return c.decoder_layers, c.decoder_attention_heads, c.d_model // c.decoder_attention_heads

    def dummy_inputs(self):
        eos = self.config.eos_token_id if isinstance(self.config.eos_token_id, int) else 2
        return {"input_ids": np.array([[3 % self.config.vocab_size, eos]], "int32"),
                "decoder_input_ids": np.array([[eos, 3 % self.config.vocab_size]], "int32")}

    def default_decoder_input_ids(self, input_ids):
        return shift_tokens_right(input_ids, self.config.pad_token_id, self.config.decoder_start_token_id)

    def embed(self, ids, position_ids, tokens, positions, norm, training):
        """Scaled token embeddings (``tokens``, else ``shared``) plus learned positions, normed (and
        dropped out in training)."""
        length = ids.shape[1]
        if length is not None and length > self.config.max_position_embeddings:
            raise ValueError(f"{type(self).__name__} takes at most {self.config.max_position_embeddings} tokens "
                             f"(config.max_position_embeddings); got a sequence of {length}.")
        x = (tokens or self.shared)(ids)
        if self.config.scale_embedding:
            x = x * ops.cast(self.config.embed_scale, x.dtype)
        x = norm(x + positions(ops.cast(position_ids, "int32") + POSITION_OFFSET))
        if training and self.embedding_dropout is not None:
            x = self.embedding_dropout(x, training=True)
        return x

    def run_encoder(self, input_ids, attention_mask, output_hidden_states, output_attentions, training):
        input_ids = ops.convert_to_tensor(input_ids)
        x = self.embed(input_ids, default_position_ids(ops.shape(input_ids)[1]), self.encoder_embed_tokens,
                       self.encoder_positions, self.encoder_embedding_norm, training)
        x, hidden, attentions = self.encoder(x, attention_mask, output_hidden_states=output_hidden_states,
                                             output_attentions=output_attentions, training=training)
        if hidden is not None and self.encoder.final_norm is not None:
            hidden = hidden[:-1] + (x,)  # HF's last encoder hidden state is the normed one
        return BaseModelOutput(last_hidden_state=x, hidden_states=hidden, attentions=attentions)

    def run_decoder(self, decoder_input_ids, encoder_hidden_states, attention_mask, decoder_attention_mask,
                    decoder_position_ids, past_key_values, cache_index, output_hidden_states, output_attentions,
                    training):
        decoder_input_ids = ops.convert_to_tensor(decoder_input_ids)
        if decoder_position_ids is None:
            decoder_position_ids = default_position_ids(ops.shape(decoder_input_ids)[1], cache_index)
        y = self.embed(decoder_input_ids, decoder_position_ids, self.decoder_embed_tokens, self.decoder_positions,
                       self.decoder_embedding_norm, training)
        return self.decoder(y, decoder_attention_mask, decoder_position_ids, cache=past_key_values,
                            cache_index=cache_index, encoder_hidden_states=encoder_hidden_states,
                            encoder_attention_mask=attention_mask, output_hidden_states=output_hidden_states,
                            output_attentions=output_attentions, training=training)


def _seq2seq_states(out):
    """The backbone outputs a Seq2Seq head passes on (all but the last decoder state)."""
    return {k: v for k, v in out.items() if k != "last_hidden_state"}


@register_model("AutoModelForSeq2SeqLM")
class BartForConditionalGeneration(Seq2SeqForConditionalGeneration):
    """The LM head: logits on ``shared`` (or an untied ``lm_head``) plus ``final_logits_bias``,
    a non-trainable (1, V) buffer as in HF."""

    backbone_class = BartModel
    head_rules = convert_bart.LM_HEAD
    uses_learned_positions = True

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.lm_head = None if config.tie_word_embeddings else self.dense(config.vocab_size, use_bias=False)
        self.final_logits_bias = self.add_weight(shape=(1, config.vocab_size), initializer="zeros",
                                                 trainable=False, name="final_logits_bias")

    def dummy_inputs(self):
        return self.backbone.dummy_inputs()

    def lm_logits(self, hidden):
        if self.lm_head is None:
            logits = tied_lm_logits(hidden, embedding_table(self.get_input_embeddings(), hidden.dtype))
        else:
            logits = self.lm_head(hidden)
        return logits + ops.cast(self.final_logits_bias, logits.dtype)


class _BartTaskModel(Seq2SeqTaskModel):
    """A head on the last decoder state (classification, question answering)."""

    def dummy_inputs(self):
        return self.backbone.dummy_inputs()

    def run(self, input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, encoder_outputs,
            output_hidden_states, output_attentions, training):
        return self.run_backbone(
            input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
            decoder_attention_mask=decoder_attention_mask, encoder_outputs=encoder_outputs,
            output_hidden_states=self.flag("output_hidden_states", output_hidden_states),
            output_attentions=self.flag("output_attentions", output_attentions), training=training)


def last_eos_positions(input_ids, eos_token_id):
    """(B,) the position of each row's last ``eos_token_id``; ValueError (when the ids are concrete)
    if the rows hold different numbers of them, or none, as HF checks."""
    is_eos = ops.cast(ops.equal(ops.cast(input_ids, "int32"), eos_token_id), "int32")
    try:
        counts = ops.convert_to_numpy(ops.sum(is_eos, axis=1))
    except Exception:  # symbolic ids (a traced training step): nothing to check here
        counts = None
    if counts is not None:
        if len(set(counts.tolist())) > 1:
            raise ValueError("All examples must have the same number of <eos> tokens.")
        if counts.size and counts[0] < 1:
            raise ValueError("Each example must contain at least one <eos> token.")
    length = ops.shape(input_ids)[1]
    return ops.cast(ops.argmax(ops.arange(length, dtype="int32")[None, :] * is_eos, axis=-1), "int32")


@register_model("AutoModelForSequenceClassification")
class BartForSequenceClassification(_BartTaskModel):
    """Classification of the decoder state at the last ``eos_token_id`` of ``input_ids``."""

    backbone_class = BartModel
    head_rules = convert_bart.CLASSIFIER

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.classification_head = ClassificationHead(config.d_model, config.num_labels, config.classifier_dropout,
                                                      config.init_std, dtype=self.dtype_policy)

    def call(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
             encoder_outputs=None, labels=None, use_cache=None, output_hidden_states=None, output_attentions=None,
             training=False):
        if input_ids is None:
            raise ValueError(f"{type(self).__name__} needs input_ids (it pools at their last <eos> token).")
        last = last_eos_positions(input_ids, self.config.eos_token_id)
        if decoder_input_ids is not None and decoder_input_ids.shape[1] != input_ids.shape[1]:
            raise ValueError(f"{type(self).__name__} pools the decoder states at the <eos> positions of input_ids: "
                             f"decoder_input_ids must have their length ({input_ids.shape[1]}), got "
                             f"{decoder_input_ids.shape[1]}.")
        out = self.run(input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, encoder_outputs,
                       output_hidden_states, output_attentions, training)
        hidden = out.last_hidden_state
        pooled = ops.take_along_axis(hidden, ops.reshape(last, (-1, 1, 1)), axis=1)[:, 0]  # (B, C)
        logits = self.classification_head(pooled, training=training)
        loss = None if labels is None else sequence_classification_loss(logits, labels, self.config)
        return Seq2SeqSequenceClassifierOutput(loss=loss, logits=logits, **_seq2seq_states(out))


@register_model("AutoModelForQuestionAnswering")
class BartForQuestionAnswering(_BartTaskModel):
    """Span start / end logits from the last decoder state."""

    backbone_class = BartModel
    head_rules = convert_bart.QA

    def __init__(self, config, **kwargs):
        config.num_labels = 2  # start, end (as HF sets it)
        super().__init__(config, **kwargs)
        self.qa_outputs = self.dense(2)

    def call(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
             encoder_outputs=None, start_positions=None, end_positions=None, use_cache=None,
             output_hidden_states=None, output_attentions=None, training=False):
        out = self.run(input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, encoder_outputs,
                       output_hidden_states, output_attentions, training)
        logits = self.qa_outputs(out.last_hidden_state)  # (B, T, 2)
        start_logits, end_logits = logits[..., 0], logits[..., 1]
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = span_loss(start_logits, end_logits, start_positions, end_positions)
        return Seq2SeqQuestionAnsweringModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits,
                                                   **_seq2seq_states(out))


# MBart: BART's code with its config (pre-norm, final norms) and its label shifting.
@register_model("AutoModel")
class MBartModel(BartModel):
    config_class = MBartConfig

    def default_decoder_input_ids(self, input_ids):
        return mbart_shift_tokens_right(input_ids, self.config.pad_token_id)


@register_model("AutoModelForSeq2SeqLM")
class MBartForConditionalGeneration(BartForConditionalGeneration):
    backbone_class = MBartModel

    def prepare_decoder_input_ids_from_labels(self, labels):
        return mbart_shift_tokens_right(ops.convert_to_tensor(labels), self.config.pad_token_id)


@register_model("AutoModelForSequenceClassification")
class MBartForSequenceClassification(BartForSequenceClassification):
    backbone_class = MBartModel


@register_model("AutoModelForQuestionAnswering")
class MBartForQuestionAnswering(BartForQuestionAnswering):
    backbone_class = MBartModel
