"""SegFormer: Hugging Face PyTorch names <-> keras_tfm variable paths.

HF transformers 5 renamed SegFormer's modules (``stages.{i}.blocks.{j}``, ``q_proj``...) but
reads and writes checkpoints in the original names, listed here (``{i}``: stage, ``{j}``: block).
"""

from keras_tfm.checkpoints.conversion_tables import ConversionTables, register_conversion
from keras_tfm.checkpoints.weight_map import batch_norm, conv2d, layer_norm, linear

BLOCK = "encoder.block.{i}.{j}"
KBLOCK = "stages.{i}.blocks.{j}"

BACKBONE = [
    *conv2d("encoder.patch_embeddings.{i}.proj", "stages.{i}.patch_embeddings.proj"),
    *layer_norm("encoder.patch_embeddings.{i}.layer_norm", "stages.{i}.patch_embeddings.layer_norm"),
    *layer_norm(f"{BLOCK}.layer_norm_1", f"{KBLOCK}.layernorm_before"),
    *linear(f"{BLOCK}.attention.self.query", f"{KBLOCK}.attention.q_proj"),
    *linear(f"{BLOCK}.attention.self.key", f"{KBLOCK}.attention.k_proj"),
    *linear(f"{BLOCK}.attention.self.value", f"{KBLOCK}.attention.v_proj"),
    *conv2d(f"{BLOCK}.attention.self.sr", f"{KBLOCK}.attention.sequence_reduction"),
    *layer_norm(f"{BLOCK}.attention.self.layer_norm", f"{KBLOCK}.attention.sequence_reduction_norm"),
    *linear(f"{BLOCK}.attention.output.dense", f"{KBLOCK}.attention.o_proj"),
    *layer_norm(f"{BLOCK}.layer_norm_2", f"{KBLOCK}.layernorm_after"),
    *linear(f"{BLOCK}.mlp.dense1", f"{KBLOCK}.mlp.fc1"),
    *conv2d(f"{BLOCK}.mlp.dwconv.dwconv", f"{KBLOCK}.mlp.dwconv"),
    *linear(f"{BLOCK}.mlp.dense2", f"{KBLOCK}.mlp.fc2"),
    *layer_norm("encoder.layer_norm.{i}", "stages.{i}.layer_norm"),
]

CLASSIFIER = linear("classifier", "classifier")
DECODE_HEAD = [
    *linear("decode_head.linear_c.{i}.proj", "decode_head.linear_projections.{i}"),
    *conv2d("decode_head.linear_fuse", "decode_head.linear_fuse", bias=False),
    *batch_norm("decode_head.batch_norm", "decode_head.batch_norm"),
    *conv2d("decode_head.classifier", "decode_head.classifier"),
]

TABLES = register_conversion(ConversionTables(
    BACKBONE, heads={"classifier": CLASSIFIER, "decode_head": DECODE_HEAD},
), "segformer")
