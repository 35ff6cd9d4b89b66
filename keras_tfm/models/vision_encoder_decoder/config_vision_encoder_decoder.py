"""The configuration of a VisionEncoderDecoderModel: an image encoder's config and a text decoder's, as HF's."""

import logging

from keras_tfm.configuration_utils import PretrainedConfig
from keras_tfm.registry import CONFIGS, register_config

logger = logging.getLogger(__name__)


def sub_config(value, default_type, name, **defaults):
    """``value`` (a config, a dict with a ``model_type``, or None for ``default_type``) as a config object."""
    if isinstance(value, PretrainedConfig):
        return value
    value = dict(value or {"model_type": default_type, **defaults})
    model_type = value.get("model_type")
    if model_type not in CONFIGS:
        raise ValueError(f"VisionEncoderDecoderConfig: the {name} config has model_type {model_type!r}; keras_tfm "
                         f"supports: {', '.join(sorted(CONFIGS))}.")
    return CONFIGS[model_type].from_dict(value)


@register_config
class VisionEncoderDecoderConfig(PretrainedConfig):
    """``encoder`` (an image model's config: ViT) and ``decoder`` (a causal LM's with cross-attention:
    GPT-2 with ``add_cross_attention``), saved as dicts in config.json as HF writes them.

    The top-level ``decoder_start_token_id`` and ``pad_token_id`` are what the model reads to
    shift labels right (HF's VisionEncoderDecoderModel does too). Without sub-configs the encoder
    is a default ViT and the decoder a default GPT-2 (HF 5's default decoder is BERT, which has no
    cross-attention in keras_tfm).
    """

    model_type = "vision-encoder-decoder"

    def __init__(self, encoder=None, decoder=None, is_encoder_decoder=True, decoder_start_token_id=None, **kwargs):
        super().__init__(**kwargs)
        self.encoder = sub_config(encoder, "vit", "encoder")
        self.decoder = sub_config(decoder, "gpt2", "decoder", is_decoder=True, add_cross_attention=True)
        self.is_encoder_decoder = is_encoder_decoder
        self.decoder_start_token_id = decoder_start_token_id

    @classmethod
    def from_encoder_decoder_configs(cls, encoder_config, decoder_config, **kwargs):
        """A config of these two, the decoder's ``is_decoder`` and ``add_cross_attention`` set (as HF)."""
        logger.info("Setting `config.is_decoder=True` and `config.add_cross_attention=True` for decoder_config")
        decoder_config.is_decoder = True
        decoder_config.add_cross_attention = True
        return cls(encoder=encoder_config.to_dict(), decoder=decoder_config.to_dict(), **kwargs)

    def to_dict(self):
        out = super().to_dict()
        out["encoder"], out["decoder"] = self.encoder.to_dict(), self.decoder.to_dict()
        return out
