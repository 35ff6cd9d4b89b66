"""VisionEncoderDecoderModel: an image encoder (ViT) and a causal LM with cross-attention (GPT-2),
composed as Hugging Face composes them (``ydshieh/vit-gpt2-coco-en``)."""

import logging

import keras
import numpy as np
from keras import ops

from keras_tfm.auto_factory import AutoConfig, AutoModel, AutoModelForCausalLM
from keras_tfm.layers import Dense, normal_init
from keras_tfm.losses import cross_entropy
from keras_tfm.modeling_outputs import BaseModelOutput, Seq2SeqLMOutput
from keras_tfm.modeling_utils import PreTrainedModel
from keras_tfm.models.base import _Flags
from keras_tfm.models.generative import GenerativeModel
from keras_tfm.models.seq2seq_tasks import encoder_states, shift_tokens_right
from keras_tfm.models.vision_encoder_decoder import convert_vision_encoder_decoder
from keras_tfm.models.vision_encoder_decoder.config_vision_encoder_decoder import VisionEncoderDecoderConfig
from keras_tfm.registry import MODELS, register_model

logger = logging.getLogger(__name__)


def _model_class(auto_name, config, part):
    table = MODELS.get(auto_name, {})
    if config.model_type not in table:
        raise ValueError(f"VisionEncoderDecoderModel: no {auto_name} for the {part} config's model_type "
                         f"{config.model_type!r}; keras_tfm has: {', '.join(sorted(table))}.")
    return table[config.model_type]


@register_model("AutoModelForVision2Seq")
class VisionEncoderDecoderModel(_Flags, GenerativeModel, PreTrainedModel):
    """An image encoder (``AutoModel`` of ``config.encoder``) whose last hidden state a causal LM
    (``AutoModelForCausalLM`` of ``config.decoder``) attends to through its cross-attention.

    ``enc_to_dec_proj`` maps the encoder's width to the decoder's when they differ (and the
    decoder has no ``cross_attention_hidden_size``). With ``labels`` the decoder's inputs are
    the labels shifted right (``config.decoder_start_token_id``, -100 read as
    ``config.pad_token_id``) and the loss is the mean cross-entropy over labels that are not
    -100. ``generate(pixel_values, ...)`` encodes each image once and decodes with the
    encoder-decoder stepper (greedy, sampling, beam search).

    Example::

        model = VisionEncoderDecoderModel.from_pretrained("ydshieh/vit-gpt2-coco-en")
        ids = model.generate(pixel_values, max_new_tokens=20)  # pixel_values (B, 3, 224, 224)
        model = VisionEncoderDecoderModel.from_encoder_decoder_pretrained("google/vit-base-patch16-224-in21k",
                                                                          "openai-community/gpt2")
    """

    config_class = VisionEncoderDecoderConfig
    base_model_prefix = "vision_encoder_decoder"
    main_input_name = "pixel_values"
    stepper = "encoder_decoder"

    def __init__(self, config=None, encoder=None, decoder=None, **kwargs):
        if config is None:
            if encoder is None or decoder is None:
                raise ValueError("Either a configuration or an encoder and a decoder has to be provided.")
            config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder.config, decoder.config)
        elif not isinstance(config, VisionEncoderDecoderConfig):
            raise ValueError(f"Config: {config} has to be of type VisionEncoderDecoderConfig")
        cross_size = getattr(config.decoder, "cross_attention_hidden_size", None)
        if cross_size is not None and cross_size != config.encoder.hidden_size:
            raise ValueError(
                "If `cross_attention_hidden_size` is specified in the decoder's configuration, it has to be equal to "
                f"the encoder's `hidden_size`. Got {cross_size} for `config.decoder.cross_attention_hidden_size` and "
                f"{config.encoder.hidden_size} for `config.encoder.hidden_size`.")
        config.tie_word_embeddings = False  # the decoder ties its own head, as HF's
        super().__init__(config, **kwargs)
        d = self.dtype_policy
        if encoder is None:
            encoder = _model_class("AutoModel", config.encoder, "encoder")(config.encoder, dtype=d)
        if decoder is None:
            decoder = _model_class("AutoModelForCausalLM", config.decoder, "decoder")(config.decoder, dtype=d)
        # one config object for the whole model: the parts read the composite's sub-configs
        encoder.config, decoder.config = config.encoder, config.decoder
        self.encoder, self.decoder = encoder, decoder
        self._weight_map = convert_vision_encoder_decoder.weight_map_for(type(encoder), type(decoder))
        self.enc_to_dec_proj = None
        if config.encoder.hidden_size != config.decoder.hidden_size and cross_size is None:
            self.enc_to_dec_proj = Dense(config.decoder.hidden_size,
                                         kernel_initializer=normal_init(config.decoder.initializer_range), dtype=d)

    @property
    def weight_map(self):
        # composed from the encoder's and decoder's classes, which the config picks
        return self._weight_map

    def dummy_inputs(self):
        c = self.config.encoder
        size = c.image_size if isinstance(c.image_size, (tuple, list)) else (c.image_size, c.image_size)
        return {"pixel_values": np.zeros((1, c.num_channels, *size), "float32"),
                "decoder_input_ids": np.array([[0, 1]], "int32")}

    def get_input_embeddings(self):
        return self.decoder.get_input_embeddings()

    def cache_spec(self):
        """(layers, key/value heads, head size) of the decoder's KV cache."""
        return self.decoder.cache_spec()

    def encoder_states_length(self, features_shape):
        """The encoder's states for images of ``features_shape`` (B, C, H, W): ViT's patches + [CLS]."""
        return self.encoder.encoder_states_length(features_shape)

    def run_encoder(self, pixel_values, output_hidden_states=False, output_attentions=False, training=False):
        return keras.Model.__call__(self.encoder, pixel_values=pixel_values, output_hidden_states=output_hidden_states,
                                    output_attentions=output_attentions, training=training)

    def encode(self, pixel_values, attention_mask=None):
        """The encoder's last hidden state (B, S, C_enc) for ``pixel_values`` (what generation caches
        the cross keys / values of; every state counts: ``attention_mask`` is not read)."""
        return self.run_encoder(pixel_values).last_hidden_state

    def get_encoder(self):
        """A callable ``(pixel_values, attention_mask=None, ...) -> BaseModelOutput`` (HF's ``get_encoder()``)."""

        def encoder(pixel_values, attention_mask=None, output_hidden_states=False, output_attentions=False):
            out = self.run_encoder(ops.convert_to_tensor(pixel_values), output_hidden_states, output_attentions)
            return BaseModelOutput(last_hidden_state=out.last_hidden_state, hidden_states=out.get("hidden_states"),
                                   attentions=out.get("attentions"))

        return encoder

    def prepare_decoder_input_ids_from_labels(self, labels):
        return shift_tokens_right(ops.convert_to_tensor(labels), self.config.pad_token_id,
                                  self.config.decoder_start_token_id)

    def call(self, pixel_values=None, decoder_input_ids=None, decoder_attention_mask=None, encoder_outputs=None,
             encoder_hidden_states=None, attention_mask=None, decoder_position_ids=None, past_key_values=None,
             cache_index=None, labels=None, logits_to_keep=0, use_cache=None, output_hidden_states=None,
             output_attentions=None, training=False):
        """Logits (B, T, vocab) over ``decoder_input_ids`` (or ``labels`` shifted right) for images
        ``pixel_values`` (B, C, H, W).

        ``encoder_outputs`` / ``encoder_hidden_states``: the encoder's output instead of running
        it; neither with a cache holding the cross keys / values (generation's decode steps).
        ``attention_mask`` is the encoder's (generation passes one): every state is attended to,
        as in HF.
        """
        hidden, attentions = self.flag("output_hidden_states", output_hidden_states), self.flag(
            "output_attentions", output_attentions)
        if encoder_outputs is not None:
            encoder_hidden_states = encoder_states(encoder_outputs)
            if not isinstance(encoder_outputs, BaseModelOutput):
                encoder_outputs = BaseModelOutput(last_hidden_state=encoder_hidden_states)
        elif encoder_hidden_states is None and pixel_values is not None:
            encoder_outputs = self.run_encoder(pixel_values, hidden, attentions, training)
            encoder_hidden_states = encoder_outputs.last_hidden_state
        elif encoder_hidden_states is None and past_key_values is None:
            raise ValueError("You have to specify pixel_values")
        states = encoder_hidden_states
        if states is not None and self.enc_to_dec_proj is not None:
            states = self.enc_to_dec_proj(states)
        if labels is not None and decoder_input_ids is None:
            decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
        if decoder_input_ids is None:
            raise ValueError(f"{type(self).__name__} needs decoder_input_ids (or labels).")
        out = keras.Model.__call__(
            self.decoder, decoder_input_ids, attention_mask=decoder_attention_mask, position_ids=decoder_position_ids,
            past_key_values=past_key_values, cache_index=cache_index, encoder_hidden_states=states,
            logits_to_keep=logits_to_keep, output_hidden_states=hidden, output_attentions=attentions,
            training=training)
        loss = None if labels is None else cross_entropy(out.logits, labels)
        encoder_outputs = encoder_outputs or {}
        return Seq2SeqLMOutput(
            loss=loss, logits=out.logits, past_key_values=out.get("past_key_values"),
            decoder_hidden_states=out.get("hidden_states"), decoder_attentions=out.get("attentions"),
            cross_attentions=out.get("cross_attentions"),
            encoder_last_hidden_state=encoder_outputs.get("last_hidden_state", encoder_hidden_states),
            encoder_hidden_states=encoder_outputs.get("hidden_states"),
            encoder_attentions=encoder_outputs.get("attentions"))

    @classmethod
    def from_encoder_decoder_pretrained(cls, encoder_pretrained_model_name_or_path=None,
                                        decoder_pretrained_model_name_or_path=None, **kwargs):
        """An image encoder and a text decoder from two pretrained checkpoints (HF's method).

        ``encoder_*`` / ``decoder_*`` keyword arguments go to that part's ``from_pretrained``
        (``encoder_model`` / ``decoder_model``: a model to use as it is); the rest set fields of
        the composite config. The decoder's config gets ``is_decoder`` and ``add_cross_attention``:
        its cross-attention weights start random.
        """

        parts = {}
        for part in ("encoder", "decoder"):
            prefix = part + "_"
            part_kwargs = {k[len(prefix):]: kwargs.pop(k) for k in list(kwargs)
                           if k.startswith(prefix) and k != "decoder_start_token_id"}
            model = part_kwargs.pop("model", None)
            path = (encoder_pretrained_model_name_or_path if part == "encoder"
                    else decoder_pretrained_model_name_or_path)
            if model is None:
                if path is None:
                    raise ValueError(f"If `{part}_model` is not defined as an argument, a "
                                     f"`{part}_pretrained_model_name_or_path` has to be defined.")
                config = part_kwargs.pop("config", None) or AutoConfig.from_pretrained(path)
                is_decoder = part == "decoder"
                if (getattr(config, "is_decoder", False) != is_decoder
                        or getattr(config, "add_cross_attention", False) != is_decoder):
                    logger.info("Initializing %s as %s model: is_decoder and add_cross_attention set to %s.", path,
                                "a decoder" if is_decoder else "an encoder", is_decoder)
                    config.is_decoder = config.add_cross_attention = is_decoder
                auto = AutoModelForCausalLM if is_decoder else AutoModel
                model = auto.from_pretrained(path, config=config, **part_kwargs)
            parts[part] = model
        config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(parts["encoder"].config,
                                                                         parts["decoder"].config, **kwargs)
        return cls(config, encoder=parts["encoder"], decoder=parts["decoder"])
