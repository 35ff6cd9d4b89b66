"""Whisper (Radford et al. 2022) as Keras 3 layers: a conv stem over log-mel features (two
``Conv1D`` + GELU, the second of stride 2), fixed sinusoidal encoder positions, pre-norm encoder
and decoder blocks with final norms, learned decoder positions, k_proj without a bias, and
``proj_out`` tied to the decoder's token embeddings.

Like MBart, with features instead of encoder tokens; its generation (language / task prompt,
timestamps) is ``keras_tfm.generation.whisper``'s.
"""

import keras
import numpy as np
from keras import ops

from keras_tfm.checkpoints.weight_map import WeightMap
from keras_tfm.layers import (
    MLP,
    ConcatenatedSinusoids,
    Conv1D,
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
    flatten_spatial,
    get_activation,
    normal_init,
    tied_lm_logits,
    to_internal,
)
from keras_tfm.modeling_outputs import BaseModelOutput
from keras_tfm.models.seq2seq_tasks import EncoderDecoderModel, Seq2SeqForConditionalGeneration
from keras_tfm.models.whisper import convert_whisper
from keras_tfm.models.whisper.config_whisper import WhisperConfig
from keras_tfm.registry import register_model

LAYER_NORM_EPS = 1e-5  # torch's nn.LayerNorm default
CONV_STRIDE = 2  # conv1 (stride 1) then conv2 (stride 2): the encoder sees half the mel frames


def _norm(dtype):
    return LayerNorm(epsilon=LAYER_NORM_EPS, dtype=dtype)


def _block(c, heads, ffn_dim, dtype, cross):
    """One pre-norm encoder block, or with ``cross`` one decoder block."""
    def attention(kind, **kwargs):
        return kind(c.d_model, heads, key_bias=False, dropout=c.attention_dropout, initializer_range=c.init_std,
                    dtype=dtype, **kwargs)

    return TransformerBlock(
        attention(SelfAttention, **({} if cross else {"fused": True})),
        MLP(c.d_model, ffn_dim, c.activation_function, initializer_range=c.init_std, dropout=c.activation_dropout,
            dtype=dtype),
        attention_norm=_norm(dtype), mlp_norm=_norm(dtype),
        cross_attention=attention(CrossAttention) if cross else None,
        cross_attention_norm=_norm(dtype) if cross else None,
        norm_first=True, dropout=c.dropout, dtype=dtype)


def feature_output_lengths(input_lengths):
    """The encoder's output length for ``input_lengths`` mel frames (HF's
    ``_get_feat_extract_output_lengths``)."""
    return (input_lengths - 1) // 2 + 1


@register_model("AutoModel")
class WhisperModel(EncoderDecoderModel):
    """The conv stem, encoder positions and ``EncoderStack``; the decoder's token embeddings,
    learned positions and ``DecoderStack``. Main input: ``input_features`` (B, num_mel_bins,
    2 * max_source_positions), as ``WhisperFeatureExtractor`` makes them."""

    config_class = WhisperConfig
    base_model_prefix = "model"
    main_input_name = "input_features"
    weight_map = WeightMap(convert_whisper.BACKBONE, prefix="model")

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        c, d = config, self.dtype_policy
        init = normal_init(c.init_std)
        self.conv1 = Conv1D(c.d_model, 3, padding=1, kernel_initializer=init, dtype=d)
        self.conv2 = Conv1D(c.d_model, 3, strides=CONV_STRIDE, padding=1, kernel_initializer=init, dtype=d)
        self.encoder_positions = Embedding(c.max_source_positions, c.d_model,
                                           embeddings_initializer=ConcatenatedSinusoids(), trainable=False, dtype=d)
        self.encoder = EncoderStack(
            [_block(c, c.encoder_attention_heads, c.encoder_ffn_dim, d, cross=False) for _ in range(c.encoder_layers)],
            _norm(d), dtype=d)
        self.embed_tokens = Embedding(c.vocab_size, c.d_model, embeddings_initializer=init, dtype=d)
        self.decoder_positions = Embedding(c.max_target_positions, c.d_model, embeddings_initializer=init, dtype=d)
        self.decoder = DecoderStack(
            [_block(c, c.decoder_attention_heads, c.decoder_ffn_dim, d, cross=True) for _ in range(c.decoder_layers)],
            _norm(d), dtype=d)
        self.embedding_dropout = Dropout(c.dropout, dtype=d) if c.dropout else None
        self._gelu = get_activation("gelu")

    def get_input_embeddings(self):
        return self.embed_tokens

    def cache_spec(self):
        c = self.config
        return c.decoder_layers, c.decoder_attention_heads, c.d_model // c.decoder_attention_heads

    @property
    def num_frames(self):
        """The mel frames the encoder takes: 2 * max_source_positions (3000, 30 s, for Whisper's)."""
        return self.config.max_source_positions * CONV_STRIDE

    def dummy_inputs(self):
        c = self.config
        return {"input_features": np.zeros((1, c.num_mel_bins, self.num_frames), "float32"),
                "decoder_input_ids": np.array([[c.decoder_start_token_id % c.vocab_size]], "int32")}

    def call(self, input_features=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
             decoder_position_ids=None, encoder_outputs=None, encoder_hidden_states=None, past_key_values=None,
             cache_index=None, use_cache=None, output_hidden_states=None, output_attentions=None, training=False):
        """As ``EncoderDecoderModel.call``, with ``input_features`` (B, num_mel_bins, frames) for
        the encoder; ``attention_mask`` (over the frames) is accepted and unused, as in HF."""
        if decoder_input_ids is None and (input_features is not None or encoder_outputs is not None):
            raise ValueError(f"{type(self).__name__} needs decoder_input_ids (or labels, in "
                             "WhisperForConditionalGeneration).")
        return super().call(input_ids=input_features, attention_mask=None, decoder_input_ids=decoder_input_ids,
                            decoder_attention_mask=decoder_attention_mask, decoder_position_ids=decoder_position_ids,
                            encoder_outputs=encoder_outputs, encoder_hidden_states=encoder_hidden_states,
                            past_key_values=past_key_values, cache_index=cache_index, use_cache=use_cache,
                            output_hidden_states=output_hidden_states, output_attentions=output_attentions,
                            training=training)

    def run_encoder(self, input_features, attention_mask, output_hidden_states, output_attentions, training):
        """``input_features`` (B, num_mel_bins, frames) -> the encoder's states (B, frames / 2, C)."""
        features = ops.convert_to_tensor(input_features)
        if len(features.shape) != 3 or features.shape[1] != self.config.num_mel_bins:
            raise ValueError(f"{type(self).__name__} takes input_features of shape (batch, num_mel_bins="
                             f"{self.config.num_mel_bins}, frames), got {tuple(features.shape)}.")
        if features.shape[-1] != self.num_frames:
            raise ValueError(f"Whisper expects the mel input features to be of length {self.num_frames}, but found "
                             f"{features.shape[-1]}. Make sure to pad the input mel features to {self.num_frames}.")
        x = to_internal(ops.cast(features, self.compute_dtype))
        x = self._gelu(self.conv2(self._gelu(self.conv1(x))))
        x = flatten_spatial(x)  # (B, T, C)
        x = x + self.encoder_positions(ops.arange(self.config.max_source_positions, dtype="int32"))[None]
        if training and self.embedding_dropout is not None:
            x = self.embedding_dropout(x, training=True)
        x, hidden, attentions = self.encoder(x, None, output_hidden_states=output_hidden_states,
                                             output_attentions=output_attentions, training=training)
        if hidden is not None:
            hidden = hidden[:-1] + (x,)  # HF's last encoder hidden state is the normed one
        return BaseModelOutput(last_hidden_state=x, hidden_states=hidden, attentions=attentions)

    def run_decoder(self, decoder_input_ids, encoder_hidden_states, attention_mask, decoder_attention_mask,
                    decoder_position_ids, past_key_values, cache_index, output_hidden_states, output_attentions,
                    training):
        ids = ops.convert_to_tensor(decoder_input_ids)
        length = ids.shape[1]
        if length is not None and length > self.config.max_target_positions:
            raise ValueError(f"{type(self).__name__} takes at most {self.config.max_target_positions} decoder tokens "
                             f"(config.max_target_positions); got {length}.")
        if decoder_position_ids is None:
            decoder_position_ids = default_position_ids(ops.shape(ids)[1], cache_index)
        y = self.embed_tokens(ids) + self.decoder_positions(ops.cast(decoder_position_ids, "int32"))
        if training and self.embedding_dropout is not None:
            y = self.embedding_dropout(y, training=True)
        # HF's decoder attends to every encoder state: no encoder mask
        return self.decoder(y, decoder_attention_mask, decoder_position_ids, cache=past_key_values,
                            cache_index=cache_index, encoder_hidden_states=encoder_hidden_states,
                            encoder_attention_mask=None, output_hidden_states=output_hidden_states,
                            output_attentions=output_attentions, training=training)


@register_model("AutoModelForSpeechSeq2Seq")
class WhisperForConditionalGeneration(Seq2SeqForConditionalGeneration):
    """Whisper with its LM head ``proj_out`` (tied to the decoder's ``embed_tokens`` unless
    ``tie_word_embeddings=False``). ``generate(input_features, language=..., task=...,
    return_timestamps=...)`` runs Whisper's short-form generation (``keras_tfm.generation.whisper``)."""

    backbone_class = WhisperModel
    head_rules = convert_whisper.LM_HEAD
    main_input_name = "input_features"
    generator = "whisper"
    uses_learned_positions = True  # no decoder position past max_target_positions

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.proj_out = None if config.tie_word_embeddings else self.dense(config.vocab_size, use_bias=False)

    def dummy_inputs(self):
        return self.backbone.dummy_inputs()

    @property
    def num_frames(self):
        return self.backbone.num_frames

    def _get_feat_extract_output_lengths(self, input_lengths):
        return feature_output_lengths(input_lengths)

    def lm_logits(self, hidden):
        if self.proj_out is None:
            return tied_lm_logits(hidden, embedding_table(self.get_input_embeddings(), hidden.dtype))
        return self.proj_out(hidden)

    def run_backbone(self, input_ids=None, attention_mask=None, **kwargs):
        return keras.Model.__call__(self.backbone, input_features=input_ids, **kwargs)

    def call(self, input_features=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
             decoder_position_ids=None, encoder_outputs=None, encoder_hidden_states=None, past_key_values=None,
             cache_index=None, labels=None, logits_to_keep=0, use_cache=None, output_hidden_states=None,
             output_attentions=None, training=False):
        """Logits (B, T, vocab) over ``decoder_input_ids`` (or ``labels`` shifted right, with the
        mean cross-entropy over the labels that are not -100) for ``input_features``."""
        if labels is not None and labels.shape[1] is not None and labels.shape[1] > self.config.max_target_positions:
            raise ValueError(f"Labels' sequence length {labels.shape[1]} cannot exceed the maximum allowed length of "
                             f"{self.config.max_target_positions} tokens.")
        return super().call(input_ids=input_features, attention_mask=attention_mask,
                            decoder_input_ids=decoder_input_ids, decoder_attention_mask=decoder_attention_mask,
                            decoder_position_ids=decoder_position_ids, encoder_outputs=encoder_outputs,
                            encoder_hidden_states=encoder_hidden_states, past_key_values=past_key_values,
                            cache_index=cache_index, labels=labels, logits_to_keep=logits_to_keep,
                            use_cache=use_cache, output_hidden_states=output_hidden_states,
                            output_attentions=output_attentions, training=training)
