"""timm's ResNets on our ``ResNetBackbone``: DETR's configs name ``backbone="resnet50"`` with
``use_timm_backbone=True``, and timm's ResNet-18/34/50/101/152 are the same networks as HF's
(stride on the 3x3 conv of a bottleneck, 1x1 projection shortcuts, 7x7 stem and 3x3 max pool).

- ``resnet_config_from_timm(name, **overrides)``: the ``ResNetConfig`` of a timm model name.
- ``TIMM_RULES``: timm's tensor names (``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer1.0.downsample.0``...,
  as ``timm.create_model(name, features_only=True)`` holds them) <-> ``ResNetBackbone`` variables. DETR
  mounts them under ``model.backbone.conv_encoder.model.``, as transformers 4 named DETR's timm backbone.
- ``load_timm_state_dict(backbone, state)``: loads such a state dict into a ``ResNetBackbone``.

timm's ``out_indices`` count as our ``out_indices`` over ``stage_names`` for 1-4 (``layer1``..``layer4`` are
``stage1``..``stage4``); timm's index 0 is the stem before its max pool, which HF's backbone does not output.
"""

import re

from keras_tfm.checkpoints.weight_map import Rule, WeightMap, batch_norm, conv2d
from keras_tfm.models.resnet.config_resnet import ResNetConfig

# name -> (layer_type, depths); timm's widths are the standard ones: stem 64, stages 64..512 per
# block input, times 4 at a bottleneck's output.
TIMM_RESNETS = {
    "resnet18": ("basic", [2, 2, 2, 2]),
    "resnet34": ("basic", [3, 4, 6, 3]),
    "resnet50": ("bottleneck", [3, 4, 6, 3]),
    "resnet101": ("bottleneck", [3, 4, 23, 3]),
    "resnet152": ("bottleneck", [3, 8, 36, 3]),
}
NUM_STAGES = 4


def resnet_config_from_timm(name, out_indices=(1, 2, 3, 4), **overrides):
    """The ``ResNetConfig`` of timm's ResNet ``name`` (``resnet50``, ``timm/resnet50.a1_in1k``...).

    Args:
        name: a timm model name; the hub prefix ``timm/`` and a pretrained tag (``.a1_in1k``) are ignored.
        out_indices: the stages to output, as timm's and HF DETR's ``out_indices`` (1-4: ``layer1``..``layer4``).
        **overrides: ``ResNetConfig`` fields (``num_channels``; tiny test models set ``hidden_sizes``...).
    """
    base = re.sub(r"^(hf[-_]hub:)?timm/", "", name).split(".")[0]
    if base not in TIMM_RESNETS:
        raise ValueError(f"timm backbone {name!r} is not one of the ResNets keras_tfm maps: "
                         f"{', '.join(TIMM_RESNETS)}.")
    if any(i == 0 or i % (NUM_STAGES + 1) == 0 for i in out_indices):
        raise ValueError(f"out_indices {tuple(out_indices)}: timm's index 0 (the stem before its max pool) has no "
                         f"counterpart in ResNetBackbone; use stages 1-4.")
    if overrides.pop("output_stride", 32) != 32:
        raise NotImplementedError(f"{name}: output_stride other than 32 (DETR's dilation=True, DC5) is not supported.")
    layer_type, depths = TIMM_RESNETS[base]
    expansion = 4 if layer_type == "bottleneck" else 1
    fields = {"embedding_size": 64, "hidden_sizes": [64 * expansion * 2 ** i for i in range(NUM_STAGES)],
              "depths": depths, "layer_type": layer_type, "hidden_act": "relu", "downsample_in_first_stage": False,
              "downsample_in_bottleneck": False, "out_indices": list(out_indices)}
    return ResNetConfig(**{**fields, **overrides})


def _timm_block_rules(stage):
    timm, ours = f"layer{stage + 1}.{{j}}", f"encoder.stages.{stage}.layers.{{j}}"
    rules = []
    for k in range(3):  # conv1/bn1, conv2/bn2 and (bottleneck) conv3/bn3 are our convs.0..2
        rules += conv2d(f"{timm}.conv{k + 1}", f"{ours}.convs.{k}.conv", bias=False)
        rules += batch_norm(f"{timm}.bn{k + 1}", f"{ours}.convs.{k}.norm")
    rules += conv2d(f"{timm}.downsample.0", f"{ours}.shortcut.conv", bias=False)
    rules += batch_norm(f"{timm}.downsample.1", f"{ours}.shortcut.norm")
    return rules


TIMM_RULES = [
    *conv2d("conv1", "embedder.stem.conv", bias=False),
    *batch_norm("bn1", "embedder.stem.norm"),
    *(rule for stage in range(NUM_STAGES) for rule in _timm_block_rules(stage)),
    Rule("fc.weight", None),  # timm's classifier, in full (not features_only) state dicts
    Rule("fc.bias", None),
]
TIMM_WEIGHT_MAP = WeightMap(TIMM_RULES)


def load_timm_state_dict(backbone, state):
    """Loads timm's ResNet tensors ``{name: array}`` into a ``ResNetBackbone``; returns the loading report
    (``missing_keys`` / ``unexpected_keys`` / ``mismatched_keys``, in timm's names)."""
    backbone.weight_map = TIMM_WEIGHT_MAP  # this instance reads timm's names
    try:
        return backbone.load_state_dict_hf(state)
    finally:
        del backbone.weight_map
