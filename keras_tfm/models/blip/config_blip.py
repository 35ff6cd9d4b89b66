"""BLIP's configurations: the text decoder's, the vision transformer's, and the model's holding both
(HF's fields and defaults, ``Salesforce/blip-image-captioning-base``'s shape)."""

from keras_tfm.configuration_utils import PretrainedConfig
from keras_tfm.registry import register_config


class _BlipPartConfig(PretrainedConfig):
    """A part of ``BlipConfig``: read from a whole BLIP config.json, it takes its ``base_config_key`` entry (as HF)."""

    base_config_key = ""

    @classmethod
    def from_dict(cls, config_dict, **overrides):
        if config_dict.get("model_type") == BlipConfig.model_type and cls.base_config_key in config_dict:
            config_dict = config_dict[cls.base_config_key]
        return super().from_dict(config_dict, **overrides)


@register_config
class BlipTextConfig(_BlipPartConfig):
    """The BERT-style text decoder: causal self-attention, cross-attention over the image
    embeddings (of ``encoder_hidden_size``), post-norm blocks, an MLM-style LM head.

    BLIP's special tokens: ``bos_token_id`` ([DEC]) starts a caption, ``sep_token_id`` ([SEP])
    ends it (generation's eos), ``pad_token_id`` pads. ``label_smoothing`` smooths the captioning loss.
    """

    model_type = "blip_text_model"
    base_config_key = "text_config"

    def __init__(self, vocab_size=30524, hidden_size=768, encoder_hidden_size=768, intermediate_size=3072,
                 projection_dim=768, num_hidden_layers=12, num_attention_heads=8, max_position_embeddings=512,
                 hidden_act="gelu", layer_norm_eps=1e-12, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                 initializer_range=0.02, bos_token_id=30522, eos_token_id=2, pad_token_id=0, sep_token_id=102,
                 is_decoder=True, use_cache=True, label_smoothing=0.0, **kwargs):
        super().__init__(bos_token_id=bos_token_id, eos_token_id=eos_token_id, pad_token_id=pad_token_id, **kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.encoder_hidden_size = encoder_hidden_size
        self.intermediate_size = intermediate_size
        self.projection_dim = projection_dim
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.max_position_embeddings = max_position_embeddings
        self.hidden_act = hidden_act
        self.layer_norm_eps = layer_norm_eps
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.initializer_range = initializer_range
        self.sep_token_id = sep_token_id
        self.is_decoder = is_decoder
        self.use_cache = use_cache
        self.label_smoothing = label_smoothing


@register_config
class BlipVisionConfig(_BlipPartConfig):
    """The vision transformer: patch conv (with bias), class token, learned positions, pre-norm
    blocks with a fused qkv projection, and a final ``post_layernorm``."""

    model_type = "blip_vision_model"
    base_config_key = "vision_config"

    def __init__(self, hidden_size=768, intermediate_size=3072, projection_dim=512, num_hidden_layers=12,
                 num_attention_heads=12, image_size=384, patch_size=16, hidden_act="gelu", layer_norm_eps=1e-5,
                 attention_dropout=0.0, initializer_range=1e-10, num_channels=3, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.projection_dim = projection_dim
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.image_size = image_size
        self.patch_size = patch_size
        self.hidden_act = hidden_act
        self.layer_norm_eps = layer_norm_eps
        self.attention_dropout = attention_dropout
        self.initializer_range = initializer_range
        self.num_channels = num_channels


def _sub_config(value, config_class):
    if value is None:
        return config_class()
    if isinstance(value, config_class):
        return value
    if isinstance(value, PretrainedConfig):
        return config_class.from_dict(value.to_dict())
    if isinstance(value, dict):
        return config_class.from_dict(value)
    raise TypeError(f"BlipConfig: expected a {config_class.__name__} or a dict, got {type(value).__name__}.")


@register_config
class BlipConfig(PretrainedConfig):
    """A ``text_config`` (``BlipTextConfig``) and a ``vision_config`` (``BlipVisionConfig``), given
    as configs or dicts; the text decoder's ``encoder_hidden_size`` follows the vision width."""

    model_type = "blip"
    sub_configs = {"text_config": BlipTextConfig, "vision_config": BlipVisionConfig}

    def __init__(self, text_config=None, vision_config=None, projection_dim=512, logit_scale_init_value=2.6592,
                 image_text_hidden_size=256, label_smoothing=0.0, initializer_factor=1.0, initializer_range=0.02,
                 **kwargs):
        super().__init__(**kwargs)
        self.text_config = _sub_config(text_config, BlipTextConfig)
        self.vision_config = _sub_config(vision_config, BlipVisionConfig)
        self.text_config.encoder_hidden_size = self.vision_config.hidden_size
        self.projection_dim = projection_dim
        self.logit_scale_init_value = logit_scale_init_value
        self.image_text_hidden_size = image_text_hidden_size
        self.label_smoothing = label_smoothing
        self.initializer_factor = initializer_factor
        self.initializer_range = initializer_range

    def to_dict(self):
        out = super().to_dict()
        for name in self.sub_configs:
            out[name] = getattr(self, name).to_dict()
        return out
