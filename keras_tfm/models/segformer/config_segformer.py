from keras_tfm.configuration_utils import PretrainedConfig
from keras_tfm.registry import register_config


@register_config
class SegformerConfig(PretrainedConfig):
    """SegFormer's configuration (HF's field names): a Mix Transformer encoder of
    ``num_encoder_blocks`` stages (per-stage ``depths``, ``hidden_sizes``, ``patch_sizes``,
    ``strides``, ``num_attention_heads``, ``sr_ratios``, ``mlp_ratios``) and an all-MLP decode head
    of width ``decoder_hidden_size``."""

    model_type = "segformer"
    attribute_map = {"num_hidden_layers": "num_encoder_blocks"}

    def __init__(self, num_channels=3, num_encoder_blocks=4, depths=(2, 2, 2, 2), sr_ratios=(8, 4, 2, 1),
                 hidden_sizes=(32, 64, 160, 256), patch_sizes=(7, 3, 3, 3), strides=(4, 2, 2, 2),
                 num_attention_heads=(1, 2, 5, 8), mlp_ratios=(4, 4, 4, 4), hidden_act="gelu", hidden_dropout_prob=0.0,
                 attention_probs_dropout_prob=0.0, classifier_dropout_prob=0.1, initializer_range=0.02,
                 drop_path_rate=0.1, layer_norm_eps=1e-6, decoder_hidden_size=256, semantic_loss_ignore_index=255,
                 reshape_last_stage=True, **kwargs):
        super().__init__(**kwargs)
        self.num_channels = num_channels
        self.num_encoder_blocks = num_encoder_blocks
        self.depths = list(depths)
        self.sr_ratios = list(sr_ratios)
        self.hidden_sizes = list(hidden_sizes)
        self.patch_sizes = list(patch_sizes)
        self.strides = list(strides)
        self.num_attention_heads = list(num_attention_heads)
        self.mlp_ratios = list(mlp_ratios)
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.classifier_dropout_prob = classifier_dropout_prob
        self.initializer_range = initializer_range
        self.drop_path_rate = drop_path_rate
        self.layer_norm_eps = layer_norm_eps
        self.decoder_hidden_size = decoder_hidden_size
        self.semantic_loss_ignore_index = semantic_loss_ignore_index
        self.reshape_last_stage = reshape_last_stage
        for field in ("depths", "sr_ratios", "hidden_sizes", "patch_sizes", "strides", "num_attention_heads",
                      "mlp_ratios"):
            if len(getattr(self, field)) < num_encoder_blocks:  # HF reads the first num_encoder_blocks values
                raise ValueError(f"SegformerConfig.{field}={getattr(self, field)} needs a value per encoder block "
                                 f"(num_encoder_blocks={num_encoder_blocks}).")
