"""ViT: Hugging Face PyTorch names <-> keras_tfm variable paths.

HF transformers 5 renamed ViT's modules (``layers.{i}.attention.q_proj``...) but still reads and
writes checkpoints under the names of transformers 4 below, as the hub's files have them.
"""

from keras_tfm.checkpoints.conversion_tables import ConversionTables, register_conversion
from keras_tfm.checkpoints.weight_map import Rule, conv2d, layer_norm, linear

LAYER = "encoder.layer.{i}"
KLAYER = "encoder.layers.{i}"

BACKBONE = [
    Rule("embeddings.cls_token", "embeddings.cls_token"),
    Rule("embeddings.mask_token", "embeddings.mask_token", optional=True),  # masked image modeling only
    Rule("embeddings.position_embeddings", "embeddings.position_embeddings"),
    *conv2d("embeddings.patch_embeddings.projection", "embeddings.patch_embeddings"),
    *layer_norm(f"{LAYER}.layernorm_before", f"{KLAYER}.attention_norm"),
    *linear(f"{LAYER}.attention.attention.query", f"{KLAYER}.self_attention.q_proj"),
    *linear(f"{LAYER}.attention.attention.key", f"{KLAYER}.self_attention.k_proj"),
    *linear(f"{LAYER}.attention.attention.value", f"{KLAYER}.self_attention.v_proj"),
    *linear(f"{LAYER}.attention.output.dense", f"{KLAYER}.self_attention.o_proj"),
    *layer_norm(f"{LAYER}.layernorm_after", f"{KLAYER}.mlp_norm"),
    *linear(f"{LAYER}.intermediate.dense", f"{KLAYER}.mlp.up_proj"),
    *linear(f"{LAYER}.output.dense", f"{KLAYER}.mlp.down_proj"),
    *layer_norm("layernorm", "encoder.final_norm"),
    *linear("pooler.dense", "pooler"),
]

CLASSIFIER = linear("classifier", "classifier")

TABLES = register_conversion(ConversionTables(BACKBONE, heads={"classifier": CLASSIFIER}), "vit")
