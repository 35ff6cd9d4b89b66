"""BLIP (Li et al. 2022) for captioning, as Keras 3 layers: a vision transformer (ViT's embeddings,
pre-norm blocks with a fused qkv projection, a final norm) whose states a BERT-style text decoder
(causal self-attention, cross-attention to the image in every block, post-norm, an MLM-style head
tied to the word embeddings) reads.

Generation runs through the encoder-decoder stepper: the vision model is the encoder, the text
prompt ([DEC] first) the decoder prompt.
"""

import keras
import numpy as np
from keras import ops

from keras_tfm.layers import (
    MLP,
    CrossAttention,
    DecoderStack,
    EncoderStack,
    FusedQKVSelfAttention,
    LayerNorm,
    MaskedLMHead,
    SelfAttention,
    TextEmbeddings,
    TransformerBlock,
    embedding_table,
    last_positions,
)
from keras_tfm.losses import cross_entropy
from keras_tfm.modeling_outputs import (
    BaseModelOutputWithPooling,
    BlipForConditionalGenerationModelOutput,
    CausalLMOutputWithCrossAttentions,
)
from keras_tfm.models.base import Backbone
from keras_tfm.models.blip import convert_blip
from keras_tfm.models.blip.config_blip import BlipConfig, BlipTextConfig, BlipVisionConfig
from keras_tfm.models.generative import GenerativeModel
from keras_tfm.models.vit.model_vit import ViTEmbeddings, _pair
from keras_tfm.registry import register_model


@register_model("AutoModel")
class BlipVisionModel(Backbone):
    """pixel_values (B, C, H, W) -> (B, 1 + patches, hidden): [CLS] + patch embeddings + positions,
    pre-norm blocks, ``post_layernorm``; ``pooler_output`` is the [CLS] state normed once more (as HF)."""

    config_class = BlipVisionConfig
    base_model_prefix = "vision_model"
    main_input_name = "pixel_values"
    weight_map = convert_blip.VISION_MAP

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        c, d = config, self.dtype_policy

        def norm():
            return LayerNorm(epsilon=c.layer_norm_eps, dtype=d)

        self.embeddings = ViTEmbeddings(c, dtype=d)
        blocks = [TransformerBlock(
            FusedQKVSelfAttention(c.hidden_size, c.num_attention_heads, fused=True, dropout=c.attention_dropout,
                                  initializer_range=c.initializer_range, dtype=d),
            MLP(c.hidden_size, c.intermediate_size, c.hidden_act, initializer_range=c.initializer_range, dtype=d),
            attention_norm=norm(), mlp_norm=norm(), norm_first=True, dtype=d) for _ in range(c.num_hidden_layers)]
        self.encoder = EncoderStack(blocks, final_norm=norm(), dtype=d)

    def num_states(self, height, width):
        """The states an image of ``height`` x ``width`` pixels makes: [CLS] and one per patch."""
        patch = _pair(self.config.patch_size)
        return (height // patch[0]) * (width // patch[1]) + 1

    def dummy_inputs(self):
        size = _pair(self.config.image_size)
        return {"pixel_values": np.zeros((1, self.config.num_channels, *size), "float32")}

    def call(self, pixel_values=None, interpolate_pos_encoding=None, output_hidden_states=None, output_attentions=None,
             training=False):
        if pixel_values is None:
            raise ValueError("You have to specify pixel_values")
        x = self.embeddings(pixel_values, interpolate_pos_encoding=bool(interpolate_pos_encoding), training=training)
        x, hidden_states, attentions = self.encoder(
            x, None, output_hidden_states=self.flag("output_hidden_states", output_hidden_states),
            output_attentions=self.flag("output_attentions", output_attentions), training=training)
        pooled = self.encoder.final_norm(x[:, 0, :])
        return BaseModelOutputWithPooling(last_hidden_state=x, pooler_output=pooled, hidden_states=hidden_states,
                                          attentions=attentions)


class BlipTextLMHeadModel(Backbone):
    """BLIP's text decoder (HF's ``BlipTextLMHeadModel``): word + learned position embeddings with a
    norm, post-norm blocks of causal self-attention, cross-attention to ``encoder_hidden_states`` and an
    MLP, and the MLM-style head on the tied word embeddings.

    With ``labels`` (B, T) the loss is HF's: the logits of positions ``:-1`` against the labels
    ``1:`` (not -100), mean cross-entropy with ``config.label_smoothing``.
    """

    config_class = BlipTextConfig
    base_model_prefix = "bert"
    weight_map = convert_blip.TEXT_LM_MAP

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        c, d = config, self.dtype_policy
        if not getattr(c, "tie_word_embeddings", True):
            raise NotImplementedError("BLIP's text decoder with tie_word_embeddings=False is not supported: its LM "
                                      "head reads the word embeddings.")

        def norm():
            return LayerNorm(epsilon=c.layer_norm_eps, dtype=d)

        def attention(kind):
            return kind(c.hidden_size, c.num_attention_heads, dropout=c.attention_probs_dropout_prob,
                        initializer_range=c.initializer_range, dtype=d)

        self.embeddings = TextEmbeddings(c.vocab_size, c.hidden_size, c.max_position_embeddings, 0, c.layer_norm_eps,
                                         c.hidden_dropout_prob, c.initializer_range, dtype=d)
        blocks = [TransformerBlock(
            attention(SelfAttention),
            MLP(c.hidden_size, c.intermediate_size, c.hidden_act, initializer_range=c.initializer_range, dtype=d),
            attention_norm=norm(), mlp_norm=norm(), cross_attention=attention(CrossAttention),
            cross_attention_norm=norm(), norm_first=False, dropout=c.hidden_dropout_prob, dtype=d)
            for _ in range(c.num_hidden_layers)]
        self.decoder = DecoderStack(blocks, final_norm=None, dtype=d)
        self.lm_head = MaskedLMHead(c.hidden_size, c.vocab_size, c.hidden_act, c.layer_norm_eps, c.initializer_range,
                                    dtype=d)

    def get_input_embeddings(self):
        return self.embeddings.token_embedding

    def cache_spec(self):
        c = self.config
        return c.num_hidden_layers, c.num_attention_heads, c.hidden_size // c.num_attention_heads

    def dummy_inputs(self):
        c = self.config
        return {"input_ids": np.array([[c.bos_token_id % c.vocab_size]], "int32"),
                "encoder_hidden_states": np.zeros((1, 1, c.encoder_hidden_size), "float32")}

    def call(self, input_ids=None, attention_mask=None, position_ids=None, encoder_hidden_states=None,
             encoder_attention_mask=None, labels=None, past_key_values=None, cache_index=None, logits_to_keep=0,
             output_hidden_states=None, output_attentions=None, training=False):
        """input_ids (B, T); attention_mask (B, T) 1/0 (with a cache: over its slots); encoder_hidden_states
        (B, S, encoder_hidden_size), or None with a cache holding their keys and values."""
        if input_ids is None:
            raise ValueError(f"{type(self).__name__} needs input_ids.")
        ids = ops.convert_to_tensor(input_ids)
        if position_ids is None and cache_index is not None:
            position_ids = ops.expand_dims(ops.arange(ops.shape(ids)[1], dtype="int32") + cache_index, 0)
        x = self.embeddings(ids, position_ids=position_ids, training=training)
        x, cache, hidden, attentions, cross = self.decoder(
            x, attention_mask, cache=past_key_values, cache_index=cache_index,
            encoder_hidden_states=encoder_hidden_states, encoder_attention_mask=encoder_attention_mask,
            output_hidden_states=self.flag("output_hidden_states", output_hidden_states),
            output_attentions=self.flag("output_attentions", output_attentions), training=training)
        logits = self.lm_head(last_positions(x, logits_to_keep), embedding_table(self.embeddings.token_embedding, x.dtype))
        loss = None
        if labels is not None:
            loss = cross_entropy(logits[:, :-1], ops.convert_to_tensor(labels)[:, 1:],
                                 label_smoothing=self.config.label_smoothing)
        return CausalLMOutputWithCrossAttentions(loss=loss, logits=logits, past_key_values=cache,
                                                 hidden_states=hidden, attentions=attentions, cross_attentions=cross)


@register_model("AutoModelForVision2Seq")
class BlipForConditionalGeneration(GenerativeModel, Backbone):
    """BLIP's captioner: ``vision_model`` (``BlipVisionModel``) and ``text_decoder``
    (``BlipTextLMHeadModel``) reading its states.

    ``model(pixel_values, input_ids, labels=...)``: the text decoder's logits over ``input_ids``
    (and with ``labels``, its loss); ``generate(pixel_values, input_ids=None)``: captions, as HF's
    ``generate`` makes them (see there).
    """

    config_class = BlipConfig
    base_model_prefix = "blip"
    main_input_name = "pixel_values"
    weight_map = convert_blip.CAPTIONING_MAP
    stepper = "encoder_decoder"

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.vision_model = BlipVisionModel(config.vision_config, dtype=self.dtype_policy)
        self.text_decoder = BlipTextLMHeadModel(config.text_config, dtype=self.dtype_policy)
        tc = config.text_config  # HF's generate starts captions with [DEC] and ends them at [SEP]
        for name, value in (("decoder_start_token_id", tc.bos_token_id), ("bos_token_id", tc.bos_token_id),
                            ("eos_token_id", tc.sep_token_id), ("pad_token_id", tc.pad_token_id)):
            setattr(self.generation_config, name, value)

    def caption_tokens(self):
        """What HF's BLIP ``generate`` passes whatever the generation config: [DEC] starts, [SEP] ends."""
        tc = self.config.text_config
        return {"decoder_start_token_id": tc.bos_token_id, "eos_token_id": tc.sep_token_id,
                "pad_token_id": tc.pad_token_id}

    def get_input_embeddings(self):
        return self.text_decoder.get_input_embeddings()

    def cache_spec(self):
        return self.text_decoder.cache_spec()

    def dummy_inputs(self):
        tc = self.config.text_config
        return {**self.vision_model.dummy_inputs(),
                "input_ids": np.array([[tc.bos_token_id % tc.vocab_size, tc.sep_token_id % tc.vocab_size]], "int32")}

    def encoder_states_length(self, features_shape):
        return self.vision_model.num_states(features_shape[-2], features_shape[-1])

    def encode(self, pixel_values, attention_mask=None):
        """The image embeddings (B, 1 + patches, vision hidden) generation caches."""
        return self.vision_model(pixel_values).last_hidden_state

    def get_encoder(self):
        """A callable ``(pixel_values, attention_mask=None) -> BaseModelOutputWithPooling``."""
        vision_model = self.vision_model

        def encoder(pixel_values, attention_mask=None, output_hidden_states=False, output_attentions=False):
            return vision_model(pixel_values, output_hidden_states=output_hidden_states,
                                output_attentions=output_attentions)

        return encoder

    def generation_call(self, decoder_input_ids, encoder_hidden_states, attention_mask, decoder_attention_mask,
                        decoder_position_ids, past_key_values, cache_index, logits_to_keep):
        """The encoder-decoder stepper's call in BLIP's names: the decoder's tokens are the text
        ``input_ids``; the image embeddings need no mask (every state is real)."""
        return self(input_ids=decoder_input_ids, attention_mask=decoder_attention_mask,
                    encoder_hidden_states=encoder_hidden_states, position_ids=decoder_position_ids,
                    past_key_values=past_key_values, cache_index=cache_index, logits_to_keep=logits_to_keep)

    def call(self, pixel_values=None, input_ids=None, attention_mask=None, labels=None, interpolate_pos_encoding=None,
             logits_to_keep=0, encoder_hidden_states=None, position_ids=None, past_key_values=None, cache_index=None,
             output_hidden_states=None, output_attentions=None, training=False):
        """The text decoder's logits (B, T, vocab) over ``input_ids`` for the images ``pixel_values``
        (B, C, H, W) (or their embeddings ``encoder_hidden_states``; a generation step after the first
        reads them from ``past_key_values``); with ``labels`` (B, T), HF's loss (see ``BlipTextLMHeadModel``)."""
        vision = None
        if pixel_values is not None:
            vision = self.vision_model(pixel_values, interpolate_pos_encoding=interpolate_pos_encoding,
                                       output_hidden_states=output_hidden_states, output_attentions=output_attentions,
                                       training=training)
            encoder_hidden_states = vision.last_hidden_state
        elif encoder_hidden_states is None and past_key_values is None:
            raise ValueError(f"{type(self).__name__} needs pixel_values (or the image embeddings as "
                             "encoder_hidden_states).")
        text = keras.Model.__call__(
            self.text_decoder, input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
            encoder_hidden_states=encoder_hidden_states, labels=labels, past_key_values=past_key_values,
            cache_index=cache_index, logits_to_keep=logits_to_keep, training=training)
        vision = vision or {}
        return BlipForConditionalGenerationModelOutput(
            loss=text.get("loss"), logits=text["logits"], image_embeds=vision.get("last_hidden_state"),
            last_hidden_state=vision.get("last_hidden_state"), hidden_states=vision.get("hidden_states"),
            attentions=vision.get("attentions"), past_key_values=text.get("past_key_values"))

    def generate(self, pixel_values=None, input_ids=None, attention_mask=None, interpolate_pos_encoding=False,
                 **generate_kwargs):
        """Captions for ``pixel_values`` (B, C, H, W), as HF's BLIP ``generate``: the prompt ``input_ids``
        (the processor's ``[CLS] text [SEP]``; by default ``[DEC] [SEP]``) gets [DEC] as its first token and
        loses its last ([SEP]); decoding stops at [SEP]. Returns the prompt and the new tokens (B, T).

        ``generate_kwargs``: ``generate()``'s (``max_new_tokens``, ``num_beams``...).
        """
        if pixel_values is None:
            pixel_values = generate_kwargs.pop("inputs", None)
        if pixel_values is None:
            raise ValueError(f"{type(self).__name__}.generate needs pixel_values.")
        tc = self.config.text_config
        batch = int(ops.shape(pixel_values)[0])
        if input_ids is None:
            ids = np.tile(np.array([[tc.bos_token_id, tc.sep_token_id]], np.int64), (batch, 1))
        else:
            ids = np.array(input_ids if isinstance(input_ids, (list, np.ndarray)) else ops.convert_to_numpy(input_ids),
                           np.int64)
            if ids.ndim != 2 or ids.shape[1] < 2:
                raise ValueError("BLIP's generate takes input_ids of shape (batch, length >= 2): the prompt with the "
                                 f"tokenizer's [CLS] first and [SEP] last; got shape {ids.shape}.")
        ids[:, 0] = tc.bos_token_id
        if attention_mask is not None and not np.all(ops.convert_to_numpy(attention_mask)[:, :-1]):
            raise NotImplementedError("BLIP's generate takes prompts of one length (no padding in attention_mask); "
                                      "generate padded prompts one row at a time.")
        kwargs = {"decoder_input_ids": ids[:, :-1], **self.caption_tokens(), **generate_kwargs}
        if interpolate_pos_encoding:  # the stepper's encoder pass knows no interpolation: encode here
            kwargs["encoder_outputs"] = self.vision_model(pixel_values, interpolate_pos_encoding=True)
            return super().generate(**kwargs)
        return super().generate(pixel_values, **kwargs)
