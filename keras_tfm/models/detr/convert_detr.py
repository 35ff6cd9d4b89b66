"""DETR: Hugging Face PyTorch names <-> keras_tfm variable paths.

DETR checkpoints on the hub (and what transformers 5 still writes when it saves) use
transformers 4's names: the backbone under ``backbone.conv_encoder.model.``, ``out_proj``,
``fc1`` / ``fc2`` in the layers, the mask head's ``lay1`` / ``gn1`` / ``adapter1`` /
``out_lay`` and ``bbox_attention.q_linear``. transformers 5's modules name them
``backbone.model.``, ``o_proj``, ``mlp.fc1``, ``mask_head.conv1.conv``...; both load (the
first name of each tensor is the one written). The backbone is a ResNet named as
transformers' ``ResNetBackbone``, or, for configs with ``use_timm_backbone=True`` (the
default DETR checkpoints), as timm's ResNet.
"""

import functools

from keras_tfm.checkpoints.conversion_tables import ConversionTables, register_conversion
from keras_tfm.checkpoints.weight_map import Mount, Rule, WeightMap, conv2d, embedding, layer_norm, linear


def _alias(rules4, rules5):
    """transformers 4's rules (written) then transformers 5's names of the same variables (read only)."""
    return [*rules4, *rules5]


def _attention(hf, keras):
    rules4, rules5 = [], []
    for proj in ("q_proj", "k_proj", "v_proj"):
        rules4 += linear(f"{hf}.{proj}", f"{keras}.{proj}")
    rules4 += linear(f"{hf}.out_proj", f"{keras}.o_proj")
    rules5 += linear(f"{hf}.o_proj", f"{keras}.o_proj")
    return _alias(rules4, rules5)


def _layers(side, cross):
    hf = keras = f"{side}.layers.{{i}}"
    rules = _attention(f"{hf}.self_attn", f"{keras}.self_attention")
    rules += layer_norm(f"{hf}.self_attn_layer_norm", f"{keras}.attention_norm")
    if cross:
        rules += _attention(f"{hf}.encoder_attn", f"{keras}.cross_attention")
        rules += layer_norm(f"{hf}.encoder_attn_layer_norm", f"{keras}.cross_attention_norm")
    rules += _alias(linear(f"{hf}.fc1", f"{keras}.mlp.up_proj") + linear(f"{hf}.fc2", f"{keras}.mlp.down_proj"),
                    linear(f"{hf}.mlp.fc1", f"{keras}.mlp.up_proj") + linear(f"{hf}.mlp.fc2", f"{keras}.mlp.down_proj"))
    rules += layer_norm(f"{hf}.final_layer_norm", f"{keras}.mlp_norm")
    return rules


def _learned_positions(hf):
    return [*embedding(f"{hf}.row_embeddings", "position_embedding.row_embeddings"),
            *embedding(f"{hf}.column_embeddings", "position_embedding.column_embeddings")]


# The transformer of DetrModel, relative to it (the backbone's rules are added per config).
TRANSFORMER = [
    *embedding("query_position_embeddings", "query_position_embeddings"),
    *conv2d("input_projection", "input_projection"),
    *_layers("encoder", cross=False),
    *_layers("decoder", cross=True),
    *layer_norm("decoder.layernorm", "decoder.layernorm"),
    *_alias(_learned_positions("backbone.position_embedding"), _learned_positions("position_embedding")),
]

DETECTION_HEAD = [
    *linear("class_labels_classifier", "class_labels_classifier"),
    *linear("bbox_predictor.layers.{i}", "bbox_predictor.layers.{i}"),
]


def _conv_block(hf_conv, hf_norm, keras):
    return conv2d(hf_conv, f"{keras}.conv") + layer_norm(hf_norm, f"{keras}.norm")


_MASK_HEAD_4 = [
    *_conv_block("mask_head.lay1", "mask_head.gn1", "mask_head.conv1"),
    *_conv_block("mask_head.lay2", "mask_head.gn2", "mask_head.conv2"),
    *[rule for i in range(3) for rule in (
        conv2d(f"mask_head.adapter{i + 1}", f"mask_head.fpn_stages.{i}.fpn_adapter")
        + _conv_block(f"mask_head.lay{i + 3}", f"mask_head.gn{i + 3}", f"mask_head.fpn_stages.{i}.refine"))],
    *conv2d("mask_head.out_lay", "mask_head.output_conv"),
    *linear("bbox_attention.q_linear", "bbox_attention.q_proj"),
    *linear("bbox_attention.k_linear", "bbox_attention.k_proj"),
]
_MASK_HEAD_5 = [
    *_conv_block("mask_head.conv1.conv", "mask_head.conv1.norm", "mask_head.conv1"),
    *_conv_block("mask_head.conv2.conv", "mask_head.conv2.norm", "mask_head.conv2"),
    *[rule for i in range(3) for rule in (
        conv2d(f"mask_head.fpn_stages.{i}.fpn_adapter", f"mask_head.fpn_stages.{i}.fpn_adapter")
        + _conv_block(f"mask_head.fpn_stages.{i}.refine.conv", f"mask_head.fpn_stages.{i}.refine.norm",
                      f"mask_head.fpn_stages.{i}.refine"))],
    *conv2d("mask_head.output_conv", "mask_head.output_conv"),
    *linear("bbox_attention.q_proj", "bbox_attention.q_proj"),
    *linear("bbox_attention.k_proj", "bbox_attention.k_proj"),
]
MASK_HEAD = _alias(_MASK_HEAD_4, _MASK_HEAD_5)


def backbone_rules(use_timm_backbone):
    """The ResNet's rules, relative to it: timm's names or transformers' ``ResNetBackbone``'s."""
    from keras_tfm.models.resnet import convert_resnet  # noqa: PLC0415

    return list(convert_resnet.TIMM if use_timm_backbone else convert_resnet.BACKBONE)


def base_rules(use_timm_backbone):
    """DetrModel's rules relative to it: the backbone mounted at transformers 4's
    ``backbone.conv_encoder.model.`` (written) and 5's ``backbone.model.`` (read), then the transformer."""
    resnet = backbone_rules(use_timm_backbone)
    mounted = []
    for hf_prefix in ("backbone.conv_encoder.model.", "backbone.model."):
        mounted += [Rule(hf_prefix + r.hf, "backbone." + r.keras if r.keras is not None else None, r.transform,
                         r.optional) for r in resnet]
    return mounted + TRANSFORMER


def weight_map_for(config, head):
    """The ``WeightMap`` of ``DetrModel`` (``head="base"``), ``DetrForObjectDetection`` ("detection")
    or ``DetrForSegmentation`` ("segmentation") for ``config``."""
    return _weight_map(bool(config.use_timm_backbone), head)


@functools.lru_cache(maxsize=None)
def _weight_map(use_timm_backbone, head):
    base = base_rules(use_timm_backbone)
    if head == "base":
        return WeightMap(base, prefix="model")
    if head == "detection":
        return WeightMap(base, DETECTION_HEAD, prefix="model", is_base=False)
    # DetrForSegmentation holds a DetrForObjectDetection under `detr.`; detection checkpoints load too
    return WeightMap.from_mounts([
        Mount(base, "detr.model.", "backbone.", load_prefixes=("model.", "")),
        Mount(DETECTION_HEAD, "detr.", "", load_prefixes=("",)),
        Mount(MASK_HEAD),
    ])


def freeze_backbone_stem(resnet):
    """HF trains only the backbone's stages 2-4 (``stages.1-3``; timm's ``layer2-4``): the stem and
    the first stage are not trainable."""
    for layer in (resnet.embedder, resnet.encoder.stages[0]):
        layer.trainable = False


TABLES = register_conversion(ConversionTables(
    TRANSFORMER, heads={"detection": DETECTION_HEAD, "segmentation": MASK_HEAD}), "detr")
