"""Wav2Vec2 (Baevski et al. 2020): one configuration, Hugging Face's fields and defaults."""

import functools
import operator

from keras_tfm.configuration_utils import PretrainedConfig
from keras_tfm.registry import register_config

# Fields a converted config carries, with HF 5's defaults (``facebook/wav2vec2-base-960h``'s shape).
_DEFAULTS = dict(
    vocab_size=32, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
    hidden_act="gelu", hidden_dropout=0.1, activation_dropout=0.1, attention_dropout=0.1, feat_proj_dropout=0.0,
    feat_quantizer_dropout=0.0, final_dropout=0.1, layerdrop=0.1, initializer_range=0.02, layer_norm_eps=1e-5,
    feat_extract_norm="group", feat_extract_activation="gelu", conv_dim=(512,) * 7, conv_stride=(5, 2, 2, 2, 2, 2, 2),
    conv_kernel=(10, 3, 3, 3, 3, 2, 2), conv_bias=False, num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16,
    do_stable_layer_norm=False, apply_spec_augment=True, mask_time_prob=0.05, mask_time_length=10,
    mask_time_min_masks=2, mask_feature_prob=0.0, mask_feature_length=10, mask_feature_min_masks=0,
    num_codevectors_per_group=320, num_codevector_groups=2, contrastive_logits_temperature=0.1, num_negatives=100,
    codevector_dim=256, proj_codevector_dim=256, diversity_loss_weight=0.1, ctc_loss_reduction="sum",
    ctc_zero_infinity=False, use_weighted_layer_sum=False, classifier_proj_size=256,
    tdnn_dim=(512, 512, 512, 512, 1500), tdnn_kernel=(5, 3, 3, 1, 1), tdnn_dilation=(1, 2, 3, 1, 1),
    xvector_output_dim=512, add_adapter=False, adapter_kernel_size=3, adapter_stride=2, num_adapter_layers=3,
    output_hidden_size=None, adapter_attn_dim=None,
)


@register_config
class Wav2Vec2Config(PretrainedConfig):
    """Wav2Vec2's configuration, with HF 5's fields and defaults (``Wav2Vec2Config()`` is
    ``facebook/wav2vec2-base-960h``'s shape).

    The conv feature encoder has one layer per ``conv_dim`` / ``conv_kernel`` / ``conv_stride``
    entry; ``feat_extract_norm`` is ``"group"`` (a per-channel GroupNorm on the first conv only,
    wav2vec2-base) or ``"layer"`` (a LayerNorm over channels after every conv, wav2vec2-large-lv60).
    ``do_stable_layer_norm``: pre-norm encoder layers and a final norm (large-lv60) instead of
    post-norm layers with a norm before the first. SpecAugment (``mask_time_*``, ``mask_feature_*``)
    runs in training when ``apply_spec_augment``. ``ctc_loss_reduction`` ("sum" / "mean") and
    ``ctc_zero_infinity`` set the CTC loss; ``use_weighted_layer_sum`` / ``classifier_proj_size`` the
    sequence classifier. Pretraining (quantizer), XVector and adapter fields are kept for round
    trips; the models here do not build those parts.
    """

    model_type = "wav2vec2"

    def __init__(self, pad_token_id=0, bos_token_id=1, eos_token_id=2, **kwargs):
        fields = {name: kwargs.pop(name, default) for name, default in _DEFAULTS.items()}
        kwargs.pop("num_feat_extract_layers", None)  # derived from conv_dim
        super().__init__(pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id, **kwargs)
        for name, value in fields.items():
            setattr(self, name, list(value) if isinstance(value, tuple) else value)
        self.num_feat_extract_layers = len(self.conv_dim)
        self.output_hidden_size = self.output_hidden_size or self.hidden_size
        if not len(self.conv_dim) == len(self.conv_stride) == len(self.conv_kernel):
            raise ValueError(
                "Configuration for convolutional layers is incorrect. It is required that `len(config.conv_dim)` =="
                f" `len(config.conv_stride)` == `len(config.conv_kernel)`, but is `len(config.conv_dim) = "
                f"{len(self.conv_dim)}`, `len(config.conv_stride) = {len(self.conv_stride)}`, "
                f"`len(config.conv_kernel) = {len(self.conv_kernel)}`.")
        if self.feat_extract_norm not in ("group", "layer"):
            raise ValueError(f"`config.feat_extract_norm` is {self.feat_extract_norm!r}, but has to be one of "
                             "['group', 'layer'].")

    @property
    def inputs_to_logits_ratio(self):
        """Input samples per output frame: the product of the conv strides (320 for wav2vec2-base)."""
        return functools.reduce(operator.mul, self.conv_stride, 1)
