from keras_tfm.backbone_utils import BackboneConfigMixin
from keras_tfm.configuration_utils import PretrainedConfig
from keras_tfm.registry import register_config

LAYER_TYPES = ("basic", "bottleneck")


@register_config
class ResNetConfig(BackboneConfigMixin, PretrainedConfig):
    """HF's ``ResNetConfig`` (defaults: ResNet-50). ``stage_names`` are ``stem``, ``stage1``...; a
    ``stage_names`` key in the file is recomputed from ``depths``, as HF does."""

    model_type = "resnet"

    def __init__(self, num_channels=3, embedding_size=64, hidden_sizes=(256, 512, 1024, 2048), depths=(3, 4, 6, 3),
                 layer_type="bottleneck", hidden_act="relu", downsample_in_first_stage=False,
                 downsample_in_bottleneck=False, out_features=None, out_indices=None, **kwargs):
        kwargs.pop("stage_names", None)
        super().__init__(**kwargs)
        if layer_type not in LAYER_TYPES:
            raise ValueError(f"layer_type={layer_type!r} is not one of {', '.join(LAYER_TYPES)}.")
        if len(hidden_sizes) != len(depths):
            raise ValueError(f"hidden_sizes {list(hidden_sizes)} and depths {list(depths)} must have one entry per stage.")
        self.num_channels = num_channels
        self.embedding_size = embedding_size
        self.hidden_sizes = list(hidden_sizes)
        self.depths = list(depths)
        self.layer_type = layer_type
        self.hidden_act = hidden_act
        self.downsample_in_first_stage = downsample_in_first_stage
        self.downsample_in_bottleneck = downsample_in_bottleneck
        self.stage_names = ["stem"] + [f"stage{i}" for i in range(1, len(self.depths) + 1)]
        self.set_output_features_output_indices(out_features=out_features, out_indices=out_indices)
