"""DETR's configuration, with Hugging Face's fields (transformers 4 and 5 spellings)."""

import copy

from keras_tfm.configuration_utils import PretrainedConfig
from keras_tfm.registry import register_config

TIMM_BACKBONE = "timm_backbone"  # transformers 5's model_type for a timm backbone's config


@register_config
class DetrConfig(PretrainedConfig):
    """DETR's fields and defaults as Hugging Face's ``DetrConfig``.

    The backbone is a ResNet, described either by ``backbone_config`` (a ``ResNetConfig`` or its
    dict, ``use_timm_backbone=False``), or by a timm model name (``use_timm_backbone=True``,
    ``backbone="resnet50"``, ``backbone_kwargs`` such as ``out_indices``; transformers 5 writes the
    same as a ``backbone_config`` of model_type ``"timm_backbone"``). Either way the network is
    our ResNet (timm's ResNets are the same networks); ``resnet_config()`` says which.
    """

    model_type = "detr"
    attribute_map = {"hidden_size": "d_model", "num_attention_heads": "encoder_attention_heads",
                     "num_hidden_layers": "encoder_layers"}

    def __init__(self, use_timm_backbone=True, backbone_config=None, num_channels=3, num_queries=100,
                 encoder_layers=6, encoder_ffn_dim=2048, encoder_attention_heads=8, decoder_layers=6,
                 decoder_ffn_dim=2048, decoder_attention_heads=8, encoder_layerdrop=0.0, decoder_layerdrop=0.0,
                 is_encoder_decoder=True, activation_function="relu", d_model=256, dropout=0.1,
                 attention_dropout=0.0, activation_dropout=0.0, init_std=0.02, init_xavier_std=1.0,
                 auxiliary_loss=False, position_embedding_type="sine", backbone="resnet50",
                 use_pretrained_backbone=True, backbone_kwargs=None, dilation=False, class_cost=1, bbox_cost=5,
                 giou_cost=2, mask_loss_coefficient=1, dice_loss_coefficient=1, bbox_loss_coefficient=5,
                 giou_loss_coefficient=2, eos_coefficient=0.1, **kwargs):
        if position_embedding_type not in ("sine", "learned"):
            raise ValueError(f"DetrConfig: position_embedding_type={position_embedding_type!r} is not 'sine' or "
                             "'learned'.")
        if isinstance(backbone_config, dict) and backbone_config.get("model_type") == TIMM_BACKBONE:
            use_timm_backbone = True  # transformers 5's spelling of a timm backbone
        elif backbone_config is not None:
            use_timm_backbone = False
        if use_timm_backbone and backbone_kwargs is None and backbone_config is None:
            backbone_kwargs = {"out_indices": [1, 2, 3, 4], "in_chans": num_channels}
            if dilation:
                backbone_kwargs["output_stride"] = 16
        super().__init__(**kwargs)
        self.use_timm_backbone = use_timm_backbone
        self.backbone_config = backbone_config
        self.backbone = backbone
        self.use_pretrained_backbone = use_pretrained_backbone
        self.backbone_kwargs = backbone_kwargs
        self.dilation = dilation
        self.num_channels = num_channels
        self.num_queries = num_queries
        self.d_model = d_model
        self.encoder_ffn_dim = encoder_ffn_dim
        self.encoder_layers = encoder_layers
        self.encoder_attention_heads = encoder_attention_heads
        self.decoder_ffn_dim = decoder_ffn_dim
        self.decoder_layers = decoder_layers
        self.decoder_attention_heads = decoder_attention_heads
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.activation_dropout = activation_dropout
        self.activation_function = activation_function
        self.init_std = init_std
        self.init_xavier_std = init_xavier_std
        self.encoder_layerdrop = encoder_layerdrop
        self.decoder_layerdrop = decoder_layerdrop
        self.auxiliary_loss = auxiliary_loss
        self.position_embedding_type = position_embedding_type
        self.is_encoder_decoder = is_encoder_decoder
        self.class_cost = class_cost
        self.bbox_cost = bbox_cost
        self.giou_cost = giou_cost
        self.mask_loss_coefficient = mask_loss_coefficient
        self.dice_loss_coefficient = dice_loss_coefficient
        self.bbox_loss_coefficient = bbox_loss_coefficient
        self.giou_loss_coefficient = giou_loss_coefficient
        self.eos_coefficient = eos_coefficient

    @property
    def initializer_range(self):
        return self.init_std

    def resnet_config(self):
        """The ``ResNetConfig`` of the backbone, whichever way the config names it."""
        from keras_tfm.models.resnet import ResNetConfig

        bc = self.backbone_config
        if isinstance(bc, ResNetConfig):
            return bc
        if isinstance(bc, dict) and bc.get("model_type") != TIMM_BACKBONE:
            if bc.get("model_type", "resnet") != "resnet":
                raise ValueError(f"DetrConfig: backbone_config of model_type {bc.get('model_type')!r} is not "
                                 "supported; keras_tfm's DETR runs ResNet backbones.")
            return ResNetConfig.from_dict(bc)
        if isinstance(bc, dict):  # transformers 5's timm backbone
            name, kwargs = bc.get("backbone") or "resnet50", dict(bc)
        else:
            name, kwargs = self.backbone or "resnet50", dict(self.backbone_kwargs or {})
        overrides = {"out_indices": list(kwargs.get("out_indices", [1, 2, 3, 4])),
                     "num_channels": kwargs.get("in_chans", kwargs.get("num_channels", self.num_channels))}
        if kwargs.get("output_stride", 32) != 32 or self.dilation:
            raise NotImplementedError("DetrConfig: dilation (DC5 backbones, output_stride=16) is not supported yet.")
        if "channels" in kwargs:  # timm's ResNet(channels=...): the stages' base widths
            overrides["channels"] = tuple(kwargs["channels"])
        from keras_tfm.models.resnet import resnet_config_from_timm

        return resnet_config_from_timm(name, **overrides)

    def to_dict(self):
        out = super().to_dict()
        if isinstance(self.backbone_config, PretrainedConfig):
            out["backbone_config"] = self.backbone_config.to_dict()
        else:
            out["backbone_config"] = copy.deepcopy(self.backbone_config)
        return out
